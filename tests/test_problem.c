/* test_problem.c: the problem model: instruction validation, e3nn's
 * normalization coefficients (conventions.md A3), weight layout, the two
 * builders, oeq_problem_describe and oeq_problem_dims. Expected values are
 * derived by hand from conventions.md, never from the library. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builders.h"
#include "oeq.h"
#include "problem.h"

TestSuite(problem);

static oeq_problem_t *make(const char *a, const char *b, const char *c) {
  oeq_problem_t *p = NULL;
  oeq_status_t s = oeq_problem_create(a, b, c, &p);
  cr_assert_eq(s, OEQ_SUCCESS, "oeq_problem_create(%s, %s, %s): %s", a, b, c, oeq_last_error());
  cr_assert_not_null(p);
  return p;
}

static void add(oeq_problem_t *p, int i1, int i2, int io, oeq_mode_t m, int w, double pw) {
  oeq_status_t s = oeq_problem_add_instruction(p, i1, i2, io, m, w, pw);
  cr_assert_eq(s, OEQ_SUCCESS, "add_instruction(%d,%d,%d,mode %d,w %d,%g): %s", i1, i2, io, m, w,
               pw, oeq_last_error());
}

/* A failing add: status, the message names the instruction index and
 * contains `needle`; the instruction list is unchanged. */
static void add_fails(oeq_problem_t *p, int i1, int i2, int io, oeq_mode_t m, int w, double pw,
                      oeq_status_t want, const char *needle) {
  int before = p->n_instructions;
  oeq_status_t s = oeq_problem_add_instruction(p, i1, i2, io, m, w, pw);
  cr_expect_eq(s, want, "add_instruction(%d,%d,%d,mode %d,w %d,%g) = %d, want %d (%s)", i1, i2, io,
               (int)m, w, pw, s, want, oeq_last_error());
  char idx[64];
  snprintf(idx, sizeof idx, "instruction %d", before);
  cr_expect(strstr(oeq_last_error(), idx) != NULL, "message does not name \"%s\": %s", idx,
            oeq_last_error());
  cr_expect(strstr(oeq_last_error(), needle) != NULL, "message lacks \"%s\": %s", needle,
            oeq_last_error());
  cr_expect_eq(p->n_instructions, before, "a rejected instruction was appended");
}

/* ---------------------------------------------------------- validation */

Test(problem, validation_messages) {
  oeq_problem_t *p = make("2x0e+3x1o", "2x0e+1x1o", "2x0e+3x1o+6x1o+1x2e+3x1e+1x0e");
  add(p, 0, 0, 0, OEQ_MODE_UVW, 1, 1.0);
  add(p, 1, 1, 0, OEQ_MODE_UVW, 1, 1.0);
  /* index out of range, each of the three */
  add_fails(p, 2, 0, 0, OEQ_MODE_UVW, 1, 1.0, OEQ_ERROR_INVALID_PROBLEM, "i_in1 = 2");
  add_fails(p, -1, 0, 0, OEQ_MODE_UVW, 1, 1.0, OEQ_ERROR_INVALID_PROBLEM, "i_in1 = -1");
  add_fails(p, 0, 2, 0, OEQ_MODE_UVW, 1, 1.0, OEQ_ERROR_INVALID_PROBLEM, "i_in2 = 2");
  add_fails(p, 0, 0, 6, OEQ_MODE_UVW, 1, 1.0, OEQ_ERROR_INVALID_PROBLEM, "i_out = 6");
  /* parity: 1o x 0e cannot give 1e (index 4) */
  add_fails(p, 1, 0, 4, OEQ_MODE_UVW, 1, 1.0, OEQ_ERROR_INVALID_PROBLEM, "parity");
  /* triangle: 0e x 0e cannot give 2e (index 3) */
  add_fails(p, 0, 0, 3, OEQ_MODE_UVW, 1, 1.0, OEQ_ERROR_INVALID_PROBLEM, "triangle");
  /* uvw without weight */
  add_fails(p, 0, 0, 0, OEQ_MODE_UVW, 0, 1.0, OEQ_ERROR_INVALID_PROBLEM, "weight");
  /* uvu: mul_in1 (3) != mul_out (6); message gives both numbers */
  add_fails(p, 1, 0, 2, OEQ_MODE_UVU, 1, 1.0, OEQ_ERROR_INVALID_PROBLEM, "3 != 6");
  /* uvv: mul_in2 (2) != mul_out (3) */
  add_fails(p, 1, 0, 1, OEQ_MODE_UVV, 1, 1.0, OEQ_ERROR_INVALID_PROBLEM, "2 != 3");
  /* uuw: mul_in1 (3) != mul_in2 (2) */
  add_fails(p, 1, 0, 1, OEQ_MODE_UUW, 1, 1.0, OEQ_ERROR_INVALID_PROBLEM, "3 != 2");
  /* uuw without weight: mul_out must be 1 (0e x 0e -> 2x0e) */
  add_fails(p, 0, 0, 0, OEQ_MODE_UUW, 0, 1.0, OEQ_ERROR_INVALID_PROBLEM, "mul_out == 1");
  /* uuu: 2, 2, 3 */
  add_fails(p, 0, 0, 5, OEQ_MODE_UUU, 1, 1.0, OEQ_ERROR_INVALID_PROBLEM, "uuu");
  /* uvuv: 3 * 2 != 3 */
  add_fails(p, 1, 0, 1, OEQ_MODE_UVUV, 1, 1.0, OEQ_ERROR_INVALID_PROBLEM, "3 * 2 != 3");
  /* path_weight negative / NaN / inf */
  add_fails(p, 0, 0, 0, OEQ_MODE_UVW, 1, -1.0, OEQ_ERROR_INVALID_ARGUMENT, "path_weight");
  add_fails(p, 0, 0, 0, OEQ_MODE_UVW, 1, NAN, OEQ_ERROR_INVALID_ARGUMENT, "path_weight");
  add_fails(p, 0, 0, 0, OEQ_MODE_UVW, 1, INFINITY, OEQ_ERROR_INVALID_ARGUMENT, "path_weight");
  /* bad mode */
  add_fails(p, 0, 0, 0, (oeq_mode_t)6, 1, 1.0, OEQ_ERROR_INVALID_ARGUMENT, "mode");
  add_fails(p, 0, 0, 0, (oeq_mode_t)-1, 1, 1.0, OEQ_ERROR_INVALID_ARGUMENT, "mode");
  /* and valid ones in every mode still go in afterwards */
  add(p, 1, 0, 2, OEQ_MODE_UVUV, 1, 1.0);   /* 3*2 == 6 */
  add(p, 1, 0, 1, OEQ_MODE_UVU, 0, 1.0);    /* 3 == 3 */
  add(p, 0, 0, 0, OEQ_MODE_UVV, 1, 0.0);    /* 2 == 2, path weight 0 allowed */
  add(p, 0, 0, 0, OEQ_MODE_UUU, 0, 1.0);    /* 2 == 2 == 2 */
  add(p, 0, 0, 5, OEQ_MODE_UUW, 0, 1.0);    /* 2 == 2, mul_out 1 */
  add(p, 0, 0, 0, OEQ_MODE_UUW, 1, 1.0);
  cr_expect_eq(p->n_instructions, 8);
  oeq_problem_destroy(p);
}

