/* api.c: the exported oeq_* functions. Validate every argument, record
 * errors in the thread-local last error, dispatch to the plan's backend.
 * No maths here. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "api_guard.h"
#include "backend/backend.h"
#include "builders.h"
#include "checked.h"
#include "problem.h"
#include "schedule.h"
#include "status.h"
#include "symcon.h"

OEQ_API int oeq_abi_version(void) { return OEQ_ABI_VERSION; }

OEQ_API const char *oeq_version(void) { return OEQ_VERSION_STRING; }

static const oeq_backend_ops_t *backend_ops(oeq_backend_t b) {
  switch (b) {
    case OEQ_BACKEND_CPU: return oeq_backend_cpu();
    case OEQ_BACKEND_CUDA: return oeq_backend_cuda();
    case OEQ_BACKEND_HIP: return oeq_backend_hip();
    default: return NULL;
  }
}

static const char *backend_name(oeq_backend_t b) {
  switch (b) {
    case OEQ_BACKEND_AUTO: return "auto";
    case OEQ_BACKEND_CPU: return "cpu";
    case OEQ_BACKEND_CUDA: return "cuda";
    case OEQ_BACKEND_HIP: return "hip";
  }
  return "?";
}

/* Is backend b usable on device? Fills err with the reason when not. */
static int usable(oeq_backend_t b, int device, oeq_error_t *err) {
  const oeq_backend_ops_t *ops = backend_ops(b);
  if (!ops) {
    oeq_fail(err, OEQ_ERROR_BACKEND_UNAVAILABLE, "the %s backend is not built into this library",
             backend_name(b));
    return 0;
  }
  return ops->available(device, err);
}

OEQ_API int oeq_backend_available(oeq_backend_t b) {
  BEGIN;
  if ((unsigned)b > OEQ_BACKEND_HIP) {
    FAIL(OEQ_ERROR_INVALID_ARGUMENT, "backend %d is not an oeq_backend_t", (int)b);
    return 0;
  }
  if (b == OEQ_BACKEND_AUTO) {
    oeq_api_finish(OEQ_SUCCESS, &err_);
    return 1;
  }
  int ok = usable(b, 0, &err_);
  oeq_api_finish(ok ? OEQ_SUCCESS : OEQ_ERROR_BACKEND_UNAVAILABLE, &err_);
  return ok;
}

/* ------------------------------------------------------------------ problem */

OEQ_API oeq_status_t oeq_problem_create(const char *in1, const char *in2, const char *out,
                                        oeq_problem_t **problem) {
  BEGIN;
  if (!in1 || !in2 || !out)
    return FAIL(OEQ_ERROR_INVALID_ARGUMENT, "irreps_in1, irreps_in2 and irreps_out must not be NULL");
  if (!problem) return FAIL(OEQ_ERROR_INVALID_ARGUMENT, "out pointer is NULL");
  RETURN(oeq_problem_new(in1, in2, out, problem, &err_));
}

OEQ_API oeq_status_t oeq_problem_add_instruction(oeq_problem_t *p, int i_in1, int i_in2, int i_out,
                                                 oeq_mode_t mode, int has_weight,
                                                 double path_weight) {
  BEGIN;
  CHECK_PROBLEM(p);
  if (p->kind != OEQ_PROBLEM_TP) RETURN(oeq_symcon_reject("oeq_problem_add_instruction", &err_));
  oeq_instruction_t ins = {i_in1, i_in2, i_out, mode, has_weight != 0, path_weight};
  RETURN(oeq_problem_append(p, &ins, &err_));
}

OEQ_API oeq_status_t oeq_problem_set_dtypes(oeq_problem_t *p, oeq_dtype_t irrep_dtype,
                                            oeq_dtype_t weight_dtype) {
  BEGIN;
  CHECK_PROBLEM(p);
  if ((unsigned)irrep_dtype > OEQ_FLOAT64 || (unsigned)weight_dtype > OEQ_FLOAT64)
    return FAIL(OEQ_ERROR_INVALID_ARGUMENT, "dtypes (%d, %d): each must be OEQ_FLOAT32 or OEQ_FLOAT64",
                (int)irrep_dtype, (int)weight_dtype);
  p->irrep_dtype = irrep_dtype;
  p->weight_dtype = weight_dtype;
  RETURN(OEQ_SUCCESS);
}

