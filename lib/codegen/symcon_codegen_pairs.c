/* symcon_codegen_pairs.c: the symmetric contraction's "pair" kernels (see
 * symcon_pairs.h for the regrouping, symcon_codegen.h for the signatures).
 *
 * A block owns one channel c (gridDim.y over channels) and a grid-stride
 * range of row chunks; a thread owns a row. The forward and dx kernels
 * first build A = sum_k U W[s][k][c] for every pair p and species s in
 * shared memory (species inside each vector of SYMCON_PAIR_VECTOR pairs, so
 * the lanes of a warp, whatever their species, read distinct banks), then
 * every row evaluates its polynomial from registers and A: one FMA a pair
 * and one shared load a vector of pairs, where the per-term kernels
 * (symcon_codegen.c) spend a weight load and a polynomial per basis
 * element.
 *
 * The dw kernel accumulates dA[p][s] = sum over the rows of species s of
 * dz[o][c][m] x[idx_1]..x[idx_deg] in shared memory and turns it into dW
 * once per block (dW = sum_p U dA, global atomics). Rows of a tile are
 * counting-sorted by species first, so the 32 lanes of a warp almost always
 * share one species: a chunk of 32 pairs is then summed over the warp by a
 * reduce-scatter (31 shuffles, lane j keeps pair j), once per species
 * present in the warp, and each lane adds one value to dA. */
#include <stdio.h>
#include <string.h>

#include "codegen/emit_util.h"
#include "codegen/strbuf.h"
#include "codegen/symcon_codegen.h"
#include "codegen/symcon_pairs.h"
#include "codegen/tuning.h"

#define PAIR_THREADS 256
#define PAIR_ROWS_PER_BLOCK 2048 /* rows a block takes at a time: amortizes A */
#define PAIR_TILE 1024           /* rows sorted by species at once (dw) */
#define PAIR_CHUNK 32            /* pairs reduced over a warp at once (dw) */
/* Pairs per case of a walk's run-time segment loop: in one straight-line
 * block ptxas hoisted hundreds of shared loads and spilled (float64). */
#define PAIR_SEGMENT 64
#define GRID_Y_MAX 65535

typedef enum { WALK_FORWARD, WALK_DX, WALK_DW } walk_t;

typedef struct {
  emit_ctx_t *ctx;
  const oeq_symcon_t *sc;
  const oeq_symcon_pairs_t *pp;
  size_t ct_size;
  int sm;          /* CUDA compute capability (80, 90, ...); 0 for HIP */
  long long sg;    /* species a block's tables hold (a species group) */
  long long groups; /* species groups: a block per (channel, group) */
} pgen_t;

/* Pairs of A padded to whole vectors (SYMCON_PAIR_VECTOR). */
static int64_t padded_pairs(const oeq_symcon_pairs_t *pp) {
  return (pp->n_pairs + SYMCON_PAIR_VECTOR - 1) / SYMCON_PAIR_VECTOR * SYMCON_PAIR_VECTOR;
}

size_t oeq_symcon_pairs_coeff_bytes(const oeq_symcon_pairs_t *pp, size_t ct_size, int64_t sg) {
  return (size_t)(padded_pairs(pp) + pp->n_elems) * (size_t)sg * ct_size;
}

size_t oeq_symcon_pairs_dw_bytes(const oeq_symcon_pairs_t *pp, size_t ct_size, int64_t sg) {
  return (size_t)pp->n_pairs * (size_t)sg * ct_size + (2 * (size_t)sg + 1 + 3 * PAIR_TILE) * sizeof(int);
}

int64_t oeq_symcon_pairs_group(const oeq_symcon_t *sc, const oeq_symcon_pairs_t *pp, size_t ct_size,
                               size_t max_shared) {
  int64_t sg = sc->num_elements;
  while (sg > 0 && (oeq_symcon_pairs_coeff_bytes(pp, ct_size, sg) > max_shared ||
                    oeq_symcon_pairs_dw_bytes(pp, ct_size, sg) > max_shared))
    sg--;
  return sg;
}

/* Launch-bounds min blocks: float64 needs twice the registers, and its
 * kernels spilled under the float32 bound; so did sm_80's float32 dw
 * kernel (its 64 reduction registers), not sm_90's. */
static int min_blocks(const pgen_t *g, int dw) {
  if (g->ct_size == 8 || (dw && g->ctx->dialect == OEQ_DIALECT_CUDA && g->sm < 90)) return 1;
  return SYMCON_PAIR_MIN_BLOCKS;
}

