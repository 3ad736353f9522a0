/* test_symcon.c: MACE's symmetric contraction on the CPU backend, and its
 * fixtures on the GPU backends too.
 *
 * Fixtures (tests/fixtures/symcon/ (JSON)): float64 outputs of MACE's own
 * SymmetricContraction (legacy U basis): z, dx and dweights must match to
 * 1e-12 (float64) and 1e-5 (float32 from the float64 inputs rounded), and
 * the weight layout (K per output irrep and nu) must be MACE's; the same
 * bounds hold for CUDA and HIP plans (suites symcon_fixture_cuda / _hip,
 * skipped without a device). Besides:
 * equivariance under random rotations (Wigner D built from the CG tensors)
 * and inversion, finite differences of dx and dw, and the error contract. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg.h"
#include "gpu_runtime.h"
#include "oeq.h"
#include "problem.h"
#include "support.h"
#include "symcon.h"

#define OK(call)                                                                                \
  do {                                                                                          \
    oeq_status_t st_ = (call);                                                                  \
    cr_assert_eq(st_, OEQ_SUCCESS, "%s failed: %s (%s)", #call, oeq_status_string(st_),         \
                 oeq_last_error());                                                             \
  } while (0)

#define FAILS(status, call)                                                                     \
  do {                                                                                          \
    oeq_status_t st_ = (call);                                                                  \
    cr_assert_eq(st_, (status), "%s: got %s, want %s", #call, oeq_status_string(st_),          \
                 oeq_status_string(status));                                                    \
    cr_assert(oeq_last_error()[0] != '\0', "%s failed without a message", #call);              \
  } while (0)

/* ------------------------------------------------------------ tiny JSON */

static char *slurp(const char *name) {
  const char *src = getenv("OEQ_SRCDIR");
  char path[4096];
  snprintf(path, sizeof path, "%s/tests/fixtures/symcon/%s", src ? src : ".", name);
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f, "cannot open %s (set OEQ_SRCDIR to the source tree)", path);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *s = malloc((size_t)n + 1);
  cr_assert_not_null(s);
  cr_assert_eq(fread(s, 1, (size_t)n, f), (size_t)n);
  s[n] = '\0';
  fclose(f);
  return s;
}

/* Just past the ':' of the first "key": at or after from (before end). */
static const char *json_key(const char *from, const char *end, const char *key) {
  char pat[128];
  snprintf(pat, sizeof pat, "\"%s\"", key);
  for (const char *p = strstr(from, pat); p && p < end; p = strstr(p + 1, pat)) {
    const char *q = p + strlen(pat);
    while (*q == ' ' || *q == '\n') q++;
    if (*q == ':') return q + 1;
  }
  cr_assert_fail("key \"%s\" not found in the fixture", key);
  return NULL;
}

static const char *skip_ws(const char *p) {
  while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r') p++;
  return p;
}

/* The end (one past the matching bracket) of the array or object at p. */
static const char *json_end(const char *p) {
  p = skip_ws(p);
  int depth = 0;
  for (; *p; p++) {
    if (*p == '"') {
      for (p++; *p && *p != '"'; p++)
        if (*p == '\\') p++;
    } else if (*p == '[' || *p == '{') {
      depth++;
    } else if (*p == ']' || *p == '}') {
      if (--depth == 0) return p + 1;
    }
  }
  cr_assert_fail("unbalanced JSON");
  return NULL;
}

/* All numbers of the (possibly nested) array at p, flattened. */
static double *json_numbers(const char *p, int64_t *n) {
  p = skip_ws(p);
  cr_assert_eq(*p, '[', "expected an array");
  const char *end = json_end(p);
  int64_t cap = 64, k = 0;
  double *v = malloc((size_t)cap * sizeof *v);
  for (; p < end; p++) {
    if (*p == '-' || (*p >= '0' && *p <= '9')) {
      char *q;
      double d = strtod(p, &q);
      if (k == cap) v = realloc(v, (size_t)(cap *= 2) * sizeof *v);
      v[k++] = d;
      p = q - 1;
    }
  }
  *n = k;
  return v;
}

static double json_number(const char *p) { return strtod(skip_ws(p), NULL); }

static void json_string(const char *p, char *out, size_t n) {
  p = skip_ws(p);
  cr_assert_eq(*p, '"');
  size_t i = 0;
  for (p++; *p && *p != '"' && i + 1 < n; p++) out[i++] = *p;
  out[i] = '\0';
}

/* ------------------------------------------------------------ fixtures */

#define MAX_BLOCKS 32

typedef struct {
  char in[64], out[64];
  int correlation;
  int64_t E, C, batch;
  int32_t *species;
  double *x, *z, *dz, *dx, *w, *dw;
  int64_t nx, nz, nw;
  int nblocks;
  char block_irrep[MAX_BLOCKS][8];
  int block_nu[MAX_BLOCKS];
  int64_t block_shape[MAX_BLOCKS][3];
} fixture_t;

/* The weight list (of "weights" or "dweights") concatenated in order; the
 * block keys are recorded when `record`. */
static double *read_weights(fixture_t *f, const char *s, const char *key, int record, int64_t *n) {
  const char *p = skip_ws(json_key(s, s + strlen(s), key));
  const char *end = json_end(p);
  double *all = NULL;
  int64_t total = 0;
  int b = 0;
  for (const char *q = strstr(p, "\"values\""); q && q < end; q = strstr(q + 1, "\"values\""), b++) {
    /* this dict's other keys lie between the previous dict's end and q */
    const char *dict = q;
    while (*dict != '{') dict--;
    const char *dend = json_end(dict);
    if (record) {
      cr_assert_lt(b, MAX_BLOCKS);
      json_string(json_key(dict, dend, "irrep_out"), f->block_irrep[b], sizeof f->block_irrep[b]);
      f->block_nu[b] = (int)json_number(json_key(dict, dend, "nu"));
      int64_t ns;
      double *shape = json_numbers(json_key(dict, dend, "shape"), &ns);
      cr_assert_eq(ns, 3);
      for (int i = 0; i < 3; i++) f->block_shape[b][i] = (int64_t)shape[i];
      free(shape);
    }
    int64_t nv;
    double *v = json_numbers(json_key(q, dend, "values"), &nv);
    all = realloc(all, (size_t)(total + nv + 1) * sizeof *all);
    memcpy(all + total, v, (size_t)nv * sizeof *v);
    total += nv;
    free(v);
  }
  if (record) f->nblocks = b;
  *n = total;
  return all;
}