Test(problem, mul0_entries_validate) {
  /* A mul-0 entry is legal; an instruction touching it is valid (e3nn
   * skips it at run time) as long as the mode's rule holds. */
  oeq_problem_t *p = make("0x1o+2x0e", "1x1o", "0x1e+2x1o+2x1e");
  add(p, 0, 0, 0, OEQ_MODE_UVU, 1, 1.0);
  add(p, 1, 0, 1, OEQ_MODE_UVU, 1, 1.0);
  add_fails(p, 0, 0, 2, OEQ_MODE_UVU, 1, 1.0, OEQ_ERROR_INVALID_PROBLEM, "0 != 2");
  int64_t n = -1;
  cr_assert_eq(oeq_problem_weight_numel(p, &n), OEQ_SUCCESS);
  cr_expect_eq(n, 2, "weight_numel = %lld, want 0 + 2", (long long)n);
  cr_expect(oeq_instruction_is_empty(p, &p->instructions[0]), "mul-0 instruction is not empty");
  cr_expect(!oeq_instruction_is_empty(p, &p->instructions[1]));
  oeq_problem_destroy(p);
}

/* ------------------------------------------------------- normalization */

static void expect_coef(const oeq_problem_t *p, int k, double want) {
  double got = oeq_problem_coefficient(p, k);
  cr_expect(fabs(got - want) <= 1e-15 * fabs(want) + 1e-300, "coefficient[%d] = %.17g, want %.17g", k,
            got, want);
}

/* conventions.md: FullyConnectedTensorProduct("2x0e+1x1o","1x0e+1x1o","2x0e+1x1o")
 * instructions (0,0,0) (0,1,1) (1,0,1) (1,1,0); fan-ins 2,2,1,1. */
static oeq_problem_t *fctp_example(void) {
  oeq_problem_t *p = NULL;
  cr_assert_eq(oeq_problem_create_fully_connected("2x0e+1x1o", "1x0e+1x1o", "2x0e+1x1o", &p),
               OEQ_SUCCESS, "%s", oeq_last_error());
  return p;
}

