/* test_cpu_tp.c: the CPU backend's tensor product (forward and backward)
 * against an independent reference (tests/support.h, dense CG loops), the
 * hand-checkable vector of conventions.md A3, central finite differences,
 * rotation equivariance with Wigner D matrices built here, float32 vs
 * float64, layouts, shared weights, mixed dtypes and batch 0. */
#define OEQ_TEST_REFERENCE
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg.h"
#include "oeq.h"
#include "problem.h"
#include "support.h"

TestSuite(cpu_tp);

/* ------------------------------------------------------------- helpers */

typedef struct {
  oeq_problem_t *p;
  oeq_plan_t *plan;
  int64_t nx, ny, nz, nw; /* row widths */
} tp_t;

static void *xmalloc(size_t n) {
  void *v = malloc(n ? n : 1);
  cr_assert_not_null(v, "out of memory");
  return v;
}

static double *dalloc(int64_t n) { return xmalloc((size_t)n * sizeof(double)); }

static tp_t tp_plan(oeq_problem_t *p) {
  tp_t t = {.p = p};
  cr_assert_eq(oeq_problem_dims(p, &t.nx, &t.ny, &t.nz), OEQ_SUCCESS);
  cr_assert_eq(oeq_problem_weight_numel(p, &t.nw), OEQ_SUCCESS);
  cr_assert_eq(t.nw, test_ref_weight_numel(p), "weight_numel %lld, reference %lld", (long long)t.nw,
               (long long)test_ref_weight_numel(p));
  cr_assert_eq(oeq_plan_create_tp(p, OEQ_BACKEND_CPU, 0, &t.plan), OEQ_SUCCESS, "plan: %s",
               oeq_last_error());
  return t;
}

static void tp_free(tp_t *t) {
  oeq_plan_destroy(t->plan);
  oeq_problem_destroy(t->p);
}

static oeq_problem_t *problem(const char *a, const char *b, const char *c) {
  oeq_problem_t *p = NULL;
  cr_assert_eq(oeq_problem_create(a, b, c, &p), OEQ_SUCCESS, "%s", oeq_last_error());
  return p;
}

static void set_f64(oeq_problem_t *p, int shared) {
  cr_assert_eq(oeq_problem_set_dtypes(p, OEQ_FLOAT64, OEQ_FLOAT64), OEQ_SUCCESS);
  cr_assert_eq(oeq_problem_set_shared_weights(p, shared), OEQ_SUCCESS);
}

/* Does this (i1, i2, io) satisfy the selection rules and the mode's
 * multiplicity rule (checked here from conventions.md A3's table)? */
static int mode_fits(const oeq_problem_t *p, int i1, int i2, int io, oeq_mode_t m, int weighted) {
  const oeq_irrep_term_t *a = &p->in1.terms[i1], *b = &p->in2.terms[i2], *c = &p->out.terms[io];
  int lo = abs(a->l - b->l);
  if (a->parity * b->parity != c->parity || c->l < lo || c->l > a->l + b->l) return 0;
  switch (m) {
    case OEQ_MODE_UVW: return weighted;
    case OEQ_MODE_UVU: return a->mul == c->mul;
    case OEQ_MODE_UVV: return b->mul == c->mul;
    case OEQ_MODE_UUW: return a->mul == b->mul && (weighted || c->mul == 1);
    case OEQ_MODE_UUU: return a->mul == b->mul && a->mul == c->mul;
    case OEQ_MODE_UVUV: return a->mul * b->mul == c->mul;
  }
  return 0;
}

/* Adds every fitting instruction of mode m; weight pattern: 0 = all
 * unweighted (where allowed), 1 = all weighted, 2 = alternating. Path
 * weights vary. Returns how many were added. */
static int add_all(oeq_problem_t *p, oeq_mode_t m, int pattern) {
  int n = 0;
  for (int i1 = 0; i1 < p->in1.len; i1++)
    for (int i2 = 0; i2 < p->in2.len; i2++)
      for (int io = 0; io < p->out.len; io++) {
        int weighted = pattern == 1 || (pattern == 2 && n % 2 == 0) || m == OEQ_MODE_UVW;
        if (!mode_fits(p, i1, i2, io, m, weighted)) {
          if (m == OEQ_MODE_UUW && !weighted && mode_fits(p, i1, i2, io, m, 1))
            weighted = 1; /* uuw without weight needs mul_out 1 */
          else
            continue;
        }
        double pw = 0.5 + 0.25 * (n % 5);
        cr_assert_eq(oeq_problem_add_instruction(p, i1, i2, io, m, weighted, pw), OEQ_SUCCESS,
                     "add (%d,%d,%d) mode %d: %s", i1, i2, io, m, oeq_last_error());
        n++;
      }
  return n;
}

/* Reference over a batch; dw accumulated in one row if shared. */
static void ref_forward(const oeq_problem_t *p, int64_t batch, const double *x, const double *y,
                        const double *w, double *z, int64_t nx, int64_t ny, int64_t nz, int64_t nw) {
  for (int64_t b = 0; b < batch; b++)
    cr_assert_eq(test_ref_row(p, x + b * nx, y + b * ny, w + (p->shared_weights ? 0 : b * nw),
                              z + b * nz, NULL, NULL, NULL, NULL),
                 0, "reference failed");
}

static void ref_backward(const oeq_problem_t *p, int64_t batch, const double *x, const double *y,
                         const double *w, const double *dz, double *dx, double *dy, double *dw,
                         int64_t nx, int64_t ny, int64_t nz, int64_t nw) {
  int64_t dw_n = (p->shared_weights ? 1 : batch) * nw;
  for (int64_t i = 0; i < dw_n; i++) dw[i] = 0.0;
  for (int64_t b = 0; b < batch; b++) {
    int64_t wo = p->shared_weights ? 0 : b * nw;
    cr_assert_eq(test_ref_row(p, x + b * nx, y + b * ny, w + wo, NULL, dz + b * nz, dx + b * nx,
                              dy + b * ny, dw + wo),
                 0, "reference failed");
  }
}

static void expect_close(const char *what, const double *got, const double *want, int64_t n,
                         double tol) {
  double e = test_rel_error(got, want, n);
  cr_expect(e <= tol, "%s: relative error %.3g > %.3g (n = %lld)", what, e, tol, (long long)n);
}

/* Runs forward + backward of a float64 problem on random data and compares
 * with the reference. Outputs are poisoned with NaN first. */
