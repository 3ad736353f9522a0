/* test_hip.c: the HIP backend against the CPU backend, on an AMD GPU.
 *
 * The GPU suite skips itself where oeq_backend_available(OEQ_BACKEND_HIP)
 * is 0. ROCm is reached through oeq's own dlopen table, so this builds and
 * skips on machines without it. Every output is poisoned with NaN before
 * each run, inputs are fresh random numbers, and both the relative
 * Frobenius error and the largest element error are checked. The
 * hip_absent suite runs everywhere: without an AMD GPU the backend must
 * say why, through statuses. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/hip_api.h"
#include "backend/kcache.h"
#include "oeq.h"
#include "support.h"

#define GPU_CASES_BACKEND OEQ_BACKEND_HIP
#include "gpu_cases.h"

static const oeq_hip_api_t *hip;

static void gpu_setup(void) {
  if (!oeq_backend_available(OEQ_BACKEND_HIP)) {
    cr_skip_test("no AMD GPU: %s", oeq_last_error());
    return;
  }
  hip = oeq_hip_api(NULL);
  cr_assert_eq(hip->hipSetDevice(0), 0);
}

#define CK(call)                                                                      \
  do {                                                                                \
    hipError_t r_ = (call);                                                           \
    cr_assert_eq(r_, 0, "%s: %s", #call, oeq_hip_error_string(r_));                   \
  } while (0)

/* ----------------------------------------------------------- test problems */

/* ------------------------------------------------------------ host arrays */

typedef struct array {
  oeq_dtype_t dtype;
  int64_t n;
  void *host;
  void *dev;
} array_t;

static size_t bytes_of(oeq_dtype_t t, int64_t n) { return (size_t)(n > 0 ? n : 1) * dsize(t); }

static array_t make_array(oeq_dtype_t t, int64_t n, test_rng_t *rng) {
  array_t a = {t, n, calloc(1, bytes_of(t, n)), NULL};
  cr_assert_not_null(a.host);
  if (rng) {
    if (t == OEQ_FLOAT64)
      test_fill_double(rng, a.host, n);
    else
      test_fill_float(rng, a.host, n);
  }
  CK(hip->hipMalloc(&a.dev, bytes_of(t, n)));
  if (rng && n > 0) CK(hip->hipMemcpy(a.dev, a.host, (size_t)n * dsize(t), OEQ_HIP_MEMCPY_H2D));
  return a;
}

static void poison(array_t *a) {
  if (a->n == 0) return;
  void *nan = malloc(bytes_of(a->dtype, a->n));
  cr_assert_not_null(nan);
  if (a->dtype == OEQ_FLOAT64)
    test_poison_double(nan, a->n);
  else
    test_poison_float(nan, a->n);
  CK(hip->hipMemcpy(a->dev, nan, (size_t)a->n * dsize(a->dtype), OEQ_HIP_MEMCPY_H2D));
  free(nan);
}

static void free_array(array_t *a) {
  free(a->host);
  hip->hipFree(a->dev);
}

/* GPU result (a->dev) against the CPU's (a->host). */
static void expect_close(const array_t *a, double tol, const char *what) {
  if (a->n == 0) return;
  void *got = malloc((size_t)a->n * dsize(a->dtype));
  cr_assert_not_null(got);
  CK(hip->hipMemcpy(got, a->dev, (size_t)a->n * dsize(a->dtype), OEQ_HIP_MEMCPY_D2H));
  expect_host_close(a->dtype, got, a->host, a->n, tol, what);
  free(got);
}

/* -------------------------------------------------------- the comparison */

