/* dd_support.c: see dd_support.h. */
#include "dd_support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu_runtime.h"
#include "support.h"

int64_t dd_nx(const dd_case_t *c) { return c->x_rows * c->x_dim; }
int64_t dd_ny(const dd_case_t *c) { return c->edges * c->y_dim; }
int64_t dd_nw(const dd_case_t *c) { return (c->shared ? 1 : c->edges) * c->numel; }
int64_t dd_nz(const dd_case_t *c) { return c->z_rows * c->z_dim; }

static size_t esz(const dd_case_t *c) { return c->dtype == OEQ_FLOAT64 ? 8 : 4; }

double dd_dot(const double *a, const double *b, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
  return s;
}

/* Stable counting sort of the edges by cols. */
static void make_perm(dd_case_t *c) {
  int64_t *start = calloc((size_t)c->x_rows + 1, sizeof *start);
  for (int64_t e = 0; e < c->edges; e++) start[c->cols[e] + 1]++;
  for (int64_t i = 0; i < c->x_rows; i++) start[i + 1] += start[i];
  for (int64_t e = 0; e < c->edges; e++) c->perm[start[c->cols[e]]++] = (int32_t)e;
  free(start);
}

int dd_case_init(dd_case_t *c, const oeq_problem_t *p, oeq_backend_t b, int conv, uint32_t flags,
                 int64_t x_rows, int64_t z_rows, int64_t edges, uint64_t seed, char *why,
                 size_t len) {
  memset(c, 0, sizeof *c);
  c->backend = b;
  c->conv = conv;
  c->flags = flags;
  c->x_rows = x_rows;
  c->z_rows = conv ? z_rows : x_rows;
  c->edges = conv ? edges : x_rows;
  oeq_dtype_t wt;
  int shared = 0;
  if (oeq_problem_dims(p, &c->x_dim, &c->y_dim, &c->z_dim) || oeq_problem_weight_numel(p, &c->numel) ||
      oeq_problem_dtypes(p, &c->dtype, &wt) || oeq_problem_shared_weights(p, &shared)) {
    snprintf(why, len, "problem query: %s", oeq_last_error());
    return -1;
  }
  c->shared = shared;
  oeq_status_t st = conv ? oeq_plan_create_conv(p, b, 0, flags, &c->plan) : oeq_plan_create_tp(p, b, 0, &c->plan);
  if (st != OEQ_SUCCESS) {
    snprintf(why, len, "plan: %s", oeq_last_error());
    return -1;
  }
  if (!conv) return 0;
  c->rows = malloc((size_t)(edges ? edges : 1) * 4);
  c->cols = malloc((size_t)(edges ? edges : 1) * 4);
  c->perm = malloc((size_t)(edges ? edges : 1) * 4);
  test_rng_t rng = {seed | 1};
  /* receivers in order (deterministic mode's contract), senders random */
  for (int64_t e = 0; e < edges; e++) c->rows[e] = (int32_t)(e * z_rows / (edges ? edges : 1));
  for (int64_t e = 0; e < edges; e++) c->cols[e] = (int32_t)(test_rng_next(&rng) % (uint64_t)x_rows);
  make_perm(c);
  return 0;
}

void dd_case_set_graph(dd_case_t *c, const int32_t *rows, const int32_t *cols) {
  memcpy(c->rows, rows, (size_t)c->edges * 4);
  memcpy(c->cols, cols, (size_t)c->edges * 4);
  make_perm(c);
}

void dd_case_free(dd_case_t *c) {
  oeq_plan_destroy(c->plan);
  free(c->rows);
  free(c->cols);
  free(c->perm);
  memset(c, 0, sizeof *c);
}

/* ------------------------------------------------------ device mirrors */

typedef struct {
  void *host;
  size_t bytes;
  int out;
  void *dev;
} buf_t;

/* GPU: every non-NULL host array gets a device copy (outputs too, so
 * their poison goes along). CPU: the host arrays themselves. */
