/* symcon_codegen.c: the symmetric contraction's GPU source (see
 * symcon_codegen.h for the kernels' shape). Every U nonzero is written once
 * per kernel as a constant times a monomial of the row's x (held in
 * registers); terms are grouped by (k, m) as lib/symcon.c sorts them. */
#include "codegen/symcon_codegen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/emit_util.h"
#include "codegen/strbuf.h"
#include "codegen/symcon_pairs.h"
#include "codegen/tuning.h"

#define SYMCON_WARPS_DEFAULT 4
/* Block size of the dw kernel when it keeps a shared partial. */
#define SYMCON_DW_THREADS 512

typedef struct {
  oeq_strbuf_t *sb;
  const oeq_symcon_t *sc;
  emit_ctx_t ctx; /* dialect, types and literals (emit_util.h) */
  size_t ct_size;
} gen_t;

/* One basis element of the flat weight list: block (o, nu) and its k. */
typedef struct {
  int o, nu;
  int64_t k;
} welem_t;

static const char *lit(const gen_t *g, double v, char buf[64]) { return emit_literal(&g->ctx, v, buf); }

/* "x3 * x5 * x7" without the factor `skip` (-1: none); "1" if empty. */
static const char *monomial(const oeq_symcon_entry_t *e, int nu, int skip, char buf[96]) {
  int n = 0, first = 1;
  buf[0] = '\0';
  for (int j = 0; j < nu; j++) {
    if (j == skip) continue;
    n += snprintf(buf + n, (size_t)(96 - n), "%sx%d", first ? "" : " * ", (int)e->idx[j]);
    first = 0;
  }
  if (first) snprintf(buf, 96, "(oeq_ct)1");
  return buf;
}

/* The row loop every kernel shares: a warp a row, lanes across channels;
 * opens `{` for the channel body with s, row and c defined. */
static void open_rows(const gen_t *g) {
  const oeq_symcon_t *sc = g->sc;
  oeq_sb_printf(g->sb,
                "  const int lane = threadIdx.x %% OEQ_WARP;\n"
                "  const long long wpb = blockDim.x / OEQ_WARP;\n"
                "  for (long long row = (long long)blockIdx.x * wpb + threadIdx.x / OEQ_WARP; row < batch;\n"
                "       row += (long long)gridDim.x * wpb) {\n"
                "    const int s = species[row];\n"
                "    if ((unsigned)s >= %lldu) continue; /* out of range: skipped (see header) */\n"
                "#pragma unroll 1\n"
                "    for (int c = lane; c < %lld; c += OEQ_WARP) {\n",
                (long long)sc->num_elements, (long long)sc->channels);
}

static void close_rows(const gen_t *g) { oeq_sb_puts(g->sb, "    }\n  }\n"); }

static void load_x(const gen_t *g) {
  const oeq_symcon_t *sc = g->sc;
  oeq_sb_printf(g->sb, "      const oeq_it *xr = x + row * %lldll + (long long)c * %lld;\n",
                (long long)sc->x_dim, (long long)sc->in_dim);
  for (int64_t i = 0; i < sc->in_dim; i++)
    oeq_sb_printf(g->sb, "      oeq_ct x%lld = (oeq_ct)xr[%lld];\n", (long long)i, (long long)i);
}

/* At the top of a loop over basis elements: x becomes "new" each iteration
 * (an empty asm that may change it), so the compiler cannot hoist every
 * element's polynomial out of the loop (loop-invariant code motion did, and
 * the hundreds of hoisted values spilled). No instruction is emitted. */
static void fence_x(const gen_t *g) {
  oeq_sb_puts(g->sb, "        ");
  for (int64_t i = 0; i < g->sc->in_dim; i++) oeq_sb_printf(g->sb, "oeq_fence(x%lld); ", (long long)i);
  oeq_sb_puts(g->sb, "\n");
}

