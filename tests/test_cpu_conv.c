/* test_cpu_conv.c: the CPU fused convolution against the tensor product
 * plus an explicit gather/scatter computed in the test, for int32 and int64
 * indices, atomic-style and deterministic plans, ghost rows, degenerate
 * graphs, bad indices, workspaces and bitwise reproducibility. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oeq.h"
#include "support.h"

TestSuite(cpu_conv);

static void *xmalloc(size_t n) {
  void *v = malloc(n ? n : 1);
  cr_assert_not_null(v, "out of memory");
  return v;
}
static double *dalloc(int64_t n) { return xmalloc((size_t)n * sizeof(double)); }

/* ---------------------------------------------------------------- graph */

typedef struct {
  int64_t x_rows, z_rows, edges;
  int64_t *rows, *cols; /* receivers, senders */
} graph_t;

static graph_t graph_new(int64_t x_rows, int64_t z_rows, int64_t edges) {
  graph_t g = {x_rows, z_rows, edges, xmalloc((size_t)edges * 8), xmalloc((size_t)edges * 8)};
  return g;
}

static void graph_free(graph_t *g) { free(g->rows), free(g->cols); }

static graph_t random_graph(test_rng_t *rng, int64_t x_rows, int64_t z_rows, int64_t edges) {
  graph_t g = graph_new(x_rows, z_rows, edges);
  for (int64_t e = 0; e < edges; e++) {
    g.rows[e] = (int64_t)(test_rng_next(rng) % (uint64_t)z_rows);
    g.cols[e] = (int64_t)(test_rng_next(rng) % (uint64_t)x_rows);
  }
  return g;
}

/* Sorts the edges by receiver (stable), as deterministic mode needs. */
static void sort_by_rows(graph_t *g) {
  for (int64_t i = 1; i < g->edges; i++) {
    int64_t r = g->rows[i], c = g->cols[i], j = i;
    while (j > 0 && g->rows[j - 1] > r) g->rows[j] = g->rows[j - 1], g->cols[j] = g->cols[j - 1], j--;
    g->rows[j] = r, g->cols[j] = c;
  }
}

/* The permutation that sorts the edges by cols (stable). */
static int64_t *sender_perm(const graph_t *g) {
  int64_t *p = xmalloc((size_t)g->edges * 8);
  for (int64_t i = 0; i < g->edges; i++) p[i] = i;
  for (int64_t i = 1; i < g->edges; i++) {
    int64_t v = p[i], j = i;
    while (j > 0 && g->cols[p[j - 1]] > g->cols[v]) p[j] = p[j - 1], j--;
    p[j] = v;
  }
  return p;
}

/* Index arrays in the plan's width. */
static void *indices(const int64_t *v, int64_t n, int wide) {
  if (wide) {
    int64_t *o = xmalloc((size_t)n * 8);
    memcpy(o, v, (size_t)n * 8);
    return o;
  }
  int32_t *o = xmalloc((size_t)n * 4);
  for (int64_t i = 0; i < n; i++) o[i] = (int32_t)v[i];
  return o;
}

/* ------------------------------------------------------------- problem */

typedef struct {
  oeq_problem_t *p;
  oeq_plan_t *tp;
  int64_t nx, ny, nz, nw;
  int shared;
} conv_problem_t;

static conv_problem_t conv_problem(const char *kind, int shared, oeq_dtype_t dt) {
  conv_problem_t c = {.shared = shared};
  oeq_status_t s;
  if (!strcmp(kind, "channelwise"))
    s = oeq_problem_create_channelwise("8x0e+8x1o+4x2e", "0e+1o+2e", "0e+1o+2e", &c.p);
  else
    s = oeq_problem_create_fully_connected("3x0e+2x1o", "1x0e+1x1o", "2x0e+2x1o+1x1e", &c.p);
  cr_assert_eq(s, OEQ_SUCCESS, "%s", oeq_last_error());
  cr_assert_eq(oeq_problem_set_dtypes(c.p, dt, dt), OEQ_SUCCESS);
  cr_assert_eq(oeq_problem_set_shared_weights(c.p, shared), OEQ_SUCCESS);
  cr_assert_eq(oeq_problem_dims(c.p, &c.nx, &c.ny, &c.nz), OEQ_SUCCESS);
  cr_assert_eq(oeq_problem_weight_numel(c.p, &c.nw), OEQ_SUCCESS);
  cr_assert_eq(oeq_plan_create_tp(c.p, OEQ_BACKEND_CPU, 0, &c.tp), OEQ_SUCCESS, "%s", oeq_last_error());
  return c;
}

static void conv_problem_free(conv_problem_t *c) {
  oeq_plan_destroy(c->tp);
  oeq_problem_destroy(c->p);
}

static oeq_plan_t *conv_plan(const conv_problem_t *c, uint32_t flags) {
  oeq_plan_t *plan = NULL;
  cr_assert_eq(oeq_plan_create_conv(c->p, OEQ_BACKEND_CPU, 0, flags, &plan), OEQ_SUCCESS, "flags 0x%x: %s",
               flags, oeq_last_error());
  return plan;
}

/* Inputs of one convolution (float64). */
typedef struct {
  double *x, *y, *w, *dz;
} inputs_t;

