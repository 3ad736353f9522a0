/* api_checks.h: the argument checks of api.c's execution calls, for the
 * other api_*.c files (not exported). */
#ifndef OEQ_API_CHECKS_H
#define OEQ_API_CHECKS_H

#include "backend/backend.h"

/* plan non-NULL, of this kind, stream NULL for a CPU plan. */
oeq_status_t oeq_api_check_plan(const oeq_plan_t *plan, oeq_plan_kind_t kind, void *stream,
                                oeq_error_t *err);
/* rows x width elements at ptr: the size fits, ptr non-NULL unless empty,
 * and (GPU) not host memory. */
oeq_status_t oeq_api_need_rows(const oeq_plan_t *plan, const void *ptr, int64_t rows, int64_t width,
                               size_t elem_size, const char *name, oeq_error_t *err);
/* Every array (and workspace) of a convolution of these counts has a size. */
oeq_status_t oeq_api_check_conv_counts(const oeq_plan_t *plan, int64_t x_rows, int64_t z_rows,
                                       int64_t edges, oeq_error_t *err);

#endif
