/* cpu_symcon.h: the symmetric contraction on the host (the reference the
 * GPU kernels are checked against). */
#ifndef OEQ_CPU_SYMCON_H
#define OEQ_CPU_SYMCON_H

#include "backend.h"

oeq_status_t oeq_cpu_symcon_forward(const oeq_plan_t *plan, int64_t batch, const void *x,
                                    const int32_t *species, const void *w, void *z, void *stream,
                                    oeq_error_t *err);
oeq_status_t oeq_cpu_symcon_backward(const oeq_plan_t *plan, int64_t batch, const void *x,
                                     const int32_t *species, const void *w, const void *dz,
                                     void *dx, void *dw, void *stream, oeq_error_t *err);

#endif
