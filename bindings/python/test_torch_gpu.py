"""test_torch_gpu.py: the binding with PyTorch CUDA tensors (a GPU plan).

GPU results against the CPU plan on the same inputs (outputs poisoned with
NaN first), the fast path of tp_forward / tp_backward (torch tensors that
match the plan skip the general checks) against the general path bit for
bit, and the errors the general checks still raise once the fast path is
on. Exit 77 (skip) without torch, a CUDA device or the CUDA backend.
"""
import os
import sys

try:
    import torch
except ImportError:
    print("torch not available: skip")
    sys.exit(77)
if not torch.cuda.is_available():
    print("no CUDA device: skip")
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oeq  # noqa: E402  (after the skips: a missing library is a failure, not a skip)

if not oeq.backend_available(oeq.Backend.CUDA):
    print("the CUDA backend is not available: skip")
    sys.exit(77)

FAILED = []


def check(cond, what):
    print(("ok - " if cond else "FAIL - ") + what)
    if not cond:
        FAILED.append(what)


def expect(exc, fn, *args, match="", **kw):
    try:
        fn(*args, **kw)
    except exc as e:
        return match in str(e)
    return False


def rel(a, b):
    a, b = a.double().cpu(), b.double().cpu()
    return ((a - b).norm() / b.norm().clamp_min(1e-300)).item()


def case(dtype, shared, batch):
    tdt = torch.float64 if dtype == "float64" else torch.float32
    tol = 1e-12 if dtype == "float64" else 1e-5
    name = f"{dtype} {'shared' if shared else 'per-row'} weights, batch {batch}"
    prob = oeq.Problem.fully_connected("5x0e+3x1o+2x2e", "1x0e+1x1o", "4x0e+3x1o+2x1e+1x2e")
    prob.set_shared_weights(shared).set_dtypes(dtype)
    gpu, cpu = oeq.Plan.tp(prob, oeq.Backend.CUDA), oeq.Plan.tp(prob, oeq.Backend.CPU)
    g = torch.Generator().manual_seed(7)
    x = torch.randn(batch, gpu.x_dim, generator=g, dtype=tdt)
    y = torch.randn(batch, gpu.y_dim, generator=g, dtype=tdt)
    w = torch.randn(*((gpu.weight_numel,) if shared else (batch, gpu.weight_numel)), generator=g, dtype=tdt)
    dz = torch.randn(batch, gpu.z_dim, generator=g, dtype=tdt)
    ref_z = torch.from_numpy(cpu.tp_forward(x.numpy(), y.numpy(), w.numpy()))
    ref = [torch.from_numpy(a) for a in cpu.tp_backward(x.numpy(), y.numpy(), w.numpy(), dz.numpy())]

    xd, yd, wd, dzd = (t.cuda() for t in (x, y, w, dz))
    stream = torch.cuda.current_stream().cuda_stream
    # General path first (outputs allocated by the binding), then the fast path
    # into NaN-poisoned outputs, twice so the second call surely takes it.
    z0 = gpu.tp_forward(xd, yd, wd, stream=stream)
    g0 = gpu.tp_backward(xd, yd, wd, dzd, stream=stream)
    check(gpu._torch_dtypes is not None, f"{name}: fast path on after a general call")
    for attempt in range(2):
        z = torch.full_like(z0, float("nan"))
        dx, dy, dw = (torch.full_like(t, float("nan")) for t in g0)
        gpu.tp_forward(xd, yd, wd, z, stream=stream)
        gpu.tp_backward(xd, yd, wd, dzd, dx, dy, dw, stream=stream)
    torch.cuda.synchronize()
    check(rel(z, ref_z) <= tol and not z.isnan().any(), f"{name}: z against the CPU plan ({rel(z, ref_z):.1e})")
    for label, got, want in zip(("dx", "dy", "dw"), (dx, dy, dw), ref):
        e = rel(got, want)
        check(e <= tol and not got.isnan().any(), f"{name}: {label} against the CPU plan ({e:.1e})")
    # (shared dw is summed with atomics: its order, so its last bits, vary)
    same = [torch.equal(z, z0), torch.equal(dx, g0[0]), torch.equal(dy, g0[1])]
    same.append(rel(dw, g0[2]) <= tol if shared else torch.equal(dw, g0[2]))
    check(all(same), f"{name}: fast path equals the general path (bit for bit but shared dw)")

    # requires_grad tensors take the fast path too (data_ptr, no autograd)
    xg = xd.clone().requires_grad_(True)
    z.fill_(float("nan"))
    gpu.tp_forward(xg, yd, wd, z, stream=stream)
    torch.cuda.synchronize()
    check(torch.equal(z, z0), f"{name}: requires_grad input")

    # The general checks still speak once the fast path is on.
    other = torch.float32 if tdt == torch.float64 else torch.float64
    check(expect(TypeError, gpu.tp_forward, xd, yd, wd, z.to(other), match="z has dtype"),
          f"{name}: wrong output dtype is a TypeError")
    narrow = torch.zeros(batch, gpu.z_dim - 1, dtype=tdt, device="cuda")
    check(expect(ValueError, gpu.tp_forward, xd, yd, wd, narrow, match="z has shape"),
          f"{name}: wrong output shape is a ValueError")
    wide = torch.zeros(batch, gpu.x_dim * 2, dtype=tdt, device="cuda")
    check(expect(ValueError, gpu.tp_forward, wide[:, ::2], yd, wd, z, match="contiguous"),
          f"{name}: strided input is a ValueError")
    check(expect(TypeError, gpu.tp_forward, x, yd, wd, z, match="host array"),
          f"{name}: host tensor to a GPU plan is a TypeError")
    check(expect(ValueError, gpu.tp_backward, xd, yd, wd, narrow, dx, dy, dw, match="dz has shape"),
          f"{name}: wrong dz shape is a ValueError")
    gpu.close()
    check(expect(ValueError, gpu.tp_forward, xd, yd, wd, z, match="closed"), f"{name}: closed plan")
    cpu.close()
    prob.close()


def main():
    for dtype in ("float32", "float64"):
        for shared in (False, True):
            for batch in (1, 1000):
                case(dtype, shared, batch)
    print(f"{'FAILED: ' + str(len(FAILED)) if FAILED else 'all passed'} (library {oeq.library_path})")
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
