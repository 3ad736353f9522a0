/* hip_none.c: the HIP backend is not built yet (issue 6); plans on it
 * report OEQ_ERROR_BACKEND_UNAVAILABLE. */
#include "backend.h"

const oeq_backend_ops_t *oeq_backend_hip(void) { return NULL; }
