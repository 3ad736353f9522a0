/* leak_check.c: drives the whole public lifecycle, the failure paths
 * included, in one plain process so valgrind / LeakSanitizer can see every
 * allocation (Criterion's forked test processes hide leaks). Exits non-zero
 * if any call behaves unexpectedly. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "oeq.h"

static int failures;

static void expect(int ok, const char *what) {
  if (!ok) {
    fprintf(stderr, "leak_check: %s (last error: %s)\n", what, oeq_last_error());
    failures++;
  }
}

static void bad_inputs(void) {
  oeq_problem_t *p = NULL;
  const char *bad[] = {"1x", "x1o", "-1x0e", "1.5x0e", "1q", "99999999999999999999x0e"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    expect(oeq_problem_create(bad[i], "0e", "0e", &p) == OEQ_ERROR_PARSE, "bad irreps rejected");
  expect(oeq_problem_create("2x1o", "1x1o", "3x0e", &p) == OEQ_SUCCESS, "problem created");
  expect(oeq_problem_add_instruction(p, 0, 0, 0, OEQ_MODE_UVU, 1, 1.0) == OEQ_ERROR_INVALID_PROBLEM,
         "uvu multiplicity mismatch rejected");
  expect(oeq_problem_add_instruction(p, 5, 0, 0, OEQ_MODE_UVW, 1, 1.0) == OEQ_ERROR_INVALID_PROBLEM,
         "index out of range rejected");
  oeq_plan_t *plan = NULL;
  expect(oeq_plan_create_tp(p, OEQ_BACKEND_HIP, 0, &plan) == OEQ_ERROR_BACKEND_UNAVAILABLE,
         "HIP unavailable");
  oeq_problem_destroy(p);
  oeq_problem_destroy(NULL);
  oeq_plan_destroy(NULL);
}

static void run_tp_and_conv(void) {
  oeq_problem_t *p = NULL;
  oeq_plan_t *tp = NULL, *conv = NULL;
  expect(oeq_problem_create_channelwise("8x0e+8x1o", "0e+1o+2e", "0e+1o+2e", &p) == OEQ_SUCCESS,
         "channelwise problem");
  expect(oeq_problem_set_dtypes(p, OEQ_FLOAT64, OEQ_FLOAT64) == OEQ_SUCCESS, "dtypes");
  expect(oeq_plan_create_tp(p, OEQ_BACKEND_CPU, 0, &tp) == OEQ_SUCCESS, "tp plan");
  expect(oeq_plan_create_conv(p, OEQ_BACKEND_CPU, 0, OEQ_CONV_DETERMINISTIC, &conv) == OEQ_SUCCESS,
         "conv plan");
  oeq_problem_destroy(p); /* plans keep what they need */
  if (!tp || !conv) return;
  enum { rows = 5, edges = 7 };
  int64_t d1 = 32, d2 = 9, dz = 0, nw = 0;
  oeq_problem_t *q = NULL;
  oeq_problem_create_channelwise("8x0e+8x1o", "0e+1o+2e", "0e+1o+2e", &q);
  oeq_problem_dims(q, &d1, &d2, &dz);
  oeq_problem_weight_numel(q, &nw);
  oeq_problem_destroy(q);
  double *x = calloc(rows * d1, 8), *y = calloc(edges * d2, 8), *w = calloc(edges * nw, 8),
         *z = calloc(rows * dz, 8), *dzv = calloc(rows * dz, 8), *dx = calloc(rows * d1, 8),
         *dy = calloc(edges * d2, 8), *dw = calloc(edges * nw, 8);
  for (int64_t i = 0; i < rows * d1; i++) x[i] = sin((double)i);
  for (int64_t i = 0; i < edges * d2; i++) y[i] = cos((double)i);
  for (int64_t i = 0; i < edges * nw; i++) w[i] = 0.5 + 0.01 * (double)i;
  for (int64_t i = 0; i < rows * dz; i++) dzv[i] = 1.0;
  int32_t recv[edges] = {0, 0, 1, 2, 2, 3, 4}, send[edges] = {1, 2, 0, 4, 3, 3, 0};
  int32_t perm[edges] = {2, 6, 0, 1, 4, 5, 3};
  expect(oeq_tp_forward(tp, rows, x, y, w, z, NULL) == OEQ_SUCCESS, "tp forward");
  expect(oeq_tp_backward(tp, rows, x, y, w, dzv, dx, dy, dw, NULL) == OEQ_SUCCESS, "tp backward");
  expect(oeq_conv_forward(conv, rows, rows, edges, x, y, w, recv, send, perm, z, NULL, 0, NULL) ==
             OEQ_SUCCESS, "conv forward");
  expect(oeq_conv_backward(conv, rows, rows, edges, x, y, w, dzv, recv, send, perm, dx, dy, dw, NULL,
                           0, NULL) == OEQ_SUCCESS, "conv backward");
  expect(oeq_tp_forward(conv, rows, x, y, w, z, NULL) == OEQ_ERROR_INVALID_ARGUMENT,
         "conv plan refused for tp");
  send[3] = 99;
  expect(oeq_conv_forward(conv, rows, rows, edges, x, y, w, recv, send, perm, z, NULL, 0, NULL) ==
             OEQ_ERROR_INVALID_ARGUMENT, "bad index rejected");
  free(x), free(y), free(w), free(z), free(dzv), free(dx), free(dy), free(dw);
  oeq_plan_destroy(tp);
  oeq_plan_destroy(conv);
}

int main(void) {
  bad_inputs();
  run_tp_and_conv();
  printf("leak_check: %s\n", failures ? "FAILED" : "ok");
  return failures ? 1 : 0;
}
