/* test_gpu_conv.c: the fused convolution of the GPU backends (CUDA and
 * HIP) against the CPU backend's, on a GPU.
 *
 * Every case is written once (RT_TEST) and runs in two suites, `cuda_conv`
 * and `hip_conv`, each skipping itself with the reason where its runtime
 * has no device. Both plans run the same problem on the same graph and
 * inputs; the CPU conv is the reference (itself checked against TP +
 * explicit scatter in test_cpu_conv). Device outputs are poisoned with NaN
 * (all bytes 0xff) before every call and compared element by element
 * after. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu_runtime.h"
#include "oeq.h"
#include "support.h"

TestSuite(cuda_conv, .timeout = 300);
TestSuite(hip_conv, .timeout = 300);

#define CONV_TEST(name) RT_TEST(cuda_conv, hip_conv, name)

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  cr_assert(p);
  return p;
}

/* ------------------------------------------------------------- graphs */

typedef struct {
  int64_t x_rows, z_rows, edges;
  int64_t *rows, *cols;
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

static int cmp_pair(const void *a, const void *b) {
  const int64_t *x = a, *y = b;
  return x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : x[1] < y[1] ? -1 : x[1] > y[1];
}

/* Sort edges by receiver (deterministic mode's contract). */
static void sort_by_rows(graph_t *g) {
  int64_t *pairs = xmalloc((size_t)g->edges * 16);
  for (int64_t e = 0; e < g->edges; e++) pairs[2 * e] = g->rows[e], pairs[2 * e + 1] = g->cols[e];
  qsort(pairs, (size_t)g->edges, 16, cmp_pair);
  for (int64_t e = 0; e < g->edges; e++) g->rows[e] = pairs[2 * e], g->cols[e] = pairs[2 * e + 1];
  free(pairs);
}

/* Stable counting sort by cols. */
static int64_t *sender_perm(const graph_t *g) {
  int64_t *start = calloc((size_t)g->x_rows + 1, 8), *perm = xmalloc((size_t)g->edges * 8);
  for (int64_t e = 0; e < g->edges; e++) start[g->cols[e] + 1]++;
  for (int64_t i = 0; i < g->x_rows; i++) start[i + 1] += start[i];
  for (int64_t e = 0; e < g->edges; e++) perm[start[g->cols[e]]++] = e;
  free(start);
  return perm;
}

/* ------------------------------------------------------------- problems */

typedef struct {
  oeq_problem_t *p;
  int64_t nx, ny, nz, nw;
  int shared;
  oeq_dtype_t dt;
} prob_t;

static prob_t prob_new(const char *kind, int shared, oeq_dtype_t dt) {
  prob_t c = {.shared = shared, .dt = dt};
  oeq_status_t s;
  if (!strcmp(kind, "channelwise"))
    s = oeq_problem_create_channelwise("40x0e+33x1o+8x2e", "0e+1o+2e", "0e+1o+2e", &c.p);
  else if (!strcmp(kind, "lips"))
    s = oeq_problem_create_channelwise("32x0o+32x0e+32x1o+32x1e+32x2o+32x2e", "0e+1o+2e",
                                       "32x0o+32x0e+32x1o+32x1e+32x2o+32x2e", &c.p);
  else if (!strcmp(kind, "modes")) {
    s = oeq_problem_create("5x0e+4x1o", "3x0e+4x1o", "5x0e+4x1o+4x1e+15x0e+16x1e", &c.p);
    struct { int i1, i2, o; oeq_mode_t m; int w; } ins[] = {
        {0, 0, 0, OEQ_MODE_UVU, 1}, {1, 1, 2, OEQ_MODE_UUU, 1}, {1, 1, 2, OEQ_MODE_UUW, 1},
        {0, 1, 1, OEQ_MODE_UVV, 0}, {0, 0, 3, OEQ_MODE_UVUV, 1}, {1, 1, 4, OEQ_MODE_UVUV, 0},
        {0, 1, 1, OEQ_MODE_UVW, 1},
    };
    for (size_t i = 0; s == OEQ_SUCCESS && i < sizeof ins / sizeof ins[0]; i++)
      s = oeq_problem_add_instruction(c.p, ins[i].i1, ins[i].i2, ins[i].o, ins[i].m, ins[i].w, 1.0);
  } else
    s = oeq_problem_create_fully_connected("3x0e+34x1o", "1x0e+1x1o", "2x0e+2x1o+1x1e", &c.p);
  cr_assert_eq(s, OEQ_SUCCESS, "%s", oeq_last_error());
  cr_assert_eq(oeq_problem_set_dtypes(c.p, dt, dt), OEQ_SUCCESS);
  cr_assert_eq(oeq_problem_set_shared_weights(c.p, shared), OEQ_SUCCESS);
  cr_assert_eq(oeq_problem_dims(c.p, &c.nx, &c.ny, &c.nz), OEQ_SUCCESS);
  cr_assert_eq(oeq_problem_weight_numel(c.p, &c.nw), OEQ_SUCCESS);
  return c;
}

static oeq_plan_t *plan_new(const prob_t *c, oeq_backend_t b, uint32_t flags) {
  oeq_plan_t *plan = NULL;
  cr_assert_eq(oeq_plan_create_conv(c->p, b, 0, flags, &plan), OEQ_SUCCESS, "flags 0x%x: %s", flags,
               oeq_last_error());
  return plan;
}

/* ------------------------------------------------------------- data */

typedef struct {
  double *x, *y, *w, *dz;
} inputs_t;

typedef struct {
  double *z, *dx, *dy, *dw;
} outputs_t;

static int64_t wrows(const prob_t *c, const graph_t *g) { return c->shared ? 1 : g->edges; }

static inputs_t random_inputs(test_rng_t *rng, const prob_t *c, const graph_t *g) {
  inputs_t in = {xmalloc((size_t)(g->x_rows * c->nx) * 8), xmalloc((size_t)(g->edges * c->ny) * 8),
                 xmalloc((size_t)(wrows(c, g) * c->nw) * 8), xmalloc((size_t)(g->z_rows * c->nz) * 8)};
  test_fill_double(rng, in.x, g->x_rows * c->nx);
  test_fill_double(rng, in.y, g->edges * c->ny);
  test_fill_double(rng, in.w, wrows(c, g) * c->nw);
  test_fill_double(rng, in.dz, g->z_rows * c->nz);
  return in;
}

static void inputs_free(inputs_t *in) { free(in->x), free(in->y), free(in->w), free(in->dz); }
static void outputs_free(outputs_t *o) { free(o->z), free(o->dx), free(o->dy), free(o->dw); }

/* Values in the problem's dtype (malloc'ed). */
static void *typed(const double *v, int64_t n, oeq_dtype_t dt) {
  size_t sz = dt == OEQ_FLOAT64 ? 8 : 4;
  void *out = xmalloc((size_t)n * sz);
  for (int64_t i = 0; i < n; i++)
    if (dt == OEQ_FLOAT64)
      ((double *)out)[i] = v[i];
    else
      ((float *)out)[i] = (float)v[i];
  return out;
}

static double *untyped(const void *v, int64_t n, oeq_dtype_t dt) {
  double *out = xmalloc((size_t)n * 8);
  for (int64_t i = 0; i < n; i++) out[i] = dt == OEQ_FLOAT64 ? ((const double *)v)[i] : ((const float *)v)[i];
  return out;
}

static void *index_array(const int64_t *v, int64_t n, int wide) {
  void *out = xmalloc((size_t)n * (wide ? 8 : 4));
  for (int64_t i = 0; i < n; i++)
    if (wide)
      ((int64_t *)out)[i] = v[i];
    else
      ((int32_t *)out)[i] = (int32_t)v[i];
  return out;
}

static void *upload(oeq_backend_t rt, const void *h, size_t bytes) {
  void *d = NULL;
  RT_CK(rt, test_rt_alloc(rt, &d, bytes ? bytes : 16));
  RT_CK(rt, test_rt_to_device(rt, d, h, bytes));
  return d;
}

/* Device memory with every byte 0xff (NaN in both dtypes). */
static void *poisoned(oeq_backend_t rt, size_t bytes) {
  void *nan = xmalloc(bytes ? bytes : 16);
  memset(nan, 0xff, bytes ? bytes : 16);
  void *d = upload(rt, nan, bytes ? bytes : 16);
  free(nan);
  return d;
}

static double *download(oeq_backend_t rt, const void *d, int64_t n, oeq_dtype_t dt) {
  size_t sz = dt == OEQ_FLOAT64 ? 8 : 4;
  void *h = xmalloc((size_t)n * sz);
  RT_CK(rt, test_rt_to_host(rt, h, d, (size_t)n * sz));
  double *out = untyped(h, n, dt);
  free(h);
  return out;
}

/* Which workspace a GPU run uses. */
typedef enum { WS_NULL, WS_GIVEN } ws_mode_t;

/* Conv forward + backward on `b` with `flags`; host results in float64. */
static outputs_t run(const prob_t *c, oeq_plan_t *plan, oeq_backend_t b, uint32_t flags, const graph_t *g,
                     const inputs_t *in, ws_mode_t ws) {
  int wide = (flags & OEQ_INDEX_INT64) != 0, det = (flags & OEQ_CONV_DETERMINISTIC) != 0;
  int64_t E = g->edges, nwr = wrows(c, g) * c->nw;
  size_t sz = c->dt == OEQ_FLOAT64 ? 8 : 4, isz = wide ? 8 : 4;
  void *x = typed(in->x, g->x_rows * c->nx, c->dt), *y = typed(in->y, E * c->ny, c->dt),
       *w = typed(in->w, nwr, c->dt), *dz = typed(in->dz, g->z_rows * c->nz, c->dt);
  void *rows = index_array(g->rows, E, wide), *cols = index_array(g->cols, E, wide), *perm = NULL;
  if (det) {
    int64_t *p = sender_perm(g);
    perm = index_array(p, E, wide);
    free(p);
  }
  outputs_t o;
  int64_t nz = g->z_rows * c->nz, nx = g->x_rows * c->nx, ny = E * c->ny, nw = (c->shared ? 1 : E) * c->nw;
  if (b == OEQ_BACKEND_CPU) {
    void *z = xmalloc((size_t)nz * sz), *dx = xmalloc((size_t)nx * sz), *dy = xmalloc((size_t)ny * sz),
         *dw = xmalloc((size_t)nw * sz);
    cr_assert_eq(oeq_conv_forward(plan, g->x_rows, g->z_rows, E, x, y, w, rows, cols, perm, z, NULL, 0, NULL),
                 OEQ_SUCCESS, "cpu forward: %s", oeq_last_error());
    cr_assert_eq(oeq_conv_backward(plan, g->x_rows, g->z_rows, E, x, y, w, dz, rows, cols, perm, dx, dy, dw,
                                   NULL, 0, NULL),
                 OEQ_SUCCESS, "cpu backward: %s", oeq_last_error());
    o = (outputs_t){untyped(z, nz, c->dt), untyped(dx, nx, c->dt), untyped(dy, ny, c->dt), untyped(dw, nw, c->dt)};
    free(z), free(dx), free(dy), free(dw);
  } else {
    void *dx_ = upload(b, x, (size_t)(g->x_rows * c->nx) * sz), *dy_ = upload(b, y, (size_t)(E * c->ny) * sz),
         *dw_ = upload(b, w, (size_t)nwr * sz), *ddz = upload(b, dz, (size_t)(g->z_rows * c->nz) * sz),
         *drows = upload(b, rows, (size_t)E * isz), *dcols = upload(b, cols, (size_t)E * isz),
         *dperm = det ? upload(b, perm, (size_t)E * isz) : NULL;
    void *oz = poisoned(b, (size_t)nz * sz), *odx = poisoned(b, (size_t)nx * sz), *ody = poisoned(b, (size_t)ny * sz),
         *odw = poisoned(b, (size_t)nw * sz);
    size_t wsb = 0;
    cr_assert_eq(oeq_conv_workspace_size(plan, g->x_rows, g->z_rows, E, &wsb), OEQ_SUCCESS, "%s", oeq_last_error());
    void *vws = ws == WS_GIVEN ? poisoned(b, wsb) : NULL;
    cr_assert_eq(oeq_conv_forward(plan, g->x_rows, g->z_rows, E, dx_, dy_, dw_, drows, dcols, dperm, oz, vws, wsb,
                                  NULL),
                 OEQ_SUCCESS, "%s forward: %s", test_rt_name(b), oeq_last_error());
    cr_assert_eq(oeq_conv_backward(plan, g->x_rows, g->z_rows, E, dx_, dy_, dw_, ddz, drows, dcols, dperm, odx, ody,
                                   odw, vws, wsb, NULL),
                 OEQ_SUCCESS, "%s backward: %s", test_rt_name(b), oeq_last_error());
    RT_CK(b, test_rt_sync(b, NULL));
    o = (outputs_t){download(b, oz, nz, c->dt), download(b, odx, nx, c->dt), download(b, ody, ny, c->dt),
                    download(b, odw, nw, c->dt)};
    void *all[] = {dx_, dy_, dw_, ddz, drows, dcols, dperm, oz, odx, ody, odw, vws};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) test_rt_free(b, all[i]);
  }
  free(x), free(y), free(w), free(dz), free(rows), free(cols), free(perm);
  return o;
}

