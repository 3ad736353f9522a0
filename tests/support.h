/* support.h: small helpers shared by the test suites (header-only). */
#ifndef OEQ_TEST_SUPPORT_H
#define OEQ_TEST_SUPPORT_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

/* A deterministic generator so failures reproduce (xorshift64*). */
typedef struct {
  uint64_t state;
} test_rng_t;

static inline uint64_t test_rng_next(test_rng_t *r) {
  r->state ^= r->state >> 12;
  r->state ^= r->state << 25;
  r->state ^= r->state >> 27;
  return r->state * 2685821657736338717ULL;
}

/* Uniform in [-1, 1). */
static inline double test_rng_uniform(test_rng_t *r) {
  return (double)(test_rng_next(r) >> 11) * (2.0 / 9007199254740992.0) - 1.0;
}

static inline void test_fill_double(test_rng_t *r, double *v, int64_t n) {
  for (int64_t i = 0; i < n; i++) v[i] = test_rng_uniform(r);
}

static inline void test_fill_float(test_rng_t *r, float *v, int64_t n) {
  for (int64_t i = 0; i < n; i++) v[i] = (float)test_rng_uniform(r);
}

/* ||a - b|| / ||b|| (Frobenius); NaN anywhere gives +inf. */
static inline double test_rel_error(const double *a, const double *b, int64_t n) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < n; i++) {
    if (isnan(a[i]) || isnan(b[i])) return INFINITY;
    num += (a[i] - b[i]) * (a[i] - b[i]);
    den += b[i] * b[i];
  }
  return den > 0 ? sqrt(num / den) : sqrt(num);
}

static inline double test_max_abs_error(const double *a, const double *b, int64_t n) {
  double m = 0;
  for (int64_t i = 0; i < n; i++) {
    double d = fabs(a[i] - b[i]);
    if (isnan(d)) return INFINITY;
    if (d > m) m = d;
  }
  return m;
}

static inline void test_poison_double(double *v, int64_t n) {
  for (int64_t i = 0; i < n; i++) v[i] = NAN;
}

static inline void test_poison_float(float *v, int64_t n) {
  for (int64_t i = 0; i < n; i++) v[i] = NAN;
}

#endif
