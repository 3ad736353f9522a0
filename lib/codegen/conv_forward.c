/* conv_forward.c: the fused forward kernel, z[rows[e]] += TP(x[cols[e]], y[e], w[e]).
 *
 * Output-stationary: the written output blocks are packed into groups of
 * equal multiplicity (conv_forward_plan_groups). For each group and each
 * chunk of 32 output multiplicities (one per lane), the warp walks its
 * segment of edges and keeps the chunk's sums of every block of the group in
 * registers while the receiver stays the same; the per-edge message exists
 * only in registers (m<j>_<k>). When the receiver changes the chunk is
 * flushed: atomic mode adds it into z (zeroed before the launch);
 * deterministic mode stores it, into z for a row that this segment holds
 * from its start, into the segment's slot in the workspace for a row that
 * began in an earlier segment (the fix-up kernel adds the slots to the row in
 * segment order). Operands are read straight from global memory: no shared
 * memory and no barriers, so many warps stay resident; the re-read x rows of
 * the gathered senders come from L1/L2.
 *
 * Why groups: each pass over the edges re-reads the edge's metadata, its y
 * row and the x components its paths use, and with lanes across u an x
 * component is a strided (uncoalesced) read. One pass per block made those
 * reads, not the arithmetic, the bottleneck (MACE: ~20 single-path blocks,
 * each re-reading x). A group shares one pass, and an operand that several
 * of its paths use (x with u = o, a y component with one multiplicity) is
 * loaded once per edge. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/conv_emit.h"
#include "codegen/tuning.h"

/* x offset of the first path into block b (grouping key: blocks fed by the
 * same x block share its loads). */
static int64_t block_x_key(const oeq_schedule_t *s, const oeq_block_t *b) {
  for (int i = 0; i < s->n_paths; i++)
    if (path_in_block(&s->paths[i], b)) return s->paths[i].x_offset;
  return 0;
}

oeq_status_t conv_forward_plan_groups(conv_ctx_t *c, oeq_error_t *err) {
  const oeq_schedule_t *s = c->e.s;
  int n = 0;
  c->fwd_order = malloc(sizeof(int) * (size_t)(s->n_out_blocks + 1));
  c->fwd_group_start = malloc(sizeof(int) * (size_t)(s->n_out_blocks + 2));
  if (!c->fwd_order || !c->fwd_group_start)
    return oeq_fail(err, OEQ_ERROR_OUT_OF_MEMORY, "out of memory planning the conv forward");
  for (int ob = 0; ob < s->n_out_blocks; ob++)
    if (s->out_blocks[ob].mul > 0 && s->out_blocks[ob].written) c->fwd_order[n++] = ob;
  /* insertion sort by (mul, x key, block index): n is small */
  for (int i = 1; i < n; i++) {
    int v = c->fwd_order[i], j = i;
    const oeq_block_t *bv = &s->out_blocks[v];
    for (; j > 0; j--) {
      const oeq_block_t *bj = &s->out_blocks[c->fwd_order[j - 1]];
      int64_t kv = block_x_key(s, bv), kj = block_x_key(s, bj);
      int before = bv->mul != bj->mul ? bv->mul < bj->mul : kv != kj ? kv < kj : v < c->fwd_order[j - 1];
      if (!before) break;
      c->fwd_order[j] = c->fwd_order[j - 1];
    }
    c->fwd_order[j] = v;
  }
  /* one pass for a small enough row of one multiplicity, else groups
   * (tuning.h) */
  int budget = OEQ_CONV_GROUP_BUDGET, one_pass = OEQ_CONV_ONE_PASS_BUDGET, row = 0, one_mul = 1;
  for (int i = 0; i < n; i++) {
    const oeq_block_t *b = &s->out_blocks[c->fwd_order[i]];
    row += b->d;
    one_mul &= b->mul == s->out_blocks[c->fwd_order[0]].mul;
  }
  if (c->e.ct_is_double) budget /= 2, one_pass /= 2;
  if (c->opt.kahan) budget /= 2, one_pass /= 2;
  if (one_mul && row <= one_pass) budget = one_pass;
  c->n_fwd_groups = 0;
  for (int i = 0, used = 0; i < n; i++) {
    const oeq_block_t *b = &s->out_blocks[c->fwd_order[i]];
    int fresh = i == 0 || b->mul != s->out_blocks[c->fwd_order[i - 1]].mul || used + b->d > budget;
    if (fresh) {
      c->fwd_group_start[c->n_fwd_groups++] = i;
      used = 0;
    }
    used += b->d;
  }
  c->fwd_group_start[c->n_fwd_groups] = n;
  return OEQ_SUCCESS;
}

