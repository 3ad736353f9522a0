"""test_oeq.py: the Python binding on the CPU backend against a NumPy-only reference.

The reference rebuilds e3nn's real Clebsch-Gordan coefficients from the
Racah formula and e3nn's real-to-complex change of basis
(e3nn/o3/_wigner.py), and e3nn's TensorProduct normalization (component
irreps, element paths), independently of liboeq. Exit 77 (skip) without
NumPy; exit 1 on any failure.
"""
import ctypes
import math
import os
import sys
import traceback
from fractions import Fraction

try:
    import numpy as np
except ImportError:
    print("numpy not available: skip")
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oeq  # noqa: E402

# ------------------------------------------------------------ the reference


def su2_cg(j1, m1, j2, m2, j3, m3):
    """<j1 m1 j2 m2 | j3 m3> by the Racah formula (Condon-Shortley phases)."""
    if m3 != m1 + m2:
        return 0.0
    f = math.factorial
    vmin = max(-j1 + j2 + m3, -j1 + m1, 0)
    vmax = min(j2 + j3 + m1, j3 - j1 + j2, j3 + m3)
    pref = (2 * j3 + 1) * Fraction(f(j3 + j1 - j2) * f(j3 - j1 + j2) * f(j1 + j2 - j3) * f(j3 + m3) * f(j3 - m3),
                                   f(j1 + j2 + j3 + 1) * f(j1 - m1) * f(j1 + m1) * f(j2 - m2) * f(j2 + m2))
    s = Fraction(0)
    for v in range(vmin, vmax + 1):
        s += (-1) ** (v + j2 + m2) * Fraction(f(j2 + j3 + m1 - v) * f(j1 - m1 + v),
                                              f(v) * f(j3 - j1 + j2 - v) * f(j3 + m3 - v) * f(v + j1 - j2 - m3))
    return math.sqrt(pref) * float(s)


def real_to_complex(l):
    q = np.zeros((2 * l + 1, 2 * l + 1), dtype=complex)
    for m in range(-l, 0):
        q[l + m, l + abs(m)] = 1 / math.sqrt(2)
        q[l + m, l - abs(m)] = -1j / math.sqrt(2)
    q[l, l] = 1
    for m in range(1, l + 1):
        q[l + m, l + abs(m)] = (-1) ** m / math.sqrt(2)
        q[l + m, l - abs(m)] = 1j * (-1) ** m / math.sqrt(2)
    return (-1j) ** l * q


def wigner_3j(l1, l2, l3):
    """e3nn's real wigner_3j(l1, l2, l3): unit Frobenius norm."""
    c = np.zeros((2 * l1 + 1, 2 * l2 + 1, 2 * l3 + 1))
    for m1 in range(-l1, l1 + 1):
        for m2 in range(-l2, l2 + 1):
            if abs(m1 + m2) <= l3:
                c[l1 + m1, l2 + m2, l3 + m1 + m2] = su2_cg(l1, m1, l2, m2, l3, m1 + m2)
    q1, q2, q3 = real_to_complex(l1), real_to_complex(l2), real_to_complex(l3)
    r = np.einsum("ij,kl,mn,ikn->jlm", q1, q2, np.conj(q3.T), c)
    assert np.abs(r.imag).max() < 1e-10
    r = r.real
    return r / np.linalg.norm(r)


def parse_irreps(text):
    """"4x0e+2x1o" -> [(4, 0), (2, 1)] (parity is not needed by the reference)."""
    out = []
    for term in text.replace(" ", "").split("+"):
        if not term:
            continue
        mul, ir = term.split("x") if "x" in term else ("1", term)
        out.append((int(mul), int(ir[:-1])))
    return out


def offsets(irreps):
    off, acc = [], 0
    for mul, l in irreps:
        off.append(acc)
        acc += mul * (2 * l + 1)
    return off, acc


NUM_ELEMENTS = {"uvw": lambda m1, m2: m1 * m2, "uvu": lambda m1, m2: m2}


