/* add_kernel.c: the elementwise sum the double backward finishes with.
 *
 * The second derivatives are sums of forward / backward results on
 * swapped arguments (lib/backend/gpu_double.c); these kernels add up to
 * three such arrays and subtract a fourth (a problem's unweighted paths'
 * share, see gpu_double.c) into an output, in a fixed order (a, b, c, then
 * d, in the compute type), so the result is as reproducible as its terms.
 * One instance for the irrep type, one for the weight type. */
#include "codegen/add_kernel.h"

static void emit_add(const emit_ctx_t *c, const char *name, const char *type) {
  oeq_sb_printf(c->sb,
                "/* out = a + b + c - d elementwise; a NULL term is zero. */\n"
                "extern \"C\" __global__ void __launch_bounds__(%d)\n"
                "%s(%s *__restrict__ out, const %s *__restrict__ a, const %s *__restrict__ b,\n"
                "   const %s *__restrict__ c, const %s *__restrict__ d, long long n) {\n"
                "  for (long long i = (long long)blockIdx.x * %d + threadIdx.x; i < n;\n"
                "       i += (long long)gridDim.x * %d) {\n"
                "    oeq_ct s = (oeq_ct)0;\n"
                "    if (a) s += (oeq_ct)a[i];\n"
                "    if (b) s += (oeq_ct)b[i];\n"
                "    if (c) s += (oeq_ct)c[i];\n"
                "    if (d) s -= (oeq_ct)d[i];\n"
                "    out[i] = (%s)s;\n"
                "  }\n"
                "}\n",
                OEQ_ADD_THREADS, name, type, type, type, type, type, OEQ_ADD_THREADS, OEQ_ADD_THREADS,
                type);
}

void emit_add_kernels(const emit_ctx_t *c, int part) {
  if (part > 0) emit_part_begin(c, part);
  emit_add(c, OEQ_ADD_I_KERNEL, "oeq_it");
  emit_add(c, OEQ_ADD_W_KERNEL, "oeq_wt");
  if (part > 0) emit_part_end(c);
}

oeq_kernel_desc_t oeq_add_kernel_desc(const char *name, int part) {
  return (oeq_kernel_desc_t){.name = name,
                             .part = part,
                             .threads = OEQ_ADD_THREADS,
                             .rows_per_block = OEQ_ADD_THREADS,
                             .shared_bytes = 0,
                             .grid_y = 1};
}