Test(problem, fully_connected_example) {
  oeq_problem_t *p = fctp_example();
  cr_assert_eq(p->n_instructions, 4, "%d instructions", p->n_instructions);
  const int want[4][3] = {{0, 0, 0}, {0, 1, 1}, {1, 0, 1}, {1, 1, 0}};
  for (int k = 0; k < 4; k++) {
    const oeq_instruction_t *i = &p->instructions[k];
    cr_expect(i->i_in1 == want[k][0] && i->i_in2 == want[k][1] && i->i_out == want[k][2] &&
                  i->mode == OEQ_MODE_UVW && i->has_weight && i->path_weight == 1.0,
              "instruction %d = (%d,%d,%d,%d,%d,%g)", k, i->i_in1, i->i_in2, i->i_out, i->mode,
              i->has_weight, i->path_weight);
  }
  expect_coef(p, 0, sqrt(1.0 / 3.0));
  expect_coef(p, 3, sqrt(1.0 / 3.0));
  expect_coef(p, 1, 1.0);
  expect_coef(p, 2, 1.0);
  /* weights: 2*1*2, 2*1*1, 1*1*1, 1*1*2 */
  int64_t n = 0;
  cr_assert_eq(oeq_problem_weight_numel(p, &n), OEQ_SUCCESS);
  cr_expect_eq(n, 9);
  const int64_t off[] = {0, 4, 6, 7};
  for (int k = 0; k < 4; k++)
    cr_expect_eq(oeq_problem_weight_offset(p, k), off[k], "offset[%d] = %lld", k,
                 (long long)oeq_problem_weight_offset(p, k));
  int64_t d1, d2, d3;
  cr_assert_eq(oeq_problem_dims(p, &d1, &d2, &d3), OEQ_SUCCESS);
  cr_expect(d1 == 5 && d2 == 4 && d3 == 5, "dims %lld %lld %lld", (long long)d1, (long long)d2,
            (long long)d3);
  oeq_problem_destroy(p);
}

Test(problem, normalization_variants) {
  oeq_problem_t *p = fctp_example();
  /* irrep 'norm' (alpha = d1*d2), path 'element' (x = 3 for both outputs) */
  cr_assert_eq(oeq_problem_set_normalization(p, OEQ_IRREP_NORM_NORM, OEQ_PATH_NORM_ELEMENT), OEQ_SUCCESS);
  expect_coef(p, 0, sqrt(1.0 / 3.0));
  expect_coef(p, 1, sqrt(3.0 / 3.0));
  expect_coef(p, 2, sqrt(3.0 / 3.0));
  expect_coef(p, 3, sqrt(9.0 / 3.0));
  /* irrep 'none' (alpha = 1) */
  cr_assert_eq(oeq_problem_set_normalization(p, OEQ_IRREP_NORM_NONE, OEQ_PATH_NORM_ELEMENT), OEQ_SUCCESS);
  for (int k = 0; k < 4; k++) expect_coef(p, k, sqrt(1.0 / 3.0));
  /* path 'path': x = fan_in(ins) * (#instructions into the same output = 2) */
  cr_assert_eq(oeq_problem_set_normalization(p, OEQ_IRREP_NORM_COMPONENT, OEQ_PATH_NORM_PATH), OEQ_SUCCESS);
  expect_coef(p, 0, sqrt(1.0 / 4.0));
  expect_coef(p, 1, sqrt(3.0 / 4.0));
  expect_coef(p, 2, sqrt(3.0 / 2.0));
  expect_coef(p, 3, sqrt(1.0 / 2.0));
  /* path 'none': x = 1 */
  cr_assert_eq(oeq_problem_set_normalization(p, OEQ_IRREP_NORM_COMPONENT, OEQ_PATH_NORM_NONE), OEQ_SUCCESS);
  expect_coef(p, 0, 1.0);
  expect_coef(p, 1, sqrt(3.0));
  expect_coef(p, 2, sqrt(3.0));
  expect_coef(p, 3, 1.0);
  cr_assert_eq(oeq_problem_set_normalization(p, OEQ_IRREP_NORM_NORM, OEQ_PATH_NORM_NONE), OEQ_SUCCESS);
  expect_coef(p, 3, 3.0);
  expect_coef(p, 1, sqrt(3.0));
  oeq_problem_destroy(p);
}