static int mirror(const dd_case_t *c, buf_t *b, int n) {
  for (int i = 0; i < n; i++) b[i].dev = NULL;
  for (int i = 0; i < n; i++) {
    if (c->backend == OEQ_BACKEND_CPU || !b[i].host) {
      b[i].dev = b[i].host;
      continue;
    }
    if (test_rt_alloc(c->backend, &b[i].dev, b[i].bytes ? b[i].bytes : 8) ||
        test_rt_to_device(c->backend, b[i].dev, b[i].host, b[i].bytes))
      return -1;
  }
  return 0;
}

static void unmirror(const dd_case_t *c, buf_t *b, int n, int copy_back) {
  if (c->backend == OEQ_BACKEND_CPU) return;
  test_rt_sync(c->backend, NULL);
  for (int i = 0; i < n; i++) {
    if (!b[i].host) continue;
    if (copy_back && b[i].out && b[i].dev) test_rt_to_host(c->backend, b[i].host, b[i].dev, b[i].bytes);
    if (b[i].dev) test_rt_free(c->backend, b[i].dev);
  }
}

enum { B_ROWS, B_COLS, B_PERM, B_X, B_Y, B_W, B_DZ };

static void index_bufs(const dd_case_t *c, buf_t *b) {
  b[B_ROWS] = (buf_t){c->rows, (size_t)c->edges * 4, 0, NULL};
  b[B_COLS] = (buf_t){c->cols, (size_t)c->edges * 4, 0, NULL};
  b[B_PERM] = (buf_t){c->perm, (size_t)c->edges * 4, 0, NULL};
}

oeq_status_t dd_forward(const dd_case_t *c, const void *x, const void *y, const void *w, void *z) {
  const size_t s = esz(c);
  buf_t b[8];
  index_bufs(c, b);
  b[B_X] = (buf_t){(void *)x, (size_t)dd_nx(c) * s, 0, NULL};
  b[B_Y] = (buf_t){(void *)y, (size_t)dd_ny(c) * s, 0, NULL};
  b[B_W] = (buf_t){(void *)w, (size_t)dd_nw(c) * s, 0, NULL};
  b[7] = (buf_t){z, (size_t)dd_nz(c) * s, 1, NULL};
  if (mirror(c, b, 8)) return OEQ_ERROR_DEVICE;
  oeq_status_t st =
      c->conv ? oeq_conv_forward(c->plan, c->x_rows, c->z_rows, c->edges, b[B_X].dev, b[B_Y].dev,
                                 b[B_W].dev, b[B_ROWS].dev, b[B_COLS].dev, b[B_PERM].dev, b[7].dev,
                                 NULL, 0, NULL)
              : oeq_tp_forward(c->plan, c->x_rows, b[B_X].dev, b[B_Y].dev, b[B_W].dev, b[7].dev, NULL);
  unmirror(c, b, 8, st == OEQ_SUCCESS);
  return st;
}

oeq_status_t dd_backward(const dd_case_t *c, const void *x, const void *y, const void *w,
                         const void *dz, void *gx, void *gy, void *gw) {
  const size_t s = esz(c);
  buf_t b[10];
  index_bufs(c, b);
  b[B_X] = (buf_t){(void *)x, (size_t)dd_nx(c) * s, 0, NULL};
  b[B_Y] = (buf_t){(void *)y, (size_t)dd_ny(c) * s, 0, NULL};
  b[B_W] = (buf_t){(void *)w, (size_t)dd_nw(c) * s, 0, NULL};
  b[B_DZ] = (buf_t){(void *)dz, (size_t)dd_nz(c) * s, 0, NULL};
  b[7] = (buf_t){gx, (size_t)dd_nx(c) * s, 1, NULL};
  b[8] = (buf_t){gy, (size_t)dd_ny(c) * s, 1, NULL};
  b[9] = (buf_t){gw, (size_t)dd_nw(c) * s, 1, NULL};
  if (mirror(c, b, 10)) return OEQ_ERROR_DEVICE;
  oeq_status_t st =
      c->conv ? oeq_conv_backward(c->plan, c->x_rows, c->z_rows, c->edges, b[B_X].dev, b[B_Y].dev,
                                  b[B_W].dev, b[B_DZ].dev, b[B_ROWS].dev, b[B_COLS].dev,
                                  b[B_PERM].dev, b[7].dev, b[8].dev, b[9].dev, NULL, 0, NULL)
              : oeq_tp_backward(c->plan, c->x_rows, b[B_X].dev, b[B_Y].dev, b[B_W].dev, b[B_DZ].dev,
                                b[7].dev, b[8].dev, b[9].dev, NULL);
  unmirror(c, b, 10, st == OEQ_SUCCESS);
  return st;
}

