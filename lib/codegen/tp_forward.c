/* tp_forward.c: the forward kernel, z = TP(x, y, w).
 *
 * Per row, a warp stages x and y in shared memory (16-byte loads), then
 * produces the output blocks one after another. For an output block the
 * lanes run across its multiplicity o, each accumulating all 2l+1
 * components in registers over every path into that block (e3nn sums the
 * paths of a block), so z is written exactly once and never read. Per-row
 * weights are either staged in shared-memory windows of several blocks or,
 * where a window would cost occupancy, prefetched into registers one
 * output chunk ahead.
 *
 * "Direct" modes (uvu, uvv, uuu, uvuv) give each output multiplicity its
 * (u, v) pairs directly. "Pair" modes (uvw, uuw) are a small matrix product
 * over the multiplicities: the lanes first compute t[q][k] = sum_ab C x y
 * for 32 pairs q into shared memory, then every lane o accumulates
 * sum_q W[q][o] t[q][k] with W read coalesced across o. */
#include <stdio.h>

#include "codegen/emit_util.h"
#include "codegen/tuning.h"

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

/* Where a block's weights are read: the row in global memory ("wr", base 0),
 * the shared-memory window holding weights [base, ...) ("wst"), or, for
 * one path, the register its weight was prefetched into (reg). */
typedef struct {
  const char *name;
  int64_t base;
  const char *reg;
} weight_src_t;

/* One direct-mode path's contribution to lane o's accumulators. */
static void emit_direct_path(const emit_ctx_t *c, const oeq_path_t *p, weight_src_t ws) {
  int used_a[64], used_b[64], used_c[64];
  emit_used_indices(p, used_a, used_b, used_c);
  const char *wrow = p->has_weight && !ws.reg ? "wr" : NULL;
  oeq_sb_printf(c->sb, "  // path %d (instruction %d, %s, l=%d,%d->%d)\n", (int)(p - c->s->paths),
                p->instruction, oeq_mode_name(p->mode), p->l1, p->l2, p->l3);
  oeq_sb_puts(c->sb, "  if (act) {\n");
  if (p->has_weight && ws.reg) oeq_sb_printf(c->sb, "  const oeq_ct wv = %s;\n", ws.reg);
  switch (p->mode) {
    case OEQ_MODE_UVU:
      oeq_sb_puts(c->sb, "  const int u = o;\n");
      emit_load_operand(c, "xa", "xs", p->x_offset, p->mul1, p->d1, used_a, "u", NULL);
      oeq_sb_printf(c->sb, "  for (int v = 0; v < %lld; ++v) {\n", (long long)p->mul2);
      emit_load_operand(c, "yb", "ys", p->y_offset, p->mul2, p->d2, used_b, "v", NULL);
      if (wrow)
        oeq_sb_printf(c->sb, "  const oeq_ct wv = (oeq_ct)%s[%lld + u * %lld + v];\n", ws.name,
                      (long long)(p->w_offset - ws.base), (long long)p->mul2);
      break;
    case OEQ_MODE_UVV:
      oeq_sb_puts(c->sb, "  const int v = o;\n");
      emit_load_operand(c, "yb", "ys", p->y_offset, p->mul2, p->d2, used_b, "v", NULL);
      oeq_sb_printf(c->sb, "  for (int u = 0; u < %lld; ++u) {\n", (long long)p->mul1);
      emit_load_operand(c, "xa", "xs", p->x_offset, p->mul1, p->d1, used_a, "u", NULL);
      if (wrow)
        oeq_sb_printf(c->sb, "  const oeq_ct wv = (oeq_ct)%s[%lld + u * %lld + v];\n", ws.name,
                      (long long)(p->w_offset - ws.base), (long long)p->mul2);
      break;
    case OEQ_MODE_UUU:
      oeq_sb_puts(c->sb, "  const int u = o, v = o;\n  {\n");
      emit_load_operand(c, "xa", "xs", p->x_offset, p->mul1, p->d1, used_a, "u", NULL);
      emit_load_operand(c, "yb", "ys", p->y_offset, p->mul2, p->d2, used_b, "v", NULL);
      if (wrow)
        oeq_sb_printf(c->sb, "  const oeq_ct wv = (oeq_ct)%s[%lld + u];\n", ws.name,
                      (long long)(p->w_offset - ws.base));
      break;
    default: /* OEQ_MODE_UVUV: output multiplicity o = u * mul2 + v */
      oeq_sb_printf(c->sb, "  const int u = o / %lld, v = o %% %lld;\n  {\n", (long long)p->mul2,
                    (long long)p->mul2);
      emit_load_operand(c, "xa", "xs", p->x_offset, p->mul1, p->d1, used_a, "u", NULL);
      emit_load_operand(c, "yb", "ys", p->y_offset, p->mul2, p->d2, used_b, "v", NULL);
      if (wrow)
        oeq_sb_printf(c->sb, "  const oeq_ct wv = (oeq_ct)%s[%lld + o];\n", ws.name,
                      (long long)(p->w_offset - ws.base));
      break;
  }
  emit_cg_accumulate(c, p, p->has_weight ? "wv" : NULL, "acc%d");
  oeq_sb_puts(c->sb, "  }\n  }\n");
}

