/* test_double_backward.c: oeq_tp_double_backward / oeq_conv_double_backward.
 *
 * The double backward returns the gradients of
 *   L(x, y, w, dz) = <ddx, dx> + <ddy, dy> + <ddw, dw>
 * (dx, dy, dw = oeq's backward). L is linear in each of x, y, w, dz
 * separately, so a central difference of L along a direction of one
 * argument is exact up to rounding: every gradient is checked against it
 * (float64, relative 1e-10) for random directions, on TP problems of every
 * kind (uvu, uvw, mixed modes; shared and per-row weights; ir_mul) and on
 * convolutions (atomic and deterministic). Outputs are NaN-poisoned before
 * each call, NULL cotangents must equal zero ones, and bad calls must fail
 * with a message and leave the outputs alone. GPU cases (suites dd_cuda,
 * dd_hip; skipped without a device) compare with the CPU backend. The
 * conservative-forces test is dd_forces.c, the e3nn fixtures dd_fixtures.c. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_support.h"
#include "gpu_runtime.h"
#include "support.h"

TestSuite(double_backward, .timeout = 120);
TestSuite(dd_cuda, .timeout = 300);
TestSuite(dd_hip, .timeout = 300);

#define OK(call)                                                                              \
  do {                                                                                        \
    oeq_status_t st_ = (call);                                                                \
    cr_assert_eq(st_, OEQ_SUCCESS, "%s: %s", #call, oeq_last_error());                        \
  } while (0)

static double *dalloc(int64_t n) {
  double *p = malloc((size_t)(n > 0 ? n : 1) * sizeof(double));
  cr_assert_not_null(p);
  return p;
}

/* ------------------------------------------------------------- problems */

enum { P_UVU, P_UVU_IR_MUL, P_UVW_SHARED, P_UVW_PERROW, P_MIXED, P_COUNT };
static const char *const problem_names[P_COUNT] = {"uvu per-row", "uvu ir_mul", "uvw shared",
                                                   "uvw per-row", "mixed modes shared"};

static oeq_problem_t *make_problem(int kind, oeq_dtype_t dt) {
  oeq_problem_t *p = NULL;
  switch (kind) {
    case P_UVU:
    case P_UVU_IR_MUL:
      OK(oeq_problem_create_channelwise("4x0e+3x1o+2x2e", "0e+1o+2e", "0e+1o+2e", &p));
      if (kind == P_UVU_IR_MUL) OK(oeq_problem_set_layout(p, OEQ_LAYOUT_IR_MUL));
      break;
    case P_UVW_SHARED:
    case P_UVW_PERROW:
      OK(oeq_problem_create_fully_connected("3x0e+2x1o", "2x0e+1o", "2x0e+3x1o+1x1e", &p));
      OK(oeq_problem_set_shared_weights(p, kind == P_UVW_SHARED));
      break;
    default:
      /* uuu, uvuv, unweighted uvv and uuw in one problem */
      OK(oeq_problem_create("2x0e+2x1o", "2x0e+2x1o", "2x0e+2x1o+4x1e", &p));
      OK(oeq_problem_add_instruction(p, 0, 0, 0, OEQ_MODE_UUU, 1, 1.0));
      OK(oeq_problem_add_instruction(p, 1, 1, 2, OEQ_MODE_UVUV, 1, 1.0));
      OK(oeq_problem_add_instruction(p, 1, 0, 1, OEQ_MODE_UVV, 0, 1.0));
      OK(oeq_problem_add_instruction(p, 0, 1, 1, OEQ_MODE_UUW, 1, 0.5));
      break;
  }
  OK(oeq_problem_set_dtypes(p, dt, dt));
  return p;
}

static void init_case(dd_case_t *c, int kind, oeq_dtype_t dt, oeq_backend_t b, int conv,
                      uint32_t flags) {
  oeq_problem_t *p = make_problem(kind, dt);
  char why[600];
  int rc = conv ? dd_case_init(c, p, b, 1, flags, 5, 4, 17, 11 + (uint64_t)kind, why, sizeof why)
                : dd_case_init(c, p, b, 0, 0, 7, 7, 7, 0, why, sizeof why);
  oeq_problem_destroy(p);
  cr_assert_eq(rc, 0, "%s: %s", problem_names[kind], why);
}

