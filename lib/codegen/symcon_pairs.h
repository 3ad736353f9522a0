/* symcon_pairs.h: the symmetric contraction regrouped for the GPU's
 * "pair" kernels (symcon_codegen_pairs.c).
 *
 * The sum over basis elements k can be taken before the rows meet x: for a
 * species s and channel c,
 *   A[s][c][p] = sum_{k} U_{o,nu}[m][idx][k] W_{o,nu}[s][k][c]
 * for every distinct pair p = (output irrep o, component m, sorted index
 * tuple idx), and then per row
 *   z[o][c][m] = sum_{p of (o, m)} A[s][c][p] x[idx_1] ... x[idx_nu].
 * MACE-large (0e+1o+2e+3o -> 0e+1o+2e, correlation 3) has 5911 U nonzeros a
 * channel but only 887 pairs, and A depends on (s, c) only, so a block
 * computes it once for its channel and every row reuses it.
 *
 * Pairs are sorted by (degree, idx, o, m): the monomials of a degree come in
 * lexicographic order, so consecutive pairs share their prefix product. Each
 * U nonzero is a term: A[pair] += value * W[elem], elem indexing the basis
 * elements in flat weight order (per output irrep, nu descending, k). */
#ifndef OEQ_SYMCON_PAIRS_H
#define OEQ_SYMCON_PAIRS_H

#include <stdint.h>

#include "status.h"
#include "symcon.h"

typedef struct oeq_symcon_pair {
  int32_t o, m, deg;
  int32_t idx[OEQ_SYMCON_MAX_CORRELATION]; /* sorted; the first deg are used */
} oeq_symcon_pair_t;

typedef struct oeq_symcon_term {
  int32_t pair, elem;
  double value;
} oeq_symcon_term_t;

typedef struct oeq_symcon_pairs {
  int64_t n_pairs, n_elems, n_terms;
  oeq_symcon_pair_t *pair;
  /* the terms twice: sorted by pair (A from W) and by elem (dW from dA),
   * each with its CSR starts (n_pairs + 1, n_elems + 1 entries) */
  oeq_symcon_term_t *by_pair, *by_elem;
  int64_t *pair_start, *elem_start;
  /* W_elem[s][c] = w[elem_base[e] + s * elem_stride[e] + c] */
  int64_t *elem_base, *elem_stride;
} oeq_symcon_pairs_t;

/* Shared bytes of the pair kernels for tables of sg species (ct_size: the
 * compute type's size): the forward and dx ([pairs + elems][sg]), and dw
 * ([pairs][sg] plus a tile's sort). */
size_t oeq_symcon_pairs_coeff_bytes(const oeq_symcon_pairs_t *pp, size_t ct_size, int64_t sg);
size_t oeq_symcon_pairs_dw_bytes(const oeq_symcon_pairs_t *pp, size_t ct_size, int64_t sg);
/* The most species whose tables fit max_shared (all of them if they fit;
 * 0 if not even one does). More species than that are split into groups,
 * a block per (channel, group), each skipping the other groups' rows. */
int64_t oeq_symcon_pairs_group(const oeq_symcon_t *sc, const oeq_symcon_pairs_t *pp, size_t ct_size,
                               size_t max_shared);

/* Emit the pair kernels for species groups of sg (after the prelude: part
 * 1 the forward, part 2 dx and dw) into ctx->sb, and their launches into
 * kt. */
struct emit_ctx;
struct oeq_kernel_table;
void oeq_symcon_emit_pairs(const oeq_symcon_t *sc, const oeq_symcon_pairs_t *pp, struct emit_ctx *ctx,
                           size_t ct_size, int sm, int64_t sg, struct oeq_kernel_table *kt);

/* oeq_fence(v) / oeq_fence(p): an empty asm that may change a register or
 * a pointer, so the compiler cannot hoist work on it out of a loop (both
 * layouts' kernels use it). */
void oeq_symcon_emit_fences(const struct emit_ctx *ctx);

oeq_status_t oeq_symcon_pairs_build(const oeq_symcon_t *sc, oeq_symcon_pairs_t *out,
                                    oeq_error_t *err);
void oeq_symcon_pairs_free(oeq_symcon_pairs_t *pp);

#endif
