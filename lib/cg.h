/* cg.h: real-basis Wigner 3j tensors exactly as e3nn >= 0.5 builds them.
 *
 * C(l1,l2,l3)[a,b,c], a = l1+mu1 etc., is computed in double precision from
 * the exact SU(2) Clebsch-Gordan coefficients (Racah's formula, evaluated
 * with exact integer arithmetic), the complex-to-real change of basis Q_l with
 * the (-i)^l factor, and a final Frobenius normalisation (conventions.md A2).
 * Tensors are cached per (l1,l2,l3) for the life of the process; the cache is
 * thread-safe and returned tensors are immutable. */
#ifndef OEQ_CG_H
#define OEQ_CG_H

#include "status.h"

/* Largest l the exact arithmetic supports without overflow. */
#define OEQ_CG_LMAX 24

typedef struct oeq_cg_nonzero {
  int a, b, c;  /* indices into (2l1+1, 2l2+1, 2l3+1) */
  double value;
} oeq_cg_nonzero_t;

typedef struct oeq_cg {
  int l1, l2, l3;
  int d1, d2, d3;             /* 2l+1 */
  const double *dense;        /* d1*d2*d3 values, C[a][b][c] row-major */
  int nnz;                    /* entries with |value| > 1e-14 (exact zeros in theory) */
  const oeq_cg_nonzero_t *nz; /* sorted by (c, a, b) */
} oeq_cg_t;

/* The tensor for (l1,l2,l3); fails with OEQ_ERROR_INVALID_PROBLEM if the
 * triangle rule |l1-l2| <= l3 <= l1+l2 is broken or an l is out of
 * [0, OEQ_CG_LMAX], OEQ_ERROR_OUT_OF_MEMORY if allocation fails. */
oeq_status_t oeq_cg_get(int l1, int l2, int l3, const oeq_cg_t **out, oeq_error_t *err);

/* Frees the cache (tests and leak checkers; not needed otherwise). Not safe
 * while other threads use the cache. */
void oeq_cg_cache_clear(void);

#endif