/* Inputs, cotangents and outputs of one double-backward call (float64). */
typedef struct {
  double *x, *y, *w, *dz, *ddx, *ddy, *ddw;
  double *gx, *gy, *gw, *gdz;
} dd_data_t;

static dd_data_t data_new(const dd_case_t *c, uint64_t seed) {
  test_rng_t r = {seed | 1};
  dd_data_t d = {dalloc(dd_nx(c)), dalloc(dd_ny(c)), dalloc(dd_nw(c)), dalloc(dd_nz(c)),
                 dalloc(dd_nx(c)), dalloc(dd_ny(c)), dalloc(dd_nw(c)), dalloc(dd_nx(c)),
                 dalloc(dd_ny(c)), dalloc(dd_nw(c)), dalloc(dd_nz(c))};
  test_fill_double(&r, d.x, dd_nx(c));
  test_fill_double(&r, d.y, dd_ny(c));
  test_fill_double(&r, d.w, dd_nw(c));
  test_fill_double(&r, d.dz, dd_nz(c));
  test_fill_double(&r, d.ddx, dd_nx(c));
  test_fill_double(&r, d.ddy, dd_ny(c));
  test_fill_double(&r, d.ddw, dd_nw(c));
  return d;
}

static void data_free(dd_data_t *d) {
  double *all[] = {d->x, d->y, d->w, d->dz, d->ddx, d->ddy, d->ddw, d->gx, d->gy, d->gw, d->gdz};
  for (size_t i = 0; i < sizeof all / sizeof *all; i++) free(all[i]);
}

static void poison_outputs(const dd_case_t *c, dd_data_t *d) {
  test_poison_double(d->gx, dd_nx(c));
  test_poison_double(d->gy, dd_ny(c));
  test_poison_double(d->gw, dd_nw(c));
  test_poison_double(d->gdz, dd_nz(c));
}

static int all_finite(const double *v, int64_t n) {
  for (int64_t i = 0; i < n; i++)
    if (!isfinite(v[i])) return 0;
  return 1;
}

static void run_double(const dd_case_t *c, dd_data_t *d, int workspace) {
  poison_outputs(c, d);
  OK(dd_double(c, d->x, d->y, d->w, d->dz, d->ddx, d->ddy, d->ddw, d->gx, d->gy, d->gw, d->gdz,
               workspace));
  cr_assert(all_finite(d->gx, dd_nx(c)) && all_finite(d->gy, dd_ny(c)) &&
                all_finite(d->gw, dd_nw(c)) && all_finite(d->gdz, dd_nz(c)),
            "an output element was left unwritten (NaN poison survived)");
}

/* L at (x, y, w, dz), with oeq's backward. */
static double objective(const dd_case_t *c, const double *x, const double *y, const double *w,
                        const double *dz, const dd_data_t *d) {
  double *bx = dalloc(dd_nx(c)), *by = dalloc(dd_ny(c)), *bw = dalloc(dd_nw(c));
  OK(dd_backward(c, x, y, w, dz, bx, by, bw));
  const double l = dd_dot(d->ddx, bx, dd_nx(c)) + dd_dot(d->ddy, by, dd_ny(c)) +
                   dd_dot(d->ddw, bw, dd_nw(c));
  free(bx), free(by), free(bw);
  return l;
}

