"""test_torch_op.py: the PyTorch custom ops and modules of oeq_torch.

float64 gradcheck and gradgradcheck of TensorProduct (uvu per-row, uvw
shared, a problem mixing weighted and unweighted paths) and
TensorProductConv (atomic and deterministic) on the CPU and, where there is
one, on CUDA; torch.compile(fullgraph=True) of a small model (forward +
backward, and a force-like model whose loss differentiates the backward
op) against eager; results equal to e3nn's o3.TensorProduct (forward,
backward and autograd double backward) where e3nn is installed; o3.Irreps
and e3nn's option strings accepted by the plain binding. Exit 77 (skip)
without torch >= 2.4.
"""
import os
import sys

try:
    import torch
except ImportError:
    print("torch not available: skip")
    sys.exit(77)
if not hasattr(torch.library, "custom_op"):
    print(f"torch {torch.__version__} lacks torch.library.custom_op (needs >= 2.4): skip")
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oeq  # noqa: E402
import oeq_torch  # noqa: E402

try:
    from e3nn import o3
except ImportError:
    o3 = None

FAILED = []


def check(cond, what):
    print(("ok - " if cond else "FAIL - ") + what, flush=True)
    if not cond:
        FAILED.append(what)


def rel(a, b):
    a, b = a.double().cpu(), b.double().cpu()
    return ((a - b).norm() / b.norm().clamp_min(1e-300)).item()


CASES = {
    "uvu per-row": dict(in1="4x0e+2x1o", in2="0e+1o", out="4x0e+2x0e+2x1o+4x1o",
                        ins=[(0, 0, 0, "uvu", True), (1, 1, 1, "uvu", True), (1, 0, 2, "uvu", True),
                             (0, 1, 3, "uvu", True)], shared=False),
    "uvw shared": dict(in1="3x0e+2x1o", in2="2x0e+1o", out="2x0e+3x1o+1x1e",
                       ins=[(0, 0, 0, "uvw", True), (1, 1, 0, "uvw", True), (0, 1, 1, "uvw", True),
                            (1, 0, 1, "uvw", True), (1, 1, 2, "uvw", True)], shared=True),
    "mixed weighted/unweighted": dict(in1="2x0e+2x1o", in2="2x0e+2x1o", out="2x0e+2x1o+4x1e",
                                      ins=[(0, 0, 0, "uuu", True), (1, 1, 2, "uvuv", True),
                                           (1, 0, 1, "uvv", False), (0, 1, 1, "uuw", True, 0.5)], shared=True),
}


def make_tp(c, **kw):
    return oeq_torch.TensorProduct(c["in1"], c["in2"], c["out"], c["ins"], shared_weights=c["shared"], **kw)


def inputs(tp, batch, device, shared, gen, requires_grad=True):
    x = torch.randn(batch, tp._spec.x_dim, generator=gen, dtype=torch.float64).to(device)
    y = torch.randn(batch, tp._spec.y_dim, generator=gen, dtype=torch.float64).to(device)
    wshape = (tp.weight_numel,) if shared else (batch, tp.weight_numel)
    w = torch.randn(*wshape, generator=gen, dtype=torch.float64).to(device)
    return [t.requires_grad_(requires_grad) for t in (x, y, w)]


def graph(n_nodes, n_edges, device, gen):
    rows = torch.sort(torch.randint(0, n_nodes, (n_edges,), generator=gen)).values
    cols = torch.randint(0, n_nodes, (n_edges,), generator=gen)
    return rows.to(torch.int32).to(device), cols.to(torch.int32).to(device)


