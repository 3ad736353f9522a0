/* test_fixtures.c: oeq's CPU backend against e3nn 0.6.0 reference outputs.
 *
 * The fixtures (tests/fixtures/manifest.txt + <case>.bin, written by
 * tests/fixtures/gen_fixtures.py, format in tests/fixtures/README.md) hold, per
 * case, an e3nn TensorProduct's definition, random inputs x, y, w, dz, and
 * e3nn's float64 outputs z, dx, dy, dw. Each case is built through the public
 * API only and run forward and backward on OEQ_BACKEND_CPU:
 *   float64: relative Frobenius error <= 1e-12 for z, dx, dy, dw;
 *   float32 (inputs cast to float): <= 1e-5 against the float64 reference.
 * Cases that name a builder (fully_connected, channelwise) are also built with
 * that builder and must give the same dims, weight count and results.
 * The fixture directory is $OEQ_SRCDIR/tests/fixtures (else ./tests/fixtures). */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oeq.h"
#include "support.h"

#include "fixture_io.h"

typedef struct {
  fx_tp_t tp;
  int64_t batch;
} fx_case_t;

static int case_key(void *cur, const char *key, const char *v) {
  fx_case_t *c = cur;
  if (strcmp(key, "batch") == 0) return sscanf(v, "%" SCNd64, &c->batch) != 1 || c->batch < 1;
  return -1;
}

/* Parses the manifest. Returns the number of cases (<= max) or -1 with a
 * message in err. cases may be NULL (count only). */
static int load_manifest(fx_case_t *cases, int max, char *err, size_t errn) {
  static fx_case_t cur;
  static const fx_hooks_t hooks = {NULL, case_key, NULL};
  return fx_read_manifest("manifest.txt", &cur, sizeof cur, &cur.tp, cases, max, &hooks, err, errn);
}

/* ------------------------------------------------------------- fixture data */

static int load_data(const fx_case_t *c, fx_data_t *d, char *err, size_t errn) {
  const fx_tp_t *t = &c->tp;
  return fx_load_data(t->name, c->batch * t->d1, c->batch * t->d2,
                      t->shared ? t->numel : c->batch * t->numel, c->batch * t->dout, d, err, errn);
}

/* ---------------------------------------------------------------- building */

#define CHECK_OK(call) FX_CHECK_OK(c->tp.name, call)

static oeq_problem_t *build_problem(const fx_tp_t *c, oeq_dtype_t dt) {
  oeq_problem_t *p = NULL;
  char err[1600];
  cr_assert_eq(fx_build_problem(c, dt, &p, err, sizeof err), 0, "%s", err);
  return p;
}

static oeq_problem_t *build_with_builder(const fx_case_t *c, oeq_dtype_t dt) {
  oeq_problem_t *p = NULL;
  if (strcmp(c->tp.builder, "fully_connected") == 0)
    CHECK_OK(oeq_problem_create_fully_connected(c->tp.in1, c->tp.in2, c->tp.out, &p));
  else if (strcmp(c->tp.builder, "channelwise") == 0)
    CHECK_OK(oeq_problem_create_channelwise(c->tp.in1, c->tp.in2, c->tp.builder_filter, &p));
  else
    cr_assert_fail("case %s: unknown builder '%s'", c->tp.name, c->tp.builder);
  CHECK_OK(oeq_problem_set_normalization(p, c->tp.irrep_norm, c->tp.path_norm));
  CHECK_OK(oeq_problem_set_shared_weights(p, c->tp.shared));
  CHECK_OK(oeq_problem_set_dtypes(p, dt, dt));
  return p;
}

static void check_dims(const fx_tp_t *c, const oeq_problem_t *p, const char *how) {
  char err[1600];
  cr_assert_eq(fx_check_dims(c, p, how, err, sizeof err), 0, "%s", err);
}

/* ------------------------------------------------------------------ running */

typedef struct {
  double rel[4], max_abs[4]; /* z, dx, dy, dw */
} fx_err_t;

static const char *qname[4] = {"z", "dx", "dy", "dw"};

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  cr_assert_not_null(p);
  return p;
}

/* Runs forward + backward in dtype dt on the CPU and measures the errors
 * against the e3nn reference (always compared in double). */
