/* conv_backward.c: the fused backward kernel: dx (summed per sender), dy and
 * dw (per edge) in one pass.
 *
 * A warp walks its segment of edges in sender order (deterministic mode:
 * position i is edge sender_perm[i], a contiguous run of them; atomic mode:
 * every n_seg-th edge, see oeq_conv_backward_segments) and keeps the
 * dx row of the current sender in shared memory (plus its compensation in
 * Kahan mode) while the sender stays the same, so x is staged once per
 * sender. Per edge, y is staged and dy accumulated in shared memory, dz is
 * read from the receiver's row. Every sum is written by one lane or
 * reduced by a warp shuffle tree (a fixed order): no atomics, except the
 * dx flush of atomic mode. dx flush: atomic mode adds into dx (zeroed before
 * the launch); deterministic mode stores into dx, or into the segment's
 * slot when the sender began in an earlier segment (the fix-up adds it).
 * Shared-weight dw: a per-warp sum over the segment, stored in the
 * segment's dw slot and reduced in segment order by oeq_conv_dw_reduce.
 *
 * Per path, lanes own what they can write alone: uvu lanes over u (dx own,
 * dy warp-summed), uvv over v (dy own, dx warp-summed), uuu both own; uvuv
 * in two passes (lanes over u for dx, over v for dy and dw) instead of
 * shared-memory atomics, whose order would vary; uvw / uuw lanes over u,
 * looping over v and the output multiplicity. uvu paths with one y channel
 * and several chunks are factored through y (emit_factored). */
#include <stdio.h>

#include "codegen/conv_emit.h"

static const char *idx_of(const conv_ctx_t *c, int64_t off, int64_t mul, int d, const char *u, int a,
                          char buf[128]) {
  return emit_block_index(c->e.s->layout, off, mul, d, u, a, buf);
}

static void operand(const conv_ctx_t *c, const char *name, const char *smem, int64_t off, int64_t mul,
                    int d, const int used[], const char *u, const char *guard) {
  char idx[128];
  for (int a = 0; a < d; a++) {
    if (!used[a]) continue;
    idx_of(c, off, mul, d, u, a, idx);
    if (guard)
      oeq_sb_printf(c->e.sb, "  [[maybe_unused]] const oeq_ct %s%d = %s ? (oeq_ct)%s[%s] : (oeq_ct)0;\n", name, a,
                    guard, smem, idx);
    else
      oeq_sb_printf(c->e.sb, "  [[maybe_unused]] const oeq_ct %s%d = (oeq_ct)%s[%s];\n", name, a,
                    smem, idx);
  }
}

static void zeros(const conv_ctx_t *c, const char *name, int d, const int used[]) {
  for (int a = 0; a < d; a++)
    if (used[a]) oeq_sb_printf(c->e.sb, "  oeq_ct %s%d = (oeq_ct)0;\n", name, a);
}

/* g<k> from the receiver's dz row for output multiplicity `o` (guarded). */
static void load_dz(const conv_ctx_t *c, const oeq_path_t *p, const int uc[], const char *o,
                    const char *guard, const char *name) {
  char idx[128];
  for (int k = 0; k < p->d3; k++)
    if (uc[k])
      oeq_sb_printf(c->e.sb, "  const oeq_ct %s%d = %s ? (oeq_ct)OEQ_LD_DZ(&dzr[%s]) : (oeq_ct)0;\n", name, k,
                    guard, idx_of(c, p->z_offset, p->mul3, p->d3, o, k, idx));
}

/* k = C g_c; dwv += k xa yb; gx_a += k yb; gy_b += k xa (each on demand). */
static void cg_grads(const conv_ctx_t *c, const oeq_path_t *p, int gx, int gy, int dw) {
  char lit[64];
  for (int i = 0; i < p->nnz; i++) {
    const oeq_cg_nonzero_t *n = &p->nz[i];
    oeq_sb_printf(c->e.sb, "  { const oeq_ct k = %s * g%d;", emit_literal(&c->e, n->value, lit), n->c);
    if (dw) oeq_sb_printf(c->e.sb, " dwv += k * xa%d * yb%d;", n->a, n->b);
    if (gx) oeq_sb_printf(c->e.sb, " gx%d += k * yb%d;", n->a, n->b);
    if (gy) oeq_sb_printf(c->e.sb, " gy%d += k * xa%d;", n->b, n->a);
    oeq_sb_puts(c->e.sb, " }\n");
  }
}

static void dw_store(const conv_ctx_t *c, const char *index, const char *value) {
  if (c->e.s->shared_weights)
    oeq_sb_printf(c->e.sb, "  dws[%s] += %s;\n", index, value);
  else
    oeq_sb_printf(c->e.sb, "  OEQ_ST_STREAM(&dwr[%s], (oeq_wt)(%s));\n", index, value);
}

static void dx_add(const conv_ctx_t *c, const char *index, const char *value) {
  char acc[160], comp[160];
  snprintf(acc, sizeof acc, "dxs[%s]", index);
  snprintf(comp, sizeof comp, "dxc[%s]", index);
  conv_emit_add(c, acc, comp, value);
}