void oeq_symcon_emit_fences(const emit_ctx_t *ctx) {
  const int hip = ctx->dialect == OEQ_DIALECT_HIP;
  oeq_sb_printf(ctx->sb,
                "__device__ __forceinline__ void oeq_fence(float &v) { asm volatile(\"\" : \"+%s\"(v)); }\n"
                "__device__ __forceinline__ void oeq_fence(double &v) { asm volatile(\"\" : \"+%s\"(v)); }\n"
                "template <typename T> __device__ __forceinline__ void oeq_fence(const T *&p) {\n"
                "  asm volatile(\"\" : \"+%s\"(p));\n"
                "}\n",
                hip ? "v" : "f", hip ? "v" : "d", hip ? "v" : "l");
}

/* Block (o, nu): the weight pointer for species s and channel c, and a
 * run-time loop over its basis elements k with one switch case each. A
 * loop (not straight-line code) because ptxas otherwise hoists every
 * W[k] load to the top for latency and spills them all. */
static void open_block(const gen_t *g, const oeq_symcon_block_t *b, const char *w) {
  oeq_sb_printf(g->sb,
                "      { const oeq_wt *W = %s + %lldll + (long long)s * %lldll + c;\n"
                "#pragma unroll 1\n"
                "      for (int k = 0; k < %lld; k++) {\n"
                "        const oeq_ct wk = (oeq_ct)W[(long long)k * %lld];\n",
                w, (long long)b->w_offset, (long long)(b->K * g->sc->channels), (long long)b->K,
                (long long)g->sc->channels);
  fence_x(g);
  oeq_sb_puts(g->sb, "        switch (k) {\n");
}

static void close_block(const gen_t *g) {
  oeq_sb_puts(g->sb, "        default: break;\n        }\n      }\n      }\n");
}

/* p = sum of the (k, m) run's terms starting at e[i]; returns the run's end. */
static int64_t emit_poly(const gen_t *g, const oeq_symcon_block_t *b, int64_t i) {
  char l[64], mono[96];
  const oeq_symcon_entry_t *e0 = &b->e[i];
  oeq_sb_printf(g->sb, "          oeq_ct p = %s * (%s);\n", lit(g, e0->value, l),
                monomial(e0, b->nu, -1, mono));
  int64_t j = i + 1;
  for (; j < b->n && b->e[j].k == e0->k && b->e[j].m == e0->m; j++)
    oeq_sb_printf(g->sb, "          p += %s * (%s);\n", lit(g, b->e[j].value, l),
                  monomial(&b->e[j], b->nu, -1, mono));
  return j;
}

static void emit_forward(const gen_t *g) {
  const oeq_symcon_t *sc = g->sc;
  oeq_sb_printf(g->sb,
                "extern \"C\" __global__ void __launch_bounds__(%d, 1) %s(const oeq_it *__restrict__ x,\n"
                "    const int *__restrict__ species, const oeq_wt *__restrict__ w,\n"
                "    oeq_it *__restrict__ z, long long batch) {\n",
                g->ctx.warp_size * g->ctx.warps_per_block, OEQ_SYMCON_FORWARD_KERNEL);
  open_rows(g);
  load_x(g);
  oeq_sb_printf(g->sb, "      oeq_it *zr = z + row * %lldll;\n", (long long)sc->z_dim);
  for (int o = 0; o < sc->n_out; o++) {
    const oeq_symcon_out_t *out = &sc->outs[o];
    oeq_sb_printf(g->sb, "      { /* output %d: %d%c */\n", o, out->l, out->parity > 0 ? 'e' : 'o');
    for (int m = 0; m < out->d; m++) oeq_sb_printf(g->sb, "        oeq_ct a%d = 0;\n", m);
    for (int nu = sc->correlation; nu >= 1; nu--) {
      const oeq_symcon_block_t *b = &out->blocks[nu - 1];
      if (b->n == 0) continue;
      open_block(g, b, "w");
      for (int64_t i = 0; i < b->n;) {
        int32_t k = b->e[i].k;
        oeq_sb_printf(g->sb, "        case %d: {\n", (int)k);
        while (i < b->n && b->e[i].k == k) {
          int m = b->e[i].m;
          oeq_sb_puts(g->sb, "        {\n");
          i = emit_poly(g, b, i);
          oeq_sb_printf(g->sb, "          a%d += wk * p;\n        }\n", m);
        }
        oeq_sb_puts(g->sb, "        } break;\n");
      }
      close_block(g);
    }
    /* z row: [C][d] per output irrep */
    for (int m = 0; m < out->d; m++)
      oeq_sb_printf(g->sb, "        zr[%lld + (long long)c * %d] = (oeq_it)a%d;\n",
                    (long long)out->z_offset + m, out->d, m);
    oeq_sb_puts(g->sb, "      }\n");
  }
  close_rows(g);
  oeq_sb_puts(g->sb, "}\n");
}

