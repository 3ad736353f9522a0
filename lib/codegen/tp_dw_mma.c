/* tp_dw_mma.c: shared-weight dw of the pair paths (uvw, uuw) on tensor
 * cores, a kernel of its own beside the backward.
 *
 * With weights shared by every row, a pair path's weight gradient is one
 * matrix product over the whole batch:
 *     dW[q][o] = sum_r sum_k t[r][q][k] dz[r][o][k],
 *     t[r][q][k] = sum_ab C_abk x[r][u(q)][a] y[r][v(q)][b].
 * The per-row backward formed it as 32-wide rank-1 updates into a private
 * shared-memory copy of dw per warp (e3tools_transformer: 25.6 KB a warp,
 * one warp per block, 7 warps per SM). Here a block stages a tile of
 * OEQ_DW_ROWS rows (x, y, dz), writes t for the tile into shared memory as
 * the A operand (pairs q down, (k, r) across), and each warp accumulates
 * its 16 x 8 (float32) or 8 x 8 (float64) tiles of dW in registers with
 * mma.sync over the K = rows x (2l+1) dimension; at the end every tile is
 * added to dw once per block (dw is zeroed first on the stream).
 *
 * Float64 uses the DMMA (m8n8k4), exact like any float64 FMA. Float32 is
 * computed as three TF32 products (a = a_hi + a_lo, b likewise; a_hi b_hi +
 * a_hi b_lo + a_lo b_hi), which keeps float32's accuracy (the dropped
 * a_lo b_lo is ~2^-22 relative): TF32 alone (10 bits) would not match e3nn.
 *
 * Tiles are split into groups (blockIdx.y) so that a warp holds at most
 * DW_SLOTS tiles of accumulators and a group's t fits in shared memory;
 * every group re-reads the row tiles it needs. The groups share one body:
 * what a group does is read from tables (emit_tables). CUDA sm_80 and
 * newer only. */
#include <stdio.h>
#include <stdlib.h>

#include "codegen/emit_util.h"
#include "codegen/mma_emit.h"
#include "problem.h"
#include "codegen/tuning.h"

#define DW_WARPS 8
/* Accumulator tiles per warp and group: 32 registers (float32: 4 a tile,
 * float64: 2 doubles). */
#define DW_SLOTS 8
/* Rows a block stages at a time (fewer where 16 rows of x, y and dz do
 * not fit in shared memory: dw_mma_plan). */
#define DW_ROWS 16
/* Groups re-read every row: past this many, the backward's own dw (a
 * global atomic per weight and row) is left to it. 128 x 64 tiles: e.g.
 * 128x0e+128x1o+128x2e fully connected in float64 (2,816 tiles, 44
 * groups). */
#define DW_MAX_GROUPS 128
/* A group's t operand at most this many bytes. */
#define DW_TS_MAX_BYTES (48 * 1024)

typedef struct dw_tile {
  int path;      /* schedule path */
  int gp;        /* index of the path within its group */
  int64_t m0;    /* first pair q of the tile */
  int64_t n0;    /* first output o of the tile */
} dw_tile_t;

typedef struct dw_group_path {
  int path;
  int64_t q_lo, q_hi; /* pairs whose t the group builds */
  int64_t ldq;        /* leading dimension of its t block (pairs, padded) */
  int64_t ts_off;     /* element offset of its t block */
} dw_group_path_t;

typedef struct dw_group {
  int first_tile, n_tiles;
  int first_gp, n_gp;
  int64_t ts_elems;
} dw_group_t;

struct dw_mma_plan {
  int is_double;
  int tm;           /* tile rows (pairs): 16 float32, 8 float64 */
  int rows;         /* batch rows staged at a time (DW_ROWS, 8 or 4) */
  int n_tiles, n_gps, n_groups;
  dw_tile_t *tiles;
  dw_group_path_t *gps;
  dw_group_t *groups;
  int64_t xdp, ydp, zdp; /* padded row strides of the staged tiles */
  size_t shared_bytes;
  int min_blocks; /* __launch_bounds__ minimum blocks per SM */
};

