/* api_symcon.c: the exported symmetric-contraction calls (problem, plan,
 * forward, backward). Validation only; the basis is lib/symcon.c, the
 * execution the backends' symcon_* members. */
#include <stdlib.h>

#include "api_guard.h"
#include "backend/backend.h"
#include "problem.h"
#include "symcon.h"

OEQ_API oeq_status_t oeq_problem_create_symmetric_contraction(const char *irreps_in_per_channel,
                                                              const char *irreps_out,
                                                              int correlation,
                                                              int64_t num_elements,
                                                              int64_t channels,
                                                              oeq_problem_t **out) {
  BEGIN;
  if (!irreps_in_per_channel || !irreps_out)
    return FAIL(OEQ_ERROR_INVALID_ARGUMENT, "irreps strings must not be NULL");
  if (!out) return FAIL(OEQ_ERROR_INVALID_ARGUMENT, "out pointer is NULL");
  RETURN(oeq_symcon_problem_new(irreps_in_per_channel, irreps_out, correlation, num_elements,
                                channels, out, &err_));
}

static const oeq_backend_ops_t *ops_of(oeq_backend_t b) {
  switch (b) {
    case OEQ_BACKEND_CPU: return oeq_backend_cpu();
    case OEQ_BACKEND_CUDA: return oeq_backend_cuda();
    case OEQ_BACKEND_HIP: return oeq_backend_hip();
    default: return NULL;
  }
}

static int has_symcon(const oeq_backend_ops_t *ops) {
  return ops && ops->symcon_forward && ops->symcon_backward;
}

/* The backend to run on: AUTO takes the first GPU backend that is usable
 * and has the kernels, else the CPU. */
static oeq_status_t pick_backend(oeq_backend_t *b, int device, oeq_error_t *err) {
  if (*b == OEQ_BACKEND_AUTO) {
    static const oeq_backend_t gpus[] = {OEQ_BACKEND_CUDA, OEQ_BACKEND_HIP};
    *b = OEQ_BACKEND_CPU;
    for (int i = 0; i < 2; i++) {
      const oeq_backend_ops_t *ops = ops_of(gpus[i]);
      oeq_error_t ignored;
      if (has_symcon(ops) && ops->available(device, &ignored)) {
        *b = gpus[i];
        break;
      }
    }
    return OEQ_SUCCESS;
  }
  const oeq_backend_ops_t *ops = ops_of(*b);
  if (!ops)
    return oeq_fail(err, OEQ_ERROR_BACKEND_UNAVAILABLE, "backend %d is not built into this library",
                    (int)*b);
  if (!ops->available(device, err)) return OEQ_ERROR_BACKEND_UNAVAILABLE;
  if (!has_symcon(ops))
    return oeq_fail(err, OEQ_ERROR_UNSUPPORTED,
                    "the %s backend has no symmetric-contraction kernels yet; use OEQ_BACKEND_CPU "
                    "or OEQ_BACKEND_AUTO",
                    ops->name);
  return OEQ_SUCCESS;
}

OEQ_API oeq_status_t oeq_plan_create_symmetric_contraction(const oeq_problem_t *p,
                                                           oeq_backend_t b, int device,
                                                           oeq_plan_t **out) {
  BEGIN;
  CHECK_PROBLEM(p);
  if (!out) return FAIL(OEQ_ERROR_INVALID_ARGUMENT, "out pointer is NULL");
  if (p->kind != OEQ_PROBLEM_SYMCON)
    return FAIL(OEQ_ERROR_INVALID_ARGUMENT,
                "not a symmetric-contraction problem (make it with "
                "oeq_problem_create_symmetric_contraction); use oeq_plan_create_tp or "
                "oeq_plan_create_conv");
  if ((unsigned)b > OEQ_BACKEND_HIP)
    return FAIL(OEQ_ERROR_INVALID_ARGUMENT, "backend %d is not an oeq_backend_t", (int)b);
  if (device < 0) return FAIL(OEQ_ERROR_INVALID_ARGUMENT, "device %d is negative", device);
  oeq_status_t s = pick_backend(&b, device, &err_);
  if (s != OEQ_SUCCESS) RETURN(s);
  oeq_plan_t *plan = calloc(1, sizeof *plan);
  if (!plan) return FAIL(OEQ_ERROR_OUT_OF_MEMORY, "out of memory creating a plan");
  plan->kind = OEQ_PLAN_SYMCON;
  plan->backend = b;
  plan->device = device;
  plan->ops = ops_of(b);
  s = oeq_symcon_clone(p->symcon, &plan->symcon, &err_);
  if (s == OEQ_SUCCESS) {
    plan->symcon->irrep_dtype = p->irrep_dtype;
    plan->symcon->weight_dtype = p->weight_dtype;
    s = plan->ops->plan_init(plan, &err_);
  }
  if (s != OEQ_SUCCESS) {
    oeq_symcon_free(plan->symcon);
    free(plan);
    RETURN(s);
  }
  *out = plan;
  RETURN(OEQ_SUCCESS);
}