OEQ_API oeq_status_t oeq_problem_set_shared_weights(oeq_problem_t *p, int shared) {
  BEGIN;
  CHECK_PROBLEM(p);
  if (p->kind != OEQ_PROBLEM_TP) RETURN(oeq_symcon_reject("oeq_problem_set_shared_weights", &err_));
  p->shared_weights = shared != 0;
  RETURN(OEQ_SUCCESS);
}

OEQ_API oeq_status_t oeq_problem_set_normalization(oeq_problem_t *p, oeq_irrep_norm_t irrep,
                                                   oeq_path_norm_t path) {
  BEGIN;
  CHECK_PROBLEM(p);
  if (p->kind != OEQ_PROBLEM_TP) RETURN(oeq_symcon_reject("oeq_problem_set_normalization", &err_));
  if ((unsigned)irrep > OEQ_IRREP_NORM_NONE)
    return FAIL(OEQ_ERROR_INVALID_ARGUMENT, "irrep normalization %d is not an oeq_irrep_norm_t", (int)irrep);
  if ((unsigned)path > OEQ_PATH_NORM_NONE)
    return FAIL(OEQ_ERROR_INVALID_ARGUMENT, "path normalization %d is not an oeq_path_norm_t", (int)path);
  p->irrep_norm = irrep;
  p->path_norm = path;
  RETURN(OEQ_SUCCESS);
}

OEQ_API oeq_status_t oeq_problem_set_layout(oeq_problem_t *p, oeq_layout_t layout) {
  BEGIN;
  CHECK_PROBLEM(p);
  if (p->kind != OEQ_PROBLEM_TP) RETURN(oeq_symcon_reject("oeq_problem_set_layout", &err_));
  if ((unsigned)layout > OEQ_LAYOUT_IR_MUL)
    return FAIL(OEQ_ERROR_INVALID_ARGUMENT, "layout %d is not an oeq_layout_t", (int)layout);
  p->layout = layout;
  RETURN(OEQ_SUCCESS);
}

static oeq_status_t check_variances(const double *v, int n, const char *name, oeq_error_t *err) {
  for (int i = 0; v && i < n; i++)
    if (!(v[i] >= 0.0) || isinf(v[i]))
      return oeq_fail(err, OEQ_ERROR_INVALID_ARGUMENT, "%s[%d] = %g: variances must be finite and >= 0",
                      name, i, v[i]);
  return OEQ_SUCCESS;
}

static void set_variances(double *dst, const double *src, int n) {
  for (int i = 0; i < n; i++) dst[i] = src ? src[i] : 1.0;
}

OEQ_API oeq_status_t oeq_problem_set_variances(oeq_problem_t *p, const double *in1_var,
                                               const double *in2_var, const double *out_var) {
  BEGIN;
  CHECK_PROBLEM(p);
  if (p->kind != OEQ_PROBLEM_TP) RETURN(oeq_symcon_reject("oeq_problem_set_variances", &err_));
  oeq_status_t s = check_variances(in1_var, p->in1.len, "in1_var", &err_);
  if (s == OEQ_SUCCESS) s = check_variances(in2_var, p->in2.len, "in2_var", &err_);
  if (s == OEQ_SUCCESS) s = check_variances(out_var, p->out.len, "out_var", &err_);
  if (s != OEQ_SUCCESS) RETURN(s);
  set_variances(p->in1_var, in1_var, p->in1.len);
  set_variances(p->in2_var, in2_var, p->in2.len);
  set_variances(p->out_var, out_var, p->out.len);
  RETURN(OEQ_SUCCESS);
}

OEQ_API oeq_status_t oeq_problem_weight_numel(const oeq_problem_t *p, int64_t *out) {
  BEGIN;
  CHECK_PROBLEM(p);
  if (!out) return FAIL(OEQ_ERROR_INVALID_ARGUMENT, "out pointer is NULL");
  *out = p->symcon ? p->symcon->weight_numel : oeq_problem_weight_count(p);
  RETURN(OEQ_SUCCESS);
}

