/* cg.c: real-basis Wigner 3j tensors exactly as e3nn >= 0.5 builds them
 * (docs/conventions.md A2, e3nn/o3/_wigner.py).
 *
 * Three steps, following e3nn:
 *  1. SU(2) Clebsch-Gordan coefficients <l1 m1 l2 m2 | l3 m3> from Racah's
 *     formula (the QuTiP form quoted in A2). e3nn evaluates it with Python
 *     Fractions; here it is evaluated exactly with prime-exponent vectors and
 *     a small fixed-width bignum, and rounded to double once at the end, so
 *     each coefficient is within about half an ulp of the true value for
 *     every l <= OEQ_CG_LMAX.
 *  2. The complex-to-real change of basis Q_l, including the (-i)^l factor
 *     that makes the product real.
 *  3. The contraction Q1 (x) Q2 (x) conj(Q3) . CG in complex arithmetic (long
 *     double, see cplx_t), the real part, and a Frobenius normalisation.
 *
 * Tensors are cached per (l1,l2,l3) for the life of the process. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* pthreads */
#endif

#include "cg.h"

#include <complex.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* Primes and factorials                                                     */
/* ------------------------------------------------------------------------ */

/* The largest factorial in Racah's formula is (j1+j2+j3+1)!. */
#define FACT_MAX (3 * OEQ_CG_LMAX + 1)

/* The primes up to FACT_MAX: every factor of every factorial is among them. */
static const int primes[] = {2,  3,  5,  7,  11, 13, 17, 19, 23, 29, 31,
                             37, 41, 43, 47, 53, 59, 61, 67, 71, 73};
#define NPRIMES ((int)(sizeof primes / sizeof primes[0]))

_Static_assert(FACT_MAX <= 73, "extend the prime table for a larger OEQ_CG_LMAX");

/* A positive rational number as prod_p p^e[p] (e may be negative). */
typedef struct {
  int e[NPRIMES];
} pexp_t;

/* Exponent vectors of n! (Legendre's formula, e_p(n!) = sum_k floor(n/p^k))
 * and of n itself, for 0 <= n <= FACT_MAX. Built once per tensor: cheap. */
typedef struct {
  pexp_t fact[FACT_MAX + 1];
  pexp_t num[FACT_MAX + 1];
} factor_tables_t;

static void factor_tables_init(factor_tables_t *t) {
  memset(t, 0, sizeof *t);
  for (int n = 0; n <= FACT_MAX; ++n) {
    for (int i = 0; i < NPRIMES; ++i) {
      int e = 0;
      for (int q = n / primes[i]; q > 0; q /= primes[i]) e += q;
      t->fact[n].e[i] = e;
      int m = n, k = 0;
      while (m > 0 && m % primes[i] == 0) {
        m /= primes[i];
        ++k;
      }
      t->num[n].e[i] = k;
    }
  }
}

/* acc += sign * x */
static void pexp_add(pexp_t *acc, const pexp_t *x, int sign) {
  for (int i = 0; i < NPRIMES; ++i) acc->e[i] += sign * x->e[i];
}

/* ------------------------------------------------------------------------ */
/* A tiny unsigned bignum                                                    */
/* ------------------------------------------------------------------------ */

/* 2048 bits. Over all 7825 triples with l <= 24 the largest number built
 * needs 19 limbs (measured: 18 fail at (23,23,24)), so this is a wide margin;
 * every operation still checks for overflow and the caller then reports
 * OEQ_ERROR_INTERNAL rather than a wrong value. */
#define BIG_LIMBS 64

typedef struct {
  int n; /* limbs in use; limb[n-1] != 0, n == 0 for zero */
  uint32_t limb[BIG_LIMBS];
} big_t;

static void big_set_u32(big_t *b, uint32_t v) {
  b->n = v ? 1 : 0;
  b->limb[0] = v;
}

static bool big_is_zero(const big_t *b) { return b->n == 0; }

/* b *= v */
static bool big_mul_u32(big_t *b, uint32_t v) {
  uint64_t carry = 0;
  for (int i = 0; i < b->n; ++i) {
    uint64_t t = (uint64_t)b->limb[i] * v + carry;
    b->limb[i] = (uint32_t)t;
    carry = t >> 32;
  }
  if (carry) {
    if (b->n == BIG_LIMBS) return false;
    b->limb[b->n++] = (uint32_t)carry;
  }
  if (v == 0) b->n = 0;
  return true;
}

