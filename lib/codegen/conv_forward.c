/* conv_forward.c: the fused forward kernel, z[rows[e]] += TP(x[cols[e]], y[e], w[e]).
 *
 * Output-stationary: for each output block and each chunk of 32 output
 * multiplicities (one per lane), the warp walks its segment of edges and
 * keeps the chunk's sum in registers while the receiver stays the same; the
 * per-edge message exists only in registers (m<k>). When the receiver
 * changes the chunk is flushed: atomic mode adds it into z (zeroed before
 * the launch); deterministic mode stores it, into z for a row that this
 * segment holds from its start, into the segment's slot in the workspace for
 * a row that began in an earlier segment (the fix-up kernel adds the slots to
 * the row in segment order). Operands are read straight from global memory:
 * no shared memory and no barriers, so many warps stay resident; the re-read
 * x blocks of the gathered rows come from L1/L2. */
#include <stdio.h>

#include "codegen/conv_emit.h"

static void load_comp(const conv_ctx_t *c, const char *name, const char *row, int64_t off,
                      int64_t mul, int d, const int used[], const char *u) {
  char idx[128];
  for (int a = 0; a < d; a++)
    if (used[a])
      oeq_sb_printf(c->e.sb, "  const oeq_ct %s%d = (oeq_ct)%s[%s];\n", name, a, row,
                    emit_block_index(c->e.s->layout, off, mul, d, u, a, idx));
}

/* dst<k> += [weight *] sum_ab C_abk xa yb, grouped by k. */
static void cg_sum(const conv_ctx_t *c, const oeq_path_t *p, const char *weight, const char *dst) {
  char lit[64];
  int i = 0;
  while (i < p->nnz) {
    int k = p->nz[i].c;
    oeq_sb_puts(c->e.sb, "  { oeq_ct t = (oeq_ct)0;");
    for (; i < p->nnz && p->nz[i].c == k; i++)
      oeq_sb_printf(c->e.sb, " t += %s * xa%d * yb%d;", emit_literal(&c->e, p->nz[i].value, lit),
                    p->nz[i].a, p->nz[i].b);
    if (weight)
      oeq_sb_printf(c->e.sb, " %s%d += %s * t; }\n", dst, k, weight);
    else
      oeq_sb_printf(c->e.sb, " %s%d += t; }\n", dst, k);
  }
}

