/* tp_fwd_mma.c: the forward on tensor cores, for problems whose paths all
 * multiply by shared weights over pairs (uvw, uuw: e3nn's fully connected
 * product with shared weights).
 *
 * For an output block, z[r][o][k] = sum over its paths p and pairs q of
 * t_p[r][q][k] W_p[q][o]: with (k, r) as rows, a matrix product T W whose
 * W is the same for every row. A block of 8 warps keeps every W in shared
 * memory, then per tile of OEQ_FWD_ROWS rows: stages x and y (cp.async,
 * the next tile in flight),
 * writes t of every path into shared memory, and the warps share out the
 * 16 x 8 (float32) / 8 x 8 (float64) tiles of each output block, summing
 * over the block's paths and pairs with mma.sync (three TF32 products in
 * float32, the DMMA in float64: both keep their dtype's accuracy). The
 * finished rows go out from shared memory in coalesced stores (written
 * over the tile's x and y where they fit there); output blocks no path
 * reaches are zero. CUDA sm_80 and newer only. */
#include <stdio.h>
#include <stdlib.h>

#include "codegen/emit_util.h"
#include "codegen/mma_emit.h"
#include "codegen/pair_mma.h"
#include "problem.h"
#include "codegen/tuning.h"

void fwd_mma_plan_free(fwd_mma_plan_t *pl) {
  if (!pl) return;
  free(pl->paths);
  free(pl);
}

static int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

fwd_mma_plan_t *fwd_mma_plan(const oeq_schedule_t *s, const oeq_codegen_target_t *target,
                             int is_double) {
  if (target->dialect != OEQ_DIALECT_CUDA || target->sm < 80 || !s->shared_weights ||
      s->n_paths == 0 || s->weight_numel > 0x3fffffff ||
      s->weight_numel < FWD_MIN_WEIGHTS_PER_ROW_ELEMENT * (s->x_dim + s->y_dim + s->z_dim))
    return NULL;
  for (int i = 0; i < s->n_paths; i++)
    if (!s->paths[i].has_weight || !is_pair_mode(s->paths[i].mode)) return NULL;
  fwd_mma_plan_t *pl = calloc(1, sizeof *pl);
  if (!pl || !(pl->paths = calloc((size_t)s->n_paths, sizeof *pl->paths))) {
    fwd_mma_plan_free(pl);
    return NULL;
  }
  pl->is_double = is_double;
  pl->tm = is_double ? 8 : 16;
  for (int i = 0; i < s->n_paths; i++) {
    const oeq_path_t *p = &s->paths[i];
    fwd_path_t *fp = &pl->paths[i];
    fp->pairs_pad = round_up(pair_count(p), 8);
    /* A reads: lanes (g, t) at g ldq + t, distinct banks for ldq = 4 mod 8;
     * B reads: lanes at t ldw + g, distinct for ldw = 8 or 24 mod 32 (the
     * backward reads W^T, g ldw + t: two lanes a bank) */
    fp->ldq = mma_pad_to(fp->pairs_pad, 4, 8);
    fp->ldw = mma_pad_to(round_up(p->mul3, 8), 8, 16);
    fp->ts_off = pl->ts_elems;
    pl->ts_elems += (int64_t)FWD_ROWS * p->d3 * fp->ldq;
    fp->ws_off = pl->ws_elems;
    pl->ws_elems += fp->pairs_pad * fp->ldw;
  }
  const size_t isz = oeq_dtype_size(s->irrep_dtype), csz = is_double ? 8 : 4;
  pl->xdp = mma_padded_row(s->x_dim);
  pl->ydp = mma_padded_row(s->y_dim);
  pl->zdp = mma_padded_row(s->z_dim);
  pl->stage_bytes = ((size_t)FWD_ROWS * (size_t)(pl->xdp + pl->ydp) * isz + 15) / 16 * 16;
  pl->ts_at = 2 * pl->stage_bytes;
  pl->ws_at = pl->ts_at + ((size_t)pl->ts_elems * csz + 15) / 16 * 16;
  const size_t ws_end = pl->ws_at + ((size_t)pl->ws_elems * csz + 15) / 16 * 16;
  /* z rows where the tile's x and y were (one block more per SM on
   * e3tools_transformer), else after W */
  const int z_in_stage = pl->zdp <= pl->xdp + pl->ydp;
  pl->zs_at = z_in_stage ? 0 : ws_end;
  pl->shared_bytes = z_in_stage ? ws_end : ws_end + ((size_t)FWD_ROWS * (size_t)pl->zdp * isz + 15) / 16 * 16;
  /* the backward: x, y and dz staged; g where t was; dx and dy rows */
  pl->bwd_stage_bytes = ((size_t)FWD_ROWS * (size_t)(pl->xdp + pl->ydp + pl->zdp) * isz + 15) / 16 * 16;
  pl->bwd_ts_at = 2 * pl->bwd_stage_bytes;
  pl->bwd_ws_at = pl->bwd_ts_at + ((size_t)pl->ts_elems * csz + 15) / 16 * 16;
  pl->bwd_dxs_at = pl->bwd_ws_at + ((size_t)pl->ws_elems * csz + 15) / 16 * 16;
  pl->bwd_shared_bytes = pl->bwd_dxs_at + (size_t)FWD_ROWS * (size_t)(pl->xdp + pl->ydp) * csz;
  if (pl->bwd_shared_bytes > target->max_shared_per_block) pl->bwd_shared_bytes = 0;
  if (pl->shared_bytes > target->max_shared_per_block) {
    fwd_mma_plan_free(pl);
    return NULL;
  }
  return pl;
}