static int takes_dw(const oeq_path_t *p) { return p->has_weight && is_pair_mode(p->mode); }

void dw_mma_plan_free(dw_mma_plan_t *pl) {
  if (!pl) return;
  free(pl->tiles);
  free(pl->gps);
  free(pl->groups);
  free(pl);
}

/* ldq: the pairs of a t block padded to whole tiles, then to a stride whose
 * rows start in distinct banks for the A-fragment reads (lanes g + 8 t /
 * g + 4 t apart: 8 mod 32 words in float32, 4 mod 16 doubles). */
static int64_t padded_ldq(int64_t n, int is_double, int tm) {
  n = (n + tm - 1) / tm * tm;
  return is_double ? mma_pad_to(n, 4, 16) : mma_pad_to(n, 8, 32);
}

/* One stage of staged rows (x, y, dz of OEQ_DW_ROWS rows), 16-byte multiple. */
static size_t stage_bytes(const dw_mma_plan_t *pl, size_t isz) {
  return ((size_t)pl->rows * (size_t)(pl->xdp + pl->ydp + pl->zdp) * isz + 15) / 16 * 16;
}

static int64_t group_ts(const dw_mma_plan_t *pl, const oeq_schedule_t *s, int first_gp, int n_gp) {
  int64_t total = 0;
  for (int i = first_gp; i < first_gp + n_gp; i++) {
    const dw_group_path_t *gp = &pl->gps[i];
    total += (int64_t)pl->rows * s->paths[gp->path].d3 * padded_ldq(gp->q_hi - gp->q_lo, pl->is_double, pl->tm);
  }
  return total;
}

/* Append tile (path, m0, n0) to the open group, opening a new one when the
 * group is full or its t would outgrow DW_TS_MAX_BYTES. */
static int add_tile(dw_mma_plan_t *pl, const oeq_schedule_t *s, int path, int64_t m0, int64_t n0,
                    size_t csz) {
  const int64_t q_hi = m0 + pl->tm < pair_count(&s->paths[path]) ? m0 + pl->tm : pair_count(&s->paths[path]);
  for (int attempt = 0; attempt < 2; attempt++) {
    dw_group_t *g = pl->n_groups ? &pl->groups[pl->n_groups - 1] : NULL;
    if (g && g->n_tiles < DW_WARPS * DW_SLOTS) {
      /* the group's entry for this path, widened, or a new one */
      dw_group_path_t saved = {0};
      int extend = g->n_gp > 0 && pl->gps[g->first_gp + g->n_gp - 1].path == path;
      dw_group_path_t *gp = &pl->gps[g->first_gp + g->n_gp - (extend ? 1 : 0)];
      if (extend) {
        saved = *gp;
        if (m0 < gp->q_lo) gp->q_lo = m0;
        if (q_hi > gp->q_hi) gp->q_hi = q_hi;
      } else {
        *gp = (dw_group_path_t){.path = path, .q_lo = m0, .q_hi = q_hi};
      }
      const int n_gp = g->n_gp + (extend ? 0 : 1);
      if ((size_t)group_ts(pl, s, g->first_gp, n_gp) * csz <= DW_TS_MAX_BYTES) {
        g->n_gp = n_gp;
        pl->n_gps = g->first_gp + n_gp;
        pl->tiles[pl->n_tiles++] = (dw_tile_t){.path = path, .gp = n_gp - 1, .m0 = m0, .n0 = n0};
        g->n_tiles++;
        return 1;
      }
      if (extend) *gp = saved;
    }
    if (pl->n_groups == DW_MAX_GROUPS) return 0;
    pl->groups[pl->n_groups++] = (dw_group_t){.first_tile = pl->n_tiles, .first_gp = pl->n_gps};
  }
  return 0; /* a single tile's t does not fit */
}

