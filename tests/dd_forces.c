/* dd_forces.c: conservative forces and a symmetric Hessian from oeq's
 * convolution (float64; CPU always, CUDA / HIP where a device is present).
 *
 * The energy of N atoms at positions p: every ordered pair (i, j), i != j,
 * is an edge with receiver i, sender j and r = p_i - p_j, carrying
 *   y = (Y_0, Y_1, Y_2)(r): e3nn's real spherical harmonics l <= 2 with
 *       component normalization, unnormalized vector (e3nn's
 *       normalize=False: homogeneous polynomials, Y_1 = sqrt(3) r,
 *       Y_2 = (sqrt(15) xz, sqrt(15) xy, sqrt(5)(y^2 - (x^2 + z^2)/2),
 *       sqrt(15) yz, sqrt(15)/2 (z^2 - x^2))),
 *   w = R(|r|^2): smooth radial weights a_k exp(-b_k |r|^2);
 * z = conv(x, y, w) with per-atom invariant features x (4x0e) and the
 * channelwise paths 0e x l -> l (l = 0, 1, 2); E = 1/2 sum_i sum_c k_l z_ic^2
 * (k_l = 1, 0.5, 0.25 per output block): a rotation-invariant scalar.
 *
 * Checks: forces from oeq's backward and the chain rule equal -dE/dp by
 * central differences; the Hessian H (columns H e_k from oeq's double
 * backward: H v = J_q^T (gq + backward(e'' . gdz)) + sum b . d2q v, see
 * hessian_vector) is symmetric to 1e-10 relative and matches central
 * differences of the forces.
 *
 * Tolerances: E is smooth with O(1) derivatives here; a central difference
 * with step h = 1e-4 has truncation error h^2/6 |f'''| ~ 2e-9 and rounding
 * error eps |f| / h ~ 1e-12, so 1e-7 (relative to the gradient's norm)
 * leaves a margin of 50 and still catches any wrong term (those are O(1)).
 * The Hessian's symmetry involves no differences at all: a correct double
 * backward is symmetric to rounding (~1e-15), so 1e-10 is strict. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_support.h"
#include "gpu_runtime.h"
#include "support.h"

#define N_ATOMS 6
#define N_DOF (3 * N_ATOMS)
#define N_EDGES (N_ATOMS * (N_ATOMS - 1))
#define N_SH 9
#define N_FEAT 4
#define N_W 12 /* 3 paths x 4 channels */

typedef struct {
  dd_case_t c;
  double x[N_ATOMS * N_FEAT];
  double a[N_W], b[N_W];
  int32_t rows[N_EDGES], cols[N_EDGES];
  int64_t z_dim;
  double k[64]; /* readout weight of each z element */
} model_t;

/* Y_k(r) = g_k . r + 1/2 r^T A_k r (+ 1 for k = 0): value, gradient and
 * (constant) Hessian of each component. */
static void sh_terms(double g[N_SH][3], double A[N_SH][3][3]) {
  memset(g, 0, sizeof(double) * N_SH * 3);
  memset(A, 0, sizeof(double) * N_SH * 9);
  const double s3 = sqrt(3.0), s5 = sqrt(5.0), s15 = sqrt(15.0);
  for (int j = 0; j < 3; j++) g[1 + j][j] = s3;
  A[4][0][2] = A[4][2][0] = s15;        /* sqrt(15) x z */
  A[5][0][1] = A[5][1][0] = s15;        /* sqrt(15) x y */
  A[6][0][0] = A[6][2][2] = -s5;        /* sqrt(5) (y^2 - (x^2 + z^2) / 2) */
  A[6][1][1] = 2 * s5;
  A[7][1][2] = A[7][2][1] = s15;        /* sqrt(15) y z */
  A[8][0][0] = -s15, A[8][2][2] = s15;  /* sqrt(15) / 2 (z^2 - x^2) */
}

static double sh_value(int k, const double r[3], double g[N_SH][3], double A[N_SH][3][3]) {
  double v = k == 0 ? 1.0 : 0.0;
  for (int i = 0; i < 3; i++) {
    v += g[k][i] * r[i];
    for (int j = 0; j < 3; j++) v += 0.5 * r[i] * A[k][i][j] * r[j];
  }
  return v;
}

