/* gpu_conv.c: the fused graph convolution on a GPU: its source, the
 * workspace layout, and the launch sequence of each call (all on the
 * caller's stream), for every runtime.
 *
 * Bad indices. The compute kernels test every edge's row and col (and, in
 * deterministic mode, each sender_perm entry) against their ranges and skip
 * an edge that is out of range: its contribution is dropped, and its dy / dw
 * rows are left unwritten. Nothing is ever written out of bounds. In
 * deterministic mode, rows that are not sorted or a sender_perm that does
 * not sort the edges by cols give unspecified (but in-bounds) results.
 * With OEQ_CONV_CHECK=1 in the environment when the plan is created, every
 * call first runs a validation kernel (ranges; in deterministic mode also
 * sortedness of rows and of cols[sender_perm]) that sets bits in the first 4
 * bytes of the workspace (OEQ_CONV_BAD_* in conv_codegen.h), then
 * synchronises the stream and returns OEQ_ERROR_INVALID_ARGUMENT naming the
 * problem (the outputs then hold the skipped-edge results). Without it the
 * calls stay asynchronous and graph-capturable.
 *
 * Workspace (oeq_conv_workspace_size, exact): 256 bytes of header, then in
 * deterministic mode one partial row per segment (max of z and x row widths,
 * in the compute type), then with shared weights one dw partial per
 * segment. Segments number at most OEQ_CONV_MAX_SEGMENTS (4096) and come
 * from the edge count alone. NULL workspace: allocated and freed
 * stream-ordered when the call needs one. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend/conv_workspace.h"
#include "backend/gpu.h"
#include "codegen/conv_codegen.h"
#include "codegen/tuning.h"
#include "problem.h"

#define HEADER_BYTES 256
/* Below this many segments the forward splits them by output block. */
#define SPLIT_BELOW_SEGMENTS 2048

/* ------------------------------------------------------------ plan time */

static int env_check(void) {
  const char *v = getenv("OEQ_CONV_CHECK");
  return v && *v && strcmp(v, "0") != 0;
}

oeq_status_t oeq_gpu_conv_generate(const oeq_plan_t *plan, oeq_gpu_plan_t *gp, char **text,
                                   oeq_kernel_table_t *table, int *warp_size, oeq_error_t *err) {
  oeq_codegen_target_t target = {.dialect = gp->dev.dialect,
                                 .warps_per_block = 4,
                                 .max_shared_per_block = gp->dev.max_shared,
                                 .sm = gp->dev.sm};
  oeq_conv_options_t opt = {.deterministic = (plan->flags & OEQ_CONV_DETERMINISTIC) != 0,
                            .kahan = (plan->flags & OEQ_CONV_KAHAN) != 0,
                            .index64 = (plan->flags & OEQ_INDEX_INT64) != 0,
                            .backward_split = CONV_BWD_BLOCK_SPLIT};
  oeq_conv_source_t src = {0};
  oeq_status_t st = oeq_codegen_conv(plan->schedule, &target, &opt, &src, err);
  if (st != OEQ_SUCCESS) return st;
  const oeq_kernel_desc_t *k = src.kernels.kernel;
  if (!k[OEQ_CONV_K_FORWARD].name || !k[OEQ_CONV_K_BACKWARD].name || !k[OEQ_CONV_K_CHECK].name) {
    free(src.text);
    return oeq_fail(err, OEQ_ERROR_INTERNAL, "conv source lacks its main kernels");
  }
  gp->compute_size = src.compute_size;
  gp->forward_items = src.forward_items;
  gp->fixup_items[0] = src.fixup_items[0];
  gp->fixup_items[1] = src.fixup_items[1];
  gp->backward_items = src.backward_items;
  gp->check = env_check();
  *text = src.text;
  *table = src.kernels;
  *warp_size = src.warp_size;
  return OEQ_SUCCESS;
}

/* ------------------------------------------------------------ workspace */

static size_t compute_size(const oeq_schedule_t *s) {
  return s->irrep_dtype == OEQ_FLOAT64 || s->weight_dtype == OEQ_FLOAT64 ? 8 : 4;
}

static oeq_status_t workspace_layout(const oeq_plan_t *plan, int64_t edges, oeq_conv_ws_layout_t *l,
                                     oeq_error_t *err) {
  const oeq_schedule_t *s = plan->schedule;
  const int64_t width = s->z_dim > s->x_dim ? s->z_dim : s->x_dim;
  return oeq_conv_ws_layout(HEADER_BYTES, edges > 0 ? oeq_conv_segments(edges) : 0, width,
                            s->weight_numel, (plan->flags & OEQ_CONV_DETERMINISTIC) != 0,
                            s->shared_weights, compute_size(s), l, err);
}

