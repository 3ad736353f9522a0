/* gpu_cases.h: the problems and CPU-vs-GPU comparison of tests/test_gpu.c
 * (header-only: static functions). Include it after criterion, oeq.h and
 * support.h. The GPU plans' runtime is a field of each case, so one case
 * body serves CUDA and HIP. */
#ifndef OEQ_TESTS_GPU_CASES_H
#define OEQ_TESTS_GPU_CASES_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

/* ----------------------------------------------------------- test problems */

typedef enum { P_MIXED, P_MACE, P_LIPS, P_DIFFDOCK, P_TETRIS, P_TETRIS1, P_E3T, P_DIRECT, P_PAIRS, P_E3T_GAP, P_WIDE, P_WIDE13 } problem_id_t;

/* One instruction of a hand-built problem (weights with path weight 1). */
typedef struct {
  int i1, i2, o;
  oeq_mode_t m;
  int w;
} instruction_t;

static oeq_problem_t *problem_with(const char *in1, const char *in2, const char *out,
                                   const instruction_t *ins, size_t n) {
  oeq_problem_t *p = NULL;
  cr_assert_eq(oeq_problem_create(in1, in2, out, &p), OEQ_SUCCESS, "%s", oeq_last_error());
  for (size_t i = 0; i < n; i++)
    cr_assert_eq(oeq_problem_add_instruction(p, ins[i].i1, ins[i].i2, ins[i].o, ins[i].m, ins[i].w, 1.0),
                 OEQ_SUCCESS, "instruction %zu: %s", i, oeq_last_error());
  return p;
}

/* Every mode, weighted and unweighted, several paths into one output, an
 * output block no path reaches, an input block no path reads. */
static oeq_problem_t *mixed_problem(void) {
  static const instruction_t ins[] = {
      {1, 0, 0, OEQ_MODE_UVU, 1},  {1, 2, 0, OEQ_MODE_UVU, 0},  {1, 1, 1, OEQ_MODE_UUU, 0},
      {1, 1, 2, OEQ_MODE_UUW, 1},  {2, 2, 3, OEQ_MODE_UVV, 1},  {2, 2, 4, OEQ_MODE_UVUV, 0},
      {0, 1, 5, OEQ_MODE_UVW, 1},  {1, 0, 5, OEQ_MODE_UVW, 1},  {1, 1, 7, OEQ_MODE_UVU, 1},
      {1, 1, 8, OEQ_MODE_UUW, 0},  {1, 1, 1, OEQ_MODE_UUU, 1},  {2, 2, 4, OEQ_MODE_UVUV, 1},
      {2, 2, 3, OEQ_MODE_UVV, 0},
  };
  return problem_with("33x0e+33x1o+5x2e+4x3o", "1x0e+33x1o+3x1e",
                      "33x1o+33x0e+7x2e+3x2e+15x1e+4x1o+2x3o+33x1e+1x0e", ins, sizeof ins / sizeof ins[0]);
}

/* Direct modes only, one weight per output channel (uvu with a single v,
 * uvv with a single u, uuu, uvuv), x wider than z: the forward that
 * prefetches weights into registers (tp_forward.c). Two paths into one
 * block, an unweighted path, partial chunks (33, 7, 40), an output block
 * no path reaches and an input block no path reads. */
static oeq_problem_t *direct_problem(void) {
  static const instruction_t ins[] = {
      {1, 0, 0, OEQ_MODE_UVU, 1}, {0, 1, 0, OEQ_MODE_UVU, 1}, {1, 1, 1, OEQ_MODE_UVU, 0},
      {0, 0, 1, OEQ_MODE_UVU, 1}, {2, 2, 2, OEQ_MODE_UVV, 1}, {3, 3, 3, OEQ_MODE_UUU, 1},
      {1, 1, 5, OEQ_MODE_UVU, 1}, {2, 0, 6, OEQ_MODE_UVUV, 1},
  };
  return problem_with("33x0e+33x1o+1x2e+40x1e+64x3o", "1x0e+1x1o+7x2e+40x1e",
                      "33x1o+33x0e+7x2e+40x1e+5x3o+33x2e+1x2e", ins, sizeof ins / sizeof ins[0]);
}

