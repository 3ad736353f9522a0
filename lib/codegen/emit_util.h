/* emit_util.h: what the TP emitters share: the generation context (types,
 * dialect, shared-memory layout), number literals, index expressions in
 * either row layout, and the kernel prelude. Internal to lib/codegen. */
#ifndef OEQ_EMIT_UTIL_H
#define OEQ_EMIT_UTIL_H

#include <stddef.h>

#include "codegen/strbuf.h"
#include "codegen/tp_codegen.h"
#include "codegen/tuning.h"

/* The plans of the tensor-core kernels (tp_dw_mma.c, tp_fwd_mma.c). */
typedef struct dw_mma_plan dw_mma_plan_t;
typedef struct fwd_mma_plan fwd_mma_plan_t;

typedef struct emit_ctx {
  oeq_strbuf_t *sb;
  const oeq_schedule_t *s;
  oeq_dialect_t dialect;
  int warp_size, warps_per_block;
  const char *it, *wt, *ct; /* irrep, weight and compute type names */
  int ct_is_double;
  /* "#pragma unroll 1\n  " where unrolling the multiplicity chunks would
   * make the kernel too big to compile in reasonable time, else "". */
  const char *loop_pragma;
  int max_out_d;            /* largest 2l+1 of an output block */
  int max_pair_d3;          /* largest 2l+1 out of a uvw/uuw path (0 if none) */
  /* per-warp shared-memory carve-up, bytes */
  size_t fwd_xs, fwd_ys, fwd_scratch, fwd_pairs, fwd_per_warp;
  size_t fwd_ws; /* staged per-row weights (0: read from global memory) */
  size_t bwd_xs, bwd_ys, bwd_dxs, bwd_dys, bwd_scratch, bwd_per_warp;
  size_t bwd_dw_block; /* shared-weight dw accumulator at the block's start (0: none) */
  /* 1: bwd_dw_block holds one private dw copy per warp (plain adds, no
   * atomics; summed over the warps at the end); 0: one copy per block. */
  int bwd_dw_private;
  size_t bwd_dw_copy; /* bytes of one copy */
  /* pair modes: dz row, t[q][k] of a pair chunk, a 32 x 33 weight tile */
  size_t bwd_dzs, bwd_pt, bwd_wst;
  /* the backward's __launch_bounds__ minimum blocks per SM (CUDA) */
  int bwd_min_blocks;
  /* non-NULL: the shared-weight dw of every weighted pair path comes from
   * the tensor-core kernel, and the backward leaves it out */
  const dw_mma_plan_t *dw_mma;
  /* non-NULL: the forward kernel is the tensor-core one (tp_fwd_mma.c) */
  const fwd_mma_plan_t *fwd_mma;
} emit_ctx_t;

/* uvw and uuw: the modes that sum over pairs of inputs per output. */
static inline int is_pair_mode(oeq_mode_t m) { return m == OEQ_MODE_UVW || m == OEQ_MODE_UUW; }

/* Pairs of a pair path: mul1 mul2 (uvw) or mul1 (uuw). */
static inline int64_t pair_count(const oeq_path_t *p) {
  return p->mode == OEQ_MODE_UVW ? p->mul1 * p->mul2 : p->mul1;
}

/* Whether path p writes output block b. */
static inline int path_in_block(const oeq_path_t *p, const oeq_block_t *b) {
  return p->z_offset == b->offset && p->mul3 == b->mul && p->d3 == b->d;
}

static inline int fwd_window_min_blocks(int threads) {
  return threads <= 256 ? 65536 / (OEQ_FWD_WINDOW_REGS * threads) : 0;
}

/* Around each kernel: a source compiled with OEQ_PART defined keeps the
 * kernels of that part only (1: the forward, 2: the backward ones, dw
 * included), so that the two parts compile at once (cuda.c); the device
 * functions and tables before them stay in both. */
static inline void emit_part_begin(const emit_ctx_t *c, int part) {
  oeq_sb_printf(c->sb, "#if !defined(OEQ_PART) || OEQ_PART == %d\n", part);
}
static inline void emit_part_end(const emit_ctx_t *c) { oeq_sb_puts(c->sb, "#endif\n"); }

/* A CG coefficient (or any constant) as an exact hex literal of the compute type. */
const char *emit_literal(const emit_ctx_t *c, double v, char buf[64]);

/* Index expression of element (u, a) of a block in the row layout:
 * u is a C expression (a variable or constant). */
const char *emit_block_index(oeq_layout_t layout, int64_t off, int64_t mul, int d, const char *u,
                             int a, char buf[128]);

/* Which a (and b) indices a path's nonzeros use. */
void emit_used_indices(const oeq_path_t *p, int used_a[], int used_b[], int used_c[]);

/* Dialect prelude: warp size, syncwarp and shuffle spellings, row copies. */
void emit_prelude(const emit_ctx_t *c);

/* The kernel bodies (tp_forward.c / tp_backward.c). */
void emit_tp_forward(const emit_ctx_t *c);
void emit_tp_backward(const emit_ctx_t *c);

/* Whether the backward kernel itself forms path p's dw. */
static inline int backward_forms_dw(const emit_ctx_t *c, const oeq_path_t *p) {
  return p->has_weight && !(c->dw_mma && is_pair_mode(p->mode));
}

/* tp_dw_mma.c: NULL where the kernel does not apply (not CUDA sm_80+, no
 * shared weights, no weighted pair path, too large) or memory ran out. */
dw_mma_plan_t *dw_mma_plan(const oeq_schedule_t *s, const oeq_codegen_target_t *target,
                           int is_double);
void dw_mma_plan_free(dw_mma_plan_t *pl);
size_t dw_mma_shared_bytes(const dw_mma_plan_t *pl);
int dw_mma_groups(const dw_mma_plan_t *pl);
int dw_mma_threads(void);
int dw_mma_rows(const dw_mma_plan_t *pl);
void emit_tp_dw_mma(const emit_ctx_t *c);

/* tp_fwd_mma.c: NULL where the tensor-core forward does not apply (not
 * CUDA sm_80+, not shared weights, a path not a weighted uvw/uuw one, too
 * few weights a row, too large) or memory ran out. */
fwd_mma_plan_t *fwd_mma_plan(const oeq_schedule_t *s, const oeq_codegen_target_t *target,
                             int is_double);
void fwd_mma_plan_free(fwd_mma_plan_t *pl);
size_t fwd_mma_shared_bytes(const fwd_mma_plan_t *pl);
int fwd_mma_threads(void);
int fwd_mma_rows(void);
void emit_tp_forward_mma(const emit_ctx_t *c);
/* tp_bwd_mma.c: the backward kernel (dx, dy) for the same problems, where
 * fwd_mma_backward_fits(); dw then comes from the dw kernel. */
int fwd_mma_backward_fits(const fwd_mma_plan_t *pl);
size_t fwd_mma_backward_shared_bytes(const fwd_mma_plan_t *pl);
void emit_tp_backward_mma(const emit_ctx_t *c);

#endif
