/* pair_mma.h: the plan the tensor-core forward and backward share
 * (tp_fwd_mma.c, tp_bwd_mma.c): problems whose paths are all weighted
 * uvw / uuw with shared weights. Per path, a t (or, in the backward, g)
 * block of OEQ_FWD_ROWS x (2l+1) rows by its pairs, and its W in shared
 * memory, pairs by outputs. Internal to lib/codegen. */
#ifndef OEQ_PAIR_MMA_H
#define OEQ_PAIR_MMA_H

#include <stddef.h>
#include <stdint.h>

#include "codegen/emit_util.h"

#define FWD_WARPS 8
#define FWD_ROWS 16

typedef struct fwd_path {
  int64_t pairs_pad; /* pairs rounded up to the K step (8) */
  int64_t ldq;       /* t / g block stride (pairs, padded: 4 mod 8) */
  int64_t ts_off;
  int64_t ldw;       /* W block stride (outputs, padded: 8 or 24 mod 32) */
  int64_t ws_off;
} fwd_path_t;

struct fwd_mma_plan {
  int is_double;
  int tm; /* tile rows: 16 float32, 8 float64 */
  fwd_path_t *paths;
  int64_t xdp, ydp, zdp;
  int64_t ts_elems, ws_elems;
  /* forward: stages of x, y; t; W; z rows (in the tile's own stage, once
   * its x and y are used, where they fit there: zs_at 0) */
  size_t stage_bytes, ts_at, ws_at, zs_at, shared_bytes;
  /* backward (0 where it does not fit): stages of x, y, dz; g; W; dx, dy rows */
  size_t bwd_stage_bytes, bwd_ts_at, bwd_ws_at, bwd_dxs_at, bwd_shared_bytes;
};

/* W of every path into shared memory (ws), zero-padded. */
void pair_mma_emit_weights(const emit_ctx_t *c);

#endif