oeq_status_t oeq_gpu_conv_workspace_size(const oeq_plan_t *plan, int64_t x_rows, int64_t z_rows,
                                         int64_t edges, size_t *bytes, oeq_error_t *err) {
  (void)x_rows, (void)z_rows;
  oeq_conv_ws_layout_t l;
  oeq_status_t st = workspace_layout(plan, edges, &l, err);
  if (st == OEQ_SUCCESS) *bytes = l.total;
  return st;
}

/* ------------------------------------------------------------ call time */

typedef struct {
  const oeq_gpu_plan_t *gp;
  void *stream;
  char *ws;  /* the workspace in use (device address) */
  int owned; /* allocated here: freed stream-ordered at the end */
  oeq_conv_ws_layout_t l;
} call_t;

static oeq_status_t memset0(const call_t *c, void *p, size_t bytes, oeq_error_t *err) {
  return bytes ? c->gp->drv->memset_async(p, bytes, c->stream, err) : OEQ_SUCCESS;
}

static oeq_status_t launch(const call_t *c, int role, int64_t warps, void **args, oeq_error_t *err) {
  return oeq_gpu_launch(c->gp, role, warps, c->stream, args, err);
}

/* The caller's workspace, or one allocated on the stream when needed;
 * under OEQ_CONV_CHECK, the index validation first. */
static oeq_status_t begin(const oeq_plan_t *plan, const oeq_conv_args_t *a, call_t *c,
                          oeq_error_t *err) {
  const oeq_gpu_plan_t *gp = plan->impl;
  *c = (call_t){.gp = gp, .stream = a->stream};
  oeq_status_t st = workspace_layout(plan, a->edges, &c->l, err);
  if (st != OEQ_SUCCESS) return st;
  const int needed = c->l.slots_bytes > 0 || c->l.dw_bytes > 0 || gp->check;
  if (a->workspace) {
    if (a->workspace_bytes < c->l.total)
      return oeq_fail(err, OEQ_ERROR_INVALID_ARGUMENT,
                      "workspace_bytes = %zu is smaller than oeq_conv_workspace_size's %zu",
                      a->workspace_bytes, c->l.total);
    c->ws = a->workspace;
  } else if (needed) {
    void *ws = NULL;
    st = gp->drv->alloc_async(&ws, c->l.total, c->stream, err);
    if (st != OEQ_SUCCESS) return st;
    c->ws = ws;
    c->owned = 1;
  }
  if (!gp->check || a->edges == 0) return OEQ_SUCCESS;
  st = memset0(c, c->ws, sizeof(unsigned), err);
  if (st != OEQ_SUCCESS) return st;
  const void *perm = (plan->flags & OEQ_CONV_DETERMINISTIC) ? a->sender_perm : NULL;
  void *word = c->ws;
  long long xr = a->x_rows, zr = a->z_rows, e = a->edges;
  void *args[] = {(void *)&a->rows, (void *)&a->cols, (void *)&perm, &word, &xr, &zr, &e};
  return launch(c, OEQ_CONV_K_CHECK, (e + 1023) / 1024, args, err);
}

/* Frees an owned workspace; under OEQ_CONV_CHECK waits and reports. */
static oeq_status_t end(call_t *c, oeq_status_t st, int64_t edges, oeq_error_t *err) {
  const oeq_gpu_driver_t *drv = c->gp->drv;
  unsigned word = 0;
  if (st == OEQ_SUCCESS && c->gp->check && edges > 0)
    st = drv->read_after(&word, c->ws, sizeof word, c->stream, err);
  if (c->owned) {
    oeq_error_t ignored;
    oeq_status_t fst = drv->free_async(c->ws, c->stream, st == OEQ_SUCCESS ? err : &ignored);
    if (st == OEQ_SUCCESS) st = fst;
  }
  if (st == OEQ_SUCCESS && word)
    st = oeq_fail(err, OEQ_ERROR_INVALID_ARGUMENT,
                  "conv index check failed:%s%s%s%s (those edges were skipped)",
                  word & OEQ_CONV_BAD_ROW ? " a row index outside [0, z_rows)" : "",
                  word & OEQ_CONV_BAD_COL ? " a col index outside [0, x_rows)" : "",
                  word & OEQ_CONV_UNSORTED_ROWS ? " rows not sorted (deterministic mode)" : "",
                  word & OEQ_CONV_BAD_PERM ? " sender_perm out of range or not sorting cols" : "");
  return st;
}

