/* gpu_double.c: second derivatives (double backward) on a GPU, for TP and
 * convolution plans, for every runtime.
 *
 * No kernel of its own but the elementwise sum (codegen/add_kernel.h):
 * with f the forward and g_x, g_y, g_w the backward's gradients,
 *   gdz = f(ddx, y, w) + f(x, ddy, w) + f(x, y, ddw)          (F1 F2 F3)
 *   gx  = g_x(ddy, w, dz) + g_x(y, ddw, dz)                   (B2 B3)
 *   gy  = g_y(ddx, w, dz) + g_y(x, ddw, dz)                   (B1 B3)
 *   gw  = g_w(ddx, y, dz) + g_w(x, ddy, dz)                   (B1 B2)
 * where B1 = backward(ddx, y, w, dz), B2 = backward(x, ddy, w, dz) and
 * B3 = backward(x, y, ddw, dz), each launched as the plan's own backward.
 * Every term goes to a workspace temporary; the outputs are written once,
 * by the sums, at the end (so they are reproducible whenever the terms
 * are: the deterministic convolution's are). A NULL cotangent drops its
 * terms. A backward also forms one gradient the identities do not use; it
 * lands in a temporary that a later launch overwrites (B1's dx in X2,
 * B2's dy in Y3) or is not read, and B3's dw in a sink of its own.
 *
 * Unweighted paths are not linear in w: f(x, y, ddw) holds their full
 * share, which the ddw terms must not. Where a problem mixes weighted and
 * unweighted paths, that share is formed once more with zero weights
 * (F0 = f(x, y, 0), B0 = backward(x, y, 0, dz)) and subtracted in the sums.
 *
 * Workspace, each region 256-byte aligned: (conv) the convolution's own
 * workspace, then Z1 Z2 Z3 (z rows), X2 X3 (x rows), Y1 Y3 (y rows),
 * W1 W2 SW (weight rows: 1 if shared), and for a mixed problem Z0 X0 Y0
 * and W0 (zeros). NULL workspace: allocated and freed stream-ordered. */
#include <stdint.h>

#include "backend/gpu.h"
#include "checked.h"
#include "codegen/conv_codegen.h"
#include "problem.h"

#define ALIGN 256

enum {
  R_CONV, R_Z1, R_Z2, R_Z3, R_X2, R_X3, R_Y1, R_Y3, R_W1, R_W2, R_SW,
  R_Z0, R_X0, R_Y0, R_W0, /* mixed weighted / unweighted paths only */
  R_COUNT
};

/* Weighted and unweighted paths in one problem. */
static int mixed(const oeq_schedule_t *s) {
  int weighted = 0, unweighted = 0;
  for (int i = 0; i < s->n_paths; i++) {
    weighted |= s->paths[i].has_weight;
    unweighted |= !s->paths[i].has_weight;
  }
  return weighted && unweighted;
}

typedef struct {
  size_t off[R_COUNT], bytes[R_COUNT], total;
} dd_layout_t;

static oeq_status_t layout(const oeq_plan_t *plan, int64_t x_rows, int64_t z_rows, int64_t edges,
                           dd_layout_t *l, oeq_error_t *err) {
  const oeq_schedule_t *s = plan->schedule;
  const size_t isz = oeq_dtype_size(s->irrep_dtype), wsz = oeq_dtype_size(s->weight_dtype);
  const int64_t w_rows = s->shared_weights ? 1 : edges;
  const int64_t m = mixed(s); /* 0: the R_*0 regions are empty */
  size_t conv = 0;
  if (plan->kind == OEQ_PLAN_CONV) {
    oeq_status_t st = oeq_gpu_conv_workspace_size(plan, x_rows, z_rows, edges, &conv, err);
    if (st != OEQ_SUCCESS) return st;
  }
  struct {
    int64_t rows, width;
    size_t elem;
  } shape[R_COUNT] = {
      [R_Z1] = {z_rows, s->z_dim, isz},       [R_Z2] = {z_rows, s->z_dim, isz},
      [R_Z3] = {z_rows, s->z_dim, isz},       [R_X2] = {x_rows, s->x_dim, isz},
      [R_X3] = {x_rows, s->x_dim, isz},       [R_Y1] = {edges, s->y_dim, isz},
      [R_Y3] = {edges, s->y_dim, isz},        [R_W1] = {w_rows, s->weight_numel, wsz},
      [R_W2] = {w_rows, s->weight_numel, wsz}, [R_SW] = {w_rows, s->weight_numel, wsz},
      [R_Z0] = {m * z_rows, s->z_dim, isz},   [R_X0] = {m * x_rows, s->x_dim, isz},
      [R_Y0] = {m * edges, s->y_dim, isz},    [R_W0] = {m * w_rows, s->weight_numel, wsz}};
  size_t at = 0;
  for (int r = 0; r < R_COUNT; r++) {
    int64_t n;
    size_t b = conv;
    if (r != R_CONV &&
        (oeq_mul_i64(shape[r].rows, shape[r].width, &n) || oeq_bytes(n, shape[r].elem, &b)))
      goto overflow;
    size_t end;
    if (oeq_add_size(b, ALIGN - 1, &end) || oeq_add_size(at, end / ALIGN * ALIGN, &end)) goto overflow;
    l->off[r] = at;
    l->bytes[r] = b;
    at = end;
  }
  l->total = at;
  return OEQ_SUCCESS;
overflow:
  return oeq_fail(err, OEQ_ERROR_INVALID_ARGUMENT,
                  "the double backward's workspace for %lld rows / edges overflows a size",
                  (long long)edges);
}