static void emit_warp_helpers(const pgen_t *g) {
  oeq_symcon_emit_fences(g->ctx);
  if (SYMCON_PAIR_VECTOR > 1)
    oeq_sb_printf(g->ctx->sb, "typedef %s%d oeq_ctv; /* SYMCON_PAIR_VECTOR coefficients */\n", g->ctx->ct,
                  SYMCON_PAIR_VECTOR);
  if (g->ctx->dialect == OEQ_DIALECT_HIP)
    oeq_sb_puts(g->ctx->sb,
                "typedef unsigned long long oeq_mask_t;\n"
                "#define OEQ_BALLOT(p) __ballot(p)\n"
                "#define OEQ_FFS(m) __ffsll((unsigned long long)(m))\n"
                "#define OEQ_SHFL(v, l) __shfl((v), (l), OEQ_WARP)\n");
  else
    oeq_sb_puts(g->ctx->sb,
                "typedef unsigned oeq_mask_t;\n"
                "#define OEQ_BALLOT(p) __ballot_sync(0xffffffffu, (p))\n"
                "#define OEQ_FFS(m) __ffs(m)\n"
                "#define OEQ_SHFL(v, l) __shfl_sync(0xffffffffu, (v), (l))\n");
}

/* "__device__ const TYPE NAME[n] = {...};" from int64 values. */
static void emit_index_table(oeq_strbuf_t *sb, const char *type, const char *name, const int64_t *v,
                             int64_t n, const char *suffix) {
  oeq_sb_printf(sb, "__device__ const %s %s[%lld] = {", type, name, (long long)n);
  for (int64_t i = 0; i < n; i++) oeq_sb_printf(sb, "%s%lld%s", i ? "," : "", (long long)v[i], suffix);
  oeq_sb_puts(sb, "};\n");
}

/* The terms t[0..n) as two tables: NAME_index (each term's elem, or its
 * pair when `pair_index`) and NAME_value (U's value). */
static void emit_term_tables(const pgen_t *g, const char *name, const oeq_symcon_term_t *t, int64_t n,
                             int pair_index) {
  oeq_strbuf_t *sb = g->ctx->sb;
  char l[64];
  oeq_sb_printf(sb, "__device__ const int %s_index[%lld] = {", name, (long long)n);
  for (int64_t i = 0; i < n; i++) oeq_sb_printf(sb, "%s%d", i ? "," : "", (int)(pair_index ? t[i].pair : t[i].elem));
  oeq_sb_printf(sb, "};\n__device__ const oeq_ct %s_value[%lld] = {", name, (long long)n);
  for (int64_t i = 0; i < n; i++) oeq_sb_printf(sb, "%s%s", i ? "," : "", emit_literal(g->ctx, t[i].value, l));
  oeq_sb_puts(sb, "};\n");
}

/* The U terms by pair (A from W), and where each basis element's weights
 * are. */
static void emit_tables(const pgen_t *g) {
  const oeq_symcon_pairs_t *pp = g->pp;
  emit_index_table(g->ctx->sb, "int", "oeq_pair_start", pp->pair_start, pp->n_pairs + 1, "");
  emit_term_tables(g, "oeq_pair", pp->by_pair, pp->n_terms, 0);
  emit_index_table(g->ctx->sb, "long long", "oeq_elem_base", pp->elem_base, pp->n_elems, "ll");
  emit_index_table(g->ctx->sb, "long long", "oeq_elem_stride", pp->elem_stride, pp->n_elems, "ll");
}

/* The terms by basis element, for the dw kernel's dW = sum_p U dA. */
static void emit_elem_tables(const pgen_t *g) {
  const oeq_symcon_pairs_t *pp = g->pp;
  emit_index_table(g->ctx->sb, "int", "oeq_elem_start", pp->elem_start, pp->n_elems + 1, "");
  emit_term_tables(g, "oeq_elem", pp->by_elem, pp->n_terms, 1);
}

/* A for channel c from the species' weights (staged in shared memory
 * after A). A holds, for each vector of V = SYMCON_PAIR_VECTOR consecutive
 * pairs, the species in turn, each with its V coefficients side by side:
 * A[(p / V) V E + s V + p % V], so a row reads V pairs in one load (lanes
 * of different species still hit distinct banks). Synchronizes before (the
 * previous channel's rows are done with A) and after. */