static fixture_t load_fixture(const char *name) {
  fixture_t f;
  memset(&f, 0, sizeof f);
  char *s = slurp(name);
  const char *end = s + strlen(s);
  json_string(json_key(s, end, "irreps_in_per_channel"), f.in, sizeof f.in);
  json_string(json_key(s, end, "irreps_out"), f.out, sizeof f.out);
  f.correlation = (int)json_number(json_key(s, end, "correlation"));
  f.E = (int64_t)json_number(json_key(s, end, "num_elements"));
  f.C = (int64_t)json_number(json_key(s, end, "num_features"));
  f.batch = (int64_t)json_number(json_key(s, end, "batch"));
  int64_t ns, n;
  double *sp = json_numbers(json_key(s, end, "species"), &ns);
  cr_assert_eq(ns, f.batch);
  f.species = malloc((size_t)ns * sizeof *f.species);
  for (int64_t i = 0; i < ns; i++) f.species[i] = (int32_t)sp[i];
  free(sp);
  f.x = json_numbers(json_key(s, end, "x"), &f.nx);
  f.z = json_numbers(json_key(s, end, "z"), &f.nz);
  f.dz = json_numbers(json_key(s, end, "dz"), &n);
  cr_assert_eq(n, f.nz);
  f.dx = json_numbers(json_key(s, end, "dx"), &n);
  cr_assert_eq(n, f.nx);
  f.w = read_weights(&f, s, "weights", 1, &f.nw);
  f.dw = read_weights(&f, s, "dweights", 0, &n);
  cr_assert_eq(n, f.nw);
  free(s);
  return f;
}

static void free_fixture(fixture_t *f) {
  free(f->species);
  free(f->x);
  free(f->z);
  free(f->dz);
  free(f->dx);
  free(f->w);
  free(f->dw);
}

static oeq_problem_t *make_problem(const char *in, const char *out, int corr, int64_t E, int64_t C,
                                   oeq_dtype_t dt) {
  oeq_problem_t *p = NULL;
  OK(oeq_problem_create_symmetric_contraction(in, out, corr, E, C, &p));
  OK(oeq_problem_set_dtypes(p, dt, dt));
  return p;
}

static oeq_plan_t *make_plan(const oeq_problem_t *p) {
  oeq_plan_t *plan = NULL;
  OK(oeq_plan_create_symmetric_contraction(p, OEQ_BACKEND_CPU, 0, &plan));
  return plan;
}

/* Bound on the largest difference: 1e-12 (f64) of the reference's scale. */
static void expect_close(const char *what, const char *name, const double *got, const double *want,
                         int64_t n, double tol) {
  double scale = 1.0;
  for (int64_t i = 0; i < n; i++) scale = fmax(scale, fabs(want[i]));
  double rel = test_rel_error(got, want, n), mx = test_max_abs_error(got, want, n);
  cr_expect(rel <= tol, "%s %s: relative error %.3g > %.1g", name, what, rel, tol);
  cr_expect(mx <= tol * scale, "%s %s: max abs error %.3g > %.1g", name, what, mx, tol * scale);
}

static void check_layout(const char *name, const fixture_t *f, const oeq_problem_t *p) {
  const oeq_symcon_t *sc = p->symcon;
  int b = 0;
  for (int o = 0; o < sc->n_out; o++)
    for (int nu = sc->correlation; nu >= 1; nu--, b++) {
      cr_assert_lt(b, f->nblocks, "%s: more weight blocks than the fixture", name);
      char ir[8];
      snprintf(ir, sizeof ir, "%d%c", sc->outs[o].l, sc->outs[o].parity > 0 ? 'e' : 'o');
      cr_expect_str_eq(ir, f->block_irrep[b], "%s block %d: irrep", name, b);
      cr_expect_eq(nu, f->block_nu[b], "%s block %d: nu", name, b);
      cr_expect_eq(sc->num_elements, f->block_shape[b][0], "%s block %d: E", name, b);
      cr_expect_eq(sc->outs[o].blocks[nu - 1].K, f->block_shape[b][1], "%s block %d (%s, nu %d): K",
                   name, b, ir, nu);
      cr_expect_eq(sc->channels, f->block_shape[b][2], "%s block %d: C", name, b);
    }
  cr_assert_eq(b, f->nblocks, "%s: %d weight blocks, fixture has %d", name, b, f->nblocks);
  int64_t numel = -1, d1 = -1, d2 = -1, d3 = -1;
  OK(oeq_problem_weight_numel(p, &numel));
  cr_expect_eq(numel, f->nw, "%s: weight_numel %lld, fixture %lld", name, (long long)numel,
               (long long)f->nw);
  OK(oeq_problem_dims(p, &d1, &d2, &d3));
  cr_expect_eq(d1 * f->batch, f->nx, "%s: x row width", name);
  cr_expect_eq(d2, 0);
  cr_expect_eq(d3 * f->batch, f->nz, "%s: z row width", name);
}