static void emit_dx(const gen_t *g) {
  const oeq_symcon_t *sc = g->sc;
  oeq_sb_printf(g->sb,
                "extern \"C\" __global__ void __launch_bounds__(%d, 1) %s(const oeq_it *__restrict__ x,\n"
                "    const int *__restrict__ species, const oeq_wt *__restrict__ w,\n"
                "    const oeq_it *__restrict__ dz, oeq_it *__restrict__ dx, long long batch) {\n",
                g->ctx.warp_size * g->ctx.warps_per_block, OEQ_SYMCON_DX_KERNEL);
  open_rows(g);
  load_x(g);
  /* dz of this channel: [C][d] per output irrep */
  oeq_sb_printf(g->sb, "      const oeq_it *gr = dz + row * %lldll;\n", (long long)sc->z_dim);
  for (int o = 0; o < sc->n_out; o++)
    for (int m = 0; m < sc->outs[o].d; m++)
      oeq_sb_printf(g->sb, "      const oeq_ct g%d_%d = (oeq_ct)gr[%lld + (long long)c * %d];\n", o, m,
                    (long long)sc->outs[o].z_offset + m, sc->outs[o].d);
  for (int64_t i = 0; i < sc->in_dim; i++) oeq_sb_printf(g->sb, "      oeq_ct d%lld = 0;\n", (long long)i);
  char l[64], mono[96];
  for (int o = 0; o < sc->n_out; o++) {
    const oeq_symcon_out_t *out = &sc->outs[o];
    for (int nu = sc->correlation; nu >= 1; nu--) {
      const oeq_symcon_block_t *b = &out->blocks[nu - 1];
      if (b->n == 0) continue;
      open_block(g, b, "w");
      for (int64_t i = 0; i < b->n;) {
        int32_t k = b->e[i].k;
        oeq_sb_printf(g->sb, "        case %d: {\n", (int)k);
        while (i < b->n && b->e[i].k == k) {
          int m = b->e[i].m;
          oeq_sb_printf(g->sb, "        { const oeq_ct q = wk * g%d_%d;\n", o, m);
          for (; i < b->n && b->e[i].k == k && b->e[i].m == m; i++) {
            const oeq_symcon_entry_t *e = &b->e[i];
            oeq_sb_printf(g->sb, "          { const oeq_ct t = %s * q;", lit(g, e->value, l));
            /* d/dx of the monomial: every factor once (repeats included) */
            for (int j = 0; j < nu; j++)
              oeq_sb_printf(g->sb, " d%d += t * (%s);", (int)e->idx[j], monomial(e, nu, j, mono));
            oeq_sb_puts(g->sb, " }\n");
          }
          oeq_sb_puts(g->sb, "        }\n");
        }
        oeq_sb_puts(g->sb, "        } break;\n");
      }
      close_block(g);
    }
  }
  oeq_sb_printf(g->sb, "      oeq_it *dr = dx + row * %lldll + (long long)c * %lld;\n",
                (long long)sc->x_dim, (long long)sc->in_dim);
  for (int64_t i = 0; i < sc->in_dim; i++)
    oeq_sb_printf(g->sb, "      dr[%lld] = (oeq_it)d%lld;\n", (long long)i, (long long)i);
  close_rows(g);
  oeq_sb_puts(g->sb, "}\n");
}