static inputs_t random_inputs(test_rng_t *rng, const conv_problem_t *c, const graph_t *g) {
  int64_t wr = c->shared ? 1 : g->edges;
  inputs_t in = {dalloc(g->x_rows * c->nx), dalloc(g->edges * c->ny), dalloc(wr * c->nw),
                 dalloc(g->z_rows * c->nz)};
  test_fill_double(rng, in.x, g->x_rows * c->nx);
  test_fill_double(rng, in.y, g->edges * c->ny);
  test_fill_double(rng, in.w, wr * c->nw);
  test_fill_double(rng, in.dz, g->z_rows * c->nz);
  return in;
}

static void inputs_free(inputs_t *in) { free(in->x), free(in->y), free(in->w), free(in->dz); }

typedef struct {
  double *z, *dx, *dy, *dw;
} outputs_t;

static outputs_t outputs_new(const conv_problem_t *c, const graph_t *g) {
  outputs_t o = {dalloc(g->z_rows * c->nz), dalloc(g->x_rows * c->nx), dalloc(g->edges * c->ny),
                 dalloc((c->shared ? 1 : g->edges) * c->nw)};
  test_poison_double(o.z, g->z_rows * c->nz);
  test_poison_double(o.dx, g->x_rows * c->nx);
  test_poison_double(o.dy, g->edges * c->ny);
  test_poison_double(o.dw, (c->shared ? 1 : g->edges) * c->nw);
  return o;
}

static void outputs_free(outputs_t *o) { free(o->z), free(o->dx), free(o->dy), free(o->dw); }

/* The reference: gather x rows, run the TP plan on the edge batch, scatter
 * (forward) / gather dz, TP backward, scatter dx (backward). */
static outputs_t reference(const conv_problem_t *c, const graph_t *g, const inputs_t *in) {
  int64_t E = g->edges;
  outputs_t r = outputs_new(c, g);
  double *xg = dalloc(E * c->nx), *t = dalloc(E * c->nz), *dzg = dalloc(E * c->nz), *dxg = dalloc(E * c->nx);
  for (int64_t e = 0; e < E; e++) {
    memcpy(xg + e * c->nx, in->x + g->cols[e] * c->nx, (size_t)c->nx * 8);
    memcpy(dzg + e * c->nz, in->dz + g->rows[e] * c->nz, (size_t)c->nz * 8);
  }
  cr_assert_eq(oeq_tp_forward(c->tp, E, xg, in->y, in->w, t, NULL), OEQ_SUCCESS, "%s", oeq_last_error());
  cr_assert_eq(oeq_tp_backward(c->tp, E, xg, in->y, in->w, dzg, dxg, r.dy, r.dw, NULL), OEQ_SUCCESS, "%s",
               oeq_last_error());
  memset(r.z, 0, (size_t)(g->z_rows * c->nz) * 8);
  memset(r.dx, 0, (size_t)(g->x_rows * c->nx) * 8);
  for (int64_t e = 0; e < E; e++) {
    for (int64_t i = 0; i < c->nz; i++) r.z[g->rows[e] * c->nz + i] += t[e * c->nz + i];
    for (int64_t i = 0; i < c->nx; i++) r.dx[g->cols[e] * c->nx + i] += dxg[e * c->nx + i];
  }
  free(xg), free(t), free(dzg), free(dxg);
  return r;
}

/* Runs conv forward and backward with `flags`, indices built from g. */
static outputs_t run_conv(const conv_problem_t *c, oeq_plan_t *plan, uint32_t flags, const graph_t *g,
                          const inputs_t *in) {
  int wide = (flags & OEQ_INDEX_INT64) != 0;
  void *rows = indices(g->rows, g->edges, wide), *cols = indices(g->cols, g->edges, wide), *perm = NULL;
  if (flags & OEQ_CONV_DETERMINISTIC) {
    int64_t *p = sender_perm(g);
    perm = indices(p, g->edges, wide);
    free(p);
  }
  outputs_t o = outputs_new(c, g);
  cr_assert_eq(oeq_conv_forward(plan, g->x_rows, g->z_rows, g->edges, in->x, in->y, in->w, rows, cols, perm,
                                o.z, NULL, 0, NULL),
               OEQ_SUCCESS, "conv forward (flags 0x%x): %s", flags, oeq_last_error());
  cr_assert_eq(oeq_conv_backward(plan, g->x_rows, g->z_rows, g->edges, in->x, in->y, in->w, in->dz, rows, cols,
                                 perm, o.dx, o.dy, o.dw, NULL, 0, NULL),
               OEQ_SUCCESS, "conv backward (flags 0x%x): %s", flags, oeq_last_error());
  free(rows), free(cols), free(perm);
  return o;
}

static void expect_outputs_close(const conv_problem_t *c, const graph_t *g, const outputs_t *a,
                                 const outputs_t *b, double tol, const char *label) {
  double ez = test_rel_error(a->z, b->z, g->z_rows * c->nz);
  double ex = test_rel_error(a->dx, b->dx, g->x_rows * c->nx);
  double ey = test_rel_error(a->dy, b->dy, g->edges * c->ny);
  double ew = test_rel_error(a->dw, b->dw, (c->shared ? 1 : g->edges) * c->nw);
  cr_expect(ez <= tol, "%s: z rel error %.3g", label, ez);
  cr_expect(ex <= tol, "%s: dx rel error %.3g", label, ex);
  cr_expect(ey <= tol, "%s: dy rel error %.3g", label, ey);
  cr_expect(ew <= tol, "%s: dw rel error %.3g", label, ew);
}

