/* cpu_conv.h: the fused graph convolution on the host. */
#ifndef OEQ_CPU_CONV_H
#define OEQ_CPU_CONV_H

#include "backend.h"

oeq_status_t oeq_cpu_conv_workspace_size(const oeq_plan_t *plan, int64_t x_rows, int64_t z_rows,
                                         int64_t edges, size_t *bytes, oeq_error_t *err);
oeq_status_t oeq_cpu_conv_forward(const oeq_plan_t *plan, const oeq_conv_args_t *a, oeq_error_t *err);
oeq_status_t oeq_cpu_conv_backward(const oeq_plan_t *plan, const oeq_conv_args_t *a,
                                   oeq_error_t *err);
/* For the double backward (cpu_double.c): the index checks every call makes
 * (ranges; deterministic mode: sorted rows, sender_perm sorting cols), and
 * the stable bucketing of the edges by keys (rows or cols) in the workspace
 * (oeq_cpu_conv_workspace_size bytes): bucket i's edges are
 * (*edge)[(*start)[i] .. (*start)[i + 1]), in edge order. */
oeq_status_t oeq_cpu_conv_check_indices(const oeq_plan_t *plan, const oeq_conv_args_t *a,
                                        oeq_error_t *err);
void oeq_cpu_conv_bucket(const void *keys, int wide, int64_t n_buckets, int64_t edges, void *ws,
                         int64_t **start, int64_t **edge);

#endif
