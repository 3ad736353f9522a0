/* test_symcon_gpu.c: symmetric-contraction plans on a GPU (CUDA and HIP,
 * each case written once) against the CPU plan of the same problem.
 *
 * The CPU backend is checked against MACE's own outputs in test_symcon;
 * here random rows (every species present) go through both plans. GPU
 * outputs are poisoned with NaN first, so an element left unwritten
 * fails; float64 must agree to 1e-12 and float32 to 1e-5 (relative
 * Frobenius norm), for z, dx and dw, and for dx / dw requested alone. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu_runtime.h"
#include "oeq.h"
#include "support.h"

TestSuite(symcon_cuda, .timeout = 300);
TestSuite(symcon_hip, .timeout = 300);
#define SYMCON_GPU_TEST(name) RT_TEST(symcon_cuda, symcon_hip, name)

typedef struct {
  const char *in, *out;
  int correlation;
  int64_t elements, channels, batch;
} case_t;

static size_t dsz(oeq_dtype_t t) { return t == OEQ_FLOAT64 ? 8 : 4; }

/* n values of dtype t from doubles. */
static void *cast(const double *v, int64_t n, oeq_dtype_t t) {
  void *p = malloc((size_t)(n > 0 ? n : 1) * dsz(t));
  cr_assert_not_null(p);
  for (int64_t i = 0; i < n; i++) {
    if (t == OEQ_FLOAT64)
      ((double *)p)[i] = v[i];
    else
      ((float *)p)[i] = (float)v[i];
  }
  return p;
}

static double *widen(const void *p, int64_t n, oeq_dtype_t t) {
  double *v = malloc((size_t)(n > 0 ? n : 1) * sizeof(double));
  cr_assert_not_null(v);
  for (int64_t i = 0; i < n; i++) v[i] = t == OEQ_FLOAT64 ? ((const double *)p)[i] : ((const float *)p)[i];
  return v;
}

static void *device_copy(oeq_backend_t rt, const void *host, size_t bytes) {
  void *d = NULL;
  RT_CK(rt, test_rt_alloc(rt, &d, bytes ? bytes : 1));
  if (bytes) RT_CK(rt, test_rt_to_device(rt, d, host, bytes));
  return d;
}

static void *device_poisoned(oeq_backend_t rt, int64_t n, oeq_dtype_t t) {
  void *host = malloc((size_t)(n > 0 ? n : 1) * dsz(t));
  cr_assert_not_null(host);
  if (t == OEQ_FLOAT64)
    test_poison_double(host, n);
  else
    test_poison_float(host, n);
  void *d = device_copy(rt, host, (size_t)n * dsz(t));
  free(host);
  return d;
}

/* The GPU array (n values of t) against the reference, as doubles. */
static void expect_close(oeq_backend_t rt, const void *dev, const double *ref, int64_t n,
                         oeq_dtype_t t, const char *what, const char *label) {
  void *host = malloc((size_t)(n > 0 ? n : 1) * dsz(t));
  cr_assert_not_null(host);
  RT_CK(rt, test_rt_to_host(rt, host, dev, (size_t)n * dsz(t)));
  double *got = widen(host, n, t);
  const double tol = t == OEQ_FLOAT64 ? 1e-12 : 1e-5;
  const double rel = test_rel_error(got, ref, n);
  cr_expect(rel <= tol, "%s %s %s: relative error %.3g > %.0e (max abs %.3g over %lld values)",
            test_rt_name(rt), label, what, rel, tol, test_max_abs_error(got, ref, n), (long long)n);
  free(got);
  free(host);
}

