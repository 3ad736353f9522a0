/* conv_codegen.c: sizes the conv kernels' shared memory, picks the types
 * and writes the translation unit (prelude, forward, backward, helpers). */
#include "codegen/conv_codegen.h"

#include <stdlib.h>

#include "codegen/add_kernel.h"
#include "codegen/conv_emit.h"
#include "problem.h"


static size_t round16(size_t n) { return (n + 15) & ~(size_t)15; }

static const char conv_prelude[] =
    "// fused graph convolution\n"
    "/* Kahan: s + v with the running compensation c (no fast math, so the\n"
    " * compiler keeps the order of these operations). */\n"
    "__device__ __forceinline__ void oeq_kadd(oeq_ct &s, oeq_ct &c, oeq_ct v) {\n"
    "  const oeq_ct yv = v - c; const oeq_ct t = s + yv; c = (t - s) - yv; s = t;\n"
    "}\n"
    "/* Sender of sender-order position i; -1 for a position whose edge\n"
    " * index is out of range. */\n"
    "__device__ __forceinline__ long long oeq_sender_at(const oeq_ix *cols, const oeq_ix *perm,\n"
    "                                                   long long i, long long edges) {\n"
    "  const long long p = (long long)perm[i];\n"
    "  return p >= 0 && p < edges ? (long long)cols[p] : -1;\n"
    "}\n";

/* Cache hints. OEQ_LD_STREAM / OEQ_ST_STREAM: data touched once (per-edge
 * w and dw), evict-first so that it leaves L2 to the rows that are reused.
 * oeq_ld_keep: a load under an L2 evict-last policy (dz rows, read again
 * by the next edges of the same receiver). */
static void emit_cache_hints(const conv_ctx_t *c) {
  oeq_strbuf_t *sb = c->e.sb;
  const int stream = CONV_STREAM_HINTS && !c->e.s->shared_weights;
  if (!stream)
    oeq_sb_puts(sb, "#define OEQ_LD_STREAM(p) (*(p))\n#define OEQ_ST_STREAM(p, v) (*(p) = (v))\n");
  else if (c->e.dialect == OEQ_DIALECT_HIP)
    oeq_sb_puts(sb, "#define OEQ_LD_STREAM(p) __builtin_nontemporal_load(p)\n"
                    "#define OEQ_ST_STREAM(p, v) __builtin_nontemporal_store((v), (p))\n");
  else
    oeq_sb_puts(sb, "#define OEQ_LD_STREAM(p) __ldcs(p)\n#define OEQ_ST_STREAM(p, v) __stcs((p), (v))\n");
  if (!c->keep_dz) {
    oeq_sb_puts(sb, "#define OEQ_LD_DZ(p) (*(p))\n");
    return;
  }
  /* oeq_keep: the policy, made once per backward thread */
  oeq_sb_puts(sb, "#define OEQ_LD_DZ(p) oeq_ld_keep((p), oeq_keep)\n");
  /* the plain loads under #ifndef __CUDA_ARCH__: a host build of the
   * source (tests/test_conv_host.sh) has no PTX */
  oeq_sb_puts(sb,
              "__device__ __forceinline__ oeq_u64 oeq_keep_policy() {\n"
              "  oeq_u64 p = 0;\n"
              "#ifdef __CUDA_ARCH__\n"
              "  asm(\"createpolicy.fractional.L2::evict_last.b64 %0, 1.0;\" : \"=l\"(p));\n"
              "#endif\n"
              "  return p;\n"
              "}\n"
              "__device__ __forceinline__ float oeq_ld_keep(const float *a, oeq_u64 p) {\n"
              "#ifdef __CUDA_ARCH__\n"
              "  float v; asm(\"ld.global.L2::cache_hint.f32 %0, [%1], %2;\" : \"=f\"(v) : \"l\"(a), \"l\"(p));\n"
              "  return v;\n"
              "#else\n"
              "  (void)p; return *a;\n"
              "#endif\n"
              "}\n"
              "__device__ __forceinline__ double oeq_ld_keep(const double *a, oeq_u64 p) {\n"
              "#ifdef __CUDA_ARCH__\n"
              "  double v; asm(\"ld.global.L2::cache_hint.f64 %0, [%1], %2;\" : \"=d\"(v) : \"l\"(a), \"l\"(p));\n"
              "  return v;\n"
              "#else\n"
              "  (void)p; return *a;\n"
              "#endif\n"
              "}\n");
}

