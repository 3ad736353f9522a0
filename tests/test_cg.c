/* test_cg.c: the real Wigner 3j tensors of lib/cg.c against the test vectors
 * and identities of docs/conventions.md A2 (e3nn >= 0.5). */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* pthreads */
#endif

#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cg.h"

static void cache_fini(void) { oeq_cg_cache_clear(); }

TestSuite(cg, .fini = cache_fini);

/* The tensor for a valid triple; fails the test if oeq_cg_get fails. */
static const oeq_cg_t *get(int l1, int l2, int l3) {
  const oeq_cg_t *c = NULL;
  oeq_error_t err = {0};
  oeq_status_t st = oeq_cg_get(l1, l2, l3, &c, &err);
  cr_assert_eq(st, OEQ_SUCCESS, "oeq_cg_get(%d,%d,%d) failed: %s", l1, l2, l3, err.message);
  cr_assert_not_null(c);
  cr_assert(c->l1 == l1 && c->l2 == l2 && c->l3 == l3, "wrong triple in the returned tensor");
  cr_assert(c->d1 == 2 * l1 + 1 && c->d2 == 2 * l2 + 1 && c->d3 == 2 * l3 + 1, "wrong dims");
  return c;
}

static double at(const oeq_cg_t *c, int a, int b, int k) {
  return c->dense[(a * c->d2 + b) * c->d3 + k];
}

/* An expected nonzero of a test vector. */
typedef struct {
  int a, b, c;
  double v;
} entry_t;

/* Every dense entry equals the listed value (to tol) or is exactly 0 where
 * nothing is listed; the nonzero list holds exactly the listed entries. */
static void check_full(int l1, int l2, int l3, const entry_t *e, int n, double tol) {
  const oeq_cg_t *c = get(l1, l2, l3);
  for (int a = 0; a < c->d1; ++a)
    for (int b = 0; b < c->d2; ++b)
      for (int k = 0; k < c->d3; ++k) {
        double want = 0.0;
        for (int i = 0; i < n; ++i)
          if (e[i].a == a && e[i].b == b && e[i].c == k) want = e[i].v;
        cr_assert_float_eq(at(c, a, b, k), want, tol, "C(%d,%d,%d)[%d,%d,%d] = %.17g, want %.17g",
                           l1, l2, l3, a, b, k, at(c, a, b, k), want);
      }
  cr_assert_eq(c->nnz, n, "C(%d,%d,%d): %d nonzeros, want %d", l1, l2, l3, c->nnz, n);
}

/* ---- conventions.md A2 test vectors (e3nn 0.6.0) ---- */

Test(cg, vector_110) {
  const double v = 0.5773502691896257;
  const entry_t e[] = {{0, 0, 0, v}, {1, 1, 0, v}, {2, 2, 0, v}};
  check_full(1, 1, 0, e, 3, 1e-15);
}

Test(cg, vector_111_is_levi_civita) {
  const double v = 0.4082482904638630;
  const entry_t e[] = {{0, 1, 2, v},  {1, 2, 0, v},  {2, 0, 1, v},
                       {0, 2, 1, -v}, {1, 0, 2, -v}, {2, 1, 0, -v}};
  check_full(1, 1, 1, e, 6, 1e-15);
}

Test(cg, vector_112) {
  const double p = 0.3162277660168379, q = 0.1825741858350554, r = 0.3651483716701108;
  const entry_t e[] = {{0, 0, 2, -q}, {2, 2, 2, -q}, {0, 0, 4, -p}, {0, 1, 1, p},
                       {0, 2, 0, p},  {1, 0, 1, p},  {1, 2, 3, p},  {2, 0, 0, p},
                       {2, 1, 3, p},  {2, 2, 4, p},  {1, 1, 2, r}};
  check_full(1, 1, 2, e, 11, 1e-15);
}

