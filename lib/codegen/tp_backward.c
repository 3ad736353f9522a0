/* tp_backward.c: the backward kernel, dx, dy and dw of <dz, TP(x, y, w)> in
 * one pass.
 *
 * Per row a warp stages x and y in shared memory and accumulates dx and dy
 * there (zeroed per row, written out once at the end, so inputs that no
 * path touches get their zero gradient). Paths are processed one after
 * another with a warp barrier between them:
 *  - direct modes (uvu, uvv, uuu, uvuv): lanes across the output
 *    multiplicity o, dz staged through shared memory for coalesced reads;
 *    a chunk's dz and W loaded into registers one chunk ahead.
 *    The gradient a lane owns alone is a plain add; one shared by all lanes
 *    at a warp-uniform index (dy of uvu, dx of uvv) is a warp sum; the rest
 *    (uvuv) are shared-memory atomics.
 *  - pair modes (uvw, uuw): lanes across the pairs q = (u, v); each lane
 *    forms g[k] = sum_o W[q][o] dz[o][k] and dW[q][o] = sum_k t[q][k] dz[o][k].
 * Per-row dw is stored directly (each weight exactly once). Shared dw is
 * summed per block in shared memory when it fits and added to global memory
 * once per block (dw zeroed beforehand on the same stream), else added
 * with global atomics; where the tensor-core dw kernel (tp_dw_mma.c) runs,
 * the pair paths' shared dw is left to it. */
#include <stdio.h>

#include "codegen/emit_util.h"
#include "codegen/tuning.h"

static void emit_dw(const emit_ctx_t *c, const char *index, const char *value) {
  if (!c->s->shared_weights)
    oeq_sb_printf(c->sb, "  dwr[%s] = (oeq_wt)(%s);\n", index, value);
  else if (c->bwd_dw_private) /* the warp's own copy; one lane per weight */
    oeq_sb_printf(c->sb, "  dws[%s] += %s;\n", index, value);
  else if (c->bwd_dw_block)
    oeq_sb_printf(c->sb, "  atomicAdd(&dws[%s], %s);\n", index, value);
  else
    oeq_sb_printf(c->sb, "  atomicAdd(&dw[%s], (oeq_wt)(%s));\n", index, value);
}

static void emit_operand(const emit_ctx_t *c, const char *name, const char *smem, int64_t off,
                         int64_t mul, int d, const int used[], const char *u, const char *guard) {
  char idx[128];
  for (int a = 0; a < d; a++) {
    if (!used[a]) continue;
    emit_block_index(c->s->layout, off, mul, d, u, a, idx);
    if (guard)
      oeq_sb_printf(c->sb, "  const oeq_ct %s%d = %s ? (oeq_ct)%s[%s] : (oeq_ct)0;\n", name, a,
                    guard, smem, idx);
    else
      oeq_sb_printf(c->sb, "  const oeq_ct %s%d = (oeq_ct)%s[%s];\n", name, a, smem, idx);
  }
}

static void emit_zeros(const emit_ctx_t *c, const char *name, int d, const int used[]) {
  for (int a = 0; a < d; a++)
    if (!used || used[a]) oeq_sb_printf(c->sb, "  oeq_ct %s%d = (oeq_ct)0;\n", name, a);
}

/* For every nonzero: k = C g_c; dwv += k xa yb; gx_a += k yb; gy_b += k xa. */
static void emit_cg_gradients(const emit_ctx_t *c, const oeq_path_t *p, int with_dw) {
  char lit[64];
  for (int i = 0; i < p->nnz; i++) {
    const oeq_cg_nonzero_t *n = &p->nz[i];
    oeq_sb_printf(c->sb, "  { const oeq_ct k = %s * g%d;", emit_literal(c, n->value, lit), n->c);
    if (with_dw) oeq_sb_printf(c->sb, " dwv += k * xa%d * yb%d;", n->a, n->b);
    oeq_sb_printf(c->sb, " gx%d += k * yb%d; gy%d += k * xa%d; }\n", n->a, n->b, n->b, n->a);
  }
}

/* Prefetch of a direct path's chunk operands.
 *
 * A chunk (32 outputs of one path) needs dz[o][k] and, for most paths,
 * W[o]. Loaded at the chunk's start, each chunk waited for global memory
 * twice in a row (dz staged, a warp barrier, then W), and the warp had
 * nothing else in flight: the backward ran at about one memory latency
 * per chunk. Instead every chunk's loads go into registers pfz<j> / pfw
 * one chunk ahead: while chunk i computes, chunk i+1's loads (the next
 * chunk of the path, else the first of the next direct path) are in
 * flight, and a row's first chunk loads together with the row's x and y.
 * The cost is max d3 + 1 registers. */

/* dz goes through shared memory (scr) when lane o's d3 values are not
 * contiguous across lanes: mul_ir rows with d3 > 1. */
static int dz_staged(const emit_ctx_t *c, const oeq_path_t *p) {
  return c->s->layout == OEQ_LAYOUT_MUL_IR && p->d3 > 1;
}