static void emit_path(const conv_ctx_t *c, const oeq_path_t *p) {
  int ua[64], ub[64], uc[64];
  emit_used_indices(p, ua, ub, uc);
  oeq_strbuf_t *sb = c->e.sb;
  const long long m2 = (long long)p->mul2, m3 = (long long)p->mul3, wo = (long long)p->w_offset;
  const char *wv = p->has_weight ? "wv" : NULL;
  oeq_sb_printf(sb, "  // path %d (instruction %d, %s, l=%d,%d->%d)\n  if (act) {\n",
                (int)(p - c->e.s->paths), p->instruction, oeq_mode_name(p->mode), p->l1, p->l2,
                p->l3);
  switch (p->mode) {
    case OEQ_MODE_UVU:
      oeq_sb_puts(sb, "  const int u = o;\n");
      load_comp(c, "xa", "xr", p->x_offset, p->mul1, p->d1, ua, "u");
      oeq_sb_printf(sb, "  for (int v = 0; v < %lld; ++v) {\n", m2);
      load_comp(c, "yb", "yr", p->y_offset, p->mul2, p->d2, ub, "v");
      if (wv) oeq_sb_printf(sb, "  const oeq_ct wv = (oeq_ct)wr[%lld + u * %lld + v];\n", wo, m2);
      cg_sum(c, p, wv, "m");
      oeq_sb_puts(sb, "  }\n");
      break;
    case OEQ_MODE_UVV:
      oeq_sb_puts(sb, "  const int v = o;\n");
      load_comp(c, "yb", "yr", p->y_offset, p->mul2, p->d2, ub, "v");
      oeq_sb_printf(sb, "  for (int u = 0; u < %lld; ++u) {\n", (long long)p->mul1);
      load_comp(c, "xa", "xr", p->x_offset, p->mul1, p->d1, ua, "u");
      if (wv) oeq_sb_printf(sb, "  const oeq_ct wv = (oeq_ct)wr[%lld + u * %lld + v];\n", wo, m2);
      cg_sum(c, p, wv, "m");
      oeq_sb_puts(sb, "  }\n");
      break;
    case OEQ_MODE_UUU:
      oeq_sb_puts(sb, "  const int u = o, v = o;\n");
      load_comp(c, "xa", "xr", p->x_offset, p->mul1, p->d1, ua, "u");
      load_comp(c, "yb", "yr", p->y_offset, p->mul2, p->d2, ub, "v");
      if (wv) oeq_sb_printf(sb, "  const oeq_ct wv = (oeq_ct)wr[%lld + u];\n", wo);
      cg_sum(c, p, wv, "m");
      break;
    case OEQ_MODE_UVUV:
      oeq_sb_printf(sb, "  const int u = o / %lld, v = o %% %lld;\n", m2, m2);
      load_comp(c, "xa", "xr", p->x_offset, p->mul1, p->d1, ua, "u");
      load_comp(c, "yb", "yr", p->y_offset, p->mul2, p->d2, ub, "v");
      if (wv) oeq_sb_printf(sb, "  const oeq_ct wv = (oeq_ct)wr[%lld + o];\n", wo);
      cg_sum(c, p, wv, "m");
      break;
    default: { /* uvw / uuw: lane o sums over the pairs q; x, y broadcast */
      const int uvw = p->mode == OEQ_MODE_UVW;
      oeq_sb_printf(sb, "  for (int u = 0; u < %lld; ++u) {\n", (long long)p->mul1);
      if (uvw)
        oeq_sb_printf(sb, "  for (int v = 0; v < %lld; ++v) {\n  const int q = u * %lld + v;\n", m2, m2);
      else
        oeq_sb_puts(sb, "  { const int v = u, q = u;\n");
      load_comp(c, "xa", "xr", p->x_offset, p->mul1, p->d1, ua, "u");
      load_comp(c, "yb", "yr", p->y_offset, p->mul2, p->d2, ub, "v");
      for (int k = 0; k < p->d3; k++)
        if (uc[k]) oeq_sb_printf(sb, "  oeq_ct tk%d = (oeq_ct)0;\n", k);
      cg_sum(c, p, NULL, "tk");
      if (wv)
        oeq_sb_printf(sb, "  const oeq_ct wv = (oeq_ct)wr[%lld + (long long)q * %lld + o];\n", wo, m3);
      else
        oeq_sb_puts(sb, "  (void)q;\n");
      for (int k = 0; k < p->d3; k++)
        if (uc[k]) oeq_sb_printf(sb, "  m%d += %stk%d;\n", k, wv ? "wv * " : "", k);
      oeq_sb_puts(sb, "  } }\n");
      break;
    }
  }
  oeq_sb_puts(sb, "  }\n");
}