/* Central differences of L along random directions of each argument. */
static void check_fd(const dd_case_t *c, const dd_data_t *d, const char *what) {
  const char *names[4] = {"x", "y", "w", "dz"};
  const int64_t n[4] = {dd_nx(c), dd_ny(c), dd_nw(c), dd_nz(c)};
  double *const arg[4] = {d->x, d->y, d->w, d->dz};
  const double *const grad[4] = {d->gx, d->gy, d->gw, d->gdz};
  test_rng_t r = {0x5eed};
  for (int a = 0; a < 4; a++) {
    if (n[a] == 0) continue;
    double *v = dalloc(n[a]), *plus = dalloc(n[a]), *minus = dalloc(n[a]);
    for (int k = 0; k < 3; k++) {
      test_fill_double(&r, v, n[a]);
      const double h = 0.25; /* L is linear in this argument: any step is exact */
      for (int64_t i = 0; i < n[a]; i++) plus[i] = arg[a][i] + h * v[i], minus[i] = arg[a][i] - h * v[i];
      const double *in[4] = {d->x, d->y, d->w, d->dz};
      in[a] = plus;
      const double lp = objective(c, in[0], in[1], in[2], in[3], d);
      in[a] = minus;
      const double lm = objective(c, in[0], in[1], in[2], in[3], d);
      const double fd = (lp - lm) / (2 * h), an = dd_dot(grad[a], v, n[a]);
      const double scale = sqrt(dd_dot(grad[a], grad[a], n[a]) * dd_dot(v, v, n[a])) + fabs(lp) + fabs(lm);
      cr_expect(fabs(fd - an) <= 1e-10 * scale + 1e-300,
                "%s: d L / d %s along direction %d: finite difference %.17g, double backward %.17g",
                what, names[a], k, fd, an);
    }
    free(v), free(plus), free(minus);
  }
}

/* --------------------------------------------------------- CPU, float64 */

Test(double_backward, tp_matches_finite_differences) {
  for (int kind = 0; kind < P_COUNT; kind++) {
    dd_case_t c;
    init_case(&c, kind, OEQ_FLOAT64, OEQ_BACKEND_CPU, 0, 0);
    dd_data_t d = data_new(&c, 100 + (uint64_t)kind);
    run_double(&c, &d, 0);
    char what[96];
    snprintf(what, sizeof what, "TP %s", problem_names[kind]);
    check_fd(&c, &d, what);
    data_free(&d);
    dd_case_free(&c);
  }
}

Test(double_backward, conv_matches_finite_differences) {
  const uint32_t modes[2] = {0, OEQ_CONV_DETERMINISTIC};
  const int kinds[3] = {P_UVU, P_UVW_SHARED, P_MIXED};
  for (int m = 0; m < 2; m++)
    for (int k = 0; k < 3; k++) {
      dd_case_t c;
      init_case(&c, kinds[k], OEQ_FLOAT64, OEQ_BACKEND_CPU, 1, modes[m]);
      dd_data_t d = data_new(&c, 200 + (uint64_t)k);
      run_double(&c, &d, m);
      char what[96];
      snprintf(what, sizeof what, "conv %s %s", modes[m] ? "deterministic" : "atomic",
               problem_names[kinds[k]]);
      check_fd(&c, &d, what);
      data_free(&d);
      dd_case_free(&c);
    }
}

/* A NULL cotangent is a zero one: same results, element for element. */
static void check_null_equals_zero(const dd_case_t *c, uint64_t seed) {
  const int64_t m[4] = {dd_nx(c), dd_ny(c), dd_nw(c), dd_nz(c)};
  for (int which = 0; which < 3; which++) {
    dd_data_t d = data_new(c, seed), z = data_new(c, seed);
    double *zeros[3] = {z.ddx, z.ddy, z.ddw};
    memset(zeros[which], 0, (size_t)m[which] * sizeof(double));
    const double *dd[3] = {d.ddx, d.ddy, d.ddw};
    dd[which] = NULL;
    poison_outputs(c, &d);
    OK(dd_double(c, d.x, d.y, d.w, d.dz, dd[0], dd[1], dd[2], d.gx, d.gy, d.gw, d.gdz, 0));
    run_double(c, &z, 0);
    const double *a[4] = {d.gx, d.gy, d.gw, d.gdz}, *b[4] = {z.gx, z.gy, z.gw, z.gdz};
    for (int o = 0; o < 4; o++)
      for (int64_t i = 0; i < m[o]; i++)
        cr_assert(a[o][i] == b[o][i], "dd input %d NULL vs zeros: output %d element %lld: %.17g vs %.17g",
                  which, o, (long long)i, a[o][i], b[o][i]);
    data_free(&d);
    data_free(&z);
  }
  /* all three NULL: every gradient is zero (shared gw included) */
  dd_data_t d = data_new(c, seed);
  poison_outputs(c, &d);
  OK(dd_double(c, d.x, d.y, d.w, d.dz, NULL, NULL, NULL, d.gx, d.gy, d.gw, d.gdz, 0));
  const double *a[4] = {d.gx, d.gy, d.gw, d.gdz};
  for (int o = 0; o < 4; o++)
    for (int64_t i = 0; i < m[o]; i++) cr_assert(a[o][i] == 0.0, "all NULL: output %d not zero", o);
  data_free(&d);
}