/* Forward and backward at one batch size on `stream`, checked. */
static void check_batch(const tp_case_t *c, int64_t batch, hipStream_t stream, uint64_t seed) {
  test_rng_t rng = {seed * 0x9E3779B97F4A7C15ULL + 1};
  const double tol = (c->it == OEQ_FLOAT64 && c->wt == OEQ_FLOAT64) ? 1e-12 : 1e-5;
  const int64_t w_rows = c->shared ? 1 : batch;
  array_t x = make_array(c->it, batch * c->x_dim, &rng), y = make_array(c->it, batch * c->y_dim, &rng);
  array_t w = make_array(c->wt, w_rows * c->w_numel, &rng), dz = make_array(c->it, batch * c->z_dim, &rng);
  array_t z = make_array(c->it, batch * c->z_dim, NULL), dx = make_array(c->it, batch * c->x_dim, NULL);
  array_t dy = make_array(c->it, batch * c->y_dim, NULL), dw = make_array(c->wt, w_rows * c->w_numel, NULL);
  cpu_reference(c, batch, x.host, y.host, w.host, dz.host, z.host, dx.host, dy.host, dw.host);
  poison(&z), poison(&dx), poison(&dy), poison(&dw);
  void *wd = c->w_numel ? w.dev : NULL, *dwd = c->w_numel ? dw.dev : NULL;
  cr_assert_eq(oeq_tp_forward(c->gpu, batch, x.dev, y.dev, wd, z.dev, stream), OEQ_SUCCESS, "%s",
               oeq_last_error());
  cr_assert_eq(oeq_tp_backward(c->gpu, batch, x.dev, y.dev, wd, dz.dev, dx.dev, dy.dev, dwd, stream),
               OEQ_SUCCESS, "%s", oeq_last_error());
  CK(hip->hipStreamSynchronize(stream));
  char what[64];
  snprintf(what, sizeof what, "batch %lld z", (long long)batch);
  expect_close(&z, tol, what);
  snprintf(what, sizeof what, "batch %lld dx", (long long)batch);
  expect_close(&dx, tol, what);
  snprintf(what, sizeof what, "batch %lld dy", (long long)batch);
  expect_close(&dy, tol, what);
  snprintf(what, sizeof what, "batch %lld dw", (long long)batch);
  /* Shared dw sums the whole batch: float32 sums carry more rounding. */
  expect_close(&dw, c->shared && c->wt == OEQ_FLOAT32 ? 1e-4 : tol, what);
  array_t *all[] = {&x, &y, &w, &dz, &z, &dx, &dy, &dw};
  for (int i = 0; i < 8; i++) free_array(all[i]);
}

static void check_problem(problem_id_t id, oeq_dtype_t it, oeq_dtype_t wt, oeq_layout_t layout,
                          int shared, int big) {
  tp_case_t c;
  open_case(&c, make_problem(id, it, wt, layout, shared), it, wt, shared);
  const int64_t batches[] = {1, 7, 1000, 200000};
  for (int i = 0; i < (big ? 4 : 3); i++) check_batch(&c, batches[i], NULL, (uint64_t)(i + 17 * id));
  close_case(&c);
}

TestSuite(hip, .init = gpu_setup, .timeout = 600);

/* Every mode, dtype combination, layout and weight sharing. */
Test(hip, mixed_f32_mul_ir_per_row) { check_problem(P_MIXED, OEQ_FLOAT32, OEQ_FLOAT32, OEQ_LAYOUT_MUL_IR, 0, 1); }
Test(hip, direct_f32_mul_ir_per_row) { check_problem(P_DIRECT, OEQ_FLOAT32, OEQ_FLOAT32, OEQ_LAYOUT_MUL_IR, 0, 0); }
Test(hip, mixed_f32_mul_ir_shared) { check_problem(P_MIXED, OEQ_FLOAT32, OEQ_FLOAT32, OEQ_LAYOUT_MUL_IR, 1, 1); }
Test(hip, mixed_f32_ir_mul_per_row) { check_problem(P_MIXED, OEQ_FLOAT32, OEQ_FLOAT32, OEQ_LAYOUT_IR_MUL, 0, 0); }
Test(hip, mixed_f32_ir_mul_shared) { check_problem(P_MIXED, OEQ_FLOAT32, OEQ_FLOAT32, OEQ_LAYOUT_IR_MUL, 1, 0); }
Test(hip, mixed_f64_mul_ir_per_row) { check_problem(P_MIXED, OEQ_FLOAT64, OEQ_FLOAT64, OEQ_LAYOUT_MUL_IR, 0, 1); }
Test(hip, mixed_f64_mul_ir_shared) { check_problem(P_MIXED, OEQ_FLOAT64, OEQ_FLOAT64, OEQ_LAYOUT_MUL_IR, 1, 0); }
Test(hip, mixed_f64_ir_mul_per_row) { check_problem(P_MIXED, OEQ_FLOAT64, OEQ_FLOAT64, OEQ_LAYOUT_IR_MUL, 0, 0); }
Test(hip, mixed_f64_ir_mul_shared) { check_problem(P_MIXED, OEQ_FLOAT64, OEQ_FLOAT64, OEQ_LAYOUT_IR_MUL, 1, 0); }
Test(hip, mixed_f32_irreps_f64_weights) { check_problem(P_MIXED, OEQ_FLOAT32, OEQ_FLOAT64, OEQ_LAYOUT_MUL_IR, 0, 0); }
Test(hip, mixed_f64_irreps_f32_weights_shared) { check_problem(P_MIXED, OEQ_FLOAT64, OEQ_FLOAT32, OEQ_LAYOUT_IR_MUL, 1, 0); }

