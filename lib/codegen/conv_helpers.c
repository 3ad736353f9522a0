/* conv_helpers.c: the small kernels around the fused conv kernels: the
 * deterministic fix-ups, the shared-weight dw reduction and the index check,
 * plus the compensated-add spelling the emitters share. */
#include <stdio.h>

#include "codegen/conv_emit.h"

void conv_emit_add(const conv_ctx_t *c, const char *acc, const char *comp, const char *v) {
  if (c->opt.kahan)
    oeq_sb_printf(c->e.sb, "  oeq_kadd(%s, %s, %s);\n", acc, comp, v);
  else
    oeq_sb_printf(c->e.sb, "  %s += %s;\n", acc, v);
}

/* One warp per segment s and chunk of the row. When s holds the start of a
 * row (receiver or sender) that continues into later segments, s stored
 * that row's partial sum in the output; the later segments, each of which
 * begins inside the row, left theirs in their slots. Add them in segment
 * order: a fixed order, so the result does not depend on timing. The
 * "begins inside" test repeats the main kernel's, so even unsorted
 * (invalid) input reads only slots that were written. The run of
 * continuing segments is found once, before the row loop: tested per
 * element, its key loads would make every element wait on global memory
 * in turn (mace-large's z: 284 elements a lane). */
static void emit_fixup(const conv_ctx_t *c, int backward) {
  oeq_strbuf_t *sb = c->e.sb;
  const int wpb = c->warps_per_block;
  const long long width = (long long)(backward ? c->e.s->x_dim : c->e.s->z_dim);
  const int items = oeq_conv_fixup_items(width);
  const char *key = backward ? "oeq_sender_at(keys, perm, %s, edges)" : "(long long)keys[%s]";
  char k_end1[96], k_end[96], k_b[96], k_b1[96], k_s2[112], k_s21[112];
  snprintf(k_end1, sizeof k_end1, key, "end - 1");
  snprintf(k_end, sizeof k_end, key, "end");
  snprintf(k_b, sizeof k_b, key, "b");
  snprintf(k_b1, sizeof k_b1, key, "b - 1");
  snprintf(k_s2, sizeof k_s2, key, "(last + 1) * seg_len");
  snprintf(k_s21, sizeof k_s21, key, "(last + 1) * seg_len - 1");
  /* many partials meet here on a high-degree node: compensate them too */
  char add[160];
  if (c->opt.kahan)
    snprintf(add, sizeof add, "oeq_kadd(v, comp, slots[s2 * %lld + i]);", width);
  else
    snprintf(add, sizeof add, "v += slots[s2 * %lld + i];", width);
  oeq_sb_printf(sb,
                "extern \"C\" __global__ void __launch_bounds__(%d)\n"
                "%s(const oeq_ix *__restrict__ keys, const oeq_ix *__restrict__ perm,\n"
                "   oeq_it *__restrict__ out, const oeq_ct *__restrict__ slots, long long n_rows,\n"
                "   long long edges, long long seg_len, long long n_seg) {\n"
                "  const int lane = threadIdx.x %% OEQ_WARP, warp = threadIdx.x / OEQ_WARP;\n"
                "  (void)perm;\n"
                "  for (long long it = (long long)blockIdx.x * %d + warp; it < n_seg * %d;\n"
                "       it += (long long)gridDim.x * %d) {\n"
                "  const long long s = it / %d;\n"
                "  const int i0 = (int)(it %% %d) * %d, i1 = min(i0 + %d, %lld);\n"
                "  const long long b = s * seg_len, end = min(b + seg_len, edges);\n"
                "  if (end >= edges) continue;\n"
                "  const long long t = %s;\n"
                "  if (t < 0 || t >= n_rows || %s != t) continue;\n"
                "  if (b > 0 && %s == t && %s == t) continue; // t began earlier\n"
                "  long long last = s; // the last segment that continues t\n"
                "  while (last + 1 < n_seg && %s == t && %s == t) ++last;\n"
                "#pragma unroll 4\n"
                "  for (int i = i0 + lane; i < i1; i += OEQ_WARP) {\n"
                "    [[maybe_unused]] oeq_ct v = (oeq_ct)out[t * %lld + i], comp = (oeq_ct)0;\n"
                "    for (long long s2 = s + 1; s2 <= last; ++s2)\n"
                "      %s\n"
                "    out[t * %lld + i] = (oeq_it)(%s);\n"
                "  }\n  }\n}\n",
                wpb * c->e.warp_size,
                backward ? OEQ_CONV_BACKWARD_FIXUP_KERNEL : OEQ_CONV_FORWARD_FIXUP_KERNEL, wpb, items, wpb,
                items, items, OEQ_CONV_FIXUP_CHUNK, OEQ_CONV_FIXUP_CHUNK, width, k_end1, k_end, k_b, k_b1,
                k_s2, k_s21, width, add, width,
                c->opt.kahan ? "v - comp" : "v");
}