static dw_mma_plan_t *plan_rows(const oeq_schedule_t *s, const oeq_codegen_target_t *target,
                                int is_double, int rows) {
  if (target->dialect != OEQ_DIALECT_CUDA || target->sm < 80 || !s->shared_weights ||
      s->weight_numel <= 0 || s->weight_numel > 0x3fffffff)
    return NULL;
  int64_t n_tiles = 0, weights = 0;
  const int tm = is_double ? 8 : 16;
  for (int i = 0; i < s->n_paths; i++) {
    const oeq_path_t *p = &s->paths[i];
    if (!takes_dw(p)) continue;
    n_tiles += (pair_count(p) + tm - 1) / tm * ((p->mul3 + 7) / 8);
    weights += p->w_count;
  }
  if (n_tiles == 0 || n_tiles > DW_MAX_GROUPS * DW_WARPS * DW_SLOTS ||
      weights < DW_MIN_WEIGHTS_PER_ROW_ELEMENT * (s->x_dim + s->y_dim + s->z_dim))
    return NULL;
  dw_mma_plan_t *pl = calloc(1, sizeof *pl);
  if (!pl) return NULL;
  pl->is_double = is_double;
  pl->tm = tm;
  pl->rows = rows;
  pl->xdp = mma_padded_row(s->x_dim);
  pl->ydp = mma_padded_row(s->y_dim);
  pl->zdp = mma_padded_row(s->z_dim);
  pl->tiles = calloc((size_t)n_tiles, sizeof *pl->tiles);
  pl->gps = calloc((size_t)n_tiles, sizeof *pl->gps);
  pl->groups = calloc(DW_MAX_GROUPS, sizeof *pl->groups);
  const size_t csz = is_double ? 8 : 4, isz = oeq_dtype_size(s->irrep_dtype);
  int ok = pl->tiles && pl->gps && pl->groups;
  for (int i = 0; ok && i < s->n_paths; i++) {
    const oeq_path_t *p = &s->paths[i];
    if (!takes_dw(p)) continue;
    for (int64_t m0 = 0; ok && m0 < pair_count(p); m0 += tm)
      for (int64_t n0 = 0; ok && n0 < p->mul3; n0 += 8) ok = add_tile(pl, s, i, m0, n0, csz);
  }
  if (!ok) {
    dw_mma_plan_free(pl);
    return NULL;
  }
  int64_t ts_most = 0;
  for (int g = 0; g < pl->n_groups; g++) {
    dw_group_t *gr = &pl->groups[g];
    int64_t off = 0;
    for (int i = gr->first_gp; i < gr->first_gp + gr->n_gp; i++) {
      dw_group_path_t *gp = &pl->gps[i];
      gp->ldq = padded_ldq(gp->q_hi - gp->q_lo, is_double, tm);
      gp->ts_off = off;
      off += (int64_t)pl->rows * s->paths[gp->path].d3 * gp->ldq;
    }
    gr->ts_elems = off;
    if (off > ts_most) ts_most = off;
  }
  pl->shared_bytes = 2 * stage_bytes(pl, isz) + (size_t)ts_most * csz;
  if (pl->shared_bytes > target->max_shared_per_block) {
    dw_mma_plan_free(pl);
    return NULL;
  }
  /* the driver reserves 1 KB of shared memory per block */
  const size_t fit = (target->max_shared_per_block + 1024) / (pl->shared_bytes + 1024);
  pl->min_blocks = fit < 1 ? 1 : fit > DW_MAX_MIN_BLOCKS ? DW_MAX_MIN_BLOCKS : (int)fit;
  return pl;
}

/* 16 rows a tile, else as few as the K step allows (8 float32, 4 float64)
 * where wide rows leave no room for 16. */
dw_mma_plan_t *dw_mma_plan(const oeq_schedule_t *s, const oeq_codegen_target_t *target, int is_double) {
  dw_mma_plan_t *pl = NULL;
  for (int rows = DW_ROWS; !pl && rows >= (is_double ? 4 : 8); rows /= 2)
    pl = plan_rows(s, target, is_double, rows);
  return pl;
}