Test(cg, vector_123_row) {
  const oeq_cg_t *c = get(1, 2, 3);
  /* The doc lists 6 significant digits here; the closed forms are
   * -sqrt(2/105)/2 = -0.0690065559342354 and -sqrt(1/14) = -0.2672612419124244. */
  const double want[7] = {0, 0, 0, 0, -0.5 * sqrt(2.0 / 105.0), 0, -sqrt(1.0 / 14.0)};
  for (int k = 0; k < 7; ++k) {
    cr_assert_float_eq(at(c, 0, 0, k), want[k], 1e-15, "C(1,2,3)[0,0,%d] = %.17g, want %.17g", k,
                       at(c, 0, 0, k), want[k]);
  }
  cr_assert_float_eq(at(c, 0, 0, 4), -0.069007, 5e-7, "doc's rounded value");
  cr_assert_float_eq(at(c, 0, 0, 6), -0.267261, 5e-7, "doc's rounded value");
}

Test(cg, vector_222_nnz) {
  const oeq_cg_t *c = get(2, 2, 2);
  cr_assert_eq(c->nnz, 25, "C(2,2,2) has %d nonzeros, want 25", c->nnz);
}

/* ---- the nonzero list ---- */

Test(cg, nonzero_list_matches_dense_and_is_sorted) {
  for (int l1 = 0; l1 <= 6; ++l1)
    for (int l2 = 0; l2 <= 6; ++l2)
      for (int l3 = abs(l1 - l2); l3 <= l1 + l2; ++l3) {
        const oeq_cg_t *c = get(l1, l2, l3);
        int k = 0;
        for (int cc = 0; cc < c->d3; ++cc)
          for (int a = 0; a < c->d1; ++a)
            for (int b = 0; b < c->d2; ++b) {
              const double v = at(c, a, b, cc);
              if (fabs(v) <= 1e-14) continue;
              cr_assert_lt(k, c->nnz, "C(%d,%d,%d): too few listed nonzeros", l1, l2, l3);
              const oeq_cg_nonzero_t *z = &c->nz[k++];
              cr_assert(z->a == a && z->b == b && z->c == cc && z->value == v,
                        "C(%d,%d,%d): nonzero %d is (%d,%d,%d)=%g, want (%d,%d,%d)=%g", l1, l2,
                        l3, k - 1, z->a, z->b, z->c, z->value, a, b, cc, v);
            }
        cr_assert_eq(k, c->nnz, "C(%d,%d,%d): nnz %d, dense has %d", l1, l2, l3, c->nnz, k);
      }
}

/* ---- identities ---- */

/* sum of squares in long double so the check's own roundoff is negligible */
static void check_unit_norm(int l1, int l2, int l3) {
  const oeq_cg_t *c = get(l1, l2, l3);
  long double s = 0.0L;
  for (int i = 0; i < c->d1 * c->d2 * c->d3; ++i) s += (long double)c->dense[i] * c->dense[i];
  cr_assert_float_eq((double)s, 1.0, 1e-13, "C(%d,%d,%d): sum of squares %.17g", l1, l2, l3,
                     (double)s);
}

Test(cg, unit_norm_all_up_to_10) {
  for (int l1 = 0; l1 <= 10; ++l1)
    for (int l2 = 0; l2 <= 10; ++l2)
      for (int l3 = abs(l1 - l2); l3 <= l1 + l2 && l3 <= 10; ++l3) check_unit_norm(l1, l2, l3);
}

Test(cg, unit_norm_sample_up_to_15) {
  for (int l1 = 11; l1 <= 15; ++l1)
    for (int l2 = 0; l2 <= 15; l2 += 3)
      for (int l3 = abs(l1 - l2); l3 <= l1 + l2 && l3 <= 15; l3 += 2) check_unit_norm(l1, l2, l3);
}

static const int big_triples[][3] = {{24, 24, 24}, {24, 24, 0}, {20, 24, 11}, {24, 23, 1},
                                     {21, 22, 20}, {24, 0, 24}, {12, 12, 24}, {23, 23, 24}};