def grad_checks(device):
    gen = torch.Generator().manual_seed(3)
    for name, c in CASES.items():
        tp = make_tp(c)
        x, y, w = inputs(tp, 3, device, c["shared"], gen)
        f = lambda x, y, w: tp(x, y, w)  # noqa: E731
        check(torch.autograd.gradcheck(f, (x, y, w), eps=1e-6, atol=1e-8),
              f"{device} TP {name}: gradcheck")
        check(torch.autograd.gradgradcheck(f, (x, y, w), eps=1e-6, atol=1e-8),
              f"{device} TP {name}: gradgradcheck")
        for det in (False, True):
            conv = oeq_torch.TensorProductConv(c["in1"], c["in2"], c["out"], c["ins"],
                                               shared_weights=c["shared"], deterministic=det)
            n_nodes, n_edges = 4, 9
            x = torch.randn(n_nodes, tp._spec.x_dim, generator=gen, dtype=torch.float64).to(device)
            _, y, w = inputs(tp, n_edges, device, c["shared"], gen)
            x.requires_grad_(True)
            rows, cols = graph(n_nodes, n_edges, device, gen)
            g = lambda x, y, w: conv(x, y, w, rows, cols)  # noqa: E731
            mode = "deterministic" if det else "atomic"
            check(torch.autograd.gradcheck(g, (x, y, w), eps=1e-6, atol=1e-8),
                  f"{device} conv {mode} {name}: gradcheck")
            check(torch.autograd.gradgradcheck(g, (x, y, w), eps=1e-6, atol=1e-8),
                  f"{device} conv {mode} {name}: gradgradcheck")


def compiled(device):
    gen = torch.Generator().manual_seed(5)
    c = CASES["uvu per-row"]
    conv = oeq_torch.TensorProductConv(c["in1"], c["in2"], c["out"], c["ins"], shared_weights=False,
                                       deterministic=True)
    n_nodes, n_edges = 5, 12
    rows, cols = graph(n_nodes, n_edges, device, gen)
    x0 = torch.randn(n_nodes, conv._spec.x_dim, generator=gen, dtype=torch.float64).to(device)
    y0 = torch.randn(n_edges, conv._spec.y_dim, generator=gen, dtype=torch.float64).to(device)
    w0 = torch.randn(n_edges, conv.weight_numel, generator=gen, dtype=torch.float64).to(device)

    def energy(x, y, w):
        z = conv(x, y, w, rows, cols)
        return (z * z).sum()

    def force_like(x, y, w):
        # the backward op inside the model: its gradient is the double backward
        e = energy(x, y, w)
        dz = 2 * conv(x, y, w, rows, cols)
        dx, dy, dw = oeq_torch.conv_backward(x, y, w, dz, rows, cols,
                                             torch.argsort(cols, stable=True).to(torch.int32), conv._key)
        return e + (dy * dy).sum() + (dw * dw).sum()

    for name, fn in (("forward + backward", energy), ("force-like double backward", force_like)):
        results = []
        for f in (fn, torch.compile(fn, fullgraph=True)):
            x, y, w = (t.clone().requires_grad_(True) for t in (x0, y0, w0))
            out = f(x, y, w)
            out.backward()
            results.append((out.detach(), x.grad, y.grad, w.grad))
        err = max(rel(a, b) for a, b in zip(results[1], results[0]))
        check(err <= 1e-12, f"{device} torch.compile(fullgraph=True) {name}: vs eager {err:.3g}")
    # no graph breaks (explain counts them)
    explanation = torch._dynamo.explain(force_like)(x0.clone().requires_grad_(True), y0, w0)
    check(explanation.graph_break_count == 0, f"{device} force-like model: {explanation.graph_break_count} "
          "graph breaks")


def against_e3nn(device):
    if o3 is None:
        print("e3nn not installed: the comparison with e3nn is skipped")
        return
    torch.set_default_dtype(torch.float64)
    gen = torch.Generator().manual_seed(11)
    for name, c in CASES.items():
        ins = [i if len(i) == 6 else tuple(i) + (1.0,) for i in c["ins"]]
        ref = o3.TensorProduct(c["in1"], c["in2"], c["out"], ins, internal_weights=False,
                               shared_weights=c["shared"]).to(device)
        tp = oeq_torch.TensorProduct(o3.Irreps(c["in1"]), o3.Irreps(c["in2"]), o3.Irreps(c["out"]), ins,
                                     shared_weights=c["shared"], irrep_normalization="component",
                                     path_normalization="element")
        x, y, w = inputs(tp, 6, device, c["shared"], gen)
        dz = torch.randn(6, tp._spec.z_dim, generator=gen).to(device)
        dd = [torch.randn(t.shape, generator=gen).to(device) for t in (x, y, w)]
        outs = []
        for m in (ref, tp):
            z = m(x, y, w)
            g = torch.autograd.grad(z, (x, y, w), dz, create_graph=True)
            L = sum((a * b).sum() for a, b in zip(g, dd))
            gg = torch.autograd.grad(L, (x, y, w), allow_unused=True)
            gg = [t if t is not None else torch.zeros_like(s) for t, s in zip(gg, (x, y, w))]
            outs.append([z] + list(g) + gg)
        err = max(rel(a, b) for a, b in zip(outs[1], outs[0]))
        check(err <= 1e-10, f"{device} TP {name} vs e3nn (z, grads, double backward): {err:.3g}")