/* The basis elements in flat weight order (per output irrep, nu descending). */
static int64_t list_elements(const oeq_symcon_t *sc, welem_t *v) {
  int64_t n = 0;
  for (int o = 0; o < sc->n_out; o++)
    for (int nu = sc->correlation; nu >= 1; nu--)
      for (int64_t k = 0; k < sc->outs[o].blocks[nu - 1].K; k++) {
        if (v) v[n] = (welem_t){o, nu, k};
        n++;
      }
  return n;
}

static void emit_dw(const gen_t *g, const welem_t *el, int64_t n_el, int group_size, int groups,
                    int in_shared, int threads) {
  const oeq_symcon_t *sc = g->sc;
  const long long C = (long long)sc->channels, E = (long long)sc->num_elements;
  /* dw offset of element q for species s, channel c: base[q] + s * kc[q] + c */
  oeq_sb_printf(g->sb, "__device__ const long long oeq_dw_base[%lld] = {", (long long)n_el);
  for (int64_t q = 0; q < n_el; q++) {
    const oeq_symcon_block_t *b = &sc->outs[el[q].o].blocks[el[q].nu - 1];
    oeq_sb_printf(g->sb, "%s%lldll", q ? ", " : "", (long long)(b->w_offset + el[q].k * C));
  }
  oeq_sb_printf(g->sb, "};\n__device__ const long long oeq_dw_kc[%lld] = {", (long long)n_el);
  for (int64_t q = 0; q < n_el; q++) {
    const oeq_symcon_block_t *b = &sc->outs[el[q].o].blocks[el[q].nu - 1];
    oeq_sb_printf(g->sb, "%s%lldll", q ? ", " : "", (long long)(b->K * C));
  }
  oeq_sb_puts(g->sb, "};\n");
  oeq_sb_printf(g->sb,
                "extern \"C\" __global__ void __launch_bounds__(%d, 1) %s(const oeq_it *__restrict__ x,\n"
                "    const int *__restrict__ species, const oeq_it *__restrict__ dz,\n"
                "    oeq_wt *__restrict__ dw, long long batch) {\n"
                "  const int group = blockIdx.y;\n",
                threads, OEQ_SYMCON_DW_KERNEL);
  const long long part_n = E * group_size * C;
  if (in_shared)
    oeq_sb_printf(g->sb,
                  "  extern __shared__ __align__(16) unsigned char oeq_smem[];\n"
                  "  oeq_ct *part = reinterpret_cast<oeq_ct *>(oeq_smem); /* [E][%d][C] */\n"
                  "  for (int i = threadIdx.x; i < %lld; i += blockDim.x) part[i] = 0;\n"
                  "  __syncthreads();\n",
                  group_size, part_n);
  open_rows(g);
  load_x(g);
  oeq_sb_printf(g->sb, "      const oeq_it *gr = dz + row * %lldll;\n", (long long)sc->z_dim);
  oeq_sb_puts(g->sb, "      switch (group) {\n");
  for (int gi = 0; gi < groups; gi++) {
    oeq_sb_printf(g->sb, "      case %d: {\n", gi);
    /* dz of the outputs this group touches */
    int touched[64] = {0};
    for (int64_t q = (int64_t)gi * group_size; q < n_el && q < (int64_t)(gi + 1) * group_size; q++)
      if (el[q].o < 64) touched[el[q].o] = 1;
    for (int o = 0; o < sc->n_out && o < 64; o++)
      if (touched[o])
        for (int m = 0; m < sc->outs[o].d; m++)
          oeq_sb_printf(g->sb, "        const oeq_ct g%d_%d = (oeq_ct)gr[%lld + (long long)c * %d];\n", o,
                        m, (long long)sc->outs[o].z_offset + m, sc->outs[o].d);
    /* a run-time loop over the group's elements, one switch case each (as
     * open_block, so ptxas does not hoist the whole group at once) */
    int64_t q0 = (int64_t)gi * group_size, q1 = q0 + group_size < n_el ? q0 + group_size : n_el;
    oeq_sb_printf(g->sb,
                  "#pragma unroll 1\n"
                  "      for (int q = 0; q < %lld; q++) {\n"
                  "        oeq_ct acc = 0;\n",
                  (long long)(q1 - q0));
    fence_x(g);
    oeq_sb_puts(g->sb, "        switch (q) {\n");
    for (int64_t q = q0; q < q1; q++) {
      const oeq_symcon_block_t *b = &sc->outs[el[q].o].blocks[el[q].nu - 1];
      oeq_sb_printf(g->sb, "        case %lld: {\n", (long long)(q - q0));
      /* the entries of element k (sorted by k, then m) */
      int64_t i = 0;
      while (i < b->n && b->e[i].k != el[q].k) i++;
      while (i < b->n && b->e[i].k == el[q].k) {
        int m = b->e[i].m;
        oeq_sb_puts(g->sb, "        {\n");
        i = emit_poly(g, b, i);
        oeq_sb_printf(g->sb, "          acc += g%d_%d * p;\n        }\n", el[q].o, m);
      }
      oeq_sb_puts(g->sb, "        } break;\n");
    }
    oeq_sb_puts(g->sb, "        default: break;\n        }\n");
    if (in_shared)
      oeq_sb_printf(g->sb, "        atomicAdd(&part[(s * %d + q) * %lld + c], acc);\n", group_size, C);
    else
      oeq_sb_printf(g->sb,
                    "        const long long e = %lldll + q;\n"
                    "        atomicAdd(&dw[oeq_dw_base[e] + (long long)s * oeq_dw_kc[e] + c], (oeq_wt)acc);\n",
                    (long long)q0);
    oeq_sb_puts(g->sb, "      }\n");
    oeq_sb_puts(g->sb, "      } break;\n");
  }
  oeq_sb_puts(g->sb, "      default: break;\n      }\n");
  close_rows(g);
  if (in_shared)
    oeq_sb_printf(g->sb,
                  "  __syncthreads();\n"
                  "  for (int i = threadIdx.x; i < %lld; i += blockDim.x) {\n"
                  "    const oeq_ct v = part[i];\n"
                  "    const int c = i %% %lld, q = (i / %lld) %% %d, s = i / %lld;\n"
                  "    const long long e = (long long)group * %d + q;\n"
                  "    if (v != (oeq_ct)0 && e < %lld)\n"
                  "      atomicAdd(&dw[oeq_dw_base[e] + (long long)s * oeq_dw_kc[e] + c], (oeq_wt)v);\n"
                  "  }\n",
                  part_n, C, C, group_size, (long long)group_size * C, group_size, (long long)n_el);
  oeq_sb_puts(g->sb, "}\n");
}