/* count elements of the array `name`, unless count is 0. */
static oeq_status_t need(const oeq_plan_t *plan, const void *ptr, int64_t count, const char *name,
                         oeq_error_t *err) {
  if (count == 0) return OEQ_SUCCESS;
  if (!ptr)
    return oeq_fail(err, OEQ_ERROR_INVALID_ARGUMENT, "%s is NULL but the call needs %lld elements",
                    name, (long long)count);
  return plan->ops->check_pointer(plan, ptr, name, err);
}

/* Plan kind, stream and batch; *xn, *zn: the element counts of x and z,
 * checked to fit in bytes. */
static oeq_status_t check_call(const oeq_plan_t *plan, int64_t batch, void *stream, int64_t *xn,
                               int64_t *zn, oeq_error_t *err) {
  if (!plan) return oeq_fail(err, OEQ_ERROR_INVALID_ARGUMENT, "plan is NULL");
  if (plan->kind != OEQ_PLAN_SYMCON)
    return oeq_fail(err, OEQ_ERROR_INVALID_ARGUMENT,
                    "not a symmetric-contraction plan (make it with "
                    "oeq_plan_create_symmetric_contraction); use oeq_tp_* or oeq_conv_*");
  if (plan->backend == OEQ_BACKEND_CPU && stream)
    return oeq_fail(err, OEQ_ERROR_INVALID_ARGUMENT, "a CPU plan takes stream = NULL");
  if (batch < 0)
    return oeq_fail(err, OEQ_ERROR_INVALID_ARGUMENT, "batch = %lld is negative", (long long)batch);
  const oeq_symcon_t *sc = plan->symcon;
  int64_t xb, zb;
  if (__builtin_mul_overflow(batch, sc->x_dim, xn) || __builtin_mul_overflow(batch, sc->z_dim, zn) ||
      __builtin_mul_overflow(*xn, (int64_t)8, &xb) || __builtin_mul_overflow(*zn, (int64_t)8, &zb))
    return oeq_fail(err, OEQ_ERROR_INVALID_ARGUMENT,
                    "batch = %lld: the arrays' sizes overflow a 64-bit integer", (long long)batch);
  return OEQ_SUCCESS;
}

OEQ_API oeq_status_t oeq_symcon_forward(const oeq_plan_t *plan, int64_t batch, const void *x,
                                        const int32_t *species, const void *w, void *z,
                                        void *stream) {
  BEGIN;
  int64_t xn = 0, zn = 0;
  oeq_status_t s = check_call(plan, batch, stream, &xn, &zn, &err_);
  if (s != OEQ_SUCCESS) RETURN(s);
  if (batch == 0) RETURN(OEQ_SUCCESS);
  s = need(plan, x, xn, "x", &err_);
  if (s == OEQ_SUCCESS) s = need(plan, species, batch, "species", &err_);
  if (s == OEQ_SUCCESS) s = need(plan, w, plan->symcon->weight_numel, "w", &err_);
  if (s == OEQ_SUCCESS) s = need(plan, z, zn, "z", &err_);
  if (s != OEQ_SUCCESS) RETURN(s);
  RETURN(plan->ops->symcon_forward(plan, batch, x, species, w, z, stream, &err_));
}

OEQ_API oeq_status_t oeq_symcon_backward(const oeq_plan_t *plan, int64_t batch, const void *x,
                                         const int32_t *species, const void *w, const void *dz,
                                         void *dx, void *dw, void *stream) {
  BEGIN;
  int64_t xn = 0, zn = 0;
  oeq_status_t s = check_call(plan, batch, stream, &xn, &zn, &err_);
  if (s != OEQ_SUCCESS) RETURN(s);
  const oeq_symcon_t *sc = plan->symcon;
  /* dw is the sum over rows: written (as zeros) even for batch 0. */
  int want_dw = dw && sc->weight_numel > 0;
  if ((!dx || batch == 0) && !want_dw) RETURN(OEQ_SUCCESS);
  s = need(plan, x, xn, "x", &err_);
  if (s == OEQ_SUCCESS) s = need(plan, species, batch, "species", &err_);
  if (s == OEQ_SUCCESS) s = need(plan, w, batch > 0 ? sc->weight_numel : 0, "w", &err_);
  if (s == OEQ_SUCCESS) s = need(plan, dz, zn, "dz", &err_);
  if (s == OEQ_SUCCESS && dx) s = need(plan, dx, xn, "dx", &err_);
  if (s == OEQ_SUCCESS && want_dw) s = need(plan, dw, sc->weight_numel, "dw", &err_);
  if (s != OEQ_SUCCESS) RETURN(s);
  RETURN(plan->ops->symcon_backward(plan, batch, x, species, w, dz, dx, want_dw ? dw : NULL,
                                    stream, &err_));
}
