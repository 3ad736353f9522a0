/* symcon_source.c: prints the pair-layout GPU source of a symmetric
 * contraction (lib/codegen/symcon_codegen.h), for tests/test_symcon_host.sh.
 * Usage: symcon_source IN OUT CORRELATION ELEMENTS CHANNELS f32|f64 cuda|hip */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/symcon_codegen.h"
#include "symcon.h"

int main(int argc, char **argv) {
  if (argc != 8) {
    fprintf(stderr, "usage: %s IN OUT CORRELATION ELEMENTS CHANNELS f32|f64 cuda|hip\n", argv[0]);
    return 2;
  }
  oeq_symcon_t *sc = NULL;
  oeq_error_t err;
  if (oeq_symcon_build(argv[1], argv[2], atoi(argv[3]), atoll(argv[4]), atoll(argv[5]), &sc, &err)) {
    fprintf(stderr, "%s\n", err.message);
    return 1;
  }
  sc->irrep_dtype = sc->weight_dtype = strcmp(argv[6], "f64") ? OEQ_FLOAT32 : OEQ_FLOAT64;
  const int hip = strcmp(argv[7], "hip") == 0;
  const oeq_codegen_target_t target = {hip ? OEQ_DIALECT_HIP : OEQ_DIALECT_CUDA, 4,
                                       hip ? 64 * 1024 : 227 * 1024, hip ? 0 : 90};
  oeq_symcon_source_t src;
  if (oeq_codegen_symcon_layout(sc, &target, OEQ_SYMCON_LAYOUT_PAIRS, &src, &err)) {
    fprintf(stderr, "%s\n", err.message);
    oeq_symcon_free(sc);
    return 1;
  }
  fputs(src.text, stdout);
  free(src.text);
  oeq_symcon_free(sc);
  return 0;
}