oeq_status_t oeq_gpu_dd_workspace_size(const oeq_plan_t *plan, int64_t x_rows, int64_t z_rows,
                                       int64_t edges, size_t *bytes, oeq_error_t *err) {
  dd_layout_t l;
  oeq_status_t st = layout(plan, x_rows, z_rows, edges, &l, err);
  if (st == OEQ_SUCCESS) *bytes = l.total;
  return st;
}

typedef struct {
  const oeq_plan_t *plan;
  const oeq_gpu_plan_t *gp;
  const oeq_dd_args_t *a;
  char *ws;
  dd_layout_t l;
} dd_call_t;

/* NULL for an empty region (the whole workspace may be empty). */
static void *region(const dd_call_t *c, int r) { return c->l.bytes[r] ? c->ws + c->l.off[r] : NULL; }

/* z = f(x, y, w) into a temporary. */
static oeq_status_t forward(const dd_call_t *c, const void *x, const void *y, const void *w, void *z,
                            oeq_error_t *err) {
  const oeq_dd_args_t *a = c->a;
  if (c->plan->kind == OEQ_PLAN_TP)
    return oeq_gpu_tp_forward_enqueue(c->gp, a->edges, x, y, w, z, a->stream, err);
  oeq_conv_args_t ca = {.x_rows = a->x_rows, .z_rows = a->z_rows, .edges = a->edges, .x = x,
                        .y = y, .w = w, .rows = a->rows, .cols = a->cols,
                        .sender_perm = a->sender_perm, .z = z, .workspace = region(c, R_CONV),
                        .workspace_bytes = c->l.bytes[R_CONV], .stream = a->stream};
  return oeq_gpu_conv_forward(c->plan, &ca, err);
}

/* (dx, dy, dw) = backward(x, y, w, dz) into temporaries. */
static oeq_status_t backward(const dd_call_t *c, const void *x, const void *y, const void *w,
                             void *dx, void *dy, void *dw, oeq_error_t *err) {
  const oeq_dd_args_t *a = c->a;
  if (c->plan->kind == OEQ_PLAN_TP)
    return oeq_gpu_tp_backward_enqueue(c->gp, a->edges, x, y, w, a->dz, dx, dy, dw, a->stream, err);
  oeq_conv_args_t ca = {.x_rows = a->x_rows, .z_rows = a->z_rows, .edges = a->edges, .x = x,
                        .y = y, .w = w, .dz = a->dz, .rows = a->rows, .cols = a->cols,
                        .sender_perm = a->sender_perm, .dx = dx, .dy = dy, .dw = dw,
                        .workspace = region(c, R_CONV), .workspace_bytes = c->l.bytes[R_CONV],
                        .stream = a->stream};
  return oeq_gpu_conv_backward(c->plan, &ca, err);
}

/* out = t0 + t1 + t2 - t3 over n elements (NULL terms are zero). */
static oeq_status_t sum(const dd_call_t *c, int role, void *out, const void *t0, const void *t1,
                        const void *t2, const void *t3, int64_t n, oeq_error_t *err) {
  if (n == 0) return OEQ_SUCCESS;
  long long count = n;
  void *args[] = {&out, (void *)&t0, (void *)&t1, (void *)&t2, (void *)&t3, &count};
  return oeq_gpu_launch(c->gp, role, n, c->a->stream, args, err);
}

