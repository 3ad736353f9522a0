/* test_cuda.c: the CUDA backend against the CPU backend, on a GPU.
 *
 * Skips itself where oeq_backend_available(OEQ_BACKEND_CUDA) is 0. The
 * driver is reached through oeq's own dlopen table, so this builds and
 * skips on machines without CUDA. Every output is poisoned with NaN before
 * each run, inputs are fresh random numbers, and both the relative
 * Frobenius error and the largest element error are checked. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/cuda_api.h"
#include "backend/kcache.h"
#include "oeq.h"
#include "support.h"

#define GPU_CASES_BACKEND OEQ_BACKEND_CUDA
#include "gpu_cases.h"

static const oeq_cuda_api_t *cu;

static void gpu_setup(void) {
  if (!oeq_backend_available(OEQ_BACKEND_CUDA)) {
    cr_skip_test("no CUDA device: %s", oeq_last_error());
    return;
  }
  cu = oeq_cuda_api(NULL);
  CUdevice dev;
  CUcontext ctx;
  cr_assert_eq(cu->cuDeviceGet(&dev, 0), 0);
  cr_assert_eq(cu->cuDevicePrimaryCtxRetain(&ctx, dev), 0);
  cr_assert_eq(cu->cuCtxPushCurrent(ctx), 0);
}

#define CK(call)                                                                      \
  do {                                                                                \
    CUresult r_ = (call);                                                             \
    cr_assert_eq(r_, 0, "%s: %s", #call, oeq_cuda_error_string(r_));                  \
  } while (0)

/* ----------------------------------------------------------- test problems */

/* ------------------------------------------------------------ host arrays */

typedef struct array {
  oeq_dtype_t dtype;
  int64_t n;
  void *host;
  CUdeviceptr dev;
} array_t;

static array_t make_array(oeq_dtype_t t, int64_t n, test_rng_t *rng) {
  array_t a = {t, n, calloc((size_t)(n > 0 ? n : 1), dsize(t)), 0};
  cr_assert_not_null(a.host);
  if (rng) {
    if (t == OEQ_FLOAT64)
      test_fill_double(rng, a.host, n);
    else
      test_fill_float(rng, a.host, n);
  }
  CK(cu->cuMemAlloc(&a.dev, (size_t)(n > 0 ? n : 1) * dsize(t)));
  if (rng && n > 0) CK(cu->cuMemcpyHtoD(a.dev, a.host, (size_t)n * dsize(t)));
  return a;
}

static void poison(array_t *a) {
  if (a->n == 0) return;
  void *nan = malloc((size_t)(a->n > 0 ? a->n : 1) * dsize(a->dtype));
  cr_assert_not_null(nan);
  if (a->dtype == OEQ_FLOAT64)
    test_poison_double(nan, a->n);
  else
    test_poison_float(nan, a->n);
  CK(cu->cuMemcpyHtoD(a->dev, nan, (size_t)a->n * dsize(a->dtype)));
  free(nan);
}

static void free_array(array_t *a) {
  free(a->host);
  cu->cuMemFree(a->dev);
}

/* GPU result (a->dev) against the CPU's (a->host). */
static void expect_close(const array_t *a, double tol, const char *what) {
  if (a->n == 0) return;
  void *got = malloc((size_t)a->n * dsize(a->dtype));
  cr_assert_not_null(got);
  CK(cu->cuMemcpyDtoH(got, a->dev, (size_t)a->n * dsize(a->dtype)));
  expect_host_close(a->dtype, got, a->host, a->n, tol, what);
  free(got);
}

/* -------------------------------------------------------- the comparison */