oeq_status_t dd_double(const dd_case_t *c, const void *x, const void *y, const void *w,
                       const void *dz, const void *ddx, const void *ddy, const void *ddw, void *gx,
                       void *gy, void *gw, void *gdz, int workspace) {
  const size_t s = esz(c);
  size_t wbytes = 0;
  oeq_status_t st = c->conv ? oeq_conv_double_backward_workspace_size(c->plan, c->x_rows, c->z_rows,
                                                                      c->edges, &wbytes)
                            : oeq_tp_double_backward_workspace_size(c->plan, c->x_rows, &wbytes);
  if (st != OEQ_SUCCESS) return st;
  void *ws_host = workspace ? malloc(wbytes ? wbytes : 1) : NULL;
  buf_t b[15];
  index_bufs(c, b);
  b[B_X] = (buf_t){(void *)x, (size_t)dd_nx(c) * s, 0, NULL};
  b[B_Y] = (buf_t){(void *)y, (size_t)dd_ny(c) * s, 0, NULL};
  b[B_W] = (buf_t){(void *)w, (size_t)dd_nw(c) * s, 0, NULL};
  b[B_DZ] = (buf_t){(void *)dz, (size_t)dd_nz(c) * s, 0, NULL};
  b[7] = (buf_t){(void *)ddx, (size_t)dd_nx(c) * s, 0, NULL};
  b[8] = (buf_t){(void *)ddy, (size_t)dd_ny(c) * s, 0, NULL};
  b[9] = (buf_t){(void *)ddw, (size_t)dd_nw(c) * s, 0, NULL};
  b[10] = (buf_t){gx, (size_t)dd_nx(c) * s, 1, NULL};
  b[11] = (buf_t){gy, (size_t)dd_ny(c) * s, 1, NULL};
  b[12] = (buf_t){gw, (size_t)dd_nw(c) * s, 1, NULL};
  b[13] = (buf_t){gdz, (size_t)dd_nz(c) * s, 1, NULL};
  b[14] = (buf_t){ws_host, wbytes, 0, NULL};
  if (mirror(c, b, 15)) {
    free(ws_host);
    return OEQ_ERROR_DEVICE;
  }
  if (c->conv)
    st = oeq_conv_double_backward(c->plan, c->x_rows, c->z_rows, c->edges, b[B_X].dev, b[B_Y].dev,
                                  b[B_W].dev, b[B_DZ].dev, b[7].dev, b[8].dev, b[9].dev,
                                  b[B_ROWS].dev, b[B_COLS].dev, b[B_PERM].dev, b[10].dev, b[11].dev,
                                  b[12].dev, b[13].dev, b[14].dev, wbytes, NULL);
  else
    st = oeq_tp_double_backward(c->plan, c->x_rows, b[B_X].dev, b[B_Y].dev, b[B_W].dev, b[B_DZ].dev,
                                b[7].dev, b[8].dev, b[9].dev, b[10].dev, b[11].dev, b[12].dev,
                                b[13].dev, b[14].dev, wbytes, NULL);
  unmirror(c, b, 15, st == OEQ_SUCCESS);
  free(ws_host);
  return st;
}