/* Lane o reads one weight W[o] (a single-iteration inner loop), which can
 * be prefetched like dz; otherwise W is read inside the inner loop. */
static int weight_per_output(const oeq_path_t *p) {
  if (!p->has_weight) return 0;
  switch (p->mode) {
    case OEQ_MODE_UVU: return p->mul2 == 1;
    case OEQ_MODE_UVV: return p->mul1 == 1;
    case OEQ_MODE_UUU:
    case OEQ_MODE_UVUV: return 1;
    default: return 0;
  }
}

/* Registers pfz<j> a direct path's prefetch fills: d3 (0 without one). */
static int prefetch_width(const emit_ctx_t *c) {
  int width = 0;
  for (int i = 0; i < c->s->n_paths; i++)
    if (!is_pair_mode(c->s->paths[i].mode) && c->s->paths[i].d3 > width) width = c->s->paths[i].d3;
  return width;
}

/* Loads of the chunk starting at output o0_expr (a C expression) into
 * pfz<j> / pfw, zero where out of range. Staged: element lane + 32 j of
 * the chunk's contiguous dz span (coalesced); else dz[o][j] for o = o0 +
 * lane. */
static void emit_prefetch_chunk(const emit_ctx_t *c, const oeq_path_t *p, const char *o0_expr) {
  int ua[64], ub[64], uc[64];
  emit_used_indices(p, ua, ub, uc);
  const long long m3 = (long long)p->mul3;
  oeq_sb_printf(c->sb, "  { const int po0 = %s; const bool pact = po0 + lane < %lld;\n", o0_expr,
                m3);
  if (dz_staged(c, p)) {
    oeq_sb_printf(c->sb,
                  "    const int n = min(OEQ_WARP, %lld - po0) * %d;\n"
                  "    const oeq_it *src = dzr + %lld + (long long)po0 * %d;\n"
                  "    (void)pact;\n",
                  m3, p->d3, (long long)p->z_offset, p->d3);
    for (int j = 0; j < p->d3; j++)
      oeq_sb_printf(c->sb,
                    "    pfz%d = lane + %d * OEQ_WARP < n ? src[lane + %d * OEQ_WARP] : (oeq_it)0;\n",
                    j, j, j);
  } else {
    char idx[128];
    for (int k = 0; k < p->d3; k++)
      if (uc[k])
        oeq_sb_printf(c->sb, "    pfz%d = pact ? dzr[%s] : (oeq_it)0;\n", k,
                      emit_block_index(c->s->layout, p->z_offset, p->mul3, p->d3, "po0 + lane", k,
                                       idx));
  }
  if (weight_per_output(p))
    oeq_sb_printf(c->sb, "    pfw = pact ? wr[%lld + po0 + lane] : (oeq_wt)0;\n",
                  (long long)p->w_offset);
  oeq_sb_puts(c->sb, "  }\n");
}

/* Chunk start: the prefetched operands taken (dz into scr when staged,
 * else into g<k>; W into wcur), then the next chunk's loads issued. */
static void emit_take_chunk(const emit_ctx_t *c, const oeq_path_t *p, const oeq_path_t *next,
                            const int used_c[]) {
  if (dz_staged(c, p)) {
    oeq_sb_puts(c->sb, "  OEQ_SYNCWARP();\n"); /* the previous chunk's readers of scr are done */
    for (int j = 0; j < p->d3; j++)
      oeq_sb_printf(c->sb, "  scr[lane + %d * OEQ_WARP] = (oeq_ct)pfz%d;\n", j, j);
  } else {
    for (int k = 0; k < p->d3; k++)
      if (used_c[k]) oeq_sb_printf(c->sb, "  const oeq_ct g%d = (oeq_ct)pfz%d;\n", k, k);
  }
  if (weight_per_output(p)) oeq_sb_puts(c->sb, "  const oeq_ct wcur = (oeq_ct)pfw;\n");
  oeq_sb_printf(c->sb, "  if (o0 + OEQ_WARP < %lld) {\n", (long long)p->mul3);
  emit_prefetch_chunk(c, p, "o0 + OEQ_WARP");
  oeq_sb_puts(c->sb, "  }");
  if (next) {
    oeq_sb_puts(c->sb, " else {\n");
    emit_prefetch_chunk(c, next, "0");
    oeq_sb_puts(c->sb, "  }");
  }
  oeq_sb_puts(c->sb, "\n");
  if (dz_staged(c, p)) {
    oeq_sb_puts(c->sb, "  OEQ_SYNCWARP();\n");
    for (int k = 0; k < p->d3; k++)
      if (used_c[k])
        oeq_sb_printf(c->sb, "  const oeq_ct g%d = act ? scr[lane * %d + %d] : (oeq_ct)0;\n", k,
                      p->d3, k);
  }
}

