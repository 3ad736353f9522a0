#!/usr/bin/env python3
"""e3nn_compare.py: e3nn and oeq side by side, in one process, on one GPU.

For every problem of shared/bench/anchors.md this builds e3nn's TensorProduct
(MACE's channelwise builder for the uvu problems, FullyConnectedTensorProduct
for the uvw ones) and the same problem in oeq (through bindings/python/oeq.py),
feeds both the same random CUDA tensors, checks that they agree (outputs and
all three gradients), and times forward and forward+backward with CUDA events
(3 warm-ups, median of N runs; with --flush-l2 the L2 is flushed before
each). It prints one table with the speedups next to
OpenEquivariance's from anchors.md, and OpenEquivariance's own times there
(measured on an H100 80GB HBM3: comparable to oeq's on that card only).

usage: PYTHONPATH=bindings/python OEQ_LIBRARY=build/.libs/liboeq.so \
         python3 bench/e3nn_compare.py [--batch 50000] [--runs 10] [--only NAME,...] [--flush-l2]
"""
import argparse
import statistics
import sys

import torch
from e3nn import o3

import oeq

# label: (in1, in2, out filter or out, kind, shared weights, dtype,
#         OpenEquivariance's fwd and fwd+bwd speedups over e3nn on an H100,
#         and its own fwd and fwd+bwd ms there)
ANCHORS = [
    ("mace-large", "128x0e+128x1o+128x2e", "1x0e+1x1o+1x2e+1x3o", "0e+1o+2e+3o", "uvu", False, "f32", 9.6, 15.4,
     1.079, 2.662),
    ("mace-medium", "128x0e+128x1o", "1x0e+1x1o+1x2e+1x3o", "0e+1o+2e", "uvu", False, "f32", 7.2, 11.0, 0.476,
     1.019),
    ("nequip-lips", "32x0o+32x0e+32x1o+32x1e+32x2o+32x2e", "0e+1o+2e", None, "uvu", False, "f32", 10.7, 20.3, 0.44,
     1.241),
    ("nequip-revmd17-aspirin", "64x0o+64x0e+64x1o+64x1e", "0e+1o", None, "uvu", False, "f32", 9.6, 13.7, 0.249,
     0.686),
    ("nequip-revmd17-toluene", "64x0o+64x0e+64x1o+64x1e+64x2o+64x2e", "0e+1o+2e", None, "uvu", False, "f32", 10.8,
     20.7, 0.832, 2.133),
    ("nequip-revmd17-benzene", "64x0o+64x0e+64x1o+64x1e+64x2o+64x2e+64x3o+64x3e", "0e+1o+2e+3o", None, "uvu", False,
     "f32", 5.8, 12.0, 4.873, 14.115),
    ("nequip-water", "32x0o+32x0e+32x1o+32x1e", "0e+1o", None, "uvu", False, "f32", 16.1, 14.4, 0.157, 0.465),
    ("nequix-mp-1-first_layer", "89x0e", "1x0e+1x1o+1x2e+1x3o", "0e+1o+2e+3o", "uvu", False, "f32", 5.9, 5.9, 0.207,
     0.514),
    ("nequix-mp-1-main_layers", "128x0e+64x1o+32x2e+32x3o", "1x0e+1x1o+1x2e+1x3o", "0e+1o+2e+3o", "uvu", False,
     "f32", 8.9, 16.3, 0.669, 1.663),
    ("nequix-mp-1-last_layer", "128x0e+64x1o+32x2e+32x3o", "1x0e+1x1o+1x2e+1x3o", "0e", "uvu", False, "f32", 8.9,
     8.9, 0.135, 0.428),
    ("SevenNet_l3i5-first-layer", "128x0e", "1x0e+1x1e+1x2e+1x3e", "0e+1e+2e+3e", "uvu", False, "f32", 5.1, 7.2,
     0.252, 0.508),
    ("SevenNet_l3i5-main-layers", "128x0e+64x1e+32x2e+32x3e", "1x0e+1x1e+1x2e+1x3e", "0e+1e+2e+3e", "uvu", False,
     "f32", 10.8, 19.4, 0.918, 2.4),
    ("SevenNet_l3i5-last-layer", "128x0e+64x1e+32x2e+32x3e", "1x0e+1x1e+1x2e+1x3e", "0e", "uvu", False, "f32", 9.1,
     8.1, 0.137, 0.508),
    ("DiffDock-L=1", "10x1o+10x1e+48x0e+48x0o", "1x0e+1x1o", "10x1o+10x1e+48x0e+48x0o", "uvw", False, "f32", 3.2,
     12.0, 0.856, 2.22),
    ("DiffDock-L=2", "10x1o+10x1e+48x0e+48x0o", "1x0e+1x1o+1x2e", "10x1o+10x1e+48x0e+48x0o", "uvw", False, "f32",
     3.4, 13.8, 0.848, 2.345),
    ("tetris-poly-1", "1x0e+1x1o+1x2e+1x3o", "1x0e+1x1o+1x2e+1x3o", "64x0e+24x1e+24x1o+16x2e+16x2o", "uvw", True,
     "f32", 22.2, 14.5, 0.262, 1.17),
    ("tetris-poly-2", "64x0e+24x1e+24x1o+16x2e+16x2o", "1x0e+1x1o+1x2e", "0o+6x0e", "uvw", True, "f32", 11.3, 5.3,
     0.173, 0.979),
    ("e3tools_conv", "64x0e+16x1o", "1x0e+1x1o", "80x0e+16x1o", "uvw", False, "f32", 2.0, 5.9, 0.782, 2.062),
    ("e3tools_transformer", "64x0e+16x1o", "1x0e+1x1o", "64x0e+16x1o", "uvw", True, "f32", 2.7, 1.7, 0.294, 1.499),
    ("mace-large-f64", "128x0e+128x1o+128x2e", "1x0e+1x1o+1x2e+1x3o", "0e+1o+2e+3o", "uvu", False, "f64", 8.8, 9.9,
     1.855, 7.127),
    ("nequip-lips-f64", "32x0o+32x0e+32x1o+32x1e+32x2o+32x2e", "0e+1o+2e", None, "uvu", False, "f64", 9.6, 20.7,
     0.735, 1.923),
    ("nequip-revmd17-benzene-f64", "64x0o+64x0e+64x1o+64x1e+64x2o+64x2e+64x3o+64x3e", "0e+1o+2e+3o", None, "uvu",
     False, "f64", 6.5, 12.7, 6.658, 24.405),
]


