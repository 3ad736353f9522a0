/* test_fixtures.c: oeq's CPU backend against e3nn 0.6.0 reference outputs.
 *
 * The fixtures (tests/fixtures/manifest.txt + <case>.bin, written by
 * tests/fixtures/gen_fixtures.py, format in tests/fixtures/README.md) hold, per
 * case, an e3nn TensorProduct's definition, random inputs x, y, w, dz, and
 * e3nn's float64 outputs z, dx, dy, dw. Each case is built through the public
 * API only and run forward and backward on OEQ_BACKEND_CPU:
 *   float64: relative Frobenius error <= 1e-12 for z, dx, dy, dw;
 *   float32 (inputs cast to float): <= 1e-5 against the float64 reference.
 * Cases that name a builder (fully_connected, channelwise) are also built with
 * that builder and must give the same dims, weight count and results.
 * The fixture directory is $OEQ_SRCDIR/tests/fixtures (else ./tests/fixtures). */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oeq.h"
#include "support.h"

#define FX_MAX_INS 128
#define FX_MAX_VAR 64
#define FX_STR 512

typedef struct {
  int i1, i2, io, has_weight;
  oeq_mode_t mode;
  double path_weight;
} fx_ins_t;

typedef struct {
  char name[128];
  char in1[FX_STR], in2[FX_STR], out[FX_STR];
  oeq_irrep_norm_t irrep_norm;
  oeq_path_norm_t path_norm;
  int shared;
  int64_t batch;
  int nvar[3]; /* -1: default */
  double var[3][FX_MAX_VAR];
  int64_t d1, d2, dout, numel;
  char builder[32];
  char builder_filter[FX_STR];
  int nins;
  fx_ins_t ins[FX_MAX_INS];
} fx_case_t;

static void fixture_dir(char *buf, size_t n) {
  const char *src = getenv("OEQ_SRCDIR");
  snprintf(buf, n, "%s/tests/fixtures", (src && *src) ? src : ".");
}

static int parse_mode(const char *s, oeq_mode_t *m) {
  static const char *names[] = {"uvw", "uvu", "uvv", "uuw", "uuu", "uvuv"};
  for (int i = 0; i < 6; i++)
    if (strcmp(s, names[i]) == 0) {
      *m = (oeq_mode_t)i;
      return 0;
    }
  return -1;
}

/* Copies the value of a "key value" line (without the newline). */
static void copy_value(char *dst, size_t n, const char *v) {
  size_t len = strcspn(v, "\r\n");
  if (len >= n) len = n - 1;
  memcpy(dst, v, len);
  dst[len] = '\0';
}

static int parse_vars(const char *v, int *nvar, double *var) {
  while (*v == ' ') v++;
  if (strncmp(v, "default", 7) == 0) {
    *nvar = -1;
    return 0;
  }
  int n = 0;
  char *end;
  for (;;) {
    double d = strtod(v, &end);
    if (end == v) break;
    if (n >= FX_MAX_VAR) return -1;
    var[n++] = d;
    v = end;
  }
  *nvar = n;
  return 0;
}

/* Parses the manifest. Returns the number of cases (<= max) or -1 with a
 * message in err. cases may be NULL (count only). */