static const uint32_t all_flags[4] = {0, OEQ_INDEX_INT64, OEQ_CONV_DETERMINISTIC,
                                      OEQ_CONV_DETERMINISTIC | OEQ_INDEX_INT64};

/* Checks every flag combination on g against the reference. Deterministic
 * plans get the graph sorted by receiver (the same edges, reordered with
 * their y and w rows). */
static void check_graph(const char *kind, int shared, graph_t *g, uint64_t seed, const char *label) {
  conv_problem_t c = conv_problem(kind, shared, OEQ_FLOAT64);
  test_rng_t rng = {seed};
  sort_by_rows(g); /* fine for both modes; atomic mode is also tested unsorted below */
  inputs_t in = random_inputs(&rng, &c, g);
  outputs_t ref = reference(&c, g, &in);
  for (int f = 0; f < 4; f++) {
    oeq_plan_t *plan = conv_plan(&c, all_flags[f]);
    outputs_t o = run_conv(&c, plan, all_flags[f], g, &in);
    char l[256];
    snprintf(l, sizeof l, "%s (%s, shared %d, flags 0x%x)", label, kind, shared, all_flags[f]);
    expect_outputs_close(&c, g, &o, &ref, 1e-12, l);
    outputs_free(&o);
    oeq_plan_destroy(plan);
  }
  outputs_free(&ref);
  inputs_free(&in);
  conv_problem_free(&c);
}

/* ------------------------------------------------------------------ tests */

Test(cpu_conv, random_graph_vs_tp_scatter) {
  for (int shared = 0; shared < 2; shared++) {
    test_rng_t rng = {100 + (uint64_t)shared};
    graph_t g = random_graph(&rng, 30, 30, 200);
    check_graph("channelwise", shared, &g, 7, "random graph");
    graph_free(&g);
    g = random_graph(&rng, 12, 12, 50);
    check_graph("fully_connected", shared, &g, 8, "random graph");
    graph_free(&g);
  }
}

Test(cpu_conv, unsorted_edges_atomic_mode) {
  /* Flags 0 takes edges in any order. */
  conv_problem_t c = conv_problem("channelwise", 0, OEQ_FLOAT64);
  test_rng_t rng = {55};
  graph_t g = random_graph(&rng, 20, 20, 120);
  inputs_t in = random_inputs(&rng, &c, &g);
  outputs_t ref = reference(&c, &g, &in);
  for (int wide = 0; wide < 2; wide++) {
    uint32_t flags = wide ? OEQ_INDEX_INT64 : 0;
    oeq_plan_t *plan = conv_plan(&c, flags);
    outputs_t o = run_conv(&c, plan, flags, &g, &in);
    expect_outputs_close(&c, &g, &o, &ref, 1e-12, wide ? "unsorted int64" : "unsorted int32");
    outputs_free(&o);
    oeq_plan_destroy(plan);
  }
  outputs_free(&ref), inputs_free(&in), graph_free(&g), conv_problem_free(&c);
}

Test(cpu_conv, special_graph_hub_self_loops_duplicates_isolated) {
  /* Node 3 receives 3000 edges; nodes 5..9 have no edges at all; self loops;
   * duplicated edges; node 0 only sends. */
  int64_t n = 10, E = 3000 + 40;
  graph_t g = graph_new(n, n, E);
  test_rng_t rng = {9};
  for (int64_t e = 0; e < 3000; e++) g.rows[e] = 3, g.cols[e] = (int64_t)(test_rng_next(&rng) % 5);
  for (int64_t e = 3000; e < E; e++) {
    int64_t k = e - 3000;
    if (k < 10) g.rows[e] = k % 5, g.cols[e] = k % 5;          /* self loops */
    else if (k < 30) g.rows[e] = 1, g.cols[e] = 2;             /* 20 duplicates */
    else g.rows[e] = 1 + k % 4, g.cols[e] = 0;
  }
  for (int shared = 0; shared < 2; shared++) check_graph("channelwise", shared, &g, 21, "hub graph");
  /* Nodes with no edges come out exactly zero in z and dx. */
  conv_problem_t c = conv_problem("channelwise", 0, OEQ_FLOAT64);
  inputs_t in = random_inputs(&rng, &c, &g);
  oeq_plan_t *plan = conv_plan(&c, 0);
  outputs_t o = run_conv(&c, plan, 0, &g, &in);
  for (int64_t r = 5; r < n; r++) {
    for (int64_t i = 0; i < c.nz; i++) cr_expect_eq(o.z[r * c.nz + i], 0.0, "z row %lld not zero", (long long)r);
    for (int64_t i = 0; i < c.nx; i++) cr_expect_eq(o.dx[r * c.nx + i], 0.0, "dx row %lld not zero", (long long)r);
  }
  outputs_free(&o), oeq_plan_destroy(plan), inputs_free(&in), conv_problem_free(&c);
  graph_free(&g);
}