size_t dw_mma_shared_bytes(const dw_mma_plan_t *pl) { return pl->shared_bytes; }
int dw_mma_groups(const dw_mma_plan_t *pl) { return pl->n_groups; }
int dw_mma_threads(void) { return DW_WARPS * 32; }
int dw_mma_rows(const dw_mma_plan_t *pl) { return pl->rows; }

/* ------------------------------------------------------------ emission */

static const char dw_tile_f32[] =
    "/* acc (a 16 x 8 tile: pairs x outputs) += t^T dz over the staged rows.\n"
    " * Fragments (PTX m16n8k8): a0 = A[g][t], a1 = A[g+8][t], a2 = A[g][t+4],\n"
    " * a3 = A[g+8][t+4]; b0 = B[t][g], b1 = B[t+4][g]. The tensor core sums\n"
    " * one row tile from zero and acc adds the tiles: summed in the tensor\n"
    " * core over a whole batch (200,000 rows), dw was 1.9e-4 off. */\n"
    "__device__ __forceinline__ void oeq_dw_tile(float *acc, const float *__restrict__ ta,\n"
    "    const oeq_it *__restrict__ tb, int LDQ, int D3, int KSTRIDE) {\n"
    "  float part[4] = {};\n"
    "#pragma unroll 1\n"
    "  for (int k = 0; k < D3; ++k) {\n"
    "#pragma unroll\n"
    "    for (int h = 0; h < OEQ_DW_ROWS / 8; ++h) {\n"
    "      const float *pa = ta + (k * OEQ_DW_ROWS + h * 8) * LDQ;\n"
    "      const oeq_it *pb = tb + k * KSTRIDE + h * 8 * OEQ_MMA_ZDP;\n"
    "      unsigned ah[4], al[4], bh[2], bl[2];\n"
    "      oeq_split(pa[0], ah[0], al[0]); oeq_split(pa[8], ah[1], al[1]);\n"
    "      oeq_split(pa[4 * LDQ], ah[2], al[2]); oeq_split(pa[4 * LDQ + 8], ah[3], al[3]);\n"
    "      oeq_split((float)pb[0], bh[0], bl[0]); oeq_split((float)pb[4 * OEQ_MMA_ZDP], bh[1], bl[1]);\n"
    "      oeq_mma(part, al, bh); oeq_mma(part, ah, bl); oeq_mma(part, ah, bh);\n"
    "    }\n"
    "  }\n"
    "  acc[0] += part[0]; acc[1] += part[1]; acc[2] += part[2]; acc[3] += part[3];\n"
    "}\n";

static const char dw_tile_f64[] =
    "/* acc (an 8 x 8 tile) += t^T dz over the staged rows. Fragments (PTX\n"
    " * m8n8k4): a0 = A[g][t], b0 = B[t][g]. */\n"
    "__device__ __forceinline__ void oeq_dw_tile(double *acc, const double *__restrict__ ta,\n"
    "    const oeq_it *__restrict__ tb, int LDQ, int D3, int KSTRIDE) {\n"
    "#pragma unroll 1\n"
    "  for (int k = 0; k < D3; ++k) {\n"
    "#pragma unroll\n"
    "    for (int h = 0; h < OEQ_DW_ROWS / 4; ++h)\n"
    "      oeq_mma(acc, ta[(k * OEQ_DW_ROWS + h * 4) * LDQ],\n"
    "              (double)tb[k * KSTRIDE + h * 4 * OEQ_MMA_ZDP]);\n"
    "  }\n"
    "}\n";

/* The kernel's tables, all groups together, go in __constant__ memory up
 * to this many bytes (its 64 KB are the module's, and nothing else here
 * uses them); beyond, in global memory (`__device__ const`: read through
 * the L1 like any warp-uniform load), where a 26-group source would
 * otherwise fail to link (ptxas: "too much global constant data"). */
#define DW_CONST_TABLE_MAX 65536