static int load_manifest(fx_case_t *cases, int max, char *err, size_t errn) {
  char dir[1024], path[1100];
  fixture_dir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/manifest.txt", dir);
  FILE *f = fopen(path, "r");
  if (!f) {
    snprintf(err, errn, "cannot open %s (set OEQ_SRCDIR to the source tree)", path);
    return -1;
  }
  static fx_case_t cur;
  int n = 0, in_case = 0, lineno = 0;
  char line[8192];
  while (fgets(line, sizeof line, f)) {
    lineno++;
    char key[32] = "";
    int off = 0;
    if (line[0] == '#' || sscanf(line, "%31s%n", key, &off) != 1) continue;
    const char *v = line + off;
    while (*v == ' ') v++;
    if (strcmp(key, "name") == 0) {
      memset(&cur, 0, sizeof cur);
      cur.nvar[0] = cur.nvar[1] = cur.nvar[2] = -1;
      strcpy(cur.builder, "none");
      copy_value(cur.name, sizeof cur.name, v);
      in_case = 1;
      continue;
    }
    if (!in_case) {
      snprintf(err, errn, "%s:%d: '%s' outside a case", path, lineno, key);
      goto fail;
    }
    int bad = 0;
    if (strcmp(key, "in1") == 0) {
      copy_value(cur.in1, sizeof cur.in1, v);
    } else if (strcmp(key, "in2") == 0) {
      copy_value(cur.in2, sizeof cur.in2, v);
    } else if (strcmp(key, "out") == 0) {
      copy_value(cur.out, sizeof cur.out, v);
    } else if (strcmp(key, "irrep_norm") == 0) {
      if (strncmp(v, "component", 9) == 0) cur.irrep_norm = OEQ_IRREP_NORM_COMPONENT;
      else if (strncmp(v, "norm", 4) == 0) cur.irrep_norm = OEQ_IRREP_NORM_NORM;
      else if (strncmp(v, "none", 4) == 0) cur.irrep_norm = OEQ_IRREP_NORM_NONE;
      else bad = 1;
    } else if (strcmp(key, "path_norm") == 0) {
      if (strncmp(v, "element", 7) == 0) cur.path_norm = OEQ_PATH_NORM_ELEMENT;
      else if (strncmp(v, "path", 4) == 0) cur.path_norm = OEQ_PATH_NORM_PATH;
      else if (strncmp(v, "none", 4) == 0) cur.path_norm = OEQ_PATH_NORM_NONE;
      else bad = 1;
    } else if (strcmp(key, "shared") == 0) {
      bad = sscanf(v, "%d", &cur.shared) != 1;
    } else if (strcmp(key, "batch") == 0) {
      bad = sscanf(v, "%" SCNd64, &cur.batch) != 1 || cur.batch < 1;
    } else if (strcmp(key, "in1_var") == 0) {
      bad = parse_vars(v, &cur.nvar[0], cur.var[0]);
    } else if (strcmp(key, "in2_var") == 0) {
      bad = parse_vars(v, &cur.nvar[1], cur.var[1]);
    } else if (strcmp(key, "out_var") == 0) {
      bad = parse_vars(v, &cur.nvar[2], cur.var[2]);
    } else if (strcmp(key, "dims") == 0) {
      bad = sscanf(v, "%" SCNd64 " %" SCNd64 " %" SCNd64 " %" SCNd64, &cur.d1, &cur.d2, &cur.dout,
                   &cur.numel) != 4;
    } else if (strcmp(key, "builder") == 0) {
      char filt[FX_STR] = "";
      bad = sscanf(v, "%31s %511s", cur.builder, filt) < 1;
      strcpy(cur.builder_filter, filt);
    } else if (strcmp(key, "ins") == 0) {
      char mode[16];
      fx_ins_t *in = &cur.ins[cur.nins];
      bad = cur.nins >= FX_MAX_INS ||
            sscanf(v, "%d %d %d %15s %d %lf", &in->i1, &in->i2, &in->io, mode, &in->has_weight,
                   &in->path_weight) != 6 ||
            parse_mode(mode, &in->mode) != 0;
      if (!bad) cur.nins++;
    } else if (strcmp(key, "end") == 0) {
      if (cases) {
        if (n >= max) {
          snprintf(err, errn, "%s: more than %d cases", path, max);
          goto fail;
        }
        cases[n] = cur;
      }
      n++;
      in_case = 0;
    } else {
      bad = 1;
    }
    if (bad) {
      snprintf(err, errn, "%s:%d: cannot parse '%s' line", path, lineno, key);
      goto fail;
    }
  }
  fclose(f);
  if (in_case) {
    snprintf(err, errn, "%s: last case has no 'end'", path);
    return -1;
  }
  return n;
fail:
  fclose(f);
  return -1;
}

/* ------------------------------------------------------------- fixture data */

typedef struct {
  int64_t nx, ny, nw, nz;
  double *x, *y, *w, *dz, *z, *dx, *dy, *dw; /* views into buf */
  double *buf;
} fx_data_t;