/* Edge geometry: y, w and their first derivatives d/dr (jy[e][k][3], jw). */
static void edges_of(const model_t *m, const double *p, double *y, double *w, double *jy,
                     double *jw) {
  double g[N_SH][3], A[N_SH][3][3];
  sh_terms(g, A);
  for (int e = 0; e < N_EDGES; e++) {
    double r[3];
    for (int i = 0; i < 3; i++) r[i] = p[3 * m->rows[e] + i] - p[3 * m->cols[e] + i];
    const double s = r[0] * r[0] + r[1] * r[1] + r[2] * r[2];
    for (int k = 0; k < N_SH; k++) {
      y[e * N_SH + k] = sh_value(k, r, g, A);
      for (int i = 0; i < 3; i++) {
        double d = g[k][i];
        for (int j = 0; j < 3; j++) d += A[k][i][j] * r[j];
        if (jy) jy[(e * N_SH + k) * 3 + i] = d;
      }
    }
    for (int k = 0; k < N_W; k++) {
      const double R = m->a[k] * exp(-m->b[k] * s);
      w[e * N_W + k] = R;
      for (int i = 0; i < 3; i++)
        if (jw) jw[(e * N_W + k) * 3 + i] = -2.0 * m->b[k] * R * r[i];
    }
  }
}

/* E(p), and dz = dE/dz (may be NULL). */
static double energy(const model_t *m, const double *p, double *dz_out) {
  double y[N_EDGES * N_SH], w[N_EDGES * N_W], z[N_ATOMS * 64];
  edges_of(m, p, y, w, NULL, NULL);
  cr_assert_eq(dd_forward(&m->c, m->x, y, w, z), OEQ_SUCCESS, "forward: %s", oeq_last_error());
  double E = 0;
  for (int i = 0; i < N_ATOMS; i++)
    for (int64_t q = 0; q < m->z_dim; q++) {
      const double v = z[i * m->z_dim + q];
      E += 0.5 * m->k[q] * v * v;
      if (dz_out) dz_out[i * m->z_dim + q] = m->k[q] * v;
    }
  return E;
}

/* Scatter a per-edge d/dr into per-atom gradients (r = p_row - p_col). */
static void scatter(const model_t *m, int e, const double gr[3], double *out) {
  for (int i = 0; i < 3; i++) {
    out[3 * m->rows[e] + i] += gr[i];
    out[3 * m->cols[e] + i] -= gr[i];
  }
}

/* dE/dp through oeq's backward and the chain rule. */
static void gradient(const model_t *m, const double *p, double *grad) {
  double y[N_EDGES * N_SH], w[N_EDGES * N_W], jy[N_EDGES * N_SH * 3], jw[N_EDGES * N_W * 3];
  double dz[N_ATOMS * 64], gx[N_ATOMS * N_FEAT], gy[N_EDGES * N_SH], gw[N_EDGES * N_W];
  edges_of(m, p, y, w, jy, jw);
  energy(m, p, dz);
  cr_assert_eq(dd_backward(&m->c, m->x, y, w, dz, gx, gy, gw), OEQ_SUCCESS, "backward: %s",
               oeq_last_error());
  memset(grad, 0, sizeof(double) * N_DOF);
  for (int e = 0; e < N_EDGES; e++) {
    double gr[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++) {
      for (int k = 0; k < N_SH; k++) gr[i] += gy[e * N_SH + k] * jy[(e * N_SH + k) * 3 + i];
      for (int k = 0; k < N_W; k++) gr[i] += gw[e * N_W + k] * jw[(e * N_W + k) * 3 + i];
    }
    scatter(m, e, gr, grad);
  }
}

/* H v through oeq's double backward. With q = (y, w) per edge and
 * b = backward(x, q, dz) (dz = e'(z)), grad E = J_q^T b, so
 *   H v = J_q^T [d b / d q . u + d b / d dz . e'' . J_zq u] + sum_e b_e . d2q_e u,
 * u = J_q v. d b / d q is the Hessian of <dz, z(q)> (symmetric), so its
 * product with u is the double backward's (gy, gw) for cotangents
 * (ddy, ddw) = u; J_zq u is its gdz, and d b / d dz = J_zq^T is one more
 * backward, of e'' . gdz. */