/* tk<k> = sum_ab C_abk x y of pair q (a variable in scope) of pair path
 * p: u and v from q, the operands from the staged row (xs, ys). */
static void emit_pair_t(const emit_ctx_t *c, const oeq_path_t *p) {
  int used_a[64], used_b[64], used_c[64];
  emit_used_indices(p, used_a, used_b, used_c);
  if (p->mode == OEQ_MODE_UVW)
    oeq_sb_printf(c->sb, "  const int u = q / %lld, v = q %% %lld;\n", (long long)p->mul2,
                  (long long)p->mul2);
  else
    oeq_sb_puts(c->sb, "  const int u = q, v = q;\n");
  emit_load_operand(c, "xa", "xs", p->x_offset, p->mul1, p->d1, used_a, "u", NULL);
  emit_load_operand(c, "yb", "ys", p->y_offset, p->mul2, p->d2, used_b, "v", NULL);
  for (int k = 0; k < p->d3; k++) oeq_sb_printf(c->sb, "  oeq_ct tk%d = (oeq_ct)0;\n", k);
  emit_cg_accumulate(c, p, NULL, "tk%d");
}

/* One pair-mode path (uvw, uuw): t for 32 pairs at a time in shared
 * memory, then the weighted sum over pairs for lane o. */
static void emit_pair_path(const emit_ctx_t *c, const oeq_path_t *p, weight_src_t ws) {
  const long long n_pairs = (long long)pair_count(p);
  oeq_sb_printf(c->sb, "  // path %d (instruction %d, %s, l=%d,%d->%d)\n", (int)(p - c->s->paths),
                p->instruction, oeq_mode_name(p->mode), p->l1, p->l2, p->l3);
  oeq_sb_printf(c->sb, "  for (int q0 = 0; q0 < %lld; q0 += OEQ_WARP) {\n", n_pairs);
  oeq_sb_puts(c->sb, "  OEQ_SYNCWARP();\n  { const int q = q0 + lane;\n");
  oeq_sb_printf(c->sb, "  if (q < %lld) {\n", n_pairs);
  emit_pair_t(c, p);
  for (int k = 0; k < p->d3; k++)
    oeq_sb_printf(c->sb, "  pt[lane * %d + %d] = tk%d;\n", p->d3, k, k);
  oeq_sb_puts(c->sb, "  } }\n  OEQ_SYNCWARP();\n");
  oeq_sb_printf(c->sb,
                "  if (act) {\n  const int np = min(OEQ_WARP, %lld - q0);\n"
                "  for (int j = 0; j < np; ++j) {\n",
                n_pairs);
  if (p->has_weight)
    oeq_sb_printf(c->sb, "  const oeq_ct wv = (oeq_ct)%s[%lld + (long long)(q0 + j) * %lld + o];\n",
                  ws.name, (long long)(p->w_offset - ws.base), (long long)p->mul3);
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

/* Lane o's accumulators over every path into block b, then the store;
 * o0, o and act are in scope. With pw >= 0 the weights come from the
 * registers pw<pw>_<k> (k: the block's weighted paths in order). */
static void emit_block_chunk(const emit_ctx_t *c, const oeq_block_t *b, weight_src_t ws, int pw) {
  for (int k = 0; k < b->d; k++) oeq_sb_printf(c->sb, "  oeq_ct acc%d = (oeq_ct)0;\n", k);
  int slot = 0;
  for (int i = 0; i < c->s->n_paths; i++) {
    const oeq_path_t *p = &c->s->paths[i];
    if (!path_in_block(p, b)) continue;
    char reg[32];
    if (pw >= 0 && p->has_weight) {
      snprintf(reg, sizeof reg, "pw%d_%d", pw, slot++);
      ws.reg = reg;
    } else {
      ws.reg = NULL;
    }
    if (is_pair_mode(p->mode))
      emit_pair_path(c, p, ws);
    else
      emit_direct_path(c, p, ws);
  }
  emit_store_block(c, b);
}

/* Narrow output blocks (multiplicity x 2l+1 at most this many values)
 * that only pair paths reach run with the lanes across the pairs instead:
 * with the lanes across a multiplicity of 1 or 6 (tetris-poly-2's 0o+6x0e)
 * all but a few lanes idled while each active one walked the pairs in a
 * dependent chain. Each lane now sums its pairs' W[q][o] t[q][k] for every
 * (o, k) in registers, and one warp sum per value ends the block. */
#define FWD_NARROW_MAX_VALUES 16

static int narrow_block(const emit_ctx_t *c, const oeq_block_t *b) {
  if (b->mul * b->d > FWD_NARROW_MAX_VALUES) return 0;
  int paths = 0;
  for (int i = 0; i < c->s->n_paths; i++) {
    const oeq_path_t *p = &c->s->paths[i];
    if (!path_in_block(p, b)) continue;
    if (!is_pair_mode(p->mode)) return 0;
    paths++;
  }
  return paths > 0;
}

static void emit_narrow_block(const emit_ctx_t *c, const oeq_block_t *b, weight_src_t ws) {
  const int m = (int)b->mul, d = b->d;
  oeq_sb_puts(c->sb, "  {\n");
  for (int o = 0; o < m; o++)
    for (int k = 0; k < d; k++) oeq_sb_printf(c->sb, "  oeq_ct acc%d_%d = (oeq_ct)0;\n", o, k);
  for (int i = 0; i < c->s->n_paths; i++) {
    const oeq_path_t *p = &c->s->paths[i];
    if (!path_in_block(p, b)) continue;
    int used_a[64], used_b[64], used_c[64];
    emit_used_indices(p, used_a, used_b, used_c);
    oeq_sb_printf(c->sb, "  // path %d (instruction %d, %s, l=%d,%d->%d), lanes across pairs\n",
                  i, p->instruction, oeq_mode_name(p->mode), p->l1, p->l2, p->l3);
    oeq_sb_printf(c->sb, "  for (int q = lane; q < %lld; q += OEQ_WARP) {\n", (long long)pair_count(p));
    emit_pair_t(c, p);
    for (int o = 0; o < m; o++) {
      /* W[q][o] of this path: e3nn's [u][v][w] (uvw) or [u][w] (uuw) */
      if (p->has_weight)
        oeq_sb_printf(c->sb, "  { const oeq_ct wv = (oeq_ct)%s[%lld + (long long)q * %d + %d];",
                      ws.name, (long long)(p->w_offset - ws.base), m, o);
      else
        oeq_sb_puts(c->sb, "  {");
      for (int k = 0; k < d; k++)
        if (used_c[k])
          oeq_sb_printf(c->sb, " acc%d_%d += %stk%d;", o, k, p->has_weight ? "wv * " : "", k);
      oeq_sb_puts(c->sb, " }\n");
    }
    oeq_sb_puts(c->sb, "  }\n");
  }
  char idx[128], o_text[16];
  for (int o = 0; o < m; o++) {
    snprintf(o_text, sizeof o_text, "%d", o);
    for (int k = 0; k < d; k++)
      oeq_sb_printf(c->sb, "  { const oeq_ct s = oeq_warp_sum(acc%d_%d); if (lane == 0) zr[%s] = (oeq_it)s; }\n",
                    o, k, emit_block_index(c->s->layout, b->offset, b->mul, b->d, o_text, k, idx));
  }
  oeq_sb_puts(c->sb, "  }\n");
}

static void emit_output_block(const emit_ctx_t *c, int ob, weight_src_t ws) {
  const oeq_block_t *b = &c->s->out_blocks[ob];
  if (b->mul == 0) return;
  oeq_sb_printf(c->sb, "  // output block %d: %lldx%d\n", ob, (long long)b->mul, b->l);
  if (!b->written) {
    /* e3nn: a block no path reaches is zeros (written, never assumed). */
    oeq_sb_printf(c->sb, "  oeq_zero(zr + %lld, %lld, lane);\n", (long long)b->offset,
                  (long long)(b->mul * b->d));
    return;
  }
  if (narrow_block(c, b)) {
    emit_narrow_block(c, b, ws);
    return;
  }
  oeq_sb_printf(c->sb, "  %sfor (int o0 = 0; o0 < %lld; o0 += OEQ_WARP) {\n", c->loop_pragma, (long long)b->mul);
  oeq_sb_printf(c->sb, "  const int o = o0 + lane; const bool act = o < %lld;\n", (long long)b->mul);
  emit_block_chunk(c, b, ws, -1);
  oeq_sb_puts(c->sb, "  }\n");
}

/* Prefetching forward (no weight window): the output blocks' 32-wide
 * chunks ("steps") are written out one after another, and the per-row
 * weights of step s + FWD_PREFETCH_STEPS (tuning.h) are loaded into
 * registers before step s computes, so that a step does not wait a
 * global-memory latency for its own weights. Registers are what these
 * kernels have spare: shared memory bounds their occupancy. */
/* Straight-line steps cost compile time; past this many, loops instead. */
#define FWD_PREFETCH_MAX_STEPS 256

/* Whether every weighted path reads one weight per lane and step, at
 * w_offset + o (so that the loads can be issued steps ahead), and the
 * steps are few enough to write out: the prefetching forward applies. */
static int forward_prefetches(const emit_ctx_t *c) {
  const oeq_schedule_t *s = c->s;
  if (c->dialect != OEQ_DIALECT_CUDA || c->fwd_ws || s->shared_weights || s->weight_numel == 0)
    return 0;
  for (int i = 0; i < s->n_paths; i++) {
    const oeq_path_t *p = &s->paths[i];
    if (!p->has_weight) continue;
    if (is_pair_mode(p->mode) || (p->mode == OEQ_MODE_UVU && p->mul2 != 1) ||
        (p->mode == OEQ_MODE_UVV && p->mul1 != 1))
      return 0;
  }
  long long steps = 0;
  for (int ob = 0; ob < s->n_out_blocks; ob++)
    if (s->out_blocks[ob].written) steps += (s->out_blocks[ob].mul + c->warp_size - 1) / c->warp_size;
  return steps > 0 && steps <= FWD_PREFETCH_MAX_STEPS;
}

/* The weights of step number idx (block ob, chunk o0) into pw<idx>_<k>. */
static void emit_prefetch_weights(const emit_ctx_t *c, int ob, long long o0, int idx) {
  const oeq_block_t *b = &c->s->out_blocks[ob];
  int slot = 0;
  for (int i = 0; i < c->s->n_paths; i++) {
    const oeq_path_t *p = &c->s->paths[i];
    if (!p->has_weight || !path_in_block(p, b)) continue;
    oeq_sb_printf(c->sb, "  const oeq_ct pw%d_%d = %lld + lane < %lld ? (oeq_ct)wr[%lld + lane] : (oeq_ct)0;\n",
                  idx, slot++, o0, (long long)b->mul, (long long)(p->w_offset + o0));
  }
}

static void emit_prefetching_blocks(const emit_ctx_t *c) {
  const oeq_schedule_t *s = c->s;
  /* the steps, in order: (block, chunk start) */
  int n = 0;
  int step_ob[FWD_PREFETCH_MAX_STEPS];
  long long step_o0[FWD_PREFETCH_MAX_STEPS];
  for (int ob = 0; ob < s->n_out_blocks; ob++)
    if (s->out_blocks[ob].written)
      for (long long o0 = 0; o0 < s->out_blocks[ob].mul; o0 += c->warp_size)
        step_ob[n] = ob, step_o0[n++] = o0;
  /* the first steps' weights go out with x's and y's */
  for (int i = 0; i < n && i < FWD_PREFETCH_STEPS; i++) emit_prefetch_weights(c, step_ob[i], step_o0[i], i);
  oeq_sb_puts(c->sb, "  OEQ_SYNCWARP();\n");
  /* blocks no path reaches (zeros; no weights) */
  for (int ob = 0; ob < s->n_out_blocks; ob++)
    if (!s->out_blocks[ob].written) emit_output_block(c, ob, (weight_src_t){"wr", 0, NULL});
  for (int i = 0; i < n; i++) {
    const oeq_block_t *b = &s->out_blocks[step_ob[i]];
    if (i + FWD_PREFETCH_STEPS < n)
      emit_prefetch_weights(c, step_ob[i + FWD_PREFETCH_STEPS], step_o0[i + FWD_PREFETCH_STEPS],
                            i + FWD_PREFETCH_STEPS);
    oeq_sb_printf(c->sb, "  // output block %d: %lldx%d, outputs %lld..\n  {\n", step_ob[i],
                  (long long)b->mul, b->l, step_o0[i]);
    oeq_sb_printf(c->sb, "  const int o0 = %lld, o = o0 + lane; const bool act = o < %lld;\n",
                  step_o0[i], (long long)b->mul);
    emit_block_chunk(c, b, (weight_src_t){"wr", 0, NULL}, i);
    oeq_sb_puts(c->sb, "  }\n");
  }
}

/* Weights [lo, hi) the paths into block ob read (lo = hi: none). */
static void block_weights(const oeq_schedule_t *s, int ob, int64_t *lo, int64_t *hi) {
  const oeq_block_t *b = &s->out_blocks[ob];
  *lo = *hi = 0;
  for (int i = 0; i < s->n_paths; i++) {
    const oeq_path_t *p = &s->paths[i];
    if (!p->has_weight || p->w_count == 0 || !path_in_block(p, b)) continue;
    if (*hi == *lo) *lo = p->w_offset, *hi = p->w_offset;
    if (p->w_offset < *lo) *lo = p->w_offset;
    if (p->w_offset + p->w_count > *hi) *hi = p->w_offset + p->w_count;
  }
}

/* Blocks ob .. (returned end) whose weights fit one shared-memory window
 * of c->fwd_ws bytes, staged with one row copy ([lo, hi); lo = hi when
 * the block at ob reads none or too many: then from global memory). A
 * window of several blocks turns one global-latency wait per block and
 * chunk into one per window. */
static int weight_window(const emit_ctx_t *c, int ob, int64_t *lo, int64_t *hi) {
  const oeq_schedule_t *s = c->s;
  const int64_t room = (int64_t)(c->fwd_ws / oeq_dtype_size(s->weight_dtype));
  block_weights(s, ob, lo, hi);
  if (*hi - *lo > room) *lo = *hi = 0;
  if (*hi == *lo) return ob + 1;
  int end = ob + 1;
  for (; end < s->n_out_blocks; end++) {
    int64_t l2, h2;
    block_weights(s, end, &l2, &h2);
    if (h2 == l2) continue; /* reads no weights: rides along */
    int64_t nl = l2 < *lo ? l2 : *lo, nh = h2 > *hi ? h2 : *hi;
    if (nh - nl > room) break;
    *lo = nl, *hi = nh;
  }
  return end;
}

/* The output blocks in order, their weights read from shared-memory
 * windows (c->fwd_ws > 0, weight_window) or else straight from the row. */
static void emit_windowed_blocks(const emit_ctx_t *c) {
  int ob = 0;
  for (int window = 0; ob < c->s->n_out_blocks; window++) {
    int64_t lo = 0, hi = 0;
    const int end = c->fwd_ws ? weight_window(c, ob, &lo, &hi) : ob + 1;
    if (hi > lo) {
      /* the first window's loads go out with x's and y's */
      if (window > 0) oeq_sb_puts(c->sb, "  OEQ_SYNCWARP();\n");
      oeq_sb_printf(c->sb, "  oeq_load_row(wst, wr + %lld, %lld, lane);\n", (long long)lo, (long long)(hi - lo));
    }
    if (window == 0 || hi > lo) oeq_sb_puts(c->sb, "  OEQ_SYNCWARP();\n");
    for (; ob < end; ob++)
      emit_output_block(c, ob, hi > lo ? (weight_src_t){"wst", lo, NULL} : (weight_src_t){"wr", 0, NULL});
  }
}

void emit_tp_forward(const emit_ctx_t *c) {
  const oeq_schedule_t *s = c->s;
  /* ptxas (through NVRTC) caps some forward kernels at 32-72 registers and
   * spills 4-20 bytes (f32 and f64 on sm_80, f64 on sm_90); an explicit
   * min-blocks of 1 (no real cap) steers it off that. f32 on sm_90 keeps the
   * plain bound, measured fastest (min-blocks 2 there cost 10-30%, NOTES
   * run 2). */
  /* With a weight window the plain bound left an 8-byte spill at 32
   * registers (SevenNet first layer, sm_90), min-blocks 8 (<= 64
   * registers) spilled on mace-large; min-blocks 6 (<= 80) on neither. */
  const int threads = c->warps_per_block * c->warp_size;
  /* (HIP reads the macro's #else branch too: no bound measured there) */
  const int sm90_min_blocks =
      c->fwd_ws > 0 && c->dialect == OEQ_DIALECT_CUDA ? fwd_window_min_blocks(threads) : 0;
  char sm90_bounds[64];
  if (sm90_min_blocks > 0)
    snprintf(sm90_bounds, sizeof sm90_bounds, "__launch_bounds__(%d, %d)", threads, sm90_min_blocks);
  else
    snprintf(sm90_bounds, sizeof sm90_bounds, "__launch_bounds__(%d)", threads);
  emit_part_begin(c, 1);
  oeq_sb_printf(c->sb,
                "#if defined(__CUDA_ARCH__) && (__CUDA_ARCH__ < 900 || %d)\n"
                "#define OEQ_FWD_BOUNDS __launch_bounds__(%d, 1)\n"
                "#else\n"
                "#define OEQ_FWD_BOUNDS %s\n"
                "#endif\n"
                "extern \"C\" __global__ void OEQ_FWD_BOUNDS\n"
                "%s(const oeq_it *__restrict__ x, const oeq_it *__restrict__ y,\n"
                "   const oeq_wt *__restrict__ w, oeq_it *__restrict__ z, long long batch) {\n",
                c->ct_is_double, threads, sm90_bounds, OEQ_TP_FORWARD_KERNEL);
  oeq_sb_printf(c->sb,
                "  extern __shared__ __align__(16) unsigned char oeq_smem[];\n"
                "  const int lane = threadIdx.x %% OEQ_WARP, warp = threadIdx.x / OEQ_WARP;\n"
                "  unsigned char *mine = oeq_smem + warp * %zu;\n"
                "  oeq_it *xs = reinterpret_cast<oeq_it *>(mine);\n"
                "  oeq_it *ys = reinterpret_cast<oeq_it *>(mine + %zu);\n"
                "  [[maybe_unused]] oeq_ct *scr = reinterpret_cast<oeq_ct *>(mine + %zu);\n"
                "  [[maybe_unused]] oeq_ct *pt = reinterpret_cast<oeq_ct *>(mine + %zu);\n",
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
    oeq_sb_puts(c->sb, "  [[maybe_unused]] const oeq_wt *__restrict__ wr = w;\n");
  else
    oeq_sb_printf(c->sb, "  [[maybe_unused]] const oeq_wt *__restrict__ wr = w + row * %lld;\n",
                  (long long)s->weight_numel);
  if (c->fwd_ws)
    oeq_sb_printf(c->sb,
                  "  [[maybe_unused]] oeq_wt *wst = reinterpret_cast<oeq_wt *>(mine + %zu);\n",
                  c->fwd_per_warp - c->fwd_ws);
  oeq_sb_printf(c->sb, "  oeq_it *__restrict__ zr = z + row * %lld;\n",
                (long long)s->z_dim);
  if (forward_prefetches(c))
    emit_prefetching_blocks(c);
  else
    emit_windowed_blocks(c);
  oeq_sb_puts(c->sb, "  OEQ_SYNCWARP();\n  }\n}\n");
  emit_part_end(c);
}