static int big_cmp(const big_t *a, const big_t *b) {
  if (a->n != b->n) return a->n < b->n ? -1 : 1;
  for (int i = a->n - 1; i >= 0; --i)
    if (a->limb[i] != b->limb[i]) return a->limb[i] < b->limb[i] ? -1 : 1;
  return 0;
}

/* r = a + b (r may alias a or b) */
static bool big_add(big_t *r, const big_t *a, const big_t *b) {
  int n = a->n > b->n ? a->n : b->n;
  uint64_t carry = 0;
  for (int i = 0; i < n; ++i) {
    uint64_t t = carry;
    if (i < a->n) t += a->limb[i];
    if (i < b->n) t += b->limb[i];
    r->limb[i] = (uint32_t)t;
    carry = t >> 32;
  }
  r->n = n;
  if (carry) {
    if (n == BIG_LIMBS) return false;
    r->limb[r->n++] = (uint32_t)carry;
  }
  return true;
}

/* r = a - b, requires a >= b (r may alias a or b) */
static void big_sub(big_t *r, const big_t *a, const big_t *b) {
  int64_t borrow = 0;
  for (int i = 0; i < a->n; ++i) {
    int64_t t = (int64_t)a->limb[i] - borrow - (i < b->n ? (int64_t)b->limb[i] : 0);
    borrow = t < 0;
    r->limb[i] = (uint32_t)(t + (borrow ? ((int64_t)1 << 32) : 0));
  }
  r->n = a->n;
  while (r->n > 0 && r->limb[r->n - 1] == 0) --r->n;
}

/* b = prod over primes with e[i] > 0 of p^e[i] (sign = +1), or of
 * p^(-e[i]) over e[i] < 0 (sign = -1). Prime powers are packed into one
 * 32-bit multiplier before each bignum pass. */
static bool big_from_pexp(big_t *b, const pexp_t *x, int sign) {
  big_set_u32(b, 1);
  uint64_t acc = 1;
  for (int i = 0; i < NPRIMES; ++i) {
    int k = sign * x->e[i];
    for (; k > 0; --k) {
      if (acc * (uint64_t)primes[i] > UINT32_MAX) {
        if (!big_mul_u32(b, (uint32_t)acc)) return false;
        acc = 1;
      }
      acc *= (uint64_t)primes[i];
    }
  }
  return big_mul_u32(b, (uint32_t)acc);
}

/* A nonzero bignum as m * 2^e with m in [0.5, 1): m is the bignum rounded to
 * long double precision (relative error <= 2^-64 with x87's 64-bit
 * mantissa; where long double is just double, 2^-53 and the final result
 * is then within a couple of ulps instead of half an ulp). */
typedef struct {
  long double m;
  long e;
} xfloat_t;

static xfloat_t big_to_xfloat(const big_t *b) {
  /* The top (up to) three limbs hold at least 65 significant bits; the
   * lower limbs cannot change the rounded mantissa by more than an ulp. */
  long double m = 0.0L;
  int lo = b->n >= 3 ? b->n - 3 : 0;
  for (int i = b->n - 1; i >= lo; --i) m = m * 4294967296.0L + (long double)b->limb[i];
  int e2;
  m = frexpl(m, &e2);
  xfloat_t r = {m, (long)e2 + 32L * lo};
  return r;
}

/* ------------------------------------------------------------------------ */
/* Step 1: SU(2) Clebsch-Gordan coefficients, exactly                        */
/* ------------------------------------------------------------------------ */

/* <j1 m1 j2 m2 | j3 m1+m2> for integer j (conventions.md A2, step 1):
 *
 *   CG = sqrt((2j3+1) R) * S,
 *   R  = f(j3+j1-j2) f(j3-j1+j2) f(j1+j2-j3) f(j3+m3) f(j3-m3)
 *        / [f(j1+j2+j3+1) f(j1-m1) f(j1+m1) f(j2-m2) f(j2+m2)],
 *   S  = sum_v t_v,  t_v = (-1)^(v+j2+m2) f(A-v) f(B+v)
 *                          / [f(v) f(C-v) f(E-v) f(v+F)],
 *   A = j2+j3+m1, B = j1-m1, C = j3-j1+j2, E = j3+m3, F = j1-j2-m3.
 *
 * Consecutive terms differ by a ratio of small integers,
 *   t_{v+1}/t_v = -n_v/d_v,  n_v = (B+v+1)(C-v)(E-v),  d_v = (A-v)(v+1)(v+1+F),
 * so S = t_vmin * (1 + r_0 (1 + r_1 (1 + ... ))) with r = -n/d. The nested
 * form is evaluated from the inside as an exact fraction P/D with bignums;
 * D's prime factorisation is known from its small factors. Then
 *
 *   CG = sign * |P| * sqrt(X),  X = (2j3+1) R t_vmin^2 / D^2  (a prime-exponent
 * vector), and only the final |P| * sqrt(Xnum/Xden) is done in floating
 * point (long double, then one rounding to double).
 *
 * Returns false only if the bignum capacity is exceeded (never for l <= 24). */