static void hessian_vector(const model_t *m, const double *p, const double *v, double *hv) {
  double y[N_EDGES * N_SH], w[N_EDGES * N_W], jy[N_EDGES * N_SH * 3], jw[N_EDGES * N_W * 3];
  double dz[N_ATOMS * 64], t[N_ATOMS * 64], gdz[N_ATOMS * 64];
  double by[N_EDGES * N_SH], bw[N_EDGES * N_W], bx[N_ATOMS * N_FEAT];
  double uy[N_EDGES * N_SH], uw[N_EDGES * N_W], ur[N_EDGES][3];
  double gx[N_ATOMS * N_FEAT], gy[N_EDGES * N_SH], gw[N_EDGES * N_W];
  double ty[N_EDGES * N_SH], tw[N_EDGES * N_W];
  double g[N_SH][3], A[N_SH][3][3];
  sh_terms(g, A);
  edges_of(m, p, y, w, jy, jw);
  energy(m, p, dz);
  cr_assert_eq(dd_backward(&m->c, m->x, y, w, dz, bx, by, bw), OEQ_SUCCESS, "%s", oeq_last_error());
  for (int e = 0; e < N_EDGES; e++) {
    for (int i = 0; i < 3; i++) ur[e][i] = v[3 * m->rows[e] + i] - v[3 * m->cols[e] + i];
    for (int k = 0; k < N_SH; k++) {
      uy[e * N_SH + k] = 0;
      for (int i = 0; i < 3; i++) uy[e * N_SH + k] += jy[(e * N_SH + k) * 3 + i] * ur[e][i];
    }
    for (int k = 0; k < N_W; k++) {
      uw[e * N_W + k] = 0;
      for (int i = 0; i < 3; i++) uw[e * N_W + k] += jw[(e * N_W + k) * 3 + i] * ur[e][i];
    }
  }
  /* x is constant: no ddx */
  cr_assert_eq(dd_double(&m->c, m->x, y, w, dz, NULL, uy, uw, gx, gy, gw, gdz, 0), OEQ_SUCCESS,
               "double backward: %s", oeq_last_error());
  for (int i = 0; i < N_ATOMS; i++)
    for (int64_t q = 0; q < m->z_dim; q++) t[i * m->z_dim + q] = m->k[q] * gdz[i * m->z_dim + q];
  cr_assert_eq(dd_backward(&m->c, m->x, y, w, t, bx, ty, tw), OEQ_SUCCESS, "%s", oeq_last_error());
  memset(hv, 0, sizeof(double) * N_DOF);
  for (int e = 0; e < N_EDGES; e++) {
    double r[3], hr[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++) r[i] = p[3 * m->rows[e] + i] - p[3 * m->cols[e] + i];
    const double s = r[0] * r[0] + r[1] * r[1] + r[2] * r[2];
    for (int i = 0; i < 3; i++) {
      for (int k = 0; k < N_SH; k++) {
        hr[i] += (gy[e * N_SH + k] + ty[e * N_SH + k]) * jy[(e * N_SH + k) * 3 + i];
        for (int j = 0; j < 3; j++) hr[i] += by[e * N_SH + k] * A[k][i][j] * ur[e][j];
      }
      for (int k = 0; k < N_W; k++) {
        hr[i] += (gw[e * N_W + k] + tw[e * N_W + k]) * jw[(e * N_W + k) * 3 + i];
        /* d2 R / dr2 = R (4 b^2 r r^T - 2 b I) */
        const double R = m->a[k] * exp(-m->b[k] * s), bk = m->b[k];
        for (int j = 0; j < 3; j++)
          hr[i] += bw[e * N_W + k] * R * (4 * bk * bk * r[i] * r[j] - (i == j ? 2 * bk : 0)) * ur[e][j];
      }
    }
    scatter(m, e, hr, hv);
  }
}

static void model_init(model_t *m, oeq_backend_t b, uint32_t flags) {
  oeq_problem_t *p = NULL;
  cr_assert_eq(oeq_problem_create("4x0e", "0e+1o+2e", "4x0e+4x1o+4x2e", &p), OEQ_SUCCESS);
  for (int l = 0; l < 3; l++)
    cr_assert_eq(oeq_problem_add_instruction(p, 0, l, l, OEQ_MODE_UVU, 1, 1.0), OEQ_SUCCESS, "%s",
                 oeq_last_error());
  cr_assert_eq(oeq_problem_set_dtypes(p, OEQ_FLOAT64, OEQ_FLOAT64), OEQ_SUCCESS);
  cr_assert_eq(oeq_problem_set_shared_weights(p, 0), OEQ_SUCCESS);
  char why[600];
  int rc = dd_case_init(&m->c, p, b, 1, flags, N_ATOMS, N_ATOMS, N_EDGES, 1, why, sizeof why);
  oeq_problem_destroy(p);
  cr_assert_eq(rc, 0, "%s", why);
  cr_assert_eq(m->c.y_dim, N_SH);
  cr_assert_eq(m->c.numel, N_W);
  m->z_dim = m->c.z_dim;
  cr_assert(m->z_dim <= 64);
  /* every ordered pair, receivers in order */
  int e = 0;
  for (int i = 0; i < N_ATOMS; i++)
    for (int j = 0; j < N_ATOMS; j++)
      if (i != j) m->rows[e] = i, m->cols[e] = j, e++;
  dd_case_set_graph(&m->c, m->rows, m->cols);
  test_rng_t r = {0xf0ce5};
  test_fill_double(&r, m->x, N_ATOMS * N_FEAT);
  for (int k = 0; k < N_W; k++) m->a[k] = test_rng_uniform(&r), m->b[k] = 0.45 + 0.25 * test_rng_uniform(&r);
  /* readout weights: 1 on the scalars, 0.5 on l = 1, 0.25 on l = 2 */
  for (int64_t q = 0; q < m->z_dim; q++) m->k[q] = q < 4 ? 1.0 : q < 16 ? 0.5 : 0.25;
}

