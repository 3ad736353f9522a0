/* cpu_conv.h: the fused graph convolution on the host. */
#ifndef OEQ_CPU_CONV_H
#define OEQ_CPU_CONV_H

#include "backend.h"

oeq_status_t oeq_cpu_conv_workspace_size(const oeq_plan_t *plan, int64_t x_rows, int64_t z_rows,
                                         int64_t edges, size_t *bytes, oeq_error_t *err);
oeq_status_t oeq_cpu_conv_forward(const oeq_plan_t *plan, const oeq_conv_args_t *a, oeq_error_t *err);
oeq_status_t oeq_cpu_conv_backward(const oeq_plan_t *plan, const oeq_conv_args_t *a,
                                   oeq_error_t *err);

#endif