static void emit_coefficients(const pgen_t *g) {
  const long long SG = g->sg, NP = (long long)g->pp->n_pairs, NPV = (long long)padded_pairs(g->pp),
                  Q = (long long)g->pp->n_elems, V = SYMCON_PAIR_VECTOR;
  oeq_sb_printf(g->ctx->sb,
                "__device__ void oeq_symcon_coefficients(oeq_ct *__restrict__ A,\n"
                "    const oeq_wt *__restrict__ w, long long c, int s0, int ns) {\n"
                "  oeq_ct *Ws = A + %lld; /* [elem][species of the group] */\n"
                "  __syncthreads();\n"
                "  for (int i = threadIdx.x; i < %lld; i += blockDim.x) {\n"
                "    const int q = i / %lld, s = i - q * %lld;\n"
                "    Ws[i] = s < ns ? (oeq_ct)w[oeq_elem_base[q] + (long long)(s0 + s) * oeq_elem_stride[q] + c]\n"
                "                   : (oeq_ct)0;\n"
                "  }\n"
                "  __syncthreads();\n"
                "  for (int i = threadIdx.x; i < %lld; i += blockDim.x) {\n"
                "    const int vec = i / %lld, rem = i - vec * %lld, s = rem / %lld;\n"
                "    const int p = vec * %lld + (rem - s * %lld);\n"
                "    oeq_ct a = 0;\n"
                "    if (p < %lld)\n"
                "      for (int j = oeq_pair_start[p]; j < oeq_pair_start[p + 1]; j++)\n"
                "        a += oeq_pair_value[j] * Ws[oeq_pair_index[j] * %lld + s];\n"
                "    A[i] = a;\n"
                "  }\n"
                "  __syncthreads();\n"
                "}\n",
                NPV * SG, Q * SG, SG, SG, NPV * SG, V * SG, V * SG, V, V, V, NP, SG);
}

/* The coefficient of pair p for the row's species: its vector is loaded
 * (into cv) at the vector's first pair. */
static void emit_coefficient(const pgen_t *g, int64_t p, char buf[96]) {
  const long long SG = g->sg, V = SYMCON_PAIR_VECTOR;
  if (V == 1) {
    snprintf(buf, 96, "a[%lld]", (long long)p * SG);
    return;
  }
  if (p % V == 0)
    oeq_sb_printf(g->ctx->sb, "          cv = *reinterpret_cast<const oeq_ctv *>(a + %lld);\n",
                  (long long)(p / V) * V * SG);
  static const char *const lane[4] = {"x", "y", "z", "w"};
  snprintf(buf, 96, "cv.%s", lane[p % V]);
}

static int same_prefix(const oeq_symcon_pair_t *a, const oeq_symcon_pair_t *b) {
  if (a->deg != b->deg) return 0;
  for (int j = 0; j + 1 < a->deg; j++)
    if (a->idx[j] != b->idx[j]) return 0;
  return 1;
}

static int same_monomial(const oeq_symcon_pair_t *a, const oeq_symcon_pair_t *b) {
  return same_prefix(a, b) && a->idx[a->deg - 1] == b->idx[b->deg - 1];
}

/* "x1 * x4" for the prefix factors of p except position `skip` (-1: none);
 * "(oeq_ct)1" when nothing is left. */
static const char *prefix_product(const oeq_symcon_pair_t *p, int skip, char buf[96]) {
  int n = 0, first = 1;
  buf[0] = '\0';
  for (int j = 0; j + 1 < p->deg; j++) {
    if (j == skip) continue;
    n += snprintf(buf + n, (size_t)(96 - n), "%sx%d", first ? "" : " * ", (int)p->idx[j]);
    first = 0;
  }
  if (first) snprintf(buf, 96, "(oeq_ct)1");
  return buf;
}

/* Reduce-scatter of NAME0..NAME31 over the warp, in place: after the step
 * of width w, lane bit w keeps the upper or the lower half; at the end
 * NAME0 of lane j holds the sum of every lane's NAMEj. */
static void emit_reduce_scatter(const pgen_t *g, const char *name) {
  oeq_strbuf_t *sb = g->ctx->sb;
  if (g->ctx->warp_size == 64)
    for (int j = 0; j < PAIR_CHUNK; j++)
      oeq_sb_printf(sb, "        %s%d += OEQ_SHFL_XOR(%s%d, 32);\n", name, j, name, j);
  for (int w = PAIR_CHUNK / 2; w >= 1; w /= 2) {
    oeq_sb_printf(sb, "        { const bool up = (lane & %d) != 0;\n", w);
    for (int j = 0; j < w; j++)
      oeq_sb_printf(sb,
                    "          { const oeq_ct sd = up ? %s%d : %s%d; %s%d = (up ? %s%d : %s%d) + OEQ_SHFL_XOR(sd, %d); }\n",
                    name, j, name, j + w, name, j, name, j + w, name, j, w);
    oeq_sb_puts(sb, "        }\n");
  }
}