static void run_f64(const char *name, const fixture_t *f, oeq_plan_t *plan) {
  double *z = malloc((size_t)f->nz * sizeof *z), *dx = malloc((size_t)f->nx * sizeof *dx),
         *dw = malloc((size_t)f->nw * sizeof *dw);
  test_poison_double(z, f->nz);
  test_poison_double(dx, f->nx);
  test_poison_double(dw, f->nw);
  OK(oeq_symcon_forward(plan, f->batch, f->x, f->species, f->w, z, NULL));
  OK(oeq_symcon_backward(plan, f->batch, f->x, f->species, f->w, f->dz, dx, dw, NULL));
  expect_close("z", name, z, f->z, f->nz, 1e-12);
  expect_close("dx", name, dx, f->dx, f->nx, 1e-12);
  expect_close("dweights", name, dw, f->dw, f->nw, 1e-12);
  /* each gradient alone gives the same values */
  double *dx2 = malloc((size_t)f->nx * sizeof *dx2), *dw2 = malloc((size_t)f->nw * sizeof *dw2);
  test_poison_double(dx2, f->nx);
  test_poison_double(dw2, f->nw);
  OK(oeq_symcon_backward(plan, f->batch, f->x, f->species, f->w, f->dz, dx2, NULL, NULL));
  OK(oeq_symcon_backward(plan, f->batch, f->x, f->species, f->w, f->dz, NULL, dw2, NULL));
  cr_expect(memcmp(dx, dx2, (size_t)f->nx * sizeof *dx) == 0, "%s: dx alone differs", name);
  cr_expect(memcmp(dw, dw2, (size_t)f->nw * sizeof *dw) == 0, "%s: dw alone differs", name);
  free(dx2);
  free(dw2);
  free(z);
  free(dx);
  free(dw);
}

static float *to_float(const double *v, int64_t n) {
  float *f = malloc((size_t)(n > 0 ? n : 1) * sizeof *f);
  for (int64_t i = 0; i < n; i++) f[i] = (float)v[i];
  return f;
}

static double *to_double(const float *v, int64_t n) {
  double *d = malloc((size_t)(n > 0 ? n : 1) * sizeof *d);
  for (int64_t i = 0; i < n; i++) d[i] = v[i];
  return d;
}

static void run_f32(const char *name, const fixture_t *f, oeq_plan_t *plan) {
  float *x = to_float(f->x, f->nx), *w = to_float(f->w, f->nw), *dz = to_float(f->dz, f->nz);
  float *z = malloc((size_t)f->nz * sizeof *z), *dx = malloc((size_t)f->nx * sizeof *dx),
        *dw = malloc((size_t)f->nw * sizeof *dw);
  test_poison_float(z, f->nz);
  test_poison_float(dx, f->nx);
  test_poison_float(dw, f->nw);
  OK(oeq_symcon_forward(plan, f->batch, x, f->species, w, z, NULL));
  OK(oeq_symcon_backward(plan, f->batch, x, f->species, w, dz, dx, dw, NULL));
  double *zd = to_double(z, f->nz), *dxd = to_double(dx, f->nx), *dwd = to_double(dw, f->nw);
  cr_expect(test_rel_error(zd, f->z, f->nz) <= 1e-5, "%s f32 z: %.3g", name,
            test_rel_error(zd, f->z, f->nz));
  cr_expect(test_rel_error(dxd, f->dx, f->nx) <= 1e-5, "%s f32 dx: %.3g", name,
            test_rel_error(dxd, f->dx, f->nx));
  cr_expect(test_rel_error(dwd, f->dw, f->nw) <= 1e-5, "%s f32 dw: %.3g", name,
            test_rel_error(dwd, f->dw, f->nw));
  free(zd);
  free(dxd);
  free(dwd);
  free(x);
  free(w);
  free(dz);
  free(z);
  free(dx);
  free(dw);
}

static void check_fixture(const char *file) {
  fixture_t f = load_fixture(file);
  oeq_problem_t *p = make_problem(f.in, f.out, f.correlation, f.E, f.C, OEQ_FLOAT64);
  check_layout(file, &f, p);
  oeq_plan_t *plan = make_plan(p);
  run_f64(file, &f, plan);
  oeq_plan_destroy(plan);
  OK(oeq_problem_set_dtypes(p, OEQ_FLOAT32, OEQ_FLOAT32));
  plan = make_plan(p);
  run_f32(file, &f, plan);
  oeq_plan_destroy(plan);
  oeq_problem_destroy(p);
  free_fixture(&f);
}

/* ------------------------------------------------- fixtures on a GPU */

TestSuite(symcon_fixture_cuda, .timeout = 300);
TestSuite(symcon_fixture_hip, .timeout = 300);

/* n doubles as dtype dt in a new device buffer. */
static void *device_values(oeq_backend_t rt, const double *v, int64_t n, oeq_dtype_t dt) {
  size_t es = dt == OEQ_FLOAT64 ? 8 : 4;
  void *host = dt == OEQ_FLOAT64 ? (void *)v : (void *)to_float(v, n), *d = NULL;
  RT_CK(rt, test_rt_alloc(rt, &d, (size_t)n * es));
  RT_CK(rt, test_rt_to_device(rt, d, host, (size_t)n * es));
  if (host != v) free(host);
  return d;
}

/* A device buffer of n NaNs of dtype dt (unwritten elements show). */
static void *device_poisoned(oeq_backend_t rt, int64_t n, oeq_dtype_t dt) {
  double *nan = malloc((size_t)n * sizeof *nan);
  test_poison_double(nan, n);
  void *d = device_values(rt, nan, n, dt);
  free(nan);
  return d;
}

/* The device buffer (n values of dt) against the fixture's values. */
static void expect_device(oeq_backend_t rt, const char *what, const char *name, const void *dev,
                          const double *want, int64_t n, oeq_dtype_t dt) {
  size_t es = dt == OEQ_FLOAT64 ? 8 : 4;
  void *host = malloc((size_t)n * es);
  RT_CK(rt, test_rt_to_host(rt, host, dev, (size_t)n * es));
  double *got = dt == OEQ_FLOAT64 ? host : to_double(host, n);
  if (dt == OEQ_FLOAT64)
    expect_close(what, name, got, want, n, 1e-12);
  else
    cr_expect(test_rel_error(got, want, n) <= 1e-5, "%s f32 %s: %.3g", name, what, test_rel_error(got, want, n));
  if (got != host) free(got);
  free(host);
}