Test(double_backward, null_cotangents_are_zero) {
  for (int kind = 0; kind < P_COUNT; kind++) {
    dd_case_t c;
    init_case(&c, kind, OEQ_FLOAT64, OEQ_BACKEND_CPU, 0, 0);
    check_null_equals_zero(&c, 300);
    dd_case_free(&c);
    init_case(&c, kind, OEQ_FLOAT64, OEQ_BACKEND_CPU, 1, OEQ_CONV_DETERMINISTIC);
    check_null_equals_zero(&c, 301);
    dd_case_free(&c);
  }
}

/* Float32 on backend b (TP and conv of problem `kind`, data from `seed`)
 * against the CPU's float64 on the same inputs rounded to float32. */
static void check_float32(int kind, oeq_backend_t b, uint64_t seed) {
  const char *where = b == OEQ_BACKEND_CPU ? "CPU" : test_rt_name(b);
  for (int conv = 0; conv < 2; conv++) {
    dd_case_t c64, c32;
    init_case(&c64, kind, OEQ_FLOAT64, OEQ_BACKEND_CPU, conv, 0);
    init_case(&c32, kind, OEQ_FLOAT32, b, conv, 0);
    dd_data_t d = data_new(&c64, seed);
    double *in[7] = {d.x, d.y, d.w, d.dz, d.ddx, d.ddy, d.ddw};
    const int64_t n[7] = {dd_nx(&c64), dd_ny(&c64), dd_nw(&c64), dd_nz(&c64),
                          dd_nx(&c64), dd_ny(&c64), dd_nw(&c64)};
    float *f[7];
    for (int i = 0; i < 7; i++) {
      f[i] = malloc((size_t)n[i] * sizeof(float));
      for (int64_t k = 0; k < n[i]; k++) in[i][k] = (double)(f[i][k] = (float)in[i][k]);
    }
    run_double(&c64, &d, 0);
    const int64_t no[4] = {dd_nx(&c64), dd_ny(&c64), dd_nw(&c64), dd_nz(&c64)};
    const double *ref[4] = {d.gx, d.gy, d.gw, d.gdz};
    float *o[4];
    for (int i = 0; i < 4; i++) {
      o[i] = malloc((size_t)no[i] * sizeof(float));
      test_poison_float(o[i], no[i]);
    }
    OK(dd_double(&c32, f[0], f[1], f[2], f[3], f[4], f[5], f[6], o[0], o[1], o[2], o[3], 0));
    for (int i = 0; i < 4; i++) {
      double *g = dalloc(no[i]);
      for (int64_t k = 0; k < no[i]; k++) g[k] = o[i][k];
      const double err = test_rel_error(g, ref[i], no[i]);
      cr_expect(err <= 1e-5, "%s float32 %s output %d: relative error %g", where,
                conv ? "conv" : "TP", i, err);
      free(g);
      free(o[i]);
    }
    for (int i = 0; i < 7; i++) free(f[i]);
    data_free(&d);
    dd_case_free(&c64);
    dd_case_free(&c32);
  }
}