/* Anchor-shaped problems. */
Test(hip, mace_large_f32) { check_problem(P_MACE, OEQ_FLOAT32, OEQ_FLOAT32, OEQ_LAYOUT_MUL_IR, 0, 1); }
Test(hip, mace_large_f64) { check_problem(P_MACE, OEQ_FLOAT64, OEQ_FLOAT64, OEQ_LAYOUT_MUL_IR, 0, 0); }
Test(hip, nequip_lips_f32_ir_mul) { check_problem(P_LIPS, OEQ_FLOAT32, OEQ_FLOAT32, OEQ_LAYOUT_IR_MUL, 0, 0); }
Test(hip, diffdock_f32) { check_problem(P_DIFFDOCK, OEQ_FLOAT32, OEQ_FLOAT32, OEQ_LAYOUT_MUL_IR, 0, 1); }
Test(hip, tetris_shared_f32) { check_problem(P_TETRIS, OEQ_FLOAT32, OEQ_FLOAT32, OEQ_LAYOUT_MUL_IR, 1, 1); }

/* ------------------------------------------------------ streams, threads */

Test(hip, two_plans_two_streams) {
  tp_case_t a, b;
  open_case(&a, make_problem(P_LIPS, OEQ_FLOAT32, OEQ_FLOAT32, OEQ_LAYOUT_MUL_IR, 0), OEQ_FLOAT32, OEQ_FLOAT32, 0);
  open_case(&b, make_problem(P_MIXED, OEQ_FLOAT64, OEQ_FLOAT64, OEQ_LAYOUT_MUL_IR, 1), OEQ_FLOAT64, OEQ_FLOAT64, 1);
  hipStream_t s1, s2;
  CK(hip->hipStreamCreateWithFlags(&s1, OEQ_HIP_STREAM_NON_BLOCKING));
  CK(hip->hipStreamCreateWithFlags(&s2, OEQ_HIP_STREAM_NON_BLOCKING));
  check_batch(&a, 5003, s1, 3);
  check_batch(&b, 4999, s2, 4);
  hip->hipStreamDestroy(s1);
  hip->hipStreamDestroy(s2);
  close_case(&a);
  close_case(&b);
}

typedef struct thread_job {
  const tp_case_t *c;
  uint64_t seed;
} thread_job_t;

static void *run_thread(void *arg) {
  thread_job_t *j = arg;
  hipStream_t s;
  hip->hipSetDevice(0);
  hip->hipStreamCreateWithFlags(&s, OEQ_HIP_STREAM_NON_BLOCKING);
  for (int i = 0; i < 3; i++) check_batch(j->c, 3001 + i, s, j->seed + (uint64_t)i);
  hip->hipStreamDestroy(s);
  return NULL;
}

Test(hip, one_plan_two_threads) {
  tp_case_t c;
  open_case(&c, make_problem(P_MACE, OEQ_FLOAT32, OEQ_FLOAT32, OEQ_LAYOUT_MUL_IR, 0), OEQ_FLOAT32, OEQ_FLOAT32, 0);
  pthread_t t1, t2;
  thread_job_t j1 = {&c, 100}, j2 = {&c, 200};
  pthread_create(&t1, NULL, run_thread, &j1);
  pthread_create(&t2, NULL, run_thread, &j2);
  pthread_join(t1, NULL);
  pthread_join(t2, NULL);
  close_case(&c);
}

/* ------------------------------------------------------- failure paths */

Test(hip, broken_source_reports_compile_error) {
  setenv("OEQ_TEST_BREAK_SOURCE", "1", 1);
  oeq_problem_t *p = make_problem(P_LIPS, OEQ_FLOAT32, OEQ_FLOAT32, OEQ_LAYOUT_MUL_IR, 0);
  oeq_plan_t *plan = NULL;
  cr_assert_eq(oeq_plan_create_tp(p, OEQ_BACKEND_HIP, 0, &plan), OEQ_ERROR_COMPILE);
  cr_expect_null(plan);
  cr_expect(strstr(oeq_last_error(), "this_is_a_deliberate_error") != NULL,
            "the hiprtc log should be in the message: %s", oeq_last_error());
  unsetenv("OEQ_TEST_BREAK_SOURCE");
  oeq_problem_destroy(p);
}