#define N_BIG ((int)(sizeof big_triples / sizeof big_triples[0]))

Test(cg, unit_norm_large_l) {
  for (int i = 0; i < N_BIG; ++i)
    check_unit_norm(big_triples[i][0], big_triples[i][1], big_triples[i][2]);
}

Test(cg, leg_swap_sign) {
  for (int l1 = 0; l1 <= 6; ++l1)
    for (int l2 = 0; l2 <= 6; ++l2)
      for (int l3 = abs(l1 - l2); l3 <= l1 + l2; ++l3) {
        const oeq_cg_t *c = get(l1, l2, l3), *s = get(l2, l1, l3);
        const double sign = ((l1 + l2 + l3) % 2 == 0) ? 1.0 : -1.0;
        for (int a = 0; a < c->d1; ++a)
          for (int b = 0; b < c->d2; ++b)
            for (int k = 0; k < c->d3; ++k)
              cr_assert_float_eq(at(s, b, a, k), sign * at(c, a, b, k), 1e-15,
                                 "C(%d,%d,%d)[%d,%d,%d] vs swapped legs", l1, l2, l3, a, b, k);
      }
}

Test(cg, cyclic_permutation_invariance) {
  for (int l1 = 0; l1 <= 6; ++l1)
    for (int l2 = 0; l2 <= 6; ++l2)
      for (int l3 = abs(l1 - l2); l3 <= l1 + l2; ++l3) {
        const oeq_cg_t *c = get(l1, l2, l3), *p = get(l2, l3, l1);
        for (int a = 0; a < c->d1; ++a)
          for (int b = 0; b < c->d2; ++b)
            for (int k = 0; k < c->d3; ++k)
              cr_assert_float_eq(at(p, b, k, a), at(c, a, b, k), 1e-15,
                                 "C(%d,%d,%d)[%d,%d,%d] vs C(%d,%d,%d)[%d,%d,%d]", l2, l3, l1, b,
                                 k, a, l1, l2, l3, a, b, k);
      }
}

Test(cg, scalar_leg_is_positive_identity) {
  for (int l = 0; l <= 10; ++l) {
    const double v = 1.0 / sqrt(2.0 * l + 1.0);
    const oeq_cg_t *c0 = get(0, l, l), *c1 = get(l, 0, l), *c2 = get(l, l, 0);
    for (int i = 0; i <= 2 * l; ++i)
      for (int j = 0; j <= 2 * l; ++j) {
        const double want = (i == j) ? v : 0.0;
        cr_assert_float_eq(at(c0, 0, i, j), want, 1e-15, "C(0,%d,%d)[0,%d,%d]", l, l, i, j);
        cr_assert_float_eq(at(c1, i, 0, j), want, 1e-15, "C(%d,0,%d)[%d,0,%d]", l, l, i, j);
        cr_assert_float_eq(at(c2, i, j, 0), want, 1e-15, "C(%d,%d,0)[%d,%d,0]", l, l, i, j);
      }
  }
}

/* sum_{a,b} C(l1,l2,l3)[a,b,c] C(l1,l2,l3')[a,b,c'] = delta delta / (2l3+1).
 * Unlike the unit norm this is not forced by the final normalisation, so it
 * checks the SU(2) coefficients themselves. */
static void check_orthogonality(int l1, int l2, int l3, int l3p, double tol) {
  const oeq_cg_t *x = get(l1, l2, l3), *y = get(l1, l2, l3p);
  for (int c = 0; c < x->d3; ++c)
    for (int cp = 0; cp < y->d3; ++cp) {
      long double s = 0.0L;
      for (int a = 0; a < x->d1; ++a)
        for (int b = 0; b < x->d2; ++b) s += (long double)at(x, a, b, c) * at(y, a, b, cp);
      const double want = (l3 == l3p && c == cp) ? 1.0 / (2 * l3 + 1) : 0.0;
      cr_assert_float_eq((double)s, want, tol, "(%d,%d): <l3=%d c=%d | l3'=%d c'=%d> = %.17g",
                         l1, l2, l3, c, l3p, cp, (double)s);
    }
}

