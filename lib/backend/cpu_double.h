/* cpu_double.h: second derivatives (double backward) on the host. */
#ifndef OEQ_CPU_DOUBLE_H
#define OEQ_CPU_DOUBLE_H

#include "backend.h"

oeq_status_t oeq_cpu_dd_workspace_size(const oeq_plan_t *plan, int64_t x_rows, int64_t z_rows,
                                       int64_t edges, size_t *bytes, oeq_error_t *err);
oeq_status_t oeq_cpu_tp_double_backward(const oeq_plan_t *plan, const oeq_dd_args_t *a,
                                        oeq_error_t *err);
oeq_status_t oeq_cpu_conv_double_backward(const oeq_plan_t *plan, const oeq_dd_args_t *a,
                                          oeq_error_t *err);

#endif
