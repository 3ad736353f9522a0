/* test_hiprtc_compile.c: the generated HIP source compiles with hiprtc for
 * gfx90a (MI200) and gfx908 (MI100), with no GPU needed (CI).
 *
 * Every anchor problem of shared/bench/anchors.md in float32 and float64,
 * forward and backward kernels (one translation unit), and the fused
 * convolution of the two conv anchors in both variants, for both targets;
 * the register usage the compiler recorded in each code object is read back
 * and printed. Targets this ROCm's compiler does not know (Debian's ROCm
 * 5.2: gfx942, gfx11) must come back as OEQ_ERROR_UNSUPPORTED: hiprtc
 * itself would abort the process. Compiles run on two threads (CI has two
 * cores). Skips itself where hiprtc cannot be loaded. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/hip_api.h"
#include "codegen/conv_codegen.h"
#include "codegen/tp_codegen.h"
#include "anchors.h"
#include "oeq.h"
#include "problem.h"
#include "schedule.h"

#define N_ARCHS 2
static const char *const archs[N_ARCHS] = {"gfx90a", "gfx908"};

typedef struct job {
  char label[160];
  oeq_problem_t *problem;
  int conv;                 /* 0: TP kernels; 1: the fused convolution's */
  oeq_conv_options_t opt;   /* conv only */
  /* results */
  int failed;
  char message[OEQ_ERROR_MESSAGE_MAX + 512];
  char report[N_ARCHS][320];
  int spills;
  double seconds;
} job_t;

static void need_hiprtc(void) {
  /* The sanitizer legs of CI skip the run-time-compiler suites. */
  if (getenv("OEQ_SKIP_RTC_TESTS")) cr_skip_test("OEQ_SKIP_RTC_TESTS is set");
  oeq_error_t err;
  if (!oeq_hiprtc_api(&err)) cr_skip_test("%s", err.message);
}