static void run_one(const fx_case_t *c, const oeq_problem_t *p, const fx_data_t *d, oeq_dtype_t dt,
                    fx_err_t *e) {
  oeq_plan_t *plan = NULL;
  CHECK_OK(oeq_plan_create_tp(p, OEQ_BACKEND_CPU, 0, &plan));
  oeq_backend_t be = OEQ_BACKEND_AUTO;
  CHECK_OK(oeq_plan_backend(plan, &be));
  cr_assert_eq(be, OEQ_BACKEND_CPU, "case %s: plan not on the CPU", c->tp.name);

  const int64_t n_in[4] = {d->nx, d->ny, d->nw, d->nz}; /* x y w dz */
  const double *src_in[4] = {d->x, d->y, d->w, d->dz};
  const int64_t n_out[4] = {d->nz, d->nx, d->ny, d->nw}; /* z dx dy dw */
  const double *ref[4] = {d->z, d->dx, d->dy, d->dw};
  void *in[4], *out[4];
  size_t es = dt == OEQ_FLOAT64 ? sizeof(double) : sizeof(float);
  for (int i = 0; i < 4; i++) {
    in[i] = xmalloc((size_t)n_in[i] * es);
    if (dt == OEQ_FLOAT64) {
      memcpy(in[i], src_in[i], (size_t)n_in[i] * es);
    } else {
      for (int64_t k = 0; k < n_in[i]; k++) ((float *)in[i])[k] = (float)src_in[i][k];
    }
    out[i] = xmalloc((size_t)n_out[i] * es);
    if (dt == OEQ_FLOAT64) test_poison_double(out[i], n_out[i]);
    else test_poison_float(out[i], n_out[i]);
  }
  const void *w = c->tp.numel > 0 ? in[2] : NULL;
  oeq_status_t st = oeq_tp_forward(plan, c->batch, in[0], in[1], w, out[0], NULL);
  cr_assert_eq(st, OEQ_SUCCESS, "case %s: forward: %s (%s)", c->tp.name, oeq_status_string(st),
               oeq_last_error());
  st = oeq_tp_backward(plan, c->batch, in[0], in[1], w, in[3], out[1], out[2],
                       c->tp.numel > 0 ? out[3] : NULL, NULL);
  cr_assert_eq(st, OEQ_SUCCESS, "case %s: backward: %s (%s)", c->tp.name, oeq_status_string(st),
               oeq_last_error());
  for (int i = 0; i < 4; i++) {
    double *got = xmalloc((size_t)n_out[i] * sizeof(double));
    for (int64_t k = 0; k < n_out[i]; k++)
      got[k] = dt == OEQ_FLOAT64 ? ((double *)out[i])[k] : (double)((float *)out[i])[k];
    e->rel[i] = test_rel_error(got, ref[i], n_out[i]);
    e->max_abs[i] = test_max_abs_error(got, ref[i], n_out[i]);
    free(got);
    free(in[i]);
    free(out[i]);
  }
  oeq_plan_destroy(plan);
}

static void report(const fx_case_t *c, const char *how, const fx_err_t *e, double tol) {
  fprintf(stderr, "fixtures: %-24s %-8s", c->tp.name, how);
  for (int i = 0; i < 4; i++)
    fprintf(stderr, " %s rel %.2e max %.2e;", qname[i], e->rel[i], e->max_abs[i]);
  fprintf(stderr, "\n");
  for (int i = 0; i < 4; i++)
    cr_expect(e->rel[i] <= tol, "case %s, %s: %s relative error %.3e > %.0e (max abs %.3e)", c->tp.name,
              how, qname[i], e->rel[i], tol, e->max_abs[i]);
}

static void run_case(const fx_case_t *c) {
  char err[1600];
  fx_data_t d;
  cr_assert_eq(load_data(c, &d, err, sizeof err), 0, "%s", err);

  oeq_problem_t *p64 = build_problem(&c->tp, OEQ_FLOAT64);
  check_dims(&c->tp, p64, "instructions");
  fx_err_t e;
  run_one(c, p64, &d, OEQ_FLOAT64, &e);
  report(c, "f64", &e, 1e-12);
  oeq_problem_destroy(p64);

  oeq_problem_t *p32 = build_problem(&c->tp, OEQ_FLOAT32);
  run_one(c, p32, &d, OEQ_FLOAT32, &e);
  report(c, "f32", &e, 1e-5);
  oeq_problem_destroy(p32);

  if (strcmp(c->tp.builder, "none") != 0) {
    oeq_problem_t *pb = build_with_builder(c, OEQ_FLOAT64);
    check_dims(&c->tp, pb, c->tp.builder);
    run_one(c, pb, &d, OEQ_FLOAT64, &e);
    report(c, "builder", &e, 1e-12);
    oeq_problem_destroy(pb);
  }
  free(d.buf);
}

/* ------------------------------------------------------------------- tests */

TestSuite(fixtures);

/* The manifest parses and every case's binary file has the implied size. */
Test(fixtures, manifest) {
  static fx_case_t cases[256];
  char err[1600] = "";
  int n = load_manifest(cases, 256, err, sizeof err);
  cr_assert_geq(n, 0, "%s", err);
  cr_assert_geq(n, 30, "only %d cases in the manifest", n);
  for (int i = 0; i < n; i++) {
    fx_data_t d;
    cr_expect_eq(load_data(&cases[i], &d, err, sizeof err), 0, "%s", err);
    free(d.buf);
    for (int j = 0; j < i; j++)
      cr_expect_neq(strcmp(cases[i].tp.name, cases[j].tp.name), 0, "duplicate case %s", cases[i].tp.name);
  }
}

/* One parameter per case: its index in the manifest (-1 if it cannot be read;
 * that test then fails with the reason). */
ParameterizedTestParameters(fixtures, e3nn) {
  char err[1600];
  int n = load_manifest(NULL, 0, err, sizeof err);
  if (n <= 0) n = 0;
  int count = n > 0 ? n : 1;
  int *idx = cr_malloc(sizeof(int) * (size_t)count);
  for (int i = 0; i < count; i++) idx[i] = n > 0 ? i : -1;
  return cr_make_param_array(int, idx, (size_t)count);
}

ParameterizedTest(int *param, fixtures, e3nn, .timeout = 120) {
  static fx_case_t cases[256];
  char err[1600] = "";
  int n = load_manifest(cases, 256, err, sizeof err);
  cr_assert_geq(n, 1, "no fixtures: %s", n < 0 ? err : "empty manifest");
  cr_assert(*param >= 0 && *param < n, "case index %d of %d", *param, n);
  run_case(&cases[*param]);
}
