/* test_conv_fixtures.c: oeq's fused graph convolution against e3nn 0.6.0.
 *
 * The fixtures (tests/fixtures/conv_manifest.txt + <case>.bin, written by
 * tests/fixtures/gen_conv_fixtures.py, format in tests/fixtures/README.md)
 * hold, per case, an e3nn TensorProduct, a small graph (rows = receivers,
 * cols = senders, in the generator's edge order, NOT sorted in general),
 * random x [x_rows], y [edges], w, dz [z_rows], and e3nn's float64
 *   z = zeros(z_rows).index_add_(0, rows, tp(x[cols], y, w))
 * with dx, dy, dw of sum(z * dz). Each case is built through the public API
 * only and run with oeq_conv_forward / oeq_conv_backward for
 *   flags 0 (edges in the file's order) and OEQ_CONV_DETERMINISTIC,
 *   int32 and int64 (OEQ_INDEX_INT64) indices,
 *   float64 (relative Frobenius error <= 1e-12 for z, dx, dy, dw) and
 *   float32 (inputs cast to float, <= 1e-5 against the float64 reference),
 * on OEQ_BACKEND_CPU, and on OEQ_BACKEND_CUDA when it is available (the
 * CUDA test skips itself otherwise). Outputs are poisoned with NaN first.
 *
 * DETERMINISTIC needs receivers sorted: the test stable-sorts the edges by
 * rows and permutes rows, cols, y, per-edge w and the references dy, dw the
 * same way; sender_perm is then the stable sort of the permuted edges by
 * cols. The fixture directory is $OEQ_SRCDIR/tests/fixtures. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda_api.h"
#include "oeq.h"
#include "support.h"

#include "fixture_io.h"

#define CF_MAX_E 1024
#define CF_MAX_CASES 64

typedef struct {
  fx_tp_t tp;
  int64_t x_rows, z_rows, edges;
  int nrows, ncols;
  int64_t rows[CF_MAX_E], cols[CF_MAX_E];
} cf_case_t;

static void case_begin(void *cur) {
  cf_case_t *c = cur;
  c->x_rows = c->z_rows = c->edges = -1;
}

static int case_key(void *cur, const char *key, const char *v) {
  cf_case_t *c = cur;
  if (strcmp(key, "x_rows") == 0) return sscanf(v, "%" SCNd64, &c->x_rows) != 1 || c->x_rows < 1;
  if (strcmp(key, "z_rows") == 0) return sscanf(v, "%" SCNd64, &c->z_rows) != 1 || c->z_rows < 1;
  if (strcmp(key, "edges") == 0)
    return sscanf(v, "%" SCNd64, &c->edges) != 1 || c->edges < 0 || c->edges > CF_MAX_E;
  if (strcmp(key, "rows") == 0) return fx_parse_ints(v, c->rows, &c->nrows, CF_MAX_E) != 0;
  if (strcmp(key, "cols") == 0) return fx_parse_ints(v, c->cols, &c->ncols, CF_MAX_E) != 0;
  return -1;
}

static int case_end(const void *cur, const char *path, int lineno, char *err, size_t errn) {
  const cf_case_t *c = cur;
  if (c->x_rows < 1 || c->z_rows < 1 || c->edges < 0 || c->nrows != c->edges ||
      c->ncols != c->edges) {
    snprintf(err, errn, "%s:%d: case %s: x_rows/z_rows/edges/rows/cols missing or inconsistent",
             path, lineno, c->tp.name);
    return -1;
  }
  for (int64_t e = 0; e < c->edges; e++)
    if (c->rows[e] < 0 || c->rows[e] >= c->z_rows || c->cols[e] < 0 || c->cols[e] >= c->x_rows) {
      snprintf(err, errn, "%s: case %s: edge %lld out of range", path, c->tp.name, (long long)e);
      return -1;
    }
  return 0;
}

/* Number of cases (<= max) or -1 with a message in err; cases may be NULL. */
static int load_manifest(cf_case_t *cases, int max, char *err, size_t errn) {
  static cf_case_t cur;
  static const fx_hooks_t hooks = {case_begin, case_key, case_end};
  return fx_read_manifest("conv_manifest.txt", &cur, sizeof cur, &cur.tp, cases, max, &hooks, err,
                          errn);
}

/* ------------------------------------------------------------- fixture data */

typedef fx_data_t cf_data_t;

static int load_data(const cf_case_t *c, cf_data_t *d, char *err, size_t errn) {
  const fx_tp_t *t = &c->tp;
  return fx_load_data(t->name, c->x_rows * t->d1, c->edges * t->d2,
                      t->shared ? t->numel : c->edges * t->numel, c->z_rows * t->dout, d, err, errn);
}

