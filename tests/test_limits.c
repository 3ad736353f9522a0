/* test_limits.c: hostile sizes (oeq issue 14, cases 1-3). Each case is
 * refused with a status and a message, writes nothing, and runs in bounded
 * time: the irreps / instruction caps of oeq.h, 64-bit size products with
 * overflow checks, and builders, describe and plan creation that are not
 * quadratic. Timeouts make a runaway loop a failure, not a hung suite. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/conv_workspace.h"
#include "codegen/conv_codegen.h"
#include "oeq.h"

TestSuite(limits, .timeout = 60);

#define EXPECT_FAIL(call, want, needle)                                                              \
  do {                                                                                              \
    oeq_status_t s_ = (call);                                                                       \
    cr_expect_eq(s_, (want), "%s: status %d (%s), want %d: %s", #call, (int)s_,                     \
                 oeq_status_string(s_), (int)(want), oeq_last_error());                             \
    cr_expect(strstr(oeq_last_error(), (needle)) != NULL, "%s: message \"%s\" lacks \"%s\"", #call, \
              oeq_last_error(), (needle));                                                          \
  } while (0)

#define OK(call) cr_assert_eq((call), OEQ_SUCCESS, "%s: %s", #call, oeq_last_error())

/* count copies of term joined by '+' (malloc'ed). */
static char *repeat_terms(const char *term, int count) {
  size_t n = strlen(term);
  char *s = malloc((n + 1) * (size_t)(count > 0 ? count : 1) + 1);
  cr_assert(s);
  size_t used = 0;
  for (int i = 0; i < count; i++) {
    if (i) s[used++] = '+';
    memcpy(s + used, term, n);
    used += n;
  }
  s[used] = '\0';
  return s;
}

static double seconds_since(const struct timespec *t0) {
  struct timespec t1;
  clock_gettime(CLOCK_MONOTONIC, &t1);
  return (double)(t1.tv_sec - t0->tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0->tv_nsec);
}

static oeq_problem_t *const SENTINEL = (oeq_problem_t *)(uintptr_t)0x5eed;

/* ---------------------------------------------------------------- case 1 */

/* Two 6,620-entry strings: 43.8 million paths, once a heap overflow (the
 * buffer's size was an int product that wrapped). */
Test(limits, channelwise_twenty_kb_strings_refused) {
  char *big = repeat_terms("0e", 6620);
  cr_assert_gt(strlen(big), 19000);
  oeq_problem_t *p = SENTINEL;
  EXPECT_FAIL(oeq_problem_create_channelwise(big, big, "0e", &p), OEQ_ERROR_INVALID_ARGUMENT, "entries");
  cr_expect_eq(p, SENTINEL, "a failed call wrote *p");
  free(big);
}

/* At the entry cap the same builder works; one entry more is refused. */
Test(limits, irreps_entry_cap) {
  char *at = repeat_terms("1x0e", 4096), *over = repeat_terms("1x0e", 4097);
  oeq_problem_t *p = NULL;
  OK(oeq_problem_create(at, "0e", "0e", &p));
  int64_t n1 = 0;
  OK(oeq_problem_dims(p, &n1, NULL, NULL));
  cr_expect_eq(n1, 4096);
  oeq_problem_destroy(p);
  p = SENTINEL;
  EXPECT_FAIL(oeq_problem_create(over, "0e", "0e", &p), OEQ_ERROR_INVALID_ARGUMENT, "at most 4096");
  cr_expect_eq(p, SENTINEL);
  free(at);
  free(over);
}

/* Channelwise at its cap: 4,096 paths make 4,096 output entries, built
 * with the right order (outputs sorted: all 0e first, then all 1o). */