size_t fwd_mma_shared_bytes(const fwd_mma_plan_t *pl) { return pl->shared_bytes; }
int fwd_mma_backward_fits(const fwd_mma_plan_t *pl) { return pl->bwd_shared_bytes > 0; }
size_t fwd_mma_backward_shared_bytes(const fwd_mma_plan_t *pl) { return pl->bwd_shared_bytes; }
int fwd_mma_threads(void) { return FWD_WARPS * 32; }
int fwd_mma_rows(void) { return FWD_ROWS; }

/* ------------------------------------------------------------ emission */

/* acc += t W over one path's pairs for a tile (ta, wb: the lane's first
 * operands: t at (row g, pair t), W at (pair t, output g)). */
static const char fwd_tile_f32[] =
    "/* Fragments (PTX m16n8k8): a0 = A[g][t], a1 = A[g+8][t], a2 = A[g][t+4],\n"
    " * a3 = A[g+8][t+4]; b0 = B[t][g], b1 = B[t+4][g]. */\n"
    "__device__ __forceinline__ void oeq_fwd_tile(float *acc, const float *__restrict__ ta,\n"
    "    const float *__restrict__ wb, int KSTEPS, int LDQ, int LDW) {\n"
    "#pragma unroll 2\n"
    "  for (int s = 0; s < KSTEPS; ++s) {\n"
    "    const float *pa = ta + s * 8;\n"
    "    unsigned ah[4], al[4];\n"
    "    oeq_split(pa[0], ah[0], al[0]); oeq_split(pa[8 * LDQ], ah[1], al[1]);\n"
    "    oeq_split(pa[4], ah[2], al[2]); oeq_split(pa[8 * LDQ + 4], ah[3], al[3]);\n"
    "    const float *pb = wb + s * 8 * LDW;\n"
    "    unsigned bh[2], bl[2];\n"
    "    oeq_split(pb[0], bh[0], bl[0]); oeq_split(pb[4 * LDW], bh[1], bl[1]);\n"
    "    oeq_mma(acc, al, bh); oeq_mma(acc, ah, bl); oeq_mma(acc, ah, bh);\n"
    "  }\n"
    "}\n";

static const char fwd_tile_f64[] =
    "/* Fragments (PTX m8n8k4): a0 = A[g][t], b0 = B[t][g]. */\n"
    "__device__ __forceinline__ void oeq_fwd_tile(double *acc, const double *__restrict__ ta,\n"
    "    const double *__restrict__ wb, int KSTEPS, int LDQ, int LDW) {\n"
    "  (void)LDQ;\n"
    "#pragma unroll 2\n"
    "  for (int s = 0; s < 2 * KSTEPS; ++s) oeq_mma(acc, ta[s * 4], wb[s * 4 * LDW]);\n"
    "}\n";

/* W of every path into shared memory once per block, padded with zeros
 * (pairs to the K step, outputs to whole tiles). */