/* The pair layout when asked for, or (AUTO) when its tables fit in at most
 * SYMCON_PAIR_MAX_GROUPS species groups. *done: 1 with the source, 0 when
 * the terms layout should be used instead. */
static oeq_status_t try_pairs(const oeq_symcon_t *sc, const oeq_codegen_target_t *target,
                              oeq_symcon_layout_t layout, emit_ctx_t *ctx, size_t ct_size,
                              oeq_symcon_source_t *out, int *done, oeq_error_t *err) {
  *done = 0;
  if (layout == OEQ_SYMCON_LAYOUT_TERMS) return OEQ_SUCCESS;
  oeq_symcon_pairs_t pp;
  oeq_status_t st = oeq_symcon_pairs_build(sc, &pp, err);
  if (st != OEQ_SUCCESS) return st;
  const int64_t sg = oeq_symcon_pairs_group(sc, &pp, ct_size, target->max_shared_per_block);
  const int64_t groups = sg > 0 ? (sc->num_elements + sg - 1) / sg : 0;
  if (sg == 0 || groups > SYMCON_PAIR_MAX_GROUPS) {
    oeq_symcon_pairs_free(&pp);
    if (layout == OEQ_SYMCON_LAYOUT_PAIRS)
      return oeq_fail(err, OEQ_ERROR_UNSUPPORTED,
                      "symmetric contraction: the pair kernels' tables of %lld species need more than "
                      "%d groups of the %zu bytes of shared memory a block has",
                      (long long)sc->num_elements, SYMCON_PAIR_MAX_GROUPS, target->max_shared_per_block);
    return OEQ_SUCCESS;
  }
  memset(out, 0, sizeof *out);
  emit_prelude(ctx);
  oeq_sb_printf(ctx->sb,
                "// symmetric contraction (pairs): correlation %d, %lld channels, %lld species in %lld "
                "group(s), %lld pairs\n",
                sc->correlation, (long long)sc->channels, (long long)sc->num_elements, (long long)groups,
                (long long)pp.n_pairs);
  oeq_symcon_emit_pairs(sc, &pp, ctx, ct_size, target->sm, sg, &out->kernels);
  oeq_symcon_pairs_free(&pp);
  out->pairs = 1;
  *done = 1;
  return OEQ_SUCCESS;
}