OEQ_API oeq_status_t oeq_problem_dims(const oeq_problem_t *p, int64_t *in1, int64_t *in2,
                                      int64_t *out) {
  BEGIN;
  CHECK_PROBLEM(p);
  if (in1) *in1 = oeq_irreps_dim(&p->in1);
  if (in2) *in2 = oeq_irreps_dim(&p->in2);
  if (out) *out = oeq_irreps_dim(&p->out);
  RETURN(OEQ_SUCCESS);
}

OEQ_API oeq_status_t oeq_problem_describe(const oeq_problem_t *p, char *buf, size_t len,
                                          size_t *needed) {
  BEGIN;
  CHECK_PROBLEM(p);
  if (!buf && len > 0) return FAIL(OEQ_ERROR_INVALID_ARGUMENT, "buf is NULL but len is %zu", len);
  RETURN(oeq_problem_describe_json(p, buf, len, needed, &err_));
}

OEQ_API void oeq_problem_destroy(oeq_problem_t *p) { oeq_problem_free(p); }

OEQ_API oeq_status_t oeq_problem_create_fully_connected(const char *in1, const char *in2,
                                                        const char *out, oeq_problem_t **p) {
  BEGIN;
  if (!in1 || !in2 || !out) return FAIL(OEQ_ERROR_INVALID_ARGUMENT, "irreps strings must not be NULL");
  if (!p) return FAIL(OEQ_ERROR_INVALID_ARGUMENT, "out pointer is NULL");
  RETURN(oeq_build_fully_connected(in1, in2, out, p, &err_));
}

OEQ_API oeq_status_t oeq_problem_create_channelwise(const char *in1, const char *in2,
                                                    const char *filter_out, oeq_problem_t **p) {
  BEGIN;
  if (!in1 || !in2 || !filter_out)
    return FAIL(OEQ_ERROR_INVALID_ARGUMENT, "irreps strings must not be NULL");
  if (!p) return FAIL(OEQ_ERROR_INVALID_ARGUMENT, "out pointer is NULL");
  RETURN(oeq_build_channelwise(in1, in2, filter_out, p, &err_));
}

/* -------------------------------------------------------------------- plans */

static const uint32_t known_flags = OEQ_CONV_DETERMINISTIC | OEQ_CONV_KAHAN | OEQ_INDEX_INT64;

static oeq_status_t plan_create(const oeq_problem_t *p, oeq_backend_t b, int device, uint32_t flags,
                                oeq_plan_kind_t kind, oeq_plan_t **out, oeq_error_t *err) {
  if (!p) return oeq_fail(err, OEQ_ERROR_INVALID_ARGUMENT, "problem is NULL");
  if (!out) return oeq_fail(err, OEQ_ERROR_INVALID_ARGUMENT, "out pointer is NULL");
  if (p->kind != OEQ_PROBLEM_TP)
    return oeq_fail(err, OEQ_ERROR_INVALID_ARGUMENT,
                    "a symmetric-contraction problem: make its plan with "
                    "oeq_plan_create_symmetric_contraction");
  if ((unsigned)b > OEQ_BACKEND_HIP)
    return oeq_fail(err, OEQ_ERROR_INVALID_ARGUMENT, "backend %d is not an oeq_backend_t", (int)b);
  if (device < 0) return oeq_fail(err, OEQ_ERROR_INVALID_ARGUMENT, "device %d is negative", device);
  if (flags & ~known_flags)
    return oeq_fail(err, OEQ_ERROR_INVALID_ARGUMENT, "unknown flag bits 0x%x", flags & ~known_flags);
  if (kind == OEQ_PLAN_TP && flags)
    return oeq_fail(err, OEQ_ERROR_INVALID_ARGUMENT, "tensor-product plans take no flags");
  if ((flags & OEQ_CONV_KAHAN) && !(flags & OEQ_CONV_DETERMINISTIC))
    return oeq_fail(err, OEQ_ERROR_INVALID_ARGUMENT, "OEQ_CONV_KAHAN needs OEQ_CONV_DETERMINISTIC");
  if (b == OEQ_BACKEND_AUTO) {
    oeq_error_t ignored;
    b = usable(OEQ_BACKEND_CUDA, device, &ignored)  ? OEQ_BACKEND_CUDA
        : usable(OEQ_BACKEND_HIP, device, &ignored) ? OEQ_BACKEND_HIP
                                                    : OEQ_BACKEND_CPU;
  } else if (!usable(b, device, err)) {
    return OEQ_ERROR_BACKEND_UNAVAILABLE;
  }
  oeq_plan_t *plan = calloc(1, sizeof *plan);
  if (!plan) return oeq_fail(err, OEQ_ERROR_OUT_OF_MEMORY, "out of memory creating a plan");
  plan->kind = kind;
  plan->backend = b;
  plan->device = device;
  plan->flags = flags;
  plan->ops = backend_ops(b);
  oeq_status_t s = oeq_schedule_build(p, &plan->schedule, err);
  if (s == OEQ_SUCCESS) s = plan->ops->plan_init(plan, err);
  if (s != OEQ_SUCCESS) {
    oeq_schedule_free(plan->schedule);
    free(plan);
    return s;
  }
  oeq_log("plan created: %s backend, %s, %d paths", backend_name(b), kind == OEQ_PLAN_TP ? "tp" : "conv",
          plan->schedule->n_paths);
  *out = plan;
  return OEQ_SUCCESS;
}