oeq_status_t oeq_gpu_conv_forward(const oeq_plan_t *plan, const oeq_conv_args_t *a,
                                  oeq_error_t *err) {
  const oeq_schedule_t *s = plan->schedule;
  const oeq_gpu_plan_t *gp = plan->impl;
  call_t c;
  oeq_status_t st = begin(plan, a, &c, err);
  if (st != OEQ_SUCCESS) return end(&c, st, 0, err);
  /* Rows with no edge (and blocks no path reaches) are zeros; atomic adds
   * need a zero start. */
  st = memset0(&c, a->z, (size_t)(a->z_rows * s->z_dim) * oeq_dtype_size(s->irrep_dtype), err);
  if (st == OEQ_SUCCESS && a->edges > 0) {
    long long xr = a->x_rows, zr = a->z_rows, e = a->edges;
    const int det = (plan->flags & OEQ_CONV_DETERMINISTIC) != 0;
    long long len = oeq_conv_forward_segment_len(a->edges, det), n = oeq_conv_forward_segments(a->edges, det);
    void *slots = c.ws ? c.ws + c.l.slots_off : NULL;
    /* Few segments (small graphs): one warp per (segment, output block)
     * to fill the GPU; else one per segment, reusing its edges in L1. */
    int split = n < SPLIT_BELOW_SEGMENTS;
    void *args[] = {(void *)&a->x, (void *)&a->y, (void *)&a->w, (void *)&a->rows, (void *)&a->cols,
                    (void *)&a->z, &slots,        &xr,           &zr,              &e,
                    &len,          &n,            &split};
    st = launch(&c, OEQ_CONV_K_FORWARD, split ? n * gp->forward_items : n, args, err);
    if (st == OEQ_SUCCESS && det && n > 1) {
      const void *none = NULL;
      void *fargs[] = {(void *)&a->rows, (void *)&none, (void *)&a->z, &slots, &zr, &e, &len, &n};
      st = launch(&c, OEQ_CONV_K_FORWARD_FIXUP, n * gp->fixup_items[0], fargs, err);
    }
  }
  return end(&c, st, a->edges, err);
}

oeq_status_t oeq_gpu_conv_backward(const oeq_plan_t *plan, const oeq_conv_args_t *a,
                                   oeq_error_t *err) {
  const oeq_schedule_t *s = plan->schedule;
  const int det = (plan->flags & OEQ_CONV_DETERMINISTIC) != 0;
  call_t c;
  oeq_status_t st = begin(plan, a, &c, err);
  if (st != OEQ_SUCCESS) return end(&c, st, 0, err);
  st = memset0(&c, a->dx, (size_t)(a->x_rows * s->x_dim) * oeq_dtype_size(s->irrep_dtype), err);
  long long xr = a->x_rows, zr = a->z_rows, e = a->edges;
  long long len = oeq_conv_segment_len(a->edges),
            n = oeq_conv_backward_segments(a->edges, det, s->shared_weights);
  void *slots = c.ws ? c.ws + c.l.slots_off : NULL, *dw_slots = c.ws ? c.ws + c.l.dw_off : NULL;
  const void *perm = det ? a->sender_perm : NULL;
  if (st == OEQ_SUCCESS && a->edges > 0) {
    void *args[] = {(void *)&a->x,    (void *)&a->y,  (void *)&a->w,  (void *)&a->dz, (void *)&a->rows,
                    (void *)&a->cols, (void *)&perm,  (void *)&a->dx, (void *)&a->dy, (void *)&a->dw,
                    &slots,           &dw_slots,      &xr,            &zr,            &e,
                    &len,             &n};
    st = launch(&c, OEQ_CONV_K_BACKWARD, n * c.gp->backward_items, args, err);
    if (st == OEQ_SUCCESS && det && n > 1) {
      void *fargs[] = {(void *)&a->cols, (void *)&perm, (void *)&a->dx, &slots, &xr, &e, &len, &n};
      st = launch(&c, OEQ_CONV_K_BACKWARD_FIXUP, n * c.gp->fixup_items[1], fargs, err);
    }
  }
  if (st == OEQ_SUCCESS && s->shared_weights && s->weight_numel > 0) {
    /* Also with no edges: dw is then the empty sum, written as zeros. */
    void *rargs[] = {&dw_slots, (void *)&a->dw, &n};
    st = launch(&c, OEQ_CONV_K_DW_REDUCE, (s->weight_numel + 31) / 32, rargs, err);
  }
  return end(&c, st, a->edges, err);
}
