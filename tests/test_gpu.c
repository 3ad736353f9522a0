/* test_gpu.c: the GPU backends (CUDA and HIP) against the CPU backend.
 *
 * Every case is written once (RT_TEST) and runs in two suites, `cuda` and
 * `hip`, each skipping itself with the reason where its runtime has no
 * device (tests/gpu_runtime.h reaches the drivers through oeq's own dlopen
 * tables, so this builds and skips on machines without CUDA or ROCm). Every
 * output is poisoned with NaN before each run, inputs are fresh random
 * numbers, and both the relative Frobenius error and the largest element
 * error are checked. The *_absent suites run where a runtime is missing:
 * the backend must then say why, through statuses. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/gpu.h"
#include "backend/kcache.h"
#include "gpu_runtime.h"
#include "oeq.h"
#include "support.h"

#include "gpu_cases.h"

TestSuite(cuda, .timeout = 600);
TestSuite(hip, .timeout = 600);

#define GPU_TEST(name) RT_TEST(cuda, hip, name)

/* ------------------------------------------------------------ device arrays */

typedef struct array {
  oeq_backend_t rt;
  oeq_dtype_t dtype;
  int64_t n;
  void *host;
  void *dev;
} array_t;

static size_t bytes_of(oeq_dtype_t t, int64_t n) { return (size_t)(n > 0 ? n : 1) * dsize(t); }

static array_t make_array(oeq_backend_t rt, oeq_dtype_t t, int64_t n, test_rng_t *rng) {
  array_t a = {rt, t, n, calloc(1, bytes_of(t, n)), NULL};
  cr_assert_not_null(a.host);
  if (rng) {
    if (t == OEQ_FLOAT64)
      test_fill_double(rng, a.host, n);
    else
      test_fill_float(rng, a.host, n);
  }
  RT_CK(rt, test_rt_alloc(rt, &a.dev, bytes_of(t, n)));
  if (rng && n > 0) RT_CK(rt, test_rt_to_device(rt, a.dev, a.host, (size_t)n * dsize(t)));
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
  RT_CK(a->rt, test_rt_to_device(a->rt, a->dev, nan, (size_t)a->n * dsize(a->dtype)));
  free(nan);
}

static void free_array(array_t *a) {
  free(a->host);
  test_rt_free(a->rt, a->dev);
}

/* A device array's contents (malloc'ed). */
static void *download(const array_t *a) {
  void *got = malloc(bytes_of(a->dtype, a->n));
  cr_assert_not_null(got);
  RT_CK(a->rt, test_rt_to_host(a->rt, got, a->dev, (size_t)a->n * dsize(a->dtype)));
  return got;
}

/* GPU result (a->dev) against the CPU's (a->host). */
static void expect_close(const array_t *a, double tol, const char *what) {
  if (a->n == 0) return;
  void *got = download(a);
  expect_host_close(a->dtype, got, a->host, a->n, tol, what);
  free(got);
}

/* -------------------------------------------------------- the comparison */