def reference_tp(in1, in2, out, instructions, x, y, w, shared):
    """e3nn's TensorProduct (component / element normalization, unit variances).

    instructions: (i1, i2, io, mode, has_weight, path_weight). x: (B, dim1),
    y: (B, dim2), w: (numel,) if shared else (B, numel). Returns (B, dim_out)."""
    o1, _ = offsets(in1)
    o2, _ = offsets(in2)
    oo, dim_out = offsets(out)
    batch = x.shape[0]
    z = np.zeros((batch, dim_out))
    wk = 0
    for i1, i2, io, mode, has_weight, path_weight in instructions:
        (m1, l1), (m2, l2), (mo, lo) = in1[i1], in2[i2], out[io]
        fan = sum(NUM_ELEMENTS[ins[3]](in1[ins[0]][0], in2[ins[1]][0]) for ins in instructions if ins[2] == io)
        coef = math.sqrt((2 * lo + 1) / fan * path_weight)
        c = wigner_3j(l1, l2, lo)
        a = x[:, o1[i1]:o1[i1] + m1 * (2 * l1 + 1)].reshape(batch, m1, 2 * l1 + 1)
        b = y[:, o2[i2]:o2[i2] + m2 * (2 * l2 + 1)].reshape(batch, m2, 2 * l2 + 1)
        nw = {"uvw": m1 * m2 * mo, "uvu": m1 * m2}[mode] if has_weight else 0
        if has_weight:
            ww = w[wk:wk + nw] if shared else w[:, wk:wk + nw]
            wk += nw
        if mode == "uvw":
            if has_weight:
                ww = ww.reshape((m1, m2, mo) if shared else (batch, m1, m2, mo))
                eq = "uvw,ijk,bui,bvj->bwk" if shared else "buvw,ijk,bui,bvj->bwk"
                r = np.einsum(eq, ww, c, a, b)
            else:
                r = np.einsum("ijk,bui,bvj->bk", c, a, b)[:, None, :].repeat(mo, 1)
        elif mode == "uvu":
            if has_weight:
                ww = ww.reshape((m1, m2) if shared else (batch, m1, m2))
                eq = "uv,ijk,bui,bvj->buk" if shared else "buv,ijk,bui,bvj->buk"
                r = np.einsum(eq, ww, c, a, b)
            else:
                r = np.einsum("ijk,bui,bvj->buk", c, a, b)
        else:
            raise ValueError(mode)
        z[:, oo[io]:oo[io] + mo * (2 * lo + 1)] += coef * r.reshape(batch, -1)
    return z


def reference_grads(tp, x, y, w, dz, shared):
    """Gradients of <dz, tp(x, y, w)>: tp is linear in x and in y, affine in w."""
    batch = x.shape[0]
    dx, dy = np.zeros_like(x), np.zeros_like(y)
    for b in range(batch):
        wb = w if shared else np.repeat(w[b:b + 1], x.shape[1], 0)
        ex = np.eye(x.shape[1])
        dx[b] = tp(ex, np.repeat(y[b:b + 1], x.shape[1], 0), wb) @ dz[b]
        wb = w if shared else np.repeat(w[b:b + 1], y.shape[1], 0)
        ey = np.eye(y.shape[1])
        dy[b] = tp(np.repeat(x[b:b + 1], y.shape[1], 0), ey, wb) @ dz[b]
    # affine in w: unweighted paths contribute at w = 0 too
    n = w.shape[-1]
    base = tp(x, y, np.zeros_like(w))
    if shared:
        dw = np.zeros(n)
        for k in range(n):
            dw[k] = np.sum((tp(x, y, np.eye(n)[k]) - base) * dz)
    else:
        dw = np.zeros((batch, n))
        for k in range(n):
            dw[:, k] = np.sum((tp(x, y, np.repeat(np.eye(n)[k:k + 1], batch, 0)) - base) * dz, axis=1)
    return dx, dy, dw


def from_describe(problem):
    info = problem.describe()
    ins = [(i["i_in1"], i["i_in2"], i["i_out"], i["mode"], i["has_weight"], i["path_weight"])
           for i in info["instructions"]]
    return (parse_irreps(info["in1"]["irreps"]), parse_irreps(info["in2"]["irreps"]),
            parse_irreps(info["out"]["irreps"]), ins, info["shared_weights"])


# -------------------------------------------------------------------- tests