/* One code path for every group: the group (blockIdx.y) is data, read
 * from three tables, and only what differs in shape is code. Written out
 * per group, the kernel grew with the groups (a 22-group source took NVRTC
 * 23 s, 16 of them for this kernel).
 *
 * oeq_dw_grp[g] = {first group path, group paths, t elements to zero}.
 * oeq_dw_gp[i] = {shape, first pair, t block offset}: a group path builds
 * t for its pairs with the builder of its shape (path, pairs, stride),
 * which groups share (a path split over several groups has one or two).
 * oeq_dw_tab[g][warp][slot] = a tile (TAB_* below; slots past the group's
 * tiles have D3 = 0: no work, no store). Every warp runs the same (short)
 * tile code: written out per warp with constant parameters, the kernel
 * outgrew the instruction cache (bench/NOTES.md run R: 63% of the
 * stalls). */
enum {
  TAB_TS, TAB_LDQ, TAB_D3, TAB_Z, TAB_N0, TAB_OLAST, TAB_OSTRIDE, TAB_KSTRIDE,
  /* for the final stores: the tile's first pair, the path's pairs, its
   * first weight */
  TAB_M0, TAB_PAIRS, TAB_W, TAB_WIDTH
};
enum { GRP_FIRST, GRP_COUNT, GRP_TS, GRP_WIDTH };
enum { GP_SHAPE, GP_Q0, GP_TS, GP_WIDTH };

/* The builder shape of group path i: the first group path with the same
 * path, pair count and stride. */
static int gp_shape(const dw_mma_plan_t *pl, int i) {
  const dw_group_path_t *a = &pl->gps[i];
  for (int j = 0; j < i; j++) {
    const dw_group_path_t *b = &pl->gps[j];
    if (b->path == a->path && b->q_hi - b->q_lo == a->q_hi - a->q_lo && b->ldq == a->ldq) return j;
  }
  return i;
}

static int max_slots(const dw_mma_plan_t *pl) {
  int most = 1;
  for (int g = 0; g < pl->n_groups; g++) {
    const int slots = (pl->groups[g].n_tiles + DW_WARPS - 1) / DW_WARPS;
    if (slots > most) most = slots;
  }
  return most;
}

static void emit_tile(const emit_ctx_t *c, const dw_tile_t *t, const dw_group_t *g) {
  const dw_mma_plan_t *pl = c->dw_mma;
  const dw_group_path_t *gp = &pl->gps[g->first_gp + t->gp];
  const oeq_path_t *p = &c->s->paths[t->path];
  const int mul_ir = c->s->layout == OEQ_LAYOUT_MUL_IR;
  oeq_sb_printf(c->sb, "{%lld, %lld, %d, %lld, %lld, %lld, %lld, %lld, %lld, %lld, %lld}, ",
                (long long)(gp->ts_off + (t->m0 - gp->q_lo)), (long long)gp->ldq, p->d3,
                (long long)p->z_offset, (long long)t->n0, (long long)p->mul3 - 1,
                mul_ir ? (long long)p->d3 : 1LL, mul_ir ? 1LL : (long long)p->mul3,
                (long long)t->m0, (long long)pair_count(p), (long long)p->w_offset);
}

