/* tp_forward.c: the forward kernel, z = TP(x, y, w).
 *
 * Per row, a warp stages x and y in shared memory (16-byte loads), then
 * produces the output blocks one after another. For an output block the
 * lanes run across its multiplicity o, each accumulating all 2l+1
 * components in registers over every path into that block (e3nn sums the
 * paths of a block), so z is written exactly once and never read.
 *
 * "Direct" modes (uvu, uvv, uuu, uvuv) give each output multiplicity its
 * (u, v) pairs directly. "Pair" modes (uvw, uuw) are a small matrix product
 * over the multiplicities: the lanes first compute t[q][k] = sum_ab C x y
 * for 32 pairs q into shared memory, then every lane o accumulates
 * sum_q W[q][o] t[q][k] with W read coalesced across o. */
#include <stdio.h>

#include "codegen/emit_util.h"

static int is_pair_mode(oeq_mode_t m) { return m == OEQ_MODE_UVW || m == OEQ_MODE_UUW; }

/* Load the x (or y) components a path uses into registers xa<a> (yb<b>). */
static void emit_load_operand(const emit_ctx_t *c, const char *prefix, const char *smem,
                              int64_t off, int64_t mul, int d, const int used[], const char *u,
                              const char *guard) {
  char idx[128];
  for (int a = 0; a < d; a++) {
    if (!used[a]) continue;
    emit_block_index(c->s->layout, off, mul, d, u, a, idx);
    if (guard)
      oeq_sb_printf(c->sb, "  const oeq_ct %s%d = %s ? (oeq_ct)%s[%s] : (oeq_ct)0;\n", prefix, a,
                    guard, smem, idx);
    else
      oeq_sb_printf(c->sb, "  const oeq_ct %s%d = (oeq_ct)%s[%s];\n", prefix, a, smem, idx);
  }
}

/* acc<k> += wv * sum_ab C_abk xa yb for every k the path reaches. */
static void emit_cg_accumulate(const emit_ctx_t *c, const oeq_path_t *p, const char *weight,
                               const char *acc_fmt) {
  char lit[64];
  int i = 0;
  while (i < p->nnz) {
    int k = p->nz[i].c;
    oeq_sb_puts(c->sb, "  { oeq_ct t = (oeq_ct)0;");
    for (; i < p->nnz && p->nz[i].c == k; i++)
      oeq_sb_printf(c->sb, " t += %s * xa%d * yb%d;", emit_literal(c, p->nz[i].value, lit),
                    p->nz[i].a, p->nz[i].b);
    char acc[32];
    snprintf(acc, sizeof acc, acc_fmt, k);
    if (weight)
      oeq_sb_printf(c->sb, " %s += %s * t; }\n", acc, weight);
    else
      oeq_sb_printf(c->sb, " %s += t; }\n", acc);
  }
}