/* Lane-owned adds of src<a> (times scale) into a shared row. */
static void add_own(const conv_ctx_t *c, int is_dx, int64_t off, int64_t mul, int d, const int used[],
                    const char *u, const char *src, const char *scale) {
  char idx[128], val[64];
  for (int a = 0; a < d; a++) {
    if (!used[a]) continue;
    idx_of(c, off, mul, d, u, a, idx);
    snprintf(val, sizeof val, "%s%s%s%d", scale ? scale : "", scale ? " * " : "", src, a);
    if (is_dx)
      dx_add(c, idx, val);
    else
      oeq_sb_printf(c->e.sb, "  dys[%s] += %s;\n", idx, val);
  }
}

/* A gradient every lane contributes to at a warp-uniform index. */
static void add_warp_sum(const conv_ctx_t *c, int is_dx, int64_t off, int64_t mul, int d,
                         const int used[], const char *u, const char *src, const char *scale) {
  char idx[128], val[64];
  for (int a = 0; a < d; a++) {
    if (!used[a]) continue;
    idx_of(c, off, mul, d, u, a, idx);
    oeq_sb_printf(c->e.sb, "  { const oeq_ct ws = oeq_warp_sum(%s%s%s%d); if (lane == 0) {\n",
                  scale ? scale : "", scale ? " * " : "", src, a);
    snprintf(val, sizeof val, "ws");
    if (is_dx)
      dx_add(c, idx, val);
    else
      oeq_sb_printf(c->e.sb, "  dys[%s] += ws;\n", idx);
    oeq_sb_puts(c->e.sb, "  } }\n");
  }
}

/* dy of a uvu path with one y channel (mul2 == 1: every MACE / NequIP
 * convolution) has a compile-time index per component, so each lane can
 * keep its partial sums in registers (dyl<k>) across the path's channel
 * chunks and across paths, and the warp reduce each component once per
 * edge instead of once per path and chunk (a dependent shuffle chain for
 * every component of every path). It pays where a path has several chunks
 * (mul1 > the warp): mace-large's backward 14.2 -> 10.4 ms; with one chunk
 * a path (nequip-lips) the registers cost a block per SM in deterministic
 * mode and more time than the shuffles saved (bench/NOTES.md run AP).
 * Rows of up to 32 y components: a register each. */
#define DY_REGISTERS_MAX 32

static int dy_in_registers(const conv_ctx_t *c, const oeq_path_t *p) {
  return p->mode == OEQ_MODE_UVU && p->mul2 == 1 && p->mul1 > c->e.warp_size &&
         c->e.s->y_dim <= DY_REGISTERS_MAX;
}

/* Which y components some path accumulates in registers. */
static void dy_register_set(const conv_ctx_t *c, int used[DY_REGISTERS_MAX]) {
  for (int k = 0; k < DY_REGISTERS_MAX; k++) used[k] = 0;
  for (int i = 0; i < c->e.s->n_paths; i++) {
    const oeq_path_t *p = &c->e.s->paths[i];
    int ua[64], ub[64], uc[64];
    if (!dy_in_registers(c, p)) continue;
    emit_used_indices(p, ua, ub, uc);
    for (int b = 0; b < p->d2; b++)
      if (ub[b]) used[p->y_offset + b] = 1;
  }
}

/* The loop over a uvu path's channel chunks: all of them, or, where a
 * block's warps split them (c->bwd_split = W), chunks warp, warp + W, ... */
static void chunk_loop(const conv_ctx_t *c, const char *pragma, long long m1) {
  if (c->bwd_split)
    oeq_sb_printf(c->e.sb, "  %sfor (int o0 = warp * OEQ_WARP; o0 < %lld; o0 += %d * OEQ_WARP) {\n", pragma, m1,
                  c->bwd_split);
  else
    oeq_sb_printf(c->e.sb, "  %sfor (int o0 = 0; o0 < %lld; o0 += OEQ_WARP) {\n", pragma, m1);
}

/* A uvu path with one y channel, factored through y (bench/NOTES.md run
 * AR). Per edge y is one row for every u, so with
 *   K[a][c] = sum_b C[a][b][c] y[b]          (once per edge, warp-uniform)
 *   G[a]    = sum_c K[a][c] dz[u][c]         (per u)
 * the gradients are dx[u][a] = w[u] G[a], dw[u] = sum_a x[u][a] G[a], and
 *   dy[b]   = sum_{a,c} C[a][b][c] N[a][c],  N[a][c] = sum_u w[u] x[u][a] dz[u][c]
 * (N summed per lane over the path's chunks, then contracted with C once).
 * Per u that is two FMAs per distinct (a, c) plus three per a, against five
 * per nonzero unfactored; K and N cost a register per distinct (a, c) each,
 * so paths whose K and N would pass CONV_BWD_FACTOR_REGS registers keep the
 * unfactored code. Needs several chunks a path to pay for K (as
 * dy_in_registers). */
typedef struct ac_pair {
  int a, c;
} ac_pair_t;

/* The distinct (a, c) of p's nonzeros, in first-seen order; their count. */
static int ac_pairs(const oeq_path_t *p, ac_pair_t pairs[], int cap) {
  int n = 0;
  for (int i = 0; i < p->nnz; i++) {
    int j = 0;
    while (j < n && !(pairs[j].a == p->nz[i].a && pairs[j].c == p->nz[i].c)) j++;
    if (j == n) {
      if (n == cap) return -1;
      pairs[n].a = p->nz[i].a;
      pairs[n].c = p->nz[i].c;
      n++;
    }
  }
  return n;
}