/* dst[index(u, a)] op= (scale * src<a>) for the used a. op: "+=" or an atomic. */
static void emit_add_grad(const emit_ctx_t *c, const char *dst, int64_t off, int64_t mul, int d,
                          const int used[], const char *u, const char *src, const char *scale,
                          int atomic) {
  char idx[128];
  for (int a = 0; a < d; a++) {
    if (!used[a]) continue;
    emit_block_index(c->s->layout, off, mul, d, u, a, idx);
    if (atomic)
      oeq_sb_printf(c->sb, "  atomicAdd(&%s[%s], %s%s%s%d);\n", dst, idx, scale ? scale : "",
                    scale ? " * " : "", src, a);
    else
      oeq_sb_printf(c->sb, "  %s[%s] += %s%s%s%d;\n", dst, idx, scale ? scale : "",
                    scale ? " * " : "", src, a);
  }
}

/* A gradient all lanes share at a warp-uniform index: warp sum, lane 0 adds. */
static void emit_warp_sum_grad(const emit_ctx_t *c, const char *dst, int64_t off, int64_t mul,
                               int d, const int used[], const char *u, const char *src,
                               const char *scale) {
  char idx[128];
  for (int a = 0; a < d; a++) {
    if (!used[a]) continue;
    emit_block_index(c->s->layout, off, mul, d, u, a, idx);
    oeq_sb_printf(c->sb, "  { const oeq_ct s = oeq_warp_sum(%s%s%s%d); if (lane == 0) %s[%s] += s; }\n",
                  scale ? scale : "", scale ? " * " : "", src, a, dst, idx);
  }
}

/* uvu with a single v (the usual in2 of 1x0e+1x1o+...): every lane adds
 * to the same dy entries. Each lane keeps its partial sums over the path's
 * chunks in registers dyp<b>, and the warp sums them once per path rather
 * than once per chunk. Not across the whole row: d2 registers live only
 * within a path; 16 held for the whole row (1x0e+1x1o+1x2e+1x3o) pushed
 * ptxas from 127 to 214 registers in nequix-mp-1-main_layers, halving
 * its occupancy. */
static int dy_per_path(const oeq_path_t *p) { return p->mode == OEQ_MODE_UVU && p->mul2 == 1; }

/* next: the following path when it is direct too (its first chunk is
 * prefetched during this path's last), else NULL. */