def mace_channelwise(irreps1, irreps2, target):
    """MACE's tp_out_irreps_with_instructions (conventions.md A3)."""
    irreps1, irreps2, target = o3.Irreps(irreps1), o3.Irreps(irreps2), o3.Irreps(target)
    out, instructions = [], []
    for i, (mul, ir_in) in enumerate(irreps1):
        for j, (_, ir_edge) in enumerate(irreps2):
            for ir_out in ir_in * ir_edge:
                if ir_out in target:
                    k = len(out)
                    out.append((mul, ir_out))
                    instructions.append((i, j, k, "uvu", True))
    out = o3.Irreps(out)
    out, perm, _ = out.sort()
    instructions = [(i1, i2, perm[io], mode, w) for i1, i2, io, mode, w in instructions]
    instructions = sorted(instructions, key=lambda x: x[2])
    return out, instructions


def build_e3nn(in1, in2, out, kind, shared):
    if kind == "uvu":
        irreps_out, instructions = mace_channelwise(in1, in2, out)
        return o3.TensorProduct(in1, in2, irreps_out, instructions, shared_weights=False, internal_weights=False)
    return o3.FullyConnectedTensorProduct(in1, in2, out, shared_weights=shared, internal_weights=False)


def build_oeq(in1, in2, out, kind, shared, dtype):
    if kind == "uvu":
        problem = oeq.Problem.channelwise(in1, in2, out)
    else:
        problem = oeq.Problem.fully_connected(in1, in2, out)
        problem.set_shared_weights(shared)
    d = oeq.DType.FLOAT64 if dtype == "f64" else oeq.DType.FLOAT32
    problem.set_dtypes(d, d)
    return problem


# L2 flush before every timed call (--flush-l2, OpenEquivariance's method:
# its benchmark timer writes a large buffer and synchronises first), so
# neither side starts with its inputs in the 50 MB L2 of the call before.
FLUSH = {"buf": None}


def flush_l2():
    if FLUSH["buf"] is not None:
        FLUSH["buf"].fill_(0)
        torch.cuda.synchronize()


def time_ms(fn, runs):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(runs):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        flush_l2()
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop))
    return statistics.median(times)


def rel(a, b):
    a, b = a.double(), b.double()
    return ((a - b).norm() / b.norm().clamp_min(1e-300)).item()