#define AC_PAIRS_MAX 128

static int factored(const conv_ctx_t *c, const oeq_path_t *p) {
  ac_pair_t pairs[AC_PAIRS_MAX];
  if (!CONV_BWD_FACTORED || !dy_in_registers(c, p)) return 0;
  const int n = ac_pairs(p, pairs, AC_PAIRS_MAX);
  return n > 0 && 2 * n * (c->e.ct_is_double ? 2 : 1) <= CONV_BWD_FACTOR_REGS;
}

static void emit_factored(const conv_ctx_t *c, const oeq_path_t *p) {
  int ua[64], ub[64], uc[64];
  ac_pair_t pairs[AC_PAIRS_MAX];
  emit_used_indices(p, ua, ub, uc);
  const int np = ac_pairs(p, pairs, AC_PAIRS_MAX);
  oeq_strbuf_t *sb = c->e.sb;
  const int wt = p->has_weight;
  const long long m1 = (long long)p->mul1, wo = (long long)p->w_offset;
  char lit[64];
  oeq_sb_puts(sb, "  {\n");
  operand(c, "yb", "ys", p->y_offset, p->mul2, p->d2, ub, "0", NULL);
  for (int j = 0; j < np; j++) {
    oeq_sb_printf(sb, "  const oeq_ct K%d_%d =", pairs[j].a, pairs[j].c);
    const char *plus = " ";
    for (int i = 0; i < p->nnz; i++)
      if (p->nz[i].a == pairs[j].a && p->nz[i].c == pairs[j].c) {
        oeq_sb_printf(sb, "%s%s * yb%d", plus, emit_literal(&c->e, p->nz[i].value, lit), p->nz[i].b);
        plus = " + ";
      }
    oeq_sb_printf(sb, ";\n  oeq_ct N%d_%d = (oeq_ct)0;\n", pairs[j].a, pairs[j].c);
  }
  chunk_loop(c, CONV_BWD_FACTORED_UNROLL ? c->e.loop_pragma : "#pragma unroll 1\n  ", m1);
  oeq_sb_printf(sb, "  const int o = o0 + lane; const bool act = o < %lld; const int u = act ? o : 0;\n", m1);
  load_dz(c, p, uc, "o", "act", "g");
  operand(c, "xa", "xs", p->x_offset, p->mul1, p->d1, ua, "u", "act");
  if (wt) oeq_sb_printf(sb, "  const oeq_ct wv = act ? (oeq_ct)OEQ_LD_STREAM(&wr[%lld + u]) : (oeq_ct)0;\n", wo);
  for (int a = 0; a < p->d1; a++) {
    if (!ua[a]) continue;
    oeq_sb_printf(sb, "  const oeq_ct G%d =", a);
    const char *plus = " ";
    for (int j = 0; j < np; j++)
      if (pairs[j].a == a) {
        oeq_sb_printf(sb, "%sK%d_%d * g%d", plus, a, pairs[j].c, pairs[j].c);
        plus = " + ";
      }
    oeq_sb_puts(sb, ";\n");
  }
  if (wt) {
    char widx[64];
    const char *plus = " ";
    oeq_sb_puts(sb, "  const oeq_ct dwv =");
    for (int a = 0; a < p->d1; a++)
      if (ua[a]) {
        oeq_sb_printf(sb, "%sxa%d * G%d", plus, a, a);
        plus = " + ";
      }
    oeq_sb_puts(sb, ";\n  if (act) {\n");
    snprintf(widx, sizeof widx, "%lld + u", wo);
    dw_store(c, widx, "dwv");
    oeq_sb_puts(sb, "  }\n");
  }
  for (int a = 0; a < p->d1; a++)
    if (ua[a]) oeq_sb_printf(sb, "  const oeq_ct wx%d = %sxa%d;\n", a, wt ? "wv * " : "", a);
  for (int j = 0; j < np; j++)
    oeq_sb_printf(sb, "  N%d_%d += wx%d * g%d;\n", pairs[j].a, pairs[j].c, pairs[j].a, pairs[j].c);
  oeq_sb_puts(sb, "  if (act) {\n");
  add_own(c, 1, p->x_offset, p->mul1, p->d1, ua, "u", "G", wt ? "wv" : NULL);
  oeq_sb_puts(sb, "  }\n  }\n");
  for (int i = 0; i < p->nnz; i++) {
    const oeq_cg_nonzero_t *n = &p->nz[i];
    oeq_sb_printf(sb, "  dyl%lld += %s * N%d_%d;\n", (long long)p->y_offset + n->b,
                  emit_literal(&c->e, n->value, lit), n->a, n->c);
  }
  oeq_sb_puts(sb, "  }\n");
}