Test(cpu_conv, asymmetric_directed_backward) {
  /* A chain i -> i+1 plus a few long jumps: no edge has a reverse, so dx of
   * a node collects from its out-edges only (the receivers' dz). */
  int64_t n = 16;
  graph_t g = graph_new(n, n, n - 1 + 3);
  for (int64_t i = 0; i + 1 < n; i++) g.cols[i] = i, g.rows[i] = i + 1;
  g.cols[n - 1] = 0, g.rows[n - 1] = 9;
  g.cols[n] = 2, g.rows[n] = 14;
  g.cols[n + 1] = 0, g.rows[n + 1] = 5;
  for (int shared = 0; shared < 2; shared++) check_graph("channelwise", shared, &g, 31, "directed chain");
  /* And directly: the last node sends nothing, so its dx is zero; the first
   * receives nothing, so its z is zero. */
  conv_problem_t c = conv_problem("channelwise", 0, OEQ_FLOAT64);
  test_rng_t rng = {32};
  inputs_t in = random_inputs(&rng, &c, &g);
  oeq_plan_t *plan = conv_plan(&c, OEQ_CONV_DETERMINISTIC);
  outputs_t o = run_conv(&c, plan, OEQ_CONV_DETERMINISTIC, &g, &in);
  double nz0 = 0, nxl = 0, nx0 = 0;
  for (int64_t i = 0; i < c.nz; i++) nz0 += fabs(o.z[i]);
  for (int64_t i = 0; i < c.nx; i++) nxl += fabs(o.dx[(n - 1) * c.nx + i]), nx0 += fabs(o.dx[i]);
  cr_expect_eq(nz0, 0.0, "z of a node with no in-edges");
  cr_expect_eq(nxl, 0.0, "dx of a node with no out-edges");
  cr_expect(nx0 > 0, "dx of node 0 (3 out-edges) is zero");
  outputs_free(&o), oeq_plan_destroy(plan), inputs_free(&in), conv_problem_free(&c), graph_free(&g);
}

Test(cpu_conv, ghost_rows) {
  /* 25 owned nodes receive; 40 x rows, senders anywhere (15 ghosts). */
  int64_t owned = 25, total = 40;
  for (int shared = 0; shared < 2; shared++)
    for (int f = 0; f < 4; f++) {
      test_rng_t rng = {600 + (uint64_t)(shared * 4 + f)};
      graph_t g = random_graph(&rng, total, owned, 300);
      for (int64_t e = 0; e < 20; e++) g.cols[e] = owned + e % (total - owned); /* every ghost sends */
      sort_by_rows(&g);
      conv_problem_t c = conv_problem("channelwise", shared, OEQ_FLOAT64);
      inputs_t in = random_inputs(&rng, &c, &g);
      oeq_plan_t *plan = conv_plan(&c, all_flags[f]);
      outputs_t o = run_conv(&c, plan, all_flags[f], &g, &in);
      outputs_t ref = reference(&c, &g, &in);
      char l[256];
      snprintf(l, sizeof l, "ghost rows (shared %d, flags 0x%x)", shared, all_flags[f]);
      expect_outputs_close(&c, &g, &o, &ref, 1e-12, l);
      /* The same graph without the split: z has all 40 rows (the ghost rows
       * get no edges, so dz there must not matter). */
      graph_t full = g;
      full.z_rows = total;
      double *dz_full = dalloc(total * c.nz);
      memcpy(dz_full, in.dz, (size_t)(owned * c.nz) * 8);
      test_fill_double(&rng, dz_full + owned * c.nz, (total - owned) * c.nz);
      inputs_t in_full = {in.x, in.y, in.w, dz_full};
      outputs_t of = run_conv(&c, plan, all_flags[f], &full, &in_full);
      cr_expect(test_rel_error(o.z, of.z, owned * c.nz) <= 1e-15, "%s: z differs from the unsplit graph", l);
      for (int64_t i = owned * c.nz; i < total * c.nz; i++)
        cr_assert_eq(of.z[i], 0.0, "%s: unsplit z of a ghost row is not zero", l);
      cr_expect(test_rel_error(o.dx, of.dx, total * c.nx) <= 1e-15, "%s: dx differs from the unsplit graph", l);
      cr_expect(test_rel_error(o.dy, of.dy, g.edges * c.ny) <= 1e-15, "%s: dy differs", l);
      cr_expect(test_rel_error(o.dw, of.dw, (shared ? 1 : g.edges) * c.nw) <= 1e-15, "%s: dw differs", l);
      for (int64_t r = owned; r < total; r++) {
        double s = 0;
        for (int64_t i = 0; i < c.nx; i++) s += fabs(o.dx[r * c.nx + i]);
        cr_expect(s > 0, "%s: dx of ghost row %lld is zero", l, (long long)r);
      }
      free(dz_full), outputs_free(&of), outputs_free(&o), outputs_free(&ref), oeq_plan_destroy(plan);
      inputs_free(&in), conv_problem_free(&c), graph_free(&g);
    }
}