/* Write lane o's chunk of row `cur`: see the file comment. */
static void emit_flush(const conv_ctx_t *c, const oeq_block_t *b) {
  oeq_strbuf_t *sb = c->e.sb;
  const oeq_schedule_t *s = c->e.s;
  char idx[128], val[64];
  oeq_sb_puts(sb, "  if (act) {\n");
  if (!c->opt.deterministic) {
    oeq_sb_printf(sb, "  oeq_it *d = z + cur * %lld;\n", (long long)s->z_dim);
    for (int k = 0; k < b->d; k++)
      oeq_sb_printf(sb, "  atomicAdd(&d[%s], (oeq_it)acc%d);\n",
                    emit_block_index(s->layout, b->offset, b->mul, b->d, "o", k, idx), k);
  } else {
    oeq_sb_printf(sb, "  if (head_split && cur == head) {\n  oeq_ct *d = slots + s * %lld;\n",
                  (long long)s->z_dim);
    for (int k = 0; k < b->d; k++) {
      snprintf(val, sizeof val, c->opt.kahan ? "(acc%d - cc%d)" : "acc%d", k, k);
      oeq_sb_printf(sb, "  d[%s] = %s;\n",
                    emit_block_index(s->layout, b->offset, b->mul, b->d, "o", k, idx), val);
    }
    oeq_sb_printf(sb, "  } else {\n  oeq_it *d = z + cur * %lld;\n", (long long)s->z_dim);
    for (int k = 0; k < b->d; k++) {
      snprintf(val, sizeof val, c->opt.kahan ? "(acc%d - cc%d)" : "acc%d", k, k);
      oeq_sb_printf(sb, "  d[%s] = (oeq_it)%s;\n",
                    emit_block_index(s->layout, b->offset, b->mul, b->d, "o", k, idx), val);
    }
    oeq_sb_puts(sb, "  }\n");
  }
  oeq_sb_puts(sb, "  }\n");
}

static void emit_block(const conv_ctx_t *c, int ob) {
  const oeq_schedule_t *s = c->e.s;
  const oeq_block_t *b = &s->out_blocks[ob];
  oeq_strbuf_t *sb = c->e.sb;
  /* z is zeroed before the launch: blocks no path reaches stay zero. */
  if (b->mul == 0 || !b->written) return;
  oeq_sb_printf(sb, "  // output block %d: %lldx%d\n", ob, (long long)b->mul, b->l);
  oeq_sb_printf(sb, "  %sfor (int o0 = 0; o0 < %lld; o0 += OEQ_WARP) {\n", c->e.loop_pragma,
                (long long)b->mul);
  oeq_sb_printf(sb, "  const int o = o0 + lane; const bool act = o < %lld;\n", (long long)b->mul);
  for (int k = 0; k < b->d; k++) {
    oeq_sb_printf(sb, "  oeq_ct acc%d = (oeq_ct)0;\n", k);
    if (c->opt.kahan) oeq_sb_printf(sb, "  oeq_ct cc%d = (oeq_ct)0;\n", k);
  }
  oeq_sb_puts(sb,
              "  long long cur = head_split ? head : -1;\n"
              "  for (long long e = b; e < end; ++e) {\n"
              "  const long long r = (long long)rows[e], col = (long long)cols[e];\n"
              "  if (r < 0 || r >= z_rows || col < 0 || col >= x_rows) continue; // skipped, see oeq_conv_check\n"
              "  if (r != cur) {\n  if (cur >= 0) {\n");
  emit_flush(c, b);
  oeq_sb_puts(sb, "  }\n");
  for (int k = 0; k < b->d; k++) {
    oeq_sb_printf(sb, "  acc%d = (oeq_ct)0;\n", k);
    if (c->opt.kahan) oeq_sb_printf(sb, "  cc%d = (oeq_ct)0;\n", k);
  }
  oeq_sb_puts(sb, "  cur = r;\n  }\n");
  oeq_sb_printf(sb,
                "  const oeq_it *__restrict__ xr = x + col * %lld;\n"
                "  const oeq_it *__restrict__ yr = y + e * %lld;\n",
                (long long)s->x_dim, (long long)s->y_dim);
  if (s->shared_weights || s->weight_numel == 0)
    oeq_sb_puts(sb, "  const oeq_wt *__restrict__ wr = w;\n");
  else
    oeq_sb_printf(sb, "  const oeq_wt *__restrict__ wr = w + e * %lld;\n", (long long)s->weight_numel);
  oeq_sb_puts(sb, "  (void)xr; (void)yr; (void)wr;\n");
  for (int k = 0; k < b->d; k++) oeq_sb_printf(sb, "  oeq_ct m%d = (oeq_ct)0;\n", k);
  for (int i = 0; i < s->n_paths; i++) {
    const oeq_path_t *p = &s->paths[i];
    if (p->z_offset == b->offset && p->mul3 == b->mul && p->d3 == b->d) emit_path(c, p);
  }
  for (int k = 0; k < b->d; k++) {
    char acc[16], comp[16], m[16];
    snprintf(acc, sizeof acc, "acc%d", k);
    snprintf(comp, sizeof comp, "cc%d", k);
    snprintf(m, sizeof m, "m%d", k);
    conv_emit_add(c, acc, comp, m);
  }
  oeq_sb_puts(sb, "  }\n  if (cur >= 0) {\n");
  emit_flush(c, b);
  oeq_sb_puts(sb, "  }\n  }\n");
}