static long long group_chunks(const conv_ctx_t *c, int g) {
  const int64_t mul = c->e.s->out_blocks[c->fwd_order[c->fwd_group_start[g]]].mul;
  return (mul + c->e.warp_size - 1) / c->e.warp_size;
}

/* Split launches give a warp one (segment, group, chunk of 32 output
 * multiplicities): this many per segment. */
int conv_forward_items(const conv_ctx_t *c) {
  long long n = 0;
  for (int g = 0; g < c->n_fwd_groups; g++) n += group_chunks(c, g);
  return n > 0 ? (int)n : 1;
}

/* ------------------------------------------------------------ operands */

/* x is shared across a group's paths where lane o reads x[u = o] (uvu, uuu);
 * y where the path has one y multiplicity and reads it for every lane (uvu
 * with mul2 = 1). Such operands are loaded once per edge as xo<off>_<a> /
 * yo<off>_<b>. */
static int x_shared(const oeq_path_t *p) { return p->mode == OEQ_MODE_UVU || p->mode == OEQ_MODE_UUU; }
static int y_shared(const oeq_path_t *p) { return p->mode == OEQ_MODE_UVU && p->mul2 == 1; }

static int path_uses_a(const oeq_path_t *p, int a) {
  for (int i = 0; i < p->nnz; i++)
    if (p->nz[i].a == a) return 1;
  return 0;
}
static int path_uses_b(const oeq_path_t *p, int b) {
  for (int i = 0; i < p->nnz; i++)
    if (p->nz[i].b == b) return 1;
  return 0;
}

typedef struct {
  const conv_ctx_t *c;
  int first, last; /* the group: blocks fwd_order[first..last) */
} group_t;

static const oeq_block_t *group_block(const group_t *g, int j) {
  return &g->c->e.s->out_blocks[g->c->fwd_order[j]];
}

/* Is component `comp` of p's x (y) operand already loaded by a path before
 * p in the group's emission order (blocks in group order, paths in schedule
 * order)? */
static int loaded_before(const group_t *g, const oeq_path_t *p, int x_side, int comp) {
  const oeq_schedule_t *s = g->c->e.s;
  for (int j = g->first; j < g->last; j++)
    for (int i = 0; i < s->n_paths; i++) {
      const oeq_path_t *q = &s->paths[i];
      if (!path_in_block(q, group_block(g, j))) continue;
      if (q == p) return 0;
      if (x_side ? x_shared(q) && q->x_offset == p->x_offset && path_uses_a(q, comp)
                 : y_shared(q) && q->y_offset == p->y_offset && path_uses_b(q, comp))
        return 1;
    }
  return 0;
}

/* Loads of the shared operands, each (block offset, component) once. */
static void emit_shared_operands(const group_t *g) {
  const conv_ctx_t *c = g->c;
  const oeq_schedule_t *s = c->e.s;
  char idx[128];
  for (int j = g->first; j < g->last; j++)
    for (int i = 0; i < s->n_paths; i++) {
      const oeq_path_t *p = &s->paths[i];
      if (!path_in_block(p, group_block(g, j))) continue;
      for (int a = 0; a < p->d1; a++)
        if (x_shared(p) && path_uses_a(p, a) && !loaded_before(g, p, 1, a))
          oeq_sb_printf(c->e.sb, "  const oeq_ct xo%lld_%d = (oeq_ct)xr[%s];\n", (long long)p->x_offset, a,
                        emit_block_index(s->layout, p->x_offset, p->mul1, p->d1, "o", a, idx));
      for (int b = 0; b < p->d2; b++)
        if (y_shared(p) && path_uses_b(p, b) && !loaded_before(g, p, 0, b))
          oeq_sb_printf(c->e.sb, "  const oeq_ct yo%lld_%d = (oeq_ct)yr[%s];\n", (long long)p->y_offset, b,
                        emit_block_index(s->layout, p->y_offset, p->mul2, p->d2, "0", b, idx));
    }
}