/* The element where a and ref differ most (NaN first), for messages. */
static int64_t worst_element(const double *a, const double *ref, int64_t n) {
  int64_t worst = 0;
  double d_worst = -1;
  for (int64_t i = 0; i < n; i++) {
    const double d = fabs(a[i] - ref[i]);
    if (isnan(d)) return i;
    if (d > d_worst) d_worst = d, worst = i;
  }
  return worst;
}

static void expect_close(const prob_t *c, const graph_t *g, const outputs_t *a, const outputs_t *ref,
                         const char *label) {
  double tol = c->dt == OEQ_FLOAT64 ? 1e-11 : 2e-5;
  struct { const char *name; const double *x, *r; int64_t n; } parts[4] = {
      {"z", a->z, ref->z, g->z_rows * c->nz},
      {"dx", a->dx, ref->dx, g->x_rows * c->nx},
      {"dy", a->dy, ref->dy, g->edges * c->ny},
      {"dw", a->dw, ref->dw, (c->shared ? 1 : g->edges) * c->nw}};
  for (int i = 0; i < 4; i++) {
    double e = test_rel_error(parts[i].x, parts[i].r, parts[i].n);
    if (e <= tol) continue;
    const int64_t k = worst_element(parts[i].x, parts[i].r, parts[i].n);
    cr_expect(e <= tol, "%s: %s (%lld values) rel error %.3g (tol %.1g); worst element %lld: got %.17g, want %.17g",
              label, parts[i].name, (long long)parts[i].n, e, tol, (long long)k, parts[i].x[k], parts[i].r[k]);
  }
}

