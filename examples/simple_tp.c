/* simple_tp.c: the smallest complete use of oeq, the README's C example.
 * e3nn's hand-checkable product: 1o x 1o -> 0e + 1e + 2e ("uuu", no
 * weights), on the CPU in float64. */
#include <stdio.h>

#include "oeq.h"

int main(void) {
  oeq_problem_t *p;
  oeq_plan_t *plan;
  if (oeq_problem_create("1x1o", "1x1o", "1x0e+1x1e+1x2e", &p) != OEQ_SUCCESS) goto fail;
  for (int k = 0; k < 3; k++)
    if (oeq_problem_add_instruction(p, 0, 0, k, OEQ_MODE_UUU, 0, 1.0) != OEQ_SUCCESS) goto fail;
  if (oeq_problem_set_dtypes(p, OEQ_FLOAT64, OEQ_FLOAT64) != OEQ_SUCCESS) goto fail;
  if (oeq_plan_create_tp(p, OEQ_BACKEND_CPU, 0, &plan) != OEQ_SUCCESS) goto fail;
  oeq_problem_destroy(p); /* the plan keeps what it needs */

  double x[3] = {1, 2, 3}, y[3] = {4, 5, 6}, z[9];
  if (oeq_tp_forward(plan, 1, x, y, NULL, z, NULL) != OEQ_SUCCESS) goto fail;
  for (int i = 0; i < 9; i++) printf("%.15f\n", z[i]); /* 0e = 32/sqrt(3), 1e = (x cross y)/sqrt(2) */
  oeq_plan_destroy(plan);
  return 0;
fail:
  fprintf(stderr, "oeq: %s\n", oeq_last_error());
  return 1;
}