def copy_bandwidth_gbs():
    n = 1 << 28  # 1 GiB of float32
    src = torch.empty(n, dtype=torch.float32, device="cuda").normal_()
    dst = torch.empty_like(src)
    ms = time_ms(lambda: dst.copy_(src), 10)
    return 2 * 4 * n / ms / 1e6


def run_one(entry, batch, runs, floor_gbs):
    name, in1, in2, out, kind, shared, dtype, oeq_fwd_anchor, oeq_fb_anchor, anchor_fwd_ms, anchor_fb_ms = entry
    out = out or in1
    tdtype = torch.float64 if dtype == "f64" else torch.float32
    torch.set_default_dtype(tdtype)  # before building: e3nn's w3j buffers take it
    tp = build_e3nn(in1, in2, out, kind, shared).cuda()
    problem = build_oeq(in1, in2, out, kind, shared, dtype)
    plan = oeq.Plan.tp(problem, oeq.Backend.CUDA)
    numel = tp.weight_numel
    assert numel == plan.weight_numel, f"{name}: weight_numel e3nn {numel} != oeq {plan.weight_numel}"
    assert tp.irreps_out.dim == plan.z_dim, f"{name}: out dim e3nn {tp.irreps_out.dim} != oeq {plan.z_dim}"
    gen = torch.Generator(device="cuda").manual_seed(1234)
    dev = dict(device="cuda", dtype=tdtype)
    x = torch.randn(batch, plan.x_dim, generator=gen, **dev)
    y = torch.randn(batch, plan.y_dim, generator=gen, **dev)
    w = torch.randn(numel, generator=gen, **dev) if shared else torch.randn(batch, numel, generator=gen, **dev)
    dz = torch.randn(batch, plan.z_dim, generator=gen, **dev)
    stream = torch.cuda.current_stream().cuda_stream

    # Agreement first: forward and the three gradients.
    xg, yg, wg = (t.clone().requires_grad_(True) for t in (x, y, w))
    ze = tp(xg, yg, wg)
    ze.backward(dz)
    z = torch.full_like(ze, float("nan"))
    dx, dy, dw = (torch.full_like(t, float("nan")) for t in (x, y, w))
    plan.tp_forward(x, y, w, z, stream=stream)
    plan.tp_backward(x, y, w, dz, dx, dy, dw, stream=stream)
    torch.cuda.synchronize()
    errors = [rel(z, ze), rel(dx, xg.grad), rel(dy, yg.grad), rel(dw, wg.grad)]
    del xg, yg, wg, ze

    with torch.no_grad():
        e3nn_fwd = time_ms(lambda: tp(x, y, w), runs)
    xg, yg, wg = (t.clone().requires_grad_(True) for t in (x, y, w))

    def e3nn_fb():
        tp(xg, yg, wg).backward(dz)

    e3nn_fb_ms = time_ms(e3nn_fb, max(3, runs // 2))
    del xg, yg, wg
    oeq_fwd = time_ms(lambda: plan.tp_forward(x, y, w, z, stream=stream), runs)

    def oeq_fb():
        plan.tp_forward(x, y, w, z, stream=stream)
        plan.tp_backward(x, y, w, dz, dx, dy, dw, stream=stream)

    oeq_fb_ms = time_ms(oeq_fb, runs)
    item = x.element_size()
    moved = item * (x.numel() + y.numel() + z.numel()) + w.element_size() * w.numel()
    floor_ms = moved / floor_gbs / 1e6
    plan.close()
    problem.close()
    del tp, x, y, w, dz, z, dx, dy, dw
    torch.cuda.empty_cache()
    return dict(name=name, dtype=dtype, e3nn_fwd=e3nn_fwd, oeq_fwd=oeq_fwd, e3nn_fb=e3nn_fb_ms, oeq_fb=oeq_fb_ms,
                anchor_fwd=oeq_fwd_anchor, anchor_fb=oeq_fb_anchor,
                anchor_fwd_ms=anchor_fwd_ms, anchor_fb_ms=anchor_fb_ms,
                floor=floor_ms, err=max(errors))


CONV_ANCHORS = [
    # label, problem, OpenEquivariance on an H200 (anchors.md): fwd / fwd+bwd ms atomic, deterministic
    ("mace-large", ANCHORS[0], (7.30, 21.1), (5.22, 17.4)),
    ("nequip-lips", ANCHORS[2], (2.76, 8.10), (2.17, 8.35)),
]


def random_graph(nodes, edges, gen):
    """Receivers sorted (as anchors.md), senders uniform; int32 indices."""
    rows = torch.randint(0, nodes, (edges,), generator=gen, device="cuda").sort().values
    cols = torch.randint(0, nodes, (edges,), generator=gen, device="cuda")
    perm = torch.sort(cols, stable=True).indices
    return rows.int().contiguous(), cols.int().contiguous(), perm.int().contiguous()


def run_conv(entry, nodes, edges, runs):
    """e3nn's gather + TensorProduct + index_add against oeq's fused kernels."""
    label, (name, in1, in2, out, kind, shared, dtype, *_), oeq_atomic, oeq_det = entry
    torch.set_default_dtype(torch.float32)
    tp = build_e3nn(in1, in2, out or in1, kind, shared).cuda()
    problem = build_oeq(in1, in2, out or in1, kind, shared, dtype)
    gen = torch.Generator(device="cuda").manual_seed(99)
    rows, cols, perm = random_graph(nodes, edges, gen)
    dev = dict(device="cuda", dtype=torch.float32)
    x = torch.randn(nodes, tp.irreps_in1.dim, generator=gen, **dev)
    y = torch.randn(edges, tp.irreps_in2.dim, generator=gen, **dev)
    w = torch.randn(edges, tp.weight_numel, generator=gen, **dev)
    dz = torch.randn(nodes, tp.irreps_out.dim, generator=gen, **dev)
    rows_l, cols_l = rows.long(), cols.long()
    stream = torch.cuda.current_stream().cuda_stream

    def e3nn_conv(xx, yy, ww):
        msg = tp(xx[cols_l], yy, ww)
        return torch.zeros(nodes, msg.shape[1], **dev).index_add_(0, rows_l, msg)

    # Reference and e3nn's extra memory (beyond its inputs and output).
    xg, yg, wg = (t.clone().requires_grad_(True) for t in (x, y, w))
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    ze = e3nn_conv(xg, yg, wg)
    ze.backward(dz)
    torch.cuda.synchronize()
    e3nn_extra = torch.cuda.max_memory_allocated() - base
    # Keep the reference before timing: the timed backward calls below
    # accumulate into .grad.
    ref = [ze.detach(), xg.grad, yg.grad, wg.grad]
    del ze
    xg.grad = yg.grad = wg.grad = None
    torch.cuda.empty_cache()
    with torch.no_grad():
        e3nn_fwd = time_ms(lambda: e3nn_conv(x, y, w), runs)
    e3nn_fb = time_ms(lambda: e3nn_conv(xg, yg, wg).backward(dz), max(3, runs // 2))
    results = []
    for mode, flags, anchor in (("atomic", 0, oeq_atomic), ("deterministic", oeq.CONV_DETERMINISTIC, oeq_det)):
        plan = oeq.Plan.conv(problem, oeq.Backend.CUDA, flags=flags)
        sp = perm if flags else None
        ws_bytes = plan.conv_workspace_size(nodes, nodes, edges)
        ws = torch.empty(max(ws_bytes, 1), dtype=torch.uint8, device="cuda")
        z = torch.full_like(ref[0], float("nan"))
        dx, dy, dw = (torch.full_like(t, float("nan")) for t in (x, y, w))
        kw = dict(sender_perm=sp, workspace=ws, workspace_bytes=ws_bytes, stream=stream)
        plan.conv_forward(x, y, w, rows, cols, z, **kw)
        plan.conv_backward(x, y, w, dz, rows, cols, dx, dy, dw, **kw)
        torch.cuda.synchronize()
        err = max(rel(z, ref[0]), rel(dx, ref[1]), rel(dy, ref[2]), rel(dw, ref[3]))
        fwd = time_ms(lambda: plan.conv_forward(x, y, w, rows, cols, z, **kw), runs)

        def fb():
            plan.conv_forward(x, y, w, rows, cols, z, **kw)
            plan.conv_backward(x, y, w, dz, rows, cols, dx, dy, dw, **kw)

        fwd_bwd = time_ms(fb, runs)
        results.append((mode, fwd, fwd_bwd, ws_bytes, anchor, err))
        plan.close()
    problem.close()
    del tp, xg, yg, wg, ref
    torch.cuda.empty_cache()
    return label, e3nn_fwd, e3nn_fb, e3nn_extra, results


def main_conv(args):
    print(f"# conv: {torch.cuda.get_device_name()}, graph {args.nodes} nodes / {args.edges} edges "
          f"(receivers sorted), float32", flush=True)
    print("| problem | mode | e3nn fwd ms | oeq fwd ms | speedup | OEQ's | e3nn fwd+bwd ms | oeq fwd+bwd ms "
          "| speedup | OEQ's | e3nn extra GB | oeq workspace GB | max rel err |")
    print("|" + "---|" * 13)
    failed = 0
    for entry in CONV_ANCHORS:
        label, e3nn_fwd, e3nn_fb, e3nn_extra, results = run_conv(entry, args.nodes, args.edges, args.runs)
        for mode, fwd, fb, ws, anchor, err in results:
            # OpenEquivariance's H200 speedups over the e3nn of that run (anchors.md).
            e3nn_h200 = {"mace-large": (112.5, 315.5), "nequip-lips": (39.9, 151.2)}[label]
            ok = err <= 1e-5
            failed += not ok
            print(f"| {label} | {mode} | {e3nn_fwd:.2f} | {fwd:.3f} | {e3nn_fwd / fwd:.1f}x | "
                  f"{e3nn_h200[0] / anchor[0]:.1f}x | {e3nn_fb:.1f} | {fb:.2f} | {e3nn_fb / fb:.1f}x | "
                  f"{e3nn_h200[1] / anchor[1]:.1f}x | {e3nn_extra / 1e9:.1f} | {ws / 1e9:.3f} | "
                  f"{err:.1e}{'' if ok else ' FAIL'} |", flush=True)
    return failed


def format_row(r, ok):
    """One table row of run_one's result r (ok: agreement within tolerance)."""
    return (f"| {r['name']} | {r['dtype']} | {r['e3nn_fwd']:.3f} | {r['oeq_fwd']:.3f} | "
            f"{r['e3nn_fwd'] / r['oeq_fwd']:.1f}x | {r['anchor_fwd']}x | {r['anchor_fwd_ms']:.3f} | "
            f"{r['e3nn_fb']:.2f} | {r['oeq_fb']:.3f} | {r['e3nn_fb'] / r['oeq_fb']:.1f}x | {r['anchor_fb']}x | "
            f"{r['anchor_fb_ms']:.3f} | {100 * r['floor'] / r['oeq_fwd']:.0f}% | "
            f"{r['err']:.1e}{'' if ok else ' FAIL'} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=50000)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--only", default="")
    parser.add_argument("--conv", action="store_true", help="the fused convolution instead of the TP")
    parser.add_argument("--nodes", type=int, default=20000)
    parser.add_argument("--edges", type=int, default=400000)
    parser.add_argument("--flush-l2", action="store_true",
                        help="write 256 MB and synchronise before every timed call (cold L2, as OpenEquivariance times)")
    args = parser.parse_args()
    if args.flush_l2:
        FLUSH["buf"] = torch.empty(64 << 20, dtype=torch.float32, device="cuda")
    if args.conv:
        return 1 if main_conv(args) else 0
    only = set(filter(None, args.only.split(",")))
    floor_gbs = copy_bandwidth_gbs()
    print(f"# {torch.cuda.get_device_name()}, torch {torch.__version__}, e3nn {__import__('e3nn').__version__}, "
          f"oeq {oeq.version()}, batch {args.batch}, copy bandwidth {floor_gbs:.0f} GB/s"
          f"{', L2 flushed before every timed call' if args.flush_l2 else ''}", flush=True)
    # "OEQ ms": OpenEquivariance's own times in anchors.md, on an H100 80GB HBM3 (compare on that card)
    header = ("| problem | dtype | e3nn fwd ms | oeq fwd ms | speedup | OEQ's | OEQ ms | e3nn fwd+bwd ms "
              "| oeq fwd+bwd ms | speedup | OEQ's | OEQ ms | oeq fwd vs floor | max rel err |")
    print(header)
    print("|" + "---|" * 14)
    failed = 0
    for entry in ANCHORS:
        if only and entry[0] not in only:
            continue
        try:
            r = run_one(entry, args.batch, args.runs, floor_gbs)
        except Exception as exc:  # report and go on: one problem must not hide the others
            print(f"| {entry[0]} | {entry[6]} | error: {exc} |", flush=True)
            failed += 1
            continue
        tol = 1e-12 if r["dtype"] == "f64" else 1e-5
        ok = r["err"] <= tol
        failed += not ok
        print(format_row(r, ok), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
