#!/usr/bin/env python3
"""double_backward_compare.py: oeq's double backward against e3nn's autograd
double backward, in one process, on one GPU.

For MACE-large and nequip-lips (shared/bench/anchors.md, as in
e3nn_compare.py; float32 and float64) this builds e3nn's TensorProduct and
the same problem in oeq (bindings/python/oeq_torch.py), feeds both the same
random CUDA tensors, checks that the double-backward gradients agree, and
times, with CUDA events (3 warm-ups, median of --runs):
  e3nn: torch.autograd.grad of <ddx, dx> + <ddy, dy> + <ddw, dw> w.r.t.
        (x, y, w, dz), (dx, dy, dw) from grad(create_graph=True) -- the
        double-backward pass only, the first backward graph built beforehand;
  oeq:  one oeq::tp_double_backward call (the op autograd runs there).

usage: PYTHONPATH=bindings/python OEQ_LIBRARY=build/.libs/liboeq.so \
         python3 bench/double_backward_compare.py [--batch 50000] [--runs 20]
"""
import argparse
import os
import sys

import torch
from e3nn import o3

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bindings", "python"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oeq_torch  # noqa: E402
from e3nn_compare import mace_channelwise, rel, time_ms  # noqa: E402

PROBLEMS = [
    ("mace-large", "128x0e+128x1o+128x2e", "1x0e+1x1o+1x2e+1x3o", "0e+1o+2e+3o", "f32"),
    ("nequip-lips", "32x0o+32x0e+32x1o+32x1e+32x2o+32x2e", "0e+1o+2e", "32x0o+32x0e+32x1o+32x1e+32x2o+32x2e",
     "f32"),
    ("mace-large-f64", "128x0e+128x1o+128x2e", "1x0e+1x1o+1x2e+1x3o", "0e+1o+2e+3o", "f64"),
    ("nequip-lips-f64", "32x0o+32x0e+32x1o+32x1e+32x2o+32x2e", "0e+1o+2e", "32x0o+32x0e+32x1o+32x1e+32x2o+32x2e",
     "f64"),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=50000)
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    dev = torch.device("cuda")
    print(f"{torch.cuda.get_device_name(dev)}, torch {torch.__version__}, batch {args.batch}, "
          f"median of {args.runs}")
    print(f"{'problem':<18} {'e3nn ms':>9} {'oeq ms':>9} {'speedup':>8} {'max rel err':>12}")
    for label, in1, in2, target, dt in PROBLEMS:
        dtype = torch.float64 if dt == "f64" else torch.float32
        irreps_out, ins = mace_channelwise(in1, in2, target)
        # built in the dtype it runs in: a float32-built module keeps float32-rounded w3j
        torch.set_default_dtype(dtype)
        ref = o3.TensorProduct(in1, in2, irreps_out, ins, shared_weights=False, internal_weights=False)
        torch.set_default_dtype(torch.float32)
        ref = ref.to(device=dev, dtype=dtype)
        tp = oeq_torch.TensorProduct(o3.Irreps(in1), o3.Irreps(in2), irreps_out, ins, shared_weights=False)
        g = torch.Generator(device=dev).manual_seed(1)
        B = args.batch

        def rnd(*shape):
            return torch.randn(*shape, generator=g, device=dev, dtype=dtype)

        x, y, w = rnd(B, ref.irreps_in1.dim), rnd(B, ref.irreps_in2.dim), rnd(B, ref.weight_numel)
        dz = rnd(B, ref.irreps_out.dim)
        ddx, ddy, ddw = rnd(*x.shape), rnd(*y.shape), rnd(*w.shape)
        for t in (x, y, w, dz):
            t.requires_grad_(True)

        def e3nn_graph():
            z = ref(x, y, w)
            gx, gy, gw = torch.autograd.grad(z, (x, y, w), dz, create_graph=True)
            return (gx * ddx).sum() + (gy * ddy).sum() + (gw * ddw).sum()

        L = e3nn_graph()

        def e3nn_dd():
            return torch.autograd.grad(L, (x, y, w, dz), retain_graph=True)

        def oeq_dd():
            return oeq_torch.tp_double_backward(x.detach(), y.detach(), w.detach(), dz.detach(), ddx, ddy, ddw,
                                                tp._key)

        err = max(rel(a, b) for a, b in zip(oeq_dd(), e3nn_dd()))
        te, to = time_ms(e3nn_dd, args.runs), time_ms(oeq_dd, args.runs)
        print(f"{label:<18} {te:9.3f} {to:9.3f} {te / to:7.2f}x {err:12.3g}", flush=True)
        del L
        torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
