/* api_query.c: exported getters of a problem's settings. The bindings size
 * and type-check their arrays with these (and oeq_problem_dims /
 * oeq_problem_weight_numel) instead of parsing oeq_problem_describe's JSON.
 * Every output is written only after every argument has been checked. */
#include "api_guard.h"
#include "problem.h"

OEQ_API oeq_status_t oeq_problem_dtypes(const oeq_problem_t *p, oeq_dtype_t *irrep_dtype,
                                        oeq_dtype_t *weight_dtype) {
  BEGIN;
  CHECK_PROBLEM(p);
  if (irrep_dtype) *irrep_dtype = p->irrep_dtype;
  if (weight_dtype) *weight_dtype = p->weight_dtype;
  RETURN(OEQ_SUCCESS);
}

OEQ_API oeq_status_t oeq_problem_shared_weights(const oeq_problem_t *p, int *shared) {
  BEGIN;
  CHECK_PROBLEM(p);
  if (!shared) return FAIL(OEQ_ERROR_INVALID_ARGUMENT, "shared is NULL");
  *shared = p->shared_weights ? 1 : 0;
  RETURN(OEQ_SUCCESS);
}

OEQ_API oeq_status_t oeq_problem_irreps_count(const oeq_problem_t *p, int64_t *in1, int64_t *in2,
                                              int64_t *out) {
  BEGIN;
  CHECK_PROBLEM(p);
  if (in1) *in1 = p->in1.len;
  if (in2) *in2 = p->in2.len;
  if (out) *out = p->out.len;
  RETURN(OEQ_SUCCESS);
}