static int load_data(const fx_case_t *c, fx_data_t *d, char *err, size_t errn) {
  memset(d, 0, sizeof *d);
  d->nx = c->batch * c->d1;
  d->ny = c->batch * c->d2;
  d->nz = c->batch * c->dout;
  d->nw = c->shared ? c->numel : c->batch * c->numel;
  int64_t total = 2 * (d->nx + d->ny + d->nw + d->nz);
  char dir[1024], path[1400];
  fixture_dir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/%s.bin", dir, c->name);
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(err, errn, "cannot open %s", path);
    return -1;
  }
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  if (size != (long)(total * 8)) {
    snprintf(err, errn, "%s: %ld bytes, the manifest implies %lld", path, size,
             (long long)(total * 8));
    fclose(f);
    return -1;
  }
  d->buf = malloc((size_t)(total + 1) * sizeof(double));
  unsigned char *raw = malloc((size_t)size + 1);
  size_t got = fread(raw, 1, (size_t)size, f);
  fclose(f);
  if (got != (size_t)size) {
    snprintf(err, errn, "%s: short read", path);
    free(raw);
    return -1;
  }
  for (int64_t i = 0; i < total; i++) { /* little-endian float64, whatever the host */
    uint64_t u = 0;
    for (int b = 7; b >= 0; b--) u = (u << 8) | raw[8 * i + b];
    memcpy(&d->buf[i], &u, 8);
  }
  free(raw);
  double *p = d->buf;
  d->x = p, p += d->nx;
  d->y = p, p += d->ny;
  d->w = p, p += d->nw;
  d->dz = p, p += d->nz;
  d->z = p, p += d->nz;
  d->dx = p, p += d->nx;
  d->dy = p, p += d->ny;
  d->dw = p;
  return 0;
}

/* ---------------------------------------------------------------- building */

#define CHECK_OK(call)                                                                         \
  do {                                                                                         \
    oeq_status_t st_ = (call);                                                                 \
    cr_assert_eq(st_, OEQ_SUCCESS, "case %s: %s failed: %s (%s)", c->name, #call,              \
                 oeq_status_string(st_), oeq_last_error());                                    \
  } while (0)

static oeq_problem_t *build_problem(const fx_case_t *c, oeq_dtype_t dt) {
  oeq_problem_t *p = NULL;
  CHECK_OK(oeq_problem_create(c->in1, c->in2, c->out, &p));
  for (int k = 0; k < c->nins; k++) {
    const fx_ins_t *in = &c->ins[k];
    oeq_status_t st = oeq_problem_add_instruction(p, in->i1, in->i2, in->io, in->mode,
                                                  in->has_weight, in->path_weight);
    cr_assert_eq(st, OEQ_SUCCESS, "case %s: add_instruction #%d (%d,%d,%d,mode %d,%d,%.17g): %s (%s)",
                 c->name, k, in->i1, in->i2, in->io, (int)in->mode, in->has_weight,
                 in->path_weight, oeq_status_string(st), oeq_last_error());
  }
  CHECK_OK(oeq_problem_set_normalization(p, c->irrep_norm, c->path_norm));
  if (c->nvar[0] >= 0 || c->nvar[1] >= 0 || c->nvar[2] >= 0)
    CHECK_OK(oeq_problem_set_variances(p, c->nvar[0] >= 0 ? c->var[0] : NULL,
                                       c->nvar[1] >= 0 ? c->var[1] : NULL,
                                       c->nvar[2] >= 0 ? c->var[2] : NULL));
  CHECK_OK(oeq_problem_set_shared_weights(p, c->shared));
  CHECK_OK(oeq_problem_set_dtypes(p, dt, dt));
  return p;
}

