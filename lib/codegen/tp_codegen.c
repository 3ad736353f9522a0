/* tp_codegen.c: sizes the kernels' shared memory, picks the types and
 * writes the translation unit (prelude, forward, backward). */
#include "codegen/tp_codegen.h"

#include <stdlib.h>

#include "codegen/add_kernel.h"
#include "codegen/emit_util.h"
#include "codegen/mma_emit.h"
#include "problem.h"
#include "codegen/tuning.h"

/* Largest 2l+1 the emitters' fixed index tables hold. */
#define MAX_D 63

static size_t round16(size_t n) { return (n + 15) & ~(size_t)15; }

/* A shared-weight dw accumulator per block pays off only while it leaves
 * room for several warps; past this, global atomics per row instead. */
#define DW_BLOCK_MAX_BYTES (48 * 1024)

/* A window is trimmed rather than let it cost forward blocks per SM
 * (nequip benzene: 10 KB more a block took 6 blocks to 4 and the forward
 * from 2.36 to 2.68 ms); trimmed below this it is dropped, since a window
 * of one output block's weights saves no wait. */
#define FWD_STAGE_W_MIN_BYTES 1024

/* The backward's register budget, as __launch_bounds__(threads, blocks):
 * as many blocks per SM as shared memory allows, but at most
 * BWD_MIN_BLOCKS_F32 (tuning.h) in float32 and 2 in float64 (its rows
 * need the registers), and at least 2 (steers ptxas away from small
 * spills). Per-SM shared memory is the per-block opt-in limit plus the
 * 1 KB the driver reserves per block. */
#define BLOCK_RESERVED_SHARED 1024
/* Per-SM limits of every CUDA arch from sm_80 on. */
#define MAX_BLOCKS_PER_SM 32
#define MAX_THREADS_PER_SM 2048

/* Blocks of block_bytes of shared memory one SM holds. */
static size_t blocks_per_sm(size_t block_bytes, size_t room) {
  return (room + BLOCK_RESERVED_SHARED) / (block_bytes + BLOCK_RESERVED_SHARED);
}

/* Warps of the backward one SM holds with wpb-warp blocks, as far as
 * shared memory and the block (32) and thread (2,048) limits go (a warp's
 * private shared-weight dw copy included). */
static size_t backward_warps_per_sm(const emit_ctx_t *c, int wpb, size_t room) {
  const size_t per_warp = c->bwd_per_warp + (c->bwd_dw_private ? c->bwd_dw_copy : 0);
  size_t blocks = blocks_per_sm((size_t)wpb * per_warp, room);
  if (blocks > MAX_BLOCKS_PER_SM) blocks = MAX_BLOCKS_PER_SM;
  const size_t most_warps = MAX_THREADS_PER_SM / (size_t)c->warp_size;
  return blocks * (size_t)wpb > most_warps ? most_warps : blocks * (size_t)wpb;
}

/* The block size (at most wpb warps, which fit) that packs the most
 * backward warps into an SM (the larger on a tie), taken when that is at
 * least a quarter more warps: wide rows make shared memory the bound, and a
 * 4-warp block can leave much of it idle (benzene in float64, 35 KB a warp:
 * one 4-warp block = 4 warps per SM, 3-warp blocks 6; e3tools_transformer's
 * 25.6 KB private dw copies: 4 -> 7 warps per SM with 1-warp blocks, fwd+bwd
 * 1.10 -> 0.90 ms on an H100, bench/NOTES.md run M, though each block adds
 * its dw to global memory once). Small gains are not worth it, as
 * registers, not shared memory, bound most kernels. A block-wide shared dw
 * copy keeps its block size (more warps share it); HIP is unmeasured. */