Test(cg, orthogonality_up_to_6) {
  for (int l1 = 0; l1 <= 6; ++l1)
    for (int l2 = 0; l2 <= 6; ++l2)
      for (int l3 = abs(l1 - l2); l3 <= l1 + l2; ++l3)
        for (int l3p = abs(l1 - l2); l3p <= l1 + l2; ++l3p)
          check_orthogonality(l1, l2, l3, l3p, 1e-15);
}

Test(cg, orthogonality_large_l) {
  const int pairs[][4] = {{24, 24, 24, 22}, {24, 24, 0, 2}, {20, 15, 11, 13},
                          {23, 24, 1, 24},  {12, 12, 24, 23}};
  for (int i = 0; i < 5; ++i)
    check_orthogonality(pairs[i][0], pairs[i][1], pairs[i][2], pairs[i][2], 1e-14);
  for (int i = 0; i < 5; ++i)
    check_orthogonality(pairs[i][0], pairs[i][1], pairs[i][2], pairs[i][3], 1e-14);
}

/* ---- the cache ---- */

Test(cg, cache_returns_same_tensor_and_rebuilds_identically) {
  const oeq_cg_t *a = get(5, 7, 4), *b = get(5, 7, 4);
  cr_assert_eq(a, b, "a second request returned another pointer");
  const int n = a->d1 * a->d2 * a->d3;
  double *copy = malloc((size_t)n * sizeof *copy);
  cr_assert_not_null(copy);
  memcpy(copy, a->dense, (size_t)n * sizeof *copy);
  oeq_cg_cache_clear();
  const oeq_cg_t *c = get(5, 7, 4);
  int same = memcmp(copy, c->dense, (size_t)n * sizeof *copy) == 0;
  free(copy);
  cr_assert(same, "rebuilt tensor differs from the first build");
}

/* ---- errors ---- */

static void check_rejected(int l1, int l2, int l3, const char *needle) {
  const oeq_cg_t *sentinel = (const oeq_cg_t *)&sentinel, *c = sentinel;
  oeq_error_t err;
  memset(&err, 0, sizeof err);
  oeq_status_t st = oeq_cg_get(l1, l2, l3, &c, &err);
  cr_assert_eq(st, OEQ_ERROR_INVALID_PROBLEM, "(%d,%d,%d): status %d, want INVALID_PROBLEM", l1,
               l2, l3, (int)st);
  cr_assert_eq(err.status, OEQ_ERROR_INVALID_PROBLEM, "err.status not filled");
  cr_assert_neq(err.message[0], '\0', "(%d,%d,%d): empty message", l1, l2, l3);
  cr_assert_not_null(strstr(err.message, needle), "(%d,%d,%d): message '%s' lacks '%s'", l1, l2,
                     l3, err.message, needle);
  cr_assert_eq(c, sentinel, "the output was written on failure");
}

Test(cg, triangle_violation_is_invalid_problem) {
  check_rejected(1, 1, 3, "triangle");
  check_rejected(5, 1, 3, "triangle");
  check_rejected(0, 2, 1, "triangle");
  check_rejected(1, 1, 3, "(1,1,3)");
}

Test(cg, negative_l_is_invalid_problem) {
  check_rejected(-1, 1, 0, "[0, 24]");
  check_rejected(1, -1, 0, "[0, 24]");
  check_rejected(0, 0, -1, "[0, 24]");
}

Test(cg, l_above_lmax_is_invalid_problem) {
  check_rejected(OEQ_CG_LMAX + 1, 1, OEQ_CG_LMAX, "[0, 24]");
  check_rejected(1, OEQ_CG_LMAX + 1, OEQ_CG_LMAX, "[0, 24]");
  check_rejected(OEQ_CG_LMAX, OEQ_CG_LMAX, OEQ_CG_LMAX + 1, "[0, 24]");
}