static void check_fixture_gpu(oeq_backend_t rt, const char *file) {
  RT_REQUIRE(rt, TEST_RT_MEMORY);
  fixture_t f = load_fixture(file);
  for (int dt = OEQ_FLOAT64; dt >= OEQ_FLOAT32; dt--) {
    oeq_dtype_t t = (oeq_dtype_t)dt;
    oeq_problem_t *p = make_problem(f.in, f.out, f.correlation, f.E, f.C, t);
    oeq_plan_t *plan = NULL;
    OK(oeq_plan_create_symmetric_contraction(p, rt, 0, &plan));
    void *x = device_values(rt, f.x, f.nx, t), *w = device_values(rt, f.w, f.nw, t),
         *dz = device_values(rt, f.dz, f.nz, t), *sp = NULL;
    RT_CK(rt, test_rt_alloc(rt, &sp, (size_t)f.batch * sizeof(int32_t)));
    RT_CK(rt, test_rt_to_device(rt, sp, f.species, (size_t)f.batch * sizeof(int32_t)));
    void *z = device_poisoned(rt, f.nz, t), *dx = device_poisoned(rt, f.nx, t),
         *dw = device_poisoned(rt, f.nw, t);
    OK(oeq_symcon_forward(plan, f.batch, x, sp, w, z, NULL));
    OK(oeq_symcon_backward(plan, f.batch, x, sp, w, dz, dx, dw, NULL));
    RT_CK(rt, test_rt_sync(rt, NULL));
    expect_device(rt, "z", file, z, f.z, f.nz, t);
    expect_device(rt, "dx", file, dx, f.dx, f.nx, t);
    expect_device(rt, "dweights", file, dw, f.dw, f.nw, t);
    void *bufs[] = {x, w, dz, sp, z, dx, dw};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) RT_CK(rt, test_rt_free(rt, bufs[i]));
    oeq_plan_destroy(plan);
    oeq_problem_destroy(p);
  }
  free_fixture(&f);
  test_rt_leave(rt);
}

#define FIXTURE_GPU_TEST(name, file)                                                              \
  RT_TEST(symcon_fixture_cuda, symcon_fixture_hip, name) { check_fixture_gpu(rt, file); }
FIXTURE_GPU_TEST(fixture_0e1o_to_0e1o_c2, "symcon_public_0_0e1o_to_0e1o_c2.json")
FIXTURE_GPU_TEST(fixture_0e1o2e_to_0e_c3, "symcon_public_1_0e1o2e_to_0e_c3.json")
FIXTURE_GPU_TEST(fixture_0e1o2e3o_to_0e1o2e_c3, "symcon_public_2_0e1o2e3o_to_0e1o2e_c3.json")
FIXTURE_GPU_TEST(fixture_0e1o2e_to_0e1o2e_c1, "symcon_public_3_0e1o2e_to_0e1o2e_c1.json")

static void cache_fini(void) { oeq_cg_cache_clear(); }

TestSuite(symcon, .fini = cache_fini);

Test(symcon, fixture_0e1o_to_0e1o_c2) { check_fixture("symcon_public_0_0e1o_to_0e1o_c2.json"); }
Test(symcon, fixture_0e1o2e_to_0e_c3) { check_fixture("symcon_public_1_0e1o2e_to_0e_c3.json"); }
Test(symcon, fixture_0e1o2e3o_to_0e1o2e_c3) {
  check_fixture("symcon_public_2_0e1o2e3o_to_0e1o2e_c3.json");
}
Test(symcon, fixture_0e1o2e_to_0e1o2e_c1) { check_fixture("symcon_public_3_0e1o2e_to_0e1o2e_c1.json"); }

/* ------------------------------------------------------------ equivariance */

#define LMAX_D 4

/* Wigner D of l = 0..LMAX_D in the CG engine's real basis, from one 3x3
 * rotation: D^1 = R and D^l = P^T (D^{l-1} x D^1) P with P = sqrt(2l+1)
 * C(l-1, 1, l), an isometry onto the l-subspace. Any rotation matrix is a
 * valid D^1 here: the construction only needs C to intertwine, so the test
 * checks the U basis against the CG engine's own equivariance. */
typedef struct {
  double m[LMAX_D + 1][9 * 9];
} wigner_t;

static void build_wigner(const double R[9], wigner_t *w) {
  w->m[0][0] = 1.0;
  memcpy(w->m[1], R, 9 * sizeof(double));
  for (int l = 2; l <= LMAX_D; l++) {
    const oeq_cg_t *c = NULL;
    oeq_error_t err;
    cr_assert_eq(oeq_cg_get(l - 1, 1, l, &c, &err), OEQ_SUCCESS);
    int da = 2 * l - 1, dc = 2 * l + 1;
    double norm = 2 * l + 1;
    for (int i = 0; i < dc; i++)
      for (int j = 0; j < dc; j++) {
        double s = 0;
        for (int a = 0; a < da; a++)
          for (int b = 0; b < 3; b++)
            for (int a2 = 0; a2 < da; a2++)
              for (int b2 = 0; b2 < 3; b2++)
                s += c->dense[(a * 3 + b) * dc + i] * w->m[l - 1][a * da + a2] * w->m[1][b * 3 + b2] *
                     c->dense[(a2 * 3 + b2) * dc + j];
        w->m[l][i * dc + j] = norm * s;
      }
  }
}

