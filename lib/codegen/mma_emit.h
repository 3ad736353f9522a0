/* mma_emit.h: what the tensor-core kernels (tp_dw_mma.c, tp_fwd_mma.c)
 * share: the mma.sync primitives, row tiles staged with cp.async, and
 * t[r][q][k] = sum_ab C x y of a pair path written into shared memory.
 * Internal to lib/codegen; CUDA sm_80 and newer only. */
#ifndef OEQ_MMA_EMIT_H
#define OEQ_MMA_EMIT_H

#include <stdint.h>

#include "codegen/emit_util.h"

/* n rounded up to the next value that is `want` mod `period` (strides
 * that put the lanes of an mma fragment read in distinct banks). */
static inline int64_t mma_pad_to(int64_t n, int64_t want, int64_t period) {
  return n + ((want - n % period) + period) % period;
}

/* Row stride (elements) of a staged row tile: 8 mod 32, so that lanes
 * reading neighbouring rows land in distinct banks. */
static inline int64_t mma_padded_row(int64_t n) { return mma_pad_to(n, 8, 32); }


/* Once per translation unit, before the tensor-core kernels: oeq_tf32 /
 * oeq_split (a float32 as two TF32 parts) and oeq_mma (m16n8k8 TF32 with
 * float32 sums), or, for float64, oeq_mma (m8n8k4); the cp.async helpers
 * oeq_cp_async, oeq_cp_commit and oeq_cp_wait_previous; the staged row
 * strides OEQ_MMA_XDP, OEQ_MMA_YDP, OEQ_MMA_ZDP (mma_padded_row). */
void mma_emit_primitives(const emit_ctx_t *c, int is_double);

/* A device function `name`(oeq_it *st, x, y[, dz], long long r0, long
 * long batch) that copies rows r0 .. r0 + rows_macro of x, y (and dz when
 * with_dz) into st with cp.async: x with row stride OEQ_MMA_XDP, then y
 * (OEQ_MMA_YDP), then dz (OEQ_MMA_ZDP), the block's threads along each
 * contiguous span; rows past the batch zero-filled. */
void mma_emit_stage(const emit_ctx_t *c, const char *name, const char *rows_macro, int with_dz);

/* The start of a tensor-core kernel's body: oeq_smem, lane / warp, the
 * fragment coordinates fg (row group) and ft (thread in group), and
 * `stage`, the two row stages at the start of shared memory. */
void mma_emit_block_setup(const emit_ctx_t *c);

/* Open the loop over the block's row tiles (rows_macro rows each): the
 * next tile's stage is loaded with `stage_fn` (cp.async, x, y and, with
 * with_dz, dz; stage_macro elements a stage) while the current one is
 * used; `while_loading` (may be NULL) is emitted between issuing those
 * copies and waiting for the current tile's. Inside: it, r0, xs, ys (and
 * dzs). The caller closes the loop. */
void mma_emit_tile_loop(const emit_ctx_t *c, const char *stage_fn, const char *rows_macro,
                        const char *stage_macro, int with_dz, const char *while_loading);

/* Loop over (r, q) for the n pairs q_lo .. q_lo + n - 1 of path p: t of
 * row r (xs, ys: staged rows of strides xdp, ydp) into ts[ts_off + (k rows
 * + r) ldq + q - q_lo] for every k the path reaches (the others are left
 * alone). q_lo and ts_off are C expressions (constants, or values the
 * kernel reads from a table); n and ldq are constants. */
void mma_emit_pair_t(const emit_ctx_t *c, const oeq_path_t *p, const char *q_lo, int64_t n,
                     const char *ts_off, int64_t ldq, const char *rows_macro, int64_t xdp,
                     int64_t ydp);

#endif
