/* backend.h: the table every backend fills, and the plan it hangs off.
 *
 * api.c validates arguments, then calls through plan->ops. A backend sees
 * only the schedule (never the problem's irreps strings) and reports
 * failures through oeq_error_t. */
#ifndef OEQ_BACKEND_H
#define OEQ_BACKEND_H

#include <stdint.h>

#include "schedule.h"
#include "status.h"

typedef enum { OEQ_PLAN_TP = 0, OEQ_PLAN_CONV = 1, OEQ_PLAN_SYMCON = 2 } oeq_plan_kind_t;

typedef struct oeq_backend_ops oeq_backend_ops_t;

struct oeq_plan {
  oeq_plan_kind_t kind;
  oeq_backend_t backend;
  int device;
  uint32_t flags;
  oeq_schedule_t *schedule;
  const oeq_backend_ops_t *ops;
  void *impl; /* the backend's own state */
  /* OEQ_PLAN_SYMCON: the basis (owned; lib/symcon.h). schedule is NULL. */
  struct oeq_symcon *symcon;
};

/* Arguments of a convolution call, already validated by api.c. */
typedef struct oeq_conv_args {
  int64_t x_rows, z_rows, edges;
  const void *x, *y, *w, *dz;
  const void *rows, *cols, *sender_perm;
  void *z, *dx, *dy, *dw;
  void *workspace;
  size_t workspace_bytes;
  void *stream;
} oeq_conv_args_t;

/* Arguments of a double backward (tensor product: edges = x_rows = z_rows
 * = batch, no indices), already validated by api.c. ddx, ddy, ddw may be
 * NULL (zero); gx, gy, gw, gdz are written whole. */
typedef struct oeq_dd_args {
  int64_t x_rows, z_rows, edges;
  const void *x, *y, *w, *dz, *ddx, *ddy, *ddw;
  const void *rows, *cols, *sender_perm;
  void *gx, *gy, *gw, *gdz;
  void *workspace;
  size_t workspace_bytes;
  void *stream;
} oeq_dd_args_t;

struct oeq_backend_ops {
  const char *name;
  /* 1 if usable now; else 0 with the reason in err. */
  int (*available)(int device, oeq_error_t *err);
  /* Fill plan->impl (compile kernels etc.). plan->schedule is set. */
  oeq_status_t (*plan_init)(oeq_plan_t *plan, oeq_error_t *err);
  void (*plan_release)(oeq_plan_t *plan);
  /* Pointer checks a backend can make cheaply (host vs device). */
  oeq_status_t (*check_pointer)(const oeq_plan_t *plan, const void *ptr, const char *name,
                                oeq_error_t *err);
  oeq_status_t (*tp_forward)(const oeq_plan_t *plan, int64_t batch, const void *x, const void *y,
                             const void *w, void *z, void *stream, oeq_error_t *err);
  oeq_status_t (*tp_backward)(const oeq_plan_t *plan, int64_t batch, const void *x, const void *y,
                              const void *w, const void *dz, void *dx, void *dy, void *dw,
                              void *stream, oeq_error_t *err);
  oeq_status_t (*conv_workspace_size)(const oeq_plan_t *plan, int64_t x_rows, int64_t z_rows,
                                      int64_t edges, size_t *bytes, oeq_error_t *err);
  oeq_status_t (*conv_forward)(const oeq_plan_t *plan, const oeq_conv_args_t *args, oeq_error_t *err);
  oeq_status_t (*conv_backward)(const oeq_plan_t *plan, const oeq_conv_args_t *args,
                                oeq_error_t *err);
  /* Second derivatives (cpu_double.c, gpu_double.c): gradients of
   * <ddx, dx> + <ddy, dy> + <ddw, dw> (dx, dy, dw the backward's outputs)
   * with respect to x, y, w and dz. The workspace size is for a call of
   * these counts (TP: x_rows = z_rows = edges = batch). */
  oeq_status_t (*dd_workspace_size)(const oeq_plan_t *plan, int64_t x_rows, int64_t z_rows,
                                    int64_t edges, size_t *bytes, oeq_error_t *err);
  oeq_status_t (*tp_double_backward)(const oeq_plan_t *plan, const oeq_dd_args_t *args,
                                     oeq_error_t *err);
  oeq_status_t (*conv_double_backward)(const oeq_plan_t *plan, const oeq_dd_args_t *args,
                                       oeq_error_t *err);
  /* Symmetric contraction (plan->symcon); NULL if the backend has none, and
   * then no such plan is made on it. species is validated by the backend
   * (an index out of [0, num_elements) fails with nothing written); dx or
   * dw NULL means that gradient is not wanted. */
  oeq_status_t (*symcon_forward)(const oeq_plan_t *plan, int64_t batch, const void *x,
                                 const int32_t *species, const void *w, void *z, void *stream,
                                 oeq_error_t *err);
  oeq_status_t (*symcon_backward)(const oeq_plan_t *plan, int64_t batch, const void *x,
                                  const int32_t *species, const void *w, const void *dz, void *dx,
                                  void *dw, void *stream, oeq_error_t *err);
};

/* The backends. A backend that is not compiled in has no table (NULL). */
const oeq_backend_ops_t *oeq_backend_cpu(void);
const oeq_backend_ops_t *oeq_backend_cuda(void);
const oeq_backend_ops_t *oeq_backend_hip(void);

#endif