static void load_comp(const conv_ctx_t *c, const char *name, const char *row, int64_t off,
                      int64_t mul, int d, const int used[], const char *u) {
  char idx[128];
  for (int a = 0; a < d; a++)
    if (used[a])
      oeq_sb_printf(c->e.sb, "  const oeq_ct %s%d = (oeq_ct)%s[%s];\n", name, a, row,
                    emit_block_index(c->e.s->layout, off, mul, d, u, a, idx));
}

/* name<a> = the shared register of that component */
static void alias_comp(const conv_ctx_t *c, const char *name, const char *shared, int64_t off, int d,
                       const int used[]) {
  for (int a = 0; a < d; a++)
    if (used[a]) oeq_sb_printf(c->e.sb, "  const oeq_ct %s%d = %s%lld_%d;\n", name, a, shared, (long long)off, a);
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

/* One path's message into m (the block's message registers, "m<j>_"). */
static void emit_path(const conv_ctx_t *c, const oeq_path_t *p, const char *m) {
  int ua[64], ub[64], uc[64];
  emit_used_indices(p, ua, ub, uc);
  oeq_strbuf_t *sb = c->e.sb;
  const long long m2 = (long long)p->mul2, m3 = (long long)p->mul3, wo = (long long)p->w_offset;
  const char *wv = p->has_weight ? "wv" : NULL;
  oeq_sb_printf(sb, "  { // path %d (instruction %d, %s, l=%d,%d->%d)\n", (int)(p - c->e.s->paths),
                p->instruction, oeq_mode_name(p->mode), p->l1, p->l2, p->l3);
  switch (p->mode) {
    case OEQ_MODE_UVU:
      oeq_sb_puts(sb, "  const int u = o; (void)u;\n");
      alias_comp(c, "xa", "xo", p->x_offset, p->d1, ua);
      if (y_shared(p)) {
        oeq_sb_puts(sb, "  {\n  const int v = 0;\n");
        alias_comp(c, "yb", "yo", p->y_offset, p->d2, ub);
      } else {
        oeq_sb_printf(sb, "  for (int v = 0; v < %lld; ++v) {\n", m2);
        load_comp(c, "yb", "yr", p->y_offset, p->mul2, p->d2, ub, "v");
      }
      if (wv) oeq_sb_printf(sb, "  const oeq_ct wv = (oeq_ct)OEQ_LD_STREAM(&wr[%lld + u * %lld + v]);\n", wo, m2);
      else oeq_sb_puts(sb, "  (void)v;\n");
      cg_sum(c, p, wv, m);
      oeq_sb_puts(sb, "  }\n");
      break;
    case OEQ_MODE_UVV:
      oeq_sb_puts(sb, "  const int v = o;\n");
      load_comp(c, "yb", "yr", p->y_offset, p->mul2, p->d2, ub, "v");
      oeq_sb_printf(sb, "  for (int u = 0; u < %lld; ++u) {\n", (long long)p->mul1);
      load_comp(c, "xa", "xr", p->x_offset, p->mul1, p->d1, ua, "u");
      if (wv) oeq_sb_printf(sb, "  const oeq_ct wv = (oeq_ct)OEQ_LD_STREAM(&wr[%lld + u * %lld + v]);\n", wo, m2);
      cg_sum(c, p, wv, m);
      oeq_sb_puts(sb, "  }\n");
      break;
    case OEQ_MODE_UUU:
      oeq_sb_puts(sb, "  const int u = o, v = o; (void)u; (void)v;\n");
      alias_comp(c, "xa", "xo", p->x_offset, p->d1, ua);
      load_comp(c, "yb", "yr", p->y_offset, p->mul2, p->d2, ub, "v");
      if (wv) oeq_sb_printf(sb, "  const oeq_ct wv = (oeq_ct)OEQ_LD_STREAM(&wr[%lld + u]);\n", wo);
      cg_sum(c, p, wv, m);
      break;
    case OEQ_MODE_UVUV:
      oeq_sb_printf(sb, "  const int u = o / %lld, v = o %% %lld;\n", m2, m2);
      load_comp(c, "xa", "xr", p->x_offset, p->mul1, p->d1, ua, "u");
      load_comp(c, "yb", "yr", p->y_offset, p->mul2, p->d2, ub, "v");
      if (wv) oeq_sb_printf(sb, "  const oeq_ct wv = (oeq_ct)OEQ_LD_STREAM(&wr[%lld + o]);\n", wo);
      cg_sum(c, p, wv, m);
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
        oeq_sb_printf(sb, "  const oeq_ct wv = (oeq_ct)OEQ_LD_STREAM(&wr[%lld + (long long)q * %lld + o]);\n", wo, m3);
      else
        oeq_sb_puts(sb, "  (void)q;\n");
      for (int k = 0; k < p->d3; k++)
        if (uc[k]) oeq_sb_printf(sb, "  %s%d += %stk%d;\n", m, k, wv ? "wv * " : "", k);
      oeq_sb_puts(sb, "  } }\n");
      break;
    }
  }
  oeq_sb_puts(sb, "  }\n");
}