static void check_against_reference(oeq_problem_t *p, int64_t batch, uint64_t seed, const char *label) {
  tp_t t = tp_plan(p);
  test_rng_t rng = {seed};
  int64_t wrows = p->shared_weights ? 1 : batch;
  double *x = dalloc(batch * t.nx), *y = dalloc(batch * t.ny), *w = dalloc(wrows * t.nw);
  double *z = dalloc(batch * t.nz), *zr = dalloc(batch * t.nz), *dz = dalloc(batch * t.nz);
  double *dx = dalloc(batch * t.nx), *dy = dalloc(batch * t.ny), *dw = dalloc(wrows * t.nw);
  double *dxr = dalloc(batch * t.nx), *dyr = dalloc(batch * t.ny), *dwr = dalloc(wrows * t.nw);
  test_fill_double(&rng, x, batch * t.nx);
  test_fill_double(&rng, y, batch * t.ny);
  test_fill_double(&rng, w, wrows * t.nw);
  test_fill_double(&rng, dz, batch * t.nz);
  test_poison_double(z, batch * t.nz);
  test_poison_double(dx, batch * t.nx);
  test_poison_double(dy, batch * t.ny);
  test_poison_double(dw, wrows * t.nw);
  cr_assert_eq(oeq_tp_forward(t.plan, batch, x, y, w, z, NULL), OEQ_SUCCESS, "%s: forward: %s",
               label, oeq_last_error());
  cr_assert_eq(oeq_tp_backward(t.plan, batch, x, y, w, dz, dx, dy, dw, NULL), OEQ_SUCCESS,
               "%s: backward: %s", label, oeq_last_error());
  ref_forward(p, batch, x, y, w, zr, t.nx, t.ny, t.nz, t.nw);
  ref_backward(p, batch, x, y, w, dz, dxr, dyr, dwr, t.nx, t.ny, t.nz, t.nw);
  char what[256];
  snprintf(what, sizeof what, "%s: z", label);
  expect_close(what, z, zr, batch * t.nz, 1e-12);
  snprintf(what, sizeof what, "%s: dx", label);
  expect_close(what, dx, dxr, batch * t.nx, 1e-12);
  snprintf(what, sizeof what, "%s: dy", label);
  expect_close(what, dy, dyr, batch * t.ny, 1e-12);
  snprintf(what, sizeof what, "%s: dw", label);
  expect_close(what, dw, dwr, wrows * t.nw, 1e-12);
  /* A non-trivial test: the outputs are not all zero. */
  double norm = 0;
  for (int64_t i = 0; i < batch * t.nz; i++) norm += zr[i] * zr[i];
  cr_expect(t.nz == 0 || norm > 0, "%s: reference output is all zeros", label);
  free(x), free(y), free(w), free(z), free(zr), free(dz), free(dx), free(dy), free(dw);
  free(dxr), free(dyr), free(dwr);
  oeq_plan_destroy(t.plan);
}

/* ----------------------------------------------- conventions.md A3 vector */

Test(cpu_tp, hand_vector_uuu_1o_1o) {
  for (int dt = 0; dt < 2; dt++) {
    oeq_problem_t *p = problem("1x1o", "1x1o", "1x0e+1x1e+1x2e");
    for (int k = 0; k < 3; k++)
      cr_assert_eq(oeq_problem_add_instruction(p, 0, 0, k, OEQ_MODE_UUU, 0, 1.0), OEQ_SUCCESS);
    if (dt) set_f64(p, 1);
    tp_t t = tp_plan(p);
    const double want[9] = {18.475208614068023, -2.121320343559643, 4.242640687119285,
                            -2.121320343559642, 12.727922061357855, 9.192388155425117,
                            -0.816496580927725, 19.091883092036781, 9.899494936611664};
    /* Independent checks of the listed values: 32/sqrt(3) and cross/sqrt(2). */
    cr_expect(fabs(want[0] - 32 / sqrt(3.0)) < 1e-13, "0e part");
    const double cross[3] = {2 * 6 - 3 * 5, 3 * 4 - 1 * 6, 1 * 5 - 2 * 4};
    for (int i = 0; i < 3; i++) cr_expect(fabs(want[1 + i] - cross[i] / sqrt(2.0)) < 1e-13, "1e part");
    double z[9];
    if (dt) {
      const double x[3] = {1, 2, 3}, y[3] = {4, 5, 6};
      test_poison_double(z, 9);
      cr_assert_eq(oeq_tp_forward(t.plan, 1, x, y, NULL, z, NULL), OEQ_SUCCESS, "%s", oeq_last_error());
      for (int i = 0; i < 9; i++)
        cr_expect(fabs(z[i] - want[i]) <= 1e-14 * fabs(want[i]) + 1e-15, "f64 z[%d] = %.17g, want %.17g",
                  i, z[i], want[i]);
    } else {
      const float x[3] = {1, 2, 3}, y[3] = {4, 5, 6};
      float zf[9];
      test_poison_float(zf, 9);
      cr_assert_eq(oeq_tp_forward(t.plan, 1, x, y, NULL, zf, NULL), OEQ_SUCCESS, "%s", oeq_last_error());
      for (int i = 0; i < 9; i++)
        cr_expect(fabs(zf[i] - want[i]) <= 2e-6 * fabs(want[i]), "f32 z[%d] = %.9g, want %.9g", i,
                  (double)zf[i], want[i]);
    }
    tp_free(&t);
  }
}

/* ------------------------------------------------- every mode vs reference */

typedef struct {
  const char *in1, *in2, *out;
} irreps3_t;

static void check_mode(oeq_mode_t m, irreps3_t ir, int min_paths) {
  for (int pattern = 0; pattern < 3; pattern++) {
    if (m == OEQ_MODE_UVW && pattern != 1) continue;
    for (int shared = 0; shared < 2; shared++) {
      oeq_problem_t *p = problem(ir.in1, ir.in2, ir.out);
      int n = add_all(p, m, pattern);
      cr_assert(n >= min_paths, "mode %d: only %d instructions fit %s x %s -> %s", m, n, ir.in1,
                ir.in2, ir.out);
      set_f64(p, shared);
      char label[256];
      snprintf(label, sizeof label, "mode %s pattern %d shared %d", oeq_mode_name(m), pattern, shared);
      check_against_reference(p, 7, 1000 + 17 * (uint64_t)m + 3 * (uint64_t)pattern + (uint64_t)shared,
                              label);
      oeq_problem_destroy(p);
    }
  }
}