static void emit_tables(const emit_ctx_t *c, int slots) {
  const dw_mma_plan_t *pl = c->dw_mma;
  const size_t bytes = sizeof(int) * ((size_t)pl->n_groups * (GRP_WIDTH + DW_WARPS * slots * TAB_WIDTH) +
                                      (size_t)pl->n_gps * GP_WIDTH);
  const char *space = bytes <= DW_CONST_TABLE_MAX ? "__constant__" : "__device__ const";
  oeq_sb_printf(c->sb, "%s int oeq_dw_grp[%d][%d] = {\n", space, pl->n_groups, GRP_WIDTH);
  for (int g = 0; g < pl->n_groups; g++)
    oeq_sb_printf(c->sb, "  {%d, %d, %lld},\n", pl->groups[g].first_gp, pl->groups[g].n_gp,
                  (long long)pl->groups[g].ts_elems);
  oeq_sb_printf(c->sb, "};\n%s int oeq_dw_gp[%d][%d] = {\n", space, pl->n_gps, GP_WIDTH);
  for (int i = 0; i < pl->n_gps; i++)
    oeq_sb_printf(c->sb, "  {%d, %lld, %lld},\n", gp_shape(pl, i), (long long)pl->gps[i].q_lo,
                  (long long)pl->gps[i].ts_off);
  oeq_sb_printf(c->sb, "};\n%s int oeq_dw_tab[%d][%d][%d][%d] = {\n", space, pl->n_groups, DW_WARPS,
                slots, TAB_WIDTH);
  for (int g = 0; g < pl->n_groups; g++) {
    const dw_group_t *gr = &pl->groups[g];
    oeq_sb_puts(c->sb, "  {\n");
    for (int w = 0; w < DW_WARPS; w++) {
      oeq_sb_puts(c->sb, "    {");
      for (int sl = 0; sl < slots; sl++) {
        const int ti = sl * DW_WARPS + w; /* tiles dealt round robin */
        if (ti < gr->n_tiles)
          emit_tile(c, &pl->tiles[gr->first_tile + ti], gr);
        else
          oeq_sb_puts(c->sb, "{0}, ");
      }
      oeq_sb_puts(c->sb, "},\n");
    }
    oeq_sb_puts(c->sb, "  },\n");
  }
  oeq_sb_puts(c->sb, "};\n");
}

/* t of the group's pairs for the staged rows. One group: its paths
 * straight, their offsets constants. Several: a loop over the group's
 * paths and a switch over the builder shapes. */
static void emit_group_t(const emit_ctx_t *c) {
  const dw_mma_plan_t *pl = c->dw_mma;
  if (pl->n_groups == 1) {
    for (int i = 0; i < pl->n_gps; i++) {
      const dw_group_path_t *gp = &pl->gps[i];
      oeq_sb_printf(c->sb, "  { const int gq = %lld, gts = %lld;\n", (long long)gp->q_lo,
                    (long long)gp->ts_off);
      mma_emit_pair_t(c, &c->s->paths[gp->path], "gq", gp->q_hi - gp->q_lo, "gts", gp->ldq,
                      "OEQ_DW_ROWS", pl->xdp, pl->ydp);
      oeq_sb_puts(c->sb, "  }\n");
    }
    return;
  }
  oeq_sb_puts(c->sb,
              "  for (int i = grp[GRP_FIRST]; i < grp[GRP_FIRST] + grp[GRP_COUNT]; ++i) {\n"
              "  const int gq = oeq_dw_gp[i][GP_Q0], gts = oeq_dw_gp[i][GP_TS];\n"
              "  switch (oeq_dw_gp[i][GP_SHAPE]) {\n");
  for (int i = 0; i < pl->n_gps; i++) {
    if (gp_shape(pl, i) != i) continue;
    const dw_group_path_t *gp = &pl->gps[i];
    oeq_sb_printf(c->sb, "  case %d: {\n", i);
    mma_emit_pair_t(c, &c->s->paths[gp->path], "gq", gp->q_hi - gp->q_lo, "gts", gp->ldq,
                    "OEQ_DW_ROWS", pl->xdp, pl->ydp);
    oeq_sb_puts(c->sb, "  } break;\n");
  }
  oeq_sb_puts(c->sb, "  }\n  }\n");
}

/* The row-tile loop's body: t, then every slot's tile of dW accumulated. */
static void emit_tile_loop_body(const emit_ctx_t *c, int slots) {
  emit_group_t(c);
  oeq_sb_puts(c->sb, "  __syncthreads();\n");
  /* t at the tile's first pair (row fg, column ft); dz at the tile's
   * output of lane fg, clamped into the block (columns past mul3 are
   * computed, never stored) */
  oeq_sb_printf(c->sb,
                "#pragma unroll\n"
                "  for (int sl = 0; sl < %d; ++sl) {\n"
                "    const int *tp = oeq_dw_tab[blockIdx.y][warp][sl];\n"
                "    oeq_dw_tile(acc[sl], ts + tp[%d] + ft * tp[%d] + fg,\n"
                "        dzs + ft * OEQ_MMA_ZDP + tp[%d] + min(tp[%d] + fg, tp[%d]) * tp[%d],\n"
                "        tp[%d], tp[%d], tp[%d]);\n"
                "  }\n",
                slots, TAB_TS, TAB_LDQ, TAB_Z, TAB_N0, TAB_OLAST, TAB_OSTRIDE, TAB_LDQ, TAB_D3,
                TAB_KSTRIDE);
}