static void emit_direct(const conv_ctx_t *c, const oeq_path_t *p) {
  int ua[64], ub[64], uc[64];
  emit_used_indices(p, ua, ub, uc);
  oeq_strbuf_t *sb = c->e.sb;
  const int wt = p->has_weight;
  const char *scale = wt ? "wv" : NULL;
  const long long m1 = (long long)p->mul1, m2 = (long long)p->mul2, wo = (long long)p->w_offset;
  char widx[128];
  switch (p->mode) {
    case OEQ_MODE_UVU:
      chunk_loop(c, c->e.loop_pragma, m1);
      oeq_sb_printf(sb, "  const int o = o0 + lane; const bool act = o < %lld; const int u = act ? o : 0;\n", m1);
      load_dz(c, p, uc, "o", "act", "g");
      operand(c, "xa", "xs", p->x_offset, p->mul1, p->d1, ua, "u", "act");
      zeros(c, "dxa", p->d1, ua);
      oeq_sb_printf(sb, "  for (int v = 0; v < %lld; ++v) {\n", m2);
      operand(c, "yb", "ys", p->y_offset, p->mul2, p->d2, ub, "v", NULL);
      snprintf(widx, sizeof widx, "%lld + u * %lld + v", wo, m2);
      break;
    case OEQ_MODE_UVV:
      oeq_sb_printf(sb, "  %sfor (int o0 = 0; o0 < %lld; o0 += OEQ_WARP) {\n", c->e.loop_pragma, m2);
      oeq_sb_printf(sb, "  const int o = o0 + lane; const bool act = o < %lld; const int v = act ? o : 0;\n", m2);
      load_dz(c, p, uc, "o", "act", "g");
      operand(c, "yb", "ys", p->y_offset, p->mul2, p->d2, ub, "v", "act");
      zeros(c, "dyb", p->d2, ub);
      oeq_sb_printf(sb, "  for (int u = 0; u < %lld; ++u) {\n", m1);
      operand(c, "xa", "xs", p->x_offset, p->mul1, p->d1, ua, "u", NULL);
      snprintf(widx, sizeof widx, "%lld + u * %lld + v", wo, m2);
      break;
    default: /* UUU */
      oeq_sb_printf(sb, "  %sfor (int o0 = 0; o0 < %lld; o0 += OEQ_WARP) {\n", c->e.loop_pragma, m1);
      oeq_sb_printf(sb,
                    "  const int o = o0 + lane; const bool act = o < %lld; const int u = act ? o : 0, v = u;\n"
                    "  {\n",
                    m1);
      load_dz(c, p, uc, "o", "act", "g");
      operand(c, "xa", "xs", p->x_offset, p->mul1, p->d1, ua, "u", "act");
      operand(c, "yb", "ys", p->y_offset, p->mul2, p->d2, ub, "v", "act");
      snprintf(widx, sizeof widx, "%lld + u", wo);
      break;
  }
  if (wt) oeq_sb_printf(sb, "  const oeq_ct wv = act ? (oeq_ct)OEQ_LD_STREAM(&wr[%s]) : (oeq_ct)0;\n  oeq_ct dwv = (oeq_ct)0;\n", widx);
  zeros(c, "gx", p->d1, ua);
  zeros(c, "gy", p->d2, ub);
  cg_grads(c, p, 1, 1, wt);
  if (wt) {
    oeq_sb_puts(sb, "  if (act) {\n");
    dw_store(c, widx, "dwv");
    oeq_sb_puts(sb, "  }\n");
  }
  switch (p->mode) {
    case OEQ_MODE_UVU:
      for (int a = 0; a < p->d1; a++)
        if (ua[a]) oeq_sb_printf(sb, "  dxa%d += %sgx%d;\n", a, wt ? "wv * " : "", a);
      if (dy_in_registers(c, p)) {
        for (int b = 0; b < p->d2; b++)
          if (ub[b]) oeq_sb_printf(sb, "  dyl%lld += %sgy%d;\n", (long long)p->y_offset + b, wt ? "wv * " : "", b);
      } else {
        add_warp_sum(c, 0, p->y_offset, p->mul2, p->d2, ub, "v", "gy", scale);
      }
      oeq_sb_puts(sb, "  }\n  if (act) {\n");
      add_own(c, 1, p->x_offset, p->mul1, p->d1, ua, "u", "dxa", NULL);
      oeq_sb_puts(sb, "  }\n");
      break;
    case OEQ_MODE_UVV:
      for (int b = 0; b < p->d2; b++)
        if (ub[b]) oeq_sb_printf(sb, "  dyb%d += %sgy%d;\n", b, wt ? "wv * " : "", b);
      add_warp_sum(c, 1, p->x_offset, p->mul1, p->d1, ua, "u", "gx", scale);
      oeq_sb_puts(sb, "  }\n  if (act) {\n");
      add_own(c, 0, p->y_offset, p->mul2, p->d2, ub, "v", "dyb", NULL);
      oeq_sb_puts(sb, "  }\n");
      break;
    default:
      oeq_sb_puts(sb, "  if (act) {\n");
      add_own(c, 1, p->x_offset, p->mul1, p->d1, ua, "u", "gx", scale);
      add_own(c, 0, p->y_offset, p->mul2, p->d2, ub, "v", "gy", scale);
      oeq_sb_puts(sb, "  }\n  }\n");
      break;
  }
  oeq_sb_puts(sb, "  }\n");
}