static bool su2_cg(const factor_tables_t *ft, int j1, int m1, int j2, int m2, int j3,
                   double *out) {
  const int m3 = m1 + m2;
  const int A = j2 + j3 + m1, B = j1 - m1, C = j3 - j1 + j2, E = j3 + m3, F = j1 - j2 - m3;
  int vmin = -F; /* -j1+j2+m3 */
  if (-B > vmin) vmin = -B;
  if (vmin < 0) vmin = 0;
  int vmax = A;
  if (C < vmax) vmax = C;
  if (E < vmax) vmax = E;
  if (vmax < vmin) {
    *out = 0.0;
    return true;
  }

  /* Horner from the innermost term: x = P/D, x_K = 1, x_i = 1 - (n_i/d_i) x_{i+1}
   * i.e. D <- D d_i, P <- D - n_i P. P is kept as sign and magnitude. */
  big_t P, D, tmp;
  bool p_neg = false;
  pexp_t d_exp = {{0}};
  big_set_u32(&P, 1);
  big_set_u32(&D, 1);
  for (int v = vmax - 1; v >= vmin; --v) {
    const int nf[3] = {B + v + 1, C - v, E - v};
    const int df[3] = {A - v, v + 1, v + 1 + F};
    uint32_t n = 1, d = 1;
    for (int k = 0; k < 3; ++k) {
      n *= (uint32_t)nf[k];
      d *= (uint32_t)df[k];
      pexp_add(&d_exp, &ft->num[df[k]], +1);
    }
    if (!big_mul_u32(&D, d)) return false;
    tmp = P;
    if (!big_mul_u32(&tmp, n)) return false; /* tmp = n |P| */
    if (p_neg) {                             /* D - n P = D + n |P| */
      if (!big_add(&P, &D, &tmp)) return false;
      p_neg = false;
    } else if (big_cmp(&D, &tmp) >= 0) {
      big_sub(&P, &D, &tmp);
    } else {
      big_sub(&P, &tmp, &D);
      p_neg = true;
    }
  }
  if (big_is_zero(&P)) {
    *out = 0.0;
    return true;
  }

  /* X = (2j3+1) R t_vmin^2 / D^2 as a prime-exponent vector. */
  pexp_t x = ft->num[2 * j3 + 1];
  pexp_add(&x, &ft->fact[j3 + j1 - j2], +1);
  pexp_add(&x, &ft->fact[j3 - j1 + j2], +1);
  pexp_add(&x, &ft->fact[j1 + j2 - j3], +1);
  pexp_add(&x, &ft->fact[j3 + m3], +1);
  pexp_add(&x, &ft->fact[j3 - m3], +1);
  pexp_add(&x, &ft->fact[j1 + j2 + j3 + 1], -1);
  pexp_add(&x, &ft->fact[j1 - m1], -1);
  pexp_add(&x, &ft->fact[j1 + m1], -1);
  pexp_add(&x, &ft->fact[j2 - m2], -1);
  pexp_add(&x, &ft->fact[j2 + m2], -1);
  const int v = vmin;
  const int t0_sign[6] = {+1, +1, -1, -1, -1, -1};
  const int t0_arg[6] = {A - v, B + v, v, C - v, E - v, v + F};
  for (int k = 0; k < 6; ++k) pexp_add(&x, &ft->fact[t0_arg[k]], 2 * t0_sign[k]);
  pexp_add(&x, &d_exp, -2);

  big_t xn, xd;
  if (!big_from_pexp(&xn, &x, +1) || !big_from_pexp(&xd, &x, -1)) return false;

  /* |CG| = |P| sqrt(xn / xd), in (mantissa, exponent) form so the range of
   * long double never matters; about 2^-61 relative error before the final
   * rounding to double. */
  xfloat_t fp = big_to_xfloat(&P), fn = big_to_xfloat(&xn), fd = big_to_xfloat(&xd);
  long double q = fn.m / fd.m;
  long qe = fn.e - fd.e;
  if (qe % 2 != 0) {
    q *= 2.0L;
    qe -= 1;
  }
  long double mag = fp.m * sqrtl(q);
  long e = fp.e + qe / 2;
  const int sign_t0 = ((vmin + j2 + m2) % 2 == 0) ? 1 : -1;
  const int sign = sign_t0 * (p_neg ? -1 : 1);
  *out = (double)(sign * ldexpl(mag, (int)e));
  return true;
}