Test(cpu_tp, mode_uvw) {
  check_mode(OEQ_MODE_UVW, (irreps3_t){"3x0e+2x1o+1x2e+1x3o", "2x0e+1x1o+2x2e", "2x0e+1x1o+3x1e+2x2e+1x2o+1x3o"}, 10);
}
Test(cpu_tp, mode_uvu) {
  check_mode(OEQ_MODE_UVU, (irreps3_t){"3x0e+2x1o+3x2e", "0e+2x1o+1x2e", "3x0e+2x1o+3x1e+2x2e+3x2o+3x3e+2x0e"}, 8);
}
Test(cpu_tp, mode_uvv) {
  check_mode(OEQ_MODE_UVV, (irreps3_t){"2x0e+3x1o+1x2e", "2x0e+1x1o+2x2e", "2x0e+1x1o+2x1e+2x2e+1x2o+2x3o+1x0e"}, 8);
}
Test(cpu_tp, mode_uuw) {
  check_mode(OEQ_MODE_UUW, (irreps3_t){"2x0e+3x1o+2x2e", "2x0e+3x1o+2x1e", "4x0e+1x1o+2x1e+1x2e+3x2o+1x0e+1x2o"}, 8);
}
Test(cpu_tp, mode_uuu) {
  check_mode(OEQ_MODE_UUU, (irreps3_t){"3x0e+2x1o+2x2e", "3x0e+2x1o+2x2e+2x1e", "3x0e+2x1o+2x1e+2x2e+3x1o+2x0e+2x3o"}, 8);
}
Test(cpu_tp, mode_uvuv) {
  check_mode(OEQ_MODE_UVUV, (irreps3_t){"2x0e+3x1o", "2x0e+1x1o+2x2e", "4x0e+3x1o+6x1o+6x2e+3x2e+6x0e+6x1e+2x2e+2x1o+4x2e+3x0e+3x1e+6x3o"}, 8);
}

/* All six modes into shared output blocks, weighted and not, with mul-0
 * entries, an output block no instruction writes (must come out zero), path
 * weights and every normalization combination and non-unit variances. */
static oeq_problem_t *mixed_problem(oeq_irrep_norm_t in, oeq_path_norm_t pn, int shared) {
  oeq_problem_t *p = problem("2x0e+2x1o+0x2e+2x2e", "2x1o+1x0e+2x2e", "2x1e+4x1o+2x0e+1x3o+0x1o+2x2e+2x2o");
  struct { int a, b, c; oeq_mode_t m; int w; double pw; } ins[] = {
      /* five modes into out 0 (2x1e) from 1o x 1o */
      {1, 0, 0, OEQ_MODE_UVW, 1, 1.0},  {1, 0, 0, OEQ_MODE_UVU, 0, 2.0},  {1, 0, 0, OEQ_MODE_UUU, 1, 1.0},
      {1, 0, 0, OEQ_MODE_UVV, 0, 0.5},  {1, 0, 0, OEQ_MODE_UUW, 1, 1.0},
      /* out 1 (4x1o): uvuv weighted and not, uvw, and a mul-0 input */
      {0, 0, 1, OEQ_MODE_UVUV, 1, 3.0}, {0, 0, 1, OEQ_MODE_UVUV, 0, 1.0}, {3, 0, 1, OEQ_MODE_UVW, 1, 1.0},
      {2, 0, 1, OEQ_MODE_UVW, 1, 1.0},
      /* out 2 (2x0e) */
      {1, 0, 2, OEQ_MODE_UVV, 1, 1.0},  {1, 0, 2, OEQ_MODE_UUW, 1, 1.0},  {0, 1, 2, OEQ_MODE_UVW, 1, 1.0},
      /* out 3 (1x3o): uuw without weight */
      {3, 0, 3, OEQ_MODE_UUW, 0, 1.0},
      /* out 4 (0x1o): a path with no elements */
      {0, 0, 4, OEQ_MODE_UVW, 1, 1.0},
      /* out 5 (2x2e), including path weight 0 */
      {3, 2, 5, OEQ_MODE_UUU, 0, 1.0},  {3, 2, 5, OEQ_MODE_UVU, 1, 1.0},  {0, 2, 5, OEQ_MODE_UVW, 1, 0.0},
      {1, 0, 5, OEQ_MODE_UVW, 1, 1.0},
      /* out 6 (2x2o) is written by nobody */
  };
  for (size_t k = 0; k < sizeof ins / sizeof *ins; k++)
    cr_assert_eq(oeq_problem_add_instruction(p, ins[k].a, ins[k].b, ins[k].c, ins[k].m, ins[k].w, ins[k].pw),
                 OEQ_SUCCESS, "mixed instruction %zu: %s", k, oeq_last_error());
  const double v1[] = {1.5, 0.5, 2.0, 1.0}, v2[] = {0.7, 1.3, 2.0},
               vo[] = {1.0, 2.0, 0.5, 1.0, 1.0, 3.0, 1.0};
  cr_assert_eq(oeq_problem_set_variances(p, v1, v2, vo), OEQ_SUCCESS);
  cr_assert_eq(oeq_problem_set_normalization(p, in, pn), OEQ_SUCCESS);
  set_f64(p, shared);
  return p;
}

Test(cpu_tp, mixed_modes_all_normalizations) {
  for (int in = 0; in < 3; in++)
    for (int pn = 0; pn < 3; pn++)
      for (int shared = 0; shared < 2; shared++) {
        oeq_problem_t *p = mixed_problem((oeq_irrep_norm_t)in, (oeq_path_norm_t)pn, shared);
        for (int k = 0; k < p->n_instructions; k++)
          cr_expect(fabs(oeq_problem_coefficient(p, k) - test_ref_coefficient(p, k)) <=
                        1e-15 * test_ref_coefficient(p, k),
                    "coefficient %d differs (norms %d/%d)", k, in, pn);
        char label[256];
        snprintf(label, sizeof label, "mixed irrep_norm %d path_norm %d shared %d", in, pn, shared);
        check_against_reference(p, 5, 77 + (uint64_t)(in * 6 + pn * 2 + shared), label);
        oeq_problem_destroy(p);
      }
}

Test(cpu_tp, unwritten_output_blocks_are_zero) {
  oeq_problem_t *p = mixed_problem(OEQ_IRREP_NORM_COMPONENT, OEQ_PATH_NORM_ELEMENT, 1);
  tp_t t = tp_plan(p);
  test_rng_t rng = {5};
  int64_t b = 3;
  double *x = dalloc(b * t.nx), *y = dalloc(b * t.ny), *w = dalloc(t.nw), *z = dalloc(b * t.nz);
  test_fill_double(&rng, x, b * t.nx);
  test_fill_double(&rng, y, b * t.ny);
  test_fill_double(&rng, w, t.nw);
  test_poison_double(z, b * t.nz);
  cr_assert_eq(oeq_tp_forward(t.plan, b, x, y, w, z, NULL), OEQ_SUCCESS);
  /* out = 2x1e(0..5) 4x1o(6..17) 2x0e(18,19) 1x3o(20..26) 0x1o 2x2e(27..36) 2x2o(37..46) */
  for (int64_t r = 0; r < b; r++) {
    for (int i = 37; i < 47; i++) cr_expect_eq(z[r * t.nz + i], 0.0, "row %lld 2o[%d] not zero", (long long)r, i - 37);
  }
  cr_assert_eq(t.nz, 47);
  free(x), free(y), free(w), free(z);
  tp_free(&t);
}

