/* tp_bwd_mma.c: dx and dy on tensor cores, for the problems the
 * tensor-core forward takes (tp_fwd_mma.c: every path a weighted uvw / uuw
 * with shared weights); dw comes from the dw kernel (tp_dw_mma.c).
 *
 * Per path, g[r][q][k] = sum_o dz[r][o][k] W[q][o] is the matrix product
 * dZ W^T with (k, r) as rows; then dx[u][a] += sum C y[v][b] g[q][k] and
 * dy[v][b] += sum C x[u][a] g[q][k] over the path's nonzeros. A block keeps
 * W in shared memory and per tile of OEQ_FWD_ROWS rows: stages x, y, dz
 * (cp.async, the next tile in flight), has the warps share out the 16 x 8
 * (float32: three TF32 products) / 8 x 8 (float64: DMMA) tiles of every
 * path's g, then threads across rows and pairs contract g with the CG
 * coefficients into dx and dy rows in shared memory (shared-memory atomics:
 * pairs share their u and v), written out in coalesced stores. */
#include <stdio.h>

#include "codegen/emit_util.h"
#include "codegen/mma_emit.h"
#include "codegen/pair_mma.h"

static const char bwd_tile_f32[] =
    "/* acc (16 rows (k, r) x 8 pairs) += dz W^T over a path's outputs.\n"
    " * Fragments (PTX m16n8k8): a0 = A[g][t], a1 = A[g+8][t], a2 = A[g][t+4],\n"
    " * a3 = A[g+8][t+4]; b0 = B[t][g], b1 = B[t+4][g]. za: dz of row g at the\n"
    " * lane's output t (zero past the block: oleft = mul3 - t); wb: W of the\n"
    " * lane's pair g at output t. */\n"
    "__device__ __forceinline__ void oeq_bwd_tile(float *acc, const oeq_it *__restrict__ za,\n"
    "    const float *__restrict__ wb, int KSTEPS, int OSTRIDE, int oleft) {\n"
    "#pragma unroll 2\n"
    "  for (int s = 0; s < KSTEPS; ++s) {\n"
    "    const int o0 = s * 8;\n"
    "    const bool in0 = o0 < oleft, in4 = o0 + 4 < oleft;\n"
    "    const oeq_it *pa = za + o0 * OSTRIDE;\n"
    "    unsigned ah[4], al[4], bh[2], bl[2];\n"
    "    oeq_split(in0 ? (float)pa[0] : 0.f, ah[0], al[0]);\n"
    "    oeq_split(in0 ? (float)pa[8 * OEQ_MMA_ZDP] : 0.f, ah[1], al[1]);\n"
    "    oeq_split(in4 ? (float)pa[4 * OSTRIDE] : 0.f, ah[2], al[2]);\n"
    "    oeq_split(in4 ? (float)pa[4 * OSTRIDE + 8 * OEQ_MMA_ZDP] : 0.f, ah[3], al[3]);\n"
    "    oeq_split(wb[o0], bh[0], bl[0]); oeq_split(wb[o0 + 4], bh[1], bl[1]);\n"
    "    oeq_mma(acc, al, bh); oeq_mma(acc, ah, bl); oeq_mma(acc, ah, bh);\n"
    "  }\n"
    "}\n";

static const char bwd_tile_f64[] =
    "/* acc (8 x 8) += dz W^T. Fragments (PTX m8n8k4): a0 = A[g][t], b0 = B[t][g]. */\n"
    "__device__ __forceinline__ void oeq_bwd_tile(double *acc, const oeq_it *__restrict__ za,\n"
    "    const double *__restrict__ wb, int KSTEPS, int OSTRIDE, int oleft) {\n"
    "#pragma unroll 2\n"
    "  for (int s = 0; s < 2 * KSTEPS; ++s) {\n"
    "    const int o0 = s * 4;\n"
    "    oeq_mma(acc, o0 < oleft ? (double)za[o0 * OSTRIDE] : 0.0, wb[o0]);\n"
    "  }\n"
    "}\n";

/* g of path p (tiles dealt round robin to the warps, continuing from the
 * previous path's, *dealt) into its block of gs. */