/* Forward and backward at one batch size on `stream`, checked. */
static void check_batch(const tp_case_t *c, int64_t batch, void *stream, uint64_t seed) {
  const oeq_backend_t rt = c->rt;
  test_rng_t rng = {seed * 0x9E3779B97F4A7C15ULL + 1};
  const double tol = (c->it == OEQ_FLOAT64 && c->wt == OEQ_FLOAT64) ? 1e-12 : 1e-5;
  const int64_t w_rows = c->shared ? 1 : batch;
  array_t x = make_array(rt, c->it, batch * c->x_dim, &rng), y = make_array(rt, c->it, batch * c->y_dim, &rng);
  array_t w = make_array(rt, c->wt, w_rows * c->w_numel, &rng), dz = make_array(rt, c->it, batch * c->z_dim, &rng);
  array_t z = make_array(rt, c->it, batch * c->z_dim, NULL), dx = make_array(rt, c->it, batch * c->x_dim, NULL);
  array_t dy = make_array(rt, c->it, batch * c->y_dim, NULL), dw = make_array(rt, c->wt, w_rows * c->w_numel, NULL);
  cpu_reference(c, batch, x.host, y.host, w.host, dz.host, z.host, dx.host, dy.host, dw.host);
  poison(&z), poison(&dx), poison(&dy), poison(&dw);
  void *wd = c->w_numel ? w.dev : NULL, *dwd = c->w_numel ? dw.dev : NULL;
  cr_assert_eq(oeq_tp_forward(c->gpu, batch, x.dev, y.dev, wd, z.dev, stream), OEQ_SUCCESS,
               "%s forward, batch %lld: %s", test_rt_name(rt), (long long)batch, oeq_last_error());
  cr_assert_eq(oeq_tp_backward(c->gpu, batch, x.dev, y.dev, wd, dz.dev, dx.dev, dy.dev, dwd, stream),
               OEQ_SUCCESS, "%s backward, batch %lld: %s", test_rt_name(rt), (long long)batch,
               oeq_last_error());
  RT_CK(rt, test_rt_sync(rt, stream));
  char what[96];
  snprintf(what, sizeof what, "%s batch %lld z", test_rt_name(rt), (long long)batch);
  expect_close(&z, tol, what);
  snprintf(what, sizeof what, "%s batch %lld dx", test_rt_name(rt), (long long)batch);
  expect_close(&dx, tol, what);
  snprintf(what, sizeof what, "%s batch %lld dy", test_rt_name(rt), (long long)batch);
  expect_close(&dy, tol, what);
  snprintf(what, sizeof what, "%s batch %lld dw", test_rt_name(rt), (long long)batch);
  /* Shared dw sums the whole batch: float32 sums carry more rounding. */
  expect_close(&dw, c->shared && c->wt == OEQ_FLOAT32 ? 1e-4 : tol, what);
  array_t *all[] = {&x, &y, &w, &dz, &z, &dx, &dy, &dw};
  for (int i = 0; i < 8; i++) free_array(all[i]);
}

static void check_problem(oeq_backend_t rt, problem_id_t id, oeq_dtype_t it, oeq_dtype_t wt,
                          oeq_layout_t layout, int shared, int big) {
  RT_REQUIRE(rt, TEST_RT_MEMORY);
  tp_case_t c;
  open_case(&c, rt, make_problem(id, it, wt, layout, shared), it, wt, shared);
  const int64_t batches[] = {1, 7, 1000, 200000};
  for (int i = 0; i < (big ? 4 : 3); i++) check_batch(&c, batches[i], NULL, (uint64_t)(i + 17 * id));
  close_case(&c);
}

/* One line a problem case: GPU_PROBLEM(name, problem, irrep dtype, weight
 * dtype, layout, shared weights, with batch 200,000). */
#define GPU_PROBLEM(name, id, it, wt, layout, shared, big) \
  GPU_TEST(name) { check_problem(rt, id, it, wt, layout, shared, big); }

#define F32 OEQ_FLOAT32
#define F64 OEQ_FLOAT64
#define MUL_IR OEQ_LAYOUT_MUL_IR
#define IR_MUL OEQ_LAYOUT_IR_MUL

/* Every mode, dtype combination, layout and weight sharing. */
GPU_PROBLEM(mixed_f32_mul_ir_per_row, P_MIXED, F32, F32, MUL_IR, 0, 1)
GPU_PROBLEM(mixed_f32_mul_ir_shared, P_MIXED, F32, F32, MUL_IR, 1, 1)
GPU_PROBLEM(mixed_f32_ir_mul_per_row, P_MIXED, F32, F32, IR_MUL, 0, 0)
GPU_PROBLEM(mixed_f32_ir_mul_shared, P_MIXED, F32, F32, IR_MUL, 1, 0)
GPU_PROBLEM(mixed_f64_mul_ir_per_row, P_MIXED, F64, F64, MUL_IR, 0, 1)
GPU_PROBLEM(mixed_f64_mul_ir_shared, P_MIXED, F64, F64, MUL_IR, 1, 0)
GPU_PROBLEM(mixed_f64_ir_mul_per_row, P_MIXED, F64, F64, IR_MUL, 0, 0)
GPU_PROBLEM(mixed_f64_ir_mul_shared, P_MIXED, F64, F64, IR_MUL, 1, 0)
GPU_PROBLEM(mixed_f32_irreps_f64_weights, P_MIXED, F32, F64, MUL_IR, 0, 0)
GPU_PROBLEM(mixed_f64_irreps_f32_weights_shared, P_MIXED, F64, F32, IR_MUL, 1, 0)