/* l up to 6 and multiplicities above 32. */
Test(cpu_tp, large_l_and_multiplicity) {
  oeq_problem_t *p = NULL;
  cr_assert_eq(oeq_problem_create_channelwise("40x0e+33x1o+2x5o+2x6e", "0e+1o+2e+3o+6e",
                                              "0e+1o+2e+3o+4e+5o+6e", &p),
               OEQ_SUCCESS, "%s", oeq_last_error());
  set_f64(p, 0);
  cr_assert(p->n_instructions > 20, "%d paths", p->n_instructions);
  check_against_reference(p, 3, 4242, "channelwise l<=6 mul 40");
  oeq_problem_destroy(p);

  p = problem("36x1o+3x4e", "2x1o+1x2e", "34x1e+33x0e+2x6e+35x2e");
  cr_assert(add_all(p, OEQ_MODE_UVW, 1) >= 4);
  set_f64(p, 1);
  check_against_reference(p, 3, 4243, "uvw mul 36");
  oeq_problem_destroy(p);

  p = problem("48x6e+3x5o", "48x4o+3x6e", "48x2o+48x5o+48x10o+3x11o+3x1o");
  cr_assert(add_all(p, OEQ_MODE_UUU, 2) >= 4);
  set_f64(p, 0);
  check_against_reference(p, 2, 4244, "uuu mul 48 l 6");
  oeq_problem_destroy(p);
}

Test(cpu_tp, many_rows_threads) {
  /* Enough rows for every OpenMP thread to take several. */
  oeq_problem_t *p = NULL;
  cr_assert_eq(oeq_problem_create_fully_connected("3x0e+2x1o+1x2e", "1x0e+1x1o", "2x0e+2x1o+1x1e+1x2e", &p),
               OEQ_SUCCESS);
  set_f64(p, 1);
  check_against_reference(p, 203, 99, "fctp 203 rows shared");
  cr_assert_eq(oeq_problem_set_shared_weights(p, 0), OEQ_SUCCESS);
  check_against_reference(p, 203, 98, "fctp 203 rows per-row");
  oeq_problem_destroy(p);
}

/* --------------------------------------------------- finite differences */

static double dot(const double *a, const double *b, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
  return s;
}

/* f = <dz, TP(x, y, w)> summed over the batch. */
static double objective(const tp_t *t, int64_t batch, const double *x, const double *y,
                        const double *w, const double *dz, double *z) {
  cr_assert_eq(oeq_tp_forward(t->plan, batch, x, y, w, z, NULL), OEQ_SUCCESS);
  return dot(dz, z, batch * t->nz);
}

static void check_fd(oeq_problem_t *p, uint64_t seed, const char *label) {
  tp_t t = tp_plan(p);
  int64_t batch = 3, wrows = p->shared_weights ? 1 : batch;
  int64_t n[3] = {batch * t.nx, batch * t.ny, wrows * t.nw};
  test_rng_t rng = {seed};
  double *v[3], *g[3], *dir[3], *pert[3];
  for (int i = 0; i < 3; i++) {
    v[i] = dalloc(n[i]), g[i] = dalloc(n[i]), dir[i] = dalloc(n[i]), pert[i] = dalloc(n[i]);
    test_fill_double(&rng, v[i], n[i]);
    test_fill_double(&rng, dir[i], n[i]);
    test_poison_double(g[i], n[i]);
  }
  double *dz = dalloc(batch * t.nz), *z = dalloc(batch * t.nz);
  test_fill_double(&rng, dz, batch * t.nz);
  cr_assert_eq(oeq_tp_backward(t.plan, batch, v[0], v[1], v[2], dz, g[0], g[1], g[2], NULL), OEQ_SUCCESS,
               "%s", oeq_last_error());
  const char *names[3] = {"dx", "dy", "dw"};
  const double h = 1e-3;
  for (int i = 0; i < 3; i++) {
    if (n[i] == 0) continue;
    double fd[2];
    for (int sgn = 0; sgn < 2; sgn++) {
      for (int64_t k = 0; k < n[i]; k++) pert[i][k] = v[i][k] + (sgn ? -h : h) * dir[i][k];
      const double *in[3] = {v[0], v[1], v[2]};
      in[i] = pert[i];
      fd[sgn] = objective(&t, batch, in[0], in[1], in[2], dz, z);
    }
    double numeric = (fd[0] - fd[1]) / (2 * h), analytic = dot(g[i], dir[i], n[i]);
    double scale = fabs(analytic) > 1e-3 ? fabs(analytic) : 1e-3;
    cr_expect(fabs(numeric - analytic) / scale < 1e-7, "%s %s: <grad, d> = %.15g, central FD = %.15g",
              label, names[i], analytic, numeric);
    cr_expect(fabs(analytic) > 1e-6, "%s %s: directional derivative is ~0, test too weak", label, names[i]);
  }
  for (int i = 0; i < 3; i++) free(v[i]), free(g[i]), free(dir[i]), free(pert[i]);
  free(dz), free(z);
  oeq_plan_destroy(t.plan);
}

Test(cpu_tp, gradients_vs_finite_differences) {
  const irreps3_t ir[6] = {
      {"2x0e+2x1o+1x2e", "2x0e+1x1o+1x2e", "2x0e+1x1o+2x1e+2x2e"},
      {"3x0e+2x1o", "0e+2x1o+1x2e", "3x0e+2x1o+3x1e+2x2e+3x2o"},
      {"2x0e+3x1o", "2x0e+1x1o", "2x0e+1x1o+2x1e+1x2e"},
      {"2x0e+3x1o+2x2e", "2x0e+3x1o", "4x0e+1x1o+2x1e+1x2e+1x0e"},
      {"3x0e+2x1o+2x2e", "3x0e+2x1o+2x2e", "3x0e+2x1o+2x1e+2x2e+3x1o"},
      {"2x0e+3x1o", "2x0e+1x1o+2x2e", "4x0e+3x1o+6x1o+6x2e"}};
  for (int m = 0; m < 6; m++)
    for (int shared = 0; shared < 2; shared++) {
      oeq_problem_t *p = problem(ir[m].in1, ir[m].in2, ir[m].out);
      cr_assert(add_all(p, (oeq_mode_t)m, 2) >= 2, "mode %d has too few paths", m);
      set_f64(p, shared);
      char label[256];
      snprintf(label, sizeof label, "mode %s shared %d", oeq_mode_name((oeq_mode_t)m), shared);
      check_fd(p, 300 + (uint64_t)(2 * m + shared), label);
      oeq_problem_destroy(p);
    }
  oeq_problem_t *p = mixed_problem(OEQ_IRREP_NORM_NORM, OEQ_PATH_NORM_PATH, 0);
  check_fd(p, 400, "mixed");
  oeq_problem_destroy(p);
}

/* ---------------------------------------------------------- equivariance */

#define LMAX_D 6

typedef struct {
  double *d[LMAX_D + 1]; /* (2l+1)^2, row-major */
} wigner_t;

