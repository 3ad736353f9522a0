/* test_hip_lockstep.c: no intra-warp exchange in the generated HIP source
 * relies on a primitive that is not a barrier on AMD's 64-lane wavefronts.
 *
 * On CUDA, lanes of a warp that exchange data through shared memory meet
 * at __syncwarp(); on AMD (older ROCm) __syncwarp is only a fence, and a
 * port that keeps it lets the compiler move the exchange's loads and stores
 * past each other (a peer's HIP port shipped non-conservative forces that
 * way). oeq's HIP dialect spells the point OEQ_SYNCWARP() as wavefront-scope
 * release / acquire fences around __builtin_amdgcn_wave_barrier() (the
 * wavefront runs in lockstep; the fences order its LDS traffic), and its
 * shuffles as __shfl_xor over the whole wavefront. This suite generates the
 * HIP source of every anchor (tests/anchors.h), TP and the convolution's
 * modes, float32 and float64 (no compiler or GPU needed), and fails on any
 * line that uses a CUDA warp-synchronous primitive (__syncwarp, the *_sync
 * shuffles / votes, __activemask) or a 32-lane warp, naming the line; and
 * checks that OEQ_SYNCWARP is defined as the barrier above. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "anchors.h"
#include "codegen/conv_codegen.h"
#include "codegen/tp_codegen.h"
#include "schedule.h"

TestSuite(hip_lockstep, .timeout = 300);

static const char *const forbidden[] = {
    "__syncwarp",  "__shfl_sync",   "__shfl_xor_sync", "__shfl_up_sync", "__shfl_down_sync",
    "__ballot_sync", "__any_sync",  "__all_sync",      "__match_any_sync", "__match_all_sync",
    "__activemask", "__reduce_add_sync", "#define OEQ_WARP 32",
};

/* The first line of text holding a forbidden primitive, copied into line
 * (empty: none). */
static void first_forbidden(const char *text, char *line, size_t len, const char **which) {
  line[0] = '\0';
  *which = NULL;
  for (size_t i = 0; i < sizeof forbidden / sizeof *forbidden; i++) {
    const char *hit = strstr(text, forbidden[i]);
    if (!hit) continue;
    const char *start = hit, *end = hit;
    while (start > text && start[-1] != '\n') start--;
    while (*end && *end != '\n') end++;
    int lineno = 1;
    for (const char *p = text; p < start; p++) lineno += *p == '\n';
    snprintf(line, len, "line %d: %.*s", lineno, (int)(end - start), start);
    *which = forbidden[i];
    return;
  }
}

/* The definition of OEQ_SYNCWARP in a HIP source: a wave barrier between
 * a release and an acquire fence. */
static int syncwarp_is_barrier(const char *text) {
  const char *d = strstr(text, "#define OEQ_SYNCWARP()");
  if (!d) return 0;
  const char *end = strchr(d, '\n');
  const char *rel = strstr(d, "__ATOMIC_RELEASE"), *bar = strstr(d, "__builtin_amdgcn_wave_barrier()"),
             *acq = strstr(d, "__ATOMIC_ACQUIRE");
  return end && rel && bar && acq && rel < bar && bar < acq && acq < end;
}

static void scan(const char *text, const char *what) {
  char line[512];
  const char *which;
  first_forbidden(text, line, sizeof line, &which);
  cr_expect(which == NULL, "%s: HIP source uses %s (not a barrier / lockstep-safe on wave64): %s", what,
            which ? which : "", line);
  cr_expect(syncwarp_is_barrier(text), "%s: OEQ_SYNCWARP is not fence + wave_barrier + fence", what);
  cr_expect(strstr(text, "#define OEQ_WARP 64") != NULL, "%s: not written for 64-lane wavefronts", what);
}

Test(hip_lockstep, anchors_tp_and_conv) {
  const oeq_codegen_target_t target = {OEQ_DIALECT_HIP, 4, 64 * 1024, 0};
  const struct {
    const char *name;
    oeq_conv_options_t opt;
  } modes[] = {{"atomic", {0, 0, 0, 0}},
               {"deterministic", {1, 0, 0, 0}},
               {"deterministic Kahan", {1, 1, 0, 0}},
               {"int64 indices", {0, 0, 1, 0}}};
  int scanned = 0;
  for (int i = 0; i < N_ANCHORS; i++)
    for (int d = 0; d < 2; d++) {
      oeq_problem_t *p = NULL;
      cr_assert_eq(anchor_problem(&anchors[i], d ? OEQ_FLOAT64 : OEQ_FLOAT32, &p), OEQ_SUCCESS, "%s",
                   oeq_last_error());
      oeq_schedule_t *s = NULL;
      oeq_error_t err = {0};
      cr_assert_eq(oeq_schedule_build(p, &s, &err), OEQ_SUCCESS, "%s", err.message);
      char what[160];
      oeq_tp_source_t tp = {0};
      /* rows too wide for 64 KB of shared memory are refused, not generated */
      if (oeq_codegen_tp(s, &target, &tp, &err) == OEQ_SUCCESS) {
        snprintf(what, sizeof what, "%s %s TP", anchors[i].label, d ? "f64" : "f32");
        scan(tp.text, what);
        free(tp.text);
        scanned++;
      }
      for (size_t m = 0; m < sizeof modes / sizeof *modes; m++) {
        oeq_conv_source_t cv = {0};
        if (oeq_codegen_conv(s, &target, &modes[m].opt, &cv, &err) != OEQ_SUCCESS) continue;
        snprintf(what, sizeof what, "%s %s conv %s", anchors[i].label, d ? "f64" : "f32", modes[m].name);
        scan(cv.text, what);
        free(cv.text);
        scanned++;
      }
      oeq_schedule_free(s);
      oeq_problem_destroy(p);
    }
  /* most anchors fit 64 KB: a scan of almost nothing would prove nothing */
  cr_expect(scanned >= 2 * N_ANCHORS, "only %d HIP sources generated", scanned);
}

/* The scanner itself finds a forbidden primitive and names its line. */
Test(hip_lockstep, scanner_finds_syncwarp) {
  char line[512];
  const char *which;
  first_forbidden("#define OEQ_WARP 64\nint a;\n  __syncwarp();\n", line, sizeof line, &which);
  cr_expect(which && !strcmp(which, "__syncwarp"), "missed __syncwarp");
  cr_expect(strstr(line, "line 3") != NULL, "%s", line);
  first_forbidden("v = __shfl_xor_sync(0xffffffffu, v, 1);\n", line, sizeof line, &which);
  cr_expect(which != NULL, "missed __shfl_xor_sync");
  first_forbidden("#define OEQ_SHFL_XOR(v, m) __shfl_xor((v), (m), OEQ_WARP)\n", line, sizeof line, &which);
  cr_expect(which == NULL, "flagged the wavefront-wide __shfl_xor: %s", line);
}