static double norm(const double *v, int n) { return sqrt(dd_dot(v, v, n)); }

static void positions(double *p) {
  test_rng_t r = {0xa70b5};
  for (int i = 0; i < N_DOF; i++) p[i] = 1.2 * test_rng_uniform(&r);
}

static void check_forces(oeq_backend_t b, uint32_t flags, const char *what) {
  model_t m;
  model_init(&m, b, flags);
  double p[N_DOF], grad[N_DOF], fd[N_DOF], q[N_DOF];
  positions(p);
  gradient(&m, p, grad);
  const double h = 1e-4;
  for (int k = 0; k < N_DOF; k++) {
    memcpy(q, p, sizeof q);
    q[k] = p[k] + h;
    const double ep = energy(&m, q, NULL);
    q[k] = p[k] - h;
    const double em = energy(&m, q, NULL);
    fd[k] = (ep - em) / (2 * h);
  }
  double diff[N_DOF];
  for (int k = 0; k < N_DOF; k++) diff[k] = grad[k] - fd[k];
  cr_expect(norm(grad, N_DOF) > 1e-3, "%s: a vanishing gradient tests nothing", what);
  cr_expect(norm(diff, N_DOF) <= 1e-7 * norm(grad, N_DOF),
            "%s: forces vs -dE/dp by differences: |diff| %g, |grad| %g", what, norm(diff, N_DOF),
            norm(grad, N_DOF));

  /* The Hessian, column by column, from the double backward. */
  double H[N_DOF][N_DOF], e[N_DOF];
  for (int k = 0; k < N_DOF; k++) {
    memset(e, 0, sizeof e);
    e[k] = 1;
    hessian_vector(&m, p, e, H[k]); /* H[k] = H e_k: column k */
  }
  double hmax = 0, asym = 0;
  for (int i = 0; i < N_DOF; i++)
    for (int j = 0; j < N_DOF; j++) {
      hmax = fmax(hmax, fabs(H[i][j]));
      asym = fmax(asym, fabs(H[i][j] - H[j][i]));
    }
  cr_expect(hmax > 1e-3, "%s: a vanishing Hessian tests nothing", what);
  cr_expect(asym <= 1e-10 * hmax, "%s: Hessian asymmetry %g (max |H| %g)", what, asym, hmax);
  /* ... and matches differences of the gradient along a few directions */
  test_rng_t r = {0xd1ec};
  for (int t = 0; t < 3; t++) {
    double v[N_DOF], hv[N_DOF], gp[N_DOF], gm[N_DOF], fdv[N_DOF];
    test_fill_double(&r, v, N_DOF);
    hessian_vector(&m, p, v, hv);
    for (int i = 0; i < N_DOF; i++) q[i] = p[i] + h * v[i];
    gradient(&m, q, gp);
    for (int i = 0; i < N_DOF; i++) q[i] = p[i] - h * v[i];
    gradient(&m, q, gm);
    for (int i = 0; i < N_DOF; i++) fdv[i] = (gp[i] - gm[i]) / (2 * h), diff[i] = fdv[i] - hv[i];
    cr_expect(norm(diff, N_DOF) <= 1e-7 * norm(hv, N_DOF),
              "%s: H v (direction %d) vs differences of the forces: |diff| %g, |H v| %g", what, t,
              norm(diff, N_DOF), norm(hv, N_DOF));
  }
  dd_case_free(&m.c);
}

Test(double_backward, conservative_forces_cpu) {
  check_forces(OEQ_BACKEND_CPU, 0, "CPU");
  check_forces(OEQ_BACKEND_CPU, OEQ_CONV_DETERMINISTIC, "CPU deterministic");
}

RT_TEST(dd_cuda, dd_hip, conservative_forces) {
  RT_REQUIRE(rt, TEST_RT_MEMORY);
  char what[64];
  snprintf(what, sizeof what, "%s atomic", test_rt_name(rt));
  check_forces(rt, 0, what);
  snprintf(what, sizeof what, "%s deterministic", test_rt_name(rt));
  check_forces(rt, OEQ_CONV_DETERMINISTIC, what);
  test_rt_leave(rt);
}