/* The forward that prefetches per-row weights into registers. */
GPU_PROBLEM(direct_f32_mul_ir_per_row, P_DIRECT, F32, F32, MUL_IR, 0, 1)
GPU_PROBLEM(direct_f32_ir_mul_per_row, P_DIRECT, F32, F32, IR_MUL, 0, 0)
GPU_PROBLEM(direct_f64_mul_ir_per_row, P_DIRECT, F64, F64, MUL_IR, 0, 0)
GPU_PROBLEM(direct_f32_irreps_f64_weights, P_DIRECT, F32, F64, MUL_IR, 0, 0)
GPU_PROBLEM(direct_f32_shared, P_DIRECT, F32, F32, MUL_IR, 1, 0)

/* Anchor-shaped problems. */
GPU_PROBLEM(mace_large_f32, P_MACE, F32, F32, MUL_IR, 0, 1)
GPU_PROBLEM(mace_large_f64, P_MACE, F64, F64, MUL_IR, 0, 0)
GPU_PROBLEM(nequip_lips_f32_ir_mul, P_LIPS, F32, F32, IR_MUL, 0, 0)
GPU_PROBLEM(diffdock_f32, P_DIFFDOCK, F32, F32, MUL_IR, 0, 1)
GPU_PROBLEM(tetris_shared_f32, P_TETRIS, F32, F32, MUL_IR, 1, 1)
GPU_PROBLEM(tetris1_shared_f32, P_TETRIS1, F32, F32, MUL_IR, 1, 0)
GPU_PROBLEM(e3tools_transformer_shared_f64_ir_mul, P_E3T, F64, F64, IR_MUL, 1, 0)
GPU_PROBLEM(e3tools_transformer_per_row_f32, P_E3T, F32, F32, MUL_IR, 0, 0)
/* 25.6 KB of shared dw: on tensor cores from sm_80 on (tp_dw_mma.c);
 * before, and on HIP, a private copy per warp and 1-warp backward blocks */
GPU_PROBLEM(e3tools_transformer_shared_f32, P_E3T, F32, F32, MUL_IR, 1, 0)
GPU_PROBLEM(e3tools_transformer_shared_f32_irreps_f64_weights, P_E3T, F32, F64, MUL_IR, 1, 0)
/* CUDA tensor cores: dw over several tile groups (tp_dw_mma.c), the
 * forward (tp_fwd_mma.c, float32 here: float64 rows this wide take the
 * warp-a-row forward); HIP runs the same problems without them */
GPU_PROBLEM(pairs_shared_f32_mul_ir, P_PAIRS, F32, F32, MUL_IR, 1, 1)
GPU_PROBLEM(pairs_shared_f64_ir_mul, P_PAIRS, F64, F64, IR_MUL, 1, 0)
GPU_PROBLEM(pairs_shared_f32_irreps_f64_weights, P_PAIRS, F32, F64, MUL_IR, 1, 0)
GPU_PROBLEM(e3tools_gap_shared_f32, P_E3T_GAP, F32, F32, MUL_IR, 1, 0)
GPU_PROBLEM(e3tools_gap_shared_f32_ir_mul, P_E3T_GAP, F32, F32, IR_MUL, 1, 0)
GPU_PROBLEM(wide_shared_f32, P_WIDE, F32, F32, MUL_IR, 1, 0)
GPU_PROBLEM(wide13_shared_f32, P_WIDE13, F32, F32, MUL_IR, 1, 0)
/* 44 dw tile groups (DMMA), 4-row tiles */
GPU_PROBLEM(wide_shared_f64, P_WIDE, F64, F64, IR_MUL, 1, 0)

/* ------------------------------------------------------ streams, threads */

GPU_TEST(two_plans_two_streams) {
  RT_REQUIRE(rt, TEST_RT_MEMORY | TEST_RT_STREAMS);
  tp_case_t a, b;
  open_case(&a, rt, make_problem(P_LIPS, F32, F32, MUL_IR, 0), F32, F32, 0);
  open_case(&b, rt, make_problem(P_MIXED, F64, F64, MUL_IR, 1), F64, F64, 1);
  void *s1, *s2;
  RT_CK(rt, test_rt_stream_create(rt, &s1));
  RT_CK(rt, test_rt_stream_create(rt, &s2));
  check_batch(&a, 5003, s1, 3);
  check_batch(&b, 4999, s2, 4);
  test_rt_stream_destroy(rt, s1);
  test_rt_stream_destroy(rt, s2);
  close_case(&a);
  close_case(&b);
}