Test(problem, variances) {
  oeq_problem_t *p = fctp_example();
  const double v1[] = {2.0, 0.5}, v2[] = {3.0, 1.0}, vo[] = {5.0, 7.0};
  cr_assert_eq(oeq_problem_set_variances(p, v1, v2, vo), OEQ_SUCCESS, "%s", oeq_last_error());
  /* element: out 0: x = 2*3*2 + 0.5*1*1 = 12.5;  out 1: x = 2*1*2 + 0.5*3*1 = 5.5 */
  expect_coef(p, 0, sqrt(1.0 / 12.5 * 5.0));
  expect_coef(p, 3, sqrt(1.0 / 12.5 * 5.0));
  expect_coef(p, 1, sqrt(3.0 / 5.5 * 7.0));
  expect_coef(p, 2, sqrt(3.0 / 5.5 * 7.0));
  /* path: x = v1*v2*fan_in*2 */
  cr_assert_eq(oeq_problem_set_normalization(p, OEQ_IRREP_NORM_COMPONENT, OEQ_PATH_NORM_PATH), OEQ_SUCCESS);
  expect_coef(p, 0, sqrt(1.0 / (2 * 3 * 2 * 2) * 5.0));
  expect_coef(p, 1, sqrt(3.0 / (2 * 1 * 2 * 2) * 7.0));
  expect_coef(p, 2, sqrt(3.0 / (0.5 * 3 * 1 * 2) * 7.0));
  expect_coef(p, 3, sqrt(1.0 / (0.5 * 1 * 1 * 2) * 5.0));
  /* NULL resets to ones */
  cr_assert_eq(oeq_problem_set_variances(p, NULL, NULL, NULL), OEQ_SUCCESS);
  expect_coef(p, 0, sqrt(1.0 / 4.0));
  /* negative / NaN / inf variances rejected, naming the entry, nothing changed */
  const double bad[] = {1.0, -2.0}, nan2[] = {NAN, 1.0}, inf1[] = {1.0, INFINITY};
  cr_expect_eq(oeq_problem_set_variances(p, bad, NULL, NULL), OEQ_ERROR_INVALID_ARGUMENT);
  cr_expect(strstr(oeq_last_error(), "in1_var[1]") != NULL, "%s", oeq_last_error());
  cr_expect_eq(oeq_problem_set_variances(p, v1, nan2, NULL), OEQ_ERROR_INVALID_ARGUMENT);
  cr_expect(strstr(oeq_last_error(), "in2_var[0]") != NULL, "%s", oeq_last_error());
  cr_expect_eq(oeq_problem_set_variances(p, v1, v2, inf1), OEQ_ERROR_INVALID_ARGUMENT);
  cr_expect(strstr(oeq_last_error(), "out_var[1]") != NULL, "%s", oeq_last_error());
  expect_coef(p, 0, sqrt(1.0 / 4.0)); /* still all ones */
  oeq_problem_destroy(p);
}

Test(problem, x_zero_guard) {
  /* All input variances 0: x = 0, alpha is not divided (e3nn's x > 0 guard). */
  oeq_problem_t *p = fctp_example();
  const double z1[] = {0.0, 0.0}, vo[] = {2.0, 3.0};
  cr_assert_eq(oeq_problem_set_variances(p, z1, NULL, vo), OEQ_SUCCESS);
  expect_coef(p, 0, sqrt(1.0 * 2.0));
  expect_coef(p, 1, sqrt(3.0 * 3.0));
  cr_assert_eq(oeq_problem_set_normalization(p, OEQ_IRREP_NORM_NORM, OEQ_PATH_NORM_PATH), OEQ_SUCCESS);
  expect_coef(p, 3, sqrt(9.0 * 2.0));
  oeq_problem_destroy(p);
  /* mul 0: fan-in 0, so x = 0 too */
  p = make("0x1o", "1x1o", "1x0e");
  add(p, 0, 0, 0, OEQ_MODE_UVW, 1, 1.0);
  expect_coef(p, 0, 1.0);
  oeq_problem_destroy(p);
}

Test(problem, user_path_weight_inside_sqrt) {
  oeq_problem_t *p = make("3x1o", "2x1o", "3x1e+3x1e");
  add(p, 0, 0, 0, OEQ_MODE_UVU, 1, 1.0);
  add(p, 0, 0, 1, OEQ_MODE_UVU, 1, 4.0);
  /* each output has one instruction, uvu fan-in = mul2 = 2: alpha = 3/2 */
  expect_coef(p, 0, sqrt(1.5));
  expect_coef(p, 1, 2.0 * sqrt(1.5));
  oeq_problem_destroy(p);
  /* fan-in counts every instruction into the output, weighted or not */
  p = make("3x1e+3x0e", "2x1o", "3x1o");
  add(p, 0, 0, 0, OEQ_MODE_UVU, 0, 0.25);
  add(p, 1, 0, 0, OEQ_MODE_UVU, 1, 1.0);
  /* x = 2 + 2 = 4: coef0 = sqrt(3/4*0.25), coef1 = sqrt(3/4) */
  expect_coef(p, 0, sqrt(3.0 / 4.0 * 0.25));
  expect_coef(p, 1, sqrt(3.0 / 4.0));
  oeq_problem_destroy(p);
}