/* float32 rows and weights: the same as float64 on the rounded inputs. */
Test(double_backward, float32_follows_float64) { check_float32(P_UVU, OEQ_BACKEND_CPU, 400); }

/* The deterministic convolution is bitwise reproducible (also from a
 * caller's workspace vs the library's own). */
Test(double_backward, deterministic_conv_is_reproducible) {
  dd_case_t c;
  init_case(&c, P_UVW_SHARED, OEQ_FLOAT64, OEQ_BACKEND_CPU, 1, OEQ_CONV_DETERMINISTIC);
  dd_data_t a = data_new(&c, 500), b = data_new(&c, 500);
  run_double(&c, &a, 0);
  run_double(&c, &b, 1);
  cr_expect(!memcmp(a.gx, b.gx, (size_t)dd_nx(&c) * 8) && !memcmp(a.gy, b.gy, (size_t)dd_ny(&c) * 8) &&
                !memcmp(a.gw, b.gw, (size_t)dd_nw(&c) * 8) && !memcmp(a.gdz, b.gdz, (size_t)dd_nz(&c) * 8),
            "two runs differ");
  data_free(&a);
  data_free(&b);
  dd_case_free(&c);
}

/* Shared weights with no rows: gw is the empty sum, written as zeros. */
Test(double_backward, empty_batch_zeroes_shared_gw) {
  oeq_problem_t *p = make_problem(P_UVW_SHARED, OEQ_FLOAT64);
  oeq_plan_t *plan;
  OK(oeq_plan_create_tp(p, OEQ_BACKEND_CPU, 0, &plan));
  int64_t numel;
  OK(oeq_problem_weight_numel(p, &numel));
  double w[64], gw[64];
  cr_assert(numel <= 64);
  for (int i = 0; i < numel; i++) w[i] = 1.0, gw[i] = NAN;
  OK(oeq_tp_double_backward(plan, 0, NULL, NULL, w, NULL, NULL, NULL, w, NULL, NULL, gw, NULL, NULL, 0,
                            NULL));
  for (int i = 0; i < numel; i++) cr_expect(gw[i] == 0.0, "gw[%d] = %g", i, gw[i]);
  oeq_plan_destroy(plan);
  oeq_problem_destroy(p);
}

/* -------------------------------------------------------------- errors */

static int untouched(const double *v, int64_t n) {
  for (int64_t i = 0; i < n; i++)
    if (v[i] != 7.0) return 0;
  return 1;
}

static void sentinel(const dd_case_t *c, dd_data_t *d) {
  double *o[4] = {d->gx, d->gy, d->gw, d->gdz};
  const int64_t n[4] = {dd_nx(c), dd_ny(c), dd_nw(c), dd_nz(c)};
  for (int i = 0; i < 4; i++)
    for (int64_t k = 0; k < n[i]; k++) o[i][k] = 7.0;
}

