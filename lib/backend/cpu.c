/* cpu.c: the CPU backend. Executes the schedule on the host, OpenMP over
 * batch rows (tensor product) or over receivers / senders (convolution),
 * so every output element has one writer and sums run in a fixed order.
 * It is the reference every GPU result is checked against. */
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "checked.h"
#include "cpu_kernels.h"
#include "cpu_threads.h"

static int cpu_available(int device, oeq_error_t *err) {
  (void)device;
  (void)err;
  return 1;
}

static oeq_status_t cpu_plan_init(oeq_plan_t *plan, oeq_error_t *err) {
  (void)plan;
  (void)err;
  return OEQ_SUCCESS;
}

static void cpu_plan_release(oeq_plan_t *plan) { (void)plan; }

static oeq_status_t cpu_check_pointer(const oeq_plan_t *plan, const void *ptr, const char *name,
                                      oeq_error_t *err) {
  /* A device pointer cannot be told from a host pointer without a driver;
   * the GPU backends make that check from their side. */
  (void)plan;
  (void)ptr;
  (void)name;
  (void)err;
  return OEQ_SUCCESS;
}

/* Per-thread scratch: canonical x, y, w, z rows plus gradient rows. */
typedef struct {
  double *x, *y, *w, *z, *dx, *dy, *dw;
} row_scratch_t;

/* A thread's rows: x, y, w, z, dx, dy, dw. */
static row_scratch_t scratch_rows(const oeq_schedule_t *s, const oeq_cpu_scratch_t *sc, int t) {
  double *p = oeq_cpu_scratch_of(sc, t);
  row_scratch_t r;
  r.x = p, p += s->x_dim;
  r.y = p, p += s->y_dim;
  r.w = p, p += s->weight_numel;
  r.z = p, p += s->z_dim;
  r.dx = p, p += s->x_dim;
  r.dy = p, p += s->y_dim;
  r.dw = p;
  return r;
}

/* Loads row b's inputs (x row bx, y row by, weight row bw) into r. */
static void load_inputs(const oeq_schedule_t *s, const void *x, int64_t bx, const void *y, int64_t by,
                        const void *w, int64_t bw, const row_scratch_t *r) {
  oeq_cpu_load_row(oeq_cpu_row(x, bx, s->x_dim, s->irrep_dtype), s->irrep_dtype, s->layout, s->in1_blocks,
                   s->n_in1_blocks, s->x_dim, r->x);
  oeq_cpu_load_row(oeq_cpu_row(y, by, s->y_dim, s->irrep_dtype), s->irrep_dtype, s->layout, s->in2_blocks,
                   s->n_in2_blocks, s->y_dim, r->y);
  if (s->weight_numel > 0)
    oeq_cpu_load_flat(oeq_cpu_row(w, s->shared_weights ? 0 : bw, s->weight_numel, s->weight_dtype),
                      s->weight_dtype, s->weight_numel, r->w);
}

static oeq_status_t cpu_tp_forward(const oeq_plan_t *plan, int64_t batch, const void *x,
                                   const void *y, const void *w, void *z, void *stream,
                                   oeq_error_t *err) {
  (void)stream;
  const oeq_schedule_t *s = plan->schedule;
  oeq_cpu_scratch_t sc;
  if (oeq_cpu_scratch_alloc(s->weight_numel, 2 * (s->x_dim + s->y_dim + s->z_dim), 2, &sc, err) != OEQ_SUCCESS) return err->status;
#pragma omp parallel
  {
    row_scratch_t r = scratch_rows(s, &sc, oeq_cpu_thread_id());
#pragma omp for schedule(static)
    for (int64_t b = 0; b < batch; b++) {
      load_inputs(s, x, b, y, b, w, b, &r);
      oeq_cpu_row_forward(s, r.x, r.y, r.w, r.z);
      oeq_cpu_store_row(r.z, s->irrep_dtype, s->layout, s->out_blocks, s->n_out_blocks, s->z_dim,
                        oeq_cpu_row_mut(z, b, s->z_dim, s->irrep_dtype));
    }
  }
  free(sc.block);
  return OEQ_SUCCESS;
}

/* Sums the per-thread shared-weight gradients in thread order (fixed for a
 * given thread count) and writes dw. */