int conv_forward_items(const oeq_schedule_t *s) {
  int n = 0;
  for (int ob = 0; ob < s->n_out_blocks; ob++)
    if (s->out_blocks[ob].mul > 0 && s->out_blocks[ob].written) n++;
  return n > 0 ? n : 1;
}

void emit_conv_forward(const conv_ctx_t *c) {
  oeq_strbuf_t *sb = c->e.sb;
  const int wpb = c->warps_per_block;
  oeq_sb_printf(sb,
                "extern \"C\" __global__ void __launch_bounds__(%d)\n"
                "%s(const oeq_it *__restrict__ x, const oeq_it *__restrict__ y,\n"
                "   const oeq_wt *__restrict__ w, const oeq_ix *__restrict__ rows,\n"
                "   const oeq_ix *__restrict__ cols, oeq_it *__restrict__ z,\n"
                "   oeq_ct *__restrict__ slots, long long x_rows, long long z_rows,\n"
                "   long long edges, long long seg_len, long long n_seg, int split) {\n",
                wpb * c->e.warp_size, OEQ_CONV_FORWARD_KERNEL);
  const int nb = conv_forward_items(c->e.s);
  /* A warp's work item is a segment (all output blocks: the edge data
   * stays in L1 across blocks) or, with `split` (small graphs, too few
   * segments to fill the GPU), one (segment, output block) pair. Each
   * (segment, block) sum is computed the same way either way, so split is a
   * launch choice that leaves results bitwise unchanged. */
  oeq_sb_printf(sb,
                "  const int lane = threadIdx.x %% OEQ_WARP, warp = threadIdx.x / OEQ_WARP;\n"
                "  (void)w; (void)slots;\n"
                "  const int per = split ? %d : 1;\n"
                "  for (long long it = (long long)blockIdx.x * %d + warp; it < n_seg * per;\n"
                "       it += (long long)gridDim.x * %d) {\n"
                "  const long long s = it / per;\n"
                "  const int blk0 = split ? (int)(it %% per) : 0, blk1 = split ? blk0 + 1 : %d;\n"
                "  const long long b = s * seg_len, end = min(b + seg_len, edges);\n"
                "  const long long head = (long long)rows[b];\n",
                nb, wpb, wpb, nb);
  if (c->opt.deterministic)
    oeq_sb_puts(sb,
                "  /* the head row began in an earlier segment: its sum here goes to the slot */\n"
                "  const bool head_split = b > 0 && head >= 0 && head < z_rows &&\n"
                "                          (long long)rows[b - 1] == head;\n");
  else
    oeq_sb_puts(sb, "  const bool head_split = false;\n");
  oeq_sb_puts(sb, "  for (int blk = blk0; blk < blk1; ++blk) switch (blk) {\n");
  for (int ob = 0, k = 0; ob < c->e.s->n_out_blocks; ob++) {
    const oeq_block_t *bl = &c->e.s->out_blocks[ob];
    if (bl->mul == 0 || !bl->written) continue;
    oeq_sb_printf(sb, "  case %d: {\n", k++);
    emit_block(c, ob);
    oeq_sb_puts(sb, "  } break;\n");
  }
  oeq_sb_puts(sb, "  default: break;\n  }\n  (void)head; (void)head_split; (void)lane;\n  }\n}\n");
}
