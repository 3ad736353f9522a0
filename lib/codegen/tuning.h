/* tuning.h: every build-time tuning knob of the code generators and the
 * launch layer in one place. Each is a measured default; override one
 * with -D to measure against it (bench/NOTES.md records each measurement,
 * with the card and the run that chose the value). */
#ifndef OEQ_TUNING_H
#define OEQ_TUNING_H

/* 1: the TP forward / backward go to tensor cores (mma.sync, sm_80+) where
 * the shapes allow; 0 measures the warp-a-row kernels against them. */
#ifndef OEQ_TENSOR_CORES
#define OEQ_TENSOR_CORES 1
#endif
/* 1: dx, dy on tensor cores wherever the forward is; 0 keeps the
 * warp-a-row backward beside a tensor-core forward. */
#ifndef OEQ_BWD_MMA
#define OEQ_BWD_MMA 1
#endif
/* Tensor-core forward only where a row has at least this many weights per
 * element it moves: below it the warp-a-row kernel is memory-bound anyway. */
#ifndef FWD_MIN_WEIGHTS_PER_ROW_ELEMENT
#define FWD_MIN_WEIGHTS_PER_ROW_ELEMENT 8
#endif
/* The tensor-core dw kernel re-reads every row to save the backward its dw
 * updates: worth it only from this many weights per row element. */
#ifndef DW_MIN_WEIGHTS_PER_ROW_ELEMENT
#define DW_MIN_WEIGHTS_PER_ROW_ELEMENT 8
#endif
/* __launch_bounds__ min blocks of the dw kernel: more spills on
 * e3tools_transformer, fewer leaves occupancy unused. */
#ifndef DW_MAX_MIN_BLOCKS
#define DW_MAX_MIN_BLOCKS 2
#endif
/* Shared-weight dw up to this size gets one private copy per warp (plain
 * shared-memory adds, no atomics); above it one copy per block. */
#ifndef DW_WARP_MAX_BYTES
#define DW_WARP_MAX_BYTES (32 * 1024)
#endif
/* Per-row weights of output-heavy problems are staged through shared
 * memory in windows of up to this many bytes (one latency per window). */
#ifndef FWD_STAGE_W_MAX_BYTES
#define FWD_STAGE_W_MAX_BYTES 2560
#endif
/* The forward loads the per-row weights of this many steps ahead into
 * registers, hiding a global-memory latency per output block and chunk. */
#ifndef FWD_PREFETCH_STEPS
#define FWD_PREFETCH_STEPS 1
#endif
/* Register budget a thread of the windowed forward (sm_90 launch bounds):
 * fewer registers bought more warps but no speed. */
#ifndef OEQ_FWD_WINDOW_REGS
#define OEQ_FWD_WINDOW_REGS 80
#endif
/* The float32 backward's min blocks per SM (launch bounds): left free,
 * ptxas spent up to 254 registers and occupancy fell. */
#ifndef BWD_MIN_BLOCKS_F32
#define BWD_MIN_BLOCKS_F32 5
#endif
/* Pair-path weight loads in flight at once in the backward's run-time
 * chunk loop: keeps the memory system busy on per-row-weight problems. */
#ifndef PAIR_TILE_UNROLL
#define PAIR_TILE_UNROLL 16
#endif
/* Accumulator registers a lane of the conv forward holds per pass: keeps
 * the kernel at 64 registers so a whole launch is resident at once. */
#ifndef OEQ_CONV_GROUP_BUDGET
#define OEQ_CONV_GROUP_BUDGET 16
#endif
/* ... unless a lane's whole output row (every written block, one
 * multiplicity) fits this many accumulators: then the forward makes one
 * pass over the edges instead of one a group, and each gathered x row is
 * read once a chunk instead of once a group that uses it. Halved for
 * float64 and for Kahan sums, as the group budget. mace-large (71
 * accumulators, 184 registers, 8 warps an SM instead of 32) on an H100,
 * bench/NOTES.md run AS: forward 4.18 -> 3.53 ms atomic, 3.87 -> 2.86 ms
 * deterministic; nequip-lips (30 blocks) keeps its groups: in one pass it
 * took 255 registers and ran 15% slower. 0: always groups. */
#ifndef OEQ_CONV_ONE_PASS_BUDGET
#define OEQ_CONV_ONE_PASS_BUDGET 80
#endif
/* 1: the conv backward factors uvu paths with one y channel through y
 * (conv_backward.c, emit_factored): about half the arithmetic per edge;
 * 0: every path unfactored. A path is factored only while its two tables
 * (K and N, a register per distinct CG (a, c) each; two in float64) take
 * at most CONV_BWD_FACTOR_REGS registers. */
#ifndef CONV_BWD_FACTORED
#define CONV_BWD_FACTORED 1
#endif
#ifndef CONV_BWD_FACTOR_REGS
#define CONV_BWD_FACTOR_REGS 64
#endif
/* 1: a factored path's chunk loop is unrolled like the others (ptxas
 * then overlaps the chunks' loads, at more registers); 0: one chunk at a
 * time. */
#ifndef CONV_BWD_FACTORED_UNROLL
#define CONV_BWD_FACTORED_UNROLL 1
#endif
/* 1: the conv kernels read per-edge weights and write per-edge dw with
 * streaming (evict-first) hints, each touched once, so that they do not
 * push reused rows (dz, x) out of L2; 0: plain loads and stores. Off
 * until measured: with CONV_DZ_KEEP too, ptxas took mace-large's
 * backward from 128 to 168 registers (one block an SM fewer). */