/* ------------------------------------------------------------ flush */

/* Write lane o's chunk of row `cur` for every block of the group: see the
 * file comment. */
static void emit_flush(const group_t *g) {
  const conv_ctx_t *c = g->c;
  oeq_strbuf_t *sb = c->e.sb;
  const oeq_schedule_t *s = c->e.s;
  char idx[128];
  oeq_sb_puts(sb, "  if (act) {\n");
  /* Deterministic with z of the compute type: one pointer, slot or z row
   * (one copy of the stores keeps the kernel small and under 64 registers). */
  const int one_pointer = c->opt.deterministic && !strcmp(c->e.it, c->e.ct);
  if (one_pointer)
    oeq_sb_printf(sb, "  oeq_ct *d = head_split && cur == head ? slots + s * %lld : z + cur * %lld;\n",
                  (long long)s->z_dim, (long long)s->z_dim);
  for (int pass = 0; pass < (c->opt.deterministic && !one_pointer ? 2 : 1); pass++) {
    /* deterministic: pass 0 = the slot of a split head row, pass 1 = z */
    if (one_pointer)
      ;
    else if (c->opt.deterministic)
      oeq_sb_printf(sb, pass == 0 ? "  if (head_split && cur == head) {\n  oeq_ct *d = slots + s * %lld;\n"
                                  : "  } else {\n  oeq_it *d = z + cur * %lld;\n",
                    (long long)s->z_dim);
    else
      oeq_sb_printf(sb, "  oeq_it *d = z + cur * %lld;\n", (long long)s->z_dim);
    for (int j = g->first; j < g->last; j++) {
      const oeq_block_t *b = group_block(g, j);
      for (int k = 0; k < b->d; k++) {
        emit_block_index(s->layout, b->offset, b->mul, b->d, "o", k, idx);
        if (!c->opt.deterministic)
          oeq_sb_printf(sb, "  atomicAdd(&d[%s], (oeq_it)a%d_%d);\n", idx, j, k);
        else if (c->opt.kahan)
          oeq_sb_printf(sb, "  d[%s] = (%s)(a%d_%d - c%d_%d);\n", idx, pass ? "oeq_it" : "oeq_ct", j, k, j, k);
        else
          oeq_sb_printf(sb, "  d[%s] = (%s)a%d_%d;\n", idx, pass ? "oeq_it" : "oeq_ct", j, k);
      }
    }
  }
  if (c->opt.deterministic && !one_pointer) oeq_sb_puts(sb, "  }\n");
  oeq_sb_puts(sb, "  }\n");
}