static void matmul(const double *a, const double *b, double *c, int n) {
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++) {
      double s = 0;
      for (int k = 0; k < n; k++) s += a[i * n + k] * b[k * n + j];
      c[i * n + j] = s;
    }
}

/* D^0 = 1, D^1 = R in e3nn's (x, y, z) basis, and
 * D^l = P^T (D^1 (x) D^{l-1}) P with P = sqrt(2l+1) C(1, l-1, l), whose
 * columns are orthonormal. */
static wigner_t wigner_from_rotation(const double R[9]) {
  wigner_t W;
  W.d[0] = dalloc(1);
  W.d[0][0] = 1.0;
  W.d[1] = dalloc(9);
  memcpy(W.d[1], R, 9 * sizeof(double));
  for (int l = 2; l <= LMAX_D; l++) {
    const oeq_cg_t *cg;
    oeq_error_t err;
    cr_assert_eq(oeq_cg_get(1, l - 1, l, &cg, &err), OEQ_SUCCESS);
    int da = 3, db = 2 * l - 1, d = 2 * l + 1;
    double s = sqrt((double)d);
    W.d[l] = dalloc(d * d);
    for (int c = 0; c < d; c++)
      for (int c2 = 0; c2 < d; c2++) {
        double acc = 0;
        for (int a = 0; a < da; a++)
          for (int b = 0; b < db; b++) {
            double pc = s * cg->dense[(a * db + b) * d + c];
            if (pc == 0) continue;
            for (int a2 = 0; a2 < da; a2++)
              for (int b2 = 0; b2 < db; b2++)
                acc += pc * R[a * 3 + a2] * W.d[l - 1][b * db + b2] * s * cg->dense[(a2 * db + b2) * d + c2];
          }
        W.d[l][c * d + c2] = acc;
      }
  }
  return W;
}

static void wigner_free(wigner_t *W) {
  for (int l = 0; l <= LMAX_D; l++) free(W->d[l]);
}

static void random_rotation(test_rng_t *rng, double R[9]) {
  double q[4], n = 0;
  for (int i = 0; i < 4; i++) q[i] = test_rng_uniform(rng), n += q[i] * q[i];
  n = sqrt(n);
  double a = q[0] / n, b = q[1] / n, c = q[2] / n, d = q[3] / n;
  const double M[9] = {a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c),
                       2 * (b * c + a * d), a * a - b * b + c * c - d * d, 2 * (c * d - a * b),
                       2 * (b * d - a * c), 2 * (c * d + a * b), a * a - b * b - c * c + d * d};
  memcpy(R, M, sizeof M);
}

Test(cpu_tp, wigner_d_is_orthogonal_representation) {
  test_rng_t rng = {2024};
  double R1[9], R2[9], R12[9];
  random_rotation(&rng, R1);
  random_rotation(&rng, R2);
  matmul(R1, R2, R12, 3);
  wigner_t A = wigner_from_rotation(R1), B = wigner_from_rotation(R2), AB = wigner_from_rotation(R12);
  for (int l = 0; l <= LMAX_D; l++) {
    int d = 2 * l + 1;
    double *prod = dalloc(d * d);
    /* D D^T = I */
    double worst = 0;
    for (int i = 0; i < d; i++)
      for (int j = 0; j < d; j++) {
        double s = 0;
        for (int k = 0; k < d; k++) s += A.d[l][i * d + k] * A.d[l][j * d + k];
        worst = fmax(worst, fabs(s - (i == j)));
      }
    cr_expect(worst < 1e-12, "D^%d is not orthogonal (%.3g)", l, worst);
    /* D(R1 R2) = D(R1) D(R2) */
    matmul(A.d[l], B.d[l], prod, d);
    double e = test_max_abs_error(prod, AB.d[l], d * d);
    cr_expect(e < 1e-12, "D^%d(R1 R2) != D^%d(R1) D^%d(R2): %.3g", l, l, l, e);
    /* not the identity: a real check */
    double off = 0;
    for (int i = 0; i < d * d; i++) off += fabs(A.d[l][i] - (i % (d + 1) == 0));
    cr_expect(l == 0 || off > 1e-3, "D^%d is the identity", l);
    free(prod);
  }
  wigner_free(&A), wigner_free(&B), wigner_free(&AB);
}

/* Applies D (per block) and parity^inv to every row of an irreps feature. */
static void rotate_rows(const oeq_irreps_t *ir, const wigner_t *W, int invert, int64_t batch,
                        const double *in, double *out) {
  int64_t dim = test_ref_dim(ir);
  for (int64_t r = 0; r < batch; r++) {
    int64_t off = r * dim;
    for (int i = 0; i < ir->len; i++) {
      int l = ir->terms[i].l, d = 2 * l + 1;
      double sign = invert && ir->terms[i].parity < 0 ? -1.0 : 1.0;
      for (int64_t u = 0; u < ir->terms[i].mul; u++, off += d)
        for (int a = 0; a < d; a++) {
          double s = 0;
          for (int b = 0; b < d; b++) s += W->d[l][a * d + b] * in[off + b];
          out[off + a] = sign * s;
        }
    }
  }
}

Test(cpu_tp, equivariance) {
  test_rng_t rng = {777};
  oeq_problem_t *probs[3];
  cr_assert_eq(oeq_problem_create_fully_connected("2x0e+2x1o+1x2e+1x3o", "1x0e+1x1o+1x2e+1x3o",
                                                  "2x0e+2x1o+2x1e+2x2e+1x2o+2x3o+1x3e+1x4e+1x6e", &probs[0]),
               OEQ_SUCCESS);
  cr_assert_eq(oeq_problem_create_channelwise("3x0e+3x1o+3x2e+3x3o", "0e+1o+2e+3o", "0e+1o+2e+3o+4e+5o+6e",
                                              &probs[1]),
               OEQ_SUCCESS);
  probs[2] = mixed_problem(OEQ_IRREP_NORM_COMPONENT, OEQ_PATH_NORM_ELEMENT, 0);
  for (int k = 0; k < 3; k++) {
    oeq_problem_t *p = probs[k];
    set_f64(p, k == 0);
    tp_t t = tp_plan(p);
    int64_t batch = 4, wrows = p->shared_weights ? 1 : batch;
    double *x = dalloc(batch * t.nx), *y = dalloc(batch * t.ny), *w = dalloc(wrows * t.nw);
    double *rx = dalloc(batch * t.nx), *ry = dalloc(batch * t.ny);
    double *z = dalloc(batch * t.nz), *rz = dalloc(batch * t.nz), *zr = dalloc(batch * t.nz);
    test_fill_double(&rng, x, batch * t.nx);
    test_fill_double(&rng, y, batch * t.ny);
    test_fill_double(&rng, w, wrows * t.nw);
    for (int trial = 0; trial < 3; trial++) {
      double R[9];
      random_rotation(&rng, R);
      int invert = trial == 2;
      wigner_t W = wigner_from_rotation(R);
      test_poison_double(z, batch * t.nz);
      test_poison_double(zr, batch * t.nz);
      cr_assert_eq(oeq_tp_forward(t.plan, batch, x, y, w, z, NULL), OEQ_SUCCESS);
      rotate_rows(&p->in1, &W, invert, batch, x, rx);
      rotate_rows(&p->in2, &W, invert, batch, y, ry);
      cr_assert_eq(oeq_tp_forward(t.plan, batch, rx, ry, w, zr, NULL), OEQ_SUCCESS);
      rotate_rows(&p->out, &W, invert, batch, z, rz);
      double e = test_rel_error(zr, rz, batch * t.nz);
      cr_expect(e < 1e-12, "problem %d trial %d: TP(Dx, Dy) != D TP(x, y): rel %.3g", k, trial, e);
      double moved = test_rel_error(z, rz, batch * t.nz);
      cr_expect(moved > 1e-3, "problem %d: the rotation did not change the output (%.3g)", k, moved);
      wigner_free(&W);
    }
    free(x), free(y), free(w), free(rx), free(ry), free(z), free(rz), free(zr);
    tp_free(&t);
  }
}