static int densest_backward_block(const emit_ctx_t *c, int wpb, size_t room) {
  if (c->dialect != OEQ_DIALECT_CUDA || (c->s->shared_weights && !c->bwd_dw_private)) return wpb;
  int best = wpb;
  for (int k = wpb - 1; k >= 1; k--)
    if (backward_warps_per_sm(c, k, room) > backward_warps_per_sm(c, best, room)) best = k;
  return 4 * backward_warps_per_sm(c, best, room) >= 5 * backward_warps_per_sm(c, wpb, room) ? best : wpb;
}

static int backward_min_blocks(const emit_ctx_t *c, size_t block_bytes, size_t room) {
  const int most = c->ct_is_double ? 2 : BWD_MIN_BLOCKS_F32;
  const size_t fit = blocks_per_sm(block_bytes, room);
  return fit < 2 ? 2 : fit > (size_t)most ? most : (int)fit;
}

/* Shrink the forward's weight window (16 bytes at a time) until shared
 * memory allows as many forward blocks per SM as without it, or as the
 * window kernel's register bound allows anyway; drop it below
 * FWD_STAGE_W_MIN_BYTES (or below the whole row, for smaller rows). */
static void fit_weight_window(emit_ctx_t *c, size_t room) {
  if (!c->fwd_ws) return;
  const size_t wpb = (size_t)c->warps_per_block, rest = c->fwd_per_warp - c->fwd_ws;
  /* the untrimmed window is the whole (rounded) row when that is smaller */
  const size_t least = c->fwd_ws < FWD_STAGE_W_MIN_BYTES ? c->fwd_ws : FWD_STAGE_W_MIN_BYTES;
  size_t want = blocks_per_sm(wpb * rest, room);
  const int reg_blocks = fwd_window_min_blocks(c->warps_per_block * c->warp_size);
  if (reg_blocks > 0 && want > (size_t)reg_blocks) want = (size_t)reg_blocks;
  size_t ws = c->fwd_ws;
  while (ws >= least && blocks_per_sm(wpb * (rest + ws), room) < want) ws -= 16;
  if (ws < least) ws = 0;
  c->fwd_ws = ws;
  c->fwd_per_warp = rest + ws;
}

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
    if (is_pair_mode(p->mode) && p->d3 > c->max_pair_d3)
      c->max_pair_d3 = p->d3;
  }
  const size_t ws = (size_t)c->warp_size;
  c->fwd_xs = round16((size_t)s->x_dim * isz);
  c->fwd_ys = round16((size_t)s->y_dim * isz);
  c->fwd_scratch = round16(ws * (size_t)c->max_out_d * csz);
  c->fwd_pairs = round16(ws * (size_t)c->max_pair_d3 * csz);
  const size_t w_row = (size_t)s->weight_numel * oeq_dtype_size(s->weight_dtype);
  const int stage_w = !s->shared_weights && w_row > 0 && s->z_dim > s->x_dim;
  c->fwd_ws = stage_w ? round16(w_row < FWD_STAGE_W_MAX_BYTES ? w_row : FWD_STAGE_W_MAX_BYTES) : 0;
  c->fwd_per_warp = c->fwd_xs + c->fwd_ys + c->fwd_scratch + c->fwd_pairs + c->fwd_ws;
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
  int forms_dw = 0; /* the backward kernel forms some of dw itself */
  for (int i = 0; i < s->n_paths; i++) forms_dw |= backward_forms_dw(c, &s->paths[i]);
  if (s->shared_weights && forms_dw) {
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
  /* the tensor-core dw kernel decides whether the backward forms dw */
  dw_mma_plan_t *dw_plan = OEQ_TENSOR_CORES ? dw_mma_plan(s, target, c.ct_is_double) : NULL;
  c.dw_mma = dw_plan;
  fwd_mma_plan_t *fwd_plan = OEQ_TENSOR_CORES ? fwd_mma_plan(s, target, c.ct_is_double) : NULL;
  c.fwd_mma = fwd_plan;
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
  wpb = densest_backward_block(&c, wpb, room);
  if (c.bwd_dw_private) c.bwd_dw_block = (size_t)wpb * c.bwd_dw_copy;
  if (widest > room) {
    dw_mma_plan_free(dw_plan);
    fwd_mma_plan_free(fwd_plan);
    oeq_sb_free(&sb);
    return oeq_fail(err, OEQ_ERROR_UNSUPPORTED,
                    "a row needs %zu bytes of shared memory, the device allows %zu per block "
                    "(rows too wide for this GPU code generator)",
                    widest, room);
  }
  c.warps_per_block = wpb;
  fit_weight_window(&c, room);
  c.bwd_min_blocks = backward_min_blocks(&c, c.bwd_dw_block + (size_t)wpb * c.bwd_per_warp, room);

  emit_prelude(&c);
  if (dw_plan || fwd_plan) mma_emit_primitives(&c, c.ct_is_double);
  if (fwd_plan)
    emit_tp_forward_mma(&c);
  else
    emit_tp_forward(&c);
  emit_add_kernels(&c, 1);
  /* dx, dy on tensor cores where the forward is, and the dw kernel forms dw */
  const int bwd_mma = OEQ_BWD_MMA && fwd_plan && dw_plan && fwd_mma_backward_fits(fwd_plan);
  if (bwd_mma)
    emit_tp_backward_mma(&c);
  else
    emit_tp_backward(&c);
  if (dw_plan) emit_tp_dw_mma(&c);
  char *text = oeq_sb_take(&sb);
  if (!text) {
    dw_mma_plan_free(dw_plan);
    fwd_mma_plan_free(fwd_plan);
    return oeq_fail(err, OEQ_ERROR_OUT_OF_MEMORY, "out of memory generating kernel source");
  }
  *out = (oeq_tp_source_t){
      .text = text,
      .warp_size = c.warp_size,
      .warps_per_block = wpb,
      .backward_zeroes_dw = s->shared_weights && s->weight_numel > 0,
      .kernels = {.n_parts = 2, .count = OEQ_TP_K_COUNT},
  };
  oeq_kernel_desc_t *k = out->kernels.kernel;
  k[OEQ_TP_K_FORWARD] = (oeq_kernel_desc_t){
      .name = OEQ_TP_FORWARD_KERNEL,
      .part = 1,
      .threads = fwd_plan ? fwd_mma_threads() : wpb * c.warp_size,
      .rows_per_block = fwd_plan ? fwd_mma_rows() : wpb,
      .shared_bytes = fwd_plan ? fwd_mma_shared_bytes(fwd_plan) : (size_t)wpb * c.fwd_per_warp,
      .grid_y = 1};
  k[OEQ_TP_K_BACKWARD] = (oeq_kernel_desc_t){
      .name = OEQ_TP_BACKWARD_KERNEL,
      .part = 2,
      .threads = bwd_mma ? fwd_mma_threads() : wpb * c.warp_size,
      .rows_per_block = bwd_mma ? fwd_mma_rows() : wpb,
      .shared_bytes = bwd_mma ? fwd_mma_backward_shared_bytes(fwd_plan)
                              : c.bwd_dw_block + (size_t)wpb * c.bwd_per_warp,
      .grid_y = 1};
  k[OEQ_TP_K_ADD_I] = oeq_add_kernel_desc(OEQ_ADD_I_KERNEL, 1);
  k[OEQ_TP_K_ADD_W] = oeq_add_kernel_desc(OEQ_ADD_W_KERNEL, 1);
  if (dw_plan)
    k[OEQ_TP_K_DW] = (oeq_kernel_desc_t){.name = OEQ_TP_DW_KERNEL,
                                         .part = 2,
                                         .threads = dw_mma_threads(),
                                         .rows_per_block = dw_mma_rows(dw_plan),
                                         .shared_bytes = dw_mma_shared_bytes(dw_plan),
                                         .grid_y = dw_mma_groups(dw_plan)};
  dw_mma_plan_free(dw_plan);
  fwd_mma_plan_free(fwd_plan);
  return OEQ_SUCCESS;
}