static void emit_zero_accumulators(const group_t *g, const char *decl) {
  const oeq_schedule_t *s = g->c->e.s;
  for (int j = g->first; j < g->last; j++)
    for (int k = 0; k < s->out_blocks[g->c->fwd_order[j]].d; k++) {
      oeq_sb_printf(g->c->e.sb, "  %sa%d_%d = (oeq_ct)0;\n", decl, j, k);
      if (g->c->opt.kahan) oeq_sb_printf(g->c->e.sb, "  %sc%d_%d = (oeq_ct)0;\n", decl, j, k);
    }
}

/* ------------------------------------------------------------ a group */

static void emit_group(const group_t *g) {
  const conv_ctx_t *c = g->c;
  const oeq_schedule_t *s = c->e.s;
  oeq_strbuf_t *sb = c->e.sb;
  const long long mul = (long long)s->out_blocks[c->fwd_order[g->first]].mul;
  oeq_sb_puts(sb, "  // output blocks");
  for (int j = g->first; j < g->last; j++) {
    const oeq_block_t *b = group_block(g, j);
    oeq_sb_printf(sb, " %d (%lldx%d)", c->fwd_order[j], (long long)b->mul, b->l);
  }
  oeq_sb_printf(sb, "\n  %sfor (int o0 = chunk0 * OEQ_WARP; o0 < min(%lld, chunk1 * OEQ_WARP); o0 += OEQ_WARP) {\n",
                c->e.loop_pragma, mul);
  oeq_sb_printf(sb, "  const int o = o0 + lane; const bool act = o < %lld;\n", mul);
  emit_zero_accumulators(g, "oeq_ct ");
  oeq_sb_puts(sb,
              "  long long cur = head_split ? head : -1;\n");
  if (CONV_FWD_PREFETCH_INDEX) /* tuning.h: the next edge's indices in flight */
    oeq_sb_puts(sb,
                "  long long rn = b < end ? (long long)rows[b] : -1, cn = b < end ? (long long)cols[b] : -1;\n"
                "  for (long long e = b; e < end; ++e) {\n"
                "  const long long r = rn, col = cn;\n"
                "  if (e + 1 < end) { rn = (long long)rows[e + 1]; cn = (long long)cols[e + 1]; }\n");
  else
    oeq_sb_puts(sb,
                "  for (long long e = b; e < end; ++e) {\n"
                "  const long long r = (long long)rows[e], col = (long long)cols[e];\n");
  oeq_sb_puts(sb,
              "  if (r < 0 || r >= z_rows || col < 0 || col >= x_rows) continue; // skipped, see oeq_conv_check\n"
              "  if (r != cur) {\n  if (cur >= 0) {\n");
  emit_flush(g);
  oeq_sb_puts(sb, "  }\n");
  emit_zero_accumulators(g, "");
  oeq_sb_puts(sb, "  cur = r;\n  }\n  if (!act) continue;\n");
  oeq_sb_printf(sb,
                "  const oeq_it *__restrict__ xr = x + col * %lld;\n"
                "  const oeq_it *__restrict__ yr = y + e * %lld;\n",
                (long long)s->x_dim, (long long)s->y_dim);
  if (s->shared_weights || s->weight_numel == 0)
    oeq_sb_puts(sb, "  [[maybe_unused]] const oeq_wt *__restrict__ wr = w;\n");
  else
    oeq_sb_printf(sb, "  [[maybe_unused]] const oeq_wt *__restrict__ wr = w + e * %lld;\n",
                  (long long)s->weight_numel);
  oeq_sb_puts(sb, "  (void)xr; (void)yr;\n");
  emit_shared_operands(g);
  for (int j = g->first; j < g->last; j++) {
    const oeq_block_t *b = group_block(g, j);
    char m[16];
    snprintf(m, sizeof m, "m%d_", j);
    for (int k = 0; k < b->d; k++) oeq_sb_printf(sb, "  oeq_ct m%d_%d = (oeq_ct)0;\n", j, k);
    for (int i = 0; i < s->n_paths; i++)
      if (path_in_block(&s->paths[i], b)) emit_path(c, &s->paths[i], m);
    for (int k = 0; k < b->d; k++) {
      char acc[32], comp[32], mk[32];
      snprintf(acc, sizeof acc, "a%d_%d", j, k);
      snprintf(comp, sizeof comp, "c%d_%d", j, k);
      snprintf(mk, sizeof mk, "m%d_%d", j, k);
      conv_emit_add(c, acc, comp, mk);
    }
  }
  oeq_sb_puts(sb, "  }\n  if (cur >= 0) {\n");
  emit_flush(g);
  oeq_sb_puts(sb, "  }\n  }\n");
}