/* GPU vs CPU on graph g for every flag combination that fits the graph. */
static void check_graph(oeq_backend_t rt, const char *kind, int shared, oeq_dtype_t dt, graph_t *g, int sorted,
                        uint64_t seed, const char *label) {
  prob_t c = prob_new(kind, shared, dt);
  test_rng_t rng = {seed};
  inputs_t in = random_inputs(&rng, &c, g);
  const uint32_t all[4] = {0, OEQ_INDEX_INT64, OEQ_CONV_DETERMINISTIC, OEQ_CONV_DETERMINISTIC | OEQ_INDEX_INT64};
  for (int f = 0; f < 4; f++) {
    if ((all[f] & OEQ_CONV_DETERMINISTIC) && !sorted) continue;
    oeq_plan_t *cpu = plan_new(&c, OEQ_BACKEND_CPU, all[f]), *gpu = plan_new(&c, rt, all[f]);
    outputs_t ref = run(&c, cpu, OEQ_BACKEND_CPU, all[f], g, &in, WS_NULL);
    outputs_t got = run(&c, gpu, rt, all[f], g, &in, f % 2 ? WS_GIVEN : WS_NULL);
    char l[200];
    snprintf(l, sizeof l, "%s %s %s %s%s flags 0x%x", test_rt_name(rt), label, kind, dt == OEQ_FLOAT64 ? "f64" : "f32",
             shared ? " shared-w" : "", all[f]);
    expect_close(&c, g, &got, &ref, l);
    outputs_free(&ref), outputs_free(&got);
    oeq_plan_destroy(cpu), oeq_plan_destroy(gpu);
  }
  inputs_free(&in);
  oeq_problem_destroy(c.p);
}

