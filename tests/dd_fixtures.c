/* dd_fixtures.c: the double backward against e3nn's autograd (float64, CPU).
 *
 * tests/fixtures/dd_manifest.txt and <case>.bin are written on a machine with
 * torch and e3nn by tests/fixtures/gen_double_backward_fixtures.py (format in
 * its docstring): per case, an e3nn TensorProduct, random x, y, w, dz, ddx,
 * ddy, ddw, and the gradients gx, gy, gw, gdz of <ddx, dx> + <ddy, dy> +
 * <ddw, dw> from torch.autograd.grad(create_graph=True). oeq's
 * oeq_tp_double_backward must match them to 1e-12 (relative Frobenius),
 * the bound the forward / backward fixtures use. Without the manifest the
 * test is skipped, saying so. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_support.h"
#include "fixture_io.h"
#include "support.h"

#define MANIFEST "dd_manifest.txt"
#define MAX_CASES 16

typedef struct {
  fx_tp_t tp;
  int64_t batch;
} dd_fx_case_t;

static int case_key(void *cur, const char *key, const char *v) {
  dd_fx_case_t *c = cur;
  if (strcmp(key, "batch") == 0) return sscanf(v, "%" SCNd64, &c->batch) != 1 || c->batch < 1;
  return -1;
}

static double *read_all(const char *name, int64_t n, char *err, size_t errn) {
  char dir[1024], path[1400];
  fx_fixture_dir(dir, sizeof dir);
  snprintf(path, sizeof path, "%.1024s/%.255s.bin", dir, name);
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(err, errn, "cannot open %s", path);
    return NULL;
  }
  double *buf = malloc((size_t)n * sizeof(double));
  size_t got = buf ? fread(buf, sizeof(double), (size_t)n + 1, f) : 0;
  fclose(f);
  if (!buf || got != (size_t)n) {
    snprintf(err, errn, "%s: %zu values, expected %lld", path, got, (long long)n);
    free(buf);
    return NULL;
  }
  return buf;
}

Test(double_backward, e3nn_fixtures) {
  static dd_fx_case_t cur, cases[MAX_CASES];
  static const fx_hooks_t hooks = {NULL, case_key, NULL};
  char dir[1024], path[1400], err[1600];
  fx_fixture_dir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/%s", dir, MANIFEST);
  FILE *probe = fopen(path, "r");
  if (!probe)
    cr_skip_test("no %s: generate it with tests/fixtures/gen_double_backward_fixtures.py "
                 "(needs torch and e3nn)", path);
  fclose(probe);
  const int n = fx_read_manifest(MANIFEST, &cur, sizeof cur, &cur.tp, cases, MAX_CASES, &hooks, err,
                                 sizeof err);
  cr_assert(n > 0, "%s: %s", path, n < 0 ? err : "no cases");
  for (int i = 0; i < n; i++) {
    const dd_fx_case_t *c = &cases[i];
    const fx_tp_t *t = &c->tp;
    oeq_problem_t *p = NULL;
    cr_assert_eq(fx_build_problem(t, OEQ_FLOAT64, &p, err, sizeof err), 0, "%s", err);
    cr_assert_eq(fx_check_dims(t, p, NULL, err, sizeof err), 0, "%s", err);
    dd_case_t dc;
    char why[600];
    cr_assert_eq(dd_case_init(&dc, p, OEQ_BACKEND_CPU, 0, 0, c->batch, c->batch, c->batch, 0, why,
                              sizeof why),
                 0, "%s: %s", t->name, why);
    oeq_problem_destroy(p);
    const int64_t nx = dd_nx(&dc), ny = dd_ny(&dc), nw = dd_nw(&dc), nz = dd_nz(&dc);
    double *all = read_all(t->name, 3 * nx + 3 * ny + 3 * nw + 2 * nz, err, sizeof err);
    cr_assert_not_null(all, "%s", err);
    double *x = all, *y = x + nx, *w = y + ny, *dz = w + nw, *ddx = dz + nz, *ddy = ddx + nx,
           *ddw = ddy + ny, *rgx = ddw + nw, *rgy = rgx + nx, *rgw = rgy + ny, *rgdz = rgw + nw;
    double *gx = malloc((size_t)(nx + ny + nw + nz + 4) * sizeof(double));
    double *gy = gx + nx + 1, *gw = gy + ny + 1, *gdz = gw + nw + 1;
    test_poison_double(gx, nx + ny + nw + nz + 4);
    cr_assert_eq(dd_double(&dc, x, y, w, dz, ddx, ddy, ddw, gx, gy, gw, gdz, 0), OEQ_SUCCESS, "%s: %s",
                 t->name, oeq_last_error());
    const double e[4] = {test_rel_error(gx, rgx, nx), test_rel_error(gy, rgy, ny),
                         test_rel_error(gw, rgw, nw), test_rel_error(gdz, rgdz, nz)};
    const char *names[4] = {"gx", "gy", "gw", "gdz"};
    for (int k = 0; k < 4; k++)
      cr_expect(e[k] <= 1e-12, "%s: %s relative error %g vs e3nn", t->name, names[k], e[k]);
    free(gx);
    free(all);
    dd_case_free(&dc);
  }
}