typedef struct thread_job {
  const tp_case_t *c;
  uint64_t seed;
} thread_job_t;

/* A thread with no current device or context: the plan brings its own;
 * the thread makes the device current for the test's own allocations. */
static void *run_thread(void *arg) {
  thread_job_t *j = arg;
  const oeq_backend_t rt = j->c->rt;
  void *s = NULL;
  int r = test_rt_enter(rt);
  cr_expect_eq(r, 0, "%s thread: enter: %s", test_rt_name(rt), test_rt_error(rt, r));
  r = test_rt_stream_create(rt, &s);
  cr_expect_eq(r, 0, "%s thread: stream: %s", test_rt_name(rt), test_rt_error(rt, r));
  for (int i = 0; i < 3; i++) check_batch(j->c, 3001 + i, s, j->seed + (uint64_t)i);
  test_rt_stream_destroy(rt, s);
  test_rt_leave(rt);
  return NULL;
}

GPU_TEST(one_plan_two_threads) {
  RT_REQUIRE(rt, TEST_RT_MEMORY | TEST_RT_STREAMS);
  tp_case_t c;
  open_case(&c, rt, make_problem(P_MACE, F32, F32, MUL_IR, 0), F32, F32, 0);
  pthread_t t1, t2;
  thread_job_t j1 = {&c, 100}, j2 = {&c, 200};
  cr_assert_eq(pthread_create(&t1, NULL, run_thread, &j1), 0);
  cr_assert_eq(pthread_create(&t2, NULL, run_thread, &j2), 0);
  pthread_join(t1, NULL);
  pthread_join(t2, NULL);
  close_case(&c);
}

/* ------------------------------------------------------- failure paths */

GPU_TEST(broken_source_reports_compile_error) {
  RT_REQUIRE(rt, 0);
  oeq_gpu_test_append_source("this_is_a_deliberate_error_for_oeq_tests;\n");
  oeq_problem_t *p = make_problem(P_LIPS, F32, F32, MUL_IR, 0);
  oeq_plan_t *plan = NULL;
  const oeq_status_t st = oeq_plan_create_tp(p, rt, 0, &plan);
  oeq_gpu_test_append_source(NULL);
  cr_expect_eq(st, OEQ_ERROR_COMPILE, "%s: status %d: %s", test_rt_name(rt), (int)st, oeq_last_error());
  cr_expect_null(plan);
  cr_expect(strstr(oeq_last_error(), "this_is_a_deliberate_error") != NULL,
            "the %s compiler's log should be in the message: %s", test_rt_name(rt), oeq_last_error());
  /* and with the source whole again, the same problem compiles */
  cr_expect_eq(oeq_plan_create_tp(p, rt, 0, &plan), OEQ_SUCCESS, "%s", oeq_last_error());
  oeq_plan_destroy(plan);
  oeq_problem_destroy(p);
}