Test(problem, fan_in_per_mode) {
  oeq_problem_t *p = make("4x1o", "4x1o", "4x0e+16x0e+1x0e+5x0e");
  add(p, 0, 0, 0, OEQ_MODE_UVW, 1, 1.0);  /* 16 */
  add(p, 0, 0, 0, OEQ_MODE_UVU, 1, 1.0);  /* 4 */
  add(p, 0, 0, 0, OEQ_MODE_UVV, 1, 1.0);  /* 4 */
  add(p, 0, 0, 0, OEQ_MODE_UUW, 1, 1.0);  /* 4 */
  add(p, 0, 0, 0, OEQ_MODE_UUU, 1, 1.0);  /* 1 */
  add(p, 0, 0, 1, OEQ_MODE_UVUV, 1, 1.0); /* 1 */
  add(p, 0, 0, 2, OEQ_MODE_UUW, 0, 1.0);  /* 4 */
  add(p, 0, 0, 3, OEQ_MODE_UVW, 1, 1.0);  /* 16 */
  const int64_t fan[] = {16, 4, 4, 4, 1, 1, 4, 16};
  const int64_t wc[] = {64, 16, 16, 16, 4, 16, 0, 80};
  int64_t off = 0;
  for (int k = 0; k < 8; k++) {
    cr_expect_eq(oeq_instruction_fan_in(p, &p->instructions[k]), fan[k], "fan_in[%d]", k);
    if (wc[k]) {
      cr_expect_eq(oeq_instruction_weight_count(p, &p->instructions[k]), wc[k], "weights[%d]", k);
      cr_expect_eq(oeq_problem_weight_offset(p, k), off, "offset[%d] = %lld want %lld", k,
                   (long long)oeq_problem_weight_offset(p, k), (long long)off);
      off += wc[k];
    } else {
      cr_expect_eq(oeq_problem_weight_offset(p, k), -1, "unweighted offset[%d]", k);
    }
  }
  int64_t n;
  cr_assert_eq(oeq_problem_weight_numel(p, &n), OEQ_SUCCESS);
  cr_expect_eq(n, off, "weight_numel %lld, want %lld", (long long)n, (long long)off);
  /* out 0: x = 16 + 4 + 4 + 4 + 1 = 29, alpha = 1/29 for all five */
  for (int k = 0; k < 5; k++) expect_coef(p, k, sqrt(1.0 / 29.0));
  expect_coef(p, 5, 1.0);
  expect_coef(p, 6, sqrt(1.0 / 4.0));
  expect_coef(p, 7, sqrt(1.0 / 16.0));
  oeq_problem_destroy(p);
}

/* ----------------------------------------------------------- builders */

Test(problem, fully_connected_order) {
  oeq_problem_t *p = NULL;
  cr_assert_eq(oeq_problem_create_fully_connected("1x0e+2x1o+1x2e", "1x1o+1x0e", "3x1o+1x0e+2x2e+1x1e", &p),
               OEQ_SUCCESS, "%s", oeq_last_error());
  /* i1 outermost, then i2, then io; keep (io) where ir_out in ir1*ir2:
   * 0e x 1o -> 1o(0); 0e x 0e -> 0e(1);
   * 1o x 1o -> 0e(1), 2e(2), 1e(3); 1o x 0e -> 1o(0);
   * 2e x 1o -> 1o(0); 2e x 0e -> 2e(2). */
  const int want[][3] = {{0, 0, 0}, {0, 1, 1}, {1, 0, 1}, {1, 0, 2}, {1, 0, 3},
                         {1, 1, 0}, {2, 0, 0}, {2, 1, 2}};
  int n = (int)(sizeof want / sizeof *want);
  cr_assert_eq(p->n_instructions, n, "%d instructions, want %d", p->n_instructions, n);
  for (int k = 0; k < n; k++)
    cr_expect(p->instructions[k].i_in1 == want[k][0] && p->instructions[k].i_in2 == want[k][1] &&
                  p->instructions[k].i_out == want[k][2] && p->instructions[k].mode == OEQ_MODE_UVW &&
                  p->instructions[k].has_weight,
              "instruction %d = (%d,%d,%d)", k, p->instructions[k].i_in1, p->instructions[k].i_in2,
              p->instructions[k].i_out);
  cr_expect(p->shared_weights, "FCTP defaults to shared weights");
  int64_t numel;
  cr_assert_eq(oeq_problem_weight_numel(p, &numel), OEQ_SUCCESS);
  /* 1*1*3 + 1*1*1 + 2*1*1 + 2*1*2 + 2*1*1 + 2*1*3 + 1*1*3 + 1*1*2 */
  cr_expect_eq(numel, 3 + 1 + 2 + 4 + 2 + 6 + 3 + 2, "numel %lld", (long long)numel);
  oeq_problem_destroy(p);
  /* no allowed path: zero instructions, still valid */
  cr_assert_eq(oeq_problem_create_fully_connected("1x0e", "1x0e", "1x1o", &p), OEQ_SUCCESS);
  cr_expect_eq(p->n_instructions, 0);
  oeq_problem_destroy(p);
  /* bad irreps: parse error, nothing written */
  p = (oeq_problem_t *)0x1;
  cr_expect_eq(oeq_problem_create_fully_connected("1x0e", "1q", "1x0e", &p), OEQ_ERROR_PARSE);
  cr_expect_eq(p, (oeq_problem_t *)0x1);
}

static void check_channelwise(const char *in1, const char *in2, const char *filter,
                              const char *want_out, const int (*want)[3], int n) {
  oeq_problem_t *p = NULL;
  cr_assert_eq(oeq_problem_create_channelwise(in1, in2, filter, &p), OEQ_SUCCESS, "%s",
               oeq_last_error());
  char buf[1024];
  oeq_irreps_format(&p->out, buf, sizeof buf);
  cr_expect_str_eq(buf, want_out, "channelwise(%s, %s, %s) out = %s", in1, in2, filter, buf);
  cr_assert_eq(p->n_instructions, n, "%d instructions, want %d", p->n_instructions, n);
  for (int k = 0; k < n; k++)
    cr_expect(p->instructions[k].i_in1 == want[k][0] && p->instructions[k].i_in2 == want[k][1] &&
                  p->instructions[k].i_out == want[k][2] && p->instructions[k].mode == OEQ_MODE_UVU &&
                  p->instructions[k].has_weight && p->instructions[k].path_weight == 1.0,
              "instruction %d = (%d,%d,%d), want (%d,%d,%d)", k, p->instructions[k].i_in1,
              p->instructions[k].i_in2, p->instructions[k].i_out, want[k][0], want[k][1], want[k][2]);
  cr_expect(!p->shared_weights, "channelwise uses per-row weights");
  oeq_problem_destroy(p);
}

