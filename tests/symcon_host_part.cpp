/* symcon_host_part.cpp: one OEQ_PART of a generated symmetric-contraction
 * source (OEQ_GENERATED_SOURCE) compiled for the host (tests/simt_host.h);
 * see tests/symcon_host.cpp. */
#include "simt_host.h"

#define oeq_symcon_forward host_forward
#define oeq_symcon_backward_dx host_dx
#define oeq_symcon_backward_dw host_dw
#if OEQ_PART == 1
#define oeq_symcon_coefficients host_coefficients_1
#else
#define oeq_symcon_coefficients host_coefficients_2
#endif
#include OEQ_GENERATED_SOURCE
