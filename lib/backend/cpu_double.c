/* cpu_double.c: second derivatives (double backward) on the host.
 *
 * The tensor product z = f(x, y, w) is linear in each argument, so with
 * the backward's gradients g_x(y, w, dz), g_y(x, w, dz), g_w(x, y, dz) and
 * cotangents ddx, ddy, ddw of dx, dy, dw:
 *   gdz = f(ddx, y, w) + f(x, ddy, w) + f(x, y, ddw)
 *   gx  = g_x(ddy, w, dz) + g_x(y, ddw, dz)
 *   gy  = g_y(ddx, w, dz) + g_y(x, ddw, dz)
 *   gw  = g_w(ddx, y, dz) + g_w(x, ddy, dz)
 * Each row runs the existing row forward / backward (cpu_kernels.c) on
 * swapped arguments in double precision; a missing dd input is a zero term
 * and is skipped. Unweighted paths do not depend on w, so the ddw terms
 * run the weighted paths only (a copy of the schedule that lists just
 * those). The convolution holds the same identities edge by edge:
 * gdz is summed per receiver, gx per sender, gy and gw are per edge (gw of
 * shared weights summed over the edges). As in cpu.c / cpu_conv.c every
 * output element has one writer and sums run in a fixed order. */
#include <stdlib.h>
#include <string.h>

#include "checked.h"
#include "cpu_conv.h"
#include "cpu_double.h"
#include "cpu_kernels.h"
#include "cpu_threads.h"

/* One thread's canonical rows. s* are sinks: the gradient a backward call
 * forms that the identities above do not use (written, never read). */
typedef struct {
  double *x, *y, *w, *dz, *ddx, *ddy, *ddw;
  double *z, *gdz, *gx, *gy, *gw, *sx, *sy, *sw;
} dd_rows_t;

/* 4 x rows, 4 y rows, 4 weight rows, 3 z rows per thread. */
static dd_rows_t rows_of(const oeq_schedule_t *s, const oeq_cpu_scratch_t *sc, int t) {
  double *p = oeq_cpu_scratch_of(sc, t);
  dd_rows_t r;
  r.x = p, p += s->x_dim;
  r.ddx = p, p += s->x_dim;
  r.gx = p, p += s->x_dim;
  r.sx = p, p += s->x_dim;
  r.y = p, p += s->y_dim;
  r.ddy = p, p += s->y_dim;
  r.gy = p, p += s->y_dim;
  r.sy = p, p += s->y_dim;
  r.w = p, p += s->weight_numel;
  r.ddw = p, p += s->weight_numel;
  r.gw = p, p += s->weight_numel;
  r.sw = p, p += s->weight_numel;
  r.dz = p, p += s->z_dim;
  r.z = p, p += s->z_dim;
  r.gdz = p;
  return r;
}

static void load_x(const oeq_schedule_t *s, const void *src, int64_t row, double *dst) {
  oeq_cpu_load_row(oeq_cpu_row(src, row, s->x_dim, s->irrep_dtype), s->irrep_dtype, s->layout,
                   s->in1_blocks, s->n_in1_blocks, s->x_dim, dst);
}
static void load_y(const oeq_schedule_t *s, const void *src, int64_t row, double *dst) {
  oeq_cpu_load_row(oeq_cpu_row(src, row, s->y_dim, s->irrep_dtype), s->irrep_dtype, s->layout,
                   s->in2_blocks, s->n_in2_blocks, s->y_dim, dst);
}
static void load_z(const oeq_schedule_t *s, const void *src, int64_t row, double *dst) {
  oeq_cpu_load_row(oeq_cpu_row(src, row, s->z_dim, s->irrep_dtype), s->irrep_dtype, s->layout,
                   s->out_blocks, s->n_out_blocks, s->z_dim, dst);
}
static void load_w(const oeq_schedule_t *s, const void *src, int64_t row, double *dst) {
  if (s->weight_numel > 0)
    oeq_cpu_load_flat(oeq_cpu_row(src, s->shared_weights ? 0 : row, s->weight_numel, s->weight_dtype),
                      s->weight_dtype, s->weight_numel, dst);
}
static void store_x(const oeq_schedule_t *s, const double *src, void *dst, int64_t row) {
  oeq_cpu_store_row(src, s->irrep_dtype, s->layout, s->in1_blocks, s->n_in1_blocks, s->x_dim,
                    oeq_cpu_row_mut(dst, row, s->x_dim, s->irrep_dtype));
}
static void store_y(const oeq_schedule_t *s, const double *src, void *dst, int64_t row) {
  oeq_cpu_store_row(src, s->irrep_dtype, s->layout, s->in2_blocks, s->n_in2_blocks, s->y_dim,
                    oeq_cpu_row_mut(dst, row, s->y_dim, s->irrep_dtype));
}
static void store_z(const oeq_schedule_t *s, const double *src, void *dst, int64_t row) {
  oeq_cpu_store_row(src, s->irrep_dtype, s->layout, s->out_blocks, s->n_out_blocks, s->z_dim,
                    oeq_cpu_row_mut(dst, row, s->z_dim, s->irrep_dtype));
}
static void store_w(const oeq_schedule_t *s, const double *src, void *dst, int64_t row) {
  oeq_cpu_store_flat(src, s->weight_dtype, s->weight_numel,
                     oeq_cpu_row_mut(dst, row, s->weight_numel, s->weight_dtype));
}