static void random_rotation(test_rng_t *r, double R[9]) {
  double q[4], n = 0;
  for (int i = 0; i < 4; i++) {
    q[i] = test_rng_uniform(r);
    n += q[i] * q[i];
  }
  n = sqrt(n);
  double a = q[0] / n, b = q[1] / n, c = q[2] / n, d = q[3] / n;
  double m[9] = {a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c),
                 2 * (b * c + a * d), a * a - b * b + c * c - d * d, 2 * (c * d - a * b),
                 2 * (b * d - a * c), 2 * (c * d + a * b), a * a - b * b - c * c + d * d};
  memcpy(R, m, sizeof m);
}

/* Applies g (rotation D^l times parity^sign_power) to each irrep block of
 * each channel of a row laid out [C][irreps]. */
static void transform_row(const oeq_irreps_t *ir, int64_t C, const wigner_t *w, int invert,
                          const double *in, double *out) {
  int64_t D = oeq_irreps_dim(ir);
  for (int64_t c = 0; c < C; c++) {
    int64_t off = 0;
    for (int t = 0; t < ir->len; t++) {
      int l = ir->terms[t].l, d = 2 * l + 1;
      double sign = invert ? ir->terms[t].parity : 1.0;
      for (int i = 0; i < d; i++) {
        double s = 0;
        for (int j = 0; j < d; j++) s += w->m[l][i * d + j] * in[c * D + off + j];
        out[c * D + off + i] = sign * s;
      }
      off += d;
    }
  }
}

static void check_equivariance(const char *in, const char *out, int corr) {
  const int64_t E = 2, C = 3, B = 4;
  oeq_problem_t *p = make_problem(in, out, corr, E, C, OEQ_FLOAT64);
  oeq_plan_t *plan = make_plan(p);
  const oeq_symcon_t *sc = p->symcon;
  int64_t nw = sc->weight_numel, xd = sc->x_dim, zd = sc->z_dim;
  test_rng_t rng = {0x5eed + (uint64_t)corr};
  double *x = malloc((size_t)(B * xd) * sizeof *x), *gx = malloc((size_t)(B * xd) * sizeof *gx);
  double *w = malloc((size_t)nw * sizeof *w), *z = malloc((size_t)(B * zd) * sizeof *z);
  double *gz = malloc((size_t)(B * zd) * sizeof *gz), *zg = malloc((size_t)(B * zd) * sizeof *zg);
  int32_t species[4] = {0, 1, 1, 0};
  test_fill_double(&rng, x, B * xd);
  test_fill_double(&rng, w, nw);
  OK(oeq_symcon_forward(plan, B, x, species, w, z, NULL));
  double zn = 0;
  for (int64_t i = 0; i < B * zd; i++) zn += z[i] * z[i];
  cr_assert_gt(zn, 1e-6, "the output is zero: the test would prove nothing");
  /* per-channel z layout is [C][d] per output irrep: view z's rows as
   * channel-major blocks of sc->out for the transform */
  for (int trial = 0; trial < 3; trial++) {
    double R[9];
    wigner_t wg;
    random_rotation(&rng, R);
    build_wigner(R, &wg);
    int invert = trial == 2;
    for (int64_t b = 0; b < B; b++) transform_row(&sc->in, C, &wg, invert, x + b * xd, gx + b * xd);
    OK(oeq_symcon_forward(plan, B, gx, species, w, zg, NULL));
    for (int64_t b = 0; b < B; b++)
      for (int o = 0; o < sc->n_out; o++) {
        const oeq_symcon_out_t *ou = &sc->outs[o];
        oeq_irreps_t one = {1, (oeq_irrep_term_t[]){{1, ou->l, ou->parity}}};
        transform_row(&one, C, &wg, invert, z + b * zd + ou->z_offset, gz + b * zd + ou->z_offset);
      }
    double err = test_rel_error(zg, gz, B * zd);
    cr_expect(err < 1e-12, "%s -> %s, correlation %d, trial %d: f(g x) != g f(x) (rel %.3g)", in,
              out, corr, trial, err);
  }
  free(x);
  free(gx);
  free(w);
  free(z);
  free(gz);
  free(zg);
  oeq_plan_destroy(plan);
  oeq_problem_destroy(p);
}

Test(symcon, wigner_d_is_a_representation) {
  /* D(R1) D(R2) = D(R1 R2) for l = 2..4: the helper itself is sound */
  test_rng_t rng = {77};
  double R1[9], R2[9], R12[9];
  random_rotation(&rng, R1);
  random_rotation(&rng, R2);
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++) {
      R12[i * 3 + j] = 0;
      for (int k = 0; k < 3; k++) R12[i * 3 + j] += R1[i * 3 + k] * R2[k * 3 + j];
    }
  wigner_t w1, w2, w12;
  build_wigner(R1, &w1);
  build_wigner(R2, &w2);
  build_wigner(R12, &w12);
  for (int l = 2; l <= LMAX_D; l++) {
    int d = 2 * l + 1;
    for (int i = 0; i < d; i++)
      for (int j = 0; j < d; j++) {
        double s = 0;
        for (int k = 0; k < d; k++) s += w1.m[l][i * d + k] * w2.m[l][k * d + j];
        cr_assert_float_eq(s, w12.m[l][i * d + j], 1e-12, "l = %d", l);
      }
  }
}

Test(symcon, equivariant_correlation_1_to_3) {
  check_equivariance("0e+1o+2e", "0e+1o+2e", 1);
  check_equivariance("0e+1o", "0e+1o+1e+2e", 2);
  check_equivariance("0e+1o+2e+3o", "0e+1o+1e+2e+3o", 3);
}

Test(symcon, equivariant_correlation_4) { check_equivariance("0e+1o", "0e+1o+2e", 4); }

/* ------------------------------------------------------------ finite differences */

static double loss(oeq_plan_t *plan, int64_t B, const double *x, const int32_t *sp, const double *w,
                   const double *dz, double *z, int64_t zn) {
  OK(oeq_symcon_forward(plan, B, x, sp, w, z, NULL));
  double s = 0;
  for (int64_t i = 0; i < zn; i++) s += dz[i] * z[i];
  return s;
}