static void emit_path_g(const emit_ctx_t *c, int i, int *dealt) {
  const fwd_mma_plan_t *pl = c->fwd_mma;
  const oeq_path_t *p = &c->s->paths[i];
  const fwd_path_t *fp = &pl->paths[i];
  const int mt_n = FWD_ROWS * p->d3 / pl->tm;
  const long long nt_n = fp->pairs_pad / 8, n_tiles = mt_n * nt_n;
  const int mul_ir = c->s->layout == OEQ_LAYOUT_MUL_IR;
  const long long ostride = mul_ir ? p->d3 : 1, kstride = mul_ir ? 1 : (long long)p->mul3;
  oeq_sb_printf(c->sb,
                "  // g of instruction %d (%s, l=%d,%d->%d): %lld tiles\n"
                "  for (int j = (warp + %d) %% OEQ_FWD_WARPS; j < %lld; j += OEQ_FWD_WARPS) {\n"
                "  const int kk0 = (j / %lld) * %d, q0 = (j %% %lld) * 8;\n"
                "  const int k = kk0 / OEQ_FWD_ROWS, r = kk0 %% OEQ_FWD_ROWS + fg;\n"
                "  oeq_ct acc[%d] = {};\n"
                "  oeq_bwd_tile(acc, dzs + r * OEQ_MMA_ZDP + %lld + k * %lld + ft * %lld,\n"
                "               ws + %lld + (q0 + fg) * %lld + ft, %lld, %lld, %lld - ft);\n",
                p->instruction, oeq_mode_name(p->mode), p->l1, p->l2, p->l3, n_tiles,
                (FWD_WARPS - *dealt % FWD_WARPS) % FWD_WARPS, n_tiles, nt_n, pl->tm, nt_n,
                pl->is_double ? 2 : 4, (long long)p->z_offset, kstride, ostride,
                (long long)fp->ws_off, (long long)fp->ldw, (long long)((p->mul3 + 7) / 8), ostride,
                (long long)p->mul3);
  *dealt += (int)(n_tiles % FWD_WARPS);
  /* accumulator element e: row g (+8 for e >= 2), column 2t (+1 for odd e) */
  oeq_sb_printf(c->sb,
                "  for (int e = 0; e < %d; ++e)\n"
                "    gs[%lld + (kk0 + fg + (e >> 1) * 8) * %lld + q0 + 2 * ft + (e & 1)] = acc[e];\n"
                "  }\n",
                pl->is_double ? 2 : 4, (long long)fp->ts_off, (long long)fp->ldq);
}

/* Threads of a (row, v) pair in the uvw contraction below, each taking
 * every J-th u (J: enough to fill the block, at most DY_SPLIT): dy[v] sums
 * over all u, and one shared-memory atomic per pair (64-way on
 * e3tools_transformer's dy) took the backward from 0.30 to 0.86 ms
 * (bench/NOTES.md run U). */
#define DY_SPLIT 16

/* dx and dy of path p from its g, added into the staged dx / dy rows:
 * threads across (r, v, j), each summing dy[r][v] over u = j, j + J, ...
 * in registers and adding dx[r][u] per u (uvw);
 * uuw: a thread per (r, u). */
static void emit_path_grads(const emit_ctx_t *c, int i) {
  const fwd_mma_plan_t *pl = c->fwd_mma;
  const oeq_path_t *p = &c->s->paths[i];
  const fwd_path_t *fp = &pl->paths[i];
  int ua[64], ub[64], uc[64];
  emit_used_indices(p, ua, ub, uc);
  const int uvw = p->mode == OEQ_MODE_UVW;
  long long split = (FWD_WARPS * 32) / (FWD_ROWS * (long long)p->mul2);
  if (split > DY_SPLIT) split = DY_SPLIT;
  if (split > (long long)p->mul1) split = (long long)p->mul1;
  if (split < 1 || !uvw) split = 1;
  const long long per_row = uvw ? (long long)p->mul2 * split : (long long)p->mul1;
  char idx[128], lit[64];
  oeq_sb_printf(c->sb,
                "  // dx, dy of instruction %d\n"
                "  for (int item = threadIdx.x; item < OEQ_FWD_ROWS * %lld; item += blockDim.x) {\n"
                "  const int r = item / %lld, rest = item - r * %lld;\n"
                "  const oeq_it *xr = xs + r * OEQ_MMA_XDP; const oeq_it *yr = ys + r * OEQ_MMA_YDP;\n"
                "  oeq_ct *dxr = dxs + r * OEQ_MMA_XDP; oeq_ct *dyr = dys + r * OEQ_MMA_YDP;\n",
                p->instruction, per_row, per_row, per_row);
  if (uvw)
    oeq_sb_printf(c->sb, "  const int v = rest / %lld, j = rest - v * %lld;\n", split, split);
  else
    oeq_sb_puts(c->sb, "  const int u = rest, v = rest;\n");
  for (int b = 0; b < p->d2; b++)
    if (ub[b])
      oeq_sb_printf(c->sb, "  const oeq_ct yb%d = (oeq_ct)yr[%s]; oeq_ct gy%d = (oeq_ct)0;\n", b,
                    emit_block_index(c->s->layout, p->y_offset, p->mul2, p->d2, "v", b, idx), b);
  if (uvw)
    oeq_sb_printf(c->sb,
                  "  for (int u = j; u < %lld; u += %lld) {\n"
                  "  const int q = u * %lld + v;\n",
                  (long long)p->mul1, split, (long long)p->mul2);
  else
    oeq_sb_puts(c->sb, "  {\n  const int q = u;\n");
  for (int a = 0; a < p->d1; a++)
    if (ua[a])
      oeq_sb_printf(c->sb, "  const oeq_ct xa%d = (oeq_ct)xr[%s]; oeq_ct gx%d = (oeq_ct)0;\n", a,
                    emit_block_index(c->s->layout, p->x_offset, p->mul1, p->d1, "u", a, idx), a);
  for (int k = 0; k < p->d3; k++)
    if (uc[k])
      oeq_sb_printf(c->sb, "  const oeq_ct g%d = gs[%lld + (%d * OEQ_FWD_ROWS + r) * %lld + q];\n", k,
                    (long long)fp->ts_off, k, (long long)fp->ldq);
  for (int n = 0; n < p->nnz; n++) {
    const oeq_cg_nonzero_t *z = &p->nz[n];
    oeq_sb_printf(c->sb, "  { const oeq_ct kg = %s * g%d; gx%d += kg * yb%d; gy%d += kg * xa%d; }\n",
                  emit_literal(c, z->value, lit), z->c, z->a, z->b, z->b, z->a);
  }
  for (int a = 0; a < p->d1; a++)
    if (ua[a])
      oeq_sb_printf(c->sb, "  atomicAdd(&dxr[%s], gx%d);\n",
                    emit_block_index(c->s->layout, p->x_offset, p->mul1, p->d1, "u", a, idx), a);
  oeq_sb_puts(c->sb, "  }\n");
  for (int b = 0; b < p->d2; b++)
    if (ub[b])
      oeq_sb_printf(c->sb, "  atomicAdd(&dyr[%s], gy%d);\n",
                    emit_block_index(c->s->layout, p->y_offset, p->mul2, p->d2, "v", b, idx), b);
  oeq_sb_puts(c->sb, "  }\n");
}

