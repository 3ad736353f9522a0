/* support.h: small helpers shared by the test suites (header-only). */
#ifndef OEQ_TEST_SUPPORT_H
#define OEQ_TEST_SUPPORT_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The first line of a run-time compiler's log that holds a warning, or
 * NULL: generated source compiles clean, so a warning is a generator bug. */
static inline const char *test_first_warning(const char *log) {
  const char *w = log ? strstr(log, "warning") : NULL;
  if (!w) return NULL;
  while (w > log && w[-1] != '\n') w--;
  return w;
}

/* "N bytes spill stores" lines of a ptxas -v log: the largest N (0 when
 * nothing spilled). */
static inline long test_spill_bytes(const char *log) {
  long worst = 0;
  for (const char *p = log; p && (p = strstr(p, "bytes spill stores")); p++) {
    const char *q = p;
    while (q > log && q[-1] == ' ') q--;
    while (q > log && q[-1] >= '0' && q[-1] <= '9') q--;
    long n = strtol(q, NULL, 10);
    if (n > worst) worst = n;
  }
  return worst;
}

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

/* ------------------------------------------------------------------------
 * An independent reference tensor product (define OEQ_TEST_REFERENCE before
 * including this header; needs lib/ on the include path). It reads the
 * problem's irreps and instructions, recomputes e3nn's normalization and
 * weight offsets itself (conventions.md A3) and contracts the dense CG
 * tensors with plain loops over every (u, v, w) the mode visits. It shares
 * no code with lib/backend/cpu_kernels.c or lib/problem.c's arithmetic.
 * Rows are canonical: float64, mul_ir layout.
 * ---------------------------------------------------------------------- */
#ifdef OEQ_TEST_REFERENCE
#include "cg.h"
#include "problem.h"

static inline int64_t test_ref_dim(const oeq_irreps_t *r) {
  int64_t d = 0;
  for (int i = 0; i < r->len; i++) d += r->terms[i].mul * (2 * r->terms[i].l + 1);
  return d;
}

static inline int64_t test_ref_offset(const oeq_irreps_t *r, int i) {
  int64_t d = 0;
  for (int k = 0; k < i; k++) d += r->terms[k].mul * (2 * r->terms[k].l + 1);
  return d;
}

/* e3nn's num_elements and path_shape product. */
static inline double test_ref_fan_in(const oeq_problem_t *p, const oeq_instruction_t *in) {
  double m1 = (double)p->in1.terms[in->i_in1].mul, m2 = (double)p->in2.terms[in->i_in2].mul;
  switch (in->mode) {
    case OEQ_MODE_UVW: return m1 * m2;
    case OEQ_MODE_UVU: return m2;
    case OEQ_MODE_UVV: return m1;
    case OEQ_MODE_UUW: return m1;
    default: return 1.0;
  }
}

static inline int64_t test_ref_path_size(const oeq_problem_t *p, const oeq_instruction_t *in) {
  int64_t m1 = p->in1.terms[in->i_in1].mul, m2 = p->in2.terms[in->i_in2].mul,
          mo = p->out.terms[in->i_out].mul;
  switch (in->mode) {
    case OEQ_MODE_UVW: return m1 * m2 * mo;
    case OEQ_MODE_UUW: return m1 * mo;
    case OEQ_MODE_UUU: return m1;
    default: return m1 * m2;
  }
}

static inline int64_t test_ref_weight_numel(const oeq_problem_t *p) {
  int64_t n = 0;
  for (int k = 0; k < p->n_instructions; k++)
    if (p->instructions[k].has_weight) n += test_ref_path_size(p, &p->instructions[k]);
  return n;
}

/* sqrt(alpha) of instruction k, straight from e3nn's _tensor_product.py. */
static inline double test_ref_coefficient(const oeq_problem_t *p, int k) {
  const oeq_instruction_t *in = &p->instructions[k];
  double d1 = 2 * p->in1.terms[in->i_in1].l + 1, d2 = 2 * p->in2.terms[in->i_in2].l + 1,
         d3 = 2 * p->out.terms[in->i_out].l + 1;
  double alpha = p->irrep_norm == OEQ_IRREP_NORM_COMPONENT ? d3
                 : p->irrep_norm == OEQ_IRREP_NORM_NORM    ? d1 * d2
                                                           : 1.0;
  double x = 1.0;
  if (p->path_norm == OEQ_PATH_NORM_ELEMENT) {
    x = 0.0;
    for (int j = 0; j < p->n_instructions; j++)
      if (p->instructions[j].i_out == in->i_out)
        x += p->in1_var[p->instructions[j].i_in1] * p->in2_var[p->instructions[j].i_in2] *
             test_ref_fan_in(p, &p->instructions[j]);
  } else if (p->path_norm == OEQ_PATH_NORM_PATH) {
    int n = 0;
    for (int j = 0; j < p->n_instructions; j++) n += p->instructions[j].i_out == in->i_out;
    x = p->in1_var[in->i_in1] * p->in2_var[in->i_in2] * test_ref_fan_in(p, in) * n;
  }
  if (x > 0) alpha /= x;
  return sqrt(alpha * p->out_var[in->i_out] * in->path_weight);
}