CONV_TEST(random_graphs_every_mode_dtype_weights) {
  RT_REQUIRE(rt, TEST_RT_MEMORY);
  const char *kinds[4] = {"channelwise", "fully_connected", "modes", "lips"};
  for (int k = 0; k < 4; k++)
    for (int d = 0; d < 2; d++)
      for (int sh = 0; sh < 2; sh++) {
        if (k == 3 && (d || sh)) continue;
        test_rng_t rng = {100 + k * 4 + d * 2 + sh};
        graph_t g = random_graph(&rng, 97, 97, 1500);
        sort_by_rows(&g);
        check_graph(rt, kinds[k], sh, d ? OEQ_FLOAT64 : OEQ_FLOAT32, &g, 1, 7 + k, "random");
        graph_free(&g);
      }
}

/* Graphs above 2,048 segments (32,768 edges) launch one warp per segment
 * for all output groups; the smaller ones above take the split launch (a
 * warp per segment, group and chunk). Both against the CPU backend. */
CONV_TEST(large_graph_unsplit_launch) {
  RT_REQUIRE(rt, TEST_RT_MEMORY);
  test_rng_t rng = {61};
  graph_t g = random_graph(&rng, 3000, 3000, 40000);
  sort_by_rows(&g);
  check_graph(rt, "channelwise", 0, OEQ_FLOAT32, &g, 1, 62, "unsplit");
  check_graph(rt, "lips", 0, OEQ_FLOAT32, &g, 1, 63, "unsplit");
  check_graph(rt, "modes", 1, OEQ_FLOAT64, &g, 1, 64, "unsplit");
  graph_free(&g);
}