Test(cpu_conv, empty_graph) {
  for (int shared = 0; shared < 2; shared++)
    for (int f = 0; f < 4; f++) {
      conv_problem_t c = conv_problem("channelwise", shared, OEQ_FLOAT64);
      oeq_plan_t *plan = conv_plan(&c, all_flags[f]);
      graph_t g = {7, 5, 0, NULL, NULL};
      test_rng_t rng = {1};
      inputs_t in = random_inputs(&rng, &c, &g);
      outputs_t o = outputs_new(&c, &g);
      /* NULL index arrays and NULL y are fine with 0 edges */
      cr_assert_eq(oeq_conv_forward(plan, 7, 5, 0, in.x, NULL, shared ? in.w : NULL, NULL, NULL, NULL, o.z, NULL, 0,
                                    NULL),
                   OEQ_SUCCESS, "%s", oeq_last_error());
      cr_assert_eq(oeq_conv_backward(plan, 7, 5, 0, in.x, NULL, shared ? in.w : NULL, in.dz, NULL, NULL, NULL, o.dx,
                                     NULL, shared ? o.dw : NULL, NULL, 0, NULL),
                   OEQ_SUCCESS, "%s", oeq_last_error());
      for (int64_t i = 0; i < 5 * c.nz; i++) cr_expect_eq(o.z[i], 0.0, "z[%lld] of an empty graph", (long long)i);
      for (int64_t i = 0; i < 7 * c.nx; i++) cr_expect_eq(o.dx[i], 0.0, "dx[%lld] of an empty graph", (long long)i);
      if (shared)
        for (int64_t i = 0; i < c.nw; i++) cr_expect_eq(o.dw[i], 0.0, "shared dw[%lld] of an empty graph", (long long)i);
      /* no rows at all */
      cr_expect_eq(oeq_conv_forward(plan, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL), OEQ_SUCCESS,
                   "%s", oeq_last_error());
      outputs_free(&o), inputs_free(&in), oeq_plan_destroy(plan), conv_problem_free(&c);
    }
}

Test(cpu_conv, bitwise_reproducible) {
  for (int dt = 0; dt < 2; dt++)
    for (int f = 0; f < 4; f += 2) {
      oeq_dtype_t dtype = dt ? OEQ_FLOAT64 : OEQ_FLOAT32;
      size_t es = dt ? 8 : 4;
      conv_problem_t c = conv_problem("channelwise", f == 0, dtype);
      test_rng_t rng = {900};
      graph_t g = random_graph(&rng, 64, 64, 1500);
      sort_by_rows(&g);
      int64_t *pm = sender_perm(&g);
      int64_t wr = c.shared ? 1 : g.edges;
      size_t bx = (size_t)(g.x_rows * c.nx) * es, by = (size_t)(g.edges * c.ny) * es, bw = (size_t)(wr * c.nw) * es,
             bz = (size_t)(g.z_rows * c.nz) * es;
      char *x = xmalloc(bx), *y = xmalloc(by), *w = xmalloc(bw), *dz = xmalloc(bz);
      double *tmp = dalloc((int64_t)(bx + by + bw + bz));
      test_fill_double(&rng, tmp, (int64_t)(bx + by + bw + bz) / (int64_t)es);
      char *srcs[4] = {x, y, w, dz};
      size_t sizes[4] = {bx, by, bw, bz};
      int64_t off = 0;
      for (int k = 0; k < 4; k++) {
        for (size_t i = 0; i < sizes[k] / es; i++, off++)
          if (dt) ((double *)srcs[k])[i] = tmp[off];
          else ((float *)srcs[k])[i] = (float)tmp[off];
      }
      oeq_plan_t *plan = conv_plan(&c, all_flags[f]);
      void *rows = indices(g.rows, g.edges, 0), *cols = indices(g.cols, g.edges, 0), *perm = indices(pm, g.edges, 0);
      char *first[4] = {NULL, NULL, NULL, NULL};
      size_t osz[4] = {bz, bx, by, bw};
      for (int run = 0; run < 5; run++) {
        char *out[4];
        for (int k = 0; k < 4; k++) out[k] = xmalloc(osz[k]), memset(out[k], 0xA5, osz[k]);
        cr_assert_eq(oeq_conv_forward(plan, g.x_rows, g.z_rows, g.edges, x, y, w, rows, cols, perm, out[0], NULL, 0,
                                      NULL),
                     OEQ_SUCCESS, "%s", oeq_last_error());
        cr_assert_eq(oeq_conv_backward(plan, g.x_rows, g.z_rows, g.edges, x, y, w, dz, rows, cols, perm, out[1], out[2],
                                       out[3], NULL, 0, NULL),
                     OEQ_SUCCESS, "%s", oeq_last_error());
        for (int k = 0; k < 4; k++) {
          if (run == 0) {
            first[k] = out[k];
          } else {
            cr_expect(memcmp(first[k], out[k], osz[k]) == 0, "run %d output %d differs bitwise (dtype %d flags 0x%x)",
                      run, k, dt, all_flags[f]);
            free(out[k]);
          }
        }
      }
      for (int k = 0; k < 4; k++) free(first[k]);
      free(rows), free(cols), free(perm), free(pm), free(x), free(y), free(w), free(dz), free(tmp);
      oeq_plan_destroy(plan), graph_free(&g), conv_problem_free(&c);
    }
}