static double seconds_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* "fwd 48 VGPR ...; bwd 96 VGPR ..." from a code object's metadata: the
 * forward and backward kernels (the conv's helper kernels are small). */
static int describe_resources(const void *code, size_t size, int conv, char *out, size_t len,
                              int *spills, oeq_error_t *err) {
  oeq_hip_kernel_info_t k[8];
  int n = 0;
  if (oeq_hip_code_object_kernels(code, size, k, 8, &n, err) != OEQ_SUCCESS) return 0;
  const char *fwd = conv ? OEQ_CONV_FORWARD_KERNEL : OEQ_TP_FORWARD_KERNEL;
  const char *bwd = conv ? OEQ_CONV_BACKWARD_KERNEL : OEQ_TP_BACKWARD_KERNEL;
  size_t used = 0;
  out[0] = '\0';
  int found = 0;
  for (int i = 0; i < n && i < 8; i++) {
    const char *tag = strcmp(k[i].name, fwd) == 0 ? "fwd" : strcmp(k[i].name, bwd) == 0 ? "bwd" : NULL;
    if (!tag) continue;
    found++;
    if (k[i].vgpr_spill_count > 0 || k[i].sgpr_spill_count > 0) *spills += 1;
    used += (size_t)snprintf(out + used, used < len ? len - used : 0,
                             "%s%s %d VGPR %d AGPR %d SGPR, %d/%d spills, %d B scratch, wave%d",
                             found > 1 ? "; " : "", tag, k[i].vgpr_count, k[i].agpr_count,
                             k[i].sgpr_count, k[i].vgpr_spill_count, k[i].sgpr_spill_count,
                             k[i].private_segment_bytes, k[i].wavefront_size);
  }
  if (found != 2) oeq_fail(err, OEQ_ERROR_INTERNAL, "%d of the 2 kernels in the metadata", found);
  return found == 2;
}

static void run_job(job_t *j) {
  double t0 = seconds_now();
  oeq_error_t err = {0};
  oeq_schedule_t *s = NULL;
  if (oeq_schedule_build(j->problem, &s, &err) != OEQ_SUCCESS) {
    j->failed = 1;
    snprintf(j->message, sizeof j->message, "%s: schedule: %s", j->label, err.message);
    return;
  }
  /* 64 KB: what gfx908 and gfx90a allow a block. */
  oeq_codegen_target_t target = {OEQ_DIALECT_HIP, 4, 64 * 1024, 0};
  char *text = NULL;
  oeq_status_t st;
  if (j->conv) {
    oeq_conv_source_t src = {0};
    st = oeq_codegen_conv(s, &target, &j->opt, &src, &err);
    text = src.text;
  } else {
    oeq_tp_source_t src = {0};
    st = oeq_codegen_tp(s, &target, &src, &err);
    text = src.text;
  }
  if (st != OEQ_SUCCESS) {
    j->failed = 1;
    snprintf(j->message, sizeof j->message, "%s: codegen: %s", j->label, err.message);
    oeq_schedule_free(s);
    return;
  }
  for (int a = 0; a < N_ARCHS && !j->failed; a++) {
    void *code = NULL;
    size_t size = 0;
    if (oeq_hiprtc_compile(text, archs[a], NULL, 0, &code, &size, NULL, &err) != OEQ_SUCCESS) {
      j->failed = 1;
      snprintf(j->message, sizeof j->message, "%s %s: %.1500s", j->label, archs[a], err.message);
    } else if (!describe_resources(code, size, j->conv, j->report[a], sizeof j->report[a],
                                   &j->spills, &err)) {
      j->failed = 1;
      snprintf(j->message, sizeof j->message, "%s %s: metadata: %s", j->label, archs[a], err.message);
    }
    free(code);
  }
  free(text);
  oeq_schedule_free(s);
  j->seconds = seconds_now() - t0;
}

typedef struct pool {
  job_t *jobs;
  int n, next;
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

static void run_all(job_t *jobs, int n) {
  pool_t pool = {jobs, n, 0, PTHREAD_MUTEX_INITIALIZER};
  pthread_t t[2];
  for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, worker, &pool);
  for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
  int failures = 0, spilling = 0;
  for (int i = 0; i < n; i++) {
    if (jobs[i].failed) {
      failures++;
      cr_log_error("%s", jobs[i].message);
    } else {
      /* The register report is this suite's output: printed, not logged
       * (Criterion hides info logs under TAP). */
      for (int a = 0; a < N_ARCHS; a++)
        fprintf(stderr, "%-34s %-6s %s (%.1f s for both)\n", jobs[i].label, archs[a],
                jobs[i].report[a], jobs[i].seconds);
      spilling += jobs[i].spills > 0;
    }
    oeq_problem_destroy(jobs[i].problem);
  }
  fprintf(stderr, "%d sources, %d compiled for %s and %s; %d with register spills\n", n,
          n - failures, archs[0], archs[1], spilling);
  cr_expect_eq(failures, 0, "%d of %d generated sources failed (see the log)", failures, n);
}

/* ------------------------------------------------------------- anchors */


Test(hiprtc_compile, anchor_problems_f32_f64_gfx90a_gfx908, .timeout = 1200) {
  need_hiprtc();
  fprintf(stderr, "compiler: %s\n", oeq_hiprtc_api(NULL)->version);
  job_t *jobs = calloc(2 * N_ANCHORS, sizeof *jobs);
  cr_assert_not_null(jobs);
  for (int i = 0; i < N_ANCHORS; i++) {
    for (int d = 0; d < 2; d++) {
      const anchor_t *a = &anchors[i];
      job_t *j = &jobs[2 * i + d];
      oeq_status_t st = anchor_problem(a, d ? OEQ_FLOAT64 : OEQ_FLOAT32, &j->problem);
      cr_assert_eq(st, OEQ_SUCCESS, "%s: %s", a->label, oeq_last_error());
      snprintf(j->label, sizeof j->label, "%s %s", a->label, d ? "f64" : "f32");
    }
  }
  run_all(jobs, 2 * N_ANCHORS);
  free(jobs);
}

/* The fused convolution of the two conv anchors (anchors.md), float32, in
 * both variants: atomic scatter, and deterministic (sorted receivers,
 * fix-up pass, no atomics) with int64 indices. */
Test(hiprtc_compile, conv_anchors_atomic_and_deterministic, .timeout = 1200) {
  need_hiprtc();
  static const int conv_anchors[] = {0, 2}; /* mace-large, nequip-lips */
  const oeq_conv_options_t variants[2] = {{0, 0, 0}, {1, 0, 1}};
  job_t jobs[4];
  memset(jobs, 0, sizeof jobs);
  for (int i = 0; i < 2; i++) {
    for (int v = 0; v < 2; v++) {
      const anchor_t *a = &anchors[conv_anchors[i]];
      job_t *j = &jobs[2 * i + v];
      cr_assert_eq(oeq_problem_create_channelwise(a->in1, a->in2, a->out, &j->problem), OEQ_SUCCESS,
                   "%s: %s", a->label, oeq_last_error());
      j->conv = 1;
      j->opt = variants[v];
      snprintf(j->label, sizeof j->label, "conv %s f32 %s", a->label,
               v ? "deterministic" : "atomic");
    }
  }
  run_all(jobs, 4);
}

/* ------------------------------------------------------------- targets */

static const char tiny_kernel[] =
    "extern \"C\" __global__ void oeq_probe(float *x) { x[threadIdx.x] *= 2.0f; }\n";

static oeq_status_t compile_tiny(const char *arch, oeq_error_t *err) {
  void *code = NULL;
  size_t size = 0;
  oeq_status_t st = oeq_hiprtc_compile(tiny_kernel, arch, NULL, 0, &code, &size, NULL, err);
  free(code);
  return st;
}

/* Targets newer than the installed compiler: a status, never a crash.
 * With a ROCm that knows them, they compile instead. */
Test(hiprtc_compile, unknown_targets_are_unsupported_not_a_crash) {
  need_hiprtc();
  const char *newer[] = {"gfx942", "gfx940", "gfx941", "gfx1100", "gfx1101", "gfx942:sramecc+:xnack-"};
  for (size_t i = 0; i < sizeof newer / sizeof newer[0]; i++) {
    oeq_error_t err = {0};
    oeq_status_t st = compile_tiny(newer[i], &err);
    cr_expect(st == OEQ_ERROR_UNSUPPORTED || st == OEQ_SUCCESS, "%s: status %d: %s", newer[i],
              (int)st, err.message);
    if (st == OEQ_ERROR_UNSUPPORTED)
      cr_expect(strstr(err.message, "cannot target") != NULL || strstr(err.message, "comgr") != NULL,
                "%s: the message should say why: %s", newer[i], err.message);
    cr_log_info("%s: %s", newer[i], st == OEQ_SUCCESS ? "compiles" : err.message);
  }
  const char *never[] = {"gfx9999", "sm_80", "", "gfx"};
  for (size_t i = 0; i < sizeof never / sizeof never[0]; i++) {
    oeq_error_t err = {0};
    cr_expect_eq(compile_tiny(never[i], &err), OEQ_ERROR_UNSUPPORTED, "'%s': %s", never[i],
                 err.message);
  }
}

/* The device's full gcnArchName, feature suffixes included, is accepted;
 * and the wave64 mode wave32 GPUs (RDNA) are run in. */
Test(hiprtc_compile, target_features_and_wave64_on_rdna) {
  need_hiprtc();
  oeq_error_t err = {0};
  cr_expect_eq(compile_tiny("gfx90a:sramecc+:xnack-", &err), OEQ_SUCCESS, "%s", err.message);
  cr_expect_eq(compile_tiny("gfx908:xnack-", &err), OEQ_SUCCESS, "%s", err.message);
  const char *wave64[] = {"-mwavefrontsize64"};
  void *code = NULL;
  size_t size = 0;
  cr_assert_eq(oeq_hiprtc_compile(tiny_kernel, "gfx1030", wave64, 1, &code, &size, NULL, &err),
               OEQ_SUCCESS, "%s", err.message);
  oeq_hip_kernel_info_t k;
  int n = 0;
  cr_assert_eq(oeq_hip_code_object_kernels(code, size, &k, 1, &n, &err), OEQ_SUCCESS, "%s",
               err.message);
  cr_expect_eq(n, 1);
  cr_expect_str_eq(k.name, "oeq_probe");
  cr_expect_eq(k.wavefront_size, 64);
  free(code);
}

Test(hiprtc_compile, compile_error_carries_the_log) {
  need_hiprtc();
  oeq_error_t err = {0};
  void *code = NULL;
  size_t size = 0;
  char *log = NULL;
  oeq_status_t st = oeq_hiprtc_compile("this_is_a_deliberate_error;\n", "gfx90a", NULL, 0, &code,
                                       &size, &log, &err);
  cr_expect_eq(st, OEQ_ERROR_COMPILE);
  cr_expect_null(code);
  cr_expect(strstr(err.message, "this_is_a_deliberate_error") != NULL, "%s", err.message);
  free(log);
}

/* The metadata reader on bad input: statuses, not crashes. */
Test(hiprtc_compile, code_object_reader_rejects_garbage) {
  oeq_hip_kernel_info_t k[2];
  int n = 0;
  oeq_error_t err;
  unsigned char junk[256];
  for (size_t i = 0; i < sizeof junk; i++) junk[i] = (unsigned char)(i * 37 + 11);
  cr_expect_neq(oeq_hip_code_object_kernels(junk, sizeof junk, k, 2, &n, &err), OEQ_SUCCESS);
  memcpy(junk, "\177ELF\002", 5);
  cr_expect_neq(oeq_hip_code_object_kernels(junk, sizeof junk, k, 2, &n, &err), OEQ_SUCCESS);
  cr_expect_neq(oeq_hip_code_object_kernels(junk, 3, k, 2, &n, &err), OEQ_SUCCESS);
  cr_expect_neq(oeq_hip_code_object_kernels("__CLANG_OFFLOAD_BUNDLE__\001", 25, k, 2, &n, &err),
                OEQ_SUCCESS);
}

/* A real code object cut short at every length: never a crash. */
Test(hiprtc_compile, truncated_code_objects) {
  need_hiprtc();
  oeq_error_t err = {0};
  void *code = NULL;
  size_t size = 0;
  cr_assert_eq(oeq_hiprtc_compile(tiny_kernel, "gfx90a", NULL, 0, &code, &size, NULL, &err),
               OEQ_SUCCESS, "%s", err.message);
  oeq_hip_kernel_info_t k[2];
  int n = 0;
  cr_assert_eq(oeq_hip_code_object_kernels(code, size, k, 2, &n, &err), OEQ_SUCCESS, "%s", err.message);
  cr_expect_eq(n, 1);
  cr_expect(k[0].vgpr_count > 0 && k[0].sgpr_count > 0);
  unsigned char *copy = malloc(size);
  for (size_t cut = 0; cut < size; cut += 7) {
    memcpy(copy, code, cut);
    oeq_hip_code_object_kernels(copy, cut, k, 2, &n, &err);
  }
  free(copy);
  free(code);
}