CONV_TEST(unsorted_edges_atomic) {
  RT_REQUIRE(rt, TEST_RT_MEMORY);
  test_rng_t rng = {3};
  graph_t g = random_graph(&rng, 50, 60, 2000);
  check_graph(rt, "channelwise", 0, OEQ_FLOAT64, &g, 0, 11, "unsorted");
  check_graph(rt, "channelwise", 1, OEQ_FLOAT32, &g, 0, 12, "unsorted");
  graph_free(&g);
}

/* One node with thousands of edges (split over many segments), self loops,
 * duplicate edges, nodes with no edges at all. */
CONV_TEST(hub_self_loops_duplicates_isolated) {
  RT_REQUIRE(rt, TEST_RT_MEMORY);
  test_rng_t rng = {5};
  int64_t hub_edges = 5000, other = 700;
  graph_t g = graph_new(40, 40, hub_edges + other + 30);
  int64_t e = 0;
  for (int64_t i = 0; i < hub_edges; i++, e++) g.rows[e] = 7, g.cols[e] = (int64_t)(test_rng_next(&rng) % 30);
  for (int64_t i = 0; i < other; i++, e++)
    g.rows[e] = (int64_t)(test_rng_next(&rng) % 30), g.cols[e] = (int64_t)(test_rng_next(&rng) % 30);
  for (int64_t i = 0; i < 10; i++, e++) g.rows[e] = i, g.cols[e] = i;          /* self loops */
  for (int64_t i = 0; i < 20; i++, e++) g.rows[e] = 3, g.cols[e] = 4;          /* duplicates */
  /* rows / cols 30..39: nodes with no edges */
  sort_by_rows(&g);
  check_graph(rt, "channelwise", 0, OEQ_FLOAT64, &g, 1, 21, "hub");
  check_graph(rt, "fully_connected", 1, OEQ_FLOAT32, &g, 1, 22, "hub");
  graph_free(&g);
}