Test(cpu_conv, float32_vs_float64_reference) {
  for (int f = 0; f < 4; f++) {
    conv_problem_t c64 = conv_problem("channelwise", 0, OEQ_FLOAT64);
    conv_problem_t c32 = conv_problem("channelwise", 0, OEQ_FLOAT32);
    test_rng_t rng = {1234};
    graph_t g = random_graph(&rng, 20, 20, 150);
    sort_by_rows(&g);
    inputs_t in = random_inputs(&rng, &c64, &g);
    double *arrs[4] = {in.x, in.y, in.w, in.dz};
    int64_t ns[4] = {g.x_rows * c64.nx, g.edges * c64.ny, g.edges * c64.nw, g.z_rows * c64.nz};
    float *fa[4];
    for (int k = 0; k < 4; k++) {
      fa[k] = xmalloc((size_t)ns[k] * 4);
      for (int64_t i = 0; i < ns[k]; i++) fa[k][i] = (float)arrs[k][i], arrs[k][i] = fa[k][i];
    }
    outputs_t ref = reference(&c64, &g, &in);
    int wide = (all_flags[f] & OEQ_INDEX_INT64) != 0;
    void *rows = indices(g.rows, g.edges, wide), *cols = indices(g.cols, g.edges, wide);
    int64_t *pm = sender_perm(&g);
    void *perm = (all_flags[f] & OEQ_CONV_DETERMINISTIC) ? indices(pm, g.edges, wide) : NULL;
    oeq_plan_t *plan = conv_plan(&c32, all_flags[f]);
    int64_t no[4] = {g.z_rows * c64.nz, g.x_rows * c64.nx, g.edges * c64.ny, g.edges * c64.nw};
    float *o[4];
    for (int k = 0; k < 4; k++) o[k] = xmalloc((size_t)no[k] * 4), test_poison_float(o[k], no[k]);
    cr_assert_eq(oeq_conv_forward(plan, g.x_rows, g.z_rows, g.edges, fa[0], fa[1], fa[2], rows, cols, perm, o[0], NULL,
                                  0, NULL),
                 OEQ_SUCCESS, "%s", oeq_last_error());
    cr_assert_eq(oeq_conv_backward(plan, g.x_rows, g.z_rows, g.edges, fa[0], fa[1], fa[2], fa[3], rows, cols, perm, o[1],
                                   o[2], o[3], NULL, 0, NULL),
                 OEQ_SUCCESS, "%s", oeq_last_error());
    double *refs[4] = {ref.z, ref.dx, ref.dy, ref.dw};
    for (int k = 0; k < 4; k++) {
      double *t = dalloc(no[k]);
      for (int64_t i = 0; i < no[k]; i++) t[i] = o[k][i];
      double e = test_rel_error(t, refs[k], no[k]);
      cr_expect(e < 1e-5, "float32 conv output %d (flags 0x%x): rel %.3g", k, all_flags[f], e);
      free(t), free(o[k]), free(fa[k]);
    }
    free(rows), free(cols), free(perm), free(pm);
    outputs_free(&ref), inputs_free(&in), graph_free(&g), oeq_plan_destroy(plan);
    conv_problem_free(&c64), conv_problem_free(&c32);
  }
}

/* ------------------------------------------------------------ bad input */

/* A call that must fail: INVALID_ARGUMENT, message containing `needle`,
 * and every output byte unchanged. */
typedef struct {
  conv_problem_t c;
  graph_t g;
  inputs_t in;
  outputs_t o;
  size_t bytes[4];
  unsigned char *snap[4];
} bad_ctx_t;

static void snapshot(bad_ctx_t *b) {
  double *outs[4] = {b->o.z, b->o.dx, b->o.dy, b->o.dw};
  for (int k = 0; k < 4; k++) {
    b->snap[k] = xmalloc(b->bytes[k]);
    memcpy(b->snap[k], outs[k], b->bytes[k]);
  }
}

static void expect_untouched(bad_ctx_t *b, const char *what) {
  double *outs[4] = {b->o.z, b->o.dx, b->o.dy, b->o.dw};
  for (int k = 0; k < 4; k++)
    cr_expect(memcmp(b->snap[k], outs[k], b->bytes[k]) == 0, "%s: output %d was written by a failed call", what, k);
}

static void try_bad(bad_ctx_t *b, uint32_t flags, const int64_t *rows, const int64_t *cols, const int64_t *perm,
                    const char *needle, const char *what) {
  oeq_plan_t *plan = conv_plan(&b->c, flags);
  int wide = (flags & OEQ_INDEX_INT64) != 0;
  void *r = indices(rows, b->g.edges, wide), *c = indices(cols, b->g.edges, wide);
  void *p = perm ? indices(perm, b->g.edges, wide) : NULL;
  oeq_status_t s = oeq_conv_forward(plan, b->g.x_rows, b->g.z_rows, b->g.edges, b->in.x, b->in.y, b->in.w, r, c, p,
                                    b->o.z, NULL, 0, NULL);
  cr_expect_eq(s, OEQ_ERROR_INVALID_ARGUMENT, "%s (forward, flags 0x%x): status %d", what, flags, s);
  cr_expect(strstr(oeq_last_error(), needle) != NULL, "%s (forward): message lacks \"%s\": %s", what, needle,
            oeq_last_error());
  s = oeq_conv_backward(plan, b->g.x_rows, b->g.z_rows, b->g.edges, b->in.x, b->in.y, b->in.w, b->in.dz, r, c, p,
                        b->o.dx, b->o.dy, b->o.dw, NULL, 0, NULL);
  cr_expect_eq(s, OEQ_ERROR_INVALID_ARGUMENT, "%s (backward, flags 0x%x): status %d", what, flags, s);
  cr_expect(strstr(oeq_last_error(), needle) != NULL, "%s (backward): message lacks \"%s\": %s", what, needle,
            oeq_last_error());
  expect_untouched(b, what);
  free(r), free(c), free(p);
  oeq_plan_destroy(plan);
}

