/* conv_codegen.h: CUDA / HIP source for the fused graph convolution.
 *
 * One translation unit per conv plan holds:
 *  - oeq_conv_fwd: z[rows[e]] += TP(x[cols[e]], y[e], w[e]), gather, TP and
 *    scatter fused (a per-edge message never reaches global memory);
 *  - oeq_conv_bwd: dx (summed per sender), dy and dw (per edge) in one pass;
 *  - oeq_conv_fwd_fixup / oeq_conv_bwd_fixup (deterministic mode): add the
 *    partial rows of receivers (senders) split across warps, in a fixed order;
 *  - oeq_conv_dw_reduce (shared weights): sums the per-segment dw partials
 *    in a fixed order (no atomics, so dw is reproducible in both modes);
 *  - oeq_conv_check: index validation (and sortedness in deterministic mode),
 *    setting bits of an error word; launched only when checking is on.
 *
 * Work is cut into segments: contiguous runs of `seg_len` edges (forward, in
 * edge order) or sender-order positions (deterministic backward), or every
 * n_seg-th edge (atomic backward: oeq_conv_backward_segments). A warp owns a
 * segment and accumulates while the receiver (sender) stays the same, so
 * sorted input gives one write per row per segment. The segment length
 * comes from the edge count alone (oeq_conv_segment_len), never from the
 * device or the grid, so deterministic results do not depend on the launch
 * configuration. */
#ifndef OEQ_CONV_CODEGEN_H
#define OEQ_CONV_CODEGEN_H

#include <stddef.h>
#include <stdint.h>

#include "codegen/tp_codegen.h"
#include "codegen/tuning.h"
#include "schedule.h"
#include "status.h"

typedef struct oeq_conv_options {
  int deterministic; /* segmented writes + fix-up, no atomics */
  int kahan;         /* compensated sums (deterministic, float compute) */
  int index64;       /* rows / cols / sender_perm are int64 */
  /* 1: where every path allows it, the backward gives each segment a block
   * whose warps split the channel chunks (see conv_backward.c); 0: a warp
   * a segment. The launch layer sets it from CONV_BWD_BLOCK_SPLIT. */
  int backward_split;
} oeq_conv_options_t;

typedef struct oeq_conv_source {
  char *text; /* free() it */
  int warp_size, warps_per_block;
  size_t compute_size; /* bytes of the compute type (slots in the workspace) */
  int forward_items;   /* forward warps per segment: launch n_seg * this */
  /* fix-up warps per segment, forward and backward (a warp per chunk of
   * OEQ_CONV_FIXUP_CHUNK row elements): launch n_seg * this */
  int fixup_items[2];
  int backward_items; /* backward warps per segment: launch n_seg * this */
  /* indexed by OEQ_CONV_K_*; the fix-ups (deterministic) and dw_reduce
   * (shared weights) only where the mode has them */
  oeq_kernel_table_t kernels;
} oeq_conv_source_t;

enum {
  OEQ_CONV_K_FORWARD,
  OEQ_CONV_K_BACKWARD,
  OEQ_CONV_K_FORWARD_FIXUP,
  OEQ_CONV_K_BACKWARD_FIXUP,
  OEQ_CONV_K_DW_REDUCE,
  OEQ_CONV_K_CHECK,
  OEQ_CONV_K_ADD_I, /* elementwise sums of the double backward (add_kernel.h) */
  OEQ_CONV_K_ADD_W,
  OEQ_CONV_K_COUNT
};

#define OEQ_CONV_FORWARD_KERNEL "oeq_conv_fwd"
#define OEQ_CONV_BACKWARD_KERNEL "oeq_conv_bwd"
#define OEQ_CONV_FORWARD_FIXUP_KERNEL "oeq_conv_fwd_fixup"
#define OEQ_CONV_BACKWARD_FIXUP_KERNEL "oeq_conv_bwd_fixup"
#define OEQ_CONV_DW_REDUCE_KERNEL "oeq_conv_dw_reduce"
#define OEQ_CONV_CHECK_KERNEL "oeq_conv_check"

/* Bits of the error word oeq_conv_check sets. */
#define OEQ_CONV_BAD_ROW 1u
#define OEQ_CONV_BAD_COL 2u
#define OEQ_CONV_UNSORTED_ROWS 4u
#define OEQ_CONV_BAD_PERM 8u