/* Which cotangents are present (a NULL one, or ddw without weights, is 0). */
typedef struct {
  int x, y, w;
} present_t;

static present_t present(const oeq_schedule_t *s, const oeq_dd_args_t *a) {
  return (present_t){a->ddx != NULL, a->ddy != NULL, a->ddw != NULL && s->weight_numel > 0};
}

/* The schedule and its weighted paths alone (for the ddw terms). */
typedef struct {
  const oeq_schedule_t *s;
  oeq_schedule_t weighted; /* paths: owned */
} dd_sched_t;

static oeq_status_t sched_init(const oeq_schedule_t *s, dd_sched_t *d, oeq_error_t *err) {
  d->s = s;
  d->weighted = *s;
  d->weighted.paths = malloc(sizeof(oeq_path_t) * (size_t)(s->n_paths > 0 ? s->n_paths : 1));
  if (!d->weighted.paths) return oeq_fail(err, OEQ_ERROR_OUT_OF_MEMORY, "out of memory for CPU scratch");
  d->weighted.n_paths = 0;
  for (int i = 0; i < s->n_paths; i++)
    if (s->paths[i].has_weight) d->weighted.paths[d->weighted.n_paths++] = s->paths[i];
  return OEQ_SUCCESS;
}

/* r->gdz += f(ddx, y, w) + f(x, ddy, w) + f_weighted(x, y, ddw), in that order. */
static void add_gdz(const dd_sched_t *ds, present_t h, dd_rows_t *r) {
  const oeq_schedule_t *s = ds->s;
  const double *w = s->weight_numel > 0 ? r->w : NULL;
  if (h.x) {
    oeq_cpu_row_forward(s, r->ddx, r->y, w, r->z);
    for (int64_t i = 0; i < s->z_dim; i++) r->gdz[i] += r->z[i];
  }
  if (h.y) {
    oeq_cpu_row_forward(s, r->x, r->ddy, w, r->z);
    for (int64_t i = 0; i < s->z_dim; i++) r->gdz[i] += r->z[i];
  }
  if (h.w) {
    oeq_cpu_row_forward(&ds->weighted, r->x, r->y, r->ddw, r->z);
    for (int64_t i = 0; i < s->z_dim; i++) r->gdz[i] += r->z[i];
  }
}

/* Accumulates the x, y, w terms into gx, gy and gw (r->dz loaded). */
static void add_gxyw(const dd_sched_t *ds, present_t h, double *gx, double *gy, double *gw,
                     dd_rows_t *r) {
  const oeq_schedule_t *s = ds->s;
  const int wn = s->weight_numel > 0;
  const double *w = wn ? r->w : NULL;
  if (h.x) oeq_cpu_row_backward(s, r->ddx, r->y, w, r->dz, r->sx, gy, wn ? gw : NULL);
  if (h.y) oeq_cpu_row_backward(s, r->x, r->ddy, w, r->dz, gx, r->sy, wn ? gw : NULL);
  if (h.w) oeq_cpu_row_backward(&ds->weighted, r->x, r->y, r->ddw, r->dz, gx, gy, r->sw);
}