Test(cpu_conv, bad_indices_rejected_nothing_written) {
  bad_ctx_t b;
  b.c = conv_problem("channelwise", 0, OEQ_FLOAT64);
  test_rng_t rng = {77};
  b.g = random_graph(&rng, 10, 8, 40);
  sort_by_rows(&b.g);
  b.in = random_inputs(&rng, &b.c, &b.g);
  b.o = outputs_new(&b.c, &b.g);
  b.bytes[0] = (size_t)(b.g.z_rows * b.c.nz) * 8, b.bytes[1] = (size_t)(b.g.x_rows * b.c.nx) * 8;
  b.bytes[2] = (size_t)(b.g.edges * b.c.ny) * 8, b.bytes[3] = (size_t)(b.g.edges * b.c.nw) * 8;
  snapshot(&b);
  int64_t *perm = sender_perm(&b.g);
  int64_t *rows = xmalloc((size_t)b.g.edges * 8), *cols = xmalloc((size_t)b.g.edges * 8), *pm = xmalloc((size_t)b.g.edges * 8);
  for (int f = 0; f < 4; f++) {
    uint32_t fl = all_flags[f];
    int det = (fl & OEQ_CONV_DETERMINISTIC) != 0;
    const int64_t *P = det ? perm : NULL;
#define RESET() memcpy(rows, b.g.rows, (size_t)b.g.edges * 8), memcpy(cols, b.g.cols, (size_t)b.g.edges * 8), \
                memcpy(pm, perm, (size_t)b.g.edges * 8)
    RESET();
    cols[17] = 10; /* == x_rows */
    try_bad(&b, fl, rows, cols, P, "cols[17] = 10", "col out of range");
    RESET();
    cols[3] = -1;
    try_bad(&b, fl, rows, cols, P, "cols[3] = -1", "negative col");
    RESET();
    rows[39] = 8; /* == z_rows (keeps rows sorted) */
    try_bad(&b, fl, rows, cols, P, "rows[39] = 8", "row out of range");
    RESET();
    rows[0] = -5;
    try_bad(&b, fl, rows, cols, P, "rows[0] = -5", "negative row");
    if (fl & OEQ_INDEX_INT64) {
      RESET();
      rows[5] = (int64_t)1 << 40; /* would wrap as int32 */
      try_bad(&b, fl, rows, cols, P, "rows[5]", "huge int64 row");
    }
    if (det) {
      RESET();
      int64_t t = rows[0];
      rows[0] = rows[39], rows[39] = t; /* unsorted */
      if (rows[0] != rows[39]) try_bad(&b, fl, rows, cols, pm, "sorted", "unsorted rows");
      RESET();
      pm[1] = pm[0]; /* not a permutation */
      try_bad(&b, fl, rows, cols, pm, "sender_perm", "perm with a duplicate");
      RESET();
      pm[2] = 40;
      try_bad(&b, fl, rows, cols, pm, "sender_perm", "perm out of range");
      RESET();
      for (int64_t i = 0; i < b.g.edges; i++) pm[i] = i; /* identity: does not sort cols */
      try_bad(&b, fl, rows, cols, pm, "sender_perm", "perm that does not sort cols");
    }
  }
  /* Deterministic without sender_perm: NULL */
  oeq_plan_t *plan = conv_plan(&b.c, OEQ_CONV_DETERMINISTIC);
  void *r = indices(b.g.rows, b.g.edges, 0), *c = indices(b.g.cols, b.g.edges, 0);
  cr_expect_eq(oeq_conv_forward(plan, b.g.x_rows, b.g.z_rows, b.g.edges, b.in.x, b.in.y, b.in.w, r, c, NULL, b.o.z,
                                NULL, 0, NULL),
               OEQ_ERROR_INVALID_ARGUMENT);
  cr_expect(strstr(oeq_last_error(), "sender_perm") != NULL, "%s", oeq_last_error());
  expect_untouched(&b, "NULL sender_perm");
  free(r), free(c), oeq_plan_destroy(plan);
  for (int k = 0; k < 4; k++) free(b.snap[k]);
  free(rows), free(cols), free(pm), free(perm);
  outputs_free(&b.o), inputs_free(&b.in), graph_free(&b.g), conv_problem_free(&b.c);
}