Test(cg, null_out_is_invalid_argument) {
  oeq_error_t err;
  memset(&err, 0, sizeof err);
  cr_assert_eq(oeq_cg_get(1, 1, 1, NULL, &err), OEQ_ERROR_INVALID_ARGUMENT);
  cr_assert_neq(err.message[0], '\0', "empty message");
  const oeq_cg_t *c = NULL;
  cr_assert_eq(oeq_cg_get(1, 1, 3, &c, NULL), OEQ_ERROR_INVALID_PROBLEM, "NULL err must be ok");
}

/* ---- thread safety ---- */

#define N_THREADS 8
#define N_TRIPLES 12
static const int mt_triples[N_TRIPLES][3] = {
    {3, 4, 5}, {3, 4, 5}, {6, 6, 6}, {10, 9, 8}, {1, 1, 1}, {0, 2, 2},
    {12, 14, 20}, {7, 5, 3}, {2, 2, 4}, {9, 9, 0}, {15, 15, 15}, {4, 3, 5}};

typedef struct {
  int id;
  pthread_barrier_t *start;
  const oeq_cg_t *got[N_TRIPLES];
  oeq_status_t status[N_TRIPLES];
} worker_t;

/* Each thread walks the triples in its own rotation, all starting at once,
 * so some threads race on the same triple and others on different ones. */
static void *worker(void *arg) {
  worker_t *w = arg;
  pthread_barrier_wait(w->start);
  for (int k = 0; k < N_TRIPLES; ++k) {
    const int i = (k + w->id * 5) % N_TRIPLES;
    oeq_error_t err;
    w->status[i] = oeq_cg_get(mt_triples[i][0], mt_triples[i][1], mt_triples[i][2], &w->got[i], &err);
  }
  return NULL;
}

Test(cg, concurrent_requests_share_one_tensor) {
  oeq_cg_cache_clear();
  pthread_barrier_t start;
  cr_assert_eq(pthread_barrier_init(&start, NULL, N_THREADS), 0);
  worker_t w[N_THREADS];
  pthread_t th[N_THREADS];
  for (int t = 0; t < N_THREADS; ++t) {
    memset(&w[t], 0, sizeof w[t]);
    w[t].id = t;
    w[t].start = &start;
    cr_assert_eq(pthread_create(&th[t], NULL, worker, &w[t]), 0);
  }
  for (int t = 0; t < N_THREADS; ++t) pthread_join(th[t], NULL);
  pthread_barrier_destroy(&start);
  for (int i = 0; i < N_TRIPLES; ++i) {
    const oeq_cg_t *ref = get(mt_triples[i][0], mt_triples[i][1], mt_triples[i][2]);
    for (int t = 0; t < N_THREADS; ++t) {
      cr_assert_eq(w[t].status[i], OEQ_SUCCESS, "thread %d, triple %d failed", t, i);
      cr_assert_eq(w[t].got[i], ref, "thread %d got another tensor for triple %d", t, i);
    }
  }
  /* Values built concurrently equal a fresh sequential build. */
  for (int i = 0; i < N_TRIPLES; ++i) {
    const oeq_cg_t *c = w[0].got[i];
    check_unit_norm(c->l1, c->l2, c->l3);
  }
  const oeq_cg_t *c = w[0].got[6];
  const int n = c->d1 * c->d2 * c->d3;
  double *copy = malloc((size_t)n * sizeof *copy);
  cr_assert_not_null(copy);
  memcpy(copy, c->dense, (size_t)n * sizeof *copy);
  oeq_cg_cache_clear();
  const oeq_cg_t *fresh = get(12, 14, 20);
  const int same = memcmp(copy, fresh->dense, (size_t)n * sizeof *copy) == 0;
  free(copy);
  cr_assert(same, "concurrently built C(12,14,20) differs from a sequential build");
}