#define WIDE_IRREPS "128x0e+128x1o+128x2e"
#define PAIRS_IN1 "17x0e+9x1o+3x2e"
#define PAIRS_IN2 "5x0e+3x1o+1x2e"
#define PAIRS_OUT "17x0e+9x1o+11x2e+3x3o"

static oeq_problem_t *make_problem(problem_id_t id, oeq_dtype_t it, oeq_dtype_t wt,
                                   oeq_layout_t layout, int shared) {
  oeq_problem_t *p = NULL;
  oeq_status_t st = OEQ_SUCCESS;
  switch (id) {
    case P_MIXED: p = mixed_problem(); break;
    case P_DIRECT: p = direct_problem(); break;
    case P_MACE:
      st = oeq_problem_create_channelwise("128x0e+128x1o+128x2e", "1x0e+1x1o+1x2e+1x3o",
                                          "0e+1o+2e+3o", &p);
      break;
    case P_LIPS:
      st = oeq_problem_create_channelwise("32x0o+32x0e+32x1o+32x1e+32x2o+32x2e", "0e+1o+2e",
                                          "32x0o+32x0e+32x1o+32x1e+32x2o+32x2e", &p);
      break;
    case P_DIFFDOCK:
      st = oeq_problem_create_fully_connected("10x1o+10x1e+48x0e+48x0o", "1x0e+1x1o+1x2e",
                                              "10x1o+10x1e+48x0e+48x0o", &p);
      break;
    case P_TETRIS:
      st = oeq_problem_create_fully_connected("64x0e+24x1e+24x1o+16x2e+16x2o", "1x0e+1x1o+1x2e",
                                              "0o+6x0e", &p);
      break;
    /* uvw with wide outputs (lanes across o in the backward): one pair per
     * path (tetris-poly-1), and many pairs (e3tools_transformer). */
    case P_TETRIS1:
      st = oeq_problem_create_fully_connected("1x0e+1x1o+1x2e+1x3o", "1x0e+1x1o+1x2e+1x3o",
                                              "64x0e+24x1e+24x1o+16x2e+16x2o", &p);
      break;
    case P_E3T:
      st = oeq_problem_create_fully_connected("64x0e+16x1o", "1x0e+1x1o", "64x0e+16x1o", &p);
      break;
    /* uvw with many pairs and outputs, none a whole number of tensor-core
     * tiles (shared weights: dw in several tile groups, tp_dw_mma.c; in
     * float32 the forward on tensor cores too, tp_fwd_mma.c) */
    case P_PAIRS:
      st = oeq_problem_create_fully_connected(PAIRS_IN1, PAIRS_IN2, PAIRS_OUT, &p);
      break;
    /* an output block no path reaches (3e), z narrow enough for the
     * tensor-core forward to write its rows over the staged x and y */
    case P_E3T_GAP:
      st = oeq_problem_create_fully_connected("64x0e+16x1o", "1x0e+1x1o", "64x0e+16x1o+1x3e", &p);
      break;
    /* rows too wide to stage 16 at a time for the dw kernel (8), 22 tile
     * groups */
    case P_WIDE:
      st = oeq_problem_create_fully_connected(WIDE_IRREPS, "1x0e+1x1o+1x2e", WIDE_IRREPS, &p);
      break;
    case P_WIDE13: /* 13 paths: 26 dw tile groups, tile tables beyond __constant__ memory */
      st = oeq_problem_create_fully_connected(WIDE_IRREPS, "1x0e+1x1o+1x2e+1x3o", WIDE_IRREPS, &p);
      break;
  }
  cr_assert_eq(st, OEQ_SUCCESS, "%s", oeq_last_error());
  cr_assert_eq(oeq_problem_set_dtypes(p, it, wt), OEQ_SUCCESS);
  cr_assert_eq(oeq_problem_set_layout(p, layout), OEQ_SUCCESS);
  cr_assert_eq(oeq_problem_set_shared_weights(p, shared), OEQ_SUCCESS);
  return p;
}

/* ------------------------------------------------------------ host arrays */

static size_t dsize(oeq_dtype_t t) { return t == OEQ_FLOAT64 ? 8 : 4; }

static double element(oeq_dtype_t t, const void *v, int64_t i) {
  return t == OEQ_FLOAT64 ? ((const double *)v)[i] : ((const float *)v)[i];
}

