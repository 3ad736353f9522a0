#!/usr/bin/env python3
"""symcon_compare.py: MACE's symmetric contraction (product basis), oeq vs a
plain PyTorch implementation of the same formula, in one process on one GPU.

The torch side is MACE's Contraction written with torch.einsum: dense U
tensors (built here from e3nn's wigner_3j with MACE's legacy U_matrix_real
recursion: level 1 in input order, later levels sorted stably by irrep,
"component" normalization), weights gathered per row by species. It is first
checked against oeq's CPU backend on a few rows (same basis, same weight
layout), then timed: forward, and forward + backward (autograd, dx and dw),
median of CUDA-event-timed runs. The einsum materialises the weighted U of
each row ([rows][C][2l+1][D]^nu, the cheapest pairwise order for MACE-large),
so rows go in chunks that keep that under --chunk-gib; each chunk's backward
runs right after its forward (the saved tensors of all chunks would not fit). The oeq side runs through the Python binding
when a GPU plan of the symmetric contraction can be made (else it says so;
bench/bench_symcon times the generated kernels directly).

Usage: python3 bench/symcon_compare.py [--rows 20000 100000] [--dtype float32 float64]
       (OEQ_LIBRARY=path/to/liboeq.so; needs torch with CUDA and e3nn)
"""
import argparse
import math
import os
import sys

import numpy as np
import torch
from e3nn import o3

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bindings", "python"))
import oeq  # noqa: E402


def coupled_paths(irreps_in, nu, keep=None, filt=None):
    """All coupled paths of `nu` copies of irreps_in (each mul 1), as
    (irrep, tensor [dim(ir), D, ..., D]) in MACE's order."""
    D = irreps_in.dim
    offs, o = [], 0
    for _, ir in irreps_in:
        offs.append(o)
        o += ir.dim
    level = []
    for (_, ir), off in zip(irreps_in, offs):
        t = torch.zeros(ir.dim, D, dtype=torch.float64)
        t[:, off:off + ir.dim] = torch.eye(ir.dim, dtype=torch.float64)
        level.append((ir, t))
    for n in range(1, nu):
        nxt = []
        for ir_l, t_l in level:
            for (_, ir_r), off in zip(irreps_in, offs):
                for ir_o in ir_l * ir_r:
                    if filt is not None and ir_o not in filt:
                        continue
                    if n + 1 == nu and keep is not None and ir_o not in keep:
                        continue
                    c = o3.wigner_3j(ir_o.l, ir_l.l, ir_r.l, dtype=torch.float64) * math.sqrt(ir_o.dim)
                    # new[m, left..., off + j] = sum_a t_l[a, left...] c[m, a, j]
                    body = torch.einsum("a...,maj->m...j", t_l, c)
                    t = torch.zeros(ir_o.dim, *([D] * (n + 1)), dtype=torch.float64)
                    t[..., off:off + ir_r.dim] = body
                    nxt.append((ir_o, t))
        level = sorted(nxt, key=lambda p: p[0])  # stable: generation order within an irrep
    return level


def u_tensor(irreps_in, ir_out, nu):
    filt = [o3.Irrep(l, (-1) ** l) for l in range(12)] if nu == 4 else None
    ts = [t for ir, t in coupled_paths(irreps_in, nu, keep=[ir_out], filt=filt) if ir == ir_out]
    D = irreps_in.dim
    if not ts:
        return torch.zeros(ir_out.dim, *([D] * nu), 0, dtype=torch.float64)
    return torch.stack(ts, dim=-1)  # [m, i_1..i_nu, k]


class TorchSymCon(torch.nn.Module):
    """MACE's Contraction for every output irrep, with einsum; weights [E][K][C]."""

    def __init__(self, irreps_in, irreps_out, corr, E, C, dtype, device):
        super().__init__()
        self.irreps_in, self.corr, self.C = o3.Irreps(irreps_in), corr, C
        self.outs = []
        for _, ir in o3.Irreps(irreps_out):
            us = {nu: u_tensor(self.irreps_in, ir, nu).to(device=device, dtype=dtype) for nu in range(1, corr + 1)}
            self.outs.append((ir, us))
        self.shapes = [(E, us[nu].shape[-1], C) for ir, us in self.outs for nu in range(corr, 0, -1)]

    def forward(self, x, species, weights):
        """x [B][C][D], weights: the list of [E][K][C] in oeq's flat order."""
        res, wi = [], 0
        for ir, us in self.outs:
            out = None
            for nu in range(self.corr, 0, -1):
                w = weights[wi][species]  # [B][K][C]
                wi += 1
                c = torch.einsum("...k,bkc->bc...", us[nu], w)
                out = c if out is None else c + out
                out = torch.einsum("bc...i,bci->bc...", out, x)  # contract the last index
            res.append(out.reshape(x.shape[0], -1))
        return torch.cat(res, dim=-1)


def flat_weights(ws):
    return torch.cat([w.reshape(-1) for w in ws])


def chunked_forward(mod, x, sp, ws, rows):
    return torch.cat([mod(x[i:i + rows], sp[i:i + rows], ws) for i in range(0, x.shape[0], rows)])


