/* cpu_conv.c: z[rows[e]] += TP(x[cols[e]], y[e], w[e]) on the host.
 *
 * Edges are bucketed by receiver (forward) or sender (backward) with a
 * stable counting sort, and OpenMP runs over the buckets: each output row
 * has one writer and sums its edges in edge order, so results are
 * deterministic by construction and need no atomics. Every index is checked
 * before anything is written. The workspace holds the buckets. */
#include <stdlib.h>
#include <string.h>

#include "checked.h"
#include "conv_workspace.h"
#include "cpu_conv.h"
#include "cpu_kernels.h"
#include "cpu_threads.h"

typedef struct {
  int64_t *start; /* n_buckets + 1 */
  int64_t *edge;  /* edges, grouped by bucket, in edge order within one */
} buckets_t;

static int64_t index_at(const void *idx, int wide, int64_t e) {
  return wide ? ((const int64_t *)idx)[e] : (int64_t)((const int32_t *)idx)[e];
}

oeq_status_t oeq_cpu_conv_workspace_size(const oeq_plan_t *plan, int64_t x_rows, int64_t z_rows,
                                         int64_t edges, size_t *bytes, oeq_error_t *err) {
  (void)plan;
  int64_t n = x_rows > z_rows ? x_rows : z_rows;
  return oeq_conv_bucket_bytes(n, edges, bytes, err);
}

/* All indices in range; in deterministic mode rows sorted and sender_perm a
 * permutation that sorts cols (the contract the GPU kernels rely on). */
static oeq_status_t check_indices(const oeq_plan_t *plan, const oeq_conv_args_t *a, oeq_error_t *err) {
  int wide = (plan->flags & OEQ_INDEX_INT64) != 0;
  for (int64_t e = 0; e < a->edges; e++) {
    int64_t r = index_at(a->rows, wide, e), c = index_at(a->cols, wide, e);
    if (r < 0 || r >= a->z_rows)
      return oeq_fail(err, OEQ_ERROR_INVALID_ARGUMENT, "rows[%lld] = %lld is outside [0, z_rows = %lld)",
                      (long long)e, (long long)r, (long long)a->z_rows);
    if (c < 0 || c >= a->x_rows)
      return oeq_fail(err, OEQ_ERROR_INVALID_ARGUMENT, "cols[%lld] = %lld is outside [0, x_rows = %lld)",
                      (long long)e, (long long)c, (long long)a->x_rows);
  }
  if (!(plan->flags & OEQ_CONV_DETERMINISTIC)) return OEQ_SUCCESS;
  for (int64_t e = 1; e < a->edges; e++)
    if (index_at(a->rows, wide, e) < index_at(a->rows, wide, e - 1))
      return oeq_fail(err, OEQ_ERROR_INVALID_ARGUMENT,
                      "deterministic convolution needs rows sorted, but rows[%lld] = %lld < rows[%lld] = %lld",
                      (long long)e, (long long)index_at(a->rows, wide, e), (long long)(e - 1),
                      (long long)index_at(a->rows, wide, e - 1));
  unsigned char *seen = calloc((size_t)(a->edges > 0 ? a->edges : 1), 1);
  if (!seen) return oeq_fail(err, OEQ_ERROR_OUT_OF_MEMORY, "out of memory checking sender_perm");
  oeq_status_t s = OEQ_SUCCESS;
  for (int64_t i = 0; i < a->edges && s == OEQ_SUCCESS; i++) {
    int64_t p = index_at(a->sender_perm, wide, i);
    if (p < 0 || p >= a->edges || seen[p])
      s = oeq_fail(err, OEQ_ERROR_INVALID_ARGUMENT, "sender_perm[%lld] = %lld: not a permutation of the edges",
                   (long long)i, (long long)p);
    else if (i > 0 && index_at(a->cols, wide, p) < index_at(a->cols, wide, index_at(a->sender_perm, wide, i - 1)))
      s = oeq_fail(err, OEQ_ERROR_INVALID_ARGUMENT,
                   "sender_perm does not sort the edges by cols (at position %lld)", (long long)i);
    else
      seen[p] = 1;
  }
  free(seen);
  return s;
}

/* Stable counting sort of the edges by key into b (memory from ws). */
static void bucket_edges(const void *keys, int wide, int64_t n_buckets, int64_t edges, void *ws,
                         buckets_t *b) {
  b->start = ws;
  b->edge = b->start + n_buckets + 1;
  memset(b->start, 0, (size_t)(n_buckets + 1) * sizeof(int64_t));
  for (int64_t e = 0; e < edges; e++) b->start[index_at(keys, wide, e) + 1]++;
  for (int64_t i = 0; i < n_buckets; i++) b->start[i + 1] += b->start[i];
  for (int64_t e = 0; e < edges; e++) {
    int64_t k = index_at(keys, wide, e);
    /* start[k] is advanced as edges land, then restored below. */
    b->edge[b->start[k]++] = e;
  }
  for (int64_t i = n_buckets; i > 0; i--) b->start[i] = b->start[i - 1];
  b->start[0] = 0;
}

