/* test_rtc_compile.c: the generated GPU source compiles with the run-time
 * compilers, with no GPU needed (CI): NVRTC for sm_80 and sm_90, hiprtc for
 * gfx90a (MI200) and gfx908 (MI100).
 *
 * Cases written once (RT_TEST) run in two suites, `nvrtc_compile` and
 * `hiprtc_compile`, each skipping itself where its compiler cannot be
 * loaded or OEQ_SKIP_RTC_TESTS is set (.ci/test's sanitizer and distcheck
 * legs: the plain leg compiles the same source). Every anchor problem of
 * shared/bench/anchors.md in float32 and float64, a sampled sweep of
 * single-instruction problems (all six modes, both dtypes, l up to 7,
 * multiplicities 1..256), the fused convolution's variants, each OEQ_PART
 * of a source on its own, and the compile-error path. After each compile:
 * NVRTC's log has no warning and ptxas reports no register spills (anchors,
 * sweep); hiprtc's code object lists the forward and backward kernels, whose
 * registers are read back and printed. Compiles run on two threads (CI has
 * two cores; oeq serialises hiprtc compiles itself, so the HIP pool also
 * checks that two threads may call it at once).
 *
 * Runtime-specific cases: for NVRTC, the kernel shapes measured faster on
 * a GPU stay chosen and tensor cores are used where they apply; for
 * hiprtc, unknown targets are a status (never a crash), target features and
 * wave64 on RDNA, and the code-object reader on bad input. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/cuda_api.h"
#include "backend/hip_api.h"
#include "codegen/conv_codegen.h"
#include "codegen/tp_codegen.h"
#include "anchors.h"
#include "gpu_runtime.h"
#include "oeq.h"
#include "problem.h"
#include "schedule.h"
#include "support.h"

TestSuite(nvrtc_compile, .timeout = 1200);
TestSuite(hiprtc_compile, .timeout = 1200);

#define RTC_TEST(name) RT_TEST(nvrtc_compile, hiprtc_compile, name)

/* ------------------------------------------------------------ compilers */

#define N_TARGETS 2

/* A run-time compiler and the two targets it is checked for. */
typedef struct rtc {
  oeq_backend_t rt;
  const char *name;
  oeq_dialect_t dialect;
  size_t max_shared; /* 163 KB: what sm_80 and sm_90 both allow a block with
                        opt-in; 64 KB: what gfx908 and gfx90a allow */
  const char *target[N_TARGETS];
  int sm[N_TARGETS]; /* CUDA: the source is generated per arch (from sm_80
                        on it may hold mma kernels); 0 on HIP */
} rtc_t;

static const rtc_t nvrtc = {OEQ_BACKEND_CUDA, "NVRTC", OEQ_DIALECT_CUDA, 163 * 1024,
                            {"sm_80", "sm_90"}, {80, 90}};
static const rtc_t hiprtc = {OEQ_BACKEND_HIP, "hiprtc", OEQ_DIALECT_HIP, 64 * 1024,
                             {"gfx90a", "gfx908"}, {0, 0}};

static const rtc_t *rtc_of(oeq_backend_t rt) { return rt == OEQ_BACKEND_CUDA ? &nvrtc : &hiprtc; }

static int rtc_loaded(const rtc_t *r, oeq_error_t *err) {
  return r->rt == OEQ_BACKEND_CUDA ? oeq_nvrtc_api(err) != NULL : oeq_hiprtc_api(err) != NULL;
}

static void need_rtc(const rtc_t *r) {
  if (getenv("OEQ_SKIP_RTC_TESTS")) cr_skip_test("OEQ_SKIP_RTC_TESTS is set");
  oeq_error_t err;
  if (!rtc_loaded(r, &err)) cr_skip_test("%s: %s", r->name, err.message);
  if (r->rt == OEQ_BACKEND_HIP) fprintf(stderr, "compiler: %s\n", oeq_hiprtc_api(NULL)->version);
}

static oeq_status_t rtc_compile(const rtc_t *r, int t, const char *text, const char *const *opts,
                                int n_opts, void **bin, size_t *size, char **log, oeq_error_t *err) {
  if (r->rt == OEQ_BACKEND_CUDA)
    return oeq_nvrtc_compile(text, r->sm[t], opts, n_opts, bin, size, log, err);
  return oeq_hiprtc_compile(text, r->target[t], opts, n_opts, bin, size, log, err);
}

static oeq_codegen_target_t rtc_codegen_target(const rtc_t *r, int t) {
  return (oeq_codegen_target_t){r->dialect, 4, r->max_shared, r->sm[t]};
}

/* ------------------------------------------------------- compile checks */

/* "fwd 48 VGPR ...; bwd 96 VGPR ..." from an AMDGPU code object's
 * metadata: the forward and backward kernels (the conv's helper kernels are
 * small). 0 with err set unless both are there. */
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

/* ----------------------------------------------------------------- jobs */