/* One direct-mode path's contribution to lane o's accumulators. */
static void emit_direct_path(const emit_ctx_t *c, const oeq_path_t *p) {
  int used_a[64], used_b[64], used_c[64];
  emit_used_indices(p, used_a, used_b, used_c);
  const char *wrow = p->has_weight ? "wr" : NULL;
  oeq_sb_printf(c->sb, "  // path %d (instruction %d, %s, l=%d,%d->%d)\n", (int)(p - c->s->paths),
                p->instruction, oeq_mode_name(p->mode), p->l1, p->l2, p->l3);
  oeq_sb_puts(c->sb, "  if (act) {\n");
  switch (p->mode) {
    case OEQ_MODE_UVU:
      oeq_sb_puts(c->sb, "  const int u = o;\n");
      emit_load_operand(c, "xa", "xs", p->x_offset, p->mul1, p->d1, used_a, "u", NULL);
      oeq_sb_printf(c->sb, "  for (int v = 0; v < %lld; ++v) {\n", (long long)p->mul2);
      emit_load_operand(c, "yb", "ys", p->y_offset, p->mul2, p->d2, used_b, "v", NULL);
      if (wrow)
        oeq_sb_printf(c->sb, "  const oeq_ct wv = (oeq_ct)wr[%lld + u * %lld + v];\n",
                      (long long)p->w_offset, (long long)p->mul2);
      break;
    case OEQ_MODE_UVV:
      oeq_sb_puts(c->sb, "  const int v = o;\n");
      emit_load_operand(c, "yb", "ys", p->y_offset, p->mul2, p->d2, used_b, "v", NULL);
      oeq_sb_printf(c->sb, "  for (int u = 0; u < %lld; ++u) {\n", (long long)p->mul1);
      emit_load_operand(c, "xa", "xs", p->x_offset, p->mul1, p->d1, used_a, "u", NULL);
      if (wrow)
        oeq_sb_printf(c->sb, "  const oeq_ct wv = (oeq_ct)wr[%lld + u * %lld + v];\n",
                      (long long)p->w_offset, (long long)p->mul2);
      break;
    case OEQ_MODE_UUU:
      oeq_sb_puts(c->sb, "  const int u = o, v = o;\n  {\n");
      emit_load_operand(c, "xa", "xs", p->x_offset, p->mul1, p->d1, used_a, "u", NULL);
      emit_load_operand(c, "yb", "ys", p->y_offset, p->mul2, p->d2, used_b, "v", NULL);
      if (wrow)
        oeq_sb_printf(c->sb, "  const oeq_ct wv = (oeq_ct)wr[%lld + u];\n", (long long)p->w_offset);
      break;
    default: /* OEQ_MODE_UVUV: output multiplicity o = u * mul2 + v */
      oeq_sb_printf(c->sb, "  const int u = o / %lld, v = o %% %lld;\n  {\n", (long long)p->mul2,
                    (long long)p->mul2);
      emit_load_operand(c, "xa", "xs", p->x_offset, p->mul1, p->d1, used_a, "u", NULL);
      emit_load_operand(c, "yb", "ys", p->y_offset, p->mul2, p->d2, used_b, "v", NULL);
      if (wrow)
        oeq_sb_printf(c->sb, "  const oeq_ct wv = (oeq_ct)wr[%lld + o];\n", (long long)p->w_offset);
      break;
  }
  emit_cg_accumulate(c, p, wrow ? "wv" : NULL, "acc%d");
  oeq_sb_puts(c->sb, "  }\n  }\n");
}

/* One pair-mode path (uvw, uuw): t for 32 pairs at a time in shared
 * memory, then the weighted sum over pairs for lane o. */
static void emit_pair_path(const emit_ctx_t *c, const oeq_path_t *p) {
  int used_a[64], used_b[64], used_c[64];
  emit_used_indices(p, used_a, used_b, used_c);
  const int uvw = p->mode == OEQ_MODE_UVW;
  const long long n_pairs = uvw ? (long long)(p->mul1 * p->mul2) : (long long)p->mul1;
  oeq_sb_printf(c->sb, "  // path %d (instruction %d, %s, l=%d,%d->%d)\n", (int)(p - c->s->paths),
                p->instruction, oeq_mode_name(p->mode), p->l1, p->l2, p->l3);
  oeq_sb_printf(c->sb, "  for (int q0 = 0; q0 < %lld; q0 += OEQ_WARP) {\n", n_pairs);
  oeq_sb_puts(c->sb, "  OEQ_SYNCWARP();\n  { const int q = q0 + lane;\n");
  oeq_sb_printf(c->sb, "  if (q < %lld) {\n", n_pairs);
  if (uvw)
    oeq_sb_printf(c->sb, "  const int u = q / %lld, v = q %% %lld;\n", (long long)p->mul2,
                  (long long)p->mul2);
  else
    oeq_sb_puts(c->sb, "  const int u = q, v = q;\n");
  emit_load_operand(c, "xa", "xs", p->x_offset, p->mul1, p->d1, used_a, "u", NULL);
  emit_load_operand(c, "yb", "ys", p->y_offset, p->mul2, p->d2, used_b, "v", NULL);
  for (int k = 0; k < p->d3; k++) oeq_sb_printf(c->sb, "  oeq_ct tk%d = (oeq_ct)0;\n", k);
  emit_cg_accumulate(c, p, NULL, "tk%d");
  for (int k = 0; k < p->d3; k++)
    oeq_sb_printf(c->sb, "  pt[lane * %d + %d] = tk%d;\n", p->d3, k, k);
  oeq_sb_puts(c->sb, "  } }\n  OEQ_SYNCWARP();\n");
  oeq_sb_printf(c->sb,
                "  if (act) {\n  const int np = min(OEQ_WARP, %lld - q0);\n"
                "  for (int j = 0; j < np; ++j) {\n",
                n_pairs);
  if (p->has_weight)
    oeq_sb_printf(c->sb, "  const oeq_ct wv = (oeq_ct)wr[%lld + (long long)(q0 + j) * %lld + o];\n",
                  (long long)p->w_offset, (long long)p->mul3);
  for (int k = 0; k < p->d3; k++)
    oeq_sb_printf(c->sb, "  acc%d += %spt[j * %d + %d];\n", k, p->has_weight ? "wv * " : "", p->d3,
                  k);
  oeq_sb_puts(c->sb, "  } }\n  }\n");
}