static void emit_direct_path(const emit_ctx_t *c, const oeq_path_t *p, const oeq_path_t *next) {
  int ua[64], ub[64], uc[64];
  emit_used_indices(p, ua, ub, uc);
  const int wt = p->has_weight;
  const char *scale = wt ? "wv" : NULL;
  char widx[128];
  if (dy_per_path(p)) {
    oeq_sb_puts(c->sb, "  {\n");
    emit_zeros(c, "dyp", p->d2, ub);
  }
  oeq_sb_printf(c->sb, "  %sfor (int o0 = 0; o0 < %lld; o0 += OEQ_WARP) {\n", c->loop_pragma, (long long)p->mul3);
  oeq_sb_printf(c->sb, "  const int o = o0 + lane; const bool act = o < %lld;\n", (long long)p->mul3);
  emit_take_chunk(c, p, next, uc);
  switch (p->mode) {
    case OEQ_MODE_UVU:
      oeq_sb_puts(c->sb, "  const int u = o;\n");
      emit_operand(c, "xa", "xs", p->x_offset, p->mul1, p->d1, ua, "u", "act");
      emit_zeros(c, "dxa", p->d1, ua);
      oeq_sb_printf(c->sb, "  for (int v = 0; v < %lld; ++v) {\n", (long long)p->mul2);
      emit_operand(c, "yb", "ys", p->y_offset, p->mul2, p->d2, ub, "v", NULL);
      snprintf(widx, sizeof widx, "%lld + u * %lld + v", (long long)p->w_offset, (long long)p->mul2);
      break;
    case OEQ_MODE_UVV:
      oeq_sb_puts(c->sb, "  const int v = o;\n");
      emit_operand(c, "yb", "ys", p->y_offset, p->mul2, p->d2, ub, "v", "act");
      emit_zeros(c, "dyb", p->d2, ub);
      oeq_sb_printf(c->sb, "  for (int u = 0; u < %lld; ++u) {\n", (long long)p->mul1);
      emit_operand(c, "xa", "xs", p->x_offset, p->mul1, p->d1, ua, "u", NULL);
      snprintf(widx, sizeof widx, "%lld + u * %lld + v", (long long)p->w_offset, (long long)p->mul2);
      break;
    case OEQ_MODE_UUU:
      oeq_sb_puts(c->sb, "  const int u = o, v = o;\n  {\n");
      emit_operand(c, "xa", "xs", p->x_offset, p->mul1, p->d1, ua, "u", "act");
      emit_operand(c, "yb", "ys", p->y_offset, p->mul2, p->d2, ub, "v", "act");
      snprintf(widx, sizeof widx, "%lld + u", (long long)p->w_offset);
      break;
    default: /* UVUV */
      oeq_sb_printf(c->sb, "  const int u = o / %lld, v = o %% %lld;\n  {\n", (long long)p->mul2,
                    (long long)p->mul2);
      emit_operand(c, "xa", "xs", p->x_offset, p->mul1, p->d1, ua, "u", "act");
      emit_operand(c, "yb", "ys", p->y_offset, p->mul2, p->d2, ub, "v", "act");
      snprintf(widx, sizeof widx, "%lld + o", (long long)p->w_offset);
      break;
  }
  if (weight_per_output(p))
    oeq_sb_puts(c->sb, "  const oeq_ct wv = wcur;\n");
  else if (wt)
    oeq_sb_printf(c->sb, "  const oeq_ct wv = act ? (oeq_ct)wr[%s] : (oeq_ct)0;\n", widx);
  if (wt) oeq_sb_puts(c->sb, "  oeq_ct dwv = (oeq_ct)0;\n");
  emit_zeros(c, "gx", p->d1, ua);
  emit_zeros(c, "gy", p->d2, ub);
  emit_cg_gradients(c, p, wt);
  if (wt) {
    oeq_sb_puts(c->sb, "  if (act) {\n");
    emit_dw(c, widx, "dwv");
    oeq_sb_puts(c->sb, "  }\n");
  }
  switch (p->mode) {
    case OEQ_MODE_UVU:
      for (int a = 0; a < p->d1; a++)
        if (ua[a]) oeq_sb_printf(c->sb, "  dxa%d += %s%sgx%d;\n", a, wt ? "wv" : "", wt ? " * " : "", a);
      if (dy_per_path(p)) {
        /* v = 0 on every lane (inactive lanes add zero) */
        for (int b = 0; b < p->d2; b++)
          if (ub[b])
            oeq_sb_printf(c->sb, "  dyp%d += %s%sgy%d;\n", b, wt ? "wv" : "", wt ? " * " : "", b);
      } else {
        emit_warp_sum_grad(c, "dys", p->y_offset, p->mul2, p->d2, ub, "v", "gy", scale);
      }
      oeq_sb_puts(c->sb, "  }\n  if (act) {\n");
      emit_add_grad(c, "dxs", p->x_offset, p->mul1, p->d1, ua, "u", "dxa", NULL, 0);
      oeq_sb_puts(c->sb, "  }\n");
      break;
    case OEQ_MODE_UVV:
      for (int b = 0; b < p->d2; b++)
        if (ub[b]) oeq_sb_printf(c->sb, "  dyb%d += %s%sgy%d;\n", b, wt ? "wv" : "", wt ? " * " : "", b);
      emit_warp_sum_grad(c, "dxs", p->x_offset, p->mul1, p->d1, ua, "u", "gx", scale);
      oeq_sb_puts(c->sb, "  }\n  if (act) {\n");
      emit_add_grad(c, "dys", p->y_offset, p->mul2, p->d2, ub, "v", "dyb", NULL, 0);
      oeq_sb_puts(c->sb, "  }\n");
      break;
    default: { /* UUU: the lane owns both; UVUV: lanes share u and v */
      const int atomic = p->mode == OEQ_MODE_UVUV;
      oeq_sb_puts(c->sb, "  if (act) {\n");
      emit_add_grad(c, "dxs", p->x_offset, p->mul1, p->d1, ua, "u", "gx", scale, atomic);
      emit_add_grad(c, "dys", p->y_offset, p->mul2, p->d2, ub, "v", "gy", scale, atomic);
      oeq_sb_puts(c->sb, "  }\n  }\n");
      break;
    }
  }
  oeq_sb_puts(c->sb, "  }\n");
  if (dy_per_path(p)) {
    emit_warp_sum_grad(c, "dys", p->y_offset, p->mul2, p->d2, ub, "0", "dyp", NULL);
    oeq_sb_puts(c->sb, "  }\n");
  }
}

/* The dx / dy gradients of lane q's pair from g<k> (zero on inactive lanes).
 * Lanes share u when mul2 > 1 (uvw) and v when mul1 > 1: a warp sum where
 * every lane shares one index, else shared-memory atomics. */
static void emit_pair_input_grads(const emit_ctx_t *c, const oeq_path_t *p, const int ua[],
                                  const int ub[]) {
  char lit[64];
  const int uvw = p->mode == OEQ_MODE_UVW;
  emit_zeros(c, "gx", p->d1, ua);
  emit_zeros(c, "gy", p->d2, ub);
  for (int i = 0; i < p->nnz; i++) {
    const oeq_cg_nonzero_t *n = &p->nz[i];
    oeq_sb_printf(c->sb, "  { const oeq_ct k = %s * g%d; gx%d += k * yb%d; gy%d += k * xa%d; }\n",
                  emit_literal(c, n->value, lit), n->c, n->a, n->b, n->b, n->a);
  }
  const int x_shared = uvw && p->mul2 > 1, y_shared = uvw && p->mul1 > 1;
  /* mul1 == 1: every lane has u = 0; mul2 == 1: every lane has v = 0 */
  const int x_sum = x_shared && p->mul1 == 1, y_sum = y_shared && p->mul2 == 1;
  if (x_sum) emit_warp_sum_grad(c, "dxs", p->x_offset, p->mul1, p->d1, ua, "0", "gx", NULL);
  if (y_sum) emit_warp_sum_grad(c, "dys", p->y_offset, p->mul2, p->d2, ub, "0", "gy", NULL);
  oeq_sb_puts(c->sb, "  if (act) {\n");
  if (!x_sum) emit_add_grad(c, "dxs", p->x_offset, p->mul1, p->d1, ua, "u", "gx", NULL, x_shared);
  if (!y_sum) emit_add_grad(c, "dys", p->y_offset, p->mul2, p->d2, ub, "v", "gy", NULL, y_shared);
  oeq_sb_puts(c->sb, "  }\n");
}