/* uvuv: pass A lanes over u (dx), pass B lanes over v (dy, dw). */
static void emit_uvuv(const conv_ctx_t *c, const oeq_path_t *p) {
  int ua[64], ub[64], uc[64];
  emit_used_indices(p, ua, ub, uc);
  oeq_strbuf_t *sb = c->e.sb;
  const int wt = p->has_weight;
  const long long m1 = (long long)p->mul1, m2 = (long long)p->mul2, wo = (long long)p->w_offset;
  oeq_sb_printf(sb, "  for (int u0 = 0; u0 < %lld; u0 += OEQ_WARP) {\n", m1);
  oeq_sb_printf(sb, "  const bool act = u0 + lane < %lld; const int u = act ? u0 + lane : 0;\n", m1);
  operand(c, "xa", "xs", p->x_offset, p->mul1, p->d1, ua, "u", "act");
  zeros(c, "dxa", p->d1, ua);
  oeq_sb_printf(sb, "  for (int v = 0; v < %lld; ++v) {\n  const int o = u * %lld + v;\n", m2, m2);
  load_dz(c, p, uc, "o", "act", "g");
  operand(c, "yb", "ys", p->y_offset, p->mul2, p->d2, ub, "v", NULL);
  if (wt) oeq_sb_printf(sb, "  const oeq_ct wv = act ? (oeq_ct)OEQ_LD_STREAM(&wr[%lld + o]) : (oeq_ct)0;\n", wo);
  zeros(c, "gx", p->d1, ua);
  cg_grads(c, p, 1, 0, 0);
  for (int a = 0; a < p->d1; a++)
    if (ua[a]) oeq_sb_printf(sb, "  dxa%d += %sgx%d;\n", a, wt ? "wv * " : "", a);
  oeq_sb_puts(sb, "  }\n  if (act) {\n");
  add_own(c, 1, p->x_offset, p->mul1, p->d1, ua, "u", "dxa", NULL);
  oeq_sb_puts(sb, "  }\n  }\n  OEQ_SYNCWARP();\n");

  oeq_sb_printf(sb, "  for (int v0 = 0; v0 < %lld; v0 += OEQ_WARP) {\n", m2);
  oeq_sb_printf(sb, "  const bool act = v0 + lane < %lld; const int v = act ? v0 + lane : 0;\n", m2);
  operand(c, "yb", "ys", p->y_offset, p->mul2, p->d2, ub, "v", "act");
  zeros(c, "dyb", p->d2, ub);
  oeq_sb_printf(sb, "  for (int u = 0; u < %lld; ++u) {\n  const int o = u * %lld + v;\n", m1, m2);
  load_dz(c, p, uc, "o", "act", "g");
  operand(c, "xa", "xs", p->x_offset, p->mul1, p->d1, ua, "u", NULL);
  if (wt) oeq_sb_printf(sb, "  const oeq_ct wv = act ? (oeq_ct)OEQ_LD_STREAM(&wr[%lld + o]) : (oeq_ct)0;\n  oeq_ct dwv = (oeq_ct)0;\n", wo);
  zeros(c, "gy", p->d2, ub);
  cg_grads(c, p, 0, 1, wt);
  if (wt) {
    char widx[64];
    snprintf(widx, sizeof widx, "%lld + o", wo);
    oeq_sb_puts(sb, "  if (act) {\n");
    dw_store(c, widx, "dwv");
    oeq_sb_puts(sb, "  }\n");
  }
  for (int b = 0; b < p->d2; b++)
    if (ub[b]) oeq_sb_printf(sb, "  dyb%d += %sgy%d;\n", b, wt ? "wv * " : "", b);
  oeq_sb_puts(sb, "  }\n  if (act) {\n");
  add_own(c, 0, p->y_offset, p->mul2, p->d2, ub, "v", "dyb", NULL);
  oeq_sb_puts(sb, "  }\n  }\n");
}