Test(hip, host_pointer_rejected) {
  tp_case_t c;
  open_case(&c, make_problem(P_LIPS, OEQ_FLOAT32, OEQ_FLOAT32, OEQ_LAYOUT_MUL_IR, 0), OEQ_FLOAT32, OEQ_FLOAT32, 0);
  float *host = calloc((size_t)(c.x_dim + c.y_dim + c.z_dim + c.w_numel), sizeof(float));
  void *d = NULL;
  CK(hip->hipMalloc(&d, (size_t)(c.z_dim + c.w_numel + c.x_dim + c.y_dim) * 4));
  cr_expect_eq(oeq_tp_forward(c.gpu, 1, host, d, d, d, NULL), OEQ_ERROR_INVALID_ARGUMENT);
  cr_expect_eq(oeq_tp_forward(c.gpu, 1, d, d, d, host, NULL), OEQ_ERROR_INVALID_ARGUMENT);
  hip->hipFree(d);
  free(host);
  close_case(&c);
}

Test(hip, convolution_is_unsupported_with_a_message) {
  oeq_problem_t *p = make_problem(P_LIPS, OEQ_FLOAT32, OEQ_FLOAT32, OEQ_LAYOUT_MUL_IR, 0);
  oeq_plan_t *plan = NULL;
  cr_expect_eq(oeq_plan_create_conv(p, OEQ_BACKEND_HIP, 0, 0, &plan), OEQ_ERROR_UNSUPPORTED);
  cr_expect_null(plan);
  cr_expect(strstr(oeq_last_error(), "convolution") != NULL, "%s", oeq_last_error());
  oeq_problem_destroy(p);
}

/* ------------------------------------------------------------ disk cache */

static int cache_files(const char *dir, char *first, size_t len) {
  DIR *d = opendir(dir);
  int n = 0;
  for (struct dirent *e; d && (e = readdir(d));)
    if (strstr(e->d_name, ".bin") && e->d_name[0] != '.') {
      if (n++ == 0) snprintf(first, len, "%s/%s", dir, e->d_name);
    }
  if (d) closedir(d);
  return n;
}

Test(hip, disk_cache_hit) {
  char dir[] = "/tmp/oeq-hip-cache-test-XXXXXX", file[4096];
  cr_assert_not_null(mkdtemp(dir));
  setenv("OEQ_CACHE_DIR", dir, 1);
  oeq_kcache_clear_memory();
  tp_case_t c;
  open_case(&c, make_problem(P_LIPS, OEQ_FLOAT64, OEQ_FLOAT64, OEQ_LAYOUT_MUL_IR, 0), OEQ_FLOAT64, OEQ_FLOAT64, 0);
  cr_assert_eq(cache_files(dir, file, sizeof file), 1, "one cache file expected in %s", dir);
  /* A fresh in-memory state reads the disk, and the kernels still agree. */
  oeq_plan_destroy(c.gpu);
  oeq_kcache_clear_memory();
  cr_assert_eq(oeq_plan_create_tp(c.problem, OEQ_BACKEND_HIP, 0, &c.gpu), OEQ_SUCCESS, "%s",
               oeq_last_error());
  check_batch(&c, 77, NULL, 9);
  close_case(&c);
  unlink(file);
  rmdir(dir);
  unsetenv("OEQ_CACHE_DIR");
}

/* ------------------------------------------- without an AMD GPU (CI) */

Test(hip_absent, unavailable_backend_says_why) {
  if (oeq_backend_available(OEQ_BACKEND_HIP)) cr_skip_test("an AMD GPU is present");
  const char *why = oeq_last_error();
  cr_expect(why[0] != '\0', "no reason given");
  cr_log_info("HIP backend unavailable: %s", why);
  oeq_problem_t *p = make_problem(P_LIPS, OEQ_FLOAT32, OEQ_FLOAT32, OEQ_LAYOUT_MUL_IR, 0);
  oeq_plan_t *plan = NULL;
  cr_expect_eq(oeq_plan_create_tp(p, OEQ_BACKEND_HIP, 0, &plan), OEQ_ERROR_BACKEND_UNAVAILABLE);
  cr_expect_null(plan);
  cr_expect(oeq_last_error()[0] != '\0');
  cr_expect_eq(oeq_plan_create_conv(p, OEQ_BACKEND_HIP, 0, 0, &plan), OEQ_ERROR_BACKEND_UNAVAILABLE);
  /* AUTO still makes a plan (on CUDA or the CPU). */
  cr_expect_eq(oeq_plan_create_tp(p, OEQ_BACKEND_AUTO, 0, &plan), OEQ_SUCCESS, "%s", oeq_last_error());
  oeq_backend_t chosen;
  cr_expect_eq(oeq_plan_backend(plan, &chosen), OEQ_SUCCESS);
  cr_expect_neq(chosen, OEQ_BACKEND_HIP);
  oeq_plan_destroy(plan);
  oeq_problem_destroy(p);
}