typedef struct job {
  const rtc_t *rtc;
  char label[160];
  oeq_problem_t *problem;
  int conv;               /* 0: TP kernels; 1: the fused convolution's */
  oeq_conv_options_t opt; /* conv only */
  int check_spills;       /* NVRTC: ptxas -v, and no spill may be reported */
  /* the target's shared memory may be too small for the problem's rows:
   * codegen may then say so with OEQ_ERROR_UNSUPPORTED */
  int may_not_fit;
  /* results */
  int failed, unsupported;
  char message[OEQ_ERROR_MESSAGE_MAX + 512];
  char report[N_TARGETS][320]; /* hiprtc: the kernels' registers */
  int spills;                  /* hiprtc: kernels the metadata says spill */
  double seconds;
} job_t;

static double seconds_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* The job's source for target t (malloc'ed), or NULL with the failure in j. */
static char *job_source(job_t *j, const oeq_schedule_t *s, int t) {
  oeq_error_t err = {0};
  const oeq_codegen_target_t target = rtc_codegen_target(j->rtc, t);
  oeq_status_t st;
  char *text = NULL;
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
    if (j->may_not_fit && st == OEQ_ERROR_UNSUPPORTED && strstr(err.message, "shared memory"))
      j->unsupported = 1;
    else
      j->failed = 1;
    snprintf(j->message, sizeof j->message, "%s %s: codegen: %s", j->label, j->rtc->target[t],
             err.message);
    free(text);
    return NULL;
  }
  return text;
}

/* What a compiled binary and its log must show (else j fails). */
static void check_binary(job_t *j, int t, const void *bin, size_t size, const char *log) {
  const rtc_t *r = j->rtc;
  oeq_error_t err = {0};
  const char *w = test_first_warning(log);
  if (j->check_spills && test_spill_bytes(log) > 0) {
    j->failed = 1;
    snprintf(j->message, sizeof j->message, "%s %s: %ld bytes of register spills", j->label,
             r->target[t], test_spill_bytes(log));
  } else if (w) {
    j->failed = 1;
    snprintf(j->message, sizeof j->message, "%s %s: compiler warning: %.300s", j->label,
             r->target[t], w);
  } else if (r->rt == OEQ_BACKEND_HIP &&
             !describe_resources(bin, size, j->conv, j->report[t], sizeof j->report[t], &j->spills,
                                 &err)) {
    j->failed = 1;
    snprintf(j->message, sizeof j->message, "%s %s: metadata: %s", j->label, r->target[t],
             err.message);
  }
}