RNG = np.random.default_rng(1234)
IN1, IN2, OUT = "3x0e+2x1o+1x2e", "1x0e+2x1o", "2x0e+3x1o+2x1e+1x2e"
INSTRUCTIONS = [(0, 0, 0, "uvw", True, 1.0), (1, 1, 0, "uvw", True, 0.5), (1, 0, 1, "uvw", True, 1.0),
                (0, 1, 1, "uvw", True, 1.0), (1, 1, 2, "uvw", True, 1.0), (2, 1, 1, "uvw", True, 2.0),
                (2, 0, 3, "uvu", False, 1.0), (1, 1, 3, "uvw", True, 1.0)]


def test_tp_float64_shared():
    p = oeq.Problem(IN1, IN2, OUT, INSTRUCTIONS).set_dtypes("float64")
    plan = oeq.Plan.tp(p, oeq.Backend.CPU)
    assert plan.backend == oeq.Backend.CPU and plan.shared_weights
    batch = 7
    x = RNG.standard_normal((batch, plan.x_dim))
    y = RNG.standard_normal((batch, plan.y_dim))
    w = RNG.standard_normal(plan.weight_numel)
    z = plan.tp_forward(x, y, w)
    args = (parse_irreps(IN1), parse_irreps(IN2), parse_irreps(OUT), INSTRUCTIONS)
    ref = reference_tp(*args, x, y, w, True)
    np.testing.assert_allclose(z, ref, rtol=1e-11, atol=1e-11)
    dz = RNG.standard_normal(z.shape)
    dx, dy, dw = plan.tp_backward(x, y, w, dz)
    rdx, rdy, rdw = reference_grads(lambda a, b, c: reference_tp(*args, a, b, c, True), x, y, w, dz, True)
    np.testing.assert_allclose(dx, rdx, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(dy, rdy, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(dw, rdw, rtol=1e-10, atol=1e-10)
    # caller-provided outputs are overwritten, and the same values come back
    zz = np.full_like(z, 7.0)
    assert plan.tp_forward(x, y, w, zz) is zz
    np.testing.assert_array_equal(zz, z)
    assert oeq.tp_forward(plan, x, y, w.reshape(1, -1)).shape == z.shape


def test_tp_float32_per_row():
    p = oeq.Problem.fully_connected("2x0e+2x1o", "1x0e+1x1o", "2x0e+1x1o+1x1e").set_shared_weights(False)
    in1, in2, out, ins, shared = from_describe(p)
    assert not shared
    plan = oeq.Plan.tp(p, oeq.Backend.CPU)
    batch = 5
    x = RNG.standard_normal((batch, plan.x_dim)).astype(np.float32)
    y = RNG.standard_normal((batch, plan.y_dim)).astype(np.float32)
    w = RNG.standard_normal((batch, plan.weight_numel)).astype(np.float32)
    z = plan.tp_forward(x, y, w)
    assert z.dtype == np.float32
    ref = reference_tp(in1, in2, out, ins, x.astype(float), y.astype(float), w.astype(float), False)
    np.testing.assert_allclose(z, ref, rtol=2e-5, atol=2e-5)
    dz = RNG.standard_normal(z.shape).astype(np.float32)
    dx, dy, dw = plan.tp_backward(x, y, w, dz)
    tp = lambda a, b, c: reference_tp(in1, in2, out, ins, a, b, c, False)  # noqa: E731
    rdx, rdy, rdw = reference_grads(tp, x.astype(float), y.astype(float), w.astype(float), dz.astype(float), False)
    for got, want in ((dx, rdx), (dy, rdy), (dw, rdw)):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def graph(x_rows, z_rows, edges):
    rows = np.sort(RNG.integers(0, z_rows, edges)).astype(np.int32)
    cols = RNG.integers(0, x_rows, edges).astype(np.int32)
    return rows, cols


def check_conv(flags, dtype, index_dtype, rtol):
    p = oeq.Problem.channelwise("4x0e+3x1o", "0e+1o+2e", "0e+1o+1e+2e")
    if dtype == np.float64:
        p.set_dtypes(oeq.DType.FLOAT64, oeq.DType.FLOAT64)
    in1, in2, out, ins, shared = from_describe(p)
    plan = oeq.Plan.conv(p, oeq.Backend.CPU, flags=flags)
    p.close()  # a plan outlives its problem
    x_rows, z_rows, edges = 9, 7, 30  # x carries 2 ghost rows that only send
    rows, cols = graph(x_rows, z_rows, edges)
    rows, cols = rows.astype(index_dtype), cols.astype(index_dtype)
    perm = np.argsort(cols, kind="stable").astype(index_dtype)
    x = RNG.standard_normal((x_rows, plan.x_dim)).astype(dtype)
    y = RNG.standard_normal((edges, plan.y_dim)).astype(dtype)
    w = RNG.standard_normal((edges, plan.weight_numel)).astype(dtype)
    kw = {"sender_perm": perm} if flags & oeq.CONV_DETERMINISTIC else {}
    ws = plan.conv_workspace_size(x_rows, z_rows, edges)
    assert ws >= 0
    z = plan.conv_forward(x, y, w, rows, cols, z_rows=z_rows, **kw)
    assert z.shape == (z_rows, plan.z_dim)
    tp = lambda a, b, c: reference_tp(in1, in2, out, ins, a, b, c, shared)  # noqa: E731
    xe = x.astype(float)[cols]
    ze = tp(xe, y.astype(float), w.astype(float))
    ref = np.zeros((z_rows, plan.z_dim))
    np.add.at(ref, rows, ze)
    np.testing.assert_allclose(z, ref, rtol=rtol, atol=rtol)
    dz = RNG.standard_normal(z.shape).astype(dtype)
    dx, dy, dw = plan.conv_backward(x, y, w, dz, rows, cols, **kw)
    edx, rdy, rdw = reference_grads(tp, xe, y.astype(float), w.astype(float), dz.astype(float)[rows], False)
    rdx = np.zeros((x_rows, plan.x_dim))
    np.add.at(rdx, cols, edx)
    for got, want in ((dx, rdx), (dy, rdy), (dw, rdw)):
        np.testing.assert_allclose(got, want, rtol=10 * rtol, atol=10 * rtol)


def test_conv_float32():
    check_conv(0, np.float32, np.int32, 2e-5)


def test_conv_float64_deterministic():
    check_conv(oeq.CONV_DETERMINISTIC, np.float64, np.int32, 1e-11)


def test_conv_int64_indices():
    check_conv(oeq.CONV_DETERMINISTIC | oeq.CONV_KAHAN | oeq.INDEX_INT64, np.float32, np.int64, 2e-5)


def expect(exc, fn, *args, status=None, match=None, **kw):
    try:
        fn(*args, **kw)
    except exc as e:
        if status is not None:
            assert e.status == status, f"status {e.status!r}, expected {status!r}"
            assert e.message, "no oeq_last_error() message"
        if match is not None:
            assert match in str(e), f"{match!r} not in {str(e)!r}"
        return e
    raise AssertionError(f"{fn.__name__}{args} did not raise {exc.__name__}")


class FakeDeviceArray:
    """Looks like a CuPy/Numba array: the checks must reject or read it without touching memory."""

    def __init__(self, shape, typestr="<f4", strides=None):
        self.__cuda_array_interface__ = {"shape": shape, "typestr": typestr, "data": (0xDEAD0000, False),
                                         "strides": strides, "version": 3}


def test_errors():
    e = expect(oeq.OeqError, oeq.Problem, "2x0e+garbage", "0e", "0e", status=oeq.Status.ERROR_PARSE)
    assert "garbage" in e.message
    p = oeq.Problem("2x0e+1x1o", "0e+1o", "2x0e+1x1o")
    expect(oeq.OeqError, p.add_instruction, 0, 0, 5, "uvw", status=oeq.Status.ERROR_INVALID_PROBLEM)
    expect(oeq.OeqError, p.add_instruction, 1, 1, 1, "uvw", status=oeq.Status.ERROR_INVALID_PROBLEM,
           match="parity")
    expect(ValueError, p.add_instruction, 0, 0, 0, "xyz")
    expect(ValueError, p.set_variances, [1.0])
    expect(oeq.OeqError, p.set_variances, [1.0, -1.0], status=oeq.Status.ERROR_INVALID_ARGUMENT)
    expect(ValueError, oeq.Problem.set_dtypes, p, "int8")
    expect(TypeError, oeq.Problem, 3, "0e", "0e")
    p.add_instruction(0, 0, 0, oeq.Mode.UVW).add_instruction(1, 0, 1, "uvw", True, 1.0)
    plan = oeq.Plan.tp(p, oeq.Backend.CPU)
    conv = oeq.Plan.conv(p, oeq.Backend.CPU)
    expect(oeq.OeqError, oeq.Plan.conv, p, oeq.Backend.CPU, flags=oeq.CONV_KAHAN,
           status=oeq.Status.ERROR_INVALID_ARGUMENT)
    expect(oeq.OeqError, oeq.Plan.tp, p, oeq.Backend.CPU, device=-1, status=oeq.Status.ERROR_INVALID_ARGUMENT)
    x = np.ones((4, plan.x_dim), np.float32)
    y = np.ones((4, plan.y_dim), np.float32)
    w = np.ones(plan.weight_numel, np.float32)
    plan.tp_forward(x, y, w)
    expect(ValueError, plan.tp_forward, x, y[:3], w, match="y has shape")
    expect(ValueError, plan.tp_forward, x, y, w[:-1], match="w has shape")
    expect(TypeError, plan.tp_forward, x.astype(np.float64), y, w, match="dtype")
    expect(ValueError, plan.tp_forward, np.ones((plan.x_dim, 4), np.float32).T, y, w, match="contiguous")
    expect(ValueError, plan.tp_forward, x, y, w, stream=5, match="stream")
    expect(TypeError, plan.tp_forward, x.tolist(), y, w)
    expect(TypeError, plan.tp_forward, FakeDeviceArray((4, plan.x_dim)), y, w, match="device array")
    z = np.zeros((4, plan.z_dim), np.float32)
    z.flags.writeable = False
    expect(ValueError, plan.tp_forward, x, y, w, z, match="read-only")
    expect(ValueError, plan.conv_forward, x, y, w, np.zeros(4, np.int32), np.zeros(4, np.int32),
           match="tensor-product plan")
    expect(ValueError, conv.tp_forward, x, y, w, match="convolution plan")
    rows = np.array([0, 1, 2, 3], np.int32)
    cols = np.array([0, 1, 2, 9], np.int32)
    expect(oeq.OeqError, conv.conv_forward, x, y, np.ones(plan.weight_numel, np.float32), rows, cols,
           status=oeq.Status.ERROR_INVALID_ARGUMENT, match="cols")
    expect(TypeError, conv.conv_forward, x, y, w, rows.astype(np.int64), cols, match="rows has dtype int64")
    plan.close()
    plan.close()
    expect(ValueError, plan.tp_forward, x, y, w, match="closed")
    if not oeq.backend_available(oeq.Backend.CUDA):
        expect(oeq.OeqError, oeq.Plan.tp, p, oeq.Backend.CUDA, status=oeq.Status.ERROR_BACKEND_UNAVAILABLE)


def test_device_array_views():
    """The __cuda_array_interface__ path (GPU plans) reads shape, dtype and strides right."""
    v = oeq._view(FakeDeviceArray((3, 4), "<f8"), "x")
    assert (v.ptr, v.shape, v.dtype, v.on_gpu) == (0xDEAD0000, (3, 4), "float64", True)
    v = oeq._view(FakeDeviceArray((3, 4), "<f4", (16, 4)), "x")
    assert v.shape == (3, 4)
    expect(ValueError, oeq._view, FakeDeviceArray((3, 4), "<f4", (4, 12)), "x", match="C-contiguous")
    expect(TypeError, oeq._view, FakeDeviceArray((3, 4), "<f2"), "x", match="element type")
    assert oeq._stream_handle(None) is None and oeq._stream_handle(0x1234) == 0x1234

    class TorchLikeStream:
        cuda_stream = 0x42
    assert oeq._stream_handle(TorchLikeStream()) == 0x42
    expect(TypeError, oeq._stream_handle, "default")


def test_problem_facts():
    """The plan's dtypes and weight sharing, and set_variances' lengths, come
    from the ABI getters (never from describe's text): each setting must
    reach them and the checks built on them."""
    p = oeq.Problem("2x0e+0x1o+3x1o", "0e+1o", "2x0e+3x1o")
    assert p.dtypes == (oeq.DType.FLOAT32, oeq.DType.FLOAT32) and p.shared_weights
    assert p.irreps_count == (3, 2, 2)
    p.set_dtypes("float64", "float32").set_shared_weights(False)
    assert p.dtypes == (oeq.DType.FLOAT64, oeq.DType.FLOAT32) and not p.shared_weights
    p.add_instruction(0, 0, 0, "uvw")
    expect(ValueError, p.set_variances, [1.0, 1.0], match="3 entries")
    p.set_variances([1.0, 2.0, 1.0], None, [1.0, 0.5])
    plan = oeq.Plan.tp(p, oeq.Backend.CPU)
    assert (plan.irrep_dtype, plan.weight_dtype, plan.shared_weights) == ("float64", "float32", False)
    x = np.ones((2, plan.x_dim))
    y = np.ones((2, plan.y_dim))
    w = np.ones((2, plan.weight_numel), np.float32)
    assert plan.tp_forward(x, y, w).dtype == np.float64
    expect(TypeError, plan.tp_forward, x, y, w.astype(np.float64), match="w has dtype float64")
    expect(ValueError, plan.tp_forward, x, y, w[0], match="w has shape")
    e = oeq.Problem("0e", "0e", "0e")
    assert e.irreps_count == (1, 1, 1)
    e.close()
    expect(ValueError, lambda: e.dtypes, match="closed")
    # The ctypes table is the generated one, and covers every function of the library's header.
    assert oeq._lib.oeq_problem_irreps_count.argtypes[1] is ctypes.POINTER(ctypes.c_int64)
    assert set(oeq._abi.PROTOTYPES) >= {"oeq_problem_dtypes", "oeq_problem_shared_weights", "oeq_tp_forward"}


def test_symcon_fixture():
    """MACE's SymmetricContraction fixture (float64 and float32) through Problem /
    Plan.symmetric_contraction; the weight blocks in the fixture's order."""
    import json
    src = os.environ.get("OEQ_SRCDIR") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    with open(os.path.join(src, "tests", "fixtures", "symcon",
                           "symcon_public_2_0e1o2e3o_to_0e1o2e_c3.json")) as f:
        d = json.load(f)
    b, C = d["batch"], d["num_features"]
    w = np.concatenate([np.asarray(blk["values"], dtype=np.float64).ravel() for blk in d["weights"]])
    dw_ref = np.concatenate([np.asarray(blk["values"], dtype=np.float64).ravel() for blk in d["dweights"]])
    x = np.asarray(d["x"], dtype=np.float64).reshape(b, -1)
    dz = np.asarray(d["dz"], dtype=np.float64).reshape(b, -1)
    sp = np.asarray(d["species"], dtype=np.int32)
    for dt, tol in (("float64", 1e-12), ("float32", 1e-5)):
        with oeq.Problem.symmetric_contraction(d["irreps_in_per_channel"], d["irreps_out"], d["correlation"],
                                               d["num_elements"], C) as p:
            p.set_dtypes(dt)
            assert p.weight_numel == w.size
            with oeq.Plan.symmetric_contraction(p, oeq.Backend.CPU) as plan:
                z = plan.symcon_forward(x.astype(dt), sp, w.astype(dt))
                dx, dw = plan.symcon_backward(x.astype(dt), sp, w.astype(dt), dz.astype(dt))
                _, dw2 = plan.symcon_backward(x.astype(dt), sp, w.astype(dt), dz.astype(dt), want_dx=False)
                for got, want in ((z, d["z"]), (dx, d["dx"]), (dw, dw_ref), (dw2, dw_ref)):
                    want = np.asarray(want, dtype=np.float64).ravel()
                    err = np.linalg.norm(np.asarray(got, dtype=np.float64).ravel() - want) / np.linalg.norm(want)
                    assert err <= tol, (dt, err)
                bad = sp.copy()
                bad[0] = d["num_elements"]
                expect(oeq.OeqError, plan.symcon_forward, x.astype(dt), bad, w.astype(dt),
                       status=oeq.Status.ERROR_INVALID_ARGUMENT)
            expect(oeq.OeqError, oeq.Plan.tp, p, status=oeq.Status.ERROR_INVALID_ARGUMENT)


def test_library():
    assert oeq.version().count(".") == 2
    assert oeq.status_string(oeq.Status.ERROR_PARSE)
    assert oeq.backend_available(oeq.Backend.CPU)


def main():
    tests = [(k, v) for k, v in globals().items() if k.startswith("test_") and callable(v)]
    failed = 0
    for name, fn in tests:
        try:
            fn()
            print(f"ok - {name}")
        except Exception:  # report every failure, then fail
            failed += 1
            print(f"FAIL - {name}")
            traceback.print_exc()
    print(f"{len(tests) - failed} passed, {failed} failed (library {oeq.library_path})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