static oeq_status_t enqueue(const dd_call_t *c, oeq_error_t *err) {
  const oeq_dd_args_t *a = c->a;
  const oeq_schedule_t *s = c->plan->schedule;
  const int hx = a->ddx != NULL, hy = a->ddy != NULL, hw = a->ddw != NULL && s->weight_numel > 0;
  const int tp = c->plan->kind == OEQ_PLAN_TP;
  const int add_i = tp ? OEQ_TP_K_ADD_I : OEQ_CONV_K_ADD_I;
  const int add_w = tp ? OEQ_TP_K_ADD_W : OEQ_CONV_K_ADD_W;
  void *z1 = region(c, R_Z1), *z2 = region(c, R_Z2), *z3 = region(c, R_Z3);
  void *x2 = region(c, R_X2), *x3 = region(c, R_X3), *y1 = region(c, R_Y1), *y3 = region(c, R_Y3);
  void *w1 = region(c, R_W1), *w2 = region(c, R_W2), *sw = region(c, R_SW);
  /* the unweighted paths' share, subtracted from the ddw terms */
  const int h0 = hw && mixed(s);
  void *z0 = h0 ? region(c, R_Z0) : NULL, *x0 = h0 ? region(c, R_X0) : NULL;
  void *y0 = h0 ? region(c, R_Y0) : NULL, *w0 = region(c, R_W0);
  oeq_status_t st = OEQ_SUCCESS;
  if (h0) st = c->gp->drv->memset_async(w0, c->l.bytes[R_W0], a->stream, err);
  if (st == OEQ_SUCCESS && hx) st = forward(c, a->ddx, a->y, a->w, z1, err);
  if (st == OEQ_SUCCESS && hy) st = forward(c, a->x, a->ddy, a->w, z2, err);
  if (st == OEQ_SUCCESS && hw) st = forward(c, a->x, a->y, a->ddw, z3, err);
  if (st == OEQ_SUCCESS && h0) st = forward(c, a->x, a->y, w0, z0, err);
  /* in this order: B1's dx sink is X2 (B2 writes it after), B2's dy sink Y3 */
  if (st == OEQ_SUCCESS && hx) st = backward(c, a->ddx, a->y, a->w, x2, y1, w1, err);
  if (st == OEQ_SUCCESS && hy) st = backward(c, a->x, a->ddy, a->w, x2, y3, w2, err);
  if (st == OEQ_SUCCESS && hw) st = backward(c, a->x, a->y, a->ddw, x3, y3, sw, err);
  if (st == OEQ_SUCCESS && h0) st = backward(c, a->x, a->y, w0, x0, y0, sw, err);
  const int64_t w_rows = s->shared_weights ? 1 : a->edges;
  if (st == OEQ_SUCCESS)
    st = sum(c, add_i, a->gdz, hx ? z1 : NULL, hy ? z2 : NULL, hw ? z3 : NULL, z0,
             a->z_rows * s->z_dim, err);
  if (st == OEQ_SUCCESS)
    st = sum(c, add_i, a->gx, hy ? x2 : NULL, hw ? x3 : NULL, NULL, x0, a->x_rows * s->x_dim, err);
  if (st == OEQ_SUCCESS)
    st = sum(c, add_i, a->gy, hx ? y1 : NULL, hw ? y3 : NULL, NULL, y0, a->edges * s->y_dim, err);
  if (st == OEQ_SUCCESS)
    st = sum(c, add_w, a->gw, hx ? w1 : NULL, hy ? w2 : NULL, NULL, NULL, w_rows * s->weight_numel,
             err);
  return st;
}

oeq_status_t oeq_gpu_double_backward(const oeq_plan_t *plan, const oeq_dd_args_t *a,
                                     oeq_error_t *err) {
  const oeq_gpu_plan_t *gp = plan->impl;
  dd_call_t c = {.plan = plan, .gp = gp, .a = a};
  oeq_status_t st = layout(plan, a->x_rows, a->z_rows, a->edges, &c.l, err);
  if (st != OEQ_SUCCESS) return st;
  const int tp = plan->kind == OEQ_PLAN_TP;
  if (!gp->kernel[tp ? OEQ_TP_K_ADD_I : OEQ_CONV_K_ADD_I].fn ||
      !gp->kernel[tp ? OEQ_TP_K_ADD_W : OEQ_CONV_K_ADD_W].fn)
    return oeq_fail(err, OEQ_ERROR_INTERNAL, "the plan's source lacks the double backward's sum kernels");
  int owned = 0;
  if (a->workspace) {
    if (a->workspace_bytes < c.l.total)
      return oeq_fail(err, OEQ_ERROR_INVALID_ARGUMENT,
                      "workspace_bytes = %zu is smaller than the double backward's workspace size "
                      "%zu",
                      a->workspace_bytes, c.l.total);
    c.ws = a->workspace;
  } else if (c.l.total > 0) {
    void *ws = NULL;
    st = gp->drv->alloc_async(&ws, c.l.total, a->stream, err);
    if (st != OEQ_SUCCESS) return st;
    c.ws = ws;
    owned = 1;
  }
  st = enqueue(&c, err);
  if (owned) {
    oeq_error_t ignored;
    oeq_status_t fst = gp->drv->free_async(c.ws, a->stream, st == OEQ_SUCCESS ? err : &ignored);
    if (st == OEQ_SUCCESS) st = fst;
  }
  return st;
}