/* Pair-mode opening of a chunk of 32 pairs: lane q's operands, and (weighted)
 * t[q][k] = sum_ab C x y in registers tk<k>. */
static void emit_pair_operands(const emit_ctx_t *c, const oeq_path_t *p, const int ua[],
                               const int ub[], const int uc[], long long n_pairs) {
  char lit[64];
  const int uvw = p->mode == OEQ_MODE_UVW;
  oeq_sb_printf(c->sb, "  const int q = q0 + lane; const bool act = q < %lld;\n", n_pairs);
  if (uvw)
    oeq_sb_printf(c->sb, "  const int u = act ? q / %lld : 0, v = act ? q %% %lld : 0;\n",
                  (long long)p->mul2, (long long)p->mul2);
  else
    oeq_sb_puts(c->sb, "  const int u = act ? q : 0, v = u;\n");
  oeq_sb_puts(c->sb, "  (void)u; (void)v;\n");
  emit_operand(c, "xa", "xs", p->x_offset, p->mul1, p->d1, ua, "u", "act");
  emit_operand(c, "yb", "ys", p->y_offset, p->mul2, p->d2, ub, "v", "act");
  emit_zeros(c, "g", p->d3, uc);
  if (backward_forms_dw(c, p)) {
    emit_zeros(c, "tk", p->d3, uc);
    for (int i = 0; i < p->nnz; i++)
      oeq_sb_printf(c->sb, "  tk%d += %s * xa%d * yb%d;\n", p->nz[i].c,
                    emit_literal(c, p->nz[i].value, lit), p->nz[i].a, p->nz[i].b);
  }
}

/* dz[o][k] from the staged dz row, o a C expression. */
static const char *dz_at(const emit_ctx_t *c, const oeq_path_t *p, const char *o, int k,
                         char buf[160]) {
  char idx[128];
  snprintf(buf, 160, "(oeq_ct)dzs[%s]",
           emit_block_index(c->s->layout, p->z_offset, p->mul3, p->d3, o, k, idx));
  return buf;
}

/* Pair mode, lanes across the pairs q (narrow outputs, mul3 < 8): each lane
 * forms g[k] = sum_o W[q][o] dz[o][k] and dW[q][o] = sum_k t[q][k] dz[o][k];
 * dz is a broadcast from the staged row. */
static void emit_pair_path_qlanes(const emit_ctx_t *c, const oeq_path_t *p) {
  int ua[64], ub[64], uc[64];
  emit_used_indices(p, ua, ub, uc);
  const int wt = p->has_weight;
  const long long n_pairs = (long long)pair_count(p);
  char dz[160];
  oeq_sb_printf(c->sb, "  for (int q0 = 0; q0 < %lld; q0 += OEQ_WARP) {\n", n_pairs);
  emit_pair_operands(c, p, ua, ub, uc, n_pairs);
  oeq_sb_printf(c->sb, "  for (int o = 0; o < %lld; ++o) {\n", (long long)p->mul3);
  for (int k = 0; k < p->d3; k++)
    if (uc[k]) oeq_sb_printf(c->sb, "  [[maybe_unused]] const oeq_ct gz%d = %s;\n", k, dz_at(c, p, "o", k, dz));
  if (wt) {
    char widx[128];
    snprintf(widx, sizeof widx, "%lld + (long long)q * %lld + o", (long long)p->w_offset,
             (long long)p->mul3);
    oeq_sb_printf(c->sb, "  const oeq_ct wv = act ? (oeq_ct)wr[%s] : (oeq_ct)0;\n", widx);
    if (backward_forms_dw(c, p)) {
      oeq_sb_puts(c->sb, "  const oeq_ct dwv = (oeq_ct)0");
      for (int k = 0; k < p->d3; k++)
        if (uc[k]) oeq_sb_printf(c->sb, " + tk%d * gz%d", k, k);
      oeq_sb_puts(c->sb, ";\n  if (act) {\n");
      emit_dw(c, widx, "dwv");
      oeq_sb_puts(c->sb, "  }\n");
    }
  }
  for (int k = 0; k < p->d3; k++)
    if (uc[k]) oeq_sb_printf(c->sb, "  g%d += %sgz%d;\n", k, wt ? "wv * " : "", k);
  oeq_sb_puts(c->sb, "  }\n");
  emit_pair_input_grads(c, p, ua, ub);
  oeq_sb_puts(c->sb, "  }\n");
}