OEQ_API oeq_status_t oeq_plan_create_tp(const oeq_problem_t *p, oeq_backend_t b, int device,
                                        oeq_plan_t **out) {
  BEGIN;
  RETURN(plan_create(p, b, device, 0, OEQ_PLAN_TP, out, &err_));
}

OEQ_API oeq_status_t oeq_plan_create_conv(const oeq_problem_t *p, oeq_backend_t b, int device,
                                          uint32_t flags, oeq_plan_t **out) {
  BEGIN;
  RETURN(plan_create(p, b, device, flags, OEQ_PLAN_CONV, out, &err_));
}

OEQ_API oeq_status_t oeq_plan_backend(const oeq_plan_t *plan, oeq_backend_t *out) {
  BEGIN;
  if (!plan) return FAIL(OEQ_ERROR_INVALID_ARGUMENT, "plan is NULL");
  if (!out) return FAIL(OEQ_ERROR_INVALID_ARGUMENT, "out pointer is NULL");
  *out = plan->backend;
  RETURN(OEQ_SUCCESS);
}

OEQ_API void oeq_plan_destroy(oeq_plan_t *plan) {
  if (!plan) return;
  plan->ops->plan_release(plan);
  oeq_schedule_free(plan->schedule);
  oeq_symcon_free(plan->symcon);
  free(plan);
}

/* ------------------------------------------------------------ execution */

/* An array of `count` elements is needed unless count is 0. */
static oeq_status_t need_array(const oeq_plan_t *plan, const void *ptr, int64_t count,
                               const char *name, oeq_error_t *err) {
  if (count == 0) return OEQ_SUCCESS;
  if (!ptr)
    return oeq_fail(err, OEQ_ERROR_INVALID_ARGUMENT, "%s is NULL but the problem needs %lld elements",
                    name, (long long)count);
  return plan->ops->check_pointer(plan, ptr, name, err);
}

/* Do rows x width elements of elem_size bytes have a size (in int64_t
 * elements and in bytes below PTRDIFF_MAX)? */
static int rows_fit(int64_t rows, int64_t width, size_t elem_size, int64_t *count) {
  size_t bytes;
  return rows >= 0 && !oeq_mul_i64(rows, width, count) && !oeq_bytes(*count, elem_size, &bytes) &&
         bytes <= (size_t)PTRDIFF_MAX;
}

/* An array of rows x width elements of elem_size bytes: the product is
 * checked, so a huge count is refused here instead of wrapping into a
 * small size (and a NULL pointer passing as "nothing needed"). */
static oeq_status_t need_rows(const oeq_plan_t *plan, const void *ptr, int64_t rows, int64_t width,
                              size_t elem_size, const char *name, oeq_error_t *err) {
  int64_t count;
  if (!rows_fit(rows, width, elem_size, &count))
    return oeq_fail(err, OEQ_ERROR_INVALID_ARGUMENT,
                    "%s would hold %lld rows of %lld elements: the size overflows", name,
                    (long long)rows, (long long)width);
  return need_array(plan, ptr, count, name, err);
}

/* Every array a convolution of these counts touches has a representable
 * size, and so has the GPU workspace (at most one slot row and one weight
 * row per edge); the CPU buckets are checked by oeq_conv_bucket_bytes. */