/* Close a dw chunk of `used` pair values v0.. in registers: summed over
 * the warp's active lanes once per species among them, then lane j adds
 * pair j to dA. Rows are sorted, so a warp usually holds one species:
 * with SYMCON_DW_ONE_SPECIES_PATH that case reduces v itself (inactive
 * lanes hold zeros), without the masked copy. */
static void emit_flush(const pgen_t *g, int64_t chunk_base, int used) {
  oeq_strbuf_t *sb = g->ctx->sb;
  const long long SG = g->sg;
  oeq_sb_puts(sb, "      { oeq_mask_t todo = OEQ_BALLOT(active);\n");
  if (SYMCON_DW_ONE_SPECIES_PATH) {
    oeq_sb_puts(sb,
                "      if (todo) {\n"
                "        const int s0 = OEQ_SHFL(s, OEQ_FFS(todo) - 1);\n"
                "        if (!OEQ_BALLOT(active && s != s0)) {\n");
    for (int j = used; j < PAIR_CHUNK; j++) oeq_sb_printf(sb, "        v%d = 0;\n", j);
    emit_reduce_scatter(g, "v");
    oeq_sb_printf(sb,
                  "        if (lane < %d) atomicAdd(&dA[(%lld + lane) * %lld + s0], v0);\n"
                  "        todo = 0;\n"
                  "        }\n"
                  "      }\n",
                  used, (long long)chunk_base, SG);
  }
  oeq_sb_puts(sb,
              "      while (todo) {\n"
              "        const int s0 = OEQ_SHFL(s, OEQ_FFS(todo) - 1);\n"
              "        const bool in = active && s == s0;\n"
              "        todo &= ~OEQ_BALLOT(in);\n");
  for (int j = 0; j < PAIR_CHUNK; j++)
    if (j < used)
      oeq_sb_printf(sb, "        oeq_ct u%d = in ? v%d : (oeq_ct)0;\n", j, j);
    else
      oeq_sb_printf(sb, "        oeq_ct u%d = 0;\n", j);
  emit_reduce_scatter(g, "u");
  oeq_sb_printf(sb,
                "        if (lane < %d) atomicAdd(&dA[(%lld + lane) * %lld + s0], u0);\n"
                "      } }\n",
                used, (long long)chunk_base, SG);
}

/* The end of the (degree, prefix) group that starts at pair p. */
static int64_t group_end(const oeq_symcon_pairs_t *pp, int64_t p) {
  int64_t q = p;
  while (q < pp->n_pairs && same_prefix(&pp->pair[q], &pp->pair[p])) q++;
  return q;
}

/* Segments of whole groups of at least PAIR_SEGMENT pairs (the last one
 * may be smaller). */
static int count_segments(const oeq_symcon_pairs_t *pp) {
  int n = 0;
  for (int64_t p = 0, in_seg = 0; p < pp->n_pairs;) {
    if (p == 0 || in_seg >= PAIR_SEGMENT) n++, in_seg = 0;
    int64_t e = group_end(pp, p);
    in_seg += e - p;
    p = e;
  }
  return n;
}

static int reads_x(const pgen_t *g, walk_t kind, int64_t i);

/* Code over every pair, grouped by (degree, prefix) and monomial, cut into
 * the cases of a run-time loop (one case a segment, straight-line code
 * within). Names in scope: x<i> (the row), a (A + s V) and cv (its
 * current vector) for the forward and dx, z<o>_<m> / g<o>_<m> (outputs / their gradients), d<i> (dx), v<j>
 * (dw). */