/* Pair mode, lanes across the output multiplicity o (as in the forward), for
 * a chunk of 32 pairs at a time:
 *  1. lane q: t[q][k] into shared memory (pt);
 *  2. per chunk of 32 outputs, lane o: for every pair j of the chunk,
 *     W[j][o] read coalesced (kept in the tile wst[j][o]) and
 *     dW[j][o] = sum_k t[j][k] dz[o][k] written coalesced (per-row dw) or
 *     added to the warp's private copy (shared dw, no atomics);
 *  3. lane q: g[k] += sum_o wst[q][o] dz[o][k] (the tile's rows padded to
 *     33, so that the lanes' column reads hit distinct banks).
 * A single pair (mul1 = mul2 = 1) skips the tile: g is a warp sum. */
static void emit_pair_path_olanes(const emit_ctx_t *c, const oeq_path_t *p) {
  int ua[64], ub[64], uc[64];
  emit_used_indices(p, ua, ub, uc);
  const long long n_pairs = (long long)pair_count(p);
  const long long m3 = (long long)p->mul3;
  const int single = n_pairs == 1;
  char dz[160];
  oeq_sb_printf(c->sb, "  for (int q0 = 0; q0 < %lld; q0 += OEQ_WARP) {\n", n_pairs);
  emit_pair_operands(c, p, ua, ub, uc, n_pairs);
  const int with_dw = backward_forms_dw(c, p);
  /* the previous chunk's (or path's) readers of pt are done */
  oeq_sb_puts(c->sb, "  OEQ_SYNCWARP();\n");
  for (int k = 0; with_dw && k < p->d3; k++)
    if (uc[k]) oeq_sb_printf(c->sb, "  pt[lane * %d + %d] = tk%d;\n", p->d3, k, k);
  /* Every chunk full, or a single partial one: np is a constant and the
   * tile loop below unrolls completely, with no remainder loop. */
  const long long ws = c->warp_size;
  const int np_fixed = n_pairs % ws == 0 || n_pairs < ws;
  if (np_fixed)
    oeq_sb_printf(c->sb, "  OEQ_SYNCWARP();\n  const int np = %lld;\n", n_pairs < ws ? n_pairs : ws);
  else
    oeq_sb_printf(c->sb, "  OEQ_SYNCWARP();\n  const int np = min(OEQ_WARP, %lld - q0);\n", n_pairs);
  if (single) oeq_sb_puts(c->sb, "  (void)np;\n");
  oeq_sb_printf(c->sb, "  for (int o0 = 0; o0 < %lld; o0 += OEQ_WARP) {\n", m3);
  oeq_sb_printf(c->sb, "  const int o = o0 + lane; const bool oact = o < %lld;\n", m3);
  for (int k = 0; k < p->d3; k++)
    if (uc[k]) oeq_sb_printf(c->sb, "  [[maybe_unused]] const oeq_ct gz%d = oact ? %s : (oeq_ct)0;\n", k, dz_at(c, p, "o", k, dz));
  char widx[160];
  if (single) {
    snprintf(widx, sizeof widx, "%lld + o", (long long)p->w_offset);
    oeq_sb_puts(c->sb, "  {\n");
  } else {
    snprintf(widx, sizeof widx, "%lld + (long long)(q0 + j) * %lld + o", (long long)p->w_offset, m3);
    if (c->dialect == OEQ_DIALECT_HIP)
      oeq_sb_puts(c->sb, "  #pragma unroll 4\n");
    else if (np_fixed)
      oeq_sb_puts(c->sb, "  #pragma unroll\n");
    else
      oeq_sb_printf(c->sb, "  #pragma unroll %d\n", PAIR_TILE_UNROLL);
    oeq_sb_puts(c->sb, "  for (int j = 0; j < np; ++j) {\n");
  }
  oeq_sb_printf(c->sb, "  const oeq_ct wv = oact ? (oeq_ct)wr[%s] : (oeq_ct)0;\n", widx);
  if (!single) oeq_sb_puts(c->sb, "  wst[j * (OEQ_WARP + 1) + lane] = wv;\n");
  if (with_dw) {
    oeq_sb_puts(c->sb, "  const oeq_ct dwv = (oeq_ct)0");
    for (int k = 0; k < p->d3; k++)
      if (uc[k]) {
        if (single)
          oeq_sb_printf(c->sb, " + pt[%d] * gz%d", k, k);
        else
          oeq_sb_printf(c->sb, " + pt[j * %d + %d] * gz%d", p->d3, k, k);
      }
    oeq_sb_puts(c->sb, ";\n");
    oeq_sb_puts(c->sb, "  if (oact) {\n");
    emit_dw(c, widx, "dwv");
    oeq_sb_puts(c->sb, "  }\n");
  }
  if (single)
    for (int k = 0; k < p->d3; k++)
      if (uc[k]) oeq_sb_printf(c->sb, "  g%d += wv * gz%d;\n", k, k);
  oeq_sb_puts(c->sb, "  }\n");
  if (!single) {
    oeq_sb_printf(c->sb,
                  "  OEQ_SYNCWARP();\n"
                  "  if (act) {\n  const int no = min(OEQ_WARP, %lld - o0);\n"
                  "  for (int oo = 0; oo < no; ++oo) {\n"
                  "  const oeq_ct wq = wst[lane * (OEQ_WARP + 1) + oo];\n",
                  m3);
    for (int k = 0; k < p->d3; k++)
      if (uc[k]) oeq_sb_printf(c->sb, "  g%d += wq * %s;\n", k, dz_at(c, p, "o0 + oo", k, dz));
    oeq_sb_puts(c->sb, "  } }\n  OEQ_SYNCWARP();\n");
  }
  oeq_sb_puts(c->sb, "  }\n");
  if (single) /* every lane holds part of the sum over o; lane 0 owns the pair */
    for (int k = 0; k < p->d3; k++)
      if (uc[k]) oeq_sb_printf(c->sb, "  g%d = oeq_warp_sum(g%d);\n", k, k);
  emit_pair_input_grads(c, p, ua, ub);
  oeq_sb_puts(c->sb, "  }\n");
}

