/* tp_codegen.c: sizes the kernels' shared memory, picks the types and
 * writes the translation unit (prelude, forward, backward). */
#include "codegen/tp_codegen.h"

#include <stdlib.h>

#include "codegen/emit_util.h"
#include "problem.h"

/* Largest 2l+1 the emitters' fixed index tables hold. */
#define MAX_D 63

static size_t round16(size_t n) { return (n + 15) & ~(size_t)15; }

/* A shared-weight dw accumulator per block pays off only while it leaves
 * room for several warps; past this, global atomics per row instead. */
#define DW_BLOCK_MAX_BYTES (48 * 1024)
/* Up to this size each warp keeps its own dw copy, so that the per-row
 * updates are plain shared-memory adds (no atomics: every weight of a copy
 * is only ever touched by one lane); the copies are summed once at the end. */
#define DW_WARP_MAX_BYTES (32 * 1024)

static void size_shared_memory(emit_ctx_t *c) {
  const oeq_schedule_t *s = c->s;
  const size_t isz = oeq_dtype_size(s->irrep_dtype);
  const size_t csz = c->ct_is_double ? 8 : 4;
  c->max_out_d = 1;
  c->max_pair_d3 = 0;
  for (int i = 0; i < s->n_out_blocks; i++)
    if (s->out_blocks[i].d > c->max_out_d) c->max_out_d = s->out_blocks[i].d;
  for (int i = 0; i < s->n_paths; i++) {
    const oeq_path_t *p = &s->paths[i];
    if ((p->mode == OEQ_MODE_UVW || p->mode == OEQ_MODE_UUW) && p->d3 > c->max_pair_d3)
      c->max_pair_d3 = p->d3;
  }
  const size_t ws = (size_t)c->warp_size;
  c->fwd_xs = round16((size_t)s->x_dim * isz);
  c->fwd_ys = round16((size_t)s->y_dim * isz);
  c->fwd_scratch = round16(ws * (size_t)c->max_out_d * csz);
  c->fwd_pairs = round16(ws * (size_t)c->max_pair_d3 * csz);
  c->fwd_per_warp = c->fwd_xs + c->fwd_ys + c->fwd_scratch + c->fwd_pairs;
  c->bwd_xs = c->fwd_xs;
  c->bwd_ys = c->fwd_ys;
  c->bwd_dxs = round16((size_t)s->x_dim * csz);
  c->bwd_dys = round16((size_t)s->y_dim * csz);
  c->bwd_scratch = round16(ws * (size_t)c->max_out_d * csz);
  c->bwd_dzs = c->max_pair_d3 ? round16((size_t)s->z_dim * isz) : 0;
  c->bwd_pt = c->max_pair_d3 ? round16(ws * (size_t)c->max_pair_d3 * csz) : 0;
  c->bwd_wst = c->max_pair_d3 ? round16(ws * (ws + 1) * csz) : 0;
  c->bwd_per_warp = c->bwd_xs + c->bwd_ys + c->bwd_dxs + c->bwd_dys + c->bwd_scratch + c->bwd_dzs +
                    c->bwd_pt + c->bwd_wst;
  c->bwd_dw_block = 0;
  c->bwd_dw_private = 0;
  c->bwd_dw_copy = 0;
  if (s->shared_weights && s->weight_numel > 0) {
    size_t dw_bytes = round16((size_t)s->weight_numel * csz);
    c->bwd_dw_copy = dw_bytes;
    if (dw_bytes <= DW_WARP_MAX_BYTES) c->bwd_dw_private = 1;
    else if (dw_bytes <= DW_BLOCK_MAX_BYTES) c->bwd_dw_block = dw_bytes;
  }
}