/* ----------------------------------------------------- dtypes and layout */

static void *to_float(const double *v, int64_t n) {
  float *f = xmalloc((size_t)n * sizeof(float));
  for (int64_t i = 0; i < n; i++) f[i] = (float)v[i];
  return f;
}

static void round_to_float(double *v, int64_t n) {
  for (int64_t i = 0; i < n; i++) v[i] = (double)(float)v[i];
}

static double rel_err_f(const float *a, const double *b, int64_t n) {
  double *t = dalloc(n);
  for (int64_t i = 0; i < n; i++) t[i] = a[i];
  double e = test_rel_error(t, b, n);
  free(t);
  return e;
}

/* Runs p (its dtypes already set) on data given as doubles (rounded to float
 * where a dtype is float32) and compares all outputs with the float64
 * reference on the same (rounded) values. */
static void check_dtypes(oeq_problem_t *p, oeq_dtype_t it, oeq_dtype_t wt, const char *label) {
  /* Float32 outputs carry their rounding; float64 outputs computed from
   * float32-representable inputs must keep float64 accuracy. */
  double ti = it == OEQ_FLOAT32 ? 1e-6 : 1e-12, tw = wt == OEQ_FLOAT32 ? 1e-6 : 1e-12;
  cr_assert_eq(oeq_problem_set_dtypes(p, it, wt), OEQ_SUCCESS);
  tp_t t = tp_plan(p);
  int64_t batch = 9, wrows = p->shared_weights ? 1 : batch;
  int64_t nx = batch * t.nx, ny = batch * t.ny, nz = batch * t.nz, nw = wrows * t.nw;
  test_rng_t rng = {31337};
  double *x = dalloc(nx), *y = dalloc(ny), *w = dalloc(nw), *dz = dalloc(nz);
  test_fill_double(&rng, x, nx);
  test_fill_double(&rng, y, ny);
  test_fill_double(&rng, w, nw);
  test_fill_double(&rng, dz, nz);
  if (it == OEQ_FLOAT32) round_to_float(x, nx), round_to_float(y, ny), round_to_float(dz, nz);
  if (wt == OEQ_FLOAT32) round_to_float(w, nw);
  double *zr = dalloc(nz), *dxr = dalloc(nx), *dyr = dalloc(ny), *dwr = dalloc(nw);
  ref_forward(p, batch, x, y, w, zr, t.nx, t.ny, t.nz, t.nw);
  ref_backward(p, batch, x, y, w, dz, dxr, dyr, dwr, t.nx, t.ny, t.nz, t.nw);
  size_t is = it == OEQ_FLOAT32 ? 4 : 8, ws = wt == OEQ_FLOAT32 ? 4 : 8;
  void *X = it == OEQ_FLOAT32 ? to_float(x, nx) : x, *Y = it == OEQ_FLOAT32 ? to_float(y, ny) : y;
  void *DZ = it == OEQ_FLOAT32 ? to_float(dz, nz) : dz, *Wt = wt == OEQ_FLOAT32 ? to_float(w, nw) : w;
  void *Z = xmalloc(nz * is), *DX = xmalloc(nx * is), *DY = xmalloc(ny * is), *DW = xmalloc(nw * ws);
  memset(Z, 0xff, nz * is), memset(DX, 0xff, nx * is), memset(DY, 0xff, ny * is), memset(DW, 0xff, nw * ws);
  cr_assert_eq(oeq_tp_forward(t.plan, batch, X, Y, Wt, Z, NULL), OEQ_SUCCESS, "%s", oeq_last_error());
  cr_assert_eq(oeq_tp_backward(t.plan, batch, X, Y, Wt, DZ, DX, DY, DW, NULL), OEQ_SUCCESS, "%s", oeq_last_error());
  double ez = it == OEQ_FLOAT32 ? rel_err_f(Z, zr, nz) : test_rel_error(Z, zr, nz);
  double ex = it == OEQ_FLOAT32 ? rel_err_f(DX, dxr, nx) : test_rel_error(DX, dxr, nx);
  double ey = it == OEQ_FLOAT32 ? rel_err_f(DY, dyr, ny) : test_rel_error(DY, dyr, ny);
  double ew = wt == OEQ_FLOAT32 ? rel_err_f(DW, dwr, nw) : test_rel_error(DW, dwr, nw);
  cr_expect(ez < ti && ex < ti && ey < ti && ew < tw,
            "%s: rel errors z %.3g dx %.3g dy %.3g (tol %.1g) dw %.3g (tol %.1g)", label, ez, ex, ey, ti, ew, tw);
  if (X != x) free(X);
  if (Y != y) free(Y);
  if (DZ != dz) free(DZ);
  if (Wt != w) free(Wt);
  free(Z), free(DX), free(DY), free(DW);
  free(x), free(y), free(w), free(dz), free(zr), free(dxr), free(dyr), free(dwr);
  oeq_plan_destroy(t.plan);
}

Test(cpu_tp, float32_and_mixed_dtypes) {
  for (int shared = 0; shared < 2; shared++) {
    oeq_problem_t *p = mixed_problem(OEQ_IRREP_NORM_COMPONENT, OEQ_PATH_NORM_ELEMENT, shared);
    check_dtypes(p, OEQ_FLOAT32, OEQ_FLOAT32, "f32/f32");
    check_dtypes(p, OEQ_FLOAT32, OEQ_FLOAT64, "f32 irreps / f64 weights");
    check_dtypes(p, OEQ_FLOAT64, OEQ_FLOAT32, "f64 irreps / f32 weights");
    check_dtypes(p, OEQ_FLOAT64, OEQ_FLOAT64, "f64/f64");
    oeq_problem_destroy(p);
  }
}