/* One row. Forward when dz == NULL: z = TP(x, y, w) (z overwritten).
 * Backward otherwise: dx, dy overwritten and dw (if weighted) ACCUMULATED
 * with the gradients of <dz, TP(x, y, w)>. w may be NULL if unweighted.
 * Returns 0, or -1 if a CG tensor could not be had. */
static inline int test_ref_row(const oeq_problem_t *p, const double *x, const double *y,
                               const double *w, double *z, const double *dz, double *dx,
                               double *dy, double *dw) {
  int backward = dz != NULL;
  if (!backward)
    for (int64_t i = 0; i < test_ref_dim(&p->out); i++) z[i] = 0.0;
  else {
    for (int64_t i = 0; i < test_ref_dim(&p->in1); i++) dx[i] = 0.0;
    for (int64_t i = 0; i < test_ref_dim(&p->in2); i++) dy[i] = 0.0;
  }
  int64_t woff = 0;
  for (int k = 0; k < p->n_instructions; k++) {
    const oeq_instruction_t *in = &p->instructions[k];
    const oeq_irrep_term_t *A = &p->in1.terms[in->i_in1], *B = &p->in2.terms[in->i_in2],
                           *O = &p->out.terms[in->i_out];
    int64_t this_off = woff;
    if (in->has_weight) woff += test_ref_path_size(p, in);
    if (A->mul == 0 || B->mul == 0 || O->mul == 0) continue;
    const oeq_cg_t *cg;
    oeq_error_t err;
    if (oeq_cg_get(A->l, B->l, O->l, &cg, &err) != OEQ_SUCCESS) return -1;
    const double *C = cg->dense;
    int d1 = 2 * A->l + 1, d2 = 2 * B->l + 1, d3 = 2 * O->l + 1;
    double coef = test_ref_coefficient(p, k);
    int64_t xo = test_ref_offset(&p->in1, in->i_in1), yo = test_ref_offset(&p->in2, in->i_in2),
            zo = test_ref_offset(&p->out, in->i_out);
    int64_t m1 = A->mul, m2 = B->mul, mo = O->mul;
    /* Enumerate (u, v, o, widx) as the mode's einsum does. */
    int64_t nu = m1, nv, nw;
    switch (in->mode) {
      case OEQ_MODE_UVW: nv = m2, nw = mo; break;
      case OEQ_MODE_UUW: nv = 1, nw = mo; break;
      case OEQ_MODE_UUU: nv = 1, nw = 1; break;
      default: nv = m2, nw = 1; break;
    }
    for (int64_t u = 0; u < nu; u++)
      for (int64_t vv = 0; vv < nv; vv++)
        for (int64_t ww = 0; ww < nw; ww++) {
          int64_t v = vv, o, widx;
          switch (in->mode) {
            case OEQ_MODE_UVW: o = ww, widx = (u * m2 + v) * mo + ww; break;
            case OEQ_MODE_UVU: o = u, widx = u * m2 + v; break;
            case OEQ_MODE_UVV: o = v, widx = u * m2 + v; break;
            case OEQ_MODE_UUW: v = u, o = ww, widx = u * mo + ww; break;
            case OEQ_MODE_UUU: v = u, o = u, widx = u; break;
            default: o = u * m2 + v, widx = u * m2 + v; break; /* uvuv */
          }
          double W = in->has_weight ? w[this_off + widx] : 1.0;
          const double *xu = x + xo + u * d1, *yv = y + yo + v * d2;
          if (!backward) {
            double *zo_ = z + zo + o * d3;
            for (int a = 0; a < d1; a++)
              for (int b = 0; b < d2; b++)
                for (int c = 0; c < d3; c++)
                  zo_[c] += coef * W * C[(a * d2 + b) * d3 + c] * xu[a] * yv[b];
          } else {
            const double *g = dz + zo + o * d3;
            double *gx = dx + xo + u * d1, *gy = dy + yo + v * d2, t = 0.0;
            for (int a = 0; a < d1; a++)
              for (int b = 0; b < d2; b++)
                for (int c = 0; c < d3; c++) {
                  double cg_ = coef * C[(a * d2 + b) * d3 + c] * g[c];
                  gx[a] += W * cg_ * yv[b];
                  gy[b] += W * cg_ * xu[a];
                  t += cg_ * xu[a] * yv[b];
                }
            if (in->has_weight) dw[this_off + widx] += t;
          }
        }
  }
  return 0;
}
#endif /* OEQ_TEST_REFERENCE */

#endif