void pair_mma_emit_weights(const emit_ctx_t *c) {
  const fwd_mma_plan_t *pl = c->fwd_mma;
  for (int i = 0; i < c->s->n_paths; i++) {
    const oeq_path_t *p = &c->s->paths[i];
    const fwd_path_t *fp = &pl->paths[i];
    oeq_sb_printf(c->sb,
                  "  for (int i = threadIdx.x; i < %lld; i += blockDim.x) {\n"
                  "    const int q = i / %lld, o = i - q * %lld;\n"
                  "    const oeq_ct v = q < %lld && o < %lld ? (oeq_ct)w[%lld + q * %lld + o] : (oeq_ct)0;\n",
                  (long long)(fp->pairs_pad * fp->ldw), (long long)fp->ldw, (long long)fp->ldw,
                  (long long)pair_count(p), (long long)p->mul3, (long long)p->w_offset,
                  (long long)p->mul3);
    oeq_sb_printf(c->sb, "    ws[%lld + i] = v;\n  }\n", (long long)fp->ws_off);
  }
}

/* The tiles of output block b (rows (k, r), columns o), dealt round robin
 * to the warps continuing from the previous block's (*dealt). */
static void emit_block_tiles(const emit_ctx_t *c, const oeq_block_t *b, int *dealt) {
  const fwd_mma_plan_t *pl = c->fwd_mma;
  const oeq_schedule_t *s = c->s;
  const int mt_n = FWD_ROWS * b->d / pl->tm;
  const long long nt_n = (b->mul + 7) / 8, n_tiles = mt_n * nt_n;
  oeq_sb_printf(c->sb,
                "  // output block at %lld (%lldx, l=%d): %lld tiles\n"
                "  for (int j = (warp + %d) %% OEQ_FWD_WARPS; j < %lld; j += OEQ_FWD_WARPS) {\n"
                "  const int kk0 = (j / %lld) * %d, n0 = (j %% %lld) * 8;\n"
                "  oeq_ct acc[%d] = {};\n",
                (long long)b->offset, (long long)b->mul, b->l, n_tiles,
                (FWD_WARPS - *dealt % FWD_WARPS) % FWD_WARPS, n_tiles, nt_n, pl->tm, nt_n,
                pl->is_double ? 2 : 4);
  *dealt += (int)(n_tiles % FWD_WARPS);
  for (int i = 0; i < s->n_paths; i++) {
    const oeq_path_t *p = &s->paths[i];
    if (!path_in_block(p, b)) continue;
    const fwd_path_t *fp = &pl->paths[i];
    oeq_sb_printf(c->sb,
                  "  oeq_fwd_tile(acc, ts + %lld + (kk0 + fg) * %lld + ft, ws + %lld + ft * %lld + n0 + fg,\n"
                  "               %lld, %lld, %lld);\n",
                  (long long)fp->ts_off, (long long)fp->ldq, (long long)fp->ws_off,
                  (long long)fp->ldw, (long long)(fp->pairs_pad / 8), (long long)fp->ldq,
                  (long long)fp->ldw);
  }
  /* accumulator element e: row g (+8 for e >= 2), column 2t (+1 for odd e) */
  char zi[96];
  if (s->layout == OEQ_LAYOUT_MUL_IR)
    snprintf(zi, sizeof zi, "o * %d + k", b->d);
  else
    snprintf(zi, sizeof zi, "k * %lld + o", (long long)b->mul);
  oeq_sb_printf(c->sb,
                "  for (int e = 0; e < %d; ++e) {\n"
                "    const int kk = kk0 + fg + (e >> 1) * 8, o = n0 + 2 * ft + (e & 1);\n"
                "    const int k = kk / OEQ_FWD_ROWS, r = kk %% OEQ_FWD_ROWS;\n"
                "    if (o < %lld) zs[r * OEQ_MMA_ZDP + %lld + %s] = (oeq_it)acc[e];\n"
                "  }\n  }\n",
                pl->is_double ? 2 : 4, (long long)b->mul, (long long)b->offset, zi);
}