/* Loads the inputs of row (x row xr, y / w row e) that the present terms read. */
static void load_inputs(const oeq_schedule_t *s, const oeq_dd_args_t *a, present_t h, int64_t xr,
                        int64_t e, dd_rows_t *r) {
  load_x(s, a->x, xr, r->x);
  load_y(s, a->y, e, r->y);
  load_w(s, a->w, e, r->w);
  if (h.x) load_x(s, a->ddx, xr, r->ddx);
  if (h.y) load_y(s, a->ddy, e, r->ddy);
  if (h.w) load_w(s, a->ddw, e, r->ddw);
}

/* Thread-ordered sum of the per-thread shared-weight gradients, written to gw. */
static void reduce_shared_gw(const oeq_schedule_t *s, const oeq_cpu_scratch_t *sc, void *gw) {
  double *total = rows_of(s, sc, 0).gw;
  for (int t = 1; t < sc->threads; t++) {
    const double *part = rows_of(s, sc, t).gw;
    for (int64_t i = 0; i < s->weight_numel; i++) total[i] += part[i];
  }
  store_w(s, total, gw, 0);
}

static void zero(double *p, int64_t n) { memset(p, 0, (size_t)n * sizeof(double)); }

oeq_status_t oeq_cpu_tp_double_backward(const oeq_plan_t *plan, const oeq_dd_args_t *a,
                                        oeq_error_t *err) {
  const oeq_schedule_t *s = plan->schedule;
  const int shared = s->shared_weights, wn = s->weight_numel > 0;
  const present_t h = present(s, a);
  const int64_t batch = a->edges;
  oeq_cpu_scratch_t sc;
  dd_sched_t ds;
  if (sched_init(s, &ds, err) != OEQ_SUCCESS) return err->status;
  if (oeq_cpu_scratch_alloc(s->weight_numel, 4 * (s->x_dim + s->y_dim) + 3 * s->z_dim, 4, &sc, err) != OEQ_SUCCESS) {
    free(ds.weighted.paths);
    return err->status;
  }
  for (int t = 0; t < sc.threads; t++) zero(rows_of(s, &sc, t).gw, s->weight_numel);
#pragma omp parallel
  {
    dd_rows_t r = rows_of(s, &sc, oeq_cpu_thread_id());
    /* static: which thread sums which rows into its shared-gw partial must
     * not depend on timing */
#pragma omp for schedule(static)
    for (int64_t b = 0; b < batch; b++) {
      load_inputs(s, a, h, b, b, &r);
      load_z(s, a->dz, b, r.dz);
      zero(r.gdz, s->z_dim);
      zero(r.gx, s->x_dim);
      zero(r.gy, s->y_dim);
      if (!shared) zero(r.gw, s->weight_numel);
      add_gdz(&ds, h, &r);
      add_gxyw(&ds, h, r.gx, r.gy, r.gw, &r);
      store_z(s, r.gdz, a->gdz, b);
      store_x(s, r.gx, a->gx, b);
      store_y(s, r.gy, a->gy, b);
      if (!shared && wn) store_w(s, r.gw, a->gw, b);
    }
  }
  if (shared && wn) reduce_shared_gw(s, &sc, a->gw);
  free(sc.block);
  free(ds.weighted.paths);
  return OEQ_SUCCESS;
}

oeq_status_t oeq_cpu_dd_workspace_size(const oeq_plan_t *plan, int64_t x_rows, int64_t z_rows,
                                       int64_t edges, size_t *bytes, oeq_error_t *err) {
  if (plan->kind == OEQ_PLAN_TP) {
    *bytes = 0; /* the scratch rows are the library's own */
    return OEQ_SUCCESS;
  }
  return oeq_cpu_conv_workspace_size(plan, x_rows, z_rows, edges, bytes, err);
}

static int64_t index_of(const void *idx, int wide, int64_t e) {
  return wide ? ((const int64_t *)idx)[e] : (int64_t)((const int32_t *)idx)[e];
}