oeq_status_t oeq_codegen_symcon(const oeq_symcon_t *sc, const oeq_codegen_target_t *target,
                                oeq_symcon_source_t *out, oeq_error_t *err) {
  return oeq_codegen_symcon_layout(sc, target, OEQ_SYMCON_LAYOUT_AUTO, out, err);
}

oeq_status_t oeq_codegen_symcon_layout(const oeq_symcon_t *sc, const oeq_codegen_target_t *target,
                                       oeq_symcon_layout_t layout, oeq_symcon_source_t *out,
                                       oeq_error_t *err) {
  if (!sc || !target || !out) return oeq_fail(err, OEQ_ERROR_INVALID_ARGUMENT, "NULL argument");
  if (sc->in_dim > 1024 || sc->n_out > 64)
    return oeq_fail(err, OEQ_ERROR_UNSUPPORTED,
                    "symmetric contraction: %lld input components or %d output irreps are more than "
                    "the GPU generator unrolls (1024, 64)",
                    (long long)sc->in_dim, sc->n_out);
  oeq_strbuf_t sb;
  oeq_sb_init(&sb);
  gen_t g;
  memset(&g, 0, sizeof g);
  g.sb = &sb;
  g.sc = sc;
  g.ctx.sb = &sb;
  g.ctx.dialect = target->dialect;
  g.ctx.warp_size = target->dialect == OEQ_DIALECT_HIP ? 64 : 32;
  g.ctx.warps_per_block = target->warps_per_block > 0 ? target->warps_per_block : SYMCON_WARPS_DEFAULT;
  g.ctx.it = sc->irrep_dtype == OEQ_FLOAT64 ? "double" : "float";
  g.ctx.wt = sc->weight_dtype == OEQ_FLOAT64 ? "double" : "float";
  g.ctx.ct_is_double = sc->irrep_dtype == OEQ_FLOAT64 || sc->weight_dtype == OEQ_FLOAT64;
  g.ctx.ct = g.ctx.ct_is_double ? "double" : "float";
  g.ct_size = g.ctx.ct_is_double ? 8 : 4;

  int done = 0;
  oeq_status_t st = try_pairs(sc, target, layout, &g.ctx, g.ct_size, out, &done, err);
  if (st != OEQ_SUCCESS) {
    oeq_sb_free(&sb);
    return st;
  }
  if (done) {
    char *text = oeq_sb_take(&sb);
    if (!text) return oeq_fail(err, OEQ_ERROR_OUT_OF_MEMORY, "out of memory generating symcon source");
    out->text = text;
    out->warp_size = g.ctx.warp_size;
    out->warps_per_block = g.ctx.warps_per_block;
    return OEQ_SUCCESS;
  }

  int64_t n_el = list_elements(sc, NULL);
  welem_t *el = malloc((size_t)(n_el > 0 ? n_el : 1) * sizeof *el);
  if (!el) {
    oeq_sb_free(&sb);
    return oeq_fail(err, OEQ_ERROR_OUT_OF_MEMORY, "out of memory generating symcon source");
  }
  list_elements(sc, el);
  /* dw groups: as many basis elements per block as a [E][group][C] shared
   * partial allows */
  size_t per_element = (size_t)sc->num_elements * (size_t)sc->channels * g.ct_size;
  int64_t fit = per_element > 0 ? (int64_t)(target->max_shared_per_block / per_element) : 0;
  int in_shared = fit >= 1;
  int group_size = (int)(in_shared ? (fit < n_el ? fit : n_el) : (n_el < 8 ? n_el : 8));
  if (group_size < 1) group_size = 1;
  int groups = (int)((n_el + group_size - 1) / group_size);
  if (groups < 1) groups = 1;

  emit_prelude(&g.ctx);
  oeq_sb_printf(&sb, "// symmetric contraction: correlation %d, %lld channels, %lld species\n",
                sc->correlation, (long long)sc->channels, (long long)sc->num_elements);
  oeq_symcon_emit_fences(&g.ctx);
  emit_part_begin(&g.ctx, 1);
  emit_forward(&g);
  emit_part_end(&g.ctx);
  emit_part_begin(&g.ctx, 2);
  emit_dx(&g);
  /* The dw kernel's shared partial usually allows one block an SM: more
   * warps a block keep the SM busy (4 warps left it latency-bound). */
  int dw_warps = in_shared ? SYMCON_DW_THREADS / g.ctx.warp_size : g.ctx.warps_per_block;
  emit_dw(&g, el, n_el, group_size, groups, in_shared, dw_warps * g.ctx.warp_size);
  emit_part_end(&g.ctx);
  free(el);

  char *text = oeq_sb_take(&sb);
  if (!text) return oeq_fail(err, OEQ_ERROR_OUT_OF_MEMORY, "out of memory generating symcon source");
  memset(out, 0, sizeof *out);
  out->text = text;
  out->pairs = 0;
  out->warp_size = g.ctx.warp_size;
  out->warps_per_block = g.ctx.warps_per_block;
  out->dw_groups = groups;
  out->dw_group_size = group_size;
  out->dw_in_shared = in_shared;
  int threads = g.ctx.warp_size * g.ctx.warps_per_block;
  out->kernels.n_parts = 2;
  out->kernels.count = OEQ_SYMCON_K_COUNT;
  out->kernels.kernel[OEQ_SYMCON_K_FORWARD] =
      (oeq_kernel_desc_t){OEQ_SYMCON_FORWARD_KERNEL, 1, threads, g.ctx.warps_per_block, 0, 1};
  out->kernels.kernel[OEQ_SYMCON_K_DX] =
      (oeq_kernel_desc_t){OEQ_SYMCON_DX_KERNEL, 2, threads, g.ctx.warps_per_block, 0, 1};
  out->kernels.kernel[OEQ_SYMCON_K_DW] = (oeq_kernel_desc_t){
      OEQ_SYMCON_DW_KERNEL, 2, dw_warps * g.ctx.warp_size, dw_warps,
      in_shared ? (size_t)group_size * per_element : 0, groups};
  return OEQ_SUCCESS;
}