Test(symcon, finite_differences) {
  const int64_t E = 3, C = 2, B = 3;
  oeq_problem_t *p = make_problem("0e+1o+2e", "0e+1o", 3, E, C, OEQ_FLOAT64);
  oeq_plan_t *plan = make_plan(p);
  const oeq_symcon_t *sc = p->symcon;
  int64_t xn = B * sc->x_dim, zn = B * sc->z_dim, nw = sc->weight_numel;
  test_rng_t rng = {2024};
  double *x = malloc((size_t)xn * sizeof *x), *w = malloc((size_t)nw * sizeof *w);
  double *dz = malloc((size_t)zn * sizeof *dz), *z = malloc((size_t)zn * sizeof *z);
  double *dx = malloc((size_t)xn * sizeof *dx), *dw = malloc((size_t)nw * sizeof *dw);
  int32_t sp[3] = {2, 0, 2}; /* species 1 has no rows: its dw must be 0 */
  test_fill_double(&rng, x, xn);
  test_fill_double(&rng, w, nw);
  test_fill_double(&rng, dz, zn);
  test_poison_double(dx, xn);
  test_poison_double(dw, nw);
  OK(oeq_symcon_backward(plan, B, x, sp, w, dz, dx, dw, NULL));
  const double h = 1e-5;
  for (int64_t i = 0; i < xn; i++) {
    double keep = x[i];
    x[i] = keep + h;
    double lp = loss(plan, B, x, sp, w, dz, z, zn);
    x[i] = keep - h;
    double lm = loss(plan, B, x, sp, w, dz, z, zn);
    x[i] = keep;
    double fd = (lp - lm) / (2 * h);
    cr_expect(fabs(fd - dx[i]) <= 1e-7 * fmax(1.0, fabs(fd)), "dx[%lld] = %.12g, fd %.12g",
              (long long)i, dx[i], fd);
  }
  int nonzero = 0;
  for (int64_t i = 0; i < nw; i++) {
    double keep = w[i];
    w[i] = keep + h;
    double lp = loss(plan, B, x, sp, w, dz, z, zn);
    w[i] = keep - h;
    double lm = loss(plan, B, x, sp, w, dz, z, zn);
    w[i] = keep;
    double fd = (lp - lm) / (2 * h);
    nonzero += dw[i] != 0.0;
    cr_expect(fabs(fd - dw[i]) <= 1e-7 * fmax(1.0, fabs(fd)), "dw[%lld] = %.12g, fd %.12g",
              (long long)i, dw[i], fd);
  }
  cr_expect_gt(nonzero, nw / 3, "dw is mostly zero: the test would prove little");
  free(x);
  free(w);
  free(dz);
  free(z);
  free(dx);
  free(dw);
  oeq_plan_destroy(plan);
  oeq_problem_destroy(p);
}

/* ------------------------------------------------------------ errors */

Test(symcon, bad_problems) {
  oeq_problem_t *p = (oeq_problem_t *)0x1;
  FAILS(OEQ_ERROR_INVALID_ARGUMENT, oeq_problem_create_symmetric_contraction(NULL, "0e", 2, 1, 1, &p));
  FAILS(OEQ_ERROR_INVALID_ARGUMENT, oeq_problem_create_symmetric_contraction("0e", NULL, 2, 1, 1, &p));
  FAILS(OEQ_ERROR_INVALID_ARGUMENT, oeq_problem_create_symmetric_contraction("0e", "0e", 2, 1, 1, NULL));
  FAILS(OEQ_ERROR_INVALID_ARGUMENT, oeq_problem_create_symmetric_contraction("0e", "0e", 0, 1, 1, &p));
  FAILS(OEQ_ERROR_INVALID_ARGUMENT, oeq_problem_create_symmetric_contraction("0e", "0e", 5, 1, 1, &p));
  FAILS(OEQ_ERROR_INVALID_ARGUMENT, oeq_problem_create_symmetric_contraction("0e", "0e", 2, 0, 1, &p));
  FAILS(OEQ_ERROR_INVALID_ARGUMENT, oeq_problem_create_symmetric_contraction("0e", "0e", 2, 1, 0, &p));
  FAILS(OEQ_ERROR_INVALID_ARGUMENT,
        oeq_problem_create_symmetric_contraction("0e", "0e", 2, 1, 2000000, &p));
  FAILS(OEQ_ERROR_INVALID_ARGUMENT,
        oeq_problem_create_symmetric_contraction("0e", "0e", 2, INT64_MAX / 2, 1000000, &p));
  FAILS(OEQ_ERROR_PARSE, oeq_problem_create_symmetric_contraction("0e+1q", "0e", 2, 1, 1, &p));
  FAILS(OEQ_ERROR_PARSE, oeq_problem_create_symmetric_contraction("0e", "x", 2, 1, 1, &p));
  FAILS(OEQ_ERROR_INVALID_PROBLEM, oeq_problem_create_symmetric_contraction("2x0e+1o", "0e", 2, 1, 4, &p));
  FAILS(OEQ_ERROR_INVALID_PROBLEM, oeq_problem_create_symmetric_contraction("", "0e", 2, 1, 4, &p));
  FAILS(OEQ_ERROR_INVALID_PROBLEM, oeq_problem_create_symmetric_contraction("0e", "", 2, 1, 4, &p));
  FAILS(OEQ_ERROR_INVALID_PROBLEM, oeq_problem_create_symmetric_contraction("0e", "3x0e", 2, 1, 4, &p));
  /* correlation 4 up to l = 5 inputs exceeds the U cap: a clear refusal */
  FAILS(OEQ_ERROR_UNSUPPORTED,
        oeq_problem_create_symmetric_contraction("0e+1o+2e+3o+4e+5o", "0e+1o+2e", 4, 1, 4, &p));
  cr_assert(strstr(oeq_last_error(), "OEQ_SYMCON_MAX_ENTRIES") != NULL, "%s", oeq_last_error());
  cr_assert_eq(p, (oeq_problem_t *)0x1, "a failed create wrote its out-pointer");
  /* MACE's irreps_out with the channel multiplicity is accepted */
  oeq_problem_t *q = NULL;
  OK(oeq_problem_create_symmetric_contraction("0e+1o", "4x0e+4x1o", 2, 1, 4, &q));
  oeq_problem_destroy(q);
}