Test(problem, channelwise_mace_medium) {
  /* Generation (i, j, l_out ascending, filtered): 0e(0,0) 1o(0,1) 2e(0,2)
   * 1o(1,0) 0e(1,1) 2e(1,1) 1o(1,2) 2e(1,3); stable sort by (l, p):
   * p = [0,2,5,3,1,6,4,7]; instructions sorted by new i_out. */
  const int want[][3] = {{0, 0, 0}, {1, 1, 1}, {0, 1, 2}, {1, 0, 3},
                         {1, 2, 4}, {0, 2, 5}, {1, 1, 6}, {1, 3, 7}};
  check_channelwise("128x0e+128x1o", "0e+1o+2e+3o", "0e+1o+2e",
                    "128x0e+128x0e+128x1o+128x1o+128x1o+128x2e+128x2e+128x2e", want, 8);
  /* sqrt(2l_out+1) per path (SH mul 1, one path per output block) */
  oeq_problem_t *p = NULL;
  cr_assert_eq(oeq_problem_create_channelwise("128x0e+128x1o", "0e+1o+2e+3o", "0e+1o+2e", &p), OEQ_SUCCESS);
  const int lout[] = {0, 0, 1, 1, 1, 2, 2, 2};
  for (int k = 0; k < 8; k++) expect_coef(p, k, sqrt(2.0 * lout[k] + 1.0));
  int64_t n;
  cr_assert_eq(oeq_problem_weight_numel(p, &n), OEQ_SUCCESS);
  cr_expect_eq(n, 8 * 128);
  oeq_problem_destroy(p);
}

Test(problem, channelwise_other_cases) {
  /* Filter multiplicities ignored; parity-odd outputs; in2 mul > 1.
   * in1 = 4x1o+2x1e, in2 = 2x1o, filter = 9x1e+1x0e+3x2o
   * gen: (0,0): 1o x 1o -> 0e(4x) 1e(4x) [2e not in filter]
   *      (1,0): 1e x 1o -> 0o no, 1o no, 2o(2x)
   * list: 4x0e(0) 4x1e(1) 2x2o(2); sorted: 0e 1e 2o: same order. */
  const int want1[][3] = {{0, 0, 0}, {0, 0, 1}, {1, 0, 2}};
  check_channelwise("4x1o+2x1e", "2x1o", "9x1e+1x0e+3x2o", "4x0e+4x1e+2x2o", want1, 3);
  /* A reordering case: in1 = 3x2e+5x0e, in2 = 1e+0e, filter = 1e+2e+3e
   * gen: (0,0) 2e x 1e -> 1e(0) 2e(1) 3e(2); (0,1) 2e x 0e -> 2e(3);
   *      (1,0) 0e x 1e -> 1e(4); (1,1) nothing.
   * values: 3x1e 3x2e 3x3e 3x2e 5x1e -> sorted 3x1e(0) 5x1e(4) 3x2e(1) 3x2e(3) 3x3e(2)
   * p = [0, 2, 4, 3, 1] */
  const int want2[][3] = {{0, 0, 0}, {1, 0, 1}, {0, 0, 2}, {0, 1, 3}, {0, 0, 4}};
  check_channelwise("3x2e+5x0e", "1e+0e", "1e+2e+3e", "3x1e+5x1e+3x2e+3x2e+3x3e", want2, 5);
  /* Empty filter: no outputs, no instructions. */
  check_channelwise("3x2e", "1e", "", "", NULL, 0);
}

/* ------------------------------------------------------------ describe */

