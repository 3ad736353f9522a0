/* symcon.h: MACE's symmetric contraction as a problem: the generalized CG
 * tensors U (MACE's legacy U_matrix_real basis), kept sparse, and the flat
 * weight layout. Pure host code; built once per problem, immutable after.
 *
 * Semantics, per row b (species s = species[b]), channel c and output irrep
 * o (dimension d_o, m < d_o):
 *   z[b][o][c][m] = sum_{nu=1..correlation} sum_k W_{o,nu}[s][k][c]
 *                   sum_{i_1..i_nu} U_{o,nu}[m][i_1..i_nu][k] x[b][c][i_1]..x[b][c][i_nu]
 * which is MACE's Contraction (it contracts the same x into every index, so
 * the order of contraction does not change the value). Because every index
 * meets the same x, entries whose index tuples are permutations of each
 * other are merged: each entry keeps its indices sorted ascending. */
#ifndef OEQ_SYMCON_H
#define OEQ_SYMCON_H

#include <stddef.h>
#include <stdint.h>

#include "irreps.h"
#include "status.h"

#define OEQ_SYMCON_MAX_CORRELATION 4
/* Cap on the nonzeros held while the basis is built (all levels): 4M
 * entries, 128 MB. Correlation 4 with large inputs exceeds it. */
#define OEQ_SYMCON_MAX_ENTRIES (1 << 22)

typedef struct oeq_symcon_entry {
  int32_t m, k;                           /* output component, basis element */
  int32_t idx[OEQ_SYMCON_MAX_CORRELATION]; /* sorted; the first nu are used */
  double value;                           /* summed over the merged permutations */
} oeq_symcon_entry_t;

/* One (output irrep, nu) block: U_{o,nu} and its weights [E][K][C]. */
typedef struct oeq_symcon_block {
  int nu;
  int64_t K;        /* basis elements (MACE's last U dimension) */
  int64_t w_offset; /* offset of W_{o,nu} in the flat weights */
  int64_t n;        /* nonzeros */
  oeq_symcon_entry_t *e;
} oeq_symcon_block_t;

typedef struct oeq_symcon_out {
  int l, parity, d;
  int64_t z_offset; /* offset of this irrep's [C][d] block in a z row */
  /* blocks[nu - 1], nu = 1..correlation */
  oeq_symcon_block_t blocks[OEQ_SYMCON_MAX_CORRELATION];
} oeq_symcon_out_t;

typedef struct oeq_symcon {
  oeq_irreps_t in, out; /* per channel: multiplicity 1 each */
  int correlation;
  int64_t num_elements, channels;
  int64_t in_dim;       /* D = dim(in) */
  int64_t x_dim, z_dim; /* row widths: C * D, C * dim(out) */
  int64_t weight_numel;
  /* Set on the plan's copy from the problem's dtypes (float32 default). */
  oeq_dtype_t irrep_dtype, weight_dtype;
  int n_out;
  oeq_symcon_out_t *outs;
} oeq_symcon_t;

/* Build the basis. irreps strings per channel (multiplicity 1 each; in
 * irreps_out a multiplicity equal to `channels` is accepted too, as MACE
 * writes it). Fails with INVALID_ARGUMENT / PARSE / INVALID_PROBLEM on bad
 * input, UNSUPPORTED when the U tensors exceed OEQ_SYMCON_MAX_ENTRIES. */
oeq_status_t oeq_symcon_build(const char *irreps_in, const char *irreps_out, int correlation,
                              int64_t num_elements, int64_t channels, oeq_symcon_t **out,
                              oeq_error_t *err);
oeq_status_t oeq_symcon_clone(const oeq_symcon_t *sc, oeq_symcon_t **out, oeq_error_t *err);
void oeq_symcon_free(oeq_symcon_t *sc);

/* A problem of kind OEQ_PROBLEM_SYMCON owning a new basis (arguments as
 * oeq_symcon_build). */
struct oeq_problem;
oeq_status_t oeq_symcon_problem_new(const char *irreps_in, const char *irreps_out, int correlation,
                                    int64_t num_elements, int64_t channels,
                                    struct oeq_problem **out, oeq_error_t *err);

/* JSON description (snprintf semantics). */
size_t oeq_symcon_write_json(const oeq_symcon_t *sc, char *buf, size_t len);

/* The message for a TP-only call on a symmetric-contraction problem. */
oeq_status_t oeq_symcon_reject(const char *function, oeq_error_t *err);

#endif