/* Warps that can split the backward's channel chunks (see
 * conv_backward.c): every path uvu with one y channel and the same number
 * of chunks, a multiple of the warps; per-edge weights (a shared-weight dw
 * sum is per warp). At most `cap`; 0 where it does not apply. */
static int backward_split(const conv_ctx_t *c, int cap) {
  const oeq_schedule_t *s = c->e.s;
  if (!c->opt.backward_split || s->shared_weights || s->n_paths == 0) return 0;
  const int64_t chunks = (s->paths[0].mul1 + c->e.warp_size - 1) / c->e.warp_size;
  for (int i = 0; i < s->n_paths; i++) {
    const oeq_path_t *p = &s->paths[i];
    if (p->mode != OEQ_MODE_UVU || p->mul2 != 1 || (p->mul1 + c->e.warp_size - 1) / c->e.warp_size != chunks)
      return 0;
  }
  for (int w = cap; w >= 2; w--)
    if (chunks % w == 0) return w;
  return 0;
}

static void size_backward(conv_ctx_t *c) {
  const oeq_schedule_t *s = c->e.s;
  const size_t isz = oeq_dtype_size(s->irrep_dtype), csz = c->e.ct_is_double ? 8 : 4;
  c->b_xs = round16((size_t)s->x_dim * isz);
  c->b_ys = round16((size_t)s->y_dim * isz);
  c->b_dxs = round16((size_t)s->x_dim * csz);
  c->b_dxc = c->opt.kahan ? c->b_dxs : 0;
  c->b_dys = round16((size_t)s->y_dim * csz);
  c->b_dws = s->shared_weights ? round16((size_t)s->weight_numel * csz) : 0;
  c->b_per_warp = c->b_xs + c->b_ys + c->b_dxs + c->b_dxc + c->b_dys + c->b_dws;
}