static void emit_walk(const pgen_t *g, walk_t kind) {
  oeq_strbuf_t *sb = g->ctx->sb;
  const oeq_symcon_pairs_t *pp = g->pp;
  const int segments = count_segments(pp);
  char buf[96], coef[96];
  int64_t chunk_base = 0, in_seg = 0;
  int in_chunk = 0, seg = 0;
  if (segments > 1) {
    oeq_sb_printf(sb, "#pragma unroll 1\n      for (int seg = 0; seg < %d; seg++) {\n      ", segments);
    /* x and A are "new" each iteration: nothing is hoisted out of the loop */
    for (int64_t i = 0; i < g->sc->in_dim; i++)
      if (reads_x(g, kind, i)) oeq_sb_printf(sb, "oeq_fence(x%lld); ", (long long)i);
    if (kind != WALK_DW) oeq_sb_puts(sb, "oeq_fence(a);");
    oeq_sb_puts(sb, "\n      switch (seg) {\n      case 0: {\n");
  }
  for (int64_t p = 0; p < pp->n_pairs;) {
    const oeq_symcon_pair_t *head = &pp->pair[p];
    if (segments > 1 && in_seg >= PAIR_SEGMENT) {
      oeq_sb_printf(sb, "      } break;\n      case %d: {\n", ++seg);
      in_seg = 0;
    }
    in_seg += group_end(pp, p) - p;
    /* a (degree, prefix) group */
    if (head->deg >= 2)
      oeq_sb_printf(sb, "      { const oeq_ct P = %s;\n", prefix_product(head, -1, buf));
    else
      oeq_sb_puts(sb, "      {\n");
    if (kind == WALK_DX && head->deg >= 2) oeq_sb_puts(sb, "        oeq_ct h = 0;\n");
    while (p < pp->n_pairs && same_prefix(&pp->pair[p], head)) {
      const oeq_symcon_pair_t *mono = &pp->pair[p];
      const int last = mono->idx[mono->deg - 1];
      if (kind == WALK_DX)
        oeq_sb_puts(sb, "        { oeq_ct G = 0; /* the monomial's gradient weight */\n");
      else if (mono->deg >= 2)
        oeq_sb_printf(sb, "        { const oeq_ct t = P * x%d;\n", last);
      else
        oeq_sb_printf(sb, "        { const oeq_ct t = x%d;\n", last);
      for (; p < pp->n_pairs && same_monomial(&pp->pair[p], mono); p++) {
        const oeq_symcon_pair_t *q = &pp->pair[p];
        switch (kind) {
        case WALK_FORWARD:
          emit_coefficient(g, p, coef);
          oeq_sb_printf(sb, "          z%d_%d += %s * t;\n", q->o, q->m, coef);
          break;
        case WALK_DX:
          emit_coefficient(g, p, coef);
          oeq_sb_printf(sb, "          G += %s * g%d_%d;\n", coef, q->o, q->m);
          break;
        case WALK_DW:
          oeq_sb_printf(sb, "          v%d = g%d_%d * t;\n", in_chunk, q->o, q->m);
          if (++in_chunk == PAIR_CHUNK) {
            emit_flush(g, chunk_base, in_chunk);
            chunk_base += in_chunk;
            in_chunk = 0;
          }
          break;
        }
      }
      if (kind == WALK_DX) {
        if (mono->deg >= 2)
          oeq_sb_printf(sb, "          h += G * x%d; d%d += G * P;\n", last, last);
        else
          oeq_sb_printf(sb, "          d%d += G;\n", last);
      }
      oeq_sb_puts(sb, "        }\n");
    }
    /* the prefix factors' share of the product rule: h = sum G x_last */
    if (kind == WALK_DX && head->deg >= 2)
      for (int j = 0; j + 1 < head->deg; j++)
        oeq_sb_printf(sb, "        d%d += h * %s;\n", (int)head->idx[j], prefix_product(head, j, buf));
    oeq_sb_puts(sb, "      }\n");
  }
  if (segments > 1) oeq_sb_puts(sb, "      } break;\n      default: break;\n      }\n      }\n");
  if (kind == WALK_DW && in_chunk > 0) emit_flush(g, chunk_base, in_chunk);
}

/* Whether the walk of `kind` reads x_i: dx never needs the factor of a
 * degree-1 monomial (its derivative is the constant G). */
static int reads_x(const pgen_t *g, walk_t kind, int64_t i) {
  for (int64_t p = 0; p < g->pp->n_pairs; p++) {
    const oeq_symcon_pair_t *q = &g->pp->pair[p];
    if (kind == WALK_DX && q->deg < 2) continue;
    for (int j = 0; j < q->deg; j++)
      if (q->idx[j] == i) return 1;
  }
  return 0;
}

static void emit_load_x(const pgen_t *g, walk_t kind, const char *zero_unless) {
  const oeq_symcon_t *sc = g->sc;
  int any = 0;
  for (int64_t i = 0; i < sc->in_dim && !any; i++) any = reads_x(g, kind, i);
  if (!any) return;
  oeq_sb_printf(g->ctx->sb, "      const oeq_it *xr = x + r * %lldll + c * %lldll;\n",
                (long long)sc->x_dim, (long long)sc->in_dim);
  for (int64_t i = 0; i < sc->in_dim; i++)
    if (!reads_x(g, kind, i))
      continue;
    else if (zero_unless)
      oeq_sb_printf(g->ctx->sb, "      oeq_ct x%lld = %s ? (oeq_ct)xr[%lld] : (oeq_ct)0;\n", (long long)i,
                    zero_unless, (long long)i);
    else
      oeq_sb_printf(g->ctx->sb, "      oeq_ct x%lld = (oeq_ct)xr[%lld];\n", (long long)i, (long long)i);
}