static oeq_problem_t *build_with_builder(const fx_case_t *c, oeq_dtype_t dt) {
  oeq_problem_t *p = NULL;
  if (strcmp(c->builder, "fully_connected") == 0)
    CHECK_OK(oeq_problem_create_fully_connected(c->in1, c->in2, c->out, &p));
  else if (strcmp(c->builder, "channelwise") == 0)
    CHECK_OK(oeq_problem_create_channelwise(c->in1, c->in2, c->builder_filter, &p));
  else
    cr_assert_fail("case %s: unknown builder '%s'", c->name, c->builder);
  CHECK_OK(oeq_problem_set_normalization(p, c->irrep_norm, c->path_norm));
  CHECK_OK(oeq_problem_set_shared_weights(p, c->shared));
  CHECK_OK(oeq_problem_set_dtypes(p, dt, dt));
  return p;
}

static void check_dims(const fx_case_t *c, const oeq_problem_t *p, const char *how) {
  int64_t d1 = -1, d2 = -1, dout = -1, numel = -1;
  CHECK_OK(oeq_problem_dims(p, &d1, &d2, &dout));
  CHECK_OK(oeq_problem_weight_numel(p, &numel));
  cr_assert(d1 == c->d1 && d2 == c->d2 && dout == c->dout && numel == c->numel,
            "case %s (%s): oeq dims %lld %lld %lld numel %lld, e3nn %lld %lld %lld numel %lld",
            c->name, how, (long long)d1, (long long)d2, (long long)dout, (long long)numel,
            (long long)c->d1, (long long)c->d2, (long long)c->dout, (long long)c->numel);
}

/* ------------------------------------------------------------------ running */

typedef struct {
  double rel[4], max_abs[4]; /* z, dx, dy, dw */
} fx_err_t;

static const char *qname[4] = {"z", "dx", "dy", "dw"};

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  cr_assert_not_null(p);
  return p;
}

/* Runs forward + backward in dtype dt on the CPU and measures the errors
 * against the e3nn reference (always compared in double). */
static void run_one(const fx_case_t *c, const oeq_problem_t *p, const fx_data_t *d, oeq_dtype_t dt,
                    fx_err_t *e) {
  oeq_plan_t *plan = NULL;
  CHECK_OK(oeq_plan_create_tp(p, OEQ_BACKEND_CPU, 0, &plan));
  oeq_backend_t be = OEQ_BACKEND_AUTO;
  CHECK_OK(oeq_plan_backend(plan, &be));
  cr_assert_eq(be, OEQ_BACKEND_CPU, "case %s: plan not on the CPU", c->name);

  const int64_t n_in[4] = {d->nx, d->ny, d->nw, d->nz}; /* x y w dz */
  const double *src_in[4] = {d->x, d->y, d->w, d->dz};
  const int64_t n_out[4] = {d->nz, d->nx, d->ny, d->nw}; /* z dx dy dw */
  const double *ref[4] = {d->z, d->dx, d->dy, d->dw};
  void *in[4], *out[4];
  size_t es = dt == OEQ_FLOAT64 ? sizeof(double) : sizeof(float);
  for (int i = 0; i < 4; i++) {
    in[i] = xmalloc((size_t)n_in[i] * es);
    if (dt == OEQ_FLOAT64) {
      memcpy(in[i], src_in[i], (size_t)n_in[i] * es);
    } else {
      for (int64_t k = 0; k < n_in[i]; k++) ((float *)in[i])[k] = (float)src_in[i][k];
    }
    out[i] = xmalloc((size_t)n_out[i] * es);
    if (dt == OEQ_FLOAT64) test_poison_double(out[i], n_out[i]);
    else test_poison_float(out[i], n_out[i]);
  }
  const void *w = c->numel > 0 ? in[2] : NULL;
  oeq_status_t st = oeq_tp_forward(plan, c->batch, in[0], in[1], w, out[0], NULL);
  cr_assert_eq(st, OEQ_SUCCESS, "case %s: forward: %s (%s)", c->name, oeq_status_string(st),
               oeq_last_error());
  st = oeq_tp_backward(plan, c->batch, in[0], in[1], w, in[3], out[1], out[2],
                       c->numel > 0 ? out[3] : NULL, NULL);
  cr_assert_eq(st, OEQ_SUCCESS, "case %s: backward: %s (%s)", c->name, oeq_status_string(st),
               oeq_last_error());
  for (int i = 0; i < 4; i++) {
    double *got = xmalloc((size_t)n_out[i] * sizeof(double));
    for (int64_t k = 0; k < n_out[i]; k++)
      got[k] = dt == OEQ_FLOAT64 ? ((double *)out[i])[k] : (double)((float *)out[i])[k];
    e->rel[i] = test_rel_error(got, ref[i], n_out[i]);
    e->max_abs[i] = test_max_abs_error(got, ref[i], n_out[i]);
    free(got);
    free(in[i]);
    free(out[i]);
  }
  oeq_plan_destroy(plan);
}

