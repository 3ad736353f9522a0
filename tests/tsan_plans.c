/* tsan_plans.c: plan creation and execution from many threads at once, for
 * ThreadSanitizer (oeq issue 14, case 5; .ci/test's tsan leg builds it with
 * -fsanitize=thread and without OpenMP, whose runtime is not instrumented).
 *
 * Threads at once: build problems and describe them, create and destroy
 * CPU plans, run one shared plan with distinct outputs (each result checked
 * against a single-threaded reference), fail calls and read their own
 * thread-local last error, and store / look up / evict kernel-cache entries
 * in one directory. A race is TSan's report and a non-zero exit; a wrong
 * result is a message and exit 1. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/kcache.h"
#include "oeq.h"

#define THREADS 8
#define ROUNDS 40
#define BATCH 5

static const oeq_plan_t *shared_plan;
static int64_t dx_dim, dy_dim, dz_dim, w_numel;
static double *in_x, *in_y, *in_w, *ref_z;
static int failures;
static pthread_mutex_t fail_lock = PTHREAD_MUTEX_INITIALIZER;

static void fail(const char *what) {
  pthread_mutex_lock(&fail_lock);
  failures++;
  fprintf(stderr, "tsan_plans: %s (%s)\n", what, oeq_last_error());
  pthread_mutex_unlock(&fail_lock);
}

static void own_problem_and_plans(int id) {
  oeq_problem_t *p = NULL;
  if (oeq_problem_create_channelwise("8x0e+8x1o", "0e+1o", "0e+1o+1e", &p) != OEQ_SUCCESS) {
    fail("channelwise");
    return;
  }
  oeq_problem_set_dtypes(p, OEQ_FLOAT64, OEQ_FLOAT64);
  size_t need = 0;
  if (oeq_problem_describe(p, NULL, 0, &need) != OEQ_SUCCESS || need == 0) fail("describe");
  oeq_plan_t *tp = NULL, *conv = NULL;
  if (oeq_plan_create_tp(p, OEQ_BACKEND_CPU, 0, &tp) != OEQ_SUCCESS) fail("plan_create_tp");
  if (oeq_plan_create_conv(p, OEQ_BACKEND_CPU, 0, id % 2 ? OEQ_CONV_DETERMINISTIC : 0, &conv) != OEQ_SUCCESS)
    fail("plan_create_conv");
  oeq_problem_destroy(p); /* the plans keep what they need */
  oeq_plan_destroy(tp);
  oeq_plan_destroy(conv);
}

static void run_shared_plan(void) {
  double *z = calloc((size_t)(BATCH * dz_dim), sizeof *z);
  double *dx = calloc((size_t)(BATCH * dx_dim), sizeof *dx);
  double *dy = calloc((size_t)(BATCH * dy_dim), sizeof *dy);
  double *dw = calloc((size_t)(BATCH * w_numel + 1), sizeof *dw);
  if (!z || !dx || !dy || !dw) {
    fail("out of memory");
  } else {
    if (oeq_tp_forward(shared_plan, BATCH, in_x, in_y, in_w, z, NULL) != OEQ_SUCCESS) fail("tp_forward");
    if (memcmp(z, ref_z, (size_t)(BATCH * dz_dim) * sizeof *z) != 0) fail("forward differs from the reference");
    if (oeq_tp_backward(shared_plan, BATCH, in_x, in_y, in_w, z, dx, dy, dw, NULL) != OEQ_SUCCESS)
      fail("tp_backward");
  }
  free(z);
  free(dx);
  free(dy);
  free(dw);
}

/* Each thread's failure message is its own. */
static void own_last_error(int id) {
  char name[32];
  snprintf(name, sizeof name, "%dq", 100 + id);
  oeq_problem_t *p = NULL;
  if (oeq_problem_create(name, "0e", "0e", &p) == OEQ_SUCCESS) fail("bad irreps accepted");
  if (!strstr(oeq_last_error(), name)) fail("another thread's message");
}