static void emit_load_dz(const pgen_t *g, const char *zero_unless) {
  const oeq_symcon_t *sc = g->sc;
  oeq_sb_printf(g->ctx->sb, "      const oeq_it *gr = dz + r * %lldll;\n", (long long)sc->z_dim);
  for (int o = 0; o < sc->n_out; o++)
    for (int m = 0; m < sc->outs[o].d; m++) {
      char at[96];
      snprintf(at, sizeof at, "(oeq_ct)gr[%lldll + c * %d]", (long long)sc->outs[o].z_offset + m, sc->outs[o].d);
      if (zero_unless)
        oeq_sb_printf(g->ctx->sb, "      const oeq_ct g%d_%d = %s ? %s : (oeq_ct)0;\n", o, m, zero_unless, at);
      else
        oeq_sb_printf(g->ctx->sb, "      const oeq_ct g%d_%d = %s;\n", o, m, at);
    }
}

/* The loop over this block's (channel, species group) pairs: c, s0 (the
 * group's first species) and ns (its species) defined. */
static void open_channel_group(const pgen_t *g) {
  oeq_sb_printf(g->ctx->sb,
                "  for (long long cg = blockIdx.y; cg < %lldll; cg += gridDim.y) {\n"
                "    const long long c = cg / %lld;\n"
                "    const int s0 = (int)(cg - c * %lld) * %lld, ns = %lld - s0 < %lld ? %lld - s0 : %lld;\n",
                (long long)g->sc->channels * g->groups, g->groups, g->groups, g->sg,
                (long long)g->sc->num_elements, g->sg, (long long)g->sc->num_elements, g->sg);
}

/* Channel and species-group loop, A, then the row chunks; a thread a row.
 * Opens the row body with r (row), s (species within the group), a
 * (A + s V) and cv defined; rows of other groups are skipped. */
static void open_channel_rows(const pgen_t *g, const char *name, const char *params) {
  oeq_sb_printf(g->ctx->sb,
                "extern \"C\" __global__ void __launch_bounds__(%d, %d) %s(%s) {\n"
                "  extern __shared__ __align__(16) unsigned char oeq_smem[];\n"
                "  oeq_ct *A = reinterpret_cast<oeq_ct *>(oeq_smem); /* [pair][species] */\n",
                PAIR_THREADS, min_blocks(g, 0), name, params);
  open_channel_group(g);
  oeq_sb_printf(g->ctx->sb,
                "    oeq_symcon_coefficients(A, w, c, s0, ns);\n"
                "    for (long long r0 = (long long)blockIdx.x * %d; r0 < batch; r0 += (long long)gridDim.x * %d) {\n"
                "      const long long r1 = r0 + %d < batch ? r0 + %d : batch;\n"
                "      for (long long r = r0 + threadIdx.x; r < r1; r += blockDim.x) {\n"
                "      /* another group's, or out of range (skipped: see the header) */\n"
                "      const int s = (int)((unsigned)species[r] - (unsigned)s0);\n"
                "      if ((unsigned)s >= (unsigned)ns) continue;\n"
                "      const oeq_ct *a = A + s * %d;\n",
                PAIR_ROWS_PER_BLOCK, PAIR_ROWS_PER_BLOCK, PAIR_ROWS_PER_BLOCK, PAIR_ROWS_PER_BLOCK,
                SYMCON_PAIR_VECTOR);
  if (SYMCON_PAIR_VECTOR > 1) oeq_sb_puts(g->ctx->sb, "      oeq_ctv cv;\n");
}

static void close_channel_rows(const pgen_t *g) { oeq_sb_puts(g->ctx->sb, "      }\n    }\n  }\n}\n"); }

static void emit_forward(const pgen_t *g) {
  const oeq_symcon_t *sc = g->sc;
  open_channel_rows(g, OEQ_SYMCON_FORWARD_KERNEL,
                    "const oeq_it *__restrict__ x, const int *__restrict__ species,\n"
                    "    const oeq_wt *__restrict__ w, oeq_it *__restrict__ z, long long batch");
  emit_load_x(g, WALK_FORWARD, NULL);
  for (int o = 0; o < sc->n_out; o++)
    for (int m = 0; m < sc->outs[o].d; m++) oeq_sb_printf(g->ctx->sb, "      oeq_ct z%d_%d = 0;\n", o, m);
  emit_walk(g, WALK_FORWARD);
  oeq_sb_printf(g->ctx->sb, "      oeq_it *zr = z + r * %lldll;\n", (long long)sc->z_dim);
  for (int o = 0; o < sc->n_out; o++)
    for (int m = 0; m < sc->outs[o].d; m++)
      oeq_sb_printf(g->ctx->sb, "      zr[%lldll + c * %d] = (oeq_it)z%d_%d;\n",
                    (long long)sc->outs[o].z_offset + m, sc->outs[o].d, o, m);
  close_channel_rows(g);
}

