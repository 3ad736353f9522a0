/* add_kernel.h: the elementwise sum kernels of the TP and conv sources
 * (internal to lib/codegen; the roles are OEQ_TP_K_ADD_I / _W and
 * OEQ_CONV_K_ADD_I / _W). Signatures:
 *   oeq_add_i(oeq_it *out, const oeq_it *a, const oeq_it *b, const oeq_it *c,
 *             const oeq_it *d, long long n)
 *   oeq_add_w(the same over oeq_wt)
 * out[i] = a[i] + b[i] + c[i] - d[i] for i < n, in the compute type in that
 * order; a NULL term is zero (all NULL: out is zeroed). A block takes
 * OEQ_ADD_THREADS elements at a time, grid-stride. */
#ifndef OEQ_ADD_KERNEL_H
#define OEQ_ADD_KERNEL_H

#include "codegen/emit_util.h"
#include "codegen/kernel_table.h"

#define OEQ_ADD_I_KERNEL "oeq_add_i"
#define OEQ_ADD_W_KERNEL "oeq_add_w"
#define OEQ_ADD_THREADS 256

/* Both kernels, inside OEQ_PART section `part` (0: no section). */
void emit_add_kernels(const emit_ctx_t *c, int part);
oeq_kernel_desc_t oeq_add_kernel_desc(const char *name, int part);

#endif