static oeq_status_t check_conv_counts(const oeq_schedule_t *sc, int64_t x_rows, int64_t z_rows,
                                      int64_t edges, oeq_error_t *err) {
  int64_t width = sc->x_dim > sc->z_dim ? sc->x_dim : sc->z_dim, n;
  if (width < sc->y_dim) width = sc->y_dim;
  if (width < sc->weight_numel) width = sc->weight_numel;
  if (!rows_fit(x_rows, sc->x_dim, 8, &n) || !rows_fit(z_rows, sc->z_dim, 8, &n) ||
      !rows_fit(edges, width, 8, &n))
    return oeq_fail(err, OEQ_ERROR_INVALID_ARGUMENT,
                    "x_rows = %lld, z_rows = %lld, edges = %lld: the arrays' or workspace's size "
                    "overflows",
                    (long long)x_rows, (long long)z_rows, (long long)edges);
  return OEQ_SUCCESS;
}

static oeq_status_t check_plan(const oeq_plan_t *plan, oeq_plan_kind_t kind, void *stream,
                               oeq_error_t *err) {
  if (!plan) return oeq_fail(err, OEQ_ERROR_INVALID_ARGUMENT, "plan is NULL");
  if (plan->kind == OEQ_PLAN_SYMCON)
    return oeq_fail(err, OEQ_ERROR_INVALID_ARGUMENT,
                    "this is a symmetric-contraction plan; use oeq_symcon_forward / "
                    "oeq_symcon_backward");
  if (plan->kind != kind)
    return oeq_fail(err, OEQ_ERROR_INVALID_ARGUMENT,
                    kind == OEQ_PLAN_TP ? "this is a convolution plan; use oeq_conv_* or make it "
                                          "with oeq_plan_create_tp"
                                        : "this is a tensor-product plan; use oeq_tp_* or make it "
                                          "with oeq_plan_create_conv");
  if (plan->backend == OEQ_BACKEND_CPU && stream)
    return oeq_fail(err, OEQ_ERROR_INVALID_ARGUMENT, "a CPU plan takes stream = NULL");
  return OEQ_SUCCESS;
}

static int64_t weight_rows(const oeq_schedule_t *s, int64_t rows) {
  return s->shared_weights ? (rows > 0 ? 1 : 0) : rows;
}

OEQ_API oeq_status_t oeq_tp_forward(const oeq_plan_t *plan, int64_t batch, const void *x,
                                    const void *y, const void *w, void *z, void *stream) {
  BEGIN;
  oeq_status_t s = check_plan(plan, OEQ_PLAN_TP, stream, &err_);
  if (s != OEQ_SUCCESS) RETURN(s);
  if (batch < 0) return FAIL(OEQ_ERROR_INVALID_ARGUMENT, "batch = %lld is negative", (long long)batch);
  const oeq_schedule_t *sc = plan->schedule;
  size_t isz = oeq_dtype_size(sc->irrep_dtype), wsz = oeq_dtype_size(sc->weight_dtype);
  s = need_rows(plan, x, batch, sc->x_dim, isz, "x", &err_);
  if (s == OEQ_SUCCESS) s = need_rows(plan, y, batch, sc->y_dim, isz, "y", &err_);
  if (s == OEQ_SUCCESS) s = need_rows(plan, w, weight_rows(sc, batch), sc->weight_numel, wsz, "w", &err_);
  if (s == OEQ_SUCCESS) s = need_rows(plan, z, batch, sc->z_dim, isz, "z", &err_);
  if (s != OEQ_SUCCESS || batch == 0) RETURN(s);
  RETURN(plan->ops->tp_forward(plan, batch, x, y, w, z, stream, &err_));
}