/* Write lane o's accumulators to z; in mul_ir the chunk goes through shared
 * memory so that the global stores are contiguous across the warp. */
static void emit_store_block(const emit_ctx_t *c, const oeq_block_t *b) {
  if (c->s->layout == OEQ_LAYOUT_MUL_IR && b->d > 1) {
    oeq_sb_puts(c->sb, "  if (act) {");
    for (int k = 0; k < b->d; k++) oeq_sb_printf(c->sb, " scr[lane * %d + %d] = acc%d;", b->d, k, k);
    oeq_sb_puts(c->sb, " }\n  OEQ_SYNCWARP();\n");
    oeq_sb_printf(c->sb,
                  "  { const int n = min(OEQ_WARP, %lld - o0) * %d;\n"
                  "    oeq_it *dst = zr + %lld + o0 * %d;\n"
                  "    for (int i = lane; i < n; i += OEQ_WARP) dst[i] = (oeq_it)scr[i]; }\n"
                  "  OEQ_SYNCWARP();\n",
                  (long long)b->mul, b->d, (long long)b->offset, b->d);
  } else {
    char idx[128];
    oeq_sb_puts(c->sb, "  if (act) {\n");
    for (int k = 0; k < b->d; k++)
      oeq_sb_printf(c->sb, "  zr[%s] = (oeq_it)acc%d;\n",
                    emit_block_index(c->s->layout, b->offset, b->mul, b->d, "o", k, idx), k);
    oeq_sb_puts(c->sb, "  }\n");
  }
}

static void emit_output_block(const emit_ctx_t *c, int ob) {
  const oeq_block_t *b = &c->s->out_blocks[ob];
  if (b->mul == 0) return;
  oeq_sb_printf(c->sb, "  // output block %d: %lldx%d\n", ob, (long long)b->mul, b->l);
  if (!b->written) {
    /* e3nn: a block no path reaches is zeros (written, never assumed). */
    oeq_sb_printf(c->sb, "  oeq_zero(zr + %lld, %lld, lane);\n", (long long)b->offset,
                  (long long)(b->mul * b->d));
    return;
  }
  oeq_sb_printf(c->sb, "  %sfor (int o0 = 0; o0 < %lld; o0 += OEQ_WARP) {\n", c->loop_pragma, (long long)b->mul);
  oeq_sb_printf(c->sb, "  const int o = o0 + lane; const bool act = o < %lld;\n", (long long)b->mul);
  for (int k = 0; k < b->d; k++) oeq_sb_printf(c->sb, "  oeq_ct acc%d = (oeq_ct)0;\n", k);
  for (int i = 0; i < c->s->n_paths; i++) {
    const oeq_path_t *p = &c->s->paths[i];
    if (p->z_offset != b->offset || p->mul3 != b->mul || p->d3 != b->d) continue;
    if (is_pair_mode(p->mode))
      emit_pair_path(c, p);
    else
      emit_direct_path(c, p);
  }
  emit_store_block(c, b);
  oeq_sb_puts(c->sb, "  }\n");
}