Test(cpu_tp, float32_vs_float64) {
  oeq_problem_t *p = NULL;
  cr_assert_eq(oeq_problem_create_channelwise("32x0e+32x1o+8x2e", "0e+1o+2e+3o", "0e+1o+2e+3o", &p), OEQ_SUCCESS);
  int64_t nx, ny, nz, nw, batch = 16;
  cr_assert_eq(oeq_problem_dims(p, &nx, &ny, &nz), OEQ_SUCCESS);
  cr_assert_eq(oeq_problem_weight_numel(p, &nw), OEQ_SUCCESS);
  test_rng_t rng = {8};
  double *x = dalloc(batch * nx), *y = dalloc(batch * ny), *w = dalloc(batch * nw), *z64 = dalloc(batch * nz);
  test_fill_double(&rng, x, batch * nx), test_fill_double(&rng, y, batch * ny), test_fill_double(&rng, w, batch * nw);
  round_to_float(x, batch * nx), round_to_float(y, batch * ny), round_to_float(w, batch * nw);
  float *xf = to_float(x, batch * nx), *yf = to_float(y, batch * ny), *wf = to_float(w, batch * nw);
  float *z32 = xmalloc((size_t)(batch * nz) * sizeof(float));
  test_poison_double(z64, batch * nz);
  test_poison_float(z32, batch * nz);
  oeq_plan_t *p32, *p64;
  cr_assert_eq(oeq_plan_create_tp(p, OEQ_BACKEND_CPU, 0, &p32), OEQ_SUCCESS);
  cr_assert_eq(oeq_problem_set_dtypes(p, OEQ_FLOAT64, OEQ_FLOAT64), OEQ_SUCCESS);
  cr_assert_eq(oeq_plan_create_tp(p, OEQ_BACKEND_CPU, 0, &p64), OEQ_SUCCESS);
  cr_assert_eq(oeq_tp_forward(p32, batch, xf, yf, wf, z32, NULL), OEQ_SUCCESS);
  cr_assert_eq(oeq_tp_forward(p64, batch, x, y, w, z64, NULL), OEQ_SUCCESS);
  double e = rel_err_f(z32, z64, batch * nz);
  cr_expect(e < 1e-5 && e > 0, "float32 vs float64: rel %.3g", e);
  free(x), free(y), free(w), free(z64), free(xf), free(yf), free(wf), free(z32);
  oeq_plan_destroy(p32), oeq_plan_destroy(p64), oeq_problem_destroy(p);
}

/* mul_ir -> ir_mul for every row: element (u, a) moves from u*d + a to a*mul + u. */
static void to_ir_mul(const oeq_irreps_t *ir, int64_t batch, const double *in, double *out) {
  int64_t dim = test_ref_dim(ir);
  for (int64_t r = 0; r < batch; r++)
    for (int i = 0; i < ir->len; i++) {
      int64_t off = r * dim + test_ref_offset(ir, i), mul = ir->terms[i].mul;
      int d = 2 * ir->terms[i].l + 1;
      for (int64_t u = 0; u < mul; u++)
        for (int a = 0; a < d; a++) out[off + a * mul + u] = in[off + u * d + a];
    }
}

Test(cpu_tp, ir_mul_layout) {
  for (int shared = 0; shared < 2; shared++) {
    oeq_problem_t *p = mixed_problem(OEQ_IRREP_NORM_COMPONENT, OEQ_PATH_NORM_ELEMENT, shared);
    tp_t t = tp_plan(p); /* mul_ir */
    cr_assert_eq(oeq_problem_set_layout(p, OEQ_LAYOUT_IR_MUL), OEQ_SUCCESS);
    oeq_plan_t *pl;
    cr_assert_eq(oeq_plan_create_tp(p, OEQ_BACKEND_CPU, 0, &pl), OEQ_SUCCESS);
    int64_t b = 6, wr = shared ? 1 : b;
    test_rng_t rng = {11};
    double *x = dalloc(b * t.nx), *y = dalloc(b * t.ny), *w = dalloc(wr * t.nw), *dz = dalloc(b * t.nz);
    double *xi = dalloc(b * t.nx), *yi = dalloc(b * t.ny), *dzi = dalloc(b * t.nz);
    double *z = dalloc(b * t.nz), *zi = dalloc(b * t.nz), *zt = dalloc(b * t.nz);
    double *dx = dalloc(b * t.nx), *dxi = dalloc(b * t.nx), *dxt = dalloc(b * t.nx);
    double *dy = dalloc(b * t.ny), *dyi = dalloc(b * t.ny), *dyt = dalloc(b * t.ny);
    double *dw = dalloc(wr * t.nw), *dwi = dalloc(wr * t.nw);
    test_fill_double(&rng, x, b * t.nx), test_fill_double(&rng, y, b * t.ny);
    test_fill_double(&rng, w, wr * t.nw), test_fill_double(&rng, dz, b * t.nz);
    to_ir_mul(&p->in1, b, x, xi), to_ir_mul(&p->in2, b, y, yi), to_ir_mul(&p->out, b, dz, dzi);
    test_poison_double(zi, b * t.nz), test_poison_double(dxi, b * t.nx);
    test_poison_double(dyi, b * t.ny), test_poison_double(dwi, wr * t.nw);
    cr_assert_eq(oeq_tp_forward(t.plan, b, x, y, w, z, NULL), OEQ_SUCCESS);
    cr_assert_eq(oeq_tp_backward(t.plan, b, x, y, w, dz, dx, dy, dw, NULL), OEQ_SUCCESS);
    cr_assert_eq(oeq_tp_forward(pl, b, xi, yi, w, zi, NULL), OEQ_SUCCESS);
    cr_assert_eq(oeq_tp_backward(pl, b, xi, yi, w, dzi, dxi, dyi, dwi, NULL), OEQ_SUCCESS);
    to_ir_mul(&p->out, b, z, zt), to_ir_mul(&p->in1, b, dx, dxt), to_ir_mul(&p->in2, b, dy, dyt);
    expect_close("ir_mul z", zi, zt, b * t.nz, 1e-14);
    expect_close("ir_mul dx", dxi, dxt, b * t.nx, 1e-14);
    expect_close("ir_mul dy", dyi, dyt, b * t.ny, 1e-14);
    expect_close("ir_mul dw", dwi, dw, wr * t.nw, 1e-14);
    /* the transposition is not the identity here, so the test can fail */
    cr_expect(test_rel_error(zi, z, b * t.nz) > 1e-3, "layouts coincide: weak test");
    free(x), free(y), free(w), free(dz), free(xi), free(yi), free(dzi), free(z), free(zi), free(zt);
    free(dx), free(dxi), free(dxt), free(dy), free(dyi), free(dyt), free(dw), free(dwi);
    oeq_plan_destroy(pl);
    tp_free(&t);
  }
}