#define EXPECT_FAILS(c, d, call)                                                              \
  do {                                                                                        \
    sentinel(c, d);                                                                           \
    oeq_status_t st_ = (call);                                                                \
    cr_expect_eq(st_, OEQ_ERROR_INVALID_ARGUMENT, "%s: status %d", #call, (int)st_);          \
    cr_expect(oeq_last_error()[0] != '\0', "%s: no message", #call);                          \
    cr_expect(untouched((d)->gx, dd_nx(c)) && untouched((d)->gy, dd_ny(c)) &&                 \
                  untouched((d)->gw, dd_nw(c)) && untouched((d)->gdz, dd_nz(c)),              \
              "%s wrote an output", #call);                                                   \
  } while (0)

Test(double_backward, bad_calls_fail_and_write_nothing) {
  dd_case_t t, cv;
  init_case(&t, P_UVU, OEQ_FLOAT64, OEQ_BACKEND_CPU, 0, 0);
  init_case(&cv, P_UVU, OEQ_FLOAT64, OEQ_BACKEND_CPU, 1, OEQ_CONV_DETERMINISTIC);
  dd_data_t d = data_new(&t, 600), e = data_new(&cv, 601);
  const int64_t b = t.x_rows;
  oeq_plan_t *P = t.plan;
  EXPECT_FAILS(&t, &d, oeq_tp_double_backward(NULL, b, d.x, d.y, d.w, d.dz, d.ddx, d.ddy, d.ddw, d.gx, d.gy, d.gw, d.gdz, NULL, 0, NULL));
  EXPECT_FAILS(&t, &d, oeq_tp_double_backward(cv.plan, b, d.x, d.y, d.w, d.dz, d.ddx, d.ddy, d.ddw, d.gx, d.gy, d.gw, d.gdz, NULL, 0, NULL));
  EXPECT_FAILS(&t, &d, oeq_tp_double_backward(P, -1, d.x, d.y, d.w, d.dz, d.ddx, d.ddy, d.ddw, d.gx, d.gy, d.gw, d.gdz, NULL, 0, NULL));
  EXPECT_FAILS(&t, &d, oeq_tp_double_backward(P, b, NULL, d.y, d.w, d.dz, d.ddx, d.ddy, d.ddw, d.gx, d.gy, d.gw, d.gdz, NULL, 0, NULL));
  EXPECT_FAILS(&t, &d, oeq_tp_double_backward(P, b, d.x, d.y, NULL, d.dz, d.ddx, d.ddy, d.ddw, d.gx, d.gy, d.gw, d.gdz, NULL, 0, NULL));
  EXPECT_FAILS(&t, &d, oeq_tp_double_backward(P, b, d.x, d.y, d.w, NULL, d.ddx, d.ddy, d.ddw, d.gx, d.gy, d.gw, d.gdz, NULL, 0, NULL));
  EXPECT_FAILS(&t, &d, oeq_tp_double_backward(P, b, d.x, d.y, d.w, d.dz, d.ddx, d.ddy, d.ddw, NULL, d.gy, d.gw, d.gdz, NULL, 0, NULL));
  EXPECT_FAILS(&t, &d, oeq_tp_double_backward(P, b, d.x, d.y, d.w, d.dz, d.ddx, d.ddy, d.ddw, d.gx, d.gy, d.gw, NULL, NULL, 0, NULL));
  int stream;
  EXPECT_FAILS(&t, &d, oeq_tp_double_backward(P, b, d.x, d.y, d.w, d.dz, d.ddx, d.ddy, d.ddw, d.gx, d.gy, d.gw, d.gdz, NULL, 0, &stream));
  /* a batch whose arrays' size overflows */
  EXPECT_FAILS(&t, &d, oeq_tp_double_backward(P, INT64_MAX / 2, d.x, d.y, d.w, d.dz, d.ddx, d.ddy, d.ddw, d.gx, d.gy, d.gw, d.gdz, NULL, 0, NULL));
  size_t bytes = 12345;
  cr_expect_eq(oeq_tp_double_backward_workspace_size(P, 4, NULL), OEQ_ERROR_INVALID_ARGUMENT);
  cr_expect_eq(oeq_tp_double_backward_workspace_size(cv.plan, 4, &bytes), OEQ_ERROR_INVALID_ARGUMENT);
  cr_expect_eq(oeq_tp_double_backward_workspace_size(P, -4, &bytes), OEQ_ERROR_INVALID_ARGUMENT);
  cr_expect_eq(oeq_conv_double_backward_workspace_size(P, 1, 1, 1, &bytes), OEQ_ERROR_INVALID_ARGUMENT);
  cr_expect_eq(oeq_conv_double_backward_workspace_size(cv.plan, 1, -1, 1, &bytes), OEQ_ERROR_INVALID_ARGUMENT);
  cr_expect_eq(bytes, 12345, "a failed size query wrote its out-pointer");

  /* convolution */
  const int64_t xr = cv.x_rows, zr = cv.z_rows, ne = cv.edges;
  oeq_plan_t *C = cv.plan;
#define CONV(...) oeq_conv_double_backward(C, __VA_ARGS__)
  EXPECT_FAILS(&cv, &e, oeq_conv_double_backward(P, xr, zr, ne, e.x, e.y, e.w, e.dz, e.ddx, e.ddy, e.ddw, cv.rows, cv.cols, cv.perm, e.gx, e.gy, e.gw, e.gdz, NULL, 0, NULL));
  EXPECT_FAILS(&cv, &e, CONV(xr, zr, -1, e.x, e.y, e.w, e.dz, e.ddx, e.ddy, e.ddw, cv.rows, cv.cols, cv.perm, e.gx, e.gy, e.gw, e.gdz, NULL, 0, NULL));
  EXPECT_FAILS(&cv, &e, CONV(0, zr, ne, e.x, e.y, e.w, e.dz, e.ddx, e.ddy, e.ddw, cv.rows, cv.cols, cv.perm, e.gx, e.gy, e.gw, e.gdz, NULL, 0, NULL));
  EXPECT_FAILS(&cv, &e, CONV(xr, zr, ne, e.x, e.y, e.w, e.dz, e.ddx, e.ddy, e.ddw, NULL, cv.cols, cv.perm, e.gx, e.gy, e.gw, e.gdz, NULL, 0, NULL));
  EXPECT_FAILS(&cv, &e, CONV(xr, zr, ne, e.x, e.y, e.w, e.dz, e.ddx, e.ddy, e.ddw, cv.rows, cv.cols, NULL, e.gx, e.gy, e.gw, e.gdz, NULL, 0, NULL));
  EXPECT_FAILS(&cv, &e, CONV(xr, zr, ne, e.x, e.y, e.w, e.dz, e.ddx, e.ddy, e.ddw, cv.rows, cv.cols, cv.perm, e.gx, NULL, e.gw, e.gdz, NULL, 0, NULL));
  /* a workspace smaller than the size query's */
  size_t need = 0;
  OK(oeq_conv_double_backward_workspace_size(C, xr, zr, ne, &need));
  cr_expect(need > 0);
  char *ws = malloc(need);
  EXPECT_FAILS(&cv, &e, CONV(xr, zr, ne, e.x, e.y, e.w, e.dz, e.ddx, e.ddy, e.ddw, cv.rows, cv.cols, cv.perm, e.gx, e.gy, e.gw, e.gdz, ws, need - 1, NULL));
  /* indices: out of range, rows unsorted, a perm that is not one */
  const int32_t saved_col = cv.cols[3], saved_row = cv.rows[0], saved_perm = cv.perm[1];
  cv.cols[3] = (int32_t)xr;
  EXPECT_FAILS(&cv, &e, CONV(xr, zr, ne, e.x, e.y, e.w, e.dz, e.ddx, e.ddy, e.ddw, cv.rows, cv.cols, cv.perm, e.gx, e.gy, e.gw, e.gdz, NULL, 0, NULL));
  cv.cols[3] = saved_col;
  cv.rows[0] = (int32_t)(zr - 1);
  EXPECT_FAILS(&cv, &e, CONV(xr, zr, ne, e.x, e.y, e.w, e.dz, e.ddx, e.ddy, e.ddw, cv.rows, cv.cols, cv.perm, e.gx, e.gy, e.gw, e.gdz, NULL, 0, NULL));
  cv.rows[0] = saved_row;
  cv.perm[1] = cv.perm[0];
  EXPECT_FAILS(&cv, &e, CONV(xr, zr, ne, e.x, e.y, e.w, e.dz, e.ddx, e.ddy, e.ddw, cv.rows, cv.cols, cv.perm, e.gx, e.gy, e.gw, e.gdz, NULL, 0, NULL));
  cv.perm[1] = saved_perm;
  /* and the restored call succeeds, from the caller's workspace */
  OK(CONV(xr, zr, ne, e.x, e.y, e.w, e.dz, e.ddx, e.ddy, e.ddw, cv.rows, cv.cols, cv.perm, e.gx, e.gy, e.gw, e.gdz, ws, need, NULL));
#undef CONV
  free(ws);
  data_free(&d);
  data_free(&e);
  dd_case_free(&t);
  dd_case_free(&cv);
}

/* ------------------------------------------------------------------ GPU */

#define DD_GPU_TEST(name) RT_TEST(dd_cuda, dd_hip, name)

static void compare(const dd_data_t *a, const dd_data_t *b, const dd_case_t *c, double tol,
                    const char *what) {
  const double *x[4] = {a->gx, a->gy, a->gw, a->gdz}, *y[4] = {b->gx, b->gy, b->gw, b->gdz};
  const int64_t n[4] = {dd_nx(c), dd_ny(c), dd_nw(c), dd_nz(c)};
  const char *names[4] = {"gx", "gy", "gw", "gdz"};
  for (int i = 0; i < 4; i++) {
    const double err = test_rel_error(x[i], y[i], n[i]);
    cr_expect(err <= tol, "%s %s: relative error %g vs the CPU", what, names[i], err);
  }
}

/* The GPU's double backward (every problem kind, TP and both conv modes,
 * with and without a caller's workspace) equals the CPU's in float64. */
DD_GPU_TEST(matches_cpu) {
  RT_REQUIRE(rt, TEST_RT_MEMORY);
  for (int kind = 0; kind < P_COUNT; kind++)
    for (int mode = 0; mode < 3; mode++) {
      const int conv = mode > 0;
      const uint32_t flags = mode == 2 ? OEQ_CONV_DETERMINISTIC : 0;
      dd_case_t cpu, gpu;
      init_case(&cpu, kind, OEQ_FLOAT64, OEQ_BACKEND_CPU, conv, flags);
      init_case(&gpu, kind, OEQ_FLOAT64, rt, conv, flags);
      dd_data_t a = data_new(&cpu, 700 + (uint64_t)kind), b = data_new(&cpu, 700 + (uint64_t)kind);
      run_double(&cpu, &a, 0);
      run_double(&gpu, &b, kind & 1);
      char what[128];
      snprintf(what, sizeof what, "%s %s %s", test_rt_name(rt), problem_names[kind],
               mode == 0 ? "TP" : mode == 1 ? "conv atomic" : "conv deterministic");
      compare(&b, &a, &cpu, 1e-12, what);
      data_free(&a);
      data_free(&b);
      dd_case_free(&cpu);
      dd_case_free(&gpu);
    }
  test_rt_leave(rt);
}

/* NULL cotangents and the deterministic conv's bitwise reproducibility on
 * the device. */
DD_GPU_TEST(null_cotangents_and_reproducible) {
  RT_REQUIRE(rt, TEST_RT_MEMORY);
  dd_case_t c;
  init_case(&c, P_UVW_SHARED, OEQ_FLOAT64, rt, 0, 0);
  check_null_equals_zero(&c, 800);
  dd_case_free(&c);
  init_case(&c, P_UVU, OEQ_FLOAT64, rt, 1, OEQ_CONV_DETERMINISTIC);
  check_null_equals_zero(&c, 801);
  dd_data_t a = data_new(&c, 802), b = data_new(&c, 802);
  run_double(&c, &a, 0);
  run_double(&c, &b, 1);
  cr_expect(!memcmp(a.gx, b.gx, (size_t)dd_nx(&c) * 8) && !memcmp(a.gy, b.gy, (size_t)dd_ny(&c) * 8) &&
                !memcmp(a.gw, b.gw, (size_t)dd_nw(&c) * 8) && !memcmp(a.gdz, b.gdz, (size_t)dd_nz(&c) * 8),
            "%s deterministic conv: two runs differ", test_rt_name(rt));
  data_free(&a);
  data_free(&b);
  dd_case_free(&c);
  test_rt_leave(rt);
}

/* float32 on the device against the CPU's float64 on the rounded inputs. */
DD_GPU_TEST(float32_matches_cpu) {
  RT_REQUIRE(rt, TEST_RT_MEMORY);
  check_float32(P_UVW_SHARED, rt, 900);
  test_rt_leave(rt);
}