typedef struct {
  double *x, *y, *w, *z, *acc, *dx, *dy, *dw;
} conv_rows_t;

/* Row widths are bounded by the irreps caps; weight_numel is only bounded
 * by int64_t, so the sum is checked (-1 when it overflows). */
static int64_t per_thread_doubles(const oeq_schedule_t *s) {
  int64_t w2, n;
  if (oeq_mul_i64(s->weight_numel, 2, &w2) ||
      oeq_add_i64(3 * s->x_dim + 2 * s->y_dim + 2 * s->z_dim + 1, w2, &n))
    return -1;
  return n;
}

static conv_rows_t thread_rows(const oeq_schedule_t *s, double *block, int t) {
  double *p = block + (int64_t)t * per_thread_doubles(s);
  conv_rows_t r;
  r.x = p, p += s->x_dim;
  r.y = p, p += s->y_dim;
  r.w = p, p += s->weight_numel;
  r.z = p, p += s->z_dim;
  r.acc = p, p += s->z_dim + s->x_dim; /* forward: z sum; backward: dx sum */
  r.dx = p, p += s->x_dim;
  r.dy = p, p += s->y_dim;
  r.dw = p;
  return r;
}

static void load_edge(const oeq_schedule_t *s, const oeq_conv_args_t *a, int64_t sender, int64_t e,
                      conv_rows_t *r) {
  oeq_cpu_load_row(oeq_cpu_row(a->x, sender, s->x_dim, s->irrep_dtype), s->irrep_dtype, s->layout,
                   s->in1_blocks, s->n_in1_blocks, s->x_dim, r->x);
  oeq_cpu_load_row(oeq_cpu_row(a->y, e, s->y_dim, s->irrep_dtype), s->irrep_dtype, s->layout, s->in2_blocks,
                   s->n_in2_blocks, s->y_dim, r->y);
  if (s->weight_numel > 0)
    oeq_cpu_load_flat(oeq_cpu_row(a->w, s->shared_weights ? 0 : e, s->weight_numel, s->weight_dtype),
                      s->weight_dtype, s->weight_numel, r->w);
}

/* Validates, then gets the workspace (the caller's or our own). */
static oeq_status_t prepare(const oeq_plan_t *plan, const oeq_conv_args_t *a, int64_t n_buckets,
                            void **ws, void **owned, double **rows_block, oeq_error_t *err) {
  oeq_status_t s = check_indices(plan, a, err);
  if (s != OEQ_SUCCESS) return s;
  size_t need, want, scratch;
  s = oeq_conv_bucket_bytes(n_buckets, a->edges, &need, err);
  if (s == OEQ_SUCCESS) s = oeq_cpu_conv_workspace_size(plan, a->x_rows, a->z_rows, a->edges, &want, err);
  if (s != OEQ_SUCCESS) return s;
  int64_t per_thread = per_thread_doubles(plan->schedule), doubles;
  if (per_thread < 0 || oeq_mul_i64(per_thread, oeq_cpu_max_threads(), &doubles) ||
      oeq_bytes(doubles, sizeof(double), &scratch))
    return oeq_fail(err, OEQ_ERROR_INVALID_ARGUMENT,
                    "the CPU scratch rows (weight_numel = %lld) overflow a size",
                    (long long)plan->schedule->weight_numel);
  *owned = NULL;
  if (a->workspace) {
    size_t have = a->workspace_bytes;
    if (have < want)
      return oeq_fail(err, OEQ_ERROR_INVALID_ARGUMENT,
                      "workspace_bytes = %zu is smaller than oeq_conv_workspace_size's %zu", have, want);
    *ws = a->workspace;
  } else {
    *owned = *ws = malloc(need);
    if (!*ws) return oeq_fail(err, OEQ_ERROR_OUT_OF_MEMORY, "out of memory for the convolution workspace");
  }
  *rows_block = malloc(scratch);
  if (!*rows_block) {
    free(*owned);
    return oeq_fail(err, OEQ_ERROR_OUT_OF_MEMORY, "out of memory for CPU scratch rows");
  }
  return OEQ_SUCCESS;
}