Test(cpu_conv, workspace) {
  for (int f = 0; f < 4; f++) {
    conv_problem_t c = conv_problem("channelwise", 1, OEQ_FLOAT64);
    test_rng_t rng = {88};
    graph_t g = random_graph(&rng, 30, 20, 100);
    sort_by_rows(&g);
    inputs_t in = random_inputs(&rng, &c, &g);
    oeq_plan_t *plan = conv_plan(&c, all_flags[f]);
    size_t bytes = 0;
    cr_assert_eq(oeq_conv_workspace_size(plan, g.x_rows, g.z_rows, g.edges, &bytes), OEQ_SUCCESS, "%s",
                 oeq_last_error());
    cr_assert(bytes > 0, "workspace size 0");
    size_t b0 = 1;
    cr_assert_eq(oeq_conv_workspace_size(plan, 0, 0, 0, &b0), OEQ_SUCCESS);
    size_t big = 0;
    cr_assert_eq(oeq_conv_workspace_size(plan, 3000, 2000, 100000, &big), OEQ_SUCCESS);
    cr_expect(big >= bytes && bytes >= b0, "workspace sizes not monotone: %zu %zu %zu", b0, bytes, big);
    int wide = (all_flags[f] & OEQ_INDEX_INT64) != 0;
    void *rows = indices(g.rows, g.edges, wide), *cols = indices(g.cols, g.edges, wide);
    int64_t *pm = sender_perm(&g);
    void *perm = (all_flags[f] & OEQ_CONV_DETERMINISTIC) ? indices(pm, g.edges, wide) : NULL;
    /* NULL workspace (library allocates) vs the exact size vs larger */
    outputs_t a = outputs_new(&c, &g), e = outputs_new(&c, &g), l = outputs_new(&c, &g);
    unsigned char *ws = xmalloc(bytes + 64);
    memset(ws, 0xCC, bytes + 64);
    cr_assert_eq(oeq_conv_forward(plan, g.x_rows, g.z_rows, g.edges, in.x, in.y, in.w, rows, cols, perm, a.z, NULL, 0, NULL),
                 OEQ_SUCCESS, "%s", oeq_last_error());
    cr_assert_eq(oeq_conv_forward(plan, g.x_rows, g.z_rows, g.edges, in.x, in.y, in.w, rows, cols, perm, e.z, ws, bytes,
                                  NULL),
                 OEQ_SUCCESS, "%s", oeq_last_error());
    cr_assert_eq(oeq_conv_backward(plan, g.x_rows, g.z_rows, g.edges, in.x, in.y, in.w, in.dz, rows, cols, perm, a.dx,
                                   a.dy, a.dw, NULL, 0, NULL),
                 OEQ_SUCCESS, "%s", oeq_last_error());
    cr_assert_eq(oeq_conv_backward(plan, g.x_rows, g.z_rows, g.edges, in.x, in.y, in.w, in.dz, rows, cols, perm, e.dx,
                                   e.dy, e.dw, ws, bytes, NULL),
                 OEQ_SUCCESS, "%s", oeq_last_error());
    for (size_t i = bytes; i < bytes + 64; i++) cr_assert_eq(ws[i], 0xCC, "wrote past workspace_bytes at %zu", i);
    cr_assert_eq(oeq_conv_forward(plan, g.x_rows, g.z_rows, g.edges, in.x, in.y, in.w, rows, cols, perm, l.z, ws,
                                  bytes + 64, NULL),
                 OEQ_SUCCESS, "%s", oeq_last_error());
    cr_expect(memcmp(a.z, e.z, (size_t)(g.z_rows * c.nz) * 8) == 0, "z differs with a caller workspace");
    cr_expect(memcmp(a.z, l.z, (size_t)(g.z_rows * c.nz) * 8) == 0, "z differs with a larger workspace");
    cr_expect(memcmp(a.dx, e.dx, (size_t)(g.x_rows * c.nx) * 8) == 0, "dx differs with a caller workspace");
    cr_expect(memcmp(a.dw, e.dw, (size_t)c.nw * 8) == 0, "dw differs with a caller workspace");
    /* too small: rejected with a message, nothing written */
    outputs_t s = outputs_new(&c, &g);
    unsigned char *snap = xmalloc((size_t)(g.z_rows * c.nz) * 8);
    memcpy(snap, s.z, (size_t)(g.z_rows * c.nz) * 8);
    oeq_status_t st = oeq_conv_forward(plan, g.x_rows, g.z_rows, g.edges, in.x, in.y, in.w, rows, cols, perm, s.z, ws,
                                       bytes - 1, NULL);
    cr_expect_eq(st, OEQ_ERROR_INVALID_ARGUMENT, "too-small workspace: status %d", st);
    cr_expect(strstr(oeq_last_error(), "workspace") != NULL, "message: %s", oeq_last_error());
    cr_expect(memcmp(snap, s.z, (size_t)(g.z_rows * c.nz) * 8) == 0, "z written with a too-small workspace");
    st = oeq_conv_backward(plan, g.x_rows, g.z_rows, g.edges, in.x, in.y, in.w, in.dz, rows, cols, perm, s.dx, s.dy,
                           s.dw, ws, 8, NULL);
    cr_expect_eq(st, OEQ_ERROR_INVALID_ARGUMENT, "too-small workspace (backward): status %d", st);
    for (int64_t i = 0; i < g.x_rows * c.nx; i++) cr_assert(isnan(s.dx[i]), "dx written with a too-small workspace");
    for (int64_t i = 0; i < c.nw; i++) cr_assert(isnan(s.dw[i]), "dw written with a too-small workspace");
    free(snap), free(ws), free(rows), free(cols), free(perm), free(pm);
    outputs_free(&a), outputs_free(&e), outputs_free(&l), outputs_free(&s);
    inputs_free(&in), graph_free(&g), oeq_plan_destroy(plan), conv_problem_free(&c);
  }
}