Test(limits, channelwise_at_cap_is_built_and_sorted) {
  char *in1 = repeat_terms("2x0e", 2048);
  oeq_problem_t *p = NULL;
  OK(oeq_problem_create_channelwise(in1, "0e+1o", "0e+1o", &p));
  int64_t dim_out = 0;
  OK(oeq_problem_dims(p, NULL, NULL, &dim_out));
  cr_expect_eq(dim_out, 2048 * 2 * 1 + 2048 * 2 * 3);
  size_t need = 0;
  OK(oeq_problem_describe(p, NULL, 0, &need));
  char *json = malloc(need + 1);
  OK(oeq_problem_describe(p, json, need + 1, NULL));
  /* Instruction r has i_out r; the first 2048 come from edge irrep 0 (0e). */
  cr_expect(strstr(json, "{\"i_in1\": 0, \"i_in2\": 0, \"i_out\": 0,") != NULL);
  cr_expect(strstr(json, "{\"i_in1\": 0, \"i_in2\": 1, \"i_out\": 2048,") != NULL);
  cr_expect(strstr(json, "{\"i_in1\": 2047, \"i_in2\": 1, \"i_out\": 4095,") != NULL);
  free(json);
  oeq_problem_destroy(p);
  free(in1);
  char *in1_over = repeat_terms("2x0e", 2049);
  p = SENTINEL;
  EXPECT_FAIL(oeq_problem_create_channelwise(in1_over, "0e+1o", "0e+1o", &p), OEQ_ERROR_INVALID_ARGUMENT,
              "4098 paths");
  cr_expect_eq(p, SENTINEL);
  free(in1_over);
}

/* ---------------------------------------------------------------- case 2 */

/* A 1 MB valid irreps string: refused at once, not minutes of work. */
Test(limits, megabyte_irreps_string_is_fast) {
  char *big = repeat_terms("0e", 350000);
  cr_assert_gt(strlen(big), 1000000);
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  oeq_problem_t *p = SENTINEL;
  EXPECT_FAIL(oeq_problem_create_channelwise(big, "0e", "0e", &p), OEQ_ERROR_INVALID_ARGUMENT, "entries");
  EXPECT_FAIL(oeq_problem_create_fully_connected(big, "0e", "0e", &p), OEQ_ERROR_INVALID_ARGUMENT, "entries");
  EXPECT_FAIL(oeq_problem_create(big, "0e", "0e", &p), OEQ_ERROR_INVALID_ARGUMENT, "entries");
  cr_expect_eq(p, SENTINEL);
  double t = seconds_since(&t0);
  cr_expect_lt(t, 2.0, "refusing a 1 MB string took %.2f s", t);
  free(big);
}

/* Fully connected with 4,096 x 4,096 input pairs and 4,096 outputs none of
 * which match: the old triple loop visited 6.9e10 triples. */
Test(limits, fully_connected_sparse_is_fast) {
  char *in = repeat_terms("1x1e", 4096), *out = repeat_terms("1x0o", 4096);
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  oeq_problem_t *p = NULL;
  OK(oeq_problem_create_fully_connected(in, in, out, &p));
  double t = seconds_since(&t0);
  int64_t w = -1;
  OK(oeq_problem_weight_numel(p, &w));
  cr_expect_eq(w, 0, "no path matches, so no weights");
  cr_expect_lt(t, 5.0, "building took %.2f s", t);
  oeq_problem_destroy(p);
  free(in);
  free(out);
}

/* 60,000 instructions: describe and plan creation in linear time (the old
 * per-instruction coefficient and offset sums made them quadratic). */
Test(limits, many_instructions_describe_and_plan_are_fast) {
  oeq_problem_t *p = NULL;
  OK(oeq_problem_create("2x0e", "2x0e", "2x0e", &p));
  OK(oeq_problem_set_shared_weights(p, 1));
  for (int k = 0; k < 60000; k++) OK(oeq_problem_add_instruction(p, 0, 0, 0, OEQ_MODE_UVW, 1, 1.0));
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  size_t need = 0;
  OK(oeq_problem_describe(p, NULL, 0, &need));
  char *json = malloc(need + 1);
  cr_assert(json);
  OK(oeq_problem_describe(p, json, need + 1, NULL));
  /* element normalization: 60,000 paths of fan-in 4 into one output entry */
  char want[128];
  snprintf(want, sizeof want, "\"coefficient\": %.17g", sqrt(1.0 / 240000.0));
  cr_expect(strstr(json, want) != NULL, "no \"%s\" in the description", want);
  cr_expect(strstr(json, "\"weight_offset\": 479992, \"weight_count\": 8}") != NULL);
  free(json);
  oeq_plan_t *plan = NULL;
  OK(oeq_plan_create_tp(p, OEQ_BACKEND_CPU, 0, &plan));
  double t = seconds_since(&t0);
  cr_expect_lt(t, 5.0, "describe + plan took %.2f s", t);
  oeq_plan_destroy(plan);
  oeq_problem_destroy(p);
}