void emit_tp_dw_mma(const emit_ctx_t *c) {
  const dw_mma_plan_t *pl = c->dw_mma;
  const size_t isz = oeq_dtype_size(c->s->irrep_dtype);
  const size_t staged = stage_bytes(pl, isz);
  const int slots = max_slots(pl), acc_n = pl->is_double ? 2 : 4;
  oeq_sb_printf(c->sb,
                "// shared-weight dw of the pair paths on tensor cores (tp_dw_mma.c)\n"
                "#define OEQ_DW_ROWS %d\n#define OEQ_DW_WARPS %d\n#define OEQ_DW_STAGE %lld\n"
                "enum { GRP_FIRST, GRP_COUNT, GRP_TS };\n"
                "enum { GP_SHAPE, GP_Q0, GP_TS };\n",
                pl->rows, DW_WARPS, (long long)(staged / isz));
  oeq_sb_puts(c->sb, pl->is_double ? dw_tile_f64 : dw_tile_f32);
  mma_emit_stage(c, "oeq_dw_stage", "OEQ_DW_ROWS", 1);
  emit_tables(c, slots);
  emit_part_begin(c, 2);
  oeq_sb_printf(c->sb,
                "extern \"C\" __global__ void __launch_bounds__(%d, %d)\n"
                "%s(const oeq_it *__restrict__ x, const oeq_it *__restrict__ y,\n"
                "   const oeq_it *__restrict__ dz, oeq_wt *__restrict__ dw, long long batch) {\n",
                DW_WARPS * 32, pl->min_blocks, OEQ_TP_DW_KERNEL);
  mma_emit_block_setup(c);
  oeq_sb_printf(c->sb,
                "  oeq_ct *ts = reinterpret_cast<oeq_ct *>(oeq_smem + %zu);\n"
                "  const int *grp = oeq_dw_grp[blockIdx.y];\n"
                "  for (int i = threadIdx.x; i < grp[GRP_TS]; i += blockDim.x) ts[i] = (oeq_ct)0;\n"
                "  oeq_ct acc[%d][%d] = {};\n",
                2 * staged, slots, acc_n);
  /* Two stages: while tile i is built and multiplied, tile i + 1 is on
   * its way into the other stage (cp.async: no registers, no wait). */
  mma_emit_tile_loop(c, "oeq_dw_stage", "OEQ_DW_ROWS", "OEQ_DW_STAGE", 1, NULL);
  emit_tile_loop_body(c, slots);
  oeq_sb_puts(c->sb, "  }\n");
  /* each tile into dw, once per block: element e of the accumulator
   * fragment is pair m0 + g (+8 for e >= 2 in float32), output n0 + 2t
   * (+1 for odd e) */
  oeq_sb_printf(c->sb,
                "#pragma unroll\n"
                "  for (int sl = 0; sl < %d; ++sl) {\n"
                "    const int *tp = oeq_dw_tab[blockIdx.y][warp][sl];\n"
                "    for (int e = 0; e < %d; ++e) {\n"
                "      const int q = tp[%d] + fg + (e >> 1) * 8, o = tp[%d] + 2 * ft + (e & 1);\n"
                "      if (tp[%d] && q < tp[%d] && o <= tp[%d])\n"
                "        atomicAdd(&dw[tp[%d] + (long long)q * (tp[%d] + 1) + o], (oeq_wt)acc[sl][e]);\n"
                "    }\n"
                "  }\n}\n",
                slots, acc_n, TAB_M0, TAB_N0, TAB_D3, TAB_PAIRS, TAB_OLAST, TAB_W, TAB_OLAST);
  emit_part_end(c);
}