/* Directed and asymmetric: senders are a disjoint set from receivers, and
 * one sender feeds thousands of edges (the deterministic backward's
 * sender-order walk splits it over segments). */
CONV_TEST(asymmetric_directed_backward) {
  RT_REQUIRE(rt, TEST_RT_MEMORY);
  test_rng_t rng = {9};
  graph_t g = graph_new(200, 200, 6000);
  for (int64_t e = 0; e < g.edges; e++) {
    g.rows[e] = (int64_t)(test_rng_next(&rng) % 100);
    g.cols[e] = e % 3 == 0 ? 150 : 100 + (int64_t)(test_rng_next(&rng) % 100);
  }
  sort_by_rows(&g);
  check_graph(rt, "channelwise", 0, OEQ_FLOAT64, &g, 1, 31, "directed");
  check_graph(rt, "modes", 1, OEQ_FLOAT64, &g, 1, 32, "directed");
  graph_free(&g);
}

/* x carries ghost rows that only send: dx must reach them. */
CONV_TEST(ghost_rows) {
  RT_REQUIRE(rt, TEST_RT_MEMORY);
  test_rng_t rng = {13};
  graph_t g = random_graph(&rng, 90, 60, 2500);
  sort_by_rows(&g);
  check_graph(rt, "channelwise", 0, OEQ_FLOAT64, &g, 1, 41, "ghosts");
  check_graph(rt, "lips", 0, OEQ_FLOAT32, &g, 1, 42, "ghosts");
  graph_free(&g);
}

CONV_TEST(empty_graph) {
  RT_REQUIRE(rt, TEST_RT_MEMORY);
  graph_t g = graph_new(10, 8, 0);
  check_graph(rt, "channelwise", 1, OEQ_FLOAT32, &g, 1, 51, "empty");
  check_graph(rt, "fully_connected", 0, OEQ_FLOAT64, &g, 1, 52, "empty");
  graph_free(&g);
}

static int same_bits(const double *a, const double *b, int64_t n) { return memcmp(a, b, (size_t)n * 8) == 0; }

/* Deterministic mode: 5 runs bitwise equal, NULL and given workspaces too. */
CONV_TEST(deterministic_bitwise_reproducible) {
  RT_REQUIRE(rt, TEST_RT_MEMORY);
  test_rng_t rng = {17};
  graph_t g = random_graph(&rng, 500, 500, 30000);
  for (int64_t e = 0; e < 4000; e++) g.rows[e] = 5; /* a hub across segments */
  sort_by_rows(&g);
  for (int sh = 0; sh < 2; sh++) {
    prob_t c = prob_new("channelwise", sh, OEQ_FLOAT32);
    inputs_t in = random_inputs(&rng, &c, &g);
    oeq_plan_t *gpu = plan_new(&c, rt, OEQ_CONV_DETERMINISTIC);
    outputs_t first = run(&c, gpu, rt, OEQ_CONV_DETERMINISTIC, &g, &in, WS_NULL);
    for (int r = 1; r < 5; r++) {
      outputs_t o = run(&c, gpu, rt, OEQ_CONV_DETERMINISTIC, &g, &in, r % 2 ? WS_GIVEN : WS_NULL);
      cr_expect(same_bits(o.z, first.z, g.z_rows * c.nz), "run %d: z differs", r);
      cr_expect(same_bits(o.dx, first.dx, g.x_rows * c.nx), "run %d: dx differs", r);
      cr_expect(same_bits(o.dy, first.dy, g.edges * c.ny), "run %d: dy differs", r);
      cr_expect(same_bits(o.dw, first.dw, (sh ? 1 : g.edges) * c.nw), "run %d: dw differs", r);
      outputs_free(&o);
    }
    outputs_free(&first);
    oeq_plan_destroy(gpu);
    inputs_free(&in);
    oeq_problem_destroy(c.p);
  }
  graph_free(&g);
}