/* What every GPU emitter (TP and convolution) can generate. */
oeq_status_t oeq_codegen_check_supported(const oeq_schedule_t *s, oeq_error_t *err) {
  for (int i = 0; i < s->n_paths; i++) {
    const oeq_path_t *p = &s->paths[i];
    if (p->d1 > MAX_D || p->d2 > MAX_D || p->d3 > MAX_D)
      return oeq_fail(err, OEQ_ERROR_UNSUPPORTED,
                      "instruction %d: l up to %d is supported by the GPU code generator",
                      p->instruction, (MAX_D - 1) / 2);
    if (p->mul1 > 0x7fffffff / 64 || p->mul2 > 0x7fffffff / 64 || p->mul3 > 0x7fffffff / 64)
      return oeq_fail(err, OEQ_ERROR_UNSUPPORTED, "instruction %d: multiplicity too large",
                      p->instruction);
  }
  return OEQ_SUCCESS;
}

oeq_status_t oeq_codegen_tp(const oeq_schedule_t *s, const oeq_codegen_target_t *target,
                            oeq_tp_source_t *out, oeq_error_t *err) {
  oeq_status_t st = oeq_codegen_check_supported(s, err);
  if (st != OEQ_SUCCESS) return st;
  emit_ctx_t c = {0};
  oeq_strbuf_t sb;
  oeq_sb_init(&sb);
  c.sb = &sb;
  c.s = s;
  c.dialect = target->dialect;
  c.warp_size = target->dialect == OEQ_DIALECT_HIP ? 64 : 32;
  c.it = s->irrep_dtype == OEQ_FLOAT64 ? "double" : "float";
  c.wt = s->weight_dtype == OEQ_FLOAT64 ? "double" : "float";
  /* Compute in the wider of the two types, so neither input loses bits. */
  c.ct_is_double = s->irrep_dtype == OEQ_FLOAT64 || s->weight_dtype == OEQ_FLOAT64;
  c.ct = c.ct_is_double ? "double" : "float";
  size_shared_memory(&c);
  /* Many paths: keep each chunk loop rolled (NVVM time grows fast with
   * straight-line code); few paths: let the compiler unroll for ILP. */
  c.loop_pragma = s->n_paths > 24 ? "#pragma unroll 1\n  " : "";

  size_t widest = c.fwd_per_warp > c.bwd_per_warp ? c.fwd_per_warp : c.bwd_per_warp;
  size_t room = target->max_shared_per_block;
  if (c.bwd_dw_private && c.bwd_dw_copy + c.bwd_per_warp > room) {
    /* not even one warp with a private copy: one copy per block, atomics */
    c.bwd_dw_private = 0;
    if (c.bwd_dw_copy <= DW_BLOCK_MAX_BYTES) c.bwd_dw_block = c.bwd_dw_copy;
  }
  if (c.bwd_dw_block && c.bwd_dw_block + c.bwd_per_warp > room) c.bwd_dw_block = 0;
  int wpb = target->warps_per_block > 0 ? target->warps_per_block : 4;
  for (;;) {
    if (c.bwd_dw_private) c.bwd_dw_block = (size_t)wpb * c.bwd_dw_copy;
    if (wpb == 1 || ((size_t)wpb * widest <= room && c.bwd_dw_block + (size_t)wpb * c.bwd_per_warp <= room))
      break;
    wpb--;
  }
  if (widest > room)
    return oeq_fail(err, OEQ_ERROR_UNSUPPORTED,
                    "a row needs %zu bytes of shared memory, the device allows %zu per block "
                    "(rows too wide for this GPU code generator)",
                    widest, room);
  c.warps_per_block = wpb;

  emit_prelude(&c);
  if (getenv("OEQ_TEST_BREAK_SOURCE"))
    oeq_sb_puts(&sb, "this_is_a_deliberate_error_for_oeq_tests;\n");
  emit_tp_forward(&c);
  emit_tp_backward(&c);
  char *text = oeq_sb_take(&sb);
  if (!text) return oeq_fail(err, OEQ_ERROR_OUT_OF_MEMORY, "out of memory generating kernel source");
  *out = (oeq_tp_source_t){
      .text = text,
      .warp_size = c.warp_size,
      .warps_per_block = wpb,
      .forward_shared_bytes = (size_t)wpb * c.fwd_per_warp,
      .backward_shared_bytes = c.bwd_dw_block + (size_t)wpb * c.bwd_per_warp,
      .backward_zeroes_dw = s->shared_weights && s->weight_numel > 0,
  };
  return OEQ_SUCCESS;
}