Test(limits, instruction_cap) {
  oeq_problem_t *p = NULL;
  OK(oeq_problem_create("0e", "0e", "0e", &p));
  for (int k = 0; k < 65536; k++) OK(oeq_problem_add_instruction(p, 0, 0, 0, OEQ_MODE_UUU, 0, 1.0));
  EXPECT_FAIL(oeq_problem_add_instruction(p, 0, 0, 0, OEQ_MODE_UUU, 0, 1.0), OEQ_ERROR_INVALID_PROBLEM,
              "at most 65536 instructions");
  oeq_problem_destroy(p);
}

/* ---------------------------------------------------------------- case 3 */

/* 4 x 0e everywhere, one uvw path: 64 weights. batch = 2^62 makes every
 * batch x width product a multiple of 2^64, which wrapped to 0 and let
 * NULL arrays through to the kernels. */
static oeq_plan_t *small_plan(oeq_problem_t **problem, int conv) {
  oeq_problem_t *p = NULL;
  OK(oeq_problem_create("4x0e", "4x0e", "4x0e", &p));
  OK(oeq_problem_add_instruction(p, 0, 0, 0, OEQ_MODE_UVW, 1, 1.0));
  OK(oeq_problem_set_shared_weights(p, 0));
  oeq_plan_t *plan = NULL;
  if (conv)
    OK(oeq_plan_create_conv(p, OEQ_BACKEND_CPU, 0, 0, &plan));
  else
    OK(oeq_plan_create_tp(p, OEQ_BACKEND_CPU, 0, &plan));
  *problem = p;
  return plan;
}

#define HUGE_BATCH ((int64_t)1 << 62)