static void emit_dx(const pgen_t *g) {
  const oeq_symcon_t *sc = g->sc;
  open_channel_rows(g, OEQ_SYMCON_DX_KERNEL,
                    "const oeq_it *__restrict__ x, const int *__restrict__ species,\n"
                    "    const oeq_wt *__restrict__ w, const oeq_it *__restrict__ dz,\n"
                    "    oeq_it *__restrict__ dx, long long batch");
  emit_load_x(g, WALK_DX, NULL);
  emit_load_dz(g, NULL);
  for (int64_t i = 0; i < sc->in_dim; i++) oeq_sb_printf(g->ctx->sb, "      oeq_ct d%lld = 0;\n", (long long)i);
  emit_walk(g, WALK_DX);
  oeq_sb_printf(g->ctx->sb, "      oeq_it *dr = dx + r * %lldll + c * %lldll;\n", (long long)sc->x_dim,
                (long long)sc->in_dim);
  for (int64_t i = 0; i < sc->in_dim; i++)
    oeq_sb_printf(g->ctx->sb, "      dr[%lld] = (oeq_it)d%lld;\n", (long long)i, (long long)i);
  close_channel_rows(g);
}

static void emit_dw(const pgen_t *g) {
  const long long SG = g->sg, NP = (long long)g->pp->n_pairs, Q = (long long)g->pp->n_elems;
  oeq_strbuf_t *sb = g->ctx->sb;
  oeq_sb_printf(sb,
                "extern \"C\" __global__ void __launch_bounds__(%d, %d) %s(const oeq_it *__restrict__ x,\n"
                "    const int *__restrict__ species, const oeq_it *__restrict__ dz,\n"
                "    oeq_wt *__restrict__ dw, long long batch) {\n"
                "  extern __shared__ __align__(16) unsigned char oeq_smem[];\n"
                "  oeq_ct *dA = reinterpret_cast<oeq_ct *>(oeq_smem); /* [pair][species of the group] */\n"
                "  int *cnt = reinterpret_cast<int *>(dA + %lld), *off = cnt + %lld, *nvalid = off + %lld;\n"
                "  int *sp = nvalid + 1, *rk = sp + %d, *perm = rk + %d; /* a tile's rows */\n",
                PAIR_THREADS, min_blocks(g, 1), OEQ_SYMCON_DW_KERNEL, NP * SG, SG, SG, PAIR_TILE, PAIR_TILE);
  open_channel_group(g);
  oeq_sb_printf(sb,
                "    for (int i = threadIdx.x; i < %lld; i += blockDim.x) dA[i] = 0;\n"
                "    for (long long r0 = (long long)blockIdx.x * %d; r0 < batch; r0 += (long long)gridDim.x * %d) {\n"
                "    const long long r1 = r0 + %d < batch ? r0 + %d : batch;\n"
                "    for (long long t0 = r0; t0 < r1; t0 += %d) {\n"
                "      const int n = r1 - t0 < %d ? (int)(r1 - t0) : %d;\n"
                "      /* counting sort of the tile's rows of this group by species */\n"
                "      __syncthreads();\n"
                "      for (int i = threadIdx.x; i < ns; i += blockDim.x) cnt[i] = 0;\n"
                "      __syncthreads();\n"
                "      for (int i = threadIdx.x; i < n; i += blockDim.x) {\n"
                "        const int s = (int)((unsigned)species[t0 + i] - (unsigned)s0);\n"
                "        sp[i] = s;\n"
                "        if ((unsigned)s < (unsigned)ns) rk[i] = atomicAdd(&cnt[s], 1);\n"
                "      }\n"
                "      __syncthreads();\n"
                "      if (threadIdx.x == 0) {\n"
                "        int acc = 0;\n"
                "        for (int s = 0; s < ns; s++) { off[s] = acc; acc += cnt[s]; }\n"
                "        *nvalid = acc;\n"
                "      }\n"
                "      __syncthreads();\n"
                "      for (int i = threadIdx.x; i < n; i += blockDim.x)\n"
                "        if ((unsigned)sp[i] < (unsigned)ns) perm[off[sp[i]] + rk[i]] = i;\n"
                "      __syncthreads();\n"
                "      /* whole warps run every position (the reductions need them) */\n"
                "      const int nv = *nvalid, nround = (nv + OEQ_WARP - 1) / OEQ_WARP * OEQ_WARP;\n"
                "      for (int pos = threadIdx.x; pos < nround; pos += blockDim.x) {\n"
                "      const bool active = pos < nv;\n"
                "      const int i = active ? perm[pos] : 0;\n"
                "      const int s = active ? sp[i] : -1;\n"
                "      const long long r = t0 + i;\n",
                NP * SG, PAIR_ROWS_PER_BLOCK, PAIR_ROWS_PER_BLOCK, PAIR_ROWS_PER_BLOCK, PAIR_ROWS_PER_BLOCK,
                PAIR_TILE, PAIR_TILE, PAIR_TILE);
  oeq_sb_puts(sb, "      const int lane = threadIdx.x % OEQ_WARP;\n      oeq_ct");
  /* every v of a chunk is live where the one-species path reduces v itself */
  for (int j = 0; j < PAIR_CHUNK && (SYMCON_DW_ONE_SPECIES_PATH || j < g->pp->n_pairs); j++)
    oeq_sb_printf(sb, "%s v%d", j ? "," : "", j);
  oeq_sb_puts(sb, ";\n");
  emit_load_x(g, WALK_DW, "active");
  emit_load_dz(g, "active");
  emit_walk(g, WALK_DW);
  oeq_sb_printf(sb,
                "      }\n"
                "    }\n"
                "    }\n"
                "    /* dW[s][k][c] = sum_p U dA[p][s], once per block, channel and group */\n"
                "    __syncthreads();\n"
                "    for (int i = threadIdx.x; i < %lld; i += blockDim.x) {\n"
                "      const int q = i / %lld, s = i - q * %lld;\n"
                "      if (s >= ns) continue;\n"
                "      oeq_ct acc = 0;\n"
                "      for (int j = oeq_elem_start[q]; j < oeq_elem_start[q + 1]; j++)\n"
                "        acc += oeq_elem_value[j] * dA[oeq_elem_index[j] * %lld + s];\n"
                "      if (acc != (oeq_ct)0)\n"
                "        atomicAdd(&dw[oeq_elem_base[q] + (long long)(s0 + s) * oeq_elem_stride[q] + c], (oeq_wt)acc);\n"
                "    }\n"
                "    __syncthreads();\n"
                "  }\n"
                "}\n",
                Q * SG, SG, SG, SG);
}