static void reduce_shared_dw(const oeq_schedule_t *s, const oeq_cpu_scratch_t *sc, void *dw) {
  double *total = scratch_rows(s, sc, 0).dw;
  for (int t = 1; t < sc->threads; t++) {
    const double *part = scratch_rows(s, sc, t).dw;
    for (int64_t i = 0; i < s->weight_numel; i++) total[i] += part[i];
  }
  oeq_cpu_store_flat(total, s->weight_dtype, s->weight_numel, dw);
}

static oeq_status_t cpu_tp_backward(const oeq_plan_t *plan, int64_t batch, const void *x,
                                    const void *y, const void *w, const void *dz, void *dx,
                                    void *dy, void *dw, void *stream, oeq_error_t *err) {
  (void)stream;
  const oeq_schedule_t *s = plan->schedule;
  int shared = s->shared_weights;
  oeq_cpu_scratch_t sc;
  if (oeq_cpu_scratch_alloc(s->weight_numel, 2 * (s->x_dim + s->y_dim + s->z_dim), 2, &sc, err) != OEQ_SUCCESS) return err->status;
  for (int t = 0; t < sc.threads; t++)
    memset(scratch_rows(s, &sc, t).dw, 0, (size_t)s->weight_numel * sizeof(double));
#pragma omp parallel
  {
    row_scratch_t r = scratch_rows(s, &sc, oeq_cpu_thread_id());
#pragma omp for schedule(static)
    for (int64_t b = 0; b < batch; b++) {
      load_inputs(s, x, b, y, b, w, b, &r);
      oeq_cpu_load_row(oeq_cpu_row(dz, b, s->z_dim, s->irrep_dtype), s->irrep_dtype, s->layout,
                       s->out_blocks, s->n_out_blocks, s->z_dim, r.z);
      memset(r.dx, 0, (size_t)s->x_dim * sizeof(double));
      memset(r.dy, 0, (size_t)s->y_dim * sizeof(double));
      if (!shared) memset(r.dw, 0, (size_t)s->weight_numel * sizeof(double));
      oeq_cpu_row_backward(s, r.x, r.y, r.w, r.z, r.dx, r.dy, r.dw);
      oeq_cpu_store_row(r.dx, s->irrep_dtype, s->layout, s->in1_blocks, s->n_in1_blocks, s->x_dim,
                        oeq_cpu_row_mut(dx, b, s->x_dim, s->irrep_dtype));
      oeq_cpu_store_row(r.dy, s->irrep_dtype, s->layout, s->in2_blocks, s->n_in2_blocks, s->y_dim,
                        oeq_cpu_row_mut(dy, b, s->y_dim, s->irrep_dtype));
      if (!shared && s->weight_numel > 0)
        oeq_cpu_store_flat(r.dw, s->weight_dtype, s->weight_numel,
                           oeq_cpu_row_mut(dw, b, s->weight_numel, s->weight_dtype));
    }
  }
  if (shared && s->weight_numel > 0) reduce_shared_dw(s, &sc, dw);
  free(sc.block);
  return OEQ_SUCCESS;
}

#include "cpu_conv.h"
#include "cpu_symcon.h"
#include "cpu_double.h"

static const oeq_backend_ops_t cpu_ops = {
    .name = "cpu",
    .available = cpu_available,
    .plan_init = cpu_plan_init,
    .plan_release = cpu_plan_release,
    .check_pointer = cpu_check_pointer,
    .tp_forward = cpu_tp_forward,
    .tp_backward = cpu_tp_backward,
    .conv_workspace_size = oeq_cpu_conv_workspace_size,
    .conv_forward = oeq_cpu_conv_forward,
    .conv_backward = oeq_cpu_conv_backward,
    .dd_workspace_size = oeq_cpu_dd_workspace_size,
    .tp_double_backward = oeq_cpu_tp_double_backward,
    .conv_double_backward = oeq_cpu_conv_double_backward,
    .symcon_forward = oeq_cpu_symcon_forward,
    .symcon_backward = oeq_cpu_symcon_backward,
};

const oeq_backend_ops_t *oeq_backend_cpu(void) { return &cpu_ops; }