/* ---------------------------------------------------------------- building */

#define CHECK_OK(call) FX_CHECK_OK(c->tp.name, call)

/* The case's problem in dtype dt, its dims checked against e3nn's. */
static oeq_problem_t *build_problem(const cf_case_t *c, oeq_dtype_t dt) {
  oeq_problem_t *p = NULL;
  char err[1600];
  cr_assert_eq(fx_build_problem(&c->tp, dt, &p, err, sizeof err), 0, "%s", err);
  cr_assert_eq(fx_check_dims(&c->tp, p, NULL, err, sizeof err), 0, "%s", err);
  return p;
}

/* ------------------------------------------------------------------ device */

static const oeq_cuda_api_t *cu;

#define CK(call)                                                                               \
  do {                                                                                         \
    CUresult r_ = (call);                                                                      \
    cr_assert_eq(r_, 0, "%s: %s", #call, oeq_cuda_error_string(r_));                           \
  } while (0)

static CUdeviceptr upload(const void *h, size_t bytes) {
  CUdeviceptr d = 0;
  CK(cu->cuMemAlloc(&d, bytes ? bytes : 16));
  if (bytes) CK(cu->cuMemcpyHtoD(d, h, bytes));
  return d;
}

static CUdeviceptr poisoned(size_t bytes) { /* all bytes 0xff: NaN in float32 and float64 */
  CUdeviceptr d = 0;
  CK(cu->cuMemAlloc(&d, bytes ? bytes : 16));
  CK(cu->cuMemsetD8Async(d, 0xff, bytes ? bytes : 16, NULL));
  CK(cu->cuCtxSynchronize());
  return d;
}

static void *vp(CUdeviceptr d) { return (void *)(uintptr_t)d; }

/* ------------------------------------------------------------------ running */

static const char *qname[4] = {"z", "dx", "dy", "dw"};

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  cr_assert_not_null(p);
  return p;
}

/* One graph (rows, cols) with its inputs and references in that edge order. */
typedef struct {
  int64_t E;
  int64_t *rows, *cols, *perm; /* perm: sender_perm, or NULL */
  double *y, *w, *dy, *dw;     /* per-edge arrays (w, dw: shared -> not copied) */
} cf_graph_t;

static int64_t *g_rows_key;
static int cmp_by_key(const void *a, const void *b) { /* stable: ties by edge index */
  int64_t i = *(const int64_t *)a, j = *(const int64_t *)b;
  if (g_rows_key[i] != g_rows_key[j]) return g_rows_key[i] < g_rows_key[j] ? -1 : 1;
  return i < j ? -1 : i > j;
}

/* det == 0: the file's edge order. det == 1: edges stable-sorted by rows
 * (y, per-edge w, dy, dw permuted with them) and sender_perm by cols. */
static cf_graph_t make_graph(const cf_case_t *c, const cf_data_t *d, int det) {
  cf_graph_t g = {.E = c->edges};
  int64_t E = c->edges;
  int64_t *order = xmalloc((size_t)E * 8);
  for (int64_t e = 0; e < E; e++) order[e] = e;
  if (det) {
    g_rows_key = (int64_t *)c->rows;
    qsort(order, (size_t)E, 8, cmp_by_key);
  }
  g.rows = xmalloc((size_t)E * 8), g.cols = xmalloc((size_t)E * 8);
  g.y = xmalloc((size_t)(E * c->tp.d2) * 8), g.dy = xmalloc((size_t)(E * c->tp.d2) * 8);
  int64_t wn = c->tp.shared ? c->tp.numel : E * c->tp.numel;
  g.w = xmalloc((size_t)wn * 8), g.dw = xmalloc((size_t)wn * 8);
  if (c->tp.shared) memcpy(g.w, d->w, (size_t)wn * 8), memcpy(g.dw, d->dw, (size_t)wn * 8);
  for (int64_t e = 0; e < E; e++) {
    int64_t s = order[e];
    g.rows[e] = c->rows[s], g.cols[e] = c->cols[s];
    memcpy(g.y + e * c->tp.d2, d->y + s * c->tp.d2, (size_t)c->tp.d2 * 8);
    memcpy(g.dy + e * c->tp.d2, d->dy + s * c->tp.d2, (size_t)c->tp.d2 * 8);
    if (!c->tp.shared) {
      memcpy(g.w + e * c->tp.numel, d->w + s * c->tp.numel, (size_t)c->tp.numel * 8);
      memcpy(g.dw + e * c->tp.numel, d->dw + s * c->tp.numel, (size_t)c->tp.numel * 8);
    }
  }
  for (int64_t e = 1; det && e < E; e++)
    cr_assert(g.rows[e - 1] <= g.rows[e], "case %s: rows not sorted after the sort", c->tp.name);
  if (det) { /* stable counting sort of the (sorted) edges by cols */
    int64_t *start = calloc((size_t)c->x_rows + 1, 8);
    cr_assert_not_null(start);
    g.perm = xmalloc((size_t)E * 8);
    for (int64_t e = 0; e < E; e++) start[g.cols[e] + 1]++;
    for (int64_t i = 0; i < c->x_rows; i++) start[i + 1] += start[i];
    for (int64_t e = 0; e < E; e++) g.perm[start[g.cols[e]]++] = e;
    free(start);
  }
  free(order);
  return g;
}