#ifndef CONV_STREAM_HINTS
#define CONV_STREAM_HINTS 0
#endif
/* 1: the conv backward reads dz rows with an L2 evict-last policy (CUDA
 * sm_80+): consecutive edges of one receiver read the same row, and
 * without it (run AR) ncu saw a 17% L2 hit rate and the backward
 * DRAM-bound; 0: plain loads. Off until measured (see above). */
#ifndef CONV_DZ_KEEP
#define CONV_DZ_KEEP 0
#endif
/* 1: the conv backward gives each segment a block whose warps take the
 * channel chunks in turn (warp k: chunks k, k + W, ...), where every path
 * is a uvu path with one y channel and a multiple of W chunks, per-edge
 * weights (mace-large: 4 chunks, 4 warps). A block's live dz rows are then
 * one row, not one a warp (run AR: 76 MB of live rows against a 50 MB L2),
 * and small graphs get W times the warps. 0: a warp a segment. Off until
 * measured. */
#ifndef CONV_BWD_BLOCK_SPLIT
#define CONV_BWD_BLOCK_SPLIT 0
#endif
/* 1: the atomic-mode conv backward interleaves its segments (segment s
 * takes edges s, s + n_seg, ...: oeq_conv_backward_segments) so that the
 * warps resident at once share their receivers' dz rows in L2; 0:
 * contiguous runs, as the deterministic mode. */
#ifndef CONV_BWD_INTERLEAVE
#define CONV_BWD_INTERLEAVE 1
#endif
/* The fewest edges (positions) a conv segment has where the segments'
 * count is not at its bound (graphs below 16 x 4,096 edges): deterministic
 * forward and backward, and the atomic backward without interleaving.
 * Fewer mean more warps on a small graph, and more fix-up slots. */
#ifndef CONV_MIN_SEG_LEN
#define CONV_MIN_SEG_LEN 16
#endif
/* The fewest edges an atomic-mode conv forward segment has (small graphs;
 * large ones have OEQ_CONV_MAX_SEGMENTS segments). A warp walks its
 * segment's edges one after another, so on a graph of a few thousand edges
 * the segment length is a chain of dependent loads; shorter segments cost
 * only more atomic flushes of a receiver's row. The deterministic forward
 * keeps oeq_conv_segment_len (each extra segment is a fix-up slot). */
#ifndef CONV_FWD_ATOMIC_MIN_SEG
#define CONV_FWD_ATOMIC_MIN_SEG 16
#endif
/* 1: the conv forward loads the next edge's receiver and sender indices
 * while it works on the current edge, so an edge's gathers wait on one
 * round trip (x, y, w) instead of two (the indices, then the rows they
 * name). Its passes over a segment (one per block group, ~20 for
 * mace-large) each walk the edges in sequence: run AR measured ~2 us an
 * edge-pass. 0 until measured. */
#ifndef CONV_FWD_PREFETCH_INDEX
#define CONV_FWD_PREFETCH_INDEX 0
#endif
/* > 0: a conv backward with a factored path (the register-hungry one)
 * asks __launch_bounds__ for this many blocks an SM (CUDA), capping its
 * registers; others, and 0, give the thread count alone. mace-large's
 * interleaved atomic backward takes 146 registers under NVRTC (3 blocks an
 * SM), 128 with 4 (60 bytes of spills): bwd 8.49 -> 7.05 ms atomic, 9.38 ->
 * 9.08 deterministic on an H100 (bench/NOTES.md run AS). Not for kernels
 * without one: nequip-lips' backward needs 60 registers, and the hint let
 * ptxas take 104 (bwd 3.28 -> 3.75 ms). */
#ifndef CONV_BWD_MIN_BLOCKS
#define CONV_BWD_MIN_BLOCKS 4
#endif
/* 1: a GPU plan remembers the array addresses that passed its host-memory
 * check (skips several driver queries a call); 0 queries every call. */
#ifndef OEQ_PTR_MEMO
#define OEQ_PTR_MEMO 1
#endif
/* __launch_bounds__ min blocks of the symmetric contraction's float32 pair
 * kernels (256 threads): left at 1, ptxas hoisted shared loads into ~250
 * registers and one block ran an SM (float64 keeps 1: it spilled). */
#ifndef SYMCON_PAIR_MIN_BLOCKS
#define SYMCON_PAIR_MIN_BLOCKS 2
#endif
/* Coefficients of consecutive pairs a row loads at once from the pair
 * kernels' shared table (1, 2 or 4): fewer shared-memory instructions. */
#ifndef SYMCON_PAIR_VECTOR
#define SYMCON_PAIR_VECTOR 2
#endif
/* Species groups the pair kernels split a problem into when its tables
 * do not fit one block's shared memory (each group's blocks skip the other
 * groups' rows, so a row's lanes idle in the others); beyond it AUTO takes
 * the per-term kernels. */
#ifndef SYMCON_PAIR_MAX_GROUPS
#define SYMCON_PAIR_MAX_GROUPS 4
#endif
/* 1: the pair dw kernel reduces a warp of one species (the usual case once
 * rows are sorted) without the masked copy the general path makes. */
#ifndef SYMCON_DW_ONE_SPECIES_PATH
#define SYMCON_DW_ONE_SPECIES_PATH 0
#endif

#endif
