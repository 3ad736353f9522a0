/* conv_emit.h: what the conv emitters share (internal to lib/codegen). The
 * TP emitters' context (types, dialect, literals, prelude) is reused through
 * emit_util; the conv kernels add their options and shared-memory layout. */
#ifndef OEQ_CONV_EMIT_H
#define OEQ_CONV_EMIT_H

#include "codegen/conv_codegen.h"
#include "codegen/emit_util.h"

typedef struct conv_ctx {
  emit_ctx_t e; /* sb, schedule, types, dialect, warp size */
  oeq_conv_options_t opt;
  int warps_per_block;
  /* dz loads with an L2 evict-last policy (CUDA sm_80+, CONV_DZ_KEEP) */
  int keep_dz;
  /* backward: warps of a block that share a segment, splitting the channel
   * chunks (then warps_per_block); 0: a warp a segment */
  int bwd_split;
  /* backward, per warp, bytes: staged x and y rows, dx / dy accumulators,
   * dx compensation (Kahan), shared-weight dw accumulator */
  size_t b_xs, b_ys, b_dxs, b_dxc, b_dys, b_dws, b_per_warp;
  /* forward: the written output blocks in pass order (fwd_order), cut into
   * n_fwd_groups groups, group g = fwd_order[fwd_group_start[g] ..
   * fwd_group_start[g + 1]) (conv_forward_plan_groups; free() both) */
  int *fwd_order, *fwd_group_start, n_fwd_groups;
} conv_ctx_t;

/* Groups the forward's output blocks (sets c->fwd_*); before emitting. */
oeq_status_t conv_forward_plan_groups(conv_ctx_t *c, oeq_error_t *err);
void emit_conv_forward(const conv_ctx_t *c);
/* Forward work items per segment (one per group). */
int conv_forward_items(const conv_ctx_t *c);
void emit_conv_backward(const conv_ctx_t *c);
/* fix-ups, dw reduction, index check */
void emit_conv_helpers(const conv_ctx_t *c);

/* Shared weights: the backward sums dw per segment and dw_reduce adds the
 * segments up. */
static inline int conv_has_dw_reduce(const conv_ctx_t *c) {
  return c->e.s->shared_weights && c->e.s->weight_numel > 0;
}

/* "acc += v" or its compensated form, as one statement. */
void conv_emit_add(const conv_ctx_t *c, const char *acc, const char *comp, const char *v);

#endif