oeq_status_t oeq_cpu_conv_double_backward(const oeq_plan_t *plan, const oeq_dd_args_t *a,
                                          oeq_error_t *err) {
  const oeq_schedule_t *s = plan->schedule;
  const int shared = s->shared_weights, wn = s->weight_numel > 0;
  const int wide = (plan->flags & OEQ_INDEX_INT64) != 0;
  const present_t h = present(s, a);
  /* Validation and every allocation before the first write. */
  oeq_conv_args_t idx = {.x_rows = a->x_rows, .z_rows = a->z_rows, .edges = a->edges,
                         .rows = a->rows, .cols = a->cols, .sender_perm = a->sender_perm};
  oeq_status_t st = oeq_cpu_conv_check_indices(plan, &idx, err);
  size_t want = 0;
  if (st == OEQ_SUCCESS) st = oeq_cpu_conv_workspace_size(plan, a->x_rows, a->z_rows, a->edges, &want, err);
  if (st != OEQ_SUCCESS) return st;
  if (a->workspace && a->workspace_bytes < want)
    return oeq_fail(err, OEQ_ERROR_INVALID_ARGUMENT,
                    "workspace_bytes = %zu is smaller than oeq_conv_double_backward_workspace_size's %zu",
                    a->workspace_bytes, want);
  void *owned = NULL, *ws = a->workspace;
  if (!ws) {
    ws = owned = malloc(want);
    if (!ws) return oeq_fail(err, OEQ_ERROR_OUT_OF_MEMORY, "out of memory for the convolution workspace");
  }
  oeq_cpu_scratch_t sc = {0};
  dd_sched_t ds = {0};
  if (sched_init(s, &ds, err) != OEQ_SUCCESS || oeq_cpu_scratch_alloc(s->weight_numel, 4 * (s->x_dim + s->y_dim) + 3 * s->z_dim, 4, &sc, err) != OEQ_SUCCESS) {
    free(ds.weighted.paths);
    free(owned);
    return err->status;
  }
  int64_t *start, *edge;
  /* gdz: per receiver, its edges in edge order */
  oeq_cpu_conv_bucket(a->rows, wide, a->z_rows, a->edges, ws, &start, &edge);
#pragma omp parallel
  {
    dd_rows_t r = rows_of(s, &sc, oeq_cpu_thread_id());
#pragma omp for schedule(dynamic, 16)
    for (int64_t row = 0; row < a->z_rows; row++) {
      zero(r.gdz, s->z_dim);
      for (int64_t k = start[row]; k < start[row + 1]; k++) {
        const int64_t e = edge[k];
        load_inputs(s, a, h, index_of(a->cols, wide, e), e, &r);
        add_gdz(&ds, h, &r);
      }
      store_z(s, r.gdz, a->gdz, row);
    }
  }
  /* gx per sender; gy, gw per edge (shared gw: per-thread partials) */
  oeq_cpu_conv_bucket(a->cols, wide, a->x_rows, a->edges, ws, &start, &edge);
  for (int t = 0; t < sc.threads; t++) zero(rows_of(s, &sc, t).gw, s->weight_numel);
#pragma omp parallel
  {
    dd_rows_t r = rows_of(s, &sc, oeq_cpu_thread_id());
#pragma omp for schedule(static, 16)
    for (int64_t sender = 0; sender < a->x_rows; sender++) {
      zero(r.gx, s->x_dim);
      for (int64_t k = start[sender]; k < start[sender + 1]; k++) {
        const int64_t e = edge[k];
        load_inputs(s, a, h, sender, e, &r);
        load_z(s, a->dz, index_of(a->rows, wide, e), r.dz);
        zero(r.gy, s->y_dim);
        if (!shared) zero(r.gw, s->weight_numel);
        add_gxyw(&ds, h, r.gx, r.gy, r.gw, &r);
        store_y(s, r.gy, a->gy, e);
        if (!shared && wn) store_w(s, r.gw, a->gw, e);
      }
      store_x(s, r.gx, a->gx, sender);
    }
  }
  if (shared && wn) reduce_shared_gw(s, &sc, a->gw);
  free(sc.block);
  free(ds.weighted.paths);
  free(owned);
  return OEQ_SUCCESS;
}