Test(problem, describe_sizing_and_truncation) {
  oeq_problem_t *p = fctp_example();
  size_t needed = 0;
  cr_assert_eq(oeq_problem_describe(p, NULL, 0, &needed), OEQ_SUCCESS, "%s", oeq_last_error());
  cr_assert(needed > 50, "needed = %zu", needed);
  char *full = malloc(needed + 1);
  size_t again = 0;
  memset(full, 'Z', needed + 1);
  cr_assert_eq(oeq_problem_describe(p, full, needed + 1, &again), OEQ_SUCCESS);
  cr_expect_eq(again, needed);
  cr_expect_eq(strlen(full), needed, "strlen %zu, needed %zu", strlen(full), needed);
  /* truncated: NUL-terminated prefix, needed unchanged, nothing past len */
  for (size_t len = 1; len < 40; len += 7) {
    char buf[64];
    memset(buf, 'Z', sizeof buf);
    size_t n2 = 0;
    cr_assert_eq(oeq_problem_describe(p, buf, len, &n2), OEQ_SUCCESS);
    cr_expect_eq(n2, needed, "needed with len %zu", len);
    cr_expect_eq(buf[len - 1], '\0', "not NUL-terminated at len %zu", len);
    cr_expect_eq(strncmp(buf, full, len - 1), 0, "truncated text is not a prefix (len %zu)", len);
    cr_expect_eq(buf[len], 'Z', "wrote past len %zu", len);
  }
  /* needed may be NULL; NULL buf with len > 0 is rejected */
  char small[8];
  cr_expect_eq(oeq_problem_describe(p, small, sizeof small, NULL), OEQ_SUCCESS);
  cr_expect_eq(oeq_problem_describe(p, NULL, 10, &needed), OEQ_ERROR_INVALID_ARGUMENT);
  /* content: irreps, numbers and coefficients a person can read */
  cr_expect(strstr(full, "\"2x0e+1x1o\"") != NULL, "%s", full);
  cr_expect(strstr(full, "\"1x0e+1x1o\"") != NULL, "%s", full);
  cr_expect(strstr(full, "\"weight_numel\": 9") != NULL, "%s", full);
  cr_expect(strstr(full, "\"uvw\"") != NULL, "%s", full);
  const double want[] = {sqrt(1.0 / 3.0), 1.0, 1.0, sqrt(1.0 / 3.0)};
  const char *c = full;
  for (int k = 0; k < 4; k++) {
    c = strstr(c, "\"coefficient\":");
    cr_assert_not_null(c, "coefficient %d missing: %s", k, full);
    c += strlen("\"coefficient\":");
    double v = strtod(c, NULL);
    cr_expect(fabs(v - want[k]) < 1e-15, "describe coefficient %d = %.17g, want %.17g", k, v, want[k]);
  }
  cr_expect_null(strstr(c, "\"coefficient\":"), "more than 4 instructions described");
  /* balanced braces / brackets */
  int depth = 0, ok = 1;
  for (const char *q = full; *q; q++) {
    depth += (*q == '{' || *q == '[') - (*q == '}' || *q == ']');
    if (depth < 0) ok = 0;
  }
  cr_expect(ok && depth == 0, "unbalanced JSON: %s", full);
  free(full);
  oeq_problem_destroy(p);
}

Test(problem, describe_reflects_settings) {
  oeq_problem_t *p = make("2x1o", "2x1o", "2x1e");
  add(p, 0, 0, 0, OEQ_MODE_UUU, 0, 1.0);
  cr_assert_eq(oeq_problem_set_dtypes(p, OEQ_FLOAT64, OEQ_FLOAT32), OEQ_SUCCESS);
  cr_assert_eq(oeq_problem_set_layout(p, OEQ_LAYOUT_IR_MUL), OEQ_SUCCESS);
  cr_assert_eq(oeq_problem_set_shared_weights(p, 0), OEQ_SUCCESS);
  cr_assert_eq(oeq_problem_set_normalization(p, OEQ_IRREP_NORM_NORM, OEQ_PATH_NORM_NONE), OEQ_SUCCESS);
  char buf[4096];
  size_t n;
  cr_assert_eq(oeq_problem_describe(p, buf, sizeof buf, &n), OEQ_SUCCESS);
  cr_assert(n < sizeof buf);
  const char *want[] = {"\"irrep_dtype\": \"float64\"", "\"weight_dtype\": \"float32\"",
                        "\"layout\": \"ir_mul\"", "\"shared_weights\": false",
                        "\"irrep_normalization\": \"norm\"", "\"path_normalization\": \"none\"",
                        "\"mode\": \"uuu\"", "\"has_weight\": false", "\"weight_numel\": 0"};
  for (size_t i = 0; i < sizeof want / sizeof *want; i++)
    cr_expect(strstr(buf, want[i]) != NULL, "describe lacks %s: %s", want[i], buf);
  oeq_problem_destroy(p);
}

Test(problem, dims) {
  oeq_problem_t *p = make("16x0e+8x1o+0x2e", "0e+1o+2e+3o", "");
  int64_t a = -1, b = -1, c = -1;
  cr_assert_eq(oeq_problem_dims(p, &a, &b, &c), OEQ_SUCCESS);
  cr_expect(a == 40 && b == 16 && c == 0, "dims %lld %lld %lld", (long long)a, (long long)b, (long long)c);
  int64_t only = -1;
  cr_assert_eq(oeq_problem_dims(p, NULL, &only, NULL), OEQ_SUCCESS);
  cr_expect_eq(only, 16);
  int64_t n = -1;
  cr_assert_eq(oeq_problem_weight_numel(p, &n), OEQ_SUCCESS);
  cr_expect_eq(n, 0);
  oeq_problem_destroy(p);
}