static void emit_pair_path(const emit_ctx_t *c, const oeq_path_t *p) {
  /* Lanes across o need mul3 wide enough to fill a fair part of the warp;
   * unweighted paths have no W or dW to coalesce. */
  if (p->has_weight && p->mul3 >= 8)
    emit_pair_path_olanes(c, p);
  else
    emit_pair_path_qlanes(c, p);
}

void emit_tp_backward(const emit_ctx_t *c) {
  const oeq_schedule_t *s = c->s;
  emit_part_begin(c, 2);
  oeq_sb_printf(c->sb,
                /* min blocks: the register budget (tp_codegen.c); HIP reads
                 * the second number as waves per EU: 2 as before there */
                "extern \"C\" __global__ void __launch_bounds__(%d, %d)\n"
                "%s(const oeq_it *__restrict__ x, const oeq_it *__restrict__ y,\n"
                "   const oeq_wt *__restrict__ w, const oeq_it *__restrict__ dz,\n"
                "   oeq_it *__restrict__ dx, oeq_it *__restrict__ dy, oeq_wt *__restrict__ dw,\n"
                "   long long batch) {\n",
                c->warps_per_block * c->warp_size,
                c->dialect == OEQ_DIALECT_HIP ? 2 : c->bwd_min_blocks, OEQ_TP_BACKWARD_KERNEL);
  oeq_sb_puts(c->sb,
              "  extern __shared__ __align__(16) unsigned char oeq_smem[];\n"
              "  const int lane = threadIdx.x % OEQ_WARP, warp = threadIdx.x / OEQ_WARP;\n"
              "  (void)w; (void)dw;\n");
  const long long dw_copy = (long long)(c->bwd_dw_copy / (c->ct_is_double ? 8 : 4));
  if (c->bwd_dw_block) {
    oeq_sb_printf(c->sb,
                  "  oeq_ct *dwb = reinterpret_cast<oeq_ct *>(oeq_smem);\n"
                  "  for (int i = threadIdx.x; i < %lld; i += blockDim.x) dwb[i] = (oeq_ct)0;\n"
                  "  __syncthreads();\n",
                  (long long)(c->bwd_dw_block / (c->ct_is_double ? 8 : 4)));
    if (c->bwd_dw_private)
      oeq_sb_printf(c->sb, "  oeq_ct *dws = dwb + warp * %lld;\n", dw_copy);
    else
      oeq_sb_puts(c->sb, "  oeq_ct *dws = dwb;\n");
  }
  {
    const size_t scr_at = c->bwd_xs + c->bwd_ys + c->bwd_dxs + c->bwd_dys;
    const size_t dzs_at = scr_at + c->bwd_scratch, pt_at = dzs_at + c->bwd_dzs,
                 wst_at = pt_at + c->bwd_pt;
    oeq_sb_printf(c->sb,
                  "  unsigned char *mine = oeq_smem + %zu + warp * %zu;\n"
                  "  oeq_it *xs = reinterpret_cast<oeq_it *>(mine);\n"
                  "  oeq_it *ys = reinterpret_cast<oeq_it *>(mine + %zu);\n"
                  "  oeq_ct *dxs = reinterpret_cast<oeq_ct *>(mine + %zu);\n"
                  "  oeq_ct *dys = reinterpret_cast<oeq_ct *>(mine + %zu);\n"
                  "  [[maybe_unused]] oeq_ct *scr = reinterpret_cast<oeq_ct *>(mine + %zu);\n"
                  "  [[maybe_unused]] oeq_it *dzs = reinterpret_cast<oeq_it *>(mine + %zu);\n"
                  "  [[maybe_unused]] oeq_ct *pt = reinterpret_cast<oeq_ct *>(mine + %zu);\n"
                  "  [[maybe_unused]] oeq_ct *wst = reinterpret_cast<oeq_ct *>(mine + %zu);\n",
                  c->bwd_dw_block, c->bwd_per_warp, c->bwd_xs, c->bwd_xs + c->bwd_ys,
                  c->bwd_xs + c->bwd_ys + c->bwd_dxs, scr_at, dzs_at, pt_at, wst_at);
  }
  const int pf_width = prefetch_width(c);
  for (int j = 0; j < pf_width; j++) oeq_sb_printf(c->sb, "  oeq_it pfz%d = (oeq_it)0;\n", j);
  oeq_sb_puts(c->sb, "  [[maybe_unused]] oeq_wt pfw = (oeq_wt)0;\n");
  oeq_sb_printf(c->sb,
                "  for (long long row = (long long)blockIdx.x * %d + warp; row < batch;\n"
                "       row += (long long)gridDim.x * %d) {\n",
                c->warps_per_block, c->warps_per_block);
  if (s->shared_weights)
    oeq_sb_puts(c->sb, "  [[maybe_unused]] const oeq_wt *__restrict__ wr = w;\n");
  else
    oeq_sb_printf(c->sb,
                  "  [[maybe_unused]] const oeq_wt *__restrict__ wr = w + row * %lld;\n"
                  "  [[maybe_unused]] oeq_wt *__restrict__ dwr = dw + row * %lld;\n",
                  (long long)s->weight_numel, (long long)s->weight_numel);
  oeq_sb_printf(c->sb, "  [[maybe_unused]] const oeq_it *__restrict__ dzr = dz + row * %lld;\n",
                (long long)s->z_dim);
  /* the row's first chunk in flight together with x and y */
  if (s->n_paths > 0 && !is_pair_mode(s->paths[0].mode)) emit_prefetch_chunk(c, &s->paths[0], "0");
  oeq_sb_printf(c->sb,
                "  oeq_load_row(xs, x + row * %lld, %lld, lane);\n"
                "  oeq_load_row(ys, y + row * %lld, %lld, lane);\n"
                "  oeq_zero(dxs, %lld, lane);\n  oeq_zero(dys, %lld, lane);\n",
                (long long)s->x_dim, (long long)s->x_dim, (long long)s->y_dim, (long long)s->y_dim,
                (long long)s->x_dim, (long long)s->y_dim);
  if (c->bwd_dzs) /* pair modes read dz both across lanes and as broadcasts */
    oeq_sb_printf(c->sb, "  oeq_load_row(dzs, dzr, %lld, lane);\n", (long long)s->z_dim);
  oeq_sb_puts(c->sb, "  OEQ_SYNCWARP();\n");
  for (int i = 0; i < s->n_paths; i++) {
    const oeq_path_t *p = &s->paths[i];
    oeq_sb_printf(c->sb, "  // path %d (instruction %d, %s, l=%d,%d->%d)\n", i, p->instruction,
                  oeq_mode_name(p->mode), p->l1, p->l2, p->l3);
    if (is_pair_mode(p->mode)) {
      emit_pair_path(c, p);
    } else {
      /* path 0's first chunk was issued with the row's x and y, a direct
       * predecessor issues the others; after a pair path, here */
      if (i > 0 && is_pair_mode(s->paths[i - 1].mode)) emit_prefetch_chunk(c, p, "0");
      const int next_direct = i + 1 < s->n_paths && !is_pair_mode(s->paths[i + 1].mode);
      emit_direct_path(c, p, next_direct ? &s->paths[i + 1] : NULL);
    }
    oeq_sb_puts(c->sb, "  OEQ_SYNCWARP();\n");
  }
  oeq_sb_puts(c->sb, "  OEQ_SYNCWARP();\n");
  oeq_sb_printf(c->sb,
                "  oeq_store_row(dx + row * %lld, dxs, %lld, lane);\n"
                "  oeq_store_row(dy + row * %lld, dys, %lld, lane);\n"
                "  OEQ_SYNCWARP();\n  }\n",
                (long long)s->x_dim, (long long)s->x_dim, (long long)s->y_dim, (long long)s->y_dim);
  if (c->bwd_dw_block) {
    /* the block's copies summed: one global atomic per weight per block */
    oeq_sb_printf(c->sb,
                  "  __syncthreads();\n"
                  "  for (int i = threadIdx.x; i < %lld; i += blockDim.x) {\n"
                  "    oeq_ct t = dwb[i];\n",
                  (long long)s->weight_numel);
    if (c->bwd_dw_private)
      oeq_sb_printf(c->sb, "    for (int k = 1; k < %d; ++k) t += dwb[k * %lld + i];\n",
                    c->warps_per_block, dw_copy);
    oeq_sb_puts(c->sb, "    if (t != (oeq_ct)0) atomicAdd(&dw[i], (oeq_wt)t);\n  }\n");
  }
  oeq_sb_puts(c->sb, "}\n");
  emit_part_end(c);
}