static void emit_dw_reduce(const conv_ctx_t *c) {
  const long long wn = (long long)c->e.s->weight_numel;
  oeq_sb_printf(c->e.sb,
                "extern \"C\" __global__ void %s(const oeq_ct *__restrict__ slots,\n"
                "                               oeq_wt *__restrict__ dw, long long n_seg) {\n"
                "  for (long long j = (long long)blockIdx.x * blockDim.x + threadIdx.x; j < %lld;\n"
                "       j += (long long)gridDim.x * blockDim.x) {\n"
                "    [[maybe_unused]] oeq_ct v = (oeq_ct)0, comp = (oeq_ct)0;\n"
                "    for (long long s = 0; s < n_seg; ++s) {\n",
                OEQ_CONV_DW_REDUCE_KERNEL, wn);
  char term[64];
  snprintf(term, sizeof term, "slots[s * %lld + j]", wn);
  conv_emit_add(c, "v", "comp", term);
  oeq_sb_puts(c->e.sb, "    }\n    dw[j] = (oeq_wt)v;\n  }\n}\n");
}

static void emit_check(const conv_ctx_t *c) {
  oeq_strbuf_t *sb = c->e.sb;
  oeq_sb_printf(sb,
                "extern \"C\" __global__ void %s(const oeq_ix *__restrict__ rows,\n"
                "   const oeq_ix *__restrict__ cols, const oeq_ix *__restrict__ perm,\n"
                "   unsigned *word, long long x_rows, long long z_rows, long long edges) {\n"
                "  unsigned bad = 0u; (void)perm;\n"
                "  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < edges;\n"
                "       i += (long long)gridDim.x * blockDim.x) {\n"
                "    const long long r = (long long)rows[i], c = (long long)cols[i];\n"
                "    if (r < 0 || r >= z_rows) bad |= %uu;\n"
                "    if (c < 0 || c >= x_rows) bad |= %uu;\n",
                OEQ_CONV_CHECK_KERNEL, OEQ_CONV_BAD_ROW, OEQ_CONV_BAD_COL);
  if (c->opt.deterministic)
    oeq_sb_printf(sb,
                  "    if (i > 0 && (long long)rows[i - 1] > r) bad |= %uu;\n"
                  "    const long long p = (long long)perm[i];\n"
                  "    if (p < 0 || p >= edges) bad |= %uu;\n"
                  "    else if (i > 0) {\n"
                  "      const long long q = (long long)perm[i - 1];\n"
                  "      if (q >= 0 && q < edges && cols[q] > cols[p]) bad |= %uu;\n"
                  "    }\n",
                  OEQ_CONV_UNSORTED_ROWS, OEQ_CONV_BAD_PERM, OEQ_CONV_BAD_PERM);
  oeq_sb_puts(sb, "  }\n  if (bad) atomicOr(word, bad);\n}\n");
}

void emit_conv_helpers(const conv_ctx_t *c) {
  if (c->opt.deterministic) {
    emit_fixup(c, 0);
    emit_fixup(c, 1);
  }
  if (conv_has_dw_reduce(c)) emit_dw_reduce(c);
  emit_check(c);
}
