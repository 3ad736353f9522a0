"""binding_overhead.py: host time of one Python tp_forward / tp_backward call,
for two versions of bindings/python/oeq.py loaded side by side in one
process (same liboeq, same GPU), in interleaved rounds (batch 1: the GPU is
idle; best of 12 rounds of 1,000 calls).

usage: OEQ_LIBRARY=build/.libs/liboeq.so python3 bench/binding_overhead.py A/oeq.py B/oeq.py
"""
import importlib.util, sys, time
import torch

def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod

mods = {"A": load("oeq_a", sys.argv[1]), "B": load("oeq_b", sys.argv[2])}
irr = "32x0o+32x0e+32x1o+32x1e"
d = dict(device="cuda")
calls = {}
for k, oeq in mods.items():
    problem = oeq.Problem.channelwise(irr, "0e+1o", irr)
    plan = oeq.Plan.tp(problem, oeq.Backend.CUDA)
    x, y = torch.randn(1, plan.x_dim, **d), torch.randn(1, plan.y_dim, **d)
    w, z = torch.randn(1, plan.weight_numel, **d), torch.empty(1, plan.z_dim, **d)
    dx, dy, dw = torch.empty_like(x), torch.empty_like(y), torch.empty_like(w)
    s = torch.cuda.current_stream().cuda_stream
    calls[k] = (plan, problem,
                lambda plan=plan, x=x, y=y, w=w, z=z, s=s: plan.tp_forward(x, y, w, z, stream=s),
                lambda plan=plan, x=x, y=y, w=w, z=z, dx=dx, dy=dy, dw=dw, s=s:
                    plan.tp_backward(x, y, w, z, dx, dy, dw, stream=s))
best = {(k, i): 1e9 for k in calls for i in (2, 3)}
for rnd in range(12):
    for k, c in calls.items():
        for i in (2, 3):
            fn = c[i]
            for _ in range(100):
                fn()
            torch.cuda.synchronize()
            t = time.perf_counter()
            for _ in range(1000):
                fn()
            us = (time.perf_counter() - t) / 1000 * 1e6
            torch.cuda.synchronize()
            best[(k, i)] = min(best[(k, i)], us)
for k in calls:
    print(f"{k}: forward {best[(k, 2)]:.2f} us, backward {best[(k, 3)]:.2f} us (best of 12 rounds x 1000 calls)")
