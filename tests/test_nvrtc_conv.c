/* test_nvrtc_conv.c: the generated conv source compiles with NVRTC for
 * sm_80 and sm_90, with no GPU needed (CI).
 *
 * mace-large and nequip-lips: float32 in atomic, deterministic (int64
 * indices) and Kahan mode, float64 deterministic; plus a
 * small problem with every connection mode (uvuv's and uvw's backward have
 * their own code paths) and shared weights; none with a compiler warning.
 * Compiles run on two threads (CI has two cores). Skips itself where
 * libnvrtc cannot be loaded. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda_api.h"
#include "codegen/conv_codegen.h"
#include "oeq.h"
#include "problem.h"
#include "schedule.h"
#include "support.h"

typedef struct {
  char label[160];
  oeq_problem_t *problem;
  oeq_conv_options_t opt;
  int failed;
  char message[OEQ_ERROR_MESSAGE_MAX + 512];
} job_t;

static void run_job(job_t *j) {
  oeq_error_t err = {0};
  oeq_schedule_t *s = NULL;
  if (oeq_schedule_build(j->problem, &s, &err) != OEQ_SUCCESS) {
    j->failed = 1;
    snprintf(j->message, sizeof j->message, "%s: schedule: %s", j->label, err.message);
    return;
  }
  oeq_codegen_target_t target = {OEQ_DIALECT_CUDA, 4, 163 * 1024, 80};
  oeq_conv_source_t src = {0};
  if (oeq_codegen_conv(s, &target, &j->opt, &src, &err) != OEQ_SUCCESS) {
    j->failed = 1;
    snprintf(j->message, sizeof j->message, "%s: codegen: %s", j->label, err.message);
    oeq_schedule_free(s);
    return;
  }
  const int archs[2] = {80, 90};
  for (int a = 0; a < 2 && !j->failed; a++) {
    void *bin = NULL;
    size_t size = 0;
    char *log = NULL;
    if (oeq_nvrtc_compile(src.text, archs[a], NULL, 0, &bin, &size, &log, &err) != OEQ_SUCCESS) {
      j->failed = 1;
      snprintf(j->message, sizeof j->message, "%s sm_%d: %.900s", j->label, archs[a], err.message);
    } else if (test_first_warning(log)) {
      const char *w = test_first_warning(log);
      j->failed = 1;
      snprintf(j->message, sizeof j->message, "%s sm_%d: compiler warning: %.300s", j->label,
               archs[a], w);
    }
    free(bin);
    free(log);
  }
  free(src.text);
  oeq_schedule_free(s);
}

typedef struct {
  job_t *jobs;
  int n;
  int next;
  pthread_mutex_t lock;
} pool_t;

static void *worker(void *arg) {
  pool_t *p = arg;
  for (;;) {
    pthread_mutex_lock(&p->lock);
    int i = p->next++;
    pthread_mutex_unlock(&p->lock);
    if (i >= p->n) return NULL;
    run_job(&p->jobs[i]);
  }
}

static oeq_problem_t *make(const char *which, oeq_dtype_t dt) {
  oeq_problem_t *p = NULL;
  oeq_status_t st;
  if (!strcmp(which, "mace-large"))
    st = oeq_problem_create_channelwise("128x0e+128x1o+128x2e", "1x0e+1x1o+1x2e+1x3o", "0e+1o+2e+3o", &p);
  else if (!strcmp(which, "nequip-lips"))
    st = oeq_problem_create_channelwise("32x0o+32x0e+32x1o+32x1e+32x2o+32x2e", "0e+1o+2e",
                                        "32x0o+32x0e+32x1o+32x1e+32x2o+32x2e", &p);
  else {
    st = oeq_problem_create("5x0e+4x1o", "3x0e+4x1o", "5x0e+4x1o+4x1e+15x0e+16x1e", &p);
    struct { int i1, i2, o; oeq_mode_t m; int w; } ins[] = {
        {0, 0, 0, OEQ_MODE_UVU, 1}, {1, 1, 2, OEQ_MODE_UUU, 1}, {1, 1, 2, OEQ_MODE_UUW, 1},
        {0, 1, 1, OEQ_MODE_UVV, 0}, {0, 0, 3, OEQ_MODE_UVUV, 1}, {1, 1, 4, OEQ_MODE_UVUV, 0},
        {0, 1, 1, OEQ_MODE_UVW, 1},
    };
    for (size_t i = 0; st == OEQ_SUCCESS && i < sizeof ins / sizeof ins[0]; i++)
      st = oeq_problem_add_instruction(p, ins[i].i1, ins[i].i2, ins[i].o, ins[i].m, ins[i].w, 1.0);
    if (st == OEQ_SUCCESS) st = oeq_problem_set_shared_weights(p, 1);
  }
  cr_assert_eq(st, OEQ_SUCCESS, "%s: %s", which, oeq_last_error());
  cr_assert_eq(oeq_problem_set_dtypes(p, dt, dt), OEQ_SUCCESS);
  return p;
}

Test(nvrtc_conv, anchor_problems_all_modes, .timeout = 300) {
  oeq_error_t err;
  /* .ci/test's sanitizer and distcheck legs skip run-time-compile suites. */
  if (getenv("OEQ_SKIP_RTC_TESTS")) cr_skip_test("OEQ_SKIP_RTC_TESTS is set");
  if (!oeq_nvrtc_api(&err)) cr_skip_test("%s", err.message);
  const char *names[3] = {"mace-large", "nequip-lips", "every-mode"};
  job_t jobs[32];
  int n = 0;
  for (int pi = 0; pi < 3; pi++)
    for (int d = 0; d < 2; d++) {
      oeq_dtype_t dt = d ? OEQ_FLOAT64 : OEQ_FLOAT32;
      /* float32: atomic int32, deterministic int64, Kahan int32; float64:
       * deterministic int64 only (keeps the suite under a minute on two
       * cores); the every-mode problem: atomic f32, deterministic f64. */
      oeq_conv_options_t opts[3] = {{0, 0, 0}, {1, 0, 1}, {1, 1, 0}};
      for (int o = 0; o < 3; o++) {
        if (d && o != 1) continue;
        if (pi == 2 && o != (d ? 1 : 0)) continue;
        job_t *j = &jobs[n++];
        memset(j, 0, sizeof *j);
        j->problem = make(names[pi], dt);
        j->opt = opts[o];
        snprintf(j->label, sizeof j->label, "%s %s %s", names[pi], d ? "f64" : "f32",
                 o == 0 ? "atomic" : o == 1 ? "deterministic int64" : "kahan");
      }
    }
  pool_t pool = {.jobs = jobs, .n = n};
  pthread_mutex_init(&pool.lock, NULL);
  pthread_t t[2];
  for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, worker, &pool);
  for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
  pthread_mutex_destroy(&pool.lock);
  int failures = 0;
  for (int i = 0; i < n; i++) {
    if (jobs[i].failed) {
      cr_log_error("%s", jobs[i].message);
      failures++;
    }
    oeq_problem_destroy(jobs[i].problem);
  }
  cr_assert_eq(failures, 0, "%d of %d conv sources failed to compile", failures, n);
}