static void graph_free(cf_graph_t *g) {
  free(g->rows), free(g->cols), free(g->perm), free(g->y), free(g->w), free(g->dy), free(g->dw);
}

static void *typed(const double *v, int64_t n, oeq_dtype_t dt) {
  size_t sz = dt == OEQ_FLOAT64 ? 8 : 4;
  void *out = xmalloc((size_t)n * sz);
  for (int64_t i = 0; i < n; i++)
    if (dt == OEQ_FLOAT64) ((double *)out)[i] = v[i];
    else ((float *)out)[i] = (float)v[i];
  return out;
}

static double *untyped(const void *v, int64_t n, oeq_dtype_t dt) {
  double *out = xmalloc((size_t)n * 8);
  for (int64_t i = 0; i < n; i++)
    out[i] = dt == OEQ_FLOAT64 ? ((const double *)v)[i] : (double)((const float *)v)[i];
  return out;
}

static void *index_array(const int64_t *v, int64_t n, int wide) {
  if (!v) return NULL;
  void *out = xmalloc((size_t)n * (wide ? 8 : 4));
  for (int64_t i = 0; i < n; i++)
    if (wide) ((int64_t *)out)[i] = v[i];
    else ((int32_t *)out)[i] = (int32_t)v[i];
  return out;
}

/* Forward + backward on backend b with flags; returns the worst relative
 * error over z, dx, dy, dw (and fills rel[4]). */