void emit_tp_backward_mma(const emit_ctx_t *c) {
  const fwd_mma_plan_t *pl = c->fwd_mma;
  const oeq_schedule_t *s = c->s;
  const size_t isz = oeq_dtype_size(s->irrep_dtype);
  oeq_sb_printf(c->sb,
                "// dx, dy on tensor cores (tp_bwd_mma.c)\n"
                "#define OEQ_BWD_STAGE %lld\n",
                (long long)(pl->bwd_stage_bytes / isz));
  oeq_sb_puts(c->sb, pl->is_double ? bwd_tile_f64 : bwd_tile_f32);
  mma_emit_stage(c, "oeq_bwd_stage", "OEQ_FWD_ROWS", 1);
  emit_part_begin(c, 2);
  oeq_sb_printf(c->sb,
                "extern \"C\" __global__ void __launch_bounds__(%d, 1)\n"
                "%s(const oeq_it *__restrict__ x, const oeq_it *__restrict__ y,\n"
                "   const oeq_wt *__restrict__ w, const oeq_it *__restrict__ dz,\n"
                "   oeq_it *__restrict__ dx, oeq_it *__restrict__ dy, oeq_wt *__restrict__ dw,\n"
                "   long long batch) {\n"
                "  (void)dw; /* the dw kernel's */\n",
                FWD_WARPS * 32, OEQ_TP_BACKWARD_KERNEL);
  mma_emit_block_setup(c);
  oeq_sb_printf(c->sb,
                "  oeq_ct *gs = reinterpret_cast<oeq_ct *>(oeq_smem + %zu);\n"
                "  oeq_ct *ws = reinterpret_cast<oeq_ct *>(oeq_smem + %zu);\n"
                "  oeq_ct *dxs = reinterpret_cast<oeq_ct *>(oeq_smem + %zu);\n"
                "  oeq_ct *dys = dxs + OEQ_FWD_ROWS * OEQ_MMA_XDP;\n",
                pl->bwd_ts_at, pl->bwd_ws_at, pl->bwd_dxs_at);
  pair_mma_emit_weights(c);
  /* dx, dy rows zeroed while the next tile loads */
  mma_emit_tile_loop(c, "oeq_bwd_stage", "OEQ_FWD_ROWS", "OEQ_BWD_STAGE", 1,
                     "  for (int i = threadIdx.x; i < OEQ_FWD_ROWS * (OEQ_MMA_XDP + OEQ_MMA_YDP); i += blockDim.x)\n"
                     "    dxs[i] = (oeq_ct)0;\n");
  int dealt = 0;
  for (int i = 0; i < s->n_paths; i++) emit_path_g(c, i, &dealt);
  oeq_sb_puts(c->sb, "  __syncthreads();\n");
  for (int i = 0; i < s->n_paths; i++) emit_path_grads(c, i);
  oeq_sb_printf(c->sb,
                "  __syncthreads();\n"
                "  const int nr = (int)min((long long)OEQ_FWD_ROWS, batch - r0);\n"
                "  for (int i = threadIdx.x; i < nr * %lld; i += blockDim.x) {\n"
                "    const int r = i / %lld;\n"
                "    dx[r0 * %lld + i] = (oeq_it)dxs[r * OEQ_MMA_XDP + i - r * %lld];\n"
                "  }\n"
                "  for (int i = threadIdx.x; i < nr * %lld; i += blockDim.x) {\n"
                "    const int r = i / %lld;\n"
                "    dy[r0 * %lld + i] = (oeq_it)dys[r * OEQ_MMA_YDP + i - r * %lld];\n"
                "  }\n  }\n}\n",
                (long long)s->x_dim, (long long)s->x_dim, (long long)s->x_dim, (long long)s->x_dim,
                (long long)s->y_dim, (long long)s->y_dim, (long long)s->y_dim, (long long)s->y_dim);
  emit_part_end(c);
}