GPU_TEST(host_pointer_rejected) {
  RT_REQUIRE(rt, TEST_RT_MEMORY);
  tp_case_t c;
  open_case(&c, rt, make_problem(P_LIPS, F32, F32, MUL_IR, 0), F32, F32, 0);
  float *host = calloc((size_t)(c.x_dim + c.y_dim + c.z_dim + c.w_numel), sizeof(float));
  cr_assert_not_null(host);
  void *dv = NULL;
  RT_CK(rt, test_rt_alloc(rt, &dv, (size_t)(c.z_dim + c.w_numel + c.x_dim + c.y_dim) * 4));
  cr_expect_eq(oeq_tp_forward(c.gpu, 1, host, dv, dv, dv, NULL), OEQ_ERROR_INVALID_ARGUMENT);
  cr_expect_eq(oeq_tp_forward(c.gpu, 1, dv, dv, dv, host, NULL), OEQ_ERROR_INVALID_ARGUMENT);
  /* Addresses that passed are remembered (ptr_memo.h); a host pointer in
   * any place after them is still caught, and the good ones still pass. */
  cr_expect_eq(oeq_tp_forward(c.gpu, 1, dv, dv, dv, dv, NULL), OEQ_SUCCESS, "%s", oeq_last_error());
  for (int place = 0; place < 4; place++) {
    void *a[4] = {dv, dv, dv, dv};
    a[place] = host + place;
    cr_expect_eq(oeq_tp_forward(c.gpu, 1, a[0], a[1], a[2], a[3], NULL), OEQ_ERROR_INVALID_ARGUMENT,
                 "%s: host pointer as argument %d after device ones", test_rt_name(rt), place);
    cr_expect(strstr(oeq_last_error(), "host pointer") != NULL, "%s", oeq_last_error());
  }
  cr_expect_eq(oeq_tp_forward(c.gpu, 1, dv, dv, dv, dv, NULL), OEQ_SUCCESS, "%s", oeq_last_error());
  RT_CK(rt, test_rt_sync(rt, NULL));
  test_rt_free(rt, dv);
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

GPU_TEST(disk_cache_hit_and_corrupt_file_rebuilt) {
  RT_REQUIRE(rt, TEST_RT_MEMORY);
  char dir[] = "/tmp/oeq-cache-test-XXXXXX", file[4096];
  cr_assert_not_null(mkdtemp(dir));
  setenv("OEQ_CACHE_DIR", dir, 1);
  oeq_kcache_clear_memory();
  oeq_problem_t *p = make_problem(P_LIPS, F64, F64, MUL_IR, 0);
  oeq_plan_t *plan = NULL;
  cr_assert_eq(oeq_plan_create_tp(p, rt, 0, &plan), OEQ_SUCCESS, "%s", oeq_last_error());
  oeq_plan_destroy(plan);
  /* two programs a plan: the forward and the backward kernels */
  const int files = cache_files(dir, file, sizeof file);
  cr_assert_eq(files, 2, "%s: two cache files expected in %s, found %d", test_rt_name(rt), dir, files);
  static unsigned char good[1 << 22], now[1 << 22];
  long n = file_bytes(file, good, sizeof good);
  cr_assert(n > 100, "%s: %ld bytes", file, n);
  /* A fresh in-memory state reads the disk. */
  oeq_kcache_clear_memory();
  cr_assert_eq(oeq_plan_create_tp(p, rt, 0, &plan), OEQ_SUCCESS, "%s", oeq_last_error());
  oeq_plan_destroy(plan);
  /* Corrupt the payload: the file is ignored, the kernel rebuilt, the file replaced. */
  FILE *f = fopen(file, "r+b");
  cr_assert_not_null(f);
  fseek(f, n / 2, SEEK_SET);
  fputc(good[n / 2] ^ 0xff, f);
  fclose(f);
  oeq_kcache_clear_memory();
  cr_assert_eq(oeq_plan_create_tp(p, rt, 0, &plan), OEQ_SUCCESS, "%s", oeq_last_error());
  tp_case_t c = {.rt = rt, .problem = p, .gpu = plan, .it = F64, .wt = F64};
  oeq_problem_dims(p, &c.x_dim, &c.y_dim, &c.z_dim);
  oeq_problem_weight_numel(p, &c.w_numel);
  cr_assert_eq(oeq_plan_create_tp(p, OEQ_BACKEND_CPU, 0, &c.cpu), OEQ_SUCCESS);
  check_batch(&c, 77, NULL, 9);
  cr_expect_eq(file_bytes(file, now, sizeof now), n);
  cr_expect(memcmp(good, now, (size_t)n) == 0, "the corrupt cache file %s was not rebuilt", file);
  close_case(&c);
  remove_dir(dir);
  unsetenv("OEQ_CACHE_DIR");
}

/* ----------------------------------------------------------- graph capture */

GPU_TEST(graph_capture_replays_identically) {
  RT_REQUIRE(rt, TEST_RT_MEMORY | TEST_RT_STREAMS | TEST_RT_GRAPHS);
  tp_case_t c;
  open_case(&c, rt, make_problem(P_MIXED, F32, F32, MUL_IR, 1), F32, F32, 1);
  const int64_t batch = 5000;
  test_rng_t rng = {42};
  array_t x = make_array(rt, c.it, batch * c.x_dim, &rng), y = make_array(rt, c.it, batch * c.y_dim, &rng);
  array_t w = make_array(rt, c.wt, c.w_numel, &rng), dz = make_array(rt, c.it, batch * c.z_dim, &rng);
  array_t out[4] = {make_array(rt, c.it, batch * c.z_dim, NULL), make_array(rt, c.it, batch * c.x_dim, NULL),
                    make_array(rt, c.it, batch * c.y_dim, NULL), make_array(rt, c.wt, c.w_numel, NULL)};
  void *D[8] = {x.dev, y.dev, w.dev, dz.dev, out[0].dev, out[1].dev, out[2].dev, out[3].dev};
  void *s;
  RT_CK(rt, test_rt_stream_create(rt, &s));
  /* Reference: direct calls. */
  cr_assert_eq(oeq_tp_forward(c.gpu, batch, D[0], D[1], D[2], D[4], s), OEQ_SUCCESS, "%s", oeq_last_error());
  cr_assert_eq(oeq_tp_backward(c.gpu, batch, D[0], D[1], D[2], D[3], D[5], D[6], D[7], s), OEQ_SUCCESS,
               "%s", oeq_last_error());
  RT_CK(rt, test_rt_sync(rt, s));
  void *want[4];
  for (int i = 0; i < 4; i++) {
    want[i] = download(&out[i]);
    poison(&out[i]);
  }
  void *graph = NULL;
  RT_CK(rt, test_rt_capture_begin(rt, s));
  oeq_status_t f = oeq_tp_forward(c.gpu, batch, D[0], D[1], D[2], D[4], s);
  oeq_status_t b = oeq_tp_backward(c.gpu, batch, D[0], D[1], D[2], D[3], D[5], D[6], D[7], s);
  RT_CK(rt, test_rt_capture_end(rt, s, &graph));
  cr_assert_eq(f, OEQ_SUCCESS, "forward under capture: %s", oeq_last_error());
  cr_assert_eq(b, OEQ_SUCCESS, "backward under capture: %s", oeq_last_error());
  static const char *const names[3] = {"z", "dx", "dy"};
  for (int rep = 0; rep < 3; rep++) {
    RT_CK(rt, test_rt_graph_launch(rt, graph, s));
    RT_CK(rt, test_rt_sync(rt, s));
    for (int i = 0; i < 3; i++) { /* z, dx, dy are deterministic bit for bit */
      void *got = download(&out[i]);
      cr_expect(memcmp(got, want[i], (size_t)out[i].n * dsize(out[i].dtype)) == 0,
                "replay %d: %s (%lld values) differs from the direct call", rep, names[i],
                (long long)out[i].n);
      free(got);
    }
    void *got = download(&out[3]);
    /* shared dw: block partials meet in atomics, in any order */
    char what[32];
    snprintf(what, sizeof what, "replay %d: dw", rep);
    expect_host_close(F32, got, want[3], out[3].n, 1e-5, what);
    free(got);
  }
  test_rt_graph_destroy(rt, graph);
  test_rt_stream_destroy(rt, s);
  for (int i = 0; i < 4; i++) free(want[i]), free_array(&out[i]);
  free_array(&x), free_array(&y), free_array(&w), free_array(&dz);
  close_case(&c);
}

/* ------------------------------------------------ without a device (CI) */

RT_TEST(cuda_absent, hip_absent, unavailable_backend_says_why) {
  if (oeq_backend_available(rt)) cr_skip_test("a %s device is present", test_rt_name(rt));
  const char *why = oeq_last_error();
  cr_expect(why[0] != '\0', "no reason given");
  cr_log_info("%s backend unavailable: %s", test_rt_name(rt), why);
  oeq_problem_t *p = make_problem(P_LIPS, F32, F32, MUL_IR, 0);
  oeq_plan_t *plan = NULL;
  cr_expect_eq(oeq_plan_create_tp(p, rt, 0, &plan), OEQ_ERROR_BACKEND_UNAVAILABLE);
  cr_expect_null(plan);
  cr_expect(oeq_last_error()[0] != '\0');
  cr_expect_eq(oeq_plan_create_conv(p, rt, 0, 0, &plan), OEQ_ERROR_BACKEND_UNAVAILABLE);
  cr_expect_null(plan);
  /* AUTO still makes a plan (on the other GPU runtime or the CPU). */
  cr_expect_eq(oeq_plan_create_tp(p, OEQ_BACKEND_AUTO, 0, &plan), OEQ_SUCCESS, "%s", oeq_last_error());
  oeq_backend_t chosen;
  cr_expect_eq(oeq_plan_backend(plan, &chosen), OEQ_SUCCESS);
  cr_expect_neq(chosen, rt);
  oeq_plan_destroy(plan);
  oeq_problem_destroy(p);
}