OEQ_API oeq_status_t oeq_tp_backward(const oeq_plan_t *plan, int64_t batch, const void *x,
                                     const void *y, const void *w, const void *dz, void *dx,
                                     void *dy, void *dw, void *stream) {
  BEGIN;
  oeq_status_t s = check_plan(plan, OEQ_PLAN_TP, stream, &err_);
  if (s != OEQ_SUCCESS) RETURN(s);
  if (batch < 0) return FAIL(OEQ_ERROR_INVALID_ARGUMENT, "batch = %lld is negative", (long long)batch);
  const oeq_schedule_t *sc = plan->schedule;
  /* Shared dw is the batch sum: written (as zeros) even for batch 0. */
  int64_t dw_rows = sc->shared_weights ? 1 : batch;
  size_t isz = oeq_dtype_size(sc->irrep_dtype), wsz = oeq_dtype_size(sc->weight_dtype);
  s = need_rows(plan, x, batch, sc->x_dim, isz, "x", &err_);
  if (s == OEQ_SUCCESS) s = need_rows(plan, y, batch, sc->y_dim, isz, "y", &err_);
  if (s == OEQ_SUCCESS) s = need_rows(plan, w, weight_rows(sc, batch), sc->weight_numel, wsz, "w", &err_);
  if (s == OEQ_SUCCESS) s = need_rows(plan, dz, batch, sc->z_dim, isz, "dz", &err_);
  if (s == OEQ_SUCCESS) s = need_rows(plan, dx, batch, sc->x_dim, isz, "dx", &err_);
  if (s == OEQ_SUCCESS) s = need_rows(plan, dy, batch, sc->y_dim, isz, "dy", &err_);
  if (s == OEQ_SUCCESS) s = need_rows(plan, dw, dw_rows, sc->weight_numel, wsz, "dw", &err_);
  if (s != OEQ_SUCCESS) RETURN(s);
  if (batch == 0 && !(sc->shared_weights && sc->weight_numel > 0)) RETURN(OEQ_SUCCESS);
  RETURN(plan->ops->tp_backward(plan, batch, x, y, w, dz, dx, dy, dw, stream, &err_));
}

/* ---------------------------------------------------------- convolution */

static oeq_status_t check_conv(const oeq_plan_t *plan, const oeq_conv_args_t *a, int backward,
                               oeq_error_t *err) {
  oeq_status_t s = check_plan(plan, OEQ_PLAN_CONV, a->stream, err);
  if (s != OEQ_SUCCESS) return s;
  if (a->x_rows < 0 || a->z_rows < 0 || a->edges < 0)
    return oeq_fail(err, OEQ_ERROR_INVALID_ARGUMENT,
                    "x_rows = %lld, z_rows = %lld, edges = %lld: counts must be >= 0",
                    (long long)a->x_rows, (long long)a->z_rows, (long long)a->edges);
  if (a->edges > 0 && (a->x_rows == 0 || a->z_rows == 0))
    return oeq_fail(err, OEQ_ERROR_INVALID_ARGUMENT, "%lld edges but x_rows = %lld and z_rows = %lld",
                    (long long)a->edges, (long long)a->x_rows, (long long)a->z_rows);
  const oeq_schedule_t *sc = plan->schedule;
  s = check_conv_counts(sc, a->x_rows, a->z_rows, a->edges, err);
  if (s != OEQ_SUCCESS) return s;
  int64_t e = a->edges;
  int deterministic = (plan->flags & OEQ_CONV_DETERMINISTIC) != 0;
  size_t isz = oeq_dtype_size(sc->irrep_dtype), wsz = oeq_dtype_size(sc->weight_dtype);
  size_t index_size = (plan->flags & OEQ_INDEX_INT64) ? 8 : 4;
  s = need_rows(plan, a->x, a->x_rows, sc->x_dim, isz, "x", err);
  if (s == OEQ_SUCCESS) s = need_rows(plan, a->y, e, sc->y_dim, isz, "y", err);
  if (s == OEQ_SUCCESS) s = need_rows(plan, a->w, weight_rows(sc, e), sc->weight_numel, wsz, "w", err);
  if (s == OEQ_SUCCESS) s = need_rows(plan, a->rows, e, 1, index_size, "rows", err);
  if (s == OEQ_SUCCESS) s = need_rows(plan, a->cols, e, 1, index_size, "cols", err);
  if (s == OEQ_SUCCESS && deterministic) s = need_rows(plan, a->sender_perm, e, 1, index_size, "sender_perm", err);
  if (s != OEQ_SUCCESS) return s;
  if (!backward) return need_rows(plan, a->z, a->z_rows, sc->z_dim, isz, "z", err);
  s = need_rows(plan, a->dz, a->z_rows, sc->z_dim, isz, "dz", err);
  if (s == OEQ_SUCCESS) s = need_rows(plan, a->dx, a->x_rows, sc->x_dim, isz, "dx", err);
  if (s == OEQ_SUCCESS) s = need_rows(plan, a->dy, e, sc->y_dim, isz, "dy", err);
  if (s == OEQ_SUCCESS)
    s = need_rows(plan, a->dw, sc->shared_weights ? 1 : e, sc->weight_numel, wsz, "dw", err);
  return s;
}