/* Kahan vs plain float32 against a float64 reference on one node with
 * 50,000 edges (and one sender with 50,000 edges, for dx). */
CONV_TEST(kahan_beats_plain_float32) {
  RT_REQUIRE(rt, TEST_RT_MEMORY);
  test_rng_t rng = {19};
  graph_t g = graph_new(4, 4, 50000);
  for (int64_t e = 0; e < g.edges; e++) g.rows[e] = e < 45000 ? 1 : 2, g.cols[e] = e < 45000 ? 0 : 3;
  prob_t c64 = prob_new("channelwise", 0, OEQ_FLOAT64), c32 = prob_new("channelwise", 0, OEQ_FLOAT32);
  inputs_t in = random_inputs(&rng, &c64, &g);
  /* inputs exactly representable in float32, so only the sums differ */
  int64_t counts[4] = {g.x_rows * c64.nx, g.edges * c64.ny, g.edges * c64.nw, g.z_rows * c64.nz};
  double *arrays[4] = {in.x, in.y, in.w, in.dz};
  for (int i = 0; i < 4; i++)
    for (int64_t j = 0; j < counts[i]; j++) arrays[i][j] = (float)(arrays[i][j] + 0.5); /* biased: no cancellation */
  oeq_plan_t *ref_plan = plan_new(&c64, OEQ_BACKEND_CPU, OEQ_CONV_DETERMINISTIC);
  outputs_t ref = run(&c64, ref_plan, OEQ_BACKEND_CPU, OEQ_CONV_DETERMINISTIC, &g, &in, WS_NULL);
  uint32_t fl[2] = {OEQ_CONV_DETERMINISTIC, OEQ_CONV_DETERMINISTIC | OEQ_CONV_KAHAN};
  double ez[2], ex[2];
  for (int k = 0; k < 2; k++) {
    oeq_plan_t *p = plan_new(&c32, rt, fl[k]);
    outputs_t o = run(&c32, p, rt, fl[k], &g, &in, WS_NULL);
    ez[k] = test_rel_error(o.z, ref.z, g.z_rows * c32.nz);
    ex[k] = test_rel_error(o.dx, ref.dx, g.x_rows * c32.nx);
    outputs_free(&o);
    oeq_plan_destroy(p);
  }
  cr_log_info("z rel error plain %.3g kahan %.3g; dx plain %.3g kahan %.3g", ez[0], ez[1], ex[0], ex[1]);
  cr_expect(ez[1] < ez[0], "Kahan z error %.3g not below plain %.3g", ez[1], ez[0]);
  cr_expect(ex[1] < ex[0], "Kahan dx error %.3g not below plain %.3g", ex[1], ex[0]);
  cr_expect(ez[1] < 1e-6 && ex[1] < 1e-6, "Kahan errors %.3g %.3g", ez[1], ex[1]);
  outputs_free(&ref);
  oeq_plan_destroy(ref_plan);
  inputs_free(&in);
  oeq_problem_destroy(c64.p), oeq_problem_destroy(c32.p);
  graph_free(&g);
}

/* Out-of-range indices: by default the bad edges are skipped and nothing
 * is written out of bounds (the other rows are still right); with
 * OEQ_CONV_CHECK=1 at plan creation the call returns INVALID_ARGUMENT. */