void oeq_symcon_emit_pairs(const oeq_symcon_t *sc, const oeq_symcon_pairs_t *pp, emit_ctx_t *ctx,
                           size_t ct_size, int sm, int64_t sg, oeq_kernel_table_t *kt) {
  const pgen_t g = {ctx, sc, pp, ct_size, sm, (long long)sg, (long long)((sc->num_elements + sg - 1) / sg)};
  emit_warp_helpers(&g);
  emit_tables(&g);
  emit_part_begin(ctx, 1);
  emit_coefficients(&g);
  emit_forward(&g);
  emit_part_end(ctx);
  emit_part_begin(ctx, 2);
  emit_coefficients(&g);
  emit_dx(&g);
  emit_elem_tables(&g);
  emit_dw(&g);
  emit_part_end(ctx);
  const long long blocks_y = (long long)sc->channels * g.groups;
  const int grid_y = blocks_y < GRID_Y_MAX ? (int)blocks_y : GRID_Y_MAX;
  const size_t coeff = oeq_symcon_pairs_coeff_bytes(pp, ct_size, sg), dw = oeq_symcon_pairs_dw_bytes(pp, ct_size, sg);
  kt->n_parts = 2;
  kt->count = OEQ_SYMCON_K_COUNT;
  kt->kernel[OEQ_SYMCON_K_FORWARD] = (oeq_kernel_desc_t){OEQ_SYMCON_FORWARD_KERNEL, 1, PAIR_THREADS,
                                                         PAIR_ROWS_PER_BLOCK, coeff, grid_y};
  kt->kernel[OEQ_SYMCON_K_DX] =
      (oeq_kernel_desc_t){OEQ_SYMCON_DX_KERNEL, 2, PAIR_THREADS, PAIR_ROWS_PER_BLOCK, coeff, grid_y};
  kt->kernel[OEQ_SYMCON_K_DW] =
      (oeq_kernel_desc_t){OEQ_SYMCON_DW_KERNEL, 2, PAIR_THREADS, PAIR_ROWS_PER_BLOCK, dw, grid_y};
}