void emit_tp_forward(const emit_ctx_t *c) {
  const oeq_schedule_t *s = c->s;
  /* ptxas (through NVRTC) caps some forward kernels at 32-72 registers and
   * spills 4-20 bytes (f32 and f64 on sm_80, f64 on sm_90); an explicit
   * min-blocks of 1 (no real cap) steers it off that. f32 on sm_90 keeps the
   * plain bound, measured fastest (min-blocks 2 there cost 10-30%, NOTES
   * run 2). */
  oeq_sb_printf(c->sb,
                "#if defined(__CUDA_ARCH__) && (__CUDA_ARCH__ < 900 || %d)\n"
                "#define OEQ_FWD_BOUNDS __launch_bounds__(%d, 1)\n"
                "#else\n"
                "#define OEQ_FWD_BOUNDS __launch_bounds__(%d)\n"
                "#endif\n"
                "extern \"C\" __global__ void OEQ_FWD_BOUNDS\n"
                "%s(const oeq_it *__restrict__ x, const oeq_it *__restrict__ y,\n"
                "   const oeq_wt *__restrict__ w, oeq_it *__restrict__ z, long long batch) {\n",
                c->ct_is_double, c->warps_per_block * c->warp_size,
                c->warps_per_block * c->warp_size, OEQ_TP_FORWARD_KERNEL);
  oeq_sb_printf(c->sb,
                "  extern __shared__ __align__(16) unsigned char oeq_smem[];\n"
                "  const int lane = threadIdx.x %% OEQ_WARP, warp = threadIdx.x / OEQ_WARP;\n"
                "  unsigned char *mine = oeq_smem + warp * %zu;\n"
                "  oeq_it *xs = reinterpret_cast<oeq_it *>(mine);\n"
                "  oeq_it *ys = reinterpret_cast<oeq_it *>(mine + %zu);\n"
                "  oeq_ct *scr = reinterpret_cast<oeq_ct *>(mine + %zu);\n"
                "  oeq_ct *pt = reinterpret_cast<oeq_ct *>(mine + %zu);\n"
                "  (void)scr; (void)pt; (void)w;\n",
                c->fwd_per_warp, c->fwd_xs, c->fwd_xs + c->fwd_ys,
                c->fwd_xs + c->fwd_ys + c->fwd_scratch);
  oeq_sb_printf(c->sb,
                "  for (long long row = (long long)blockIdx.x * %d + warp; row < batch;\n"
                "       row += (long long)gridDim.x * %d) {\n",
                c->warps_per_block, c->warps_per_block);
  oeq_sb_printf(c->sb,
                "  oeq_load_row(xs, x + row * %lld, %lld, lane);\n"
                "  oeq_load_row(ys, y + row * %lld, %lld, lane);\n",
                (long long)s->x_dim, (long long)s->x_dim, (long long)s->y_dim, (long long)s->y_dim);
  if (s->shared_weights)
    oeq_sb_puts(c->sb, "  const oeq_wt *__restrict__ wr = w;\n");
  else
    oeq_sb_printf(c->sb, "  const oeq_wt *__restrict__ wr = w + row * %lld;\n",
                  (long long)s->weight_numel);
  oeq_sb_printf(c->sb, "  oeq_it *__restrict__ zr = z + row * %lld;\n  (void)wr;\n  OEQ_SYNCWARP();\n",
                (long long)s->z_dim);
  for (int ob = 0; ob < s->n_out_blocks; ob++) emit_output_block(c, ob);
  oeq_sb_puts(c->sb, "  OEQ_SYNCWARP();\n  }\n}\n");
}