CONV_TEST(bad_indices_skipped_or_reported) {
  RT_REQUIRE(rt, TEST_RT_MEMORY);
  test_rng_t rng = {23};
  graph_t g = random_graph(&rng, 30, 30, 400);
  sort_by_rows(&g);
  prob_t c = prob_new("channelwise", 0, OEQ_FLOAT64);
  inputs_t in = random_inputs(&rng, &c, &g);
  /* the reference: the same graph without the bad edge's contribution */
  graph_t good = graph_new(30, 30, 399);
  memcpy(good.rows, g.rows, 399 * 8), memcpy(good.cols, g.cols, 399 * 8);
  g.cols[399] = 1000000; /* the last edge sends from nowhere */
  oeq_plan_t *gpu = plan_new(&c, rt, 0), *cpu = plan_new(&c, OEQ_BACKEND_CPU, 0);
  outputs_t got = run(&c, gpu, rt, 0, &g, &in, WS_GIVEN);
  outputs_t ref = run(&c, cpu, OEQ_BACKEND_CPU, 0, &good, &in, WS_NULL);
  cr_expect(test_rel_error(got.z, ref.z, g.z_rows * c.nz) < 1e-11, "z with a skipped edge");
  cr_expect(test_rel_error(got.dx, ref.dx, g.x_rows * c.nx) < 1e-11, "dx with a skipped edge");
  outputs_free(&got), outputs_free(&ref);
  oeq_plan_destroy(gpu), oeq_plan_destroy(cpu);

  setenv("OEQ_CONV_CHECK", "1", 1);
  oeq_plan_t *checked = plan_new(&c, rt, 0);
  unsetenv("OEQ_CONV_CHECK");
  size_t n = (size_t)(g.x_rows * c.nx) * 8, ws = 0;
  cr_assert_eq(oeq_conv_workspace_size(checked, g.x_rows, g.z_rows, g.edges, &ws), OEQ_SUCCESS);
  int32_t *rows = index_array(g.rows, g.edges, 0), *cols = index_array(g.cols, g.edges, 0);
  void *x = upload(rt, in.x, n), *y = upload(rt, in.y, (size_t)(g.edges * c.ny) * 8),
       *w = upload(rt, in.w, (size_t)(g.edges * c.nw) * 8), *dr = upload(rt, rows, (size_t)g.edges * 4),
       *dc = upload(rt, cols, (size_t)g.edges * 4), *z = poisoned(rt, (size_t)(g.z_rows * c.nz) * 8);
  oeq_status_t st = oeq_conv_forward(checked, g.x_rows, g.z_rows, g.edges, x, y, w, dr, dc, NULL, z, NULL, 0, NULL);
  cr_expect_eq(st, OEQ_ERROR_INVALID_ARGUMENT, "checked call with a bad col: status %d", st);
  cr_expect(strstr(oeq_last_error(), "col") != NULL, "message: %s", oeq_last_error());
  void *all[] = {x, y, w, dr, dc, z};
  for (int i = 0; i < 6; i++) test_rt_free(rt, all[i]);
  free(rows), free(cols);
  oeq_plan_destroy(checked);
  inputs_free(&in);
  oeq_problem_destroy(c.p);
  graph_free(&g), graph_free(&good);
}

/* The workspace is small: O(segments x row width), independent of rows. */
CONV_TEST(workspace_size_small_and_exact) {
  RT_REQUIRE(rt, TEST_RT_MEMORY);
  prob_t c = prob_new("channelwise", 0, OEQ_FLOAT32);
  oeq_plan_t *det = plan_new(&c, rt, OEQ_CONV_DETERMINISTIC), *at = plan_new(&c, rt, 0);
  size_t a = 0, b = 0, d = 0;
  cr_assert_eq(oeq_conv_workspace_size(det, 1000, 1000, 100000, &a), OEQ_SUCCESS);
  cr_assert_eq(oeq_conv_workspace_size(det, 9000000, 9000000, 100000, &b), OEQ_SUCCESS);
  cr_assert_eq(oeq_conv_workspace_size(at, 1000, 1000, 100000, &d), OEQ_SUCCESS);
  cr_expect_eq(a, b, "workspace depends on the row counts");
  int64_t width = c.nz > c.nx ? c.nz : c.nx;
  cr_expect(a <= 256 + 4096 * (size_t)width * 4 + 256, "deterministic workspace %zu too large", a);
  cr_expect(d <= 256, "atomic workspace %zu", d);
  oeq_plan_destroy(det), oeq_plan_destroy(at);
  oeq_problem_destroy(c.p);
}
