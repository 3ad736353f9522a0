/* cpu_kernels.h: one row of the tensor product on the host, from the
 * schedule, in double precision on canonical rows (mul_ir layout).
 * The CPU backend converts dtypes and layouts around these. */
#ifndef OEQ_CPU_KERNELS_H
#define OEQ_CPU_KERNELS_H

#include "schedule.h"

/* z = TP(x, y, w) for one row: z (z_dim) is overwritten. w may be NULL when
 * the schedule has no weights. */
void oeq_cpu_row_forward(const oeq_schedule_t *s, const double *x, const double *y, const double *w,
                         double *z);

/* Accumulates the gradients of <dz, TP(x, y, w)> into dx, dy and dw
 * (dw may be NULL when the schedule has no weights). */
void oeq_cpu_row_backward(const oeq_schedule_t *s, const double *x, const double *y,
                          const double *w, const double *dz, double *dx, double *dy, double *dw);

/* Row conversions between the user's dtype/layout and canonical doubles. */
void oeq_cpu_load_row(const void *src, oeq_dtype_t dtype, oeq_layout_t layout,
                      const oeq_block_t *blocks, int n_blocks, int64_t dim, double *dst);
void oeq_cpu_store_row(const double *src, oeq_dtype_t dtype, oeq_layout_t layout,
                       const oeq_block_t *blocks, int n_blocks, int64_t dim, void *dst);
void oeq_cpu_load_flat(const void *src, oeq_dtype_t dtype, int64_t n, double *dst);
void oeq_cpu_store_flat(const double *src, oeq_dtype_t dtype, int64_t n, void *dst);

#endif
