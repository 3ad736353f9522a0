/* tp_backward.c: the backward kernel, dx, dy and dw of <dz, TP(x, y, w)> in
 * one pass.
 *
 * Per row a warp stages x and y in shared memory and accumulates dx and dy
 * there (zeroed per row, written out once at the end, so inputs that no
 * path touches get their zero gradient). Paths are processed one after
 * another with a warp barrier between them:
 *  - direct modes (uvu, uvv, uuu, uvuv): lanes across the output
 *    multiplicity o, dz staged through shared memory for coalesced reads.
 *    The gradient a lane owns alone is a plain add; one shared by all lanes
 *    at a warp-uniform index (dy of uvu, dx of uvv) is a warp sum; the rest
 *    (uvuv) are shared-memory atomics.
 *  - pair modes (uvw, uuw): lanes across the pairs q = (u, v); each lane
 *    forms g[k] = sum_o W[q][o] dz[o][k] and dW[q][o] = sum_k t[q][k] dz[o][k].
 * Per-row dw is stored directly (each weight exactly once). Shared dw is
 * summed per block in shared memory when it fits and added to global memory
 * once per block (dw zeroed beforehand on the same stream), else added
 * with global atomics. */
#include <stdio.h>

#include "codegen/emit_util.h"

static void emit_dw(const emit_ctx_t *c, const char *index, const char *value) {
  if (!c->s->shared_weights)
    oeq_sb_printf(c->sb, "  dwr[%s] = (oeq_wt)(%s);\n", index, value);
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

/* Lane o's dz chunk into registers g<k>. */
static void emit_load_dz(const emit_ctx_t *c, const oeq_path_t *p, const int used_c[]) {
  char idx[128];
  if (c->s->layout == OEQ_LAYOUT_MUL_IR && p->d3 > 1) {
    oeq_sb_printf(c->sb,
                  "  OEQ_SYNCWARP();\n"
                  "  { const int n = min(OEQ_WARP, %lld - o0) * %d;\n"
                  "    const oeq_it *src = dzr + %lld + o0 * %d;\n"
                  "    for (int i = lane; i < n; i += OEQ_WARP) scr[i] = (oeq_ct)src[i]; }\n"
                  "  OEQ_SYNCWARP();\n",
                  (long long)p->mul3, p->d3, (long long)p->z_offset, p->d3);
    for (int k = 0; k < p->d3; k++)
      if (used_c[k])
        oeq_sb_printf(c->sb, "  const oeq_ct g%d = act ? scr[lane * %d + %d] : (oeq_ct)0;\n", k,
                      p->d3, k);
  } else {
    for (int k = 0; k < p->d3; k++)
      if (used_c[k])
        oeq_sb_printf(c->sb, "  const oeq_ct g%d = act ? (oeq_ct)dzr[%s] : (oeq_ct)0;\n", k,
                      emit_block_index(c->s->layout, p->z_offset, p->mul3, p->d3, "o", k, idx));
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

static void emit_direct_path(const emit_ctx_t *c, const oeq_path_t *p) {
  int ua[64], ub[64], uc[64];
  emit_used_indices(p, ua, ub, uc);
  const int wt = p->has_weight;
  const char *scale = wt ? "wv" : NULL;
  char widx[128];
  oeq_sb_printf(c->sb, "  %sfor (int o0 = 0; o0 < %lld; o0 += OEQ_WARP) {\n", c->loop_pragma, (long long)p->mul3);
  oeq_sb_printf(c->sb, "  const int o = o0 + lane; const bool act = o < %lld;\n", (long long)p->mul3);
  emit_load_dz(c, p, uc);
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
  if (wt) oeq_sb_printf(c->sb, "  const oeq_ct wv = act ? (oeq_ct)wr[%s] : (oeq_ct)0;\n", widx);
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
      emit_warp_sum_grad(c, "dys", p->y_offset, p->mul2, p->d2, ub, "v", "gy", scale);
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
}

static void emit_pair_path(const emit_ctx_t *c, const oeq_path_t *p) {
  int ua[64], ub[64], uc[64];
  emit_used_indices(p, ua, ub, uc);
  const int uvw = p->mode == OEQ_MODE_UVW, wt = p->has_weight;
  const long long n_pairs = uvw ? (long long)(p->mul1 * p->mul2) : (long long)p->mul1;
  char idx[128], lit[64];
  oeq_sb_printf(c->sb, "  for (int q0 = 0; q0 < %lld; q0 += OEQ_WARP) {\n", n_pairs);
  oeq_sb_printf(c->sb, "  const int q = q0 + lane; const bool act = q < %lld;\n", n_pairs);
  if (uvw)
    oeq_sb_printf(c->sb, "  const int u = act ? q / %lld : 0, v = act ? q %% %lld : 0;\n",
                  (long long)p->mul2, (long long)p->mul2);
  else
    oeq_sb_puts(c->sb, "  const int u = act ? q : 0, v = u;\n");
  emit_operand(c, "xa", "xs", p->x_offset, p->mul1, p->d1, ua, "u", "act");
  emit_operand(c, "yb", "ys", p->y_offset, p->mul2, p->d2, ub, "v", "act");
  emit_zeros(c, "g", p->d3, uc);
  if (wt) {
    emit_zeros(c, "tk", p->d3, uc);
    for (int i = 0; i < p->nnz; i++)
      oeq_sb_printf(c->sb, "  tk%d += %s * xa%d * yb%d;\n", p->nz[i].c,
                    emit_literal(c, p->nz[i].value, lit), p->nz[i].a, p->nz[i].b);
  }
  oeq_sb_printf(c->sb, "  for (int o = 0; o < %lld; ++o) {\n", (long long)p->mul3);
  for (int k = 0; k < p->d3; k++)
    if (uc[k])
      oeq_sb_printf(c->sb, "  const oeq_ct gz%d = (oeq_ct)dzr[%s];\n", k,
                    emit_block_index(c->s->layout, p->z_offset, p->mul3, p->d3, "o", k, idx));
  if (wt) {
    char widx[128];
    snprintf(widx, sizeof widx, "%lld + (long long)q * %lld + o", (long long)p->w_offset,
             (long long)p->mul3);
    oeq_sb_printf(c->sb, "  const oeq_ct wv = act ? (oeq_ct)wr[%s] : (oeq_ct)0;\n", widx);
    oeq_sb_puts(c->sb, "  const oeq_ct dwv = (oeq_ct)0");
    for (int k = 0; k < p->d3; k++)
      if (uc[k]) oeq_sb_printf(c->sb, " + tk%d * gz%d", k, k);
    oeq_sb_puts(c->sb, ";\n  if (act) {\n");
    emit_dw(c, widx, "dwv");
    oeq_sb_puts(c->sb, "  }\n");
  }
  for (int k = 0; k < p->d3; k++)
    if (uc[k]) oeq_sb_printf(c->sb, "  g%d += %sgz%d;\n", k, wt ? "wv * " : "", k);
  oeq_sb_puts(c->sb, "  }\n");
  emit_zeros(c, "gx", p->d1, ua);
  emit_zeros(c, "gy", p->d2, ub);
  for (int i = 0; i < p->nnz; i++) {
    const oeq_cg_nonzero_t *n = &p->nz[i];
    oeq_sb_printf(c->sb, "  { const oeq_ct k = %s * g%d; gx%d += k * yb%d; gy%d += k * xa%d; }\n",
                  emit_literal(c, n->value, lit), n->c, n->a, n->b, n->b, n->a);
  }
  /* Lanes share u when mul2 > 1 (uvw) and v when mul1 > 1. */
  const int x_shared = uvw && p->mul2 > 1, y_shared = uvw && p->mul1 > 1;
  oeq_sb_puts(c->sb, "  if (act) {\n");
  emit_add_grad(c, "dxs", p->x_offset, p->mul1, p->d1, ua, "u", "gx", NULL, x_shared);
  emit_add_grad(c, "dys", p->y_offset, p->mul2, p->d2, ub, "v", "gy", NULL, y_shared);
  oeq_sb_puts(c->sb, "  }\n  }\n");
}

void emit_tp_backward(const emit_ctx_t *c) {
  const oeq_schedule_t *s = c->s;
  oeq_sb_printf(c->sb,
                /* min 2 blocks: no real register cap at <= 128 threads (255), but it
                 * steers ptxas away from small spills it otherwise leaves. */
                "extern \"C\" __global__ void __launch_bounds__(%d, 2)\n"
                "%s(const oeq_it *__restrict__ x, const oeq_it *__restrict__ y,\n"
                "   const oeq_wt *__restrict__ w, const oeq_it *__restrict__ dz,\n"
                "   oeq_it *__restrict__ dx, oeq_it *__restrict__ dy, oeq_wt *__restrict__ dw,\n"
                "   long long batch) {\n",
                c->warps_per_block * c->warp_size, OEQ_TP_BACKWARD_KERNEL);
  oeq_sb_puts(c->sb,
              "  extern __shared__ __align__(16) unsigned char oeq_smem[];\n"
              "  const int lane = threadIdx.x % OEQ_WARP, warp = threadIdx.x / OEQ_WARP;\n"
              "  (void)w; (void)dw;\n");
  if (c->bwd_dw_block)
    oeq_sb_printf(c->sb,
                  "  oeq_ct *dws = reinterpret_cast<oeq_ct *>(oeq_smem);\n"
                  "  for (int i = threadIdx.x; i < %lld; i += blockDim.x) dws[i] = (oeq_ct)0;\n"
                  "  __syncthreads();\n",
                  (long long)s->weight_numel);
  oeq_sb_printf(c->sb,
                "  unsigned char *mine = oeq_smem + %zu + warp * %zu;\n"
                "  oeq_it *xs = reinterpret_cast<oeq_it *>(mine);\n"
                "  oeq_it *ys = reinterpret_cast<oeq_it *>(mine + %zu);\n"
                "  oeq_ct *dxs = reinterpret_cast<oeq_ct *>(mine + %zu);\n"
                "  oeq_ct *dys = reinterpret_cast<oeq_ct *>(mine + %zu);\n"
                "  oeq_ct *scr = reinterpret_cast<oeq_ct *>(mine + %zu);\n"
                "  (void)scr;\n",
                c->bwd_dw_block, c->bwd_per_warp, c->bwd_xs, c->bwd_xs + c->bwd_ys,
                c->bwd_xs + c->bwd_ys + c->bwd_dxs, c->bwd_xs + c->bwd_ys + c->bwd_dxs + c->bwd_dys);
  oeq_sb_printf(c->sb,
                "  for (long long row = (long long)blockIdx.x * %d + warp; row < batch;\n"
                "       row += (long long)gridDim.x * %d) {\n",
                c->warps_per_block, c->warps_per_block);
  oeq_sb_printf(c->sb,
                "  oeq_load_row(xs, x + row * %lld, %lld, lane);\n"
                "  oeq_load_row(ys, y + row * %lld, %lld, lane);\n"
                "  oeq_zero(dxs, %lld, lane);\n  oeq_zero(dys, %lld, lane);\n",
                (long long)s->x_dim, (long long)s->x_dim, (long long)s->y_dim, (long long)s->y_dim,
                (long long)s->x_dim, (long long)s->y_dim);
  if (s->shared_weights)
    oeq_sb_puts(c->sb, "  const oeq_wt *__restrict__ wr = w;\n");
  else
    oeq_sb_printf(c->sb,
                  "  const oeq_wt *__restrict__ wr = w + row * %lld;\n"
                  "  oeq_wt *__restrict__ dwr = dw + row * %lld;\n  (void)dwr;\n",
                  (long long)s->weight_numel, (long long)s->weight_numel);
  oeq_sb_printf(c->sb,
                "  const oeq_it *__restrict__ dzr = dz + row * %lld;\n  (void)wr; (void)dzr;\n"
                "  OEQ_SYNCWARP();\n",
                (long long)s->z_dim);
  for (int i = 0; i < s->n_paths; i++) {
    const oeq_path_t *p = &s->paths[i];
    oeq_sb_printf(c->sb, "  // path %d (instruction %d, %s, l=%d,%d->%d)\n", i, p->instruction,
                  oeq_mode_name(p->mode), p->l1, p->l2, p->l3);
    if (p->mode == OEQ_MODE_UVW || p->mode == OEQ_MODE_UUW)
      emit_pair_path(c, p);
    else
      emit_direct_path(c, p);
    oeq_sb_puts(c->sb, "  OEQ_SYNCWARP();\n");
  }
  oeq_sb_printf(c->sb,
                "  oeq_store_row(dx + row * %lld, dxs, %lld, lane);\n"
                "  oeq_store_row(dy + row * %lld, dys, %lld, lane);\n"
                "  OEQ_SYNCWARP();\n  }\n",
                (long long)s->x_dim, (long long)s->x_dim, (long long)s->y_dim, (long long)s->y_dim);
  if (c->bwd_dw_block)
    oeq_sb_printf(c->sb,
                  "  __syncthreads();\n"
                  "  for (int i = threadIdx.x; i < %lld; i += blockDim.x)\n"
                  "    if (dws[i] != (oeq_ct)0) atomicAdd(&dw[i], (oeq_wt)dws[i]);\n",
                  (long long)s->weight_numel);
  oeq_sb_puts(c->sb, "}\n");
}