Test(limits, tp_huge_batch_refused) {
  oeq_problem_t *p;
  oeq_plan_t *plan = small_plan(&p, 0);
  EXPECT_FAIL(oeq_tp_forward(plan, HUGE_BATCH, NULL, NULL, NULL, NULL, NULL), OEQ_ERROR_INVALID_ARGUMENT,
              "overflows");
  EXPECT_FAIL(oeq_tp_backward(plan, HUGE_BATCH, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
              OEQ_ERROR_INVALID_ARGUMENT, "overflows");
  EXPECT_FAIL(oeq_tp_forward(plan, INT64_MAX, NULL, NULL, NULL, NULL, NULL), OEQ_ERROR_INVALID_ARGUMENT,
              "overflows");
  oeq_plan_destroy(plan);
  oeq_problem_destroy(p);
}

Test(limits, conv_huge_counts_refused) {
  oeq_problem_t *p;
  oeq_plan_t *plan = small_plan(&p, 1);
  EXPECT_FAIL(oeq_conv_forward(plan, HUGE_BATCH, HUGE_BATCH, HUGE_BATCH, NULL, NULL, NULL, NULL, NULL, NULL,
                               NULL, NULL, 0, NULL),
              OEQ_ERROR_INVALID_ARGUMENT, "overflows");
  EXPECT_FAIL(oeq_conv_backward(plan, HUGE_BATCH, HUGE_BATCH, HUGE_BATCH, NULL, NULL, NULL, NULL, NULL,
                                NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL),
              OEQ_ERROR_INVALID_ARGUMENT, "overflows");
  /* (2^61 + 2) x 8 bytes wrapped to 16. */
  size_t bytes = 12345;
  EXPECT_FAIL(oeq_conv_workspace_size(plan, 1, 1, (int64_t)1 << 61, &bytes), OEQ_ERROR_INVALID_ARGUMENT,
              "overflows");
  cr_expect_eq(bytes, 12345, "a failed call wrote *bytes");
  OK(oeq_conv_workspace_size(plan, 10, 7, 1000, &bytes));
  cr_expect_geq(bytes, (size_t)(10 + 1 + 1000) * 8, "workspace %zu bytes", bytes);
  oeq_plan_destroy(plan);
  oeq_problem_destroy(p);
}

/* The pure layout helper the GPU backends size their workspace with. */
Test(limits, conv_workspace_layout_helper) {
  oeq_conv_ws_layout_t l;
  oeq_error_t err;
  cr_assert_eq(oeq_conv_ws_layout(64, 3, 10, 5, 1, 1, 4, &l, &err), OEQ_SUCCESS);
  cr_expect_eq(l.slots_off, 64);
  cr_expect_eq(l.slots_bytes, 120);
  cr_expect_eq(l.dw_off, 64 + 256);
  cr_expect_eq(l.dw_bytes, 60);
  cr_expect_eq(l.total, 64 + 256 + 60);
  cr_assert_eq(oeq_conv_ws_layout(64, 3, 10, 5, 0, 0, 4, &l, &err), OEQ_SUCCESS);
  cr_expect_eq(l.total, 64);
  cr_expect_eq(oeq_conv_ws_layout(64, (int64_t)1 << 40, (int64_t)1 << 30, 5, 1, 0, 8, &l, &err),
               OEQ_ERROR_INVALID_ARGUMENT);
  cr_expect_eq(oeq_conv_ws_layout(64, (int64_t)1 << 40, 1, (int64_t)1 << 40, 0, 1, 8, &l, &err),
               OEQ_ERROR_INVALID_ARGUMENT);
  /* slots that fit alone but not with the header and alignment */
  cr_expect_eq(oeq_conv_ws_layout(SIZE_MAX - 100, 1, 1, 0, 1, 0, 8, &l, &err), OEQ_ERROR_INVALID_ARGUMENT);
  size_t b;
  cr_expect_eq(oeq_conv_bucket_bytes((int64_t)1 << 61, 1, &b, &err), OEQ_ERROR_INVALID_ARGUMENT);
  cr_expect_eq(oeq_conv_bucket_bytes(INT64_MAX, INT64_MAX, &b, &err), OEQ_ERROR_INVALID_ARGUMENT);
  cr_assert_eq(oeq_conv_bucket_bytes(9, 20, &b, &err), OEQ_SUCCESS);
  cr_expect_eq(b, 30 * 8);
}

/* The conv kernels' segment counts (lib/codegen/conv_codegen.h): bounded by
 * OEQ_CONV_MAX_SEGMENTS, covering every edge, and, wherever segments own
 * workspace slots (deterministic mode, shared-weight dw), the count the
 * workspace is sized for. Up to 2^40 edges, so no product overflows. */
Test(limits, conv_segments_bounded_and_covering) {
  const int64_t counts[] = {1, 2, 15, 16, 17, 4095, 4096, 4097, 5000, 65535, 65536, 65537, 400000,
                            (int64_t)1 << 31, ((int64_t)1 << 40) + 3};
  for (size_t k = 0; k < sizeof counts / sizeof counts[0]; k++) {
    const int64_t e = counts[k], n = oeq_conv_segments(e), len = oeq_conv_segment_len(e);
    cr_expect(n >= 1 && n <= OEQ_CONV_MAX_SEGMENTS && len >= CONV_MIN_SEG_LEN, "edges %lld", (long long)e);
    cr_expect(n * len >= e && (n - 1) * len < e, "contiguous segments of %lld edges", (long long)e);
    for (int det = 0; det < 2; det++) {
      const int64_t fl = oeq_conv_forward_segment_len(e, det), fn = oeq_conv_forward_segments(e, det);
      cr_expect(fn >= 1 && fn <= OEQ_CONV_MAX_SEGMENTS && fn * fl >= e && (fn - 1) * fl < e,
                "forward segments of %lld edges, det %d", (long long)e, det);
      if (det) cr_expect_eq(fn, n, "the deterministic forward's slots are the workspace's");
      for (int shared = 0; shared < 2; shared++) {
        const int64_t bn = oeq_conv_backward_segments(e, det, shared);
        /* interleaved segments s < bn take edges s, s + bn, ...: every edge
         * once exactly when 1 <= bn <= e */
        cr_expect(bn >= 1 && bn <= OEQ_CONV_MAX_SEGMENTS && bn <= e, "backward segments of %lld edges",
                  (long long)e);
        if (det || shared) cr_expect_eq(bn, n, "segments that own workspace slots: %lld edges", (long long)e);
      }
    }
  }
  cr_expect_eq(oeq_conv_backward_segments(0, 0, 0), 0);
  cr_expect_eq(oeq_conv_forward_segments(0, 1), 0);
}

/* Paths of 10^18 weights: the tenth would take weight_numel past 2^63. */
Test(limits, weight_numel_cannot_overflow) {
  oeq_problem_t *p = NULL;
  OK(oeq_problem_create("1000000x0e", "1000000x0e", "1000000x0e", &p));
  for (int k = 0; k < 9; k++) OK(oeq_problem_add_instruction(p, 0, 0, 0, OEQ_MODE_UVW, 1, 1.0));
  EXPECT_FAIL(oeq_problem_add_instruction(p, 0, 0, 0, OEQ_MODE_UVW, 1, 1.0), OEQ_ERROR_INVALID_ARGUMENT,
              "overflow");
  int64_t w = 0;
  OK(oeq_problem_weight_numel(p, &w));
  cr_expect_eq(w, (int64_t)9000000000000000000);
  /* A plan of it exists, but no call can pass arrays of 9e18 x 4 bytes. */
  oeq_plan_t *plan = NULL;
  OK(oeq_plan_create_tp(p, OEQ_BACKEND_CPU, 0, &plan));
  float x[1000], z[1000];
  EXPECT_FAIL(oeq_tp_forward(plan, 1, x, x, x, z, NULL), OEQ_ERROR_INVALID_ARGUMENT, "overflows");
  oeq_plan_destroy(plan);
  oeq_problem_destroy(p);
}

/* A finite path_weight whose coefficient is not: refused at once
 * (DBL_MAX) or, with a huge variance, by describe and plan creation. */
Test(limits, huge_path_weight_refused) {
  oeq_problem_t *p = NULL;
  OK(oeq_problem_create("0e", "0e", "0e", &p));
  EXPECT_FAIL(oeq_problem_add_instruction(p, 0, 0, 0, OEQ_MODE_UVW, 1, DBL_MAX),
              OEQ_ERROR_INVALID_ARGUMENT, "path_weight");
  OK(oeq_problem_add_instruction(p, 0, 0, 0, OEQ_MODE_UVW, 1, 1e200));
  double out_var = 1e200;
  OK(oeq_problem_set_variances(p, NULL, NULL, &out_var));
  char buf[4096];
  memset(buf, 'x', sizeof buf);
  size_t need = 777;
  EXPECT_FAIL(oeq_problem_describe(p, buf, sizeof buf, &need), OEQ_ERROR_INVALID_PROBLEM, "not finite");
  cr_expect_eq(buf[0], 'x', "a failed describe wrote buf");
  cr_expect_eq(need, 777, "a failed describe wrote *needed");
  oeq_plan_t *plan = NULL;
  EXPECT_FAIL(oeq_plan_create_tp(p, OEQ_BACKEND_CPU, 0, &plan), OEQ_ERROR_INVALID_PROBLEM, "not finite");
  cr_expect_null(plan);
  /* Back to a sane variance: the JSON has no inf / nan. */
  out_var = 1.0;
  OK(oeq_problem_set_variances(p, NULL, NULL, &out_var));
  OK(oeq_problem_describe(p, buf, sizeof buf, NULL));
  cr_expect(strstr(buf, "inf") == NULL && strstr(buf, "nan") == NULL, "%s", buf);
  oeq_problem_destroy(p);
}