/* ------------------------------------------------------------------------ */
/* Step 2: change of basis                                                   */
/* ------------------------------------------------------------------------ */

/* Step 3 runs in long double complex rather than e3nn's complex128: with
 * 80-bit long double the rounding of 1/sqrt(2) products and of the
 * Frobenius sum (tens of thousands of squares at l = 24) stays far below
 * double's ulp, so the tensor is within about one ulp of the exact one, and
 * therefore within e3nn's own roundoff of e3nn's. */
typedef long double complex cplx_t;

/* Q_l, (2l+1)x(2l+1), row l+m (complex m), column l+mu (real mu), times
 * (-i)^l (conventions.md A2, step 2). q must hold (2l+1)^2 zeros. */
static void change_basis(int l, cplx_t *q) {
  const int d = 2 * l + 1;
  const long double s = 1.0L / sqrtl(2.0L);
  for (int m = -l; m < 0; ++m) {
    q[(l + m) * d + (l - m)] = s;
    q[(l + m) * d + (l + m)] = -I * s;
  }
  q[l * d + l] = 1.0;
  for (int m = 1; m <= l; ++m) {
    const long double sg = (m % 2 == 0) ? 1.0L : -1.0L;
    q[(l + m) * d + (l + m)] = sg * s;
    q[(l + m) * d + (l - m)] = I * sg * s;
  }
  /* (-i)^l cycles 1, -i, -1, i: apply it exactly, not via cpow. */
  static const cplx_t phase[4] = {1.0L, -I, -1.0L, I};
  for (int k = 0; k < d * d; ++k) q[k] *= phase[l % 4];
}

/* ------------------------------------------------------------------------ */
/* Step 3 and the cache entry                                                */
/* ------------------------------------------------------------------------ */

typedef struct cg_entry {
  oeq_cg_t pub; /* what callers see; first so &entry->pub is the handle */
  double *dense;
  oeq_cg_nonzero_t *nz;
} cg_entry_t;

static void cg_entry_free(cg_entry_t *e) {
  if (!e) return;
  free(e->dense);
  free(e->nz);
  free(e);
}

/* The SU(2) table su2[(l1+m1)*d2 + (l2+m2)] = <l1 m1 l2 m2 | l3 m1+m2>. */
static oeq_status_t su2_table(int l1, int l2, int l3, double *su2, oeq_error_t *err) {
  factor_tables_t *ft = malloc(sizeof *ft);
  if (!ft) return oeq_fail(err, OEQ_ERROR_OUT_OF_MEMORY, "wigner 3j: out of memory");
  factor_tables_init(ft);
  const int d2 = 2 * l2 + 1;
  oeq_status_t st = OEQ_SUCCESS;
  for (int m1 = -l1; m1 <= l1 && st == OEQ_SUCCESS; ++m1) {
    for (int m2 = -l2; m2 <= l2; ++m2) {
      double *c = &su2[(l1 + m1) * d2 + (l2 + m2)];
      *c = 0.0;
      if (abs(m1 + m2) > l3) continue;
      if (!su2_cg(ft, l1, m1, l2, m2, l3, c)) {
        st = oeq_fail(err, OEQ_ERROR_INTERNAL,
                      "wigner 3j (%d,%d,%d): exact arithmetic overflowed", l1, l2, l3);
        break;
      }
    }
  }
  free(ft);
  return st;
}

/* Cc[a,b,c] = sum_{m1,m2} Q1[m1][a] Q2[m2][b] conj(Q3[m1+m2][c]) CG[m1,m2]
 * (e3nn's einsum "ij,kl,mn,ikn->jlm"), real part, Frobenius-normalised.
 * Column a of Q1 has nonzeros only in rows m1 = +-mu_a, so each entry is a
 * sum of at most 8 terms; only those are visited. */