static void cache_traffic(int id, int round) {
  char source[64];
  snprintf(source, sizeof source, "kernel %d", (id + round) % 4);
  oeq_kcache_key_t key;
  oeq_kcache_make_key(&key, source, "sm_80", "tsan");
  void *image = NULL;
  size_t size = 0;
  if (oeq_kcache_lookup(&key, &image, &size)) {
    if (size != strlen(source) + 1 || memcmp(image, source, size) != 0) fail("cache returned another image");
    free(image);
  }
  oeq_kcache_store(&key, source, strlen(source) + 1);
  if (round % 3 == 2) oeq_kcache_evict(&key);
}

static void *worker(void *arg) {
  int id = (int)(intptr_t)arg;
  for (int r = 0; r < ROUNDS; r++) {
    own_problem_and_plans(id);
    run_shared_plan();
    own_last_error(id);
    cache_traffic(id, r);
  }
  return NULL;
}

int main(void) {
  char dir[] = "/tmp/oeq-tsan-XXXXXX";
  if (!mkdtemp(dir)) return 2;
  setenv("OEQ_CACHE_DIR", dir, 1);
  oeq_problem_t *p = NULL;
  oeq_plan_t *plan = NULL;
  if (oeq_problem_create_fully_connected("4x0e+2x1o", "0e+1o", "3x0e+2x1o+1x2e", &p) != OEQ_SUCCESS ||
      oeq_problem_set_dtypes(p, OEQ_FLOAT64, OEQ_FLOAT64) != OEQ_SUCCESS ||
      oeq_problem_set_shared_weights(p, 0) != OEQ_SUCCESS || oeq_plan_create_tp(p, OEQ_BACKEND_CPU, 0, &plan) != OEQ_SUCCESS ||
      oeq_problem_dims(p, &dx_dim, &dy_dim, &dz_dim) != OEQ_SUCCESS || oeq_problem_weight_numel(p, &w_numel) != OEQ_SUCCESS) {
    fprintf(stderr, "tsan_plans: setup failed: %s\n", oeq_last_error());
    return 1;
  }
  oeq_problem_destroy(p);
  shared_plan = plan;
  in_x = malloc(sizeof *in_x * (size_t)(BATCH * dx_dim));
  in_y = malloc(sizeof *in_y * (size_t)(BATCH * dy_dim));
  in_w = malloc(sizeof *in_w * (size_t)(BATCH * w_numel));
  ref_z = malloc(sizeof *ref_z * (size_t)(BATCH * dz_dim));
  if (!in_x || !in_y || !in_w || !ref_z) return 2;
  for (int64_t i = 0; i < BATCH * dx_dim; i++) in_x[i] = (double)(i % 11) / 11.0 - 0.4;
  for (int64_t i = 0; i < BATCH * dy_dim; i++) in_y[i] = (double)(i % 5) / 5.0 - 0.3;
  for (int64_t i = 0; i < BATCH * w_numel; i++) in_w[i] = (double)(i % 13) / 13.0 - 0.5;
  if (oeq_tp_forward(plan, BATCH, in_x, in_y, in_w, ref_z, NULL) != OEQ_SUCCESS) return 1;
  pthread_t th[THREADS];
  for (int i = 0; i < THREADS; i++)
    if (pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i) != 0) return 2;
  for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
  oeq_plan_destroy(plan);
  oeq_kcache_clear_memory();
  free(in_x);
  free(in_y);
  free(in_w);
  free(ref_z);
  char cmd[64];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "tsan_plans: could not remove %s\n", dir);
  if (failures) {
    fprintf(stderr, "tsan_plans: %d failures\n", failures);
    return 1;
  }
  printf("tsan_plans: %d threads x %d rounds (problems, plans, shared-plan runs, last errors, kernel cache): passed\n",
         THREADS, ROUNDS);
  return 0;
}