static void run_conv(const cf_case_t *c, const cf_data_t *d, oeq_backend_t b, oeq_dtype_t dt,
                     uint32_t flags, double rel[4]) {
  int det = (flags & OEQ_CONV_DETERMINISTIC) != 0, wide = (flags & OEQ_INDEX_INT64) != 0;
  oeq_problem_t *p = build_problem(c, dt);
  oeq_plan_t *plan = NULL;
  CHECK_OK(oeq_plan_create_conv(p, b, 0, flags, &plan));
  oeq_backend_t be = OEQ_BACKEND_AUTO;
  CHECK_OK(oeq_plan_backend(plan, &be));
  cr_assert_eq(be, b, "case %s: plan on backend %d, asked %d", c->tp.name, (int)be, (int)b);

  cf_graph_t g = make_graph(c, d, det);
  int64_t E = g.E, nx = d->nx, ny = d->ny, nz = d->nz, nw = d->nw;
  size_t sz = dt == OEQ_FLOAT64 ? 8 : 4, isz = wide ? 8 : 4;
  void *x = typed(d->x, nx, dt), *y = typed(g.y, ny, dt), *w = typed(g.w, nw, dt),
       *dz = typed(d->dz, nz, dt);
  void *rows = index_array(g.rows, E, wide), *cols = index_array(g.cols, E, wide),
       *perm = index_array(g.perm, E, wide);
  const int64_t n_out[4] = {nz, nx, ny, nw};
  const double *ref[4] = {d->z, d->dx, g.dy, g.dw};
  double *got[4];

  if (b == OEQ_BACKEND_CPU) {
    void *out[4];
    for (int i = 0; i < 4; i++) {
      out[i] = xmalloc((size_t)n_out[i] * sz);
      if (dt == OEQ_FLOAT64) test_poison_double(out[i], n_out[i]);
      else test_poison_float(out[i], n_out[i]);
    }
    oeq_status_t st = oeq_conv_forward(plan, c->x_rows, c->z_rows, E, x, y, c->tp.numel ? w : NULL,
                                       rows, cols, perm, out[0], NULL, 0, NULL);
    cr_assert_eq(st, OEQ_SUCCESS, "case %s flags 0x%x: forward: %s (%s)", c->tp.name, flags,
                 oeq_status_string(st), oeq_last_error());
    st = oeq_conv_backward(plan, c->x_rows, c->z_rows, E, x, y, c->tp.numel ? w : NULL, dz, rows, cols,
                           perm, out[1], out[2], c->tp.numel ? out[3] : NULL, NULL, 0, NULL);
    cr_assert_eq(st, OEQ_SUCCESS, "case %s flags 0x%x: backward: %s (%s)", c->tp.name, flags,
                 oeq_status_string(st), oeq_last_error());
    for (int i = 0; i < 4; i++) got[i] = untyped(out[i], n_out[i], dt), free(out[i]);
  } else {
    CUdeviceptr dx_ = upload(x, (size_t)nx * sz), dy_ = upload(y, (size_t)ny * sz),
                dw_ = upload(w, (size_t)nw * sz), ddz = upload(dz, (size_t)nz * sz),
                drows = upload(rows, (size_t)E * isz), dcols = upload(cols, (size_t)E * isz),
                dperm = perm ? upload(perm, (size_t)E * isz) : 0;
    CUdeviceptr o[4];
    for (int i = 0; i < 4; i++) o[i] = poisoned((size_t)n_out[i] * sz);
    oeq_status_t st = oeq_conv_forward(plan, c->x_rows, c->z_rows, E, vp(dx_), vp(dy_),
                                       c->tp.numel ? vp(dw_) : NULL, vp(drows), vp(dcols),
                                       perm ? vp(dperm) : NULL, vp(o[0]), NULL, 0, NULL);
    cr_assert_eq(st, OEQ_SUCCESS, "case %s cuda flags 0x%x: forward: %s (%s)", c->tp.name, flags,
                 oeq_status_string(st), oeq_last_error());
    st = oeq_conv_backward(plan, c->x_rows, c->z_rows, E, vp(dx_), vp(dy_),
                           c->tp.numel ? vp(dw_) : NULL, vp(ddz), vp(drows), vp(dcols),
                           perm ? vp(dperm) : NULL, vp(o[1]), vp(o[2]),
                           c->tp.numel ? vp(o[3]) : NULL, NULL, 0, NULL);
    cr_assert_eq(st, OEQ_SUCCESS, "case %s cuda flags 0x%x: backward: %s (%s)", c->tp.name, flags,
                 oeq_status_string(st), oeq_last_error());
    CK(cu->cuCtxSynchronize());
    for (int i = 0; i < 4; i++) {
      void *h = xmalloc((size_t)n_out[i] * sz);
      if (n_out[i]) CK(cu->cuMemcpyDtoH(h, o[i], (size_t)n_out[i] * sz));
      got[i] = untyped(h, n_out[i], dt);
      free(h);
      cu->cuMemFree(o[i]);
    }
    CUdeviceptr all[] = {dx_, dy_, dw_, ddz, drows, dcols, dperm};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
      if (all[i]) cu->cuMemFree(all[i]);
  }
  for (int i = 0; i < 4; i++) {
    rel[i] = test_rel_error(got[i], ref[i], n_out[i]);
    if (isnan(rel[i])) rel[i] = INFINITY;
    free(got[i]);
  }
  free(x), free(y), free(w), free(dz), free(rows), free(cols), free(perm);
  graph_free(&g);
  oeq_plan_destroy(plan);
  oeq_problem_destroy(p);
}

static void run_case(const cf_case_t *c, oeq_backend_t b) {
  char err[1600];
  cf_data_t d;
  cr_assert_eq(load_data(c, &d, err, sizeof err), 0, "%s", err);
  const uint32_t flags[4] = {0, OEQ_INDEX_INT64, OEQ_CONV_DETERMINISTIC,
                             OEQ_CONV_DETERMINISTIC | OEQ_INDEX_INT64};
  const char *bname = b == OEQ_BACKEND_CPU ? "cpu" : "cuda";
  for (int t = 0; t < 2; t++) {
    oeq_dtype_t dt = t == 0 ? OEQ_FLOAT64 : OEQ_FLOAT32;
    double tol = t == 0 ? 1e-12 : 1e-5, worst[4] = {0, 0, 0, 0};
    for (int f = 0; f < 4; f++) {
      double rel[4];
      run_conv(c, &d, b, dt, flags[f], rel);
      for (int i = 0; i < 4; i++) {
        if (rel[i] > worst[i]) worst[i] = rel[i];
        cr_expect(rel[i] <= tol, "case %s %s %s flags 0x%x: %s relative error %.3e > %.0e", c->tp.name,
                  bname, t == 0 ? "f64" : "f32", flags[f], qname[i], rel[i], tol);
      }
    }
    fprintf(stderr, "conv_fixtures: %-22s %-4s %s max over flags: z %.2e dx %.2e dy %.2e dw %.2e\n",
            c->tp.name, bname, t == 0 ? "f64" : "f32", worst[0], worst[1], worst[2], worst[3]);
  }
  free(d.buf);
}