static oeq_status_t contract(int l1, int l2, int l3, const double *su2, const cplx_t *q1,
                             const cplx_t *q2, const cplx_t *q3, long double *re_part,
                             double *dense, oeq_error_t *err) {
  const int d1 = 2 * l1 + 1, d2 = 2 * l2 + 1, d3 = 2 * l3 + 1;
  long double max_imag = 0.0L, sumsq = 0.0L;
  for (int a = 0; a < d1; ++a) {
    const int ma[2] = {a - l1, l1 - a};
    for (int b = 0; b < d2; ++b) {
      const int mb[2] = {b - l2, l2 - b};
      for (int c = 0; c < d3; ++c) {
        cplx_t acc = 0.0L;
        for (int i = 0; i < (ma[0] == 0 ? 1 : 2); ++i) {
          for (int j = 0; j < (mb[0] == 0 ? 1 : 2); ++j) {
            const int m1 = ma[i], m2 = mb[j], m3 = m1 + m2;
            if (abs(m3) > l3 || abs(m3) != abs(c - l3)) continue;
            acc += q1[(l1 + m1) * d1 + a] * q2[(l2 + m2) * d2 + b] *
                   conjl(q3[(l3 + m3) * d3 + c]) * su2[(l1 + m1) * d2 + (l2 + m2)];
          }
        }
        const long double re = creall(acc);
        if (fabsl(cimagl(acc)) > max_imag) max_imag = fabsl(cimagl(acc));
        re_part[(a * d2 + b) * d3 + c] = re;
        sumsq += re * re;
      }
    }
  }
  /* e3nn asserts |Im| < 1e-5; both failures below would be bugs here. */
  if (max_imag > 1e-5L || !(sumsq > 0.0L))
    return oeq_fail(err, OEQ_ERROR_INTERNAL,
                    "wigner 3j (%d,%d,%d): contraction is not real (|Im| = %Lg, |Re|^2 = %Lg)",
                    l1, l2, l3, max_imag, sumsq);
  const long double norm = sqrtl(sumsq);
  for (int k = 0; k < d1 * d2 * d3; ++k) dense[k] = (double)(re_part[k] / norm);
  return OEQ_SUCCESS;
}

/* The nonzero list, sorted by (c, a, b) by construction of the loop order. */
static oeq_status_t collect_nonzeros(cg_entry_t *e, oeq_error_t *err) {
  const int d1 = e->pub.d1, d2 = e->pub.d2, d3 = e->pub.d3;
  int nnz = 0;
  for (int k = 0; k < d1 * d2 * d3; ++k)
    if (fabs(e->dense[k]) > 1e-14) ++nnz;
  e->nz = malloc((size_t)(nnz > 0 ? nnz : 1) * sizeof *e->nz);
  if (!e->nz) return oeq_fail(err, OEQ_ERROR_OUT_OF_MEMORY, "wigner 3j: out of memory");
  int k = 0;
  for (int c = 0; c < d3; ++c)
    for (int a = 0; a < d1; ++a)
      for (int b = 0; b < d2; ++b) {
        const double v = e->dense[(a * d2 + b) * d3 + c];
        if (fabs(v) > 1e-14) e->nz[k++] = (oeq_cg_nonzero_t){a, b, c, v};
      }
  e->pub.nnz = nnz;
  e->pub.nz = e->nz;
  return OEQ_SUCCESS;
}