static void run_job(job_t *j) {
  const double t0 = seconds_now();
  oeq_error_t err = {0};
  oeq_schedule_t *s = NULL;
  if (oeq_schedule_build(j->problem, &s, &err) != OEQ_SUCCESS) {
    j->failed = 1;
    snprintf(j->message, sizeof j->message, "%s: schedule: %s", j->label, err.message);
    return;
  }
  const char *ptxas_v[] = {"--ptxas-options=-v"};
  const int n_opts = j->rtc->rt == OEQ_BACKEND_CUDA && j->check_spills;
  for (int t = 0; t < N_TARGETS && !j->failed && !j->unsupported; t++) {
    char *text = job_source(j, s, t);
    if (!text) break;
    void *bin = NULL;
    size_t size = 0;
    char *log = NULL;
    if (rtc_compile(j->rtc, t, text, ptxas_v, n_opts, &bin, &size, &log, &err) != OEQ_SUCCESS) {
      j->failed = 1;
      snprintf(j->message, sizeof j->message, "%s %s: %.1500s", j->label, j->rtc->target[t],
               err.message);
    } else {
      check_binary(j, t, bin, size, log);
    }
    free(bin);
    free(log);
    free(text);
  }
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

/* Every job on two threads; one failure names each failed job. */
static void run_all(const rtc_t *r, job_t *jobs, int n) {
  pool_t pool = {jobs, n, 0, PTHREAD_MUTEX_INITIALIZER};
  pthread_t t[2];
  for (int i = 0; i < 2; i++) cr_assert_eq(pthread_create(&t[i], NULL, worker, &pool), 0);
  for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
  int failures = 0, spilling = 0, unsupported = 0;
  for (int i = 0; i < n; i++) {
    if (jobs[i].failed) {
      failures++;
      cr_log_error("%s", jobs[i].message);
    } else if (jobs[i].unsupported) {
      unsupported++;
      fprintf(stderr, "not generated (the target's limit): %s\n", jobs[i].message);
    } else if (r->rt == OEQ_BACKEND_HIP) {
      /* The register report is this suite's output: printed, not logged
       * (Criterion hides info logs under TAP). */
      for (int a = 0; a < N_TARGETS; a++)
        fprintf(stderr, "%-34s %-6s %s (%.1f s for both)\n", jobs[i].label, r->target[a],
                jobs[i].report[a], jobs[i].seconds);
      spilling += jobs[i].spills > 0;
    }
    oeq_problem_destroy(jobs[i].problem);
  }
  if (r->rt == OEQ_BACKEND_HIP)
    fprintf(stderr, "%d sources, %d compiled for %s and %s; %d with register spills\n", n,
            n - failures - unsupported, r->target[0], r->target[1], spilling);
  /* the first failure in the assertion itself, so that a TAP summary shows it */
  const char *first = "";
  for (int i = 0; i < n && !*first; i++)
    if (jobs[i].failed) first = jobs[i].message;
  cr_expect_eq(failures, 0, "%s: %d of %d generated sources failed (all in the log); first: %.600s",
               r->name, failures, n, first);
  /* a few problems over a small target's limit, not a generator that
   * gives up on everything */
  cr_expect_leq(unsupported, n / 10, "%s: %d of %d sources not generated", r->name, unsupported, n);
}

/* ------------------------------------------------------------- anchors */

RTC_TEST(anchor_problems_f32_f64) {
  const rtc_t *r = rtc_of(rt);
  need_rtc(r);
  job_t *jobs = calloc(2 * N_ANCHORS, sizeof *jobs);
  cr_assert_not_null(jobs);
  for (int i = 0; i < N_ANCHORS; i++) {
    for (int d = 0; d < 2; d++) {
      const anchor_t *a = &anchors[i];
      job_t *j = &jobs[2 * i + d];
      oeq_status_t st = anchor_problem(a, d ? OEQ_FLOAT64 : OEQ_FLOAT32, &j->problem);
      cr_assert_eq(st, OEQ_SUCCESS, "%s: %s", a->label, oeq_last_error());
      snprintf(j->label, sizeof j->label, "%s %s", a->label, d ? "f64" : "f32");
      j->rtc = r;
      j->check_spills = 1;
    }
  }
  run_all(r, jobs, 2 * N_ANCHORS);
  free(jobs);
}

/* ---------------------------------------------------------------- sweep */

static const oeq_mode_t modes[6] = {OEQ_MODE_UVW, OEQ_MODE_UVU, OEQ_MODE_UVV,
                                    OEQ_MODE_UUW, OEQ_MODE_UUU, OEQ_MODE_UVUV};
static const int muls[9] = {1, 5, 31, 32, 33, 64, 100, 128, 256};

/* One instruction l1 x l2 -> l3 in `mode` with multiplicity m (kept small
 * where the mode multiplies multiplicities, so sources stay compilable). */
static oeq_problem_t *single_instruction(oeq_mode_t mode, int l1, int l2, int l3, int m, int weighted,
                                         oeq_dtype_t dtype, oeq_layout_t layout) {
  char in1[32], in2[32], out[32];
  int m1 = m, m2 = m, mo = m;
  const char p1 = 'e', p2 = 'e', po = 'e';
  switch (mode) {
    case OEQ_MODE_UVW: m2 = m > 5 ? 2 : 1; mo = m > 32 ? 16 : m; break;
    case OEQ_MODE_UVU: m2 = 1; break;
    case OEQ_MODE_UVV: m1 = 3; break;
    case OEQ_MODE_UUW: mo = weighted ? (m > 32 ? 8 : m) : 1; break;
    case OEQ_MODE_UUU: break;
    case OEQ_MODE_UVUV: m1 = m > 32 ? 32 : m; m2 = 2; mo = m1 * m2; break;
  }
  if (mode == OEQ_MODE_UVW) weighted = 1;
  snprintf(in1, sizeof in1, "%dx%d%c", m1, l1, p1);
  snprintf(in2, sizeof in2, "%dx%d%c", m2, l2, p2);
  snprintf(out, sizeof out, "%dx%d%c", mo, l3, po);
  oeq_problem_t *p = NULL;
  if (oeq_problem_create(in1, in2, out, &p) != OEQ_SUCCESS) return NULL;
  if (oeq_problem_add_instruction(p, 0, 0, 0, mode, weighted, 1.0) != OEQ_SUCCESS) {
    oeq_problem_destroy(p);
    return NULL;
  }
  oeq_problem_set_dtypes(p, dtype, dtype);
  oeq_problem_set_layout(p, layout);
  oeq_problem_set_shared_weights(p, (l1 + m) % 2);
  return p;
}

RTC_TEST(single_instruction_sweep) {
  const rtc_t *r = rtc_of(rt);
  need_rtc(r);
  /* A coarse, deterministic sample: every mode and multiplicity appears,
   * with l triples up to 7 and both dtypes and layouts rotating through. */
  static const int triples[][3] = {{0, 0, 0}, {1, 1, 0}, {1, 1, 2}, {2, 1, 3}, {3, 3, 3},
                                   {7, 0, 7}, {5, 4, 7}, {7, 7, 6}, {2, 5, 4}};
  const int n_triples = (int)(sizeof triples / sizeof triples[0]);
  job_t *jobs = calloc(6 * 9, sizeof *jobs);
  cr_assert_not_null(jobs);
  int n = 0;
  for (int mi = 0; mi < 6; mi++) {
    for (int ui = 0; ui < 9; ui++) {
      const int *t = triples[(mi * 5 + ui * 2) % n_triples];
      const int m = muls[ui];
      oeq_dtype_t dtype = (mi + ui) % 2 ? OEQ_FLOAT64 : OEQ_FLOAT32;
      oeq_layout_t layout = (mi + ui / 2) % 2 ? OEQ_LAYOUT_IR_MUL : OEQ_LAYOUT_MUL_IR;
      int weighted = (ui % 3) != 0;
      job_t *j = &jobs[n];
      j->rtc = r;
      /* the sweep's widest rows are sized for CUDA's 163 KB: some exceed
       * the 64 KB of gfx908 / gfx90a, which codegen must report */
      j->may_not_fit = r->rt == OEQ_BACKEND_HIP;
      j->problem = single_instruction(modes[mi], t[0], t[1], t[2], m, weighted, dtype, layout);
      cr_assert_not_null(j->problem, "mode %d l=(%d,%d,%d) mul %d: %s", mi, t[0], t[1], t[2], m,
                         oeq_last_error());
      snprintf(j->label, sizeof j->label, "%s l=%d,%d->%d mul %d %s %s %s", oeq_mode_name(modes[mi]),
               t[0], t[1], t[2], m, dtype == OEQ_FLOAT64 ? "f64" : "f32",
               layout == OEQ_LAYOUT_IR_MUL ? "ir_mul" : "mul_ir", weighted ? "weighted" : "unweighted");
      n++;
    }
  }
  run_all(r, jobs, n);
  free(jobs);
}

/* --------------------------------------------------------- convolution */

static oeq_problem_t *conv_problem(const char *which, oeq_dtype_t dt) {
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

/* The conv anchors mace-large and nequip-lips (anchors.md): float32 in
 * atomic, deterministic (int64 indices) and Kahan mode, float64
 * deterministic (the atomic and deterministic ones with the backward's
 * block split asked for, which mace-large takes); plus a small problem with every connection mode (uvuv's
 * and uvw's backward have their own code paths) and shared weights: atomic
 * float32, deterministic float64. */
RTC_TEST(conv_anchors_all_modes) {
  const rtc_t *r = rtc_of(rt);
  need_rtc(r);
  const char *names[3] = {"mace-large", "nequip-lips", "every-mode"};
  job_t jobs[32];
  memset(jobs, 0, sizeof jobs);
  int n = 0;
  for (int pi = 0; pi < 3; pi++)
    for (int d = 0; d < 2; d++) {
      oeq_dtype_t dt = d ? OEQ_FLOAT64 : OEQ_FLOAT32;
      const oeq_conv_options_t opts[3] = {{0, 0, 0, 1}, {1, 0, 1, 1}, {1, 1, 0, 0}};
      for (int o = 0; o < 3; o++) {
        if (d && o != 1) continue;
        if (pi == 2 && o != (d ? 1 : 0)) continue;
        job_t *j = &jobs[n++];
        j->rtc = r;
        j->problem = conv_problem(names[pi], dt);
        j->conv = 1;
        j->opt = opts[o];
        snprintf(j->label, sizeof j->label, "conv %s %s %s", names[pi], d ? "f64" : "f32",
                 o == 0 ? "atomic" : o == 1 ? "deterministic int64" : "kahan");
      }
    }
  run_all(r, jobs, n);
}

/* --------------------------------------------------------------- parts */

static const anchor_t *find_anchor(const char *label) {
  for (int i = 0; i < N_ANCHORS; i++)
    if (!strcmp(anchors[i].label, label)) return &anchors[i];
  cr_assert_fail("no anchor %s", label);
  return NULL;
}

static oeq_tp_source_t source_for(const char *label, oeq_dtype_t t, const oeq_codegen_target_t *target) {
  oeq_problem_t *p = NULL;
  cr_assert_eq(anchor_problem(find_anchor(label), t, &p), OEQ_SUCCESS, "%s", oeq_last_error());
  oeq_error_t err;
  oeq_schedule_t *s = NULL;
  cr_assert_eq(oeq_schedule_build(p, &s, &err), OEQ_SUCCESS, "%s", err.message);
  oeq_tp_source_t src = {0};
  cr_assert_eq(oeq_codegen_tp(s, target, &src, &err), OEQ_SUCCESS, "%s", err.message);
  oeq_schedule_free(s);
  oeq_problem_destroy(p);
  return src;
}

/* The CUDA source of an anchor for an H100 / H200 (227 KB of shared memory
 * a block), where the choices below were measured. */
static oeq_tp_source_t anchor_source_for(const char *label, oeq_dtype_t t, oeq_dialect_t dialect, int sm) {
  const oeq_codegen_target_t target = {dialect, 4, 227 * 1024, sm};
  return source_for(label, t, &target);
}

static oeq_tp_source_t anchor_source(const char *label, oeq_dtype_t t) {
  return anchor_source_for(label, t, OEQ_DIALECT_CUDA, 90);
}

static int contains(const void *bin, size_t size, const char *text) {
  const size_t n = strlen(text);
  for (size_t k = 0; bin && k + n <= size; k++)
    if (!memcmp((const char *)bin + k, text, n)) return 1;
  return 0;
}

/* Plans compile a source as two programs, OEQ_PART 1 (the forward kernel)
 * and 2 (the backward ones): each part compiles on its own and keeps its
 * kernels only, with and without tensor cores (CUDA, on an H100's 227 KB;
 * HIP at its targets' 64 KB). */
RTC_TEST(forward_and_backward_parts_compile_alone) {
  const rtc_t *r = rtc_of(rt);
  need_rtc(r);
  const int t = r->rt == OEQ_BACKEND_CUDA ? 1 : 0; /* sm_90, gfx90a */
  oeq_codegen_target_t target = rtc_codegen_target(r, t);
  if (r->rt == OEQ_BACKEND_CUDA) target.max_shared_per_block = 227 * 1024;
  const char *labels[] = {"e3tools_transformer", "DiffDock-L=1"};
  for (int i = 0; i < 2; i++) {
    oeq_tp_source_t s = source_for(labels[i], OEQ_FLOAT32, &target);
    cr_expect_eq(s.kernels.n_parts, 2, "%s: %d parts", labels[i], s.kernels.n_parts);
    for (int part = 1; part <= 2; part++) {
      const size_t n = strlen(s.text) + 32;
      char *text = malloc(n);
      cr_assert_not_null(text);
      snprintf(text, n, "#define OEQ_PART %d\n%s", part, s.text);
      void *bin = NULL;
      size_t size = 0;
      oeq_error_t err;
      cr_expect_eq(rtc_compile(r, t, text, NULL, 0, &bin, &size, NULL, &err), OEQ_SUCCESS,
                   "%s %s part %d: %.900s", labels[i], r->target[t], part, err.message);
      /* the part's kernel names are in the binary, the other part's not */
      const int has_fwd = contains(bin, size, OEQ_TP_FORWARD_KERNEL);
      const int has_bwd = contains(bin, size, OEQ_TP_BACKWARD_KERNEL);
      cr_expect(part == 1 ? has_fwd && !has_bwd : has_bwd && !has_fwd,
                "%s %s part %d: forward kernel %s, backward kernel %s", labels[i], r->target[t], part,
                has_fwd ? "present" : "absent", has_bwd ? "present" : "absent");
      free(bin);
      free(text);
    }
    free(s.text);
  }
}

/* -------------------------------------------------------- compile errors */

RTC_TEST(compile_error_carries_the_log) {
  const rtc_t *r = rtc_of(rt);
  need_rtc(r);
  oeq_error_t err = {0};
  void *code = NULL;
  size_t size = 0;
  char *log = NULL;
  oeq_status_t st = rtc_compile(r, 0, "this_is_a_deliberate_error;\n", NULL, 0, &code, &size, &log, &err);
  cr_expect_eq(st, OEQ_ERROR_COMPILE, "%s: status %d", r->name, (int)st);
  cr_expect_null(code);
  cr_expect(strstr(err.message, "this_is_a_deliberate_error") != NULL, "%s", err.message);
  cr_expect(log && strstr(log, "this_is_a_deliberate_error") != NULL, "%s log: %s", r->name,
            log ? log : "(none)");
  free(log);
}

/* A compiler log of many warnings still shows its errors within the
 * message's 8 KB (oeq_fail_with_log puts them first). No compiler needed. */
Test(nvrtc_compile, compile_errors_lead_the_message) {
  size_t cap = 1 << 20, len = 0; /* 5,000 lines of ~90 bytes */
  char *log = malloc(cap);
  cr_assert_not_null(log);
  for (int i = 0; i < 5000; i++)
    len += (size_t)snprintf(log + len, cap - len,
                            "oeq_kernels.cu(%d): warning #177-D: variable \"gz0\" was declared but never "
                            "referenced\n",
                            i);
  snprintf(log + len, cap - len, "ptxas error   : File uses too much global constant data\n");
  oeq_error_t err;
  cr_expect_eq(oeq_fail_with_log(&err, OEQ_ERROR_COMPILE, "NVRTC compilation failed:", log),
               OEQ_ERROR_COMPILE);
  const char *hit = strstr(err.message, "ptxas error   : File uses too much global constant data");
  cr_expect(hit != NULL && hit < strstr(err.message, "warning #177"),
            "the error line is not ahead of the warnings: %.300s", err.message);
  cr_expect(!strncmp(err.message, "NVRTC compilation failed:", 25) && strlen(err.message) < sizeof err.message);
  cr_expect_eq(oeq_fail_with_log(&err, OEQ_ERROR_COMPILE, "h:", NULL), OEQ_ERROR_COMPILE);
  cr_expect_str_eq(err.message, "h:\n(no log)");
  free(log);
}

/* ------------------------------------------------ NVRTC / CUDA dialect */

/* The HIP dialect is generated through the same emitter as CUDA's (no
 * compiler needed): it differs from CUDA only where the dialect says. */
Test(hiprtc_compile, hip_dialect_is_generated) {
  oeq_problem_t *p = single_instruction(OEQ_MODE_UVU, 1, 1, 2, 32, 1, OEQ_FLOAT32, OEQ_LAYOUT_MUL_IR);
  cr_assert_not_null(p);
  oeq_error_t err;
  oeq_schedule_t *s = NULL;
  cr_assert_eq(oeq_schedule_build(p, &s, &err), OEQ_SUCCESS);
  oeq_codegen_target_t target = {OEQ_DIALECT_HIP, 4, 64 * 1024, 0};
  oeq_tp_source_t src;
  cr_assert_eq(oeq_codegen_tp(s, &target, &src, &err), OEQ_SUCCESS, "%s", err.message);
  cr_expect_eq(src.warp_size, 64);
  cr_expect(strstr(src.text, "#define OEQ_WARP 64") != NULL);
  cr_expect(strstr(src.text, "__shfl_xor_sync") == NULL);
  free(src.text);
  oeq_schedule_free(s);
  oeq_problem_destroy(p);
}

static int has(const oeq_tp_source_t *src, const char *text) { return strstr(src->text, text) != NULL; }

static const oeq_kernel_desc_t *kernel(const oeq_tp_source_t *s, int role) { return &s->kernels.kernel[role]; }

/* Tile groups of the tensor-core dw kernel (0: the source has none). */
static int dw_groups(const oeq_tp_source_t *s) {
  return kernel(s, OEQ_TP_K_DW)->name ? kernel(s, OEQ_TP_K_DW)->grid_y : 0;
}

/* The kernel shapes bench/NOTES.md measured as faster stay chosen for the
 * problems they were measured on (a refactor that loses one still compiles
 * and passes every numeric test, only slower). */
Test(nvrtc_compile, measured_choices_hold_for_anchors) {
  /* forward weights: a shared-memory window (runs C, D) or, where it would
   * cost blocks per SM, a register prefetch one output chunk ahead (run J) */
  oeq_tp_source_t s = anchor_source("mace-large", OEQ_FLOAT32);
  cr_expect(has(&s, "oeq_load_row(wst"), "mace-large: forward weight window lost");
  cr_expect(!has(&s, "pw0_0 ="), "mace-large: prefetch where a window applies");
  free(s.text);
  s = anchor_source("nequip-revmd17-benzene", OEQ_FLOAT32);
  cr_expect(has(&s, "pw0_0 =") && has(&s, "pw1_0 ="), "benzene: forward weight prefetch lost");
  cr_expect(!has(&s, "oeq_load_row(wst"), "benzene: a weight window that costs blocks per SM");
  free(s.text);
  /* pair-mode backward tile: complete unroll where every chunk is full
   * (run I), unroll 16 where the last chunk is partial (runs E, G) */
  s = anchor_source("e3tools_conv", OEQ_FLOAT32);
  cr_expect(has(&s, "const int np = 32;\n") && has(&s, "#pragma unroll\n  for (int j = 0; j < np; ++j)"),
            "e3tools_conv: constant pair count, complete unroll lost");
  free(s.text);
  s = anchor_source("DiffDock-L=1", OEQ_FLOAT32);
  cr_expect(has(&s, "const int np = min(OEQ_WARP, 48 - q0);"), "DiffDock: partial chunk not handled");
  cr_expect(has(&s, "#pragma unroll 16\n"), "DiffDock: pair tile unroll 16 lost");
  free(s.text);
  /* backward block size packed for shared memory (runs E, M) */
  s = anchor_source("nequip-revmd17-benzene", OEQ_FLOAT64);
  cr_expect_eq(s.warps_per_block, 3, "benzene f64: %d warps a block", s.warps_per_block);
  free(s.text);
  /* (without the tensor-core dw kernel, before sm_80: private dw copies) */
  s = anchor_source_for("e3tools_transformer", OEQ_FLOAT32, OEQ_DIALECT_CUDA, 75);
  cr_expect_eq(s.warps_per_block, 1, "e3tools_transformer: %d warps a block", s.warps_per_block);
  free(s.text);
  s = anchor_source("mace-large", OEQ_FLOAT32);
  cr_expect_eq(s.warps_per_block, 4, "mace-large: %d warps a block", s.warps_per_block);
  free(s.text);
  /* narrow pair-only output blocks (tetris-poly-2's 0o+6x0e) with the
   * lanes across the pairs, wide ones across the outputs (run AL) */
  s = anchor_source("tetris-poly-2", OEQ_FLOAT32);
  cr_expect(has(&s, "lanes across pairs") && has(&s, "oeq_warp_sum(acc5_0)"),
            "tetris-poly-2: narrow output blocks not across pairs");
  free(s.text);
  s = anchor_source("DiffDock-L=1", OEQ_FLOAT32); /* 10x1o: 30 values, too many */
  cr_expect(!has(&s, "lanes across pairs"), "DiffDock: a wide block across pairs");
  free(s.text);
}

/* Bytes of __constant__ arrays a source declares ("__constant__ int
 * name[a][b][c] = ..."): a module has 64 KB of them. */
static long constant_bytes(const char *text) {
  long total = 0;
  for (const char *p = text; (p = strstr(p, "__constant__ ")); p++) {
    const char *type = p + strlen("__constant__ ");
    const long size = !strncmp(type, "double", 6) || !strncmp(type, "long long", 9) ? 8 : 4;
    const char *end = strchr(type, '=');
    const char *semi = strchr(type, ';');
    if (semi && (!end || semi < end)) end = semi;
    long n = 1;
    for (const char *b = strchr(type, '['); b && end && b < end; b = strchr(b + 1, '['))
      n *= strtol(b + 1, NULL, 10);
    total += n * size;
  }
  return total;
}

/* The generated source of a fully connected problem (e3nn's builder:
 * shared weights) for `target`. */
static oeq_tp_source_t fc_source(const char *in1, const char *in2, const char *out, oeq_dtype_t t,
                                 const oeq_codegen_target_t *target) {
  oeq_problem_t *p = NULL;
  cr_assert_eq(oeq_problem_create_fully_connected(in1, in2, out, &p), OEQ_SUCCESS, "%s",
               oeq_last_error());
  cr_assert_eq(oeq_problem_set_dtypes(p, t, t), OEQ_SUCCESS);
  oeq_error_t err;
  oeq_schedule_t *sched = NULL;
  cr_assert_eq(oeq_schedule_build(p, &sched, &err), OEQ_SUCCESS, "%s", err.message);
  oeq_tp_source_t s = {0};
  cr_assert_eq(oeq_codegen_tp(sched, target, &s, &err), OEQ_SUCCESS, "%s", err.message);
  oeq_schedule_free(sched);
  oeq_problem_destroy(p);
  return s;
}

/* Where NVRTC is: the source compiles for sm_`sm` with no register spills. */
static void expect_compiles_without_spills(const char *text, int sm, const char *what) {
  oeq_error_t err;
  if (getenv("OEQ_SKIP_RTC_TESTS") || !oeq_nvrtc_api(&err)) return;
  const char *opts[] = {"--ptxas-options=-v"};
  void *bin = NULL;
  size_t size = 0;
  char *log = NULL;
  cr_expect_eq(oeq_nvrtc_compile(text, sm, opts, 1, &bin, &size, &log, &err), OEQ_SUCCESS, "%.900s",
               err.message);
  cr_expect_eq(test_spill_bytes(log), 0, "register spills in %s", what);
  free(bin);
  free(log);
}

/* Shared-weight dw of the pair paths (tp_dw_mma.c) and, where every path
 * is one, the forward (tp_fwd_mma.c) on tensor cores: from sm_80 on, in
 * CUDA, with shared weights and many weights a row only; the backward
 * kernel then keeps no dw copy of its own. Float32 as three TF32 products,
 * float64 on the DMMA; several dw tile groups where one would hold too
 * many tiles. */
Test(nvrtc_compile, tensor_cores_where_they_apply) {
  oeq_tp_source_t s = anchor_source("e3tools_transformer", OEQ_FLOAT32);
  cr_expect_eq(dw_groups(&s), 1, "e3tools_transformer: %d dw tile groups", dw_groups(&s));
  cr_expect(has(&s, "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32") && has(&s, "cvt.rna.tf32.f32"),
            "float32 dw not on 3xTF32 mma");
  cr_expect(!has(&s, "dws["), "the backward still forms the shared dw");
  cr_expect_eq(s.warps_per_block, 4, "e3tools_transformer: %d warps a block", s.warps_per_block);
  /* and the forward (every path a weighted uvw with shared weights) */
  const oeq_kernel_desc_t *fwd = kernel(&s, OEQ_TP_K_FORWARD), *bwd = kernel(&s, OEQ_TP_K_BACKWARD);
  cr_expect(has(&s, "oeq_fwd_tile(") && fwd->threads == 256 && fwd->rows_per_block == 16,
            "e3tools_transformer: forward not on tensor cores (%d threads, %d rows)", fwd->threads,
            fwd->rows_per_block);
  cr_expect(has(&s, "oeq_bwd_tile(") && bwd->threads == 256 && bwd->rows_per_block == 16,
            "e3tools_transformer: dx, dy not on tensor cores (%d threads, %d rows)", bwd->threads,
            bwd->rows_per_block);
  free(s.text);
  s = anchor_source("tetris-poly-1", OEQ_FLOAT32); /* 1.6 weights a row element */
  cr_expect(dw_groups(&s) == 0 && !has(&s, "oeq_fwd_tile("), "tetris-poly-1 on tensor cores");
  free(s.text);
  s = anchor_source("e3tools_transformer", OEQ_FLOAT64);
  cr_expect(dw_groups(&s) >= 1 && has(&s, "mma.sync.aligned.m8n8k4.row.col.f64.f64.f64.f64"),
            "float64 dw not on the DMMA");
  free(s.text);
  s = anchor_source_for("e3tools_transformer", OEQ_FLOAT32, OEQ_DIALECT_CUDA, 75);
  cr_expect(dw_groups(&s) == 0 && !has(&s, "mma.sync"), "tensor-core dw before sm_80");
  free(s.text);
  s = anchor_source_for("e3tools_transformer", OEQ_FLOAT32, OEQ_DIALECT_HIP, 0);
  cr_expect(dw_groups(&s) == 0 && !has(&s, "mma.sync"), "tensor-core dw in HIP");
  free(s.text);
  s = anchor_source("DiffDock-L=1", OEQ_FLOAT32); /* per-row weights */
  fwd = kernel(&s, OEQ_TP_K_FORWARD), bwd = kernel(&s, OEQ_TP_K_BACKWARD);
  cr_expect(dw_groups(&s) == 0 && !has(&s, "mma.sync"), "tensor cores for per-row weights");
  cr_expect(fwd->threads == 4 * 32 && fwd->rows_per_block == 4 && bwd->threads == 4 * 32 &&
                bwd->rows_per_block == 4,
            "a warp a row: %d / %d threads, %d / %d rows", fwd->threads, bwd->threads,
            fwd->rows_per_block, bwd->rows_per_block);
  free(s.text);

  /* many tiles: several groups, and the source compiles (where NVRTC is) */
  oeq_codegen_target_t target = {OEQ_DIALECT_CUDA, 4, 163 * 1024, 80};
  s = fc_source("33x0e+20x1o+7x2e+5x3o", "5x0e+3x1o+1x2e", "17x0e+9x1o+41x2e+3x3o", OEQ_FLOAT32,
                &target);
  cr_expect_gt(dw_groups(&s), 1, "%d dw tile groups", dw_groups(&s));
  expect_compiles_without_spills(s.text, 80, "the multi-group dw kernel");
  free(s.text);

  /* rows too wide for 16 staged at a time: 8 (generated, not compiled here:
   * the GPU suite's wide_shared_f32 and wide13_shared_f32 run them) */
  target.sm = 90;
  target.max_shared_per_block = 227 * 1024;
  s = fc_source("128x0e+128x1o+128x2e", "1x0e+1x1o+1x2e", "128x0e+128x1o+128x2e", OEQ_FLOAT32,
                &target);
  cr_expect(dw_groups(&s) > 1 && kernel(&s, OEQ_TP_K_DW)->rows_per_block == 8,
            "wide rows: %d dw groups, %d rows", dw_groups(&s), kernel(&s, OEQ_TP_K_DW)->rows_per_block);
  cr_expect_leq(constant_bytes(s.text), 65536, "%ld bytes of __constant__ data",
                constant_bytes(s.text));
  free(s.text);

  /* 26 tile groups: their tables (73 KB) outgrow the 64 KB of __constant__
   * memory and go to global memory (before: ptxas "too much global
   * constant data", a plan that failed to compile) */
  s = fc_source("128x0e+128x1o+128x2e", "1x0e+1x1o+1x2e+1x3o", "128x0e+128x1o+128x2e", OEQ_FLOAT32,
                &target);
  cr_expect_gt(dw_groups(&s), 22, "%d dw groups", dw_groups(&s));
  cr_expect_leq(constant_bytes(s.text), 65536, "%ld bytes of __constant__ data",
                constant_bytes(s.text));
  cr_expect(has(&s, "__device__ const int oeq_dw_tab["), "tile tables not in global memory");
  /* one kernel body for every group: the group's t builders by shape */
  cr_expect(has(&s, "switch (oeq_dw_gp[i][GP_SHAPE])"), "dw groups not table-driven");
  free(s.text);

  /* its float64 twin: 2,816 tiles, 44 groups (before: none, a global
   * atomic per weight and row) */
  s = fc_source("128x0e+128x1o+128x2e", "1x0e+1x1o+1x2e", "128x0e+128x1o+128x2e", OEQ_FLOAT64,
                &target);
  cr_expect_gt(dw_groups(&s), 32, "float64 wide: %d dw groups", dw_groups(&s));
  expect_compiles_without_spills(s.text, 90, "the 44-group dw kernel");
  free(s.text);
}

/* ------------------------------------------------------- hiprtc targets */

static const char tiny_kernel[] =
    "extern \"C\" __global__ void oeq_probe(float *x) { x[threadIdx.x] *= 2.0f; }\n";

static oeq_status_t compile_tiny(const char *arch, oeq_error_t *err) {
  void *code = NULL;
  size_t size = 0;
  oeq_status_t st = oeq_hiprtc_compile(tiny_kernel, arch, NULL, 0, &code, &size, NULL, err);
  free(code);
  return st;
}

/* Targets newer than the installed compiler: a status, never a crash
 * (Debian's ROCm 5.2 hiprtc would abort the process on gfx942 or gfx11).
 * With a ROCm that knows them, they compile instead. */
Test(hiprtc_compile, unknown_targets_are_unsupported_not_a_crash) {
  need_rtc(&hiprtc);
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
  need_rtc(&hiprtc);
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

/* The metadata reader on bad input: statuses, not crashes (no compiler
 * needed). */
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
  need_rtc(&hiprtc);
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
  cr_assert_not_null(copy);
  for (size_t cut = 0; cut < size; cut += 7) {
    memcpy(copy, code, cut);
    oeq_hip_code_object_kernels(copy, cut, k, 2, &n, &err);
  }
  free(copy);
  free(code);
}