/* ------------------------------------------------------------------- tests */

TestSuite(conv_fixtures);

/* The manifest parses, every binary has the implied size, and the set
 * covers what it is meant to: ghost rows that send, unsorted receivers. */
Test(conv_fixtures, manifest) {
  static cf_case_t cases[CF_MAX_CASES];
  char err[1600] = "";
  int n = load_manifest(cases, CF_MAX_CASES, err, sizeof err);
  cr_assert_geq(n, 0, "%s", err);
  cr_assert_geq(n, 4, "only %d cases in the manifest", n);
  int ghost_sender = 0, unsorted = 0, shared = 0;
  for (int i = 0; i < n; i++) {
    cf_data_t d;
    cr_expect_eq(load_data(&cases[i], &d, err, sizeof err), 0, "%s", err);
    free(d.buf);
    for (int j = 0; j < i; j++)
      cr_expect_neq(strcmp(cases[i].tp.name, cases[j].tp.name), 0, "duplicate case %s", cases[i].tp.name);
    for (int64_t e = 0; e < cases[i].edges; e++) {
      if (cases[i].cols[e] >= cases[i].z_rows) ghost_sender = 1;
      if (e && cases[i].rows[e] < cases[i].rows[e - 1]) unsorted = 1;
    }
    shared |= cases[i].tp.shared;
  }
  cr_expect(ghost_sender && unsorted && shared, "coverage: ghost senders %d, unsorted rows %d, shared w %d",
            ghost_sender, unsorted, shared);
}

ParameterizedTestParameters(conv_fixtures, cpu) {
  char err[1600];
  int n = load_manifest(NULL, 0, err, sizeof err);
  if (n <= 0) n = 0;
  int count = n > 0 ? n : 1;
  int *idx = cr_malloc(sizeof(int) * (size_t)count);
  for (int i = 0; i < count; i++) idx[i] = n > 0 ? i : -1;
  return cr_make_param_array(int, idx, (size_t)count);
}

ParameterizedTest(int *param, conv_fixtures, cpu, .timeout = 120) {
  static cf_case_t cases[CF_MAX_CASES];
  char err[1600] = "";
  int n = load_manifest(cases, CF_MAX_CASES, err, sizeof err);
  cr_assert_geq(n, 1, "no fixtures: %s", n < 0 ? err : "empty manifest");
  cr_assert(*param >= 0 && *param < n, "case index %d of %d", *param, n);
  run_case(&cases[*param], OEQ_BACKEND_CPU);
}

ParameterizedTestParameters(conv_fixtures, cuda) {
  char err[1600];
  int n = load_manifest(NULL, 0, err, sizeof err);
  if (n <= 0) n = 0;
  int count = n > 0 ? n : 1;
  int *idx = cr_malloc(sizeof(int) * (size_t)count);
  for (int i = 0; i < count; i++) idx[i] = n > 0 ? i : -1;
  return cr_make_param_array(int, idx, (size_t)count);
}

/* The same on the GPU; skipped (this part only) without a CUDA device. */
ParameterizedTest(int *param, conv_fixtures, cuda, .timeout = 300) {
  if (!oeq_backend_available(OEQ_BACKEND_CUDA)) {
    cr_skip_test("no CUDA device, CUDA part skipped: %s", oeq_last_error());
    return;
  }
  cu = oeq_cuda_api(NULL);
  cr_assert_not_null(cu);
  CUdevice dev;
  CUcontext ctx;
  CK(cu->cuDeviceGet(&dev, 0));
  CK(cu->cuDevicePrimaryCtxRetain(&ctx, dev));
  CK(cu->cuCtxPushCurrent(ctx));
  static cf_case_t cases[CF_MAX_CASES];
  char err[1600] = "";
  int n = load_manifest(cases, CF_MAX_CASES, err, sizeof err);
  cr_assert_geq(n, 1, "no fixtures: %s", n < 0 ? err : "empty manifest");
  cr_assert(*param >= 0 && *param < n, "case index %d of %d", *param, n);
  run_case(&cases[*param], OEQ_BACKEND_CUDA);
}