static void check_case(oeq_backend_t rt, const case_t *k, oeq_dtype_t t, uint64_t seed) {
  char label[160];
  snprintf(label, sizeof label, "%s -> %s, correlation %d, %s", k->in, k->out, k->correlation,
           t == OEQ_FLOAT64 ? "float64" : "float32");
  oeq_problem_t *p = NULL;
  cr_assert_eq(oeq_problem_create_symmetric_contraction(k->in, k->out, k->correlation, k->elements,
                                                        k->channels, &p),
               OEQ_SUCCESS, "%s", oeq_last_error());
  cr_assert_eq(oeq_problem_set_dtypes(p, t, t), OEQ_SUCCESS, "%s", oeq_last_error());
  int64_t xd = 0, zd = 0, wn = 0;
  cr_assert_eq(oeq_problem_dims(p, &xd, NULL, &zd), OEQ_SUCCESS);
  cr_assert_eq(oeq_problem_weight_numel(p, &wn), OEQ_SUCCESS);
  oeq_plan_t *cpu = NULL, *gpu = NULL;
  cr_assert_eq(oeq_plan_create_symmetric_contraction(p, OEQ_BACKEND_CPU, 0, &cpu), OEQ_SUCCESS, "%s",
               oeq_last_error());
  cr_assert_eq(oeq_plan_create_symmetric_contraction(p, rt, 0, &gpu), OEQ_SUCCESS, "%s: %s",
               test_rt_name(rt), oeq_last_error());
  oeq_problem_destroy(p);

  const int64_t b = k->batch;
  test_rng_t rng = {seed};
  double *x = malloc((size_t)(b * xd) * sizeof(double)), *w = malloc((size_t)wn * sizeof(double));
  double *dz = malloc((size_t)(b * zd) * sizeof(double));
  int32_t *species = malloc((size_t)b * sizeof(int32_t));
  cr_assert(x && w && dz && species);
  test_fill_double(&rng, x, b * xd);
  test_fill_double(&rng, w, wn);
  test_fill_double(&rng, dz, b * zd);
  for (int64_t i = 0; i < b; i++) species[i] = (int32_t)(i % k->elements); /* every species */
  void *xt = cast(x, b * xd, t), *wt = cast(w, wn, t), *dzt = cast(dz, b * zd, t);

  /* CPU reference, from the same (rounded) inputs */
  void *z_ref = malloc((size_t)(b * zd) * dsz(t)), *dx_ref = malloc((size_t)(b * xd) * dsz(t));
  void *dw_ref = malloc((size_t)wn * dsz(t));
  cr_assert_eq(oeq_symcon_forward(cpu, b, xt, species, wt, z_ref, NULL), OEQ_SUCCESS, "%s",
               oeq_last_error());
  cr_assert_eq(oeq_symcon_backward(cpu, b, xt, species, wt, dzt, dx_ref, dw_ref, NULL), OEQ_SUCCESS,
               "%s", oeq_last_error());
  double *zr = widen(z_ref, b * zd, t), *dxr = widen(dx_ref, b * xd, t), *dwr = widen(dw_ref, wn, t);

  void *dx_d = device_copy(rt, xt, (size_t)(b * xd) * dsz(t));
  void *dw_d = device_copy(rt, wt, (size_t)wn * dsz(t));
  void *ddz = device_copy(rt, dzt, (size_t)(b * zd) * dsz(t));
  void *dsp = device_copy(rt, species, (size_t)b * sizeof(int32_t));
  void *z = device_poisoned(rt, b * zd, t), *gx = device_poisoned(rt, b * xd, t);
  void *gw = device_poisoned(rt, wn, t);
  cr_assert_eq(oeq_symcon_forward(gpu, b, dx_d, dsp, dw_d, z, NULL), OEQ_SUCCESS, "%s",
               oeq_last_error());
  cr_assert_eq(oeq_symcon_backward(gpu, b, dx_d, dsp, dw_d, ddz, gx, gw, NULL), OEQ_SUCCESS, "%s",
               oeq_last_error());
  RT_CK(rt, test_rt_sync(rt, NULL));
  expect_close(rt, z, zr, b * zd, t, "z", label);
  expect_close(rt, gx, dxr, b * xd, t, "dx", label);
  expect_close(rt, gw, dwr, wn, t, "dw", label);

  /* each gradient alone: the other output is not touched */
  RT_CK(rt, test_rt_free(rt, gx));
  RT_CK(rt, test_rt_free(rt, gw));
  gx = device_poisoned(rt, b * xd, t);
  gw = device_poisoned(rt, wn, t);
  cr_assert_eq(oeq_symcon_backward(gpu, b, dx_d, dsp, dw_d, ddz, gx, NULL, NULL), OEQ_SUCCESS, "%s",
               oeq_last_error());
  cr_assert_eq(oeq_symcon_backward(gpu, b, dx_d, dsp, dw_d, ddz, NULL, gw, NULL), OEQ_SUCCESS, "%s",
               oeq_last_error());
  RT_CK(rt, test_rt_sync(rt, NULL));
  expect_close(rt, gx, dxr, b * xd, t, "dx alone", label);
  expect_close(rt, gw, dwr, wn, t, "dw alone", label);

  void *devs[] = {dx_d, dw_d, ddz, dsp, z, gx, gw};
  for (size_t i = 0; i < sizeof devs / sizeof devs[0]; i++) RT_CK(rt, test_rt_free(rt, devs[i]));
  void *hosts[] = {x, w, dz, species, xt, wt, dzt, z_ref, dx_ref, dw_ref, zr, dxr, dwr};
  for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++) free(hosts[i]);
  oeq_plan_destroy(cpu);
  oeq_plan_destroy(gpu);
}