void emit_tp_forward_mma(const emit_ctx_t *c) {
  const fwd_mma_plan_t *pl = c->fwd_mma;
  const oeq_schedule_t *s = c->s;
  oeq_sb_printf(c->sb,
                "// the forward on tensor cores (tp_fwd_mma.c)\n"
                "#define OEQ_FWD_ROWS %d\n#define OEQ_FWD_WARPS %d\n#define OEQ_FWD_STAGE %lld\n",
                FWD_ROWS, FWD_WARPS,
                (long long)(pl->stage_bytes / oeq_dtype_size(s->irrep_dtype)));
  oeq_sb_puts(c->sb, pl->is_double ? fwd_tile_f64 : fwd_tile_f32);
  mma_emit_stage(c, "oeq_fwd_stage", "OEQ_FWD_ROWS", 0);
  emit_part_begin(c, 1);
  oeq_sb_printf(c->sb,
                "extern \"C\" __global__ void __launch_bounds__(%d, 1)\n"
                "%s(const oeq_it *__restrict__ x, const oeq_it *__restrict__ y,\n"
                "   const oeq_wt *__restrict__ w, oeq_it *__restrict__ z, long long batch) {\n",
                FWD_WARPS * 32, OEQ_TP_FORWARD_KERNEL);
  mma_emit_block_setup(c);
  oeq_sb_printf(c->sb, "  oeq_ct *ts = reinterpret_cast<oeq_ct *>(oeq_smem + %zu);\n", pl->ts_at);
  if (pl->zs_at)
    oeq_sb_printf(c->sb, "  oeq_it *zs = reinterpret_cast<oeq_it *>(oeq_smem + %zu);\n", pl->zs_at);
  oeq_sb_printf(c->sb, "  oeq_ct *ws = reinterpret_cast<oeq_ct *>(oeq_smem + %zu);\n", pl->ws_at);
  /* t and z start zero: entries no path writes (padding, unreached k and
   * output blocks) stay so */
  oeq_sb_printf(c->sb,
                "  for (int i = threadIdx.x; i < %lld; i += blockDim.x) ts[i] = (oeq_ct)0;\n",
                (long long)pl->ts_elems);
  if (pl->zs_at)
    oeq_sb_puts(c->sb,
                "  for (int i = threadIdx.x; i < OEQ_FWD_ROWS * OEQ_MMA_ZDP; i += blockDim.x) zs[i] = (oeq_it)0;\n");
  pair_mma_emit_weights(c);
  mma_emit_tile_loop(c, "oeq_fwd_stage", "OEQ_FWD_ROWS", "OEQ_FWD_STAGE", 0, NULL);
  for (int i = 0; i < s->n_paths; i++) {
    const oeq_path_t *p = &s->paths[i];
    char ts_off[32];
    snprintf(ts_off, sizeof ts_off, "%lld", (long long)pl->paths[i].ts_off);
    mma_emit_pair_t(c, p, "0", pair_count(p), ts_off, pl->paths[i].ldq, "OEQ_FWD_ROWS", pl->xdp,
                    pl->ydp);
  }
  oeq_sb_puts(c->sb, "  __syncthreads(); /* x and y read */\n");
  if (!pl->zs_at) {
    /* z rows over the stage just read: blocks no path reaches zeroed */
    oeq_sb_puts(c->sb, "  oeq_it *zs = stage + (it & 1) * OEQ_FWD_STAGE;\n");
    for (int b = 0; b < s->n_out_blocks; b++) {
      const oeq_block_t *ob = &s->out_blocks[b];
      if (ob->written) continue;
      const long long n = (long long)ob->mul * ob->d;
      oeq_sb_printf(c->sb,
                    "  for (int i = threadIdx.x; i < OEQ_FWD_ROWS * %lld; i += blockDim.x)\n"
                    "    zs[(i / %lld) * OEQ_MMA_ZDP + %lld + i %% %lld] = (oeq_it)0;\n",
                    n, n, (long long)ob->offset, n);
    }
  }
  int dealt = 0;
  for (int b = 0; b < s->n_out_blocks; b++)
    if (s->out_blocks[b].written) emit_block_tiles(c, &s->out_blocks[b], &dealt);
  oeq_sb_printf(c->sb,
                "  __syncthreads();\n"
                "  const int n = (int)min((long long)OEQ_FWD_ROWS, batch - r0) * %lld;\n"
                "  oeq_it *zr = z + r0 * %lld;\n"
                "  for (int i = threadIdx.x; i < n; i += blockDim.x) {\n"
                "    const int r = i / %lld;\n"
                "    zr[i] = zs[r * OEQ_MMA_ZDP + i - r * %lld];\n"
                "  }\n  }\n}\n",
                (long long)s->z_dim, (long long)s->z_dim, (long long)s->z_dim, (long long)s->z_dim);
  emit_part_end(c);
}