/* uvw / uuw: lanes over u; pairs q = (u, v); g_k = sum_o W[q][o] dz[o][k]. */
static void emit_pair(const conv_ctx_t *c, const oeq_path_t *p) {
  int ua[64], ub[64], uc[64];
  emit_used_indices(p, ua, ub, uc);
  oeq_strbuf_t *sb = c->e.sb;
  const int wt = p->has_weight, uvw = p->mode == OEQ_MODE_UVW;
  const long long m1 = (long long)p->mul1, m2 = (long long)p->mul2, m3 = (long long)p->mul3;
  const long long wo = (long long)p->w_offset;
  char lit[64], idx[128];
  oeq_sb_printf(sb, "  for (int u0 = 0; u0 < %lld; u0 += OEQ_WARP) {\n", m1);
  oeq_sb_printf(sb, "  const bool act = u0 + lane < %lld; const int u = act ? u0 + lane : 0;\n", m1);
  operand(c, "xa", "xs", p->x_offset, p->mul1, p->d1, ua, "u", "act");
  zeros(c, "dxa", p->d1, ua);
  if (uvw)
    oeq_sb_printf(sb, "  for (int v = 0; v < %lld; ++v) {\n  const int q = u * %lld + v;\n", m2, m2);
  else
    oeq_sb_puts(sb, "  { const int v = u, q = u;\n");
  operand(c, "yb", "ys", p->y_offset, p->mul2, p->d2, ub, "v", uvw ? NULL : "act");
  zeros(c, "g", p->d3, uc);
  if (wt) {
    zeros(c, "tk", p->d3, uc);
    for (int i = 0; i < p->nnz; i++)
      oeq_sb_printf(sb, "  tk%d += %s * xa%d * yb%d;\n", p->nz[i].c, emit_literal(&c->e, p->nz[i].value, lit),
                    p->nz[i].a, p->nz[i].b);
  } else {
    oeq_sb_puts(sb, "  (void)q;\n");
  }
  oeq_sb_printf(sb, "  for (int o = 0; o < %lld; ++o) {\n", m3);
  for (int k = 0; k < p->d3; k++)
    if (uc[k])
      oeq_sb_printf(sb, "  const oeq_ct gz%d = (oeq_ct)OEQ_LD_DZ(&dzr[%s]);\n", k,
                    idx_of(c, p->z_offset, p->mul3, p->d3, "o", k, idx));
  if (wt) {
    char widx[128];
    snprintf(widx, sizeof widx, "%lld + (long long)q * %lld + o", wo, m3);
    oeq_sb_printf(sb, "  const oeq_ct wv = act ? (oeq_ct)OEQ_LD_STREAM(&wr[%s]) : (oeq_ct)0;\n", widx);
    oeq_sb_puts(sb, "  const oeq_ct dwv = (oeq_ct)0");
    for (int k = 0; k < p->d3; k++)
      if (uc[k]) oeq_sb_printf(sb, " + tk%d * gz%d", k, k);
    oeq_sb_puts(sb, ";\n  if (act) {\n");
    dw_store(c, widx, "dwv");
    oeq_sb_puts(sb, "  }\n");
  }
  for (int k = 0; k < p->d3; k++)
    if (uc[k]) oeq_sb_printf(sb, "  g%d += %sgz%d;\n", k, wt ? "wv * " : "", k);
  oeq_sb_puts(sb, "  }\n");
  zeros(c, "gx", p->d1, ua);
  zeros(c, "gy", p->d2, ub);
  cg_grads(c, p, 1, 1, 0);
  for (int a = 0; a < p->d1; a++)
    if (ua[a]) oeq_sb_printf(sb, "  dxa%d += gx%d;\n", a, a);
  if (uvw) {
    add_warp_sum(c, 0, p->y_offset, p->mul2, p->d2, ub, "v", "gy", NULL);
  } else {
    oeq_sb_puts(sb, "  if (act) {\n");
    add_own(c, 0, p->y_offset, p->mul2, p->d2, ub, "v", "gy", NULL);
    oeq_sb_puts(sb, "  }\n");
  }
  oeq_sb_puts(sb, "  }\n  if (act) {\n");
  add_own(c, 1, p->x_offset, p->mul1, p->d1, ua, "u", "dxa", NULL);
  oeq_sb_puts(sb, "  }\n  }\n");
}

/* `stmt` (of i) for every x element the calling lane's warp owns: all of
 * them, or, where warps split the chunks, those of its channels. */
static void for_owned_x(const conv_ctx_t *c, const char *stmt) {
  oeq_strbuf_t *sb = c->e.sb;
  const oeq_schedule_t *s = c->e.s;
  if (!c->bwd_split) {
    oeq_sb_printf(sb, "    for (int i = lane; i < %lld; i += OEQ_WARP) %s\n", (long long)s->x_dim, stmt);
    return;
  }
  for (int k = 0; k < s->n_in1_blocks; k++) {
    const oeq_block_t *b = &s->in1_blocks[k];
    const long long n = (long long)b->mul * b->d;
    char channel[48]; /* of element j of the block */
    if (n == 0) continue;
    if (s->layout == OEQ_LAYOUT_MUL_IR)
      snprintf(channel, sizeof channel, "j / %d", b->d);
    else
      snprintf(channel, sizeof channel, "j %% %lld", (long long)b->mul);
    oeq_sb_printf(sb,
                  "    for (int j = lane; j < %lld; j += OEQ_WARP)\n"
                  "      if ((%s) / OEQ_WARP %% %d == warp) { const long long i = %lld + j; %s }\n",
                  n, channel, c->bwd_split, (long long)b->offset, stmt);
  }
}

/* dx of sender `cur`, from the shared accumulator. */
static void emit_dx_flush(const conv_ctx_t *c) {
  oeq_strbuf_t *sb = c->e.sb;
  const long long xd = (long long)c->e.s->x_dim;
  const char *val = c->opt.kahan ? "(dxs[i] - dxc[i])" : "dxs[i]";
  char stmt[160];
  if (!c->opt.deterministic) {
    snprintf(stmt, sizeof stmt, "if (dxs[i] != (oeq_ct)0) atomicAdd(&dx[cur * %lld + i], (oeq_it)dxs[i]);", xd);
    for_owned_x(c, stmt);
    return;
  }
  oeq_sb_puts(sb, "  if (head_split && cur == head) {\n");
  snprintf(stmt, sizeof stmt, "dx_slots[s * %lld + i] = %s;", xd, val);
  for_owned_x(c, stmt);
  oeq_sb_puts(sb, "  } else {\n");
  snprintf(stmt, sizeof stmt, "dx[cur * %lld + i] = (oeq_it)%s;", xd, val);
  for_owned_x(c, stmt);
  oeq_sb_puts(sb, "  }\n");
}