Test(problem, defaults) {
  oeq_problem_t *p = make("1x0e", "1x0e", "1x0e");
  cr_expect(p->irrep_dtype == OEQ_FLOAT32 && p->weight_dtype == OEQ_FLOAT32, "default dtypes");
  cr_expect(p->shared_weights == 1, "default shared");
  cr_expect(p->irrep_norm == OEQ_IRREP_NORM_COMPONENT && p->path_norm == OEQ_PATH_NORM_ELEMENT);
  cr_expect(p->layout == OEQ_LAYOUT_MUL_IR);
  oeq_problem_destroy(p);
}

/* The getters report what the setters recorded (and the defaults before
 * any setter); each NULL-able out-pointer may be left out. */
Test(problem, getters_follow_setters) {
  oeq_problem_t *p = make("16x0e+0x1o+8x1o+2x2e", "", "4x1e");
  oeq_dtype_t ir = (oeq_dtype_t)-1, wt = (oeq_dtype_t)-1;
  int shared = -1;
  cr_assert_eq(oeq_problem_dtypes(p, &ir, &wt), OEQ_SUCCESS, "%s", oeq_last_error());
  cr_expect(ir == OEQ_FLOAT32 && wt == OEQ_FLOAT32, "default dtypes %d %d", ir, wt);
  cr_assert_eq(oeq_problem_shared_weights(p, &shared), OEQ_SUCCESS, "%s", oeq_last_error());
  cr_expect_eq(shared, 1, "default shared weights %d", shared);

  const oeq_dtype_t pairs[][2] = {{OEQ_FLOAT64, OEQ_FLOAT32}, {OEQ_FLOAT32, OEQ_FLOAT64},
                                  {OEQ_FLOAT64, OEQ_FLOAT64}};
  for (int k = 0; k < 3; k++) {
    cr_assert_eq(oeq_problem_set_dtypes(p, pairs[k][0], pairs[k][1]), OEQ_SUCCESS);
    ir = wt = (oeq_dtype_t)-1;
    cr_assert_eq(oeq_problem_dtypes(p, &ir, &wt), OEQ_SUCCESS);
    cr_expect(ir == pairs[k][0] && wt == pairs[k][1], "dtypes %d %d after set %d %d", ir, wt,
              pairs[k][0], pairs[k][1]);
  }
  wt = (oeq_dtype_t)-1;
  cr_assert_eq(oeq_problem_dtypes(p, NULL, &wt), OEQ_SUCCESS);
  cr_expect_eq(wt, OEQ_FLOAT64);
  ir = (oeq_dtype_t)-1;
  cr_assert_eq(oeq_problem_dtypes(p, &ir, NULL), OEQ_SUCCESS);
  cr_expect_eq(ir, OEQ_FLOAT64);
  cr_assert_eq(oeq_problem_dtypes(p, NULL, NULL), OEQ_SUCCESS);

  for (int want = 0; want < 2; want++) {
    cr_assert_eq(oeq_problem_set_shared_weights(p, want ? 7 : 0), OEQ_SUCCESS);
    shared = -1;
    cr_assert_eq(oeq_problem_shared_weights(p, &shared), OEQ_SUCCESS);
    cr_expect_eq(shared, want, "shared %d after set %d", shared, want ? 7 : 0);
  }

  /* 4 entries (the 0x entry counts), none ("" ), 1 */
  int64_t n1 = -1, n2 = -1, n3 = -1;
  cr_assert_eq(oeq_problem_irreps_count(p, &n1, &n2, &n3), OEQ_SUCCESS);
  cr_expect(n1 == 4 && n2 == 0 && n3 == 1, "irreps_count %lld %lld %lld", (long long)n1,
            (long long)n2, (long long)n3);
  int64_t only = -1;
  cr_assert_eq(oeq_problem_irreps_count(p, NULL, NULL, &only), OEQ_SUCCESS);
  cr_expect_eq(only, 1);
  cr_assert_eq(oeq_problem_irreps_count(p, NULL, NULL, NULL), OEQ_SUCCESS);
  oeq_problem_destroy(p);

  /* A builder's problem: MACE's channelwise sets per-row weights; the counts
   * are those of its inputs and of the sorted outputs it built. */
  oeq_problem_t *cw = NULL;
  cr_assert_eq(oeq_problem_create_channelwise("8x0e+8x1o", "0e+1o+2e", "0e+1o+2e", &cw),
               OEQ_SUCCESS, "%s", oeq_last_error());
  shared = -1;
  cr_assert_eq(oeq_problem_shared_weights(cw, &shared), OEQ_SUCCESS);
  cr_expect_eq(shared, 0, "channelwise shared weights %d", shared);
  n1 = n2 = n3 = -1;
  cr_assert_eq(oeq_problem_irreps_count(cw, &n1, &n2, &n3), OEQ_SUCCESS);
  cr_expect(n1 == 2 && n2 == 3, "channelwise input counts %lld %lld", (long long)n1, (long long)n2);
  cr_expect_eq(n3, cw->out.len, "channelwise output count %lld vs %d", (long long)n3, cw->out.len);
  cr_expect(n3 >= 3, "8x0e+8x1o x 0e+1o+2e reaches 0e, 1o, 2e: %lld outputs", (long long)n3);
  oeq_problem_destroy(cw);
}