Test(cpu_tp, shared_vs_per_row_weights) {
  oeq_problem_t *p = mixed_problem(OEQ_IRREP_NORM_COMPONENT, OEQ_PATH_NORM_ELEMENT, 1);
  tp_t ts = tp_plan(p);
  cr_assert_eq(oeq_problem_set_shared_weights(p, 0), OEQ_SUCCESS);
  oeq_plan_t *pr;
  cr_assert_eq(oeq_plan_create_tp(p, OEQ_BACKEND_CPU, 0, &pr), OEQ_SUCCESS);
  int64_t b = 41;
  test_rng_t rng = {12};
  double *x = dalloc(b * ts.nx), *y = dalloc(b * ts.ny), *w = dalloc(ts.nw), *wr = dalloc(b * ts.nw);
  double *dz = dalloc(b * ts.nz), *z1 = dalloc(b * ts.nz), *z2 = dalloc(b * ts.nz);
  double *dx1 = dalloc(b * ts.nx), *dx2 = dalloc(b * ts.nx), *dy1 = dalloc(b * ts.ny), *dy2 = dalloc(b * ts.ny);
  double *dws = dalloc(ts.nw), *dwr = dalloc(b * ts.nw), *sum = dalloc(ts.nw);
  test_fill_double(&rng, x, b * ts.nx), test_fill_double(&rng, y, b * ts.ny);
  test_fill_double(&rng, w, ts.nw), test_fill_double(&rng, dz, b * ts.nz);
  for (int64_t r = 0; r < b; r++) memcpy(wr + r * ts.nw, w, (size_t)ts.nw * sizeof(double));
  test_poison_double(dws, ts.nw), test_poison_double(dwr, b * ts.nw);
  cr_assert_eq(oeq_tp_forward(ts.plan, b, x, y, w, z1, NULL), OEQ_SUCCESS);
  cr_assert_eq(oeq_tp_forward(pr, b, x, y, wr, z2, NULL), OEQ_SUCCESS);
  cr_assert_eq(oeq_tp_backward(ts.plan, b, x, y, w, dz, dx1, dy1, dws, NULL), OEQ_SUCCESS);
  cr_assert_eq(oeq_tp_backward(pr, b, x, y, wr, dz, dx2, dy2, dwr, NULL), OEQ_SUCCESS);
  expect_close("z shared vs per-row", z1, z2, b * ts.nz, 1e-15);
  expect_close("dx shared vs per-row", dx1, dx2, b * ts.nx, 1e-15);
  expect_close("dy shared vs per-row", dy1, dy2, b * ts.ny, 1e-15);
  for (int64_t i = 0; i < ts.nw; i++) {
    sum[i] = 0;
    for (int64_t r = 0; r < b; r++) sum[i] += dwr[r * ts.nw + i];
  }
  expect_close("shared dw vs sum of per-row dw", dws, sum, ts.nw, 1e-13);
  free(x), free(y), free(w), free(wr), free(dz), free(z1), free(z2), free(dx1), free(dx2);
  free(dy1), free(dy2), free(dws), free(dwr), free(sum);
  oeq_plan_destroy(pr);
  tp_free(&ts);
}

/* ------------------------------------------------------------- batch 0 */

Test(cpu_tp, batch_zero) {
  for (int shared = 0; shared < 2; shared++) {
    oeq_problem_t *p = mixed_problem(OEQ_IRREP_NORM_COMPONENT, OEQ_PATH_NORM_ELEMENT, shared);
    tp_t t = tp_plan(p);
    double z = NAN, dx = NAN, dy = NAN;
    double *dw = dalloc(t.nw), *w = dalloc(t.nw);
    test_fill_double(&(test_rng_t){3}, w, t.nw);
    test_poison_double(dw, t.nw);
    /* forward: NULL arrays are fine for 0 rows, nothing written */
    cr_expect_eq(oeq_tp_forward(t.plan, 0, NULL, NULL, NULL, NULL, NULL), OEQ_SUCCESS, "%s", oeq_last_error());
    cr_expect_eq(oeq_tp_forward(t.plan, 0, &dx, &dy, w, &z, NULL), OEQ_SUCCESS);
    cr_expect(isnan(z), "forward with batch 0 wrote z");
    if (shared) {
      /* the batch sum of nothing: dw is written as zeros */
      cr_expect_eq(oeq_tp_backward(t.plan, 0, NULL, NULL, w, NULL, NULL, NULL, dw, NULL), OEQ_SUCCESS,
                   "%s", oeq_last_error());
      for (int64_t i = 0; i < t.nw; i++) cr_expect_eq(dw[i], 0.0, "shared dw[%lld] after batch 0", (long long)i);
    } else {
      cr_expect_eq(oeq_tp_backward(t.plan, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL), OEQ_SUCCESS,
                   "%s", oeq_last_error());
    }
    free(dw), free(w);
    tp_free(&t);
  }
}

Test(cpu_tp, no_instructions_and_empty_irreps) {
  /* No instruction: z is zeros, dx/dy zeros, no weights. */
  oeq_problem_t *p = problem("2x1o", "1x1o", "3x0e");
  set_f64(p, 1);
  tp_t t = tp_plan(p);
  cr_assert_eq(t.nw, 0);
  double x[12], y[6], z[6], dz[6], dx[12], dy[6];
  test_fill_double(&(test_rng_t){4}, x, 12), test_fill_double(&(test_rng_t){5}, y, 6);
  test_fill_double(&(test_rng_t){6}, dz, 6);
  test_poison_double(z, 6), test_poison_double(dx, 12), test_poison_double(dy, 6);
  cr_assert_eq(oeq_tp_forward(t.plan, 2, x, y, NULL, z, NULL), OEQ_SUCCESS, "%s", oeq_last_error());
  cr_assert_eq(oeq_tp_backward(t.plan, 2, x, y, NULL, dz, dx, dy, NULL, NULL), OEQ_SUCCESS, "%s", oeq_last_error());
  for (int i = 0; i < 6; i++) cr_expect_eq(z[i], 0.0, "z[%d]", i);
  for (int i = 0; i < 12; i++) cr_expect_eq(dx[i], 0.0, "dx[%d]", i);
  for (int i = 0; i < 6; i++) cr_expect_eq(dy[i], 0.0, "dy[%d]", i);
  tp_free(&t);
  /* Empty output irreps: nothing to write, z may be NULL. */
  p = problem("2x1o", "1x1o", "");
  set_f64(p, 1);
  t = tp_plan(p);
  cr_assert_eq(t.nz, 0);
  cr_expect_eq(oeq_tp_forward(t.plan, 2, x, y, NULL, NULL, NULL), OEQ_SUCCESS, "%s", oeq_last_error());
  tp_free(&t);
}
