/* api_double.c: the exported second-derivative calls (double backward of
 * the tensor product and of the convolution) and their workspace sizes.
 * Validation only; the backends' tp_double_backward / conv_double_backward
 * compute (lib/backend/cpu_double.c, gpu_double.c). */
#include "api_checks.h"
#include "api_guard.h"
#include "backend/backend.h"
#include "problem.h"
#include "schedule.h"

/* Rows of w (and ddw) for `rows` batch rows or edges. */
static int64_t w_rows(const oeq_schedule_t *s, int64_t rows) {
  return s->shared_weights ? (rows > 0 ? 1 : 0) : rows;
}

/* A cotangent may be NULL (zero); when given it is checked like an input. */
static oeq_status_t maybe_rows(const oeq_plan_t *plan, const void *ptr, int64_t rows, int64_t width,
                               size_t elem, const char *name, oeq_error_t *err) {
  return ptr ? oeq_api_need_rows(plan, ptr, rows, width, elem, name, err) : OEQ_SUCCESS;
}

/* Inputs x (x_rows), y, w, ddy, ddw (edges), dz (z_rows), ddx (x_rows) and
 * outputs gx, gy, gw, gdz of a double backward. */
static oeq_status_t check_arrays(const oeq_plan_t *plan, const oeq_dd_args_t *a, oeq_error_t *err) {
  const oeq_schedule_t *s = plan->schedule;
  const size_t isz = oeq_dtype_size(s->irrep_dtype), wsz = oeq_dtype_size(s->weight_dtype);
  const int64_t wr = w_rows(s, a->edges), wn = s->weight_numel;
  /* Shared gw is the sum over rows: written (as zeros) even for none. */
  const int64_t gw_rows = s->shared_weights ? 1 : a->edges;
  oeq_status_t st = oeq_api_need_rows(plan, a->x, a->x_rows, s->x_dim, isz, "x", err);
  if (st == OEQ_SUCCESS) st = oeq_api_need_rows(plan, a->y, a->edges, s->y_dim, isz, "y", err);
  if (st == OEQ_SUCCESS) st = oeq_api_need_rows(plan, a->w, wr, wn, wsz, "w", err);
  if (st == OEQ_SUCCESS) st = oeq_api_need_rows(plan, a->dz, a->z_rows, s->z_dim, isz, "dz", err);
  if (st == OEQ_SUCCESS) st = maybe_rows(plan, a->ddx, a->x_rows, s->x_dim, isz, "ddx", err);
  if (st == OEQ_SUCCESS) st = maybe_rows(plan, a->ddy, a->edges, s->y_dim, isz, "ddy", err);
  if (st == OEQ_SUCCESS) st = maybe_rows(plan, a->ddw, wr, wn, wsz, "ddw", err);
  if (st == OEQ_SUCCESS) st = oeq_api_need_rows(plan, a->gx, a->x_rows, s->x_dim, isz, "gx", err);
  if (st == OEQ_SUCCESS) st = oeq_api_need_rows(plan, a->gy, a->edges, s->y_dim, isz, "gy", err);
  if (st == OEQ_SUCCESS) st = oeq_api_need_rows(plan, a->gw, gw_rows, wn, wsz, "gw", err);
  if (st == OEQ_SUCCESS) st = oeq_api_need_rows(plan, a->gdz, a->z_rows, s->z_dim, isz, "gdz", err);
  return st;
}

OEQ_API oeq_status_t oeq_tp_double_backward_workspace_size(const oeq_plan_t *plan, int64_t batch,
                                                           size_t *bytes) {
  BEGIN;
  oeq_status_t st = oeq_api_check_plan(plan, OEQ_PLAN_TP, NULL, &err_);
  if (st != OEQ_SUCCESS) RETURN(st);
  if (!bytes) return FAIL(OEQ_ERROR_INVALID_ARGUMENT, "out pointer is NULL");
  if (batch < 0) return FAIL(OEQ_ERROR_INVALID_ARGUMENT, "batch = %lld is negative", (long long)batch);
  /* the arrays' sizes bound the workspace's: refuse what cannot exist */
  st = oeq_api_check_conv_counts(plan, batch, batch, batch, &err_);
  if (st != OEQ_SUCCESS) RETURN(st);
  RETURN(plan->ops->dd_workspace_size(plan, batch, batch, batch, bytes, &err_));
}