OEQ_API oeq_status_t oeq_conv_workspace_size(const oeq_plan_t *plan, int64_t x_rows,
                                             int64_t z_rows, int64_t edges, size_t *bytes) {
  BEGIN;
  if (!plan) return FAIL(OEQ_ERROR_INVALID_ARGUMENT, "plan is NULL");
  if (plan->kind != OEQ_PLAN_CONV)
    return FAIL(OEQ_ERROR_INVALID_ARGUMENT, "this is a %s plan; a convolution plan comes from oeq_plan_create_conv",
                plan->kind == OEQ_PLAN_TP ? "tensor-product" : "symmetric-contraction");
  if (!bytes) return FAIL(OEQ_ERROR_INVALID_ARGUMENT, "out pointer is NULL");
  if (x_rows < 0 || z_rows < 0 || edges < 0)
    return FAIL(OEQ_ERROR_INVALID_ARGUMENT, "counts must be >= 0");
  oeq_status_t s = check_conv_counts(plan->schedule, x_rows, z_rows, edges, &err_);
  if (s != OEQ_SUCCESS) RETURN(s);
  RETURN(plan->ops->conv_workspace_size(plan, x_rows, z_rows, edges, bytes, &err_));
}

OEQ_API oeq_status_t oeq_conv_forward(const oeq_plan_t *plan, int64_t x_rows, int64_t z_rows,
                                      int64_t edges, const void *x, const void *y, const void *w,
                                      const void *rows, const void *cols,
                                      const void *sender_perm, void *z, void *workspace,
                                      size_t workspace_bytes, void *stream) {
  BEGIN;
  oeq_conv_args_t a = {.x_rows = x_rows, .z_rows = z_rows, .edges = edges, .x = x, .y = y, .w = w,
                       .rows = rows, .cols = cols, .sender_perm = sender_perm, .z = z,
                       .workspace = workspace, .workspace_bytes = workspace_bytes, .stream = stream};
  oeq_status_t s = check_conv(plan, &a, 0, &err_);
  if (s != OEQ_SUCCESS) RETURN(s);
  RETURN(plan->ops->conv_forward(plan, &a, &err_));
}

OEQ_API oeq_status_t oeq_conv_backward(const oeq_plan_t *plan, int64_t x_rows, int64_t z_rows,
                                       int64_t edges, const void *x, const void *y,
                                       const void *w, const void *dz, const void *rows,
                                       const void *cols, const void *sender_perm, void *dx,
                                       void *dy, void *dw, void *workspace,
                                       size_t workspace_bytes, void *stream) {
  BEGIN;
  oeq_conv_args_t a = {.x_rows = x_rows, .z_rows = z_rows, .edges = edges, .x = x, .y = y, .w = w,
                       .dz = dz, .rows = rows, .cols = cols, .sender_perm = sender_perm, .dx = dx,
                       .dy = dy, .dw = dw, .workspace = workspace,
                       .workspace_bytes = workspace_bytes, .stream = stream};
  oeq_status_t s = check_conv(plan, &a, 1, &err_);
  if (s != OEQ_SUCCESS) RETURN(s);
  RETURN(plan->ops->conv_backward(plan, &a, &err_));
}

/* ------------------------------------------- checks shared with api_double.c */

oeq_status_t oeq_api_check_plan(const oeq_plan_t *plan, oeq_plan_kind_t kind, void *stream,
                                oeq_error_t *err) {
  return check_plan(plan, kind, stream, err);
}

oeq_status_t oeq_api_need_rows(const oeq_plan_t *plan, const void *ptr, int64_t rows, int64_t width,
                               size_t elem_size, const char *name, oeq_error_t *err) {
  return need_rows(plan, ptr, rows, width, elem_size, name, err);
}

oeq_status_t oeq_api_check_conv_counts(const oeq_plan_t *plan, int64_t x_rows, int64_t z_rows,
                                       int64_t edges, oeq_error_t *err) {
  return check_conv_counts(plan->schedule, x_rows, z_rows, edges, err);
}