/* Builds a fresh entry (no cache involved). */
static oeq_status_t cg_build(int l1, int l2, int l3, cg_entry_t **out, oeq_error_t *err) {
  const int d1 = 2 * l1 + 1, d2 = 2 * l2 + 1, d3 = 2 * l3 + 1;
  oeq_status_t st = OEQ_SUCCESS;
  cg_entry_t *e = calloc(1, sizeof *e);
  double *su2 = malloc((size_t)d1 * d2 * sizeof *su2);
  cplx_t *q1 = calloc((size_t)d1 * d1, sizeof *q1);
  cplx_t *q2 = calloc((size_t)d2 * d2, sizeof *q2);
  cplx_t *q3 = calloc((size_t)d3 * d3, sizeof *q3);
  long double *re_part = malloc((size_t)d1 * d2 * d3 * sizeof *re_part);
  if (e) e->dense = malloc((size_t)d1 * d2 * d3 * sizeof *e->dense);
  if (!e || !e->dense || !su2 || !q1 || !q2 || !q3 || !re_part) {
    st = oeq_fail(err, OEQ_ERROR_OUT_OF_MEMORY, "wigner 3j (%d,%d,%d): out of memory", l1, l2,
                  l3);
    goto done;
  }
  e->pub = (oeq_cg_t){.l1 = l1, .l2 = l2, .l3 = l3, .d1 = d1, .d2 = d2, .d3 = d3,
                      .dense = e->dense};
  change_basis(l1, q1);
  change_basis(l2, q2);
  change_basis(l3, q3);
  st = su2_table(l1, l2, l3, su2, err);
  if (st == OEQ_SUCCESS) st = contract(l1, l2, l3, su2, q1, q2, q3, re_part, e->dense, err);
  if (st == OEQ_SUCCESS) st = collect_nonzeros(e, err);
done:
  free(su2);
  free(q1);
  free(q2);
  free(q3);
  free(re_part);
  if (st == OEQ_SUCCESS) {
    *out = e;
  } else {
    cg_entry_free(e);
  }
  return st;
}

/* ------------------------------------------------------------------------ */
/* The process-wide cache                                                    */
/* ------------------------------------------------------------------------ */

#define CG_DIM (OEQ_CG_LMAX + 1)

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static cg_entry_t *cache[CG_DIM][CG_DIM][CG_DIM];

static cg_entry_t *cache_lookup(int l1, int l2, int l3) {
  pthread_mutex_lock(&cache_lock);
  cg_entry_t *e = cache[l1][l2][l3];
  pthread_mutex_unlock(&cache_lock);
  return e;
}

/* Inserts e unless another thread got there first; returns the entry that
 * is in the cache afterwards (freeing e if it lost the race). */
static cg_entry_t *cache_insert(int l1, int l2, int l3, cg_entry_t *e) {
  pthread_mutex_lock(&cache_lock);
  cg_entry_t *winner = cache[l1][l2][l3];
  if (!winner) winner = cache[l1][l2][l3] = e;
  pthread_mutex_unlock(&cache_lock);
  if (winner != e) cg_entry_free(e);
  return winner;
}

static oeq_status_t check_triple(int l1, int l2, int l3, oeq_error_t *err) {
  if (l1 < 0 || l2 < 0 || l3 < 0 || l1 > OEQ_CG_LMAX || l2 > OEQ_CG_LMAX || l3 > OEQ_CG_LMAX)
    return oeq_fail(err, OEQ_ERROR_INVALID_PROBLEM,
                    "wigner 3j (%d,%d,%d): every l must be in [0, %d]", l1, l2, l3, OEQ_CG_LMAX);
  if (l3 < abs(l1 - l2) || l3 > l1 + l2)
    return oeq_fail(err, OEQ_ERROR_INVALID_PROBLEM,
                    "wigner 3j (%d,%d,%d): triangle rule |l1-l2| <= l3 <= l1+l2 broken", l1, l2,
                    l3);
  return OEQ_SUCCESS;
}

oeq_status_t oeq_cg_get(int l1, int l2, int l3, const oeq_cg_t **out, oeq_error_t *err) {
  if (!out) return oeq_fail(err, OEQ_ERROR_INVALID_ARGUMENT, "wigner 3j: out is NULL");
  oeq_status_t st = check_triple(l1, l2, l3, err);
  if (st != OEQ_SUCCESS) return st;
  cg_entry_t *e = cache_lookup(l1, l2, l3);
  if (!e) {
    /* Built outside the lock so threads asking for different triples do not
     * wait on each other; a lost race only costs a duplicate build. */
    cg_entry_t *fresh = NULL;
    st = cg_build(l1, l2, l3, &fresh, err);
    if (st != OEQ_SUCCESS) return st;
    e = cache_insert(l1, l2, l3, fresh);
  }
  *out = &e->pub;
  return OEQ_SUCCESS;
}

void oeq_cg_cache_clear(void) {
  pthread_mutex_lock(&cache_lock);
  for (int i = 0; i < CG_DIM; ++i)
    for (int j = 0; j < CG_DIM; ++j)
      for (int k = 0; k < CG_DIM; ++k) {
        cg_entry_free(cache[i][j][k]);
        cache[i][j][k] = NULL;
      }
  pthread_mutex_unlock(&cache_lock);
}