Test(symcon, tp_calls_refused) {
  oeq_problem_t *p = make_problem("0e+1o", "0e+1o", 2, 2, 3, OEQ_FLOAT64);
  FAILS(OEQ_ERROR_INVALID_ARGUMENT, oeq_problem_add_instruction(p, 0, 0, 0, OEQ_MODE_UVW, 1, 1.0));
  FAILS(OEQ_ERROR_INVALID_ARGUMENT, oeq_problem_set_layout(p, OEQ_LAYOUT_IR_MUL));
  FAILS(OEQ_ERROR_INVALID_ARGUMENT, oeq_problem_set_shared_weights(p, 0));
  FAILS(OEQ_ERROR_INVALID_ARGUMENT,
        oeq_problem_set_normalization(p, OEQ_IRREP_NORM_NORM, OEQ_PATH_NORM_PATH));
  FAILS(OEQ_ERROR_INVALID_ARGUMENT, oeq_problem_set_variances(p, NULL, NULL, NULL));
  oeq_plan_t *plan = NULL;
  FAILS(OEQ_ERROR_INVALID_ARGUMENT, oeq_plan_create_tp(p, OEQ_BACKEND_CPU, 0, &plan));
  FAILS(OEQ_ERROR_INVALID_ARGUMENT, oeq_plan_create_conv(p, OEQ_BACKEND_CPU, 0, 0, &plan));
  cr_assert_null(plan);
  char buf[4096];
  size_t need = 0;
  OK(oeq_problem_describe(p, buf, sizeof buf, &need));
  cr_expect(strstr(buf, "symmetric_contraction") != NULL, "describe: %s", buf);
  cr_expect_eq(need, strlen(buf));
  plan = make_plan(p);
  double x[12] = {0}, z[12] = {0}, w[64] = {0};
  int32_t sp[2] = {0, 0};
  FAILS(OEQ_ERROR_INVALID_ARGUMENT, oeq_tp_forward(plan, 1, x, x, w, z, NULL));
  cr_assert(strstr(oeq_last_error(), "symmetric-contraction") != NULL, "%s", oeq_last_error());
  FAILS(OEQ_ERROR_INVALID_ARGUMENT, oeq_tp_backward(plan, 1, x, x, w, z, x, x, w, NULL));
  size_t ws;
  FAILS(OEQ_ERROR_INVALID_ARGUMENT, oeq_conv_workspace_size(plan, 1, 1, 1, &ws));
  oeq_plan_destroy(plan);
  /* a TP plan given to the symcon calls */
  oeq_problem_t *tp = NULL;
  OK(oeq_problem_create_fully_connected("1x0e", "1x0e", "1x0e", &tp));
  OK(oeq_plan_create_tp(tp, OEQ_BACKEND_CPU, 0, &plan));
  FAILS(OEQ_ERROR_INVALID_ARGUMENT, oeq_symcon_forward(plan, 1, x, sp, w, z, NULL));
  FAILS(OEQ_ERROR_INVALID_ARGUMENT, oeq_symcon_backward(plan, 1, x, sp, w, z, x, w, NULL));
  oeq_plan_t *bad = NULL;
  FAILS(OEQ_ERROR_INVALID_ARGUMENT, oeq_plan_create_symmetric_contraction(tp, OEQ_BACKEND_CPU, 0, &bad));
  oeq_plan_destroy(plan);
  oeq_problem_destroy(tp);
  oeq_problem_destroy(p);
}

Test(symcon, plan_errors_and_backends) {
  oeq_problem_t *p = make_problem("0e+1o", "0e", 2, 2, 3, OEQ_FLOAT64);
  oeq_plan_t *plan = (oeq_plan_t *)0x1;
  FAILS(OEQ_ERROR_INVALID_ARGUMENT, oeq_plan_create_symmetric_contraction(NULL, OEQ_BACKEND_CPU, 0, &plan));
  FAILS(OEQ_ERROR_INVALID_ARGUMENT, oeq_plan_create_symmetric_contraction(p, OEQ_BACKEND_CPU, 0, NULL));
  FAILS(OEQ_ERROR_INVALID_ARGUMENT, oeq_plan_create_symmetric_contraction(p, (oeq_backend_t)9, 0, &plan));
  FAILS(OEQ_ERROR_INVALID_ARGUMENT, oeq_plan_create_symmetric_contraction(p, OEQ_BACKEND_CPU, -1, &plan));
  /* a CUDA plan where a device is, else BACKEND_UNAVAILABLE and nothing written
   * (test_symcon_gpu runs the GPU plans) */
  const int cuda = oeq_backend_available(OEQ_BACKEND_CUDA), hip = oeq_backend_available(OEQ_BACKEND_HIP);
  oeq_status_t st = oeq_plan_create_symmetric_contraction(p, OEQ_BACKEND_CUDA, 0, &plan);
  if (cuda) {
    cr_expect_eq(st, OEQ_SUCCESS, "cuda: %s", oeq_last_error());
    oeq_plan_destroy(plan);
  } else {
    cr_expect_eq(st, OEQ_ERROR_BACKEND_UNAVAILABLE, "cuda: %s", oeq_status_string(st));
    cr_assert_eq(plan, (oeq_plan_t *)0x1);
  }
  OK(oeq_plan_create_symmetric_contraction(p, OEQ_BACKEND_AUTO, 0, &plan));
  oeq_backend_t b;
  OK(oeq_plan_backend(plan, &b));
  cr_expect_eq(b, cuda ? OEQ_BACKEND_CUDA : hip ? OEQ_BACKEND_HIP : OEQ_BACKEND_CPU);
  oeq_plan_destroy(plan);
  oeq_problem_destroy(p);
}

