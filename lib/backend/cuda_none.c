/* cuda_none.c: placeholder until the CUDA backend lands (replaced by cuda.c). */
#include "backend.h"

const oeq_backend_ops_t *oeq_backend_cuda(void) { return NULL; }