def chunked_forward_backward(mod, x, sp, ws, dz, rows):
    dx, dws = torch.empty_like(x), [torch.zeros_like(w) for w in ws]
    for i in range(0, x.shape[0], rows):
        xc = x[i:i + rows].detach().requires_grad_(True)
        z = mod(xc, sp[i:i + rows], ws)
        g = torch.autograd.grad(z, [xc] + ws, dz[i:i + rows])
        dx[i:i + rows] = g[0]
        for a, b in zip(dws, g[1:]):
            a += b
    return dx, dws


def timed(fn, reps=20):
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    for _ in range(3):
        fn()
    ts = []
    for _ in range(reps):
        s.record()
        fn()
        e.record()
        e.synchronize()
        ts.append(s.elapsed_time(e))
    return float(np.median(ts))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, nargs="*", default=[20000, 100000])
    ap.add_argument("--dtype", nargs="*", default=["float32", "float64"])
    ap.add_argument("--in", dest="irreps_in", default="0e+1o+2e+3o")
    ap.add_argument("--out", dest="irreps_out", nargs="*", default=["0e+1o+2e", "0e"])
    ap.add_argument("--corr", type=int, default=3)
    ap.add_argument("--species", type=int, default=10)
    ap.add_argument("--channels", type=int, default=128)
    ap.add_argument("--chunk-gib", type=float, default=4.0)
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()
    dev = torch.device("cuda")
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    print("| problem | dtype | rows | torch fwd ms | torch fwd+bwd ms | oeq fwd ms | oeq fwd+bwd ms |")
    print("|---|---|---|---|---|---|---|")
    for irreps_out in a.irreps_out:
        for dts in a.dtype:
            dt = getattr(torch, dts)
            E, C = a.species, a.channels
            mod = TorchSymCon(a.irreps_in, irreps_out, a.corr, E, C, dt, dev)
            gen = torch.Generator(device="cpu").manual_seed(0)
            ws = [torch.randn(s, generator=gen, dtype=torch.float64).to(dev, dt) / s[1] for s in mod.shapes]
            D = o3.Irreps(a.irreps_in).dim
            # the same formula as oeq: checked on a few rows against the CPU backend
            p = oeq.Problem.symmetric_contraction(a.irreps_in, irreps_out, a.corr, E, C)
            p.set_dtypes(dts)
            assert p.weight_numel == sum(math.prod(s) for s in mod.shapes), "weight layouts differ"
            cpu = oeq.Plan.symmetric_contraction(p, oeq.Backend.CPU)
            xs = torch.randn(7, C, D, generator=gen, dtype=torch.float64).to(dt)
            sps = torch.randint(0, E, (7,), generator=gen, dtype=torch.int32)
            z_oeq = cpu.symcon_forward(xs.reshape(7, -1).numpy(), sps.numpy(), flat_weights(ws).cpu().numpy())
            z_t = mod(xs.to(dev), sps.to(dev).long(), ws).cpu().numpy()
            err = np.linalg.norm(z_oeq - z_t) / np.linalg.norm(z_t)
            assert err < (1e-10 if dts == "float64" else 1e-4), f"torch and oeq disagree: {err:.3g}"
            try:
                gpu = oeq.Plan.symmetric_contraction(p, oeq.Backend.CUDA)
            except oeq.OeqError as e:
                gpu, why = None, str(e)
            biggest = C * max(ir.dim for ir, _ in mod.outs) * D ** a.corr * torch.finfo(dt).bits // 8
            chunk = max(1, int(a.chunk_gib * 2 ** 30 // biggest))
            for B in a.rows:
                x = torch.randn(B, C, D, device=dev, dtype=dt)
                sp = torch.randint(0, E, (B,), device=dev)
                wg = [w.clone().requires_grad_(True) for w in ws]
                with torch.no_grad():
                    fwd = timed(lambda: chunked_forward(mod, x, sp, wg, chunk), a.reps)
                dz = torch.randn(B, mod(x[:1], sp[:1], wg).shape[1], device=dev, dtype=dt)
                # the backward of each chunk runs after its own forward: one
                # forward and one backward of every row, as oeq's pair below
                fbt = timed(lambda: chunked_forward_backward(mod, x, sp, wg, dz, chunk), a.reps)
                of = ob = float("nan")
                if gpu is not None:
                    xf, sp32, wf = x.detach().reshape(B, -1), sp.to(torch.int32), flat_weights(ws)
                    z = torch.empty(B, dz.shape[1], device=dev, dtype=dt)
                    dx, dw = torch.empty_like(xf), torch.empty_like(wf)
                    of = timed(lambda: gpu.symcon_forward(xf, sp32, wf, z))
                    ob = timed(lambda: (gpu.symcon_forward(xf, sp32, wf, z),
                                        gpu.symcon_backward(xf, sp32, wf, dz, dx, dw)))
                print(f"| {a.irreps_in} -> {irreps_out} | {dts} | {B} | {fwd:.3f} | {fbt:.3f} | {of:.3f} | {ob:.3f} |")
                del x, sp, wg, dz
                torch.cuda.empty_cache()
            if gpu is None:
                print(f"(oeq GPU plan: {why})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