void emit_conv_forward(const conv_ctx_t *c) {
  oeq_strbuf_t *sb = c->e.sb;
  const int wpb = c->warps_per_block;
  const int threads = wpb * c->e.warp_size;
  oeq_sb_printf(sb,
                "extern \"C\" __global__ void __launch_bounds__(%d)\n"
                "%s(const oeq_it *__restrict__ x, const oeq_it *__restrict__ y,\n"
                "   const oeq_wt *__restrict__ w, const oeq_ix *__restrict__ rows,\n"
                "   const oeq_ix *__restrict__ cols, oeq_it *__restrict__ z,\n"
                "   oeq_ct *__restrict__ slots, long long x_rows, long long z_rows,\n"
                "   long long edges, long long seg_len, long long n_seg, int split) {\n",
                threads, OEQ_CONV_FORWARD_KERNEL);
  const int items = conv_forward_items(c);
  /* A warp's work item is a segment (all groups: the edge data stays in L1
   * across them) or, with `split` (small graphs, too few segments to fill
   * the GPU), one (segment, group, chunk) triple. Each (segment, block,
   * chunk) sum is computed the same way either way, so split is a launch
   * choice that leaves results bitwise unchanged. */
  oeq_sb_printf(sb,
                "  const int lane = threadIdx.x %% OEQ_WARP, warp = threadIdx.x / OEQ_WARP;\n"
                "  (void)w; (void)slots;\n"
                "  const int per = split ? %d : 1;\n"
                "  for (long long it = (long long)blockIdx.x * %d + warp; it < n_seg * per;\n"
                "       it += (long long)gridDim.x * %d) {\n"
                "  const long long s = it / per;\n"
                "  int grp0 = 0, grp1 = %d, chunk0 = 0, chunk1 = 0x7fffffff / OEQ_WARP;\n"
                "  if (split) {\n  const int k = (int)(it %% per);\n",
                items, wpb, wpb, c->n_fwd_groups);
  for (int g = 0, first = 0; g < c->n_fwd_groups; g++) {
    const long long n = group_chunks(c, g);
    oeq_sb_printf(sb, "  %sif (k < %lld) { grp0 = %d; chunk0 = k - %d; }\n", g ? "else " : "", first + n, g, first);
    first += (int)n;
  }
  oeq_sb_puts(sb,
              "  grp1 = grp0 + 1; chunk1 = chunk0 + 1;\n  }\n"
              "  const long long b = s * seg_len, end = min(b + seg_len, edges);\n"
              "  const long long head = (long long)rows[b];\n");
  if (c->opt.deterministic)
    oeq_sb_puts(sb,
                "  /* the head row began in an earlier segment: its sum here goes to the slot */\n"
                "  const bool head_split = b > 0 && head >= 0 && head < z_rows &&\n"
                "                          (long long)rows[b - 1] == head;\n");
  else
    oeq_sb_puts(sb, "  const bool head_split = false;\n");
  oeq_sb_puts(sb, "  for (int grp = grp0; grp < grp1; ++grp) switch (grp) {\n");
  for (int gi = 0; gi < c->n_fwd_groups; gi++) {
    group_t g = {c, c->fwd_group_start[gi], c->fwd_group_start[gi + 1]};
    oeq_sb_printf(sb, "  case %d: {\n", gi);
    emit_group(&g);
    oeq_sb_puts(sb, "  } break;\n");
  }
  oeq_sb_puts(sb, "  default: break;\n  }\n  (void)head; (void)head_split; (void)lane;\n  }\n}\n");
}