/* Kernel signatures (IT/WT/CT: irrep, weight, compute types; IX: index type;
 * all counts long long):
 *   fwd(x, y, w, rows, cols, IT *z, CT *slots, x_rows, z_rows, edges, seg_len, n_seg,
 *       int split)  (split: a warp per (segment, output block), else per segment)
 *   bwd(x, y, w, dz, rows, cols, perm, IT *dx, IT *dy, WT *dw, CT *dx_slots,
 *       CT *dw_slots, x_rows, z_rows, edges, seg_len, n_seg)
 *     (launched with n_seg * backward_items warps)
 *   fwd_fixup(rows, IT *z, const CT *slots, z_rows, edges, seg_len, n_seg)
 *   bwd_fixup(cols, perm, IT *dx, const CT *slots, x_rows, edges, seg_len, n_seg)
 *     (launched with n_seg * fixup_items[0 / 1] warps)
 *   dw_reduce(const CT *dw_slots, WT *dw, n_seg)
 *   check(rows, cols, perm, unsigned *word, x_rows, z_rows, edges)
 * perm is ignored (may be NULL) unless deterministic. */
oeq_status_t oeq_codegen_conv(const oeq_schedule_t *s, const oeq_codegen_target_t *target,
                              const oeq_conv_options_t *opt, oeq_conv_source_t *out,
                              oeq_error_t *err);

/* Row elements a fix-up warp adds: rows are cut into chunks so that a
 * wide row (mace-large's z: 9,088) is summed by several warps at once,
 * not by one warp's lanes 284 elements each in turn. */
#define OEQ_CONV_FIXUP_CHUNK 1024
static inline int oeq_conv_fixup_items(int64_t width) {
  return width > 0 ? (int)((width + OEQ_CONV_FIXUP_CHUNK - 1) / OEQ_CONV_FIXUP_CHUNK) : 1;
}

/* Edges (positions) per segment for a graph of `edges` edges: at least
 * `floor`, and at most OEQ_CONV_MAX_SEGMENTS segments, so the workspace
 * stays O(segments x row width). A pure function of the edge count. */
#define OEQ_CONV_MAX_SEGMENTS 4096
static inline int64_t oeq_conv_len_with_floor(int64_t edges, int64_t floor) {
  int64_t len = (edges + OEQ_CONV_MAX_SEGMENTS - 1) / OEQ_CONV_MAX_SEGMENTS;
  return len < floor ? floor : len;
}
/* Segments of `len` edges that cover `edges` edges (0 for none). */
static inline int64_t oeq_conv_segments_of(int64_t edges, int64_t len) { return (edges + len - 1) / len; }

/* The segment length of the deterministic kernels (and of the atomic
 * backward without interleaving), floor CONV_MIN_SEG_LEN (tuning.h), and
 * their segments: the count the workspace is sized for. */
static inline int64_t oeq_conv_segment_len(int64_t edges) {
  return oeq_conv_len_with_floor(edges, CONV_MIN_SEG_LEN);
}
static inline int64_t oeq_conv_segments(int64_t edges) {
  return oeq_conv_segments_of(edges, oeq_conv_segment_len(edges));
}

/* Edges a forward segment, and the forward's segments: in deterministic
 * mode oeq_conv_segment_len's; in atomic mode down to
 * CONV_FWD_ATOMIC_MIN_SEG edges on small graphs (tuning.h). */
static inline int64_t oeq_conv_forward_segment_len(int64_t edges, int deterministic) {
  return deterministic ? oeq_conv_segment_len(edges) : oeq_conv_len_with_floor(edges, CONV_FWD_ATOMIC_MIN_SEG);
}
static inline int64_t oeq_conv_forward_segments(int64_t edges, int deterministic) {
  return oeq_conv_segments_of(edges, oeq_conv_forward_segment_len(edges, deterministic));
}

/* Segments of the backward. Deterministic mode: the forward's (contiguous
 * runs of sender-order positions; their fix-up slots bound the workspace).
 * Atomic mode: segment s takes edges s, s + n, s + 2n, ... (interleaved),
 * so the warps resident at once walk neighbouring edges, which share their
 * receivers' dz rows in L2 (contiguous segments of 98 edges kept ~2,000
 * distinct 36 KB rows in use: bench/NOTES.md run AR); and as many segments
 * as edges up to OEQ_CONV_MAX_SEGMENTS, so a small graph gets a warp an
 * edge. With shared weights the count stays the forward's: each segment
 * has a dw slot (the workspace), summed in order by the dw reduction. */
static inline int64_t oeq_conv_backward_segments(int64_t edges, int deterministic, int shared) {
  if (edges <= 0) return 0;
  if (deterministic || shared || !CONV_BWD_INTERLEAVE) return oeq_conv_segments(edges);
  return edges < OEQ_CONV_MAX_SEGMENTS ? edges : OEQ_CONV_MAX_SEGMENTS;
}

#endif