/* Forward and backward at one batch size on `stream`, checked. */
static void check_batch(const tp_case_t *c, int64_t batch, CUstream stream, uint64_t seed) {
  test_rng_t rng = {seed * 0x9E3779B97F4A7C15ULL + 1};
  const double tol = (c->it == OEQ_FLOAT64 && c->wt == OEQ_FLOAT64) ? 1e-12 : 1e-5;
  const int64_t w_rows = c->shared ? 1 : batch;
  array_t x = make_array(c->it, batch * c->x_dim, &rng), y = make_array(c->it, batch * c->y_dim, &rng);
  array_t w = make_array(c->wt, w_rows * c->w_numel, &rng), dz = make_array(c->it, batch * c->z_dim, &rng);
  array_t z = make_array(c->it, batch * c->z_dim, NULL), dx = make_array(c->it, batch * c->x_dim, NULL);
  array_t dy = make_array(c->it, batch * c->y_dim, NULL), dw = make_array(c->wt, w_rows * c->w_numel, NULL);
  cpu_reference(c, batch, x.host, y.host, w.host, dz.host, z.host, dx.host, dy.host, dw.host);
  poison(&z), poison(&dx), poison(&dy), poison(&dw);
  void *wd = c->w_numel ? (void *)(uintptr_t)w.dev : NULL, *dwd = c->w_numel ? (void *)(uintptr_t)dw.dev : NULL;
  cr_assert_eq(oeq_tp_forward(c->gpu, batch, (void *)(uintptr_t)x.dev, (void *)(uintptr_t)y.dev, wd,
                              (void *)(uintptr_t)z.dev, stream),
               OEQ_SUCCESS, "%s", oeq_last_error());
  cr_assert_eq(oeq_tp_backward(c->gpu, batch, (void *)(uintptr_t)x.dev, (void *)(uintptr_t)y.dev, wd,
                               (void *)(uintptr_t)dz.dev, (void *)(uintptr_t)dx.dev,
                               (void *)(uintptr_t)dy.dev, dwd, stream),
               OEQ_SUCCESS, "%s", oeq_last_error());
  CK(cu->cuStreamSynchronize(stream));
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

TestSuite(cuda, .init = gpu_setup, .timeout = 600);

/* Every mode, dtype combination, layout and weight sharing. */
Test(cuda, mixed_f32_mul_ir_per_row) { check_problem(P_MIXED, OEQ_FLOAT32, OEQ_FLOAT32, OEQ_LAYOUT_MUL_IR, 0, 1); }
Test(cuda, mixed_f32_mul_ir_shared) { check_problem(P_MIXED, OEQ_FLOAT32, OEQ_FLOAT32, OEQ_LAYOUT_MUL_IR, 1, 1); }
Test(cuda, mixed_f32_ir_mul_per_row) { check_problem(P_MIXED, OEQ_FLOAT32, OEQ_FLOAT32, OEQ_LAYOUT_IR_MUL, 0, 0); }
Test(cuda, mixed_f32_ir_mul_shared) { check_problem(P_MIXED, OEQ_FLOAT32, OEQ_FLOAT32, OEQ_LAYOUT_IR_MUL, 1, 0); }
Test(cuda, mixed_f64_mul_ir_per_row) { check_problem(P_MIXED, OEQ_FLOAT64, OEQ_FLOAT64, OEQ_LAYOUT_MUL_IR, 0, 1); }
Test(cuda, mixed_f64_mul_ir_shared) { check_problem(P_MIXED, OEQ_FLOAT64, OEQ_FLOAT64, OEQ_LAYOUT_MUL_IR, 1, 0); }
Test(cuda, mixed_f64_ir_mul_per_row) { check_problem(P_MIXED, OEQ_FLOAT64, OEQ_FLOAT64, OEQ_LAYOUT_IR_MUL, 0, 0); }
Test(cuda, mixed_f64_ir_mul_shared) { check_problem(P_MIXED, OEQ_FLOAT64, OEQ_FLOAT64, OEQ_LAYOUT_IR_MUL, 1, 0); }
Test(cuda, mixed_f32_irreps_f64_weights) { check_problem(P_MIXED, OEQ_FLOAT32, OEQ_FLOAT64, OEQ_LAYOUT_MUL_IR, 0, 0); }
Test(cuda, mixed_f64_irreps_f32_weights_shared) { check_problem(P_MIXED, OEQ_FLOAT64, OEQ_FLOAT32, OEQ_LAYOUT_IR_MUL, 1, 0); }

/* The forward that prefetches per-row weights into registers. */
Test(cuda, direct_f32_mul_ir_per_row) { check_problem(P_DIRECT, OEQ_FLOAT32, OEQ_FLOAT32, OEQ_LAYOUT_MUL_IR, 0, 1); }
Test(cuda, direct_f32_ir_mul_per_row) { check_problem(P_DIRECT, OEQ_FLOAT32, OEQ_FLOAT32, OEQ_LAYOUT_IR_MUL, 0, 0); }
Test(cuda, direct_f64_mul_ir_per_row) { check_problem(P_DIRECT, OEQ_FLOAT64, OEQ_FLOAT64, OEQ_LAYOUT_MUL_IR, 0, 0); }
Test(cuda, direct_f32_irreps_f64_weights) { check_problem(P_DIRECT, OEQ_FLOAT32, OEQ_FLOAT64, OEQ_LAYOUT_MUL_IR, 0, 0); }
Test(cuda, direct_f32_shared) { check_problem(P_DIRECT, OEQ_FLOAT32, OEQ_FLOAT32, OEQ_LAYOUT_MUL_IR, 1, 0); }

/* Anchor-shaped problems. */
Test(cuda, mace_large_f32) { check_problem(P_MACE, OEQ_FLOAT32, OEQ_FLOAT32, OEQ_LAYOUT_MUL_IR, 0, 1); }
Test(cuda, mace_large_f64) { check_problem(P_MACE, OEQ_FLOAT64, OEQ_FLOAT64, OEQ_LAYOUT_MUL_IR, 0, 0); }
Test(cuda, nequip_lips_f32_ir_mul) { check_problem(P_LIPS, OEQ_FLOAT32, OEQ_FLOAT32, OEQ_LAYOUT_IR_MUL, 0, 0); }
Test(cuda, diffdock_f32) { check_problem(P_DIFFDOCK, OEQ_FLOAT32, OEQ_FLOAT32, OEQ_LAYOUT_MUL_IR, 0, 1); }
Test(cuda, tetris_shared_f32) { check_problem(P_TETRIS, OEQ_FLOAT32, OEQ_FLOAT32, OEQ_LAYOUT_MUL_IR, 1, 1); }
Test(cuda, tetris1_shared_f32) { check_problem(P_TETRIS1, OEQ_FLOAT32, OEQ_FLOAT32, OEQ_LAYOUT_MUL_IR, 1, 0); }
Test(cuda, e3tools_transformer_shared_f64_ir_mul) { check_problem(P_E3T, OEQ_FLOAT64, OEQ_FLOAT64, OEQ_LAYOUT_IR_MUL, 1, 0); }
Test(cuda, e3tools_transformer_per_row_f32) { check_problem(P_E3T, OEQ_FLOAT32, OEQ_FLOAT32, OEQ_LAYOUT_MUL_IR, 0, 0); }
/* 25.6 KB of shared dw: on tensor cores from sm_80 on (tp_dw_mma.c);
 * before, a private copy per warp and 1-warp backward blocks */
Test(cuda, e3tools_transformer_shared_f32) { check_problem(P_E3T, OEQ_FLOAT32, OEQ_FLOAT32, OEQ_LAYOUT_MUL_IR, 1, 0); }
Test(cuda, e3tools_transformer_shared_f32_irreps_f64_weights) { check_problem(P_E3T, OEQ_FLOAT32, OEQ_FLOAT64, OEQ_LAYOUT_MUL_IR, 1, 0); }
/* tensor cores: dw over several tile groups (tp_dw_mma.c), the forward
 * (tp_fwd_mma.c, float32 here: float64 rows this wide take the warp-a-row
 * forward) */
Test(cuda, pairs_shared_f32_mul_ir) { check_problem(P_PAIRS, OEQ_FLOAT32, OEQ_FLOAT32, OEQ_LAYOUT_MUL_IR, 1, 1); }
Test(cuda, pairs_shared_f64_ir_mul) { check_problem(P_PAIRS, OEQ_FLOAT64, OEQ_FLOAT64, OEQ_LAYOUT_IR_MUL, 1, 0); }
Test(cuda, pairs_shared_f32_irreps_f64_weights) { check_problem(P_PAIRS, OEQ_FLOAT32, OEQ_FLOAT64, OEQ_LAYOUT_MUL_IR, 1, 0); }
Test(cuda, e3tools_gap_shared_f32) { check_problem(P_E3T_GAP, OEQ_FLOAT32, OEQ_FLOAT32, OEQ_LAYOUT_MUL_IR, 1, 0); }
Test(cuda, e3tools_gap_shared_f32_ir_mul) { check_problem(P_E3T_GAP, OEQ_FLOAT32, OEQ_FLOAT32, OEQ_LAYOUT_IR_MUL, 1, 0); }
Test(cuda, wide_shared_f32) { check_problem(P_WIDE, OEQ_FLOAT32, OEQ_FLOAT32, OEQ_LAYOUT_MUL_IR, 1, 0); }
Test(cuda, wide13_shared_f32) { check_problem(P_WIDE13, OEQ_FLOAT32, OEQ_FLOAT32, OEQ_LAYOUT_MUL_IR, 1, 0); }
/* 44 dw tile groups (DMMA), 4-row tiles */
Test(cuda, wide_shared_f64) { check_problem(P_WIDE, OEQ_FLOAT64, OEQ_FLOAT64, OEQ_LAYOUT_IR_MUL, 1, 0); }

/* ------------------------------------------------------ streams, threads */

Test(cuda, two_plans_two_streams) {
  tp_case_t a, b;
  open_case(&a, make_problem(P_LIPS, OEQ_FLOAT32, OEQ_FLOAT32, OEQ_LAYOUT_MUL_IR, 0), OEQ_FLOAT32, OEQ_FLOAT32, 0);
  open_case(&b, make_problem(P_MIXED, OEQ_FLOAT64, OEQ_FLOAT64, OEQ_LAYOUT_MUL_IR, 1), OEQ_FLOAT64, OEQ_FLOAT64, 1);
  CUstream s1, s2;
  CK(cu->cuStreamCreate(&s1, OEQ_CU_STREAM_NON_BLOCKING));
  CK(cu->cuStreamCreate(&s2, OEQ_CU_STREAM_NON_BLOCKING));
  check_batch(&a, 5003, s1, 3);
  check_batch(&b, 4999, s2, 4);
  cu->cuStreamDestroy(s1);
  cu->cuStreamDestroy(s2);
  close_case(&a);
  close_case(&b);
}

typedef struct thread_job {
  const tp_case_t *c;
  uint64_t seed;
} thread_job_t;

/* A thread with no current context: the plan brings its own. */
static void *run_thread(void *arg) {
  thread_job_t *j = arg;
  CUstream s;
  CUcontext ctx;
  CUdevice dev;
  cu->cuDeviceGet(&dev, 0);
  cu->cuDevicePrimaryCtxRetain(&ctx, dev);
  cu->cuCtxPushCurrent(ctx); /* for the test's own allocations */
  cu->cuStreamCreate(&s, OEQ_CU_STREAM_NON_BLOCKING);
  for (int i = 0; i < 3; i++) check_batch(j->c, 3001 + i, s, j->seed + (uint64_t)i);
  cu->cuStreamDestroy(s);
  CUcontext popped;
  cu->cuCtxPopCurrent(&popped);
  cu->cuDevicePrimaryCtxRelease(dev);
  return NULL;
}

Test(cuda, one_plan_two_threads) {
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

Test(cuda, broken_source_reports_compile_error) {
  setenv("OEQ_TEST_BREAK_SOURCE", "1", 1);
  oeq_problem_t *p = make_problem(P_LIPS, OEQ_FLOAT32, OEQ_FLOAT32, OEQ_LAYOUT_MUL_IR, 0);
  oeq_plan_t *plan = NULL;
  cr_assert_eq(oeq_plan_create_tp(p, OEQ_BACKEND_CUDA, 0, &plan), OEQ_ERROR_COMPILE);
  cr_expect_null(plan);
  cr_expect(strstr(oeq_last_error(), "this_is_a_deliberate_error") != NULL,
            "the NVRTC log should be in the message: %s", oeq_last_error());
  unsetenv("OEQ_TEST_BREAK_SOURCE");
  oeq_problem_destroy(p);
}

Test(cuda, host_pointer_rejected) {
  tp_case_t c;
  open_case(&c, make_problem(P_LIPS, OEQ_FLOAT32, OEQ_FLOAT32, OEQ_LAYOUT_MUL_IR, 0), OEQ_FLOAT32, OEQ_FLOAT32, 0);
  float *host = calloc((size_t)(c.x_dim + c.y_dim + c.z_dim + c.w_numel), sizeof(float));
  CUdeviceptr d;
  CK(cu->cuMemAlloc(&d, (size_t)(c.z_dim + c.w_numel + c.x_dim + c.y_dim) * 4));
  void *dv = (void *)(uintptr_t)d;
  cr_expect_eq(oeq_tp_forward(c.gpu, 1, host, dv, dv, dv, NULL), OEQ_ERROR_INVALID_ARGUMENT);
  cr_expect_eq(oeq_tp_forward(c.gpu, 1, dv, dv, dv, host, NULL), OEQ_ERROR_INVALID_ARGUMENT);
  /* Addresses that passed are remembered (ptr_memo.h); a host pointer in
   * any place after them is still caught, and the good ones still pass. */
  cr_expect_eq(oeq_tp_forward(c.gpu, 1, dv, dv, dv, dv, NULL), OEQ_SUCCESS, "%s", oeq_last_error());
  for (int place = 0; place < 4; place++) {
    void *a[4] = {dv, dv, dv, dv};
    a[place] = host + place;
    cr_expect_eq(oeq_tp_forward(c.gpu, 1, a[0], a[1], a[2], a[3], NULL), OEQ_ERROR_INVALID_ARGUMENT,
                 "host pointer as argument %d after device ones", place);
    cr_expect(strstr(oeq_last_error(), "host pointer") != NULL, "%s", oeq_last_error());
  }
  cr_expect_eq(oeq_tp_forward(c.gpu, 1, dv, dv, dv, dv, NULL), OEQ_SUCCESS, "%s", oeq_last_error());
  CK(cu->cuStreamSynchronize(NULL));
  cu->cuMemFree(d);
  free(host);
  close_case(&c);
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

static void remove_dir(const char *dir) {
  DIR *d = opendir(dir);
  char path[4096];
  for (struct dirent *e; d && (e = readdir(d));)
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
      snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
      unlink(path);
    }
  if (d) closedir(d);
  rmdir(dir);
}

static long file_bytes(const char *path, unsigned char *buf, long cap) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  long n = (long)fread(buf, 1, (size_t)cap, f);
  fclose(f);
  return n;
}

Test(cuda, disk_cache_hit_and_corrupt_file_rebuilt) {
  char dir[] = "/tmp/oeq-cache-test-XXXXXX", file[4096];
  cr_assert_not_null(mkdtemp(dir));
  setenv("OEQ_CACHE_DIR", dir, 1);
  oeq_kcache_clear_memory();
  oeq_problem_t *p = make_problem(P_LIPS, OEQ_FLOAT64, OEQ_FLOAT64, OEQ_LAYOUT_MUL_IR, 0);
  oeq_plan_t *plan = NULL;
  cr_assert_eq(oeq_plan_create_tp(p, OEQ_BACKEND_CUDA, 0, &plan), OEQ_SUCCESS, "%s", oeq_last_error());
  oeq_plan_destroy(plan);
  /* two programs a plan: the forward and the backward kernels (cuda.c) */
  cr_assert_eq(cache_files(dir, file, sizeof file), 2, "two cache files expected in %s", dir);
  static unsigned char good[1 << 22], now[1 << 22];
  long n = file_bytes(file, good, sizeof good);
  cr_assert(n > 100);
  /* A fresh in-memory state reads the disk. */
  oeq_kcache_clear_memory();
  cr_assert_eq(oeq_plan_create_tp(p, OEQ_BACKEND_CUDA, 0, &plan), OEQ_SUCCESS, "%s", oeq_last_error());
  oeq_plan_destroy(plan);
  /* Corrupt the payload: the file is ignored, the kernel rebuilt, the file replaced. */
  FILE *f = fopen(file, "r+b");
  fseek(f, n / 2, SEEK_SET);
  fputc(good[n / 2] ^ 0xff, f);
  fclose(f);
  oeq_kcache_clear_memory();
  cr_assert_eq(oeq_plan_create_tp(p, OEQ_BACKEND_CUDA, 0, &plan), OEQ_SUCCESS, "%s", oeq_last_error());
  tp_case_t c = {.problem = p, .gpu = plan, .it = OEQ_FLOAT64, .wt = OEQ_FLOAT64};
  oeq_problem_dims(p, &c.x_dim, &c.y_dim, &c.z_dim);
  oeq_problem_weight_numel(p, &c.w_numel);
  cr_assert_eq(oeq_plan_create_tp(p, OEQ_BACKEND_CPU, 0, &c.cpu), OEQ_SUCCESS);
  check_batch(&c, 77, NULL, 9);
  cr_expect_eq(file_bytes(file, now, sizeof now), n);
  cr_expect(memcmp(good, now, (size_t)n) == 0, "the corrupt cache file was not rebuilt");
  close_case(&c);
  remove_dir(dir);
}

/* ------------------------------------------------------------ CUDA graph */

Test(cuda, graph_capture_replays_identically) {
  tp_case_t c;
  open_case(&c, make_problem(P_MIXED, OEQ_FLOAT32, OEQ_FLOAT32, OEQ_LAYOUT_MUL_IR, 1), OEQ_FLOAT32, OEQ_FLOAT32, 1);
  const int64_t batch = 5000;
  test_rng_t rng = {42};
  array_t x = make_array(c.it, batch * c.x_dim, &rng), y = make_array(c.it, batch * c.y_dim, &rng);
  array_t w = make_array(c.wt, c.w_numel, &rng), dz = make_array(c.it, batch * c.z_dim, &rng);
  array_t out[4] = {make_array(c.it, batch * c.z_dim, NULL), make_array(c.it, batch * c.x_dim, NULL),
                    make_array(c.it, batch * c.y_dim, NULL), make_array(c.wt, c.w_numel, NULL)};
  void *D[8] = {(void *)(uintptr_t)x.dev, (void *)(uintptr_t)y.dev, (void *)(uintptr_t)w.dev,
                (void *)(uintptr_t)dz.dev, (void *)(uintptr_t)out[0].dev, (void *)(uintptr_t)out[1].dev,
                (void *)(uintptr_t)out[2].dev, (void *)(uintptr_t)out[3].dev};
  CUstream s;
  CK(cu->cuStreamCreate(&s, OEQ_CU_STREAM_NON_BLOCKING));
  /* Reference: direct calls. */
  cr_assert_eq(oeq_tp_forward(c.gpu, batch, D[0], D[1], D[2], D[4], s), OEQ_SUCCESS, "%s", oeq_last_error());
  cr_assert_eq(oeq_tp_backward(c.gpu, batch, D[0], D[1], D[2], D[3], D[5], D[6], D[7], s), OEQ_SUCCESS);
  CK(cu->cuStreamSynchronize(s));
  void *want[4];
  for (int i = 0; i < 4; i++) {
    want[i] = malloc((size_t)out[i].n * dsize(out[i].dtype));
    CK(cu->cuMemcpyDtoH(want[i], out[i].dev, (size_t)out[i].n * dsize(out[i].dtype)));
    poison(&out[i]);
  }
  CUgraph graph;
  CUgraphExec exec;
  CK(cu->cuStreamBeginCapture(s, OEQ_CU_STREAM_CAPTURE_MODE_GLOBAL));
  oeq_status_t f = oeq_tp_forward(c.gpu, batch, D[0], D[1], D[2], D[4], s);
  oeq_status_t b = oeq_tp_backward(c.gpu, batch, D[0], D[1], D[2], D[3], D[5], D[6], D[7], s);
  CK(cu->cuStreamEndCapture(s, &graph));
  cr_assert_eq(f, OEQ_SUCCESS, "forward under capture: %s", oeq_last_error());
  cr_assert_eq(b, OEQ_SUCCESS, "backward under capture: %s", oeq_last_error());
  CK(cu->cuGraphInstantiate(&exec, graph, 0));
  for (int rep = 0; rep < 3; rep++) {
    CK(cu->cuGraphLaunch(exec, s));
    CK(cu->cuStreamSynchronize(s));
    for (int i = 0; i < 3; i++) { /* z, dx, dy are deterministic bit for bit */
      void *got = malloc((size_t)out[i].n * dsize(out[i].dtype));
      CK(cu->cuMemcpyDtoH(got, out[i].dev, (size_t)out[i].n * dsize(out[i].dtype)));
      cr_expect(memcmp(got, want[i], (size_t)out[i].n * dsize(out[i].dtype)) == 0,
                "replay %d: output %d differs from the direct call", rep, i);
      free(got);
    }
    void *got = malloc((size_t)out[3].n * 4);
    CK(cu->cuMemcpyDtoH(got, out[3].dev, (size_t)out[3].n * 4));
    /* shared dw: block partials meet in atomics, in any order */
    char what[32];
    snprintf(what, sizeof what, "replay %d: dw", rep);
    expect_host_close(OEQ_FLOAT32, got, want[3], out[3].n, 1e-5, what);
    free(got);
  }
  cu->cuGraphExecDestroy(exec);
  cu->cuGraphDestroy(graph);
  cu->cuStreamDestroy(s);
  for (int i = 0; i < 4; i++) free(want[i]), free_array(&out[i]);
  free_array(&x), free_array(&y), free_array(&w), free_array(&dz);
  close_case(&c);
}