/* got against ref (both n values of dtype t, on the host): relative Frobenius
 * error <= tol and largest element error <= 10 tol (scaled). One pass, no
 * copies: the largest cases hold gigabytes (DiffDock weights at batch
 * 200,000), and tests run in parallel. A failure names the array (`what`),
 * its size, the first NaN and the worst element with both values. */
static void expect_host_close(oeq_dtype_t t, const void *got, const void *ref, int64_t n,
                              double tol, const char *what) {
  double num = 0, den = 0, max_abs = 0, scale = 0;
  int64_t first_nan = -1, worst = 0;
  for (int64_t i = 0; i < n; i++) {
    const double g = element(t, got, i), r = element(t, ref, i), d = fabs(g - r);
    if (isnan(d)) {
      if (first_nan < 0) first_nan = i;
      continue;
    }
    num += d * d;
    den += r * r;
    if (d > max_abs) max_abs = d, worst = i;
    if (fabs(r) > scale) scale = fabs(r);
  }
  if (first_nan >= 0) {
    cr_expect(0, "%s (%lld values): NaN at element %lld (got %g, want %g)", what, (long long)n,
              (long long)first_nan, element(t, got, first_nan), element(t, ref, first_nan));
    return;
  }
  const double rel = den > 0 ? sqrt(num / den) : sqrt(num);
  cr_expect(rel <= tol, "%s (%lld values): relative error %.3g > %.1g (worst element %lld: got %.17g, want %.17g)",
            what, (long long)n, rel, tol, (long long)worst, n ? element(t, got, worst) : 0.0,
            n ? element(t, ref, worst) : 0.0);
  cr_expect(max_abs <= 10 * tol * (scale > 1 ? scale : 1),
            "%s (%lld values): max abs error %.3g (scale %.3g) at element %lld: got %.17g, want %.17g",
            what, (long long)n, max_abs, scale, (long long)worst, n ? element(t, got, worst) : 0.0,
            n ? element(t, ref, worst) : 0.0);
}

/* -------------------------------------------------------- the comparison */

typedef struct tp_case {
  oeq_backend_t rt; /* the GPU plan's runtime */
  oeq_problem_t *problem;
  oeq_plan_t *cpu, *gpu;
  int64_t x_dim, y_dim, z_dim, w_numel;
  oeq_dtype_t it, wt;
  int shared;
} tp_case_t;

static void open_case(tp_case_t *c, oeq_backend_t rt, oeq_problem_t *p, oeq_dtype_t it, oeq_dtype_t wt,
                      int shared) {
  *c = (tp_case_t){.rt = rt, .problem = p, .it = it, .wt = wt, .shared = shared};
  cr_assert_eq(oeq_problem_dims(p, &c->x_dim, &c->y_dim, &c->z_dim), OEQ_SUCCESS);
  cr_assert_eq(oeq_problem_weight_numel(p, &c->w_numel), OEQ_SUCCESS);
  cr_assert_eq(oeq_plan_create_tp(p, OEQ_BACKEND_CPU, 0, &c->cpu), OEQ_SUCCESS, "%s", oeq_last_error());
  cr_assert_eq(oeq_plan_create_tp(p, rt, 0, &c->gpu), OEQ_SUCCESS, "%s plan: %s", rt == OEQ_BACKEND_CUDA ? "CUDA" : "HIP",
               oeq_last_error());
}

static void close_case(tp_case_t *c) {
  oeq_plan_destroy(c->cpu);
  oeq_plan_destroy(c->gpu);
  oeq_problem_destroy(c->problem);
}

/* The CPU reference: forward into z, backward into dx, dy, dw (host arrays). */
static void cpu_reference(const tp_case_t *c, int64_t batch, const void *x, const void *y,
                          const void *w, const void *dz, void *z, void *dx, void *dy, void *dw) {
  const void *wh = c->w_numel ? w : NULL;
  cr_assert_eq(oeq_tp_forward(c->cpu, batch, x, y, wh, z, NULL), OEQ_SUCCESS, "%s",
               oeq_last_error());
  cr_assert_eq(oeq_tp_backward(c->cpu, batch, x, y, wh, dz, dx, dy, c->w_numel ? dw : NULL, NULL),
               OEQ_SUCCESS, "%s", oeq_last_error());
}

#endif