/* The shapes of MACE's fixtures, and MACE-large's product basis (pair
 * kernels, lib/codegen/symcon_pairs.h: 5000 rows span several row chunks
 * and species-sort tiles, the last ones partial); 89 species (MACE-MP's
 * count) do not fit one block's pair tables: blocks take species groups. */
static const case_t cases[] = {
    {"0e+1o", "0e+1o", 2, 2, 4, 37},
    {"0e+1o+2e", "0e", 3, 3, 8, 101},
    {"0e+1o+2e+3o", "0e+1o+2e", 3, 3, 16, 203},
    {"0e+1o+2e", "0e+1o+2e", 1, 2, 5, 64},
    {"0e+1o+2e+3o", "0e+1o+2e", 3, 10, 128, 1000},
    {"0e+1o+2e+3o", "0e+1o+2e", 3, 10, 128, 5000},
    {"0e+1o+2e+3o", "0e+1o+2e", 3, 89, 16, 300},
    {"0e+1o+2e+3o", "0e+1o+2e", 3, 400, 4, 200}, /* too many groups: the per-term kernels */
};

SYMCON_GPU_TEST(matches_cpu_float64) {
  RT_REQUIRE(rt, TEST_RT_MEMORY);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_case(rt, &cases[i], OEQ_FLOAT64, 11 + i);
  test_rt_leave(rt);
}

SYMCON_GPU_TEST(matches_cpu_float32) {
  RT_REQUIRE(rt, TEST_RT_MEMORY);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_case(rt, &cases[i], OEQ_FLOAT32, 23 + i);
  test_rt_leave(rt);
}

/* No rows: z untouched, dw written as zeros (the empty sum), no error. */
SYMCON_GPU_TEST(empty_batch_zeroes_dw) {
  RT_REQUIRE(rt, TEST_RT_MEMORY);
  oeq_problem_t *p = NULL;
  cr_assert_eq(oeq_problem_create_symmetric_contraction("0e+1o", "0e+1o", 2, 2, 4, &p), OEQ_SUCCESS);
  int64_t wn = 0;
  cr_assert_eq(oeq_problem_weight_numel(p, &wn), OEQ_SUCCESS);
  oeq_plan_t *gpu = NULL;
  cr_assert_eq(oeq_plan_create_symmetric_contraction(p, rt, 0, &gpu), OEQ_SUCCESS, "%s", oeq_last_error());
  oeq_problem_destroy(p);
  void *w = device_poisoned(rt, wn, OEQ_FLOAT32), *gw = device_poisoned(rt, wn, OEQ_FLOAT32);
  void *scratch = device_poisoned(rt, 1, OEQ_FLOAT32);
  cr_assert_eq(oeq_symcon_forward(gpu, 0, scratch, scratch, w, scratch, NULL), OEQ_SUCCESS, "%s",
               oeq_last_error());
  cr_assert_eq(oeq_symcon_backward(gpu, 0, scratch, scratch, w, scratch, NULL, gw, NULL), OEQ_SUCCESS,
               "%s", oeq_last_error());
  RT_CK(rt, test_rt_sync(rt, NULL));
  double *zeros = calloc((size_t)wn, sizeof(double));
  expect_close(rt, gw, zeros, wn, OEQ_FLOAT32, "dw", "no rows");
  free(zeros);
  RT_CK(rt, test_rt_free(rt, w));
  RT_CK(rt, test_rt_free(rt, gw));
  RT_CK(rt, test_rt_free(rt, scratch));
  oeq_plan_destroy(gpu);
  test_rt_leave(rt);
}