def plain_binding():
    # e3nn's option strings (and o3.Irreps where e3nn is there) in the ctypes binding
    p = oeq.Problem("2x0e+1o", "0e+1o", "2x0e+2x1o", [(0, 0, 0, "uvw"), (1, 1, 0, "uvw"), (0, 1, 1, "uvw")])
    p.set_normalization("norm", "path")
    d = p.describe
    text = str(d() if callable(d) else d)
    check("norm" in text and "path" in text, "plain binding: set_normalization('norm', 'path')")
    try:
        p.set_normalization("bogus", "element")
        check(False, "plain binding: a bad normalization name raises")
    except ValueError:
        check(True, "plain binding: a bad normalization name raises")
    # Plan.tp_double_backward / conv_double_backward (CPU torch tensors) = the custom ops
    gen = torch.Generator().manual_seed(17)
    c = CASES["uvu per-row"]
    tp = make_tp(c)
    plan = tp._spec.plan(torch.device("cpu"), torch.float64)
    x, y, w = inputs(tp, 4, "cpu", False, gen, requires_grad=False)
    dz = torch.randn(4, tp._spec.z_dim, generator=gen, dtype=torch.float64)
    ddx, ddw = torch.randn(x.shape, generator=gen, dtype=torch.float64), torch.randn(w.shape, generator=gen,
                                                                                      dtype=torch.float64)
    a = plan.tp_double_backward(x, y, w, dz, ddx, None, ddw)
    b = oeq_torch.tp_double_backward(x, y, w, dz, ddx, None, ddw, tp._key)
    check(all(torch.equal(p, q) for p, q in zip(a, b)), "plain binding: Plan.tp_double_backward = the op")
    conv = oeq_torch.TensorProductConv(c["in1"], c["in2"], c["out"], c["ins"], shared_weights=False)
    cplan = conv._spec.plan(torch.device("cpu"), torch.float64)
    rows, cols = graph(3, 4, "cpu", gen)
    a = cplan.conv_double_backward(x[:3], y, w, dz[:3], rows, cols, ddx[:3], None, ddw)
    b = oeq_torch.conv_double_backward(x[:3], y, w, dz[:3], ddx[:3], None, ddw, rows, cols, None, conv._key)
    check(all(torch.equal(p, q) for p, q in zip(a, b)), "plain binding: Plan.conv_double_backward = the op")
    if o3 is not None:
        q = oeq.Problem(o3.Irreps("2x0e+1o"), o3.Irreps("0e+1o"), o3.Irreps("2x0e+2x1o"),
                        [(0, 0, 0, "uvw"), (1, 1, 0, "uvw"), (0, 1, 1, "uvw")])
        check(q.dims == p.dims, "plain binding: o3.Irreps accepted")


def main():
    plain_binding()
    devices = ["cpu"]
    if torch.cuda.is_available() and (oeq.backend_available(oeq.Backend.CUDA)
                                      or oeq.backend_available(oeq.Backend.HIP)):
        devices.append("cuda")
    else:
        print("no CUDA device (or backend): the CUDA cases are skipped")
    for dev in devices:
        grad_checks(dev)
        against_e3nn(dev)
        compiled(dev)
    print(f"{len(FAILED)} failures" + (": " + "; ".join(FAILED) if FAILED else ""))
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