static void emit_zero_dx(const conv_ctx_t *c) {
  const long long xd = (long long)c->e.s->x_dim;
  oeq_sb_printf(c->e.sb, "  oeq_zero(dxs, %lld, lane);\n", xd);
  if (c->opt.kahan) oeq_sb_printf(c->e.sb, "  oeq_zero(dxc, %lld, lane);\n", xd);
}

void emit_conv_backward(const conv_ctx_t *c) {
  oeq_strbuf_t *sb = c->e.sb;
  const oeq_schedule_t *s = c->e.s;
  const int wpb = c->warps_per_block, det = c->opt.deterministic;
  const long long xd = (long long)s->x_dim, yd = (long long)s->y_dim, zd = (long long)s->z_dim;
  const long long wn = (long long)s->weight_numel;
  const int shared_dw = s->shared_weights && wn > 0;
  /* the register cap only where a factored path needs it (tuning.h) */
  int any_factored = 0;
  for (int i = 0; i < s->n_paths; i++) any_factored |= factored(c, &s->paths[i]);
  char bounds[32];
  if (CONV_BWD_MIN_BLOCKS > 0 && any_factored && c->e.dialect == OEQ_DIALECT_CUDA)
    snprintf(bounds, sizeof bounds, "%d, %d", wpb * c->e.warp_size, CONV_BWD_MIN_BLOCKS);
  else
    snprintf(bounds, sizeof bounds, "%d", wpb * c->e.warp_size);
  oeq_sb_printf(sb,
                "extern \"C\" __global__ void __launch_bounds__(%s)\n"
                "%s(const oeq_it *__restrict__ x, const oeq_it *__restrict__ y,\n"
                "   const oeq_wt *__restrict__ w, const oeq_it *__restrict__ dz,\n"
                "   const oeq_ix *__restrict__ rows, const oeq_ix *__restrict__ cols,\n"
                "   const oeq_ix *__restrict__ perm, oeq_it *__restrict__ dx,\n"
                "   oeq_it *__restrict__ dy, oeq_wt *__restrict__ dw,\n"
                "   oeq_ct *__restrict__ dx_slots, oeq_ct *__restrict__ dw_slots,\n"
                "   long long x_rows, long long z_rows, long long edges, long long seg_len,\n"
                "   long long n_seg) {\n",
                bounds, OEQ_CONV_BACKWARD_KERNEL);
  oeq_sb_printf(sb,
                "  extern __shared__ __align__(16) unsigned char oeq_smem[];\n"
                "  const int lane = threadIdx.x %% OEQ_WARP, warp = threadIdx.x / OEQ_WARP;\n"
                "  unsigned char *mine = oeq_smem + warp * %zu;\n"
                "  oeq_it *xs = reinterpret_cast<oeq_it *>(mine);\n"
                "  oeq_it *ys = reinterpret_cast<oeq_it *>(mine + %zu);\n"
                "  oeq_ct *dxs = reinterpret_cast<oeq_ct *>(mine + %zu);\n"
                "  [[maybe_unused]] oeq_ct *dxc = reinterpret_cast<oeq_ct *>(mine + %zu);\n"
                "  oeq_ct *dys = reinterpret_cast<oeq_ct *>(mine + %zu);\n"
                "  [[maybe_unused]] oeq_ct *dws = reinterpret_cast<oeq_ct *>(mine + %zu);\n"
                "  (void)w; (void)dw; (void)perm; (void)dx_slots; (void)dw_slots;\n%s",
                c->b_per_warp, c->b_xs, c->b_xs + c->b_ys, c->b_xs + c->b_ys + c->b_dxs,
                c->b_xs + c->b_ys + c->b_dxs + c->b_dxc,
                c->b_xs + c->b_ys + c->b_dxs + c->b_dxc + c->b_dys,
                c->keep_dz ? "  const oeq_u64 oeq_keep = oeq_keep_policy();\n" : "");
  if (c->bwd_split) /* the block's warps walk one segment together */
    oeq_sb_puts(sb, "  for (long long s = blockIdx.x; s < n_seg; s += gridDim.x) {\n");
  else
    oeq_sb_printf(sb,
                  "  for (long long s = (long long)blockIdx.x * %d + warp; s < n_seg;\n"
                  "       s += (long long)gridDim.x * %d) {\n",
                  wpb, wpb);
  /* contiguous runs (deterministic mode, or atomic without interleaving),
   * else edges s, s + n_seg, ... (oeq_conv_backward_segments) */
  const int contiguous = det || !CONV_BWD_INTERLEAVE;
  if (contiguous)
    oeq_sb_puts(sb, "  const long long b = s * seg_len, end = min(b + seg_len, edges);\n");
  else
    oeq_sb_puts(sb, "  (void)seg_len;\n");
  if (det)
    oeq_sb_puts(sb,
                "  const long long head = oeq_sender_at(cols, perm, b, edges);\n"
                "  const bool head_split = b > 0 && head >= 0 && head < x_rows &&\n"
                "                          oeq_sender_at(cols, perm, b - 1, edges) == head;\n");
  else
    oeq_sb_puts(sb, "  const long long head = -1; const bool head_split = false;\n");
  if (shared_dw) oeq_sb_printf(sb, "  oeq_zero(dws, %lld, lane);\n", wn);
  emit_zero_dx(c);
  oeq_sb_printf(sb,
                "  long long cur = -1;\n"
                "  if (head_split) { cur = head; oeq_load_row(xs, x + cur * %lld, %lld, lane); }\n"
                "  for (long long i = %s) {\n",
                xd, xd, contiguous ? "b; i < end; ++i" : "s; i < edges; i += n_seg");
  if (det)
    oeq_sb_puts(sb, "  const long long e = (long long)perm[i];\n  if (e < 0 || e >= edges) continue;\n");
  else
    oeq_sb_puts(sb, "  const long long e = i;\n");
  oeq_sb_puts(sb,
              "  const long long col = (long long)cols[e], r = (long long)rows[e];\n"
              "  if (r < 0 || r >= z_rows || col < 0 || col >= x_rows) continue; // skipped, see oeq_conv_check\n"
              "  if (col != cur) {\n  OEQ_SYNCWARP();\n  if (cur >= 0) {\n");
  emit_dx_flush(c);
  oeq_sb_puts(sb, "  }\n  OEQ_SYNCWARP();\n");
  emit_zero_dx(c);
  oeq_sb_printf(sb, "  cur = col;\n  oeq_load_row(xs, x + col * %lld, %lld, lane);\n  }\n", xd, xd);
  oeq_sb_printf(sb,
                "  oeq_load_row(ys, y + e * %lld, %lld, lane);\n"
                "  oeq_zero(dys, %lld, lane);\n"
                "  const oeq_it *__restrict__ dzr = dz + r * %lld;\n",
                yd, yd, yd, zd);
  if (s->shared_weights || wn == 0)
    oeq_sb_puts(sb, "  [[maybe_unused]] const oeq_wt *__restrict__ wr = w;\n"
                    "  [[maybe_unused]] oeq_wt *__restrict__ dwr = dw;\n");
  else
    oeq_sb_printf(sb,
                  "  [[maybe_unused]] const oeq_wt *__restrict__ wr = w + e * %lld;\n"
                  "  [[maybe_unused]] oeq_wt *__restrict__ dwr = dw + e * %lld;\n",
                  wn, wn);
  int dy_regs[DY_REGISTERS_MAX];
  dy_register_set(c, dy_regs);
  for (int k = 0; k < DY_REGISTERS_MAX; k++)
    if (dy_regs[k]) oeq_sb_printf(sb, "  oeq_ct dyl%d = (oeq_ct)0;\n", k);
  oeq_sb_puts(sb, "  (void)dzr;\n  OEQ_SYNCWARP();\n");
  for (int i = 0; i < s->n_paths; i++) {
    const oeq_path_t *p = &s->paths[i];
    oeq_sb_printf(sb, "  // path %d (instruction %d, %s, l=%d,%d->%d)\n", i, p->instruction,
                  oeq_mode_name(p->mode), p->l1, p->l2, p->l3);
    if (is_pair_mode(p->mode))
      emit_pair(c, p);
    else if (p->mode == OEQ_MODE_UVUV)
      emit_uvuv(c, p);
    else if (factored(c, p))
      emit_factored(c, p);
    else
      emit_direct(c, p);
    oeq_sb_puts(sb, "  OEQ_SYNCWARP();\n");
  }
  for (int k = 0; k < DY_REGISTERS_MAX; k++)
    if (dy_regs[k])
      oeq_sb_printf(sb, "  { const oeq_ct ws = oeq_warp_sum(dyl%d); if (lane == 0) dys[%d] += ws; }\n", k, k);
  oeq_sb_puts(sb, "  OEQ_SYNCWARP();\n");
  /* split: dy sums over channels, so warp 0 adds the warps' partials (their
   * dys rows, b_per_warp bytes apart from its own) in warp order */
  if (c->bwd_split)
    oeq_sb_printf(sb,
                  "  __syncthreads();\n"
                  "  if (warp == 0)\n"
                  "    for (int i = lane; i < %lld; i += OEQ_WARP) {\n"
                  "      oeq_ct v = (oeq_ct)0;\n"
                  "      for (int k = 0; k < %d; ++k)\n"
                  "        v += reinterpret_cast<const oeq_ct *>(reinterpret_cast<unsigned char *>(dys) + k * %zu)[i];\n"
                  "      dy[e * %lld + i] = (oeq_it)v;\n"
                  "    }\n"
                  "  __syncthreads();\n  }\n",
                  yd, c->bwd_split, c->b_per_warp, yd);
  else
    oeq_sb_printf(sb, "  oeq_store_row(dy + e * %lld, dys, %lld, lane);\n  OEQ_SYNCWARP();\n  }\n", yd, yd);
  oeq_sb_puts(sb, "  OEQ_SYNCWARP();\n  if (cur >= 0) {\n");
  emit_dx_flush(c);
  oeq_sb_puts(sb, "  }\n");
  if (shared_dw)
    oeq_sb_printf(sb, "  oeq_store_row(dw_slots + s * %lld, dws, %lld, lane);\n", wn, wn);
  oeq_sb_puts(sb, "  OEQ_SYNCWARP();\n  (void)head;\n  }\n}\n");
}