Test(symcon, call_errors_write_nothing) {
  oeq_problem_t *p = make_problem("0e+1o", "0e+1o", 2, 2, 3, OEQ_FLOAT64);
  oeq_plan_t *plan = make_plan(p);
  const oeq_symcon_t *sc = p->symcon;
  enum { B = 3 };
  double x[B * 12], w[256], z[B * 12], dz[B * 12], dx[B * 12], dw[256];
  cr_assert_leq(sc->weight_numel, 256);
  test_rng_t rng = {9};
  test_fill_double(&rng, x, B * sc->x_dim);
  test_fill_double(&rng, w, sc->weight_numel);
  test_fill_double(&rng, dz, B * sc->z_dim);
  test_poison_double(z, B * 12);
  test_poison_double(dx, B * 12);
  test_poison_double(dw, 256);
  int32_t good[B] = {0, 1, 0}, bad[B] = {0, 2, 0}, neg[B] = {-1, 0, 0};
  FAILS(OEQ_ERROR_INVALID_ARGUMENT, oeq_symcon_forward(NULL, B, x, good, w, z, NULL));
  FAILS(OEQ_ERROR_INVALID_ARGUMENT, oeq_symcon_forward(plan, -1, x, good, w, z, NULL));
  FAILS(OEQ_ERROR_INVALID_ARGUMENT, oeq_symcon_forward(plan, B, NULL, good, w, z, NULL));
  FAILS(OEQ_ERROR_INVALID_ARGUMENT, oeq_symcon_forward(plan, B, x, NULL, w, z, NULL));
  FAILS(OEQ_ERROR_INVALID_ARGUMENT, oeq_symcon_forward(plan, B, x, good, NULL, z, NULL));
  FAILS(OEQ_ERROR_INVALID_ARGUMENT, oeq_symcon_forward(plan, B, x, good, w, NULL, NULL));
  FAILS(OEQ_ERROR_INVALID_ARGUMENT, oeq_symcon_forward(plan, B, x, good, w, z, (void *)0x10));
  FAILS(OEQ_ERROR_INVALID_ARGUMENT, oeq_symcon_forward(plan, INT64_MAX / 4, x, good, w, z, NULL));
  FAILS(OEQ_ERROR_INVALID_ARGUMENT, oeq_symcon_forward(plan, B, x, bad, w, z, NULL));
  cr_assert(strstr(oeq_last_error(), "species[1]") != NULL, "%s", oeq_last_error());
  FAILS(OEQ_ERROR_INVALID_ARGUMENT, oeq_symcon_forward(plan, B, x, neg, w, z, NULL));
  FAILS(OEQ_ERROR_INVALID_ARGUMENT, oeq_symcon_backward(plan, B, x, bad, w, dz, dx, dw, NULL));
  FAILS(OEQ_ERROR_INVALID_ARGUMENT, oeq_symcon_backward(plan, B, x, good, w, NULL, dx, dw, NULL));
  FAILS(OEQ_ERROR_INVALID_ARGUMENT, oeq_symcon_backward(plan, -2, x, good, w, dz, dx, dw, NULL));
  for (int i = 0; i < B * 12; i++) cr_assert(isnan(z[i]) && isnan(dx[i]), "a failed call wrote");
  for (int i = 0; i < 256; i++) cr_assert(isnan(dw[i]), "a failed call wrote dw");
  /* batch 0: forward writes nothing, backward's dw is all zeros */
  OK(oeq_symcon_forward(plan, 0, NULL, NULL, NULL, NULL, NULL));
  OK(oeq_symcon_backward(plan, 0, NULL, NULL, NULL, NULL, NULL, dw, NULL));
  for (int64_t i = 0; i < sc->weight_numel; i++) cr_assert_eq(dw[i], 0.0);
  cr_assert(isnan(dw[sc->weight_numel]), "dw written past weight_numel");
  /* nothing wanted: a no-op that still validates the plan */
  OK(oeq_symcon_backward(plan, B, x, good, w, dz, NULL, NULL, NULL));
  FAILS(OEQ_ERROR_INVALID_ARGUMENT, oeq_symcon_backward(NULL, B, x, good, w, dz, NULL, NULL, NULL));
  oeq_plan_destroy(plan);
  oeq_problem_destroy(p);
}

/* The plan keeps its own copy: destroying the problem first is fine, and
 * the dtype chosen at plan time sticks. */
Test(symcon, plan_outlives_problem) {
  oeq_problem_t *p = make_problem("0e+1o+2e", "0e+2e", 3, 2, 2, OEQ_FLOAT64);
  oeq_plan_t *plan = make_plan(p);
  int64_t xd, zd, nw;
  OK(oeq_problem_dims(p, &xd, NULL, &zd));
  OK(oeq_problem_weight_numel(p, &nw));
  double *x = calloc((size_t)xd, sizeof *x), *w = calloc((size_t)nw, sizeof *w),
         *z1 = calloc((size_t)zd, sizeof *z1), *z2 = calloc((size_t)zd, sizeof *z2);
  test_rng_t rng = {4};
  test_fill_double(&rng, x, xd);
  test_fill_double(&rng, w, nw);
  int32_t sp = 1;
  OK(oeq_symcon_forward(plan, 1, x, &sp, w, z1, NULL));
  OK(oeq_problem_set_dtypes(p, OEQ_FLOAT32, OEQ_FLOAT32));
  oeq_problem_destroy(p);
  OK(oeq_symcon_forward(plan, 1, x, &sp, w, z2, NULL));
  cr_expect(memcmp(z1, z2, (size_t)zd * sizeof *z1) == 0);
  free(x);
  free(w);
  free(z1);
  free(z2);
  oeq_plan_destroy(plan);
}