oeq_status_t oeq_cpu_conv_forward(const oeq_plan_t *plan, const oeq_conv_args_t *a, oeq_error_t *err) {
  const oeq_schedule_t *s = plan->schedule;
  int wide = (plan->flags & OEQ_INDEX_INT64) != 0;
  void *ws, *owned;
  double *block;
  oeq_status_t st = prepare(plan, a, a->z_rows, &ws, &owned, &block, err);
  if (st != OEQ_SUCCESS) return st;
  buckets_t by_receiver;
  bucket_edges(a->rows, wide, a->z_rows, a->edges, ws, &by_receiver);
#pragma omp parallel
  {
    conv_rows_t r = thread_rows(s, block, oeq_cpu_thread_id());
#pragma omp for schedule(dynamic, 16)
    for (int64_t row = 0; row < a->z_rows; row++) {
      memset(r.acc, 0, (size_t)s->z_dim * sizeof(double));
      for (int64_t k = by_receiver.start[row]; k < by_receiver.start[row + 1]; k++) {
        int64_t e = by_receiver.edge[k];
        load_edge(s, a, index_at(a->cols, wide, e), e, &r);
        oeq_cpu_row_forward(s, r.x, r.y, r.w, r.z);
        for (int64_t i = 0; i < s->z_dim; i++) r.acc[i] += r.z[i];
      }
      oeq_cpu_store_row(r.acc, s->irrep_dtype, s->layout, s->out_blocks, s->n_out_blocks, s->z_dim,
                        oeq_cpu_row_mut(a->z, row, s->z_dim, s->irrep_dtype));
    }
  }
  free(block);
  free(owned);
  return OEQ_SUCCESS;
}

oeq_status_t oeq_cpu_conv_backward(const oeq_plan_t *plan, const oeq_conv_args_t *a,
                                   oeq_error_t *err) {
  const oeq_schedule_t *s = plan->schedule;
  int wide = (plan->flags & OEQ_INDEX_INT64) != 0;
  int shared = s->shared_weights;
  void *ws, *owned;
  double *block;
  oeq_status_t st = prepare(plan, a, a->x_rows, &ws, &owned, &block, err);
  if (st != OEQ_SUCCESS) return st;
  buckets_t by_sender;
  bucket_edges(a->cols, wide, a->x_rows, a->edges, ws, &by_sender);
  int threads = oeq_cpu_max_threads();
  for (int t = 0; t < threads; t++)
    memset(thread_rows(s, block, t).dw, 0, (size_t)s->weight_numel * sizeof(double));
#pragma omp parallel
  {
    conv_rows_t r = thread_rows(s, block, oeq_cpu_thread_id());
    /* Static chunks: which thread sums which senders into its shared-dw
     * partial must not depend on timing, or dw changes from run to run. */
#pragma omp for schedule(static, 16)
    for (int64_t sender = 0; sender < a->x_rows; sender++) {
      memset(r.acc, 0, (size_t)s->x_dim * sizeof(double));
      for (int64_t k = by_sender.start[sender]; k < by_sender.start[sender + 1]; k++) {
        int64_t e = by_sender.edge[k];
        load_edge(s, a, sender, e, &r);
        oeq_cpu_load_row(oeq_cpu_row(a->dz, index_at(a->rows, wide, e), s->z_dim, s->irrep_dtype),
                         s->irrep_dtype, s->layout, s->out_blocks, s->n_out_blocks, s->z_dim, r.z);
        memset(r.dy, 0, (size_t)s->y_dim * sizeof(double));
        if (!shared) memset(r.dw, 0, (size_t)s->weight_numel * sizeof(double));
        oeq_cpu_row_backward(s, r.x, r.y, r.w, r.z, r.acc, r.dy, r.dw);
        oeq_cpu_store_row(r.dy, s->irrep_dtype, s->layout, s->in2_blocks, s->n_in2_blocks, s->y_dim,
                          oeq_cpu_row_mut(a->dy, e, s->y_dim, s->irrep_dtype));
        if (!shared && s->weight_numel > 0)
          oeq_cpu_store_flat(r.dw, s->weight_dtype, s->weight_numel,
                             oeq_cpu_row_mut(a->dw, e, s->weight_numel, s->weight_dtype));
      }
      oeq_cpu_store_row(r.acc, s->irrep_dtype, s->layout, s->in1_blocks, s->n_in1_blocks, s->x_dim,
                        oeq_cpu_row_mut(a->dx, sender, s->x_dim, s->irrep_dtype));
    }
  }
  if (shared && s->weight_numel > 0) {
    double *total = thread_rows(s, block, 0).dw;
    for (int t = 1; t < threads; t++) {
      const double *part = thread_rows(s, block, t).dw;
      for (int64_t i = 0; i < s->weight_numel; i++) total[i] += part[i];
    }
    oeq_cpu_store_flat(total, s->weight_dtype, s->weight_numel, a->dw);
  }
  free(block);
  free(owned);
  return OEQ_SUCCESS;
}

oeq_status_t oeq_cpu_conv_check_indices(const oeq_plan_t *plan, const oeq_conv_args_t *a,
                                        oeq_error_t *err) {
  return check_indices(plan, a, err);
}

void oeq_cpu_conv_bucket(const void *keys, int wide, int64_t n_buckets, int64_t edges, void *ws,
                         int64_t **start, int64_t **edge) {
  buckets_t b;
  bucket_edges(keys, wide, n_buckets, edges, ws, &b);
  *start = b.start;
  *edge = b.edge;
}