static void report(const fx_case_t *c, const char *how, const fx_err_t *e, double tol) {
  fprintf(stderr, "fixtures: %-24s %-8s", c->name, how);
  for (int i = 0; i < 4; i++)
    fprintf(stderr, " %s rel %.2e max %.2e;", qname[i], e->rel[i], e->max_abs[i]);
  fprintf(stderr, "\n");
  for (int i = 0; i < 4; i++)
    cr_expect(e->rel[i] <= tol, "case %s, %s: %s relative error %.3e > %.0e (max abs %.3e)", c->name,
              how, qname[i], e->rel[i], tol, e->max_abs[i]);
}

static void run_case(const fx_case_t *c) {
  char err[1600];
  fx_data_t d;
  cr_assert_eq(load_data(c, &d, err, sizeof err), 0, "%s", err);

  oeq_problem_t *p64 = build_problem(c, OEQ_FLOAT64);
  check_dims(c, p64, "instructions");
  fx_err_t e;
  run_one(c, p64, &d, OEQ_FLOAT64, &e);
  report(c, "f64", &e, 1e-12);
  oeq_problem_destroy(p64);

  oeq_problem_t *p32 = build_problem(c, OEQ_FLOAT32);
  run_one(c, p32, &d, OEQ_FLOAT32, &e);
  report(c, "f32", &e, 1e-5);
  oeq_problem_destroy(p32);

  if (strcmp(c->builder, "none") != 0) {
    oeq_problem_t *pb = build_with_builder(c, OEQ_FLOAT64);
    check_dims(c, pb, c->builder);
    run_one(c, pb, &d, OEQ_FLOAT64, &e);
    report(c, "builder", &e, 1e-12);
    oeq_problem_destroy(pb);
  }
  free(d.buf);
}

/* ------------------------------------------------------------------- tests */

TestSuite(fixtures);

/* The manifest parses and every case's binary file has the implied size. */
Test(fixtures, manifest) {
  static fx_case_t cases[256];
  char err[1600] = "";
  int n = load_manifest(cases, 256, err, sizeof err);
  cr_assert_geq(n, 0, "%s", err);
  cr_assert_geq(n, 30, "only %d cases in the manifest", n);
  for (int i = 0; i < n; i++) {
    fx_data_t d;
    cr_expect_eq(load_data(&cases[i], &d, err, sizeof err), 0, "%s", err);
    free(d.buf);
    for (int j = 0; j < i; j++)
      cr_expect_neq(strcmp(cases[i].name, cases[j].name), 0, "duplicate case %s", cases[i].name);
  }
}

/* One parameter per case: its index in the manifest (-1 if it cannot be read;
 * that test then fails with the reason). */
ParameterizedTestParameters(fixtures, e3nn) {
  char err[1600];
  int n = load_manifest(NULL, 0, err, sizeof err);
  if (n <= 0) n = 0;
  int count = n > 0 ? n : 1;
  int *idx = cr_malloc(sizeof(int) * (size_t)count);
  for (int i = 0; i < count; i++) idx[i] = n > 0 ? i : -1;
  return cr_make_param_array(int, idx, (size_t)count);
}

ParameterizedTest(int *param, fixtures, e3nn, .timeout = 120) {
  static fx_case_t cases[256];
  char err[1600] = "";
  int n = load_manifest(cases, 256, err, sizeof err);
  cr_assert_geq(n, 1, "no fixtures: %s", n < 0 ? err : "empty manifest");
  cr_assert(*param >= 0 && *param < n, "case index %d of %d", *param, n);
  run_case(&cases[*param]);
}