oeq_status_t oeq_codegen_conv(const oeq_schedule_t *s, const oeq_codegen_target_t *target,
                              const oeq_conv_options_t *opt, oeq_conv_source_t *out,
                              oeq_error_t *err) {
  oeq_status_t st = oeq_codegen_check_supported(s, err);
  if (st != OEQ_SUCCESS) return st;
  conv_ctx_t c = {0};
  oeq_strbuf_t sb;
  oeq_sb_init(&sb);
  c.e.sb = &sb;
  c.e.s = s;
  c.e.dialect = target->dialect;
  c.e.warp_size = target->dialect == OEQ_DIALECT_HIP ? 64 : 32;
  c.e.it = s->irrep_dtype == OEQ_FLOAT64 ? "double" : "float";
  c.e.wt = s->weight_dtype == OEQ_FLOAT64 ? "double" : "float";
  c.e.ct_is_double = s->irrep_dtype == OEQ_FLOAT64 || s->weight_dtype == OEQ_FLOAT64;
  c.e.ct = c.e.ct_is_double ? "double" : "float";
  c.e.loop_pragma = s->n_paths > 24 ? "#pragma unroll 1\n  " : "";
  c.opt = *opt;
  c.keep_dz = CONV_DZ_KEEP && target->dialect == OEQ_DIALECT_CUDA && target->sm >= 80;
  /* Compensation only pays where rounding is coarse (float compute). */
  if (c.e.ct_is_double) c.opt.kahan = 0;
  size_backward(&c);
  int wpb = target->warps_per_block > 0 ? target->warps_per_block : 4;
  while (wpb > 1 && (size_t)wpb * c.b_per_warp > target->max_shared_per_block) wpb--;
  if (c.b_per_warp > target->max_shared_per_block)
    return oeq_fail(err, OEQ_ERROR_UNSUPPORTED,
                    "the conv backward needs %zu bytes of shared memory per warp, the device allows "
                    "%zu per block (rows too wide for this GPU code generator)",
                    c.b_per_warp, target->max_shared_per_block);
  c.bwd_split = backward_split(&c, wpb);
  if (c.bwd_split) wpb = c.bwd_split;
  c.warps_per_block = wpb;
  c.e.warps_per_block = wpb;
  st = conv_forward_plan_groups(&c, err);
  if (st != OEQ_SUCCESS) {
    free(c.fwd_order);
    free(c.fwd_group_start);
    oeq_sb_free(&sb);
    return st;
  }

  emit_prelude(&c.e);
  oeq_sb_printf(&sb, "typedef %s oeq_ix;\n", opt->index64 ? "long long" : "int");
  oeq_sb_puts(&sb, conv_prelude);
  emit_cache_hints(&c);
  emit_conv_forward(&c);
  emit_conv_backward(&c);
  emit_conv_helpers(&c);
  emit_add_kernels(&c.e, 0);
  const int forward_items = conv_forward_items(&c);
  free(c.fwd_order);
  free(c.fwd_group_start);
  char *text = oeq_sb_take(&sb);
  if (!text) return oeq_fail(err, OEQ_ERROR_OUT_OF_MEMORY, "out of memory generating conv kernel source");
  *out = (oeq_conv_source_t){
      .text = text,
      .warp_size = c.e.warp_size,
      .warps_per_block = wpb,
      .compute_size = c.e.ct_is_double ? 8 : 4,
      .forward_items = forward_items,
      .fixup_items = {oeq_conv_fixup_items(s->z_dim), oeq_conv_fixup_items(s->x_dim)},
      .backward_items = c.bwd_split ? c.bwd_split : 1,
      .kernels = {.n_parts = 1, .count = OEQ_CONV_K_COUNT},
  };
  /* Every conv kernel runs warps_per_block warps a block, a work item a
   * warp; only the backward stages rows in shared memory. Kernels a mode
   * does not need are not generated (and so not listed). */
  static const char *const names[OEQ_CONV_K_COUNT] = {
      [OEQ_CONV_K_FORWARD] = OEQ_CONV_FORWARD_KERNEL,
      [OEQ_CONV_K_BACKWARD] = OEQ_CONV_BACKWARD_KERNEL,
      [OEQ_CONV_K_FORWARD_FIXUP] = OEQ_CONV_FORWARD_FIXUP_KERNEL,
      [OEQ_CONV_K_BACKWARD_FIXUP] = OEQ_CONV_BACKWARD_FIXUP_KERNEL,
      [OEQ_CONV_K_DW_REDUCE] = OEQ_CONV_DW_REDUCE_KERNEL,
      [OEQ_CONV_K_CHECK] = OEQ_CONV_CHECK_KERNEL,
      [OEQ_CONV_K_ADD_I] = OEQ_ADD_I_KERNEL,
      [OEQ_CONV_K_ADD_W] = OEQ_ADD_W_KERNEL};
  const int has_dw_reduce = conv_has_dw_reduce(&c);
  for (int k = 0; k < OEQ_CONV_K_COUNT; k++) {
    const int fixup = k == OEQ_CONV_K_FORWARD_FIXUP || k == OEQ_CONV_K_BACKWARD_FIXUP;
    if ((fixup && !c.opt.deterministic) || (k == OEQ_CONV_K_DW_REDUCE && !has_dw_reduce)) continue;
    if (k == OEQ_CONV_K_ADD_I || k == OEQ_CONV_K_ADD_W) {
      out->kernels.kernel[k] = oeq_add_kernel_desc(names[k], 1);
      continue;
    }
    out->kernels.kernel[k] = (oeq_kernel_desc_t){
        .name = names[k],
        .part = 1,
        .threads = wpb * c.e.warp_size,
        .rows_per_block = wpb,
        .shared_bytes = k == OEQ_CONV_K_BACKWARD ? (size_t)wpb * c.b_per_warp : 0,
        .grid_y = 1};
  }
  return OEQ_SUCCESS;
}