OEQ_API oeq_status_t oeq_tp_double_backward(const oeq_plan_t *plan, int64_t batch, const void *x,
                                            const void *y, const void *w, const void *dz,
                                            const void *ddx, const void *ddy, const void *ddw,
                                            void *gx, void *gy, void *gw, void *gdz,
                                            void *workspace, size_t workspace_bytes, void *stream) {
  BEGIN;
  oeq_status_t st = oeq_api_check_plan(plan, OEQ_PLAN_TP, stream, &err_);
  if (st != OEQ_SUCCESS) RETURN(st);
  if (batch < 0) return FAIL(OEQ_ERROR_INVALID_ARGUMENT, "batch = %lld is negative", (long long)batch);
  oeq_dd_args_t a = {.x_rows = batch, .z_rows = batch, .edges = batch, .x = x, .y = y, .w = w,
                     .dz = dz, .ddx = ddx, .ddy = ddy, .ddw = ddw, .gx = gx, .gy = gy, .gw = gw,
                     .gdz = gdz, .workspace = workspace, .workspace_bytes = workspace_bytes,
                     .stream = stream};
  st = check_arrays(plan, &a, &err_);
  if (st != OEQ_SUCCESS) RETURN(st);
  const oeq_schedule_t *s = plan->schedule;
  if (batch == 0 && !(s->shared_weights && s->weight_numel > 0)) RETURN(OEQ_SUCCESS);
  RETURN(plan->ops->tp_double_backward(plan, &a, &err_));
}

OEQ_API oeq_status_t oeq_conv_double_backward_workspace_size(const oeq_plan_t *plan,
                                                             int64_t x_rows, int64_t z_rows,
                                                             int64_t edges, size_t *bytes) {
  BEGIN;
  oeq_status_t st = oeq_api_check_plan(plan, OEQ_PLAN_CONV, NULL, &err_);
  if (st != OEQ_SUCCESS) RETURN(st);
  if (!bytes) return FAIL(OEQ_ERROR_INVALID_ARGUMENT, "out pointer is NULL");
  if (x_rows < 0 || z_rows < 0 || edges < 0)
    return FAIL(OEQ_ERROR_INVALID_ARGUMENT, "counts must be >= 0");
  st = oeq_api_check_conv_counts(plan, x_rows, z_rows, edges, &err_);
  if (st != OEQ_SUCCESS) RETURN(st);
  RETURN(plan->ops->dd_workspace_size(plan, x_rows, z_rows, edges, bytes, &err_));
}

OEQ_API oeq_status_t oeq_conv_double_backward(
    const oeq_plan_t *plan, int64_t x_rows, int64_t z_rows, int64_t edges, const void *x,
    const void *y, const void *w, const void *dz, const void *ddx, const void *ddy,
    const void *ddw, const void *rows, const void *cols, const void *sender_perm, void *gx,
    void *gy, void *gw, void *gdz, void *workspace, size_t workspace_bytes, void *stream) {
  BEGIN;
  oeq_status_t st = oeq_api_check_plan(plan, OEQ_PLAN_CONV, stream, &err_);
  if (st != OEQ_SUCCESS) RETURN(st);
  if (x_rows < 0 || z_rows < 0 || edges < 0)
    return FAIL(OEQ_ERROR_INVALID_ARGUMENT,
                "x_rows = %lld, z_rows = %lld, edges = %lld: counts must be >= 0",
                (long long)x_rows, (long long)z_rows, (long long)edges);
  if (edges > 0 && (x_rows == 0 || z_rows == 0))
    return FAIL(OEQ_ERROR_INVALID_ARGUMENT, "%lld edges but x_rows = %lld and z_rows = %lld",
                (long long)edges, (long long)x_rows, (long long)z_rows);
  st = oeq_api_check_conv_counts(plan, x_rows, z_rows, edges, &err_);
  if (st != OEQ_SUCCESS) RETURN(st);
  oeq_dd_args_t a = {.x_rows = x_rows, .z_rows = z_rows, .edges = edges, .x = x, .y = y, .w = w,
                     .dz = dz, .ddx = ddx, .ddy = ddy, .ddw = ddw, .rows = rows, .cols = cols,
                     .sender_perm = sender_perm, .gx = gx, .gy = gy, .gw = gw, .gdz = gdz,
                     .workspace = workspace, .workspace_bytes = workspace_bytes, .stream = stream};
  st = check_arrays(plan, &a, &err_);
  const size_t index_size = (plan->flags & OEQ_INDEX_INT64) ? 8 : 4;
  if (st == OEQ_SUCCESS) st = oeq_api_need_rows(plan, rows, edges, 1, index_size, "rows", &err_);
  if (st == OEQ_SUCCESS) st = oeq_api_need_rows(plan, cols, edges, 1, index_size, "cols", &err_);
  if (st == OEQ_SUCCESS && (plan->flags & OEQ_CONV_DETERMINISTIC))
    st = oeq_api_need_rows(plan, sender_perm, edges, 1, index_size, "sender_perm", &err_);
  if (st != OEQ_SUCCESS) RETURN(st);
  RETURN(plan->ops->conv_double_backward(plan, &a, &err_));
}
