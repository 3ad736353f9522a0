/* test_conv_fixtures.c: oeq's fused graph convolution against e3nn 0.6.0.
 *
 * The fixtures (tests/fixtures/conv_manifest.txt + <case>.bin, written by
 * tests/fixtures/gen_conv_fixtures.py, format in tests/fixtures/README.md)
 * hold, per case, an e3nn TensorProduct, a small graph (rows = receivers,
 * cols = senders, in the generator's edge order, NOT sorted in general),
 * random x [x_rows], y [edges], w, dz [z_rows], and e3nn's float64
 *   z = zeros(z_rows).index_add_(0, rows, tp(x[cols], y, w))
 * with dx, dy, dw of sum(z * dz). Each case is built through the public API
 * only and run with oeq_conv_forward / oeq_conv_backward for
 *   flags 0 (edges in the file's order) and OEQ_CONV_DETERMINISTIC,
 *   int32 and int64 (OEQ_INDEX_INT64) indices,
 *   float64 (relative Frobenius error <= 1e-12 for z, dx, dy, dw) and
 *   float32 (inputs cast to float, <= 1e-5 against the float64 reference),
 * on OEQ_BACKEND_CPU, and on OEQ_BACKEND_CUDA when it is available (the
 * CUDA test skips itself otherwise). Outputs are poisoned with NaN first.
 *
 * DETERMINISTIC needs receivers sorted: the test stable-sorts the edges by
 * rows and permutes rows, cols, y, per-edge w and the references dy, dw the
 * same way; sender_perm is then the stable sort of the permuted edges by
 * cols. The fixture directory is $OEQ_SRCDIR/tests/fixtures. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda_api.h"
#include "oeq.h"
#include "support.h"

#define CF_MAX_INS 128
#define CF_MAX_VAR 64
#define CF_MAX_E 1024
#define CF_STR 512
#define CF_MAX_CASES 64

typedef struct {
  int i1, i2, io, has_weight;
  oeq_mode_t mode;
  double path_weight;
} cf_ins_t;

typedef struct {
  char name[128];
  char in1[CF_STR], in2[CF_STR], out[CF_STR];
  oeq_irrep_norm_t irrep_norm;
  oeq_path_norm_t path_norm;
  int shared;
  int64_t x_rows, z_rows, edges;
  int nvar[3];
  double var[3][CF_MAX_VAR];
  int64_t d1, d2, dout, numel;
  char builder[32], builder_filter[CF_STR];
  int nins;
  cf_ins_t ins[CF_MAX_INS];
  int nrows, ncols;
  int64_t rows[CF_MAX_E], cols[CF_MAX_E];
} cf_case_t;

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
    if (n >= CF_MAX_VAR) return -1;
    var[n++] = d;
    v = end;
  }
  *nvar = n;
  return 0;
}

static int parse_ints(const char *v, int64_t *out, int *n) {
  char *end;
  *n = 0;
  for (;;) {
    long long d = strtoll(v, &end, 10);
    if (end == v) break;
    if (*n >= CF_MAX_E) return -1;
    out[(*n)++] = (int64_t)d;
    v = end;
  }
  return 0;
}

/* Number of cases (<= max) or -1 with a message in err; cases may be NULL. */
static int load_manifest(cf_case_t *cases, int max, char *err, size_t errn) {
  char dir[1024], path[1100];
  fixture_dir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/conv_manifest.txt", dir);
  FILE *f = fopen(path, "r");
  if (!f) {
    snprintf(err, errn, "cannot open %s (set OEQ_SRCDIR to the source tree)", path);
    return -1;
  }
  static cf_case_t cur;
  int n = 0, in_case = 0, lineno = 0;
  static char line[65536];
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
      cur.x_rows = cur.z_rows = cur.edges = -1;
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
    } else if (strcmp(key, "x_rows") == 0) {
      bad = sscanf(v, "%" SCNd64, &cur.x_rows) != 1 || cur.x_rows < 1;
    } else if (strcmp(key, "z_rows") == 0) {
      bad = sscanf(v, "%" SCNd64, &cur.z_rows) != 1 || cur.z_rows < 1;
    } else if (strcmp(key, "edges") == 0) {
      bad = sscanf(v, "%" SCNd64, &cur.edges) != 1 || cur.edges < 0 || cur.edges > CF_MAX_E;
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
      char filt[CF_STR] = "";
      bad = sscanf(v, "%31s %511s", cur.builder, filt) < 1;
      strcpy(cur.builder_filter, filt);
    } else if (strcmp(key, "ins") == 0) {
      char mode[16];
      cf_ins_t *in = &cur.ins[cur.nins];
      bad = cur.nins >= CF_MAX_INS ||
            sscanf(v, "%d %d %d %15s %d %lf", &in->i1, &in->i2, &in->io, mode, &in->has_weight,
                   &in->path_weight) != 6 ||
            parse_mode(mode, &in->mode) != 0;
      if (!bad) cur.nins++;
    } else if (strcmp(key, "rows") == 0) {
      bad = parse_ints(v, cur.rows, &cur.nrows);
    } else if (strcmp(key, "cols") == 0) {
      bad = parse_ints(v, cur.cols, &cur.ncols);
    } else if (strcmp(key, "end") == 0) {
      if (cur.x_rows < 1 || cur.z_rows < 1 || cur.edges < 0 || cur.nrows != cur.edges ||
          cur.ncols != cur.edges) {
        snprintf(err, errn, "%s:%d: case %s: x_rows/z_rows/edges/rows/cols missing or inconsistent",
                 path, lineno, cur.name);
        goto fail;
      }
      for (int64_t e = 0; e < cur.edges; e++)
        if (cur.rows[e] < 0 || cur.rows[e] >= cur.z_rows || cur.cols[e] < 0 ||
            cur.cols[e] >= cur.x_rows) {
          snprintf(err, errn, "%s: case %s: edge %lld out of range", path, cur.name, (long long)e);
          goto fail;
        }
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
  double *x, *y, *w, *dz, *z, *dx, *dy, *dw;
  double *buf;
} cf_data_t;

static int load_data(const cf_case_t *c, cf_data_t *d, char *err, size_t errn) {
  memset(d, 0, sizeof *d);
  d->nx = c->x_rows * c->d1;
  d->ny = c->edges * c->d2;
  d->nz = c->z_rows * c->dout;
  d->nw = c->shared ? c->numel : c->edges * c->numel;
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
  if (got != (size_t)size || !d->buf) {
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

static oeq_problem_t *build_problem(const cf_case_t *c, oeq_dtype_t dt) {
  oeq_problem_t *p = NULL;
  CHECK_OK(oeq_problem_create(c->in1, c->in2, c->out, &p));
  for (int k = 0; k < c->nins; k++) {
    const cf_ins_t *in = &c->ins[k];
    oeq_status_t st = oeq_problem_add_instruction(p, in->i1, in->i2, in->io, in->mode,
                                                  in->has_weight, in->path_weight);
    cr_assert_eq(st, OEQ_SUCCESS, "case %s: add_instruction #%d: %s (%s)", c->name, k,
                 oeq_status_string(st), oeq_last_error());
  }
  CHECK_OK(oeq_problem_set_normalization(p, c->irrep_norm, c->path_norm));
  if (c->nvar[0] >= 0 || c->nvar[1] >= 0 || c->nvar[2] >= 0)
    CHECK_OK(oeq_problem_set_variances(p, c->nvar[0] >= 0 ? c->var[0] : NULL,
                                       c->nvar[1] >= 0 ? c->var[1] : NULL,
                                       c->nvar[2] >= 0 ? c->var[2] : NULL));
  CHECK_OK(oeq_problem_set_shared_weights(p, c->shared));
  CHECK_OK(oeq_problem_set_dtypes(p, dt, dt));
  int64_t d1 = -1, d2 = -1, dout = -1, numel = -1;
  CHECK_OK(oeq_problem_dims(p, &d1, &d2, &dout));
  CHECK_OK(oeq_problem_weight_numel(p, &numel));
  cr_assert(d1 == c->d1 && d2 == c->d2 && dout == c->dout && numel == c->numel,
            "case %s: oeq dims %lld %lld %lld numel %lld, e3nn %lld %lld %lld numel %lld", c->name,
            (long long)d1, (long long)d2, (long long)dout, (long long)numel, (long long)c->d1,
            (long long)c->d2, (long long)c->dout, (long long)c->numel);
  return p;
}

/* ------------------------------------------------------------------ device */

static const oeq_cuda_api_t *cu;

#define CK(call)                                                                               \
  do {                                                                                         \
    CUresult r_ = (call);                                                                      \
    cr_assert_eq(r_, 0, "%s: %s", #call, oeq_cuda_error_string(r_));                           \
  } while (0)

static CUdeviceptr upload(const void *h, size_t bytes) {
  CUdeviceptr d = 0;
  CK(cu->cuMemAlloc(&d, bytes ? bytes : 16));
  if (bytes) CK(cu->cuMemcpyHtoD(d, h, bytes));
  return d;
}

static CUdeviceptr poisoned(size_t bytes) { /* all bytes 0xff: NaN in float32 and float64 */
  CUdeviceptr d = 0;
  CK(cu->cuMemAlloc(&d, bytes ? bytes : 16));
  CK(cu->cuMemsetD8Async(d, 0xff, bytes ? bytes : 16, NULL));
  CK(cu->cuCtxSynchronize());
  return d;
}

static void *vp(CUdeviceptr d) { return (void *)(uintptr_t)d; }

/* ------------------------------------------------------------------ running */

static const char *qname[4] = {"z", "dx", "dy", "dw"};

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  cr_assert_not_null(p);
  return p;
}

/* One graph (rows, cols) with its inputs and references in that edge order. */
typedef struct {
  int64_t E;
  int64_t *rows, *cols, *perm; /* perm: sender_perm, or NULL */
  double *y, *w, *dy, *dw;     /* per-edge arrays (w, dw: shared -> not copied) */
} cf_graph_t;

static int64_t *g_rows_key;
static int cmp_by_key(const void *a, const void *b) { /* stable: ties by edge index */
  int64_t i = *(const int64_t *)a, j = *(const int64_t *)b;
  if (g_rows_key[i] != g_rows_key[j]) return g_rows_key[i] < g_rows_key[j] ? -1 : 1;
  return i < j ? -1 : i > j;
}

/* det == 0: the file's edge order. det == 1: edges stable-sorted by rows
 * (y, per-edge w, dy, dw permuted with them) and sender_perm by cols. */
static cf_graph_t make_graph(const cf_case_t *c, const cf_data_t *d, int det) {
  cf_graph_t g = {.E = c->edges};
  int64_t E = c->edges;
  int64_t *order = xmalloc((size_t)E * 8);
  for (int64_t e = 0; e < E; e++) order[e] = e;
  if (det) {
    g_rows_key = (int64_t *)c->rows;
    qsort(order, (size_t)E, 8, cmp_by_key);
  }
  g.rows = xmalloc((size_t)E * 8), g.cols = xmalloc((size_t)E * 8);
  g.y = xmalloc((size_t)(E * c->d2) * 8), g.dy = xmalloc((size_t)(E * c->d2) * 8);
  int64_t wn = c->shared ? c->numel : E * c->numel;
  g.w = xmalloc((size_t)wn * 8), g.dw = xmalloc((size_t)wn * 8);
  if (c->shared) memcpy(g.w, d->w, (size_t)wn * 8), memcpy(g.dw, d->dw, (size_t)wn * 8);
  for (int64_t e = 0; e < E; e++) {
    int64_t s = order[e];
    g.rows[e] = c->rows[s], g.cols[e] = c->cols[s];
    memcpy(g.y + e * c->d2, d->y + s * c->d2, (size_t)c->d2 * 8);
    memcpy(g.dy + e * c->d2, d->dy + s * c->d2, (size_t)c->d2 * 8);
    if (!c->shared) {
      memcpy(g.w + e * c->numel, d->w + s * c->numel, (size_t)c->numel * 8);
      memcpy(g.dw + e * c->numel, d->dw + s * c->numel, (size_t)c->numel * 8);
    }
  }
  for (int64_t e = 1; det && e < E; e++)
    cr_assert(g.rows[e - 1] <= g.rows[e], "case %s: rows not sorted after the sort", c->name);
  if (det) { /* stable counting sort of the (sorted) edges by cols */
    int64_t *start = calloc((size_t)c->x_rows + 1, 8);
    cr_assert_not_null(start);
    g.perm = xmalloc((size_t)E * 8);
    for (int64_t e = 0; e < E; e++) start[g.cols[e] + 1]++;
    for (int64_t i = 0; i < c->x_rows; i++) start[i + 1] += start[i];
    for (int64_t e = 0; e < E; e++) g.perm[start[g.cols[e]]++] = e;
    free(start);
  }
  free(order);
  return g;
}

static void graph_free(cf_graph_t *g) {
  free(g->rows), free(g->cols), free(g->perm), free(g->y), free(g->w), free(g->dy), free(g->dw);
}

static void *typed(const double *v, int64_t n, oeq_dtype_t dt) {
  size_t sz = dt == OEQ_FLOAT64 ? 8 : 4;
  void *out = xmalloc((size_t)n * sz);
  for (int64_t i = 0; i < n; i++)
    if (dt == OEQ_FLOAT64) ((double *)out)[i] = v[i];
    else ((float *)out)[i] = (float)v[i];
  return out;
}

static double *untyped(const void *v, int64_t n, oeq_dtype_t dt) {
  double *out = xmalloc((size_t)n * 8);
  for (int64_t i = 0; i < n; i++)
    out[i] = dt == OEQ_FLOAT64 ? ((const double *)v)[i] : (double)((const float *)v)[i];
  return out;
}

static void *index_array(const int64_t *v, int64_t n, int wide) {
  if (!v) return NULL;
  void *out = xmalloc((size_t)n * (wide ? 8 : 4));
  for (int64_t i = 0; i < n; i++)
    if (wide) ((int64_t *)out)[i] = v[i];
    else ((int32_t *)out)[i] = (int32_t)v[i];
  return out;
}

/* Forward + backward on backend b with flags; returns the worst relative
 * error over z, dx, dy, dw (and fills rel[4]). */
static void run_conv(const cf_case_t *c, const cf_data_t *d, oeq_backend_t b, oeq_dtype_t dt,
                     uint32_t flags, double rel[4]) {
  int det = (flags & OEQ_CONV_DETERMINISTIC) != 0, wide = (flags & OEQ_INDEX_INT64) != 0;
  oeq_problem_t *p = build_problem(c, dt);
  oeq_plan_t *plan = NULL;
  CHECK_OK(oeq_plan_create_conv(p, b, 0, flags, &plan));
  oeq_backend_t be = OEQ_BACKEND_AUTO;
  CHECK_OK(oeq_plan_backend(plan, &be));
  cr_assert_eq(be, b, "case %s: plan on backend %d, asked %d", c->name, (int)be, (int)b);

  cf_graph_t g = make_graph(c, d, det);
  int64_t E = g.E, nx = d->nx, ny = d->ny, nz = d->nz, nw = d->nw;
  size_t sz = dt == OEQ_FLOAT64 ? 8 : 4, isz = wide ? 8 : 4;
  void *x = typed(d->x, nx, dt), *y = typed(g.y, ny, dt), *w = typed(g.w, nw, dt),
       *dz = typed(d->dz, nz, dt);
  void *rows = index_array(g.rows, E, wide), *cols = index_array(g.cols, E, wide),
       *perm = index_array(g.perm, E, wide);
  const int64_t n_out[4] = {nz, nx, ny, nw};
  const double *ref[4] = {d->z, d->dx, g.dy, g.dw};
  double *got[4];

  if (b == OEQ_BACKEND_CPU) {
    void *out[4];
    for (int i = 0; i < 4; i++) {
      out[i] = xmalloc((size_t)n_out[i] * sz);
      if (dt == OEQ_FLOAT64) test_poison_double(out[i], n_out[i]);
      else test_poison_float(out[i], n_out[i]);
    }
    oeq_status_t st = oeq_conv_forward(plan, c->x_rows, c->z_rows, E, x, y, c->numel ? w : NULL,
                                       rows, cols, perm, out[0], NULL, 0, NULL);
    cr_assert_eq(st, OEQ_SUCCESS, "case %s flags 0x%x: forward: %s (%s)", c->name, flags,
                 oeq_status_string(st), oeq_last_error());
    st = oeq_conv_backward(plan, c->x_rows, c->z_rows, E, x, y, c->numel ? w : NULL, dz, rows, cols,
                           perm, out[1], out[2], c->numel ? out[3] : NULL, NULL, 0, NULL);
    cr_assert_eq(st, OEQ_SUCCESS, "case %s flags 0x%x: backward: %s (%s)", c->name, flags,
                 oeq_status_string(st), oeq_last_error());
    for (int i = 0; i < 4; i++) got[i] = untyped(out[i], n_out[i], dt), free(out[i]);
  } else {
    CUdeviceptr dx_ = upload(x, (size_t)nx * sz), dy_ = upload(y, (size_t)ny * sz),
                dw_ = upload(w, (size_t)nw * sz), ddz = upload(dz, (size_t)nz * sz),
                drows = upload(rows, (size_t)E * isz), dcols = upload(cols, (size_t)E * isz),
                dperm = perm ? upload(perm, (size_t)E * isz) : 0;
    CUdeviceptr o[4];
    for (int i = 0; i < 4; i++) o[i] = poisoned((size_t)n_out[i] * sz);
    oeq_status_t st = oeq_conv_forward(plan, c->x_rows, c->z_rows, E, vp(dx_), vp(dy_),
                                       c->numel ? vp(dw_) : NULL, vp(drows), vp(dcols),
                                       perm ? vp(dperm) : NULL, vp(o[0]), NULL, 0, NULL);
    cr_assert_eq(st, OEQ_SUCCESS, "case %s cuda flags 0x%x: forward: %s (%s)", c->name, flags,
                 oeq_status_string(st), oeq_last_error());
    st = oeq_conv_backward(plan, c->x_rows, c->z_rows, E, vp(dx_), vp(dy_),
                           c->numel ? vp(dw_) : NULL, vp(ddz), vp(drows), vp(dcols),
                           perm ? vp(dperm) : NULL, vp(o[1]), vp(o[2]),
                           c->numel ? vp(o[3]) : NULL, NULL, 0, NULL);
    cr_assert_eq(st, OEQ_SUCCESS, "case %s cuda flags 0x%x: backward: %s (%s)", c->name, flags,
                 oeq_status_string(st), oeq_last_error());
    CK(cu->cuCtxSynchronize());
    for (int i = 0; i < 4; i++) {
      void *h = xmalloc((size_t)n_out[i] * sz);
      if (n_out[i]) CK(cu->cuMemcpyDtoH(h, o[i], (size_t)n_out[i] * sz));
      got[i] = untyped(h, n_out[i], dt);
      free(h);
      cu->cuMemFree(o[i]);
    }
    CUdeviceptr all[] = {dx_, dy_, dw_, ddz, drows, dcols, dperm};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
      if (all[i]) cu->cuMemFree(all[i]);
  }
  for (int i = 0; i < 4; i++) {
    rel[i] = test_rel_error(got[i], ref[i], n_out[i]);
    if (isnan(rel[i])) rel[i] = INFINITY;
    free(got[i]);
  }
  free(x), free(y), free(w), free(dz), free(rows), free(cols), free(perm);
  graph_free(&g);
  oeq_plan_destroy(plan);
  oeq_problem_destroy(p);
}

static void run_case(const cf_case_t *c, oeq_backend_t b) {
  char err[1600];
  cf_data_t d;
  cr_assert_eq(load_data(c, &d, err, sizeof err), 0, "%s", err);
  const uint32_t flags[4] = {0, OEQ_INDEX_INT64, OEQ_CONV_DETERMINISTIC,
                             OEQ_CONV_DETERMINISTIC | OEQ_INDEX_INT64};
  const char *bname = b == OEQ_BACKEND_CPU ? "cpu" : "cuda";
  for (int t = 0; t < 2; t++) {
    oeq_dtype_t dt = t == 0 ? OEQ_FLOAT64 : OEQ_FLOAT32;
    double tol = t == 0 ? 1e-12 : 1e-5, worst[4] = {0, 0, 0, 0};
    for (int f = 0; f < 4; f++) {
      double rel[4];
      run_conv(c, &d, b, dt, flags[f], rel);
      for (int i = 0; i < 4; i++) {
        if (rel[i] > worst[i]) worst[i] = rel[i];
        cr_expect(rel[i] <= tol, "case %s %s %s flags 0x%x: %s relative error %.3e > %.0e", c->name,
                  bname, t == 0 ? "f64" : "f32", flags[f], qname[i], rel[i], tol);
      }
    }
    fprintf(stderr, "conv_fixtures: %-22s %-4s %s max over flags: z %.2e dx %.2e dy %.2e dw %.2e\n",
            c->name, bname, t == 0 ? "f64" : "f32", worst[0], worst[1], worst[2], worst[3]);
  }
  free(d.buf);
}

/* ------------------------------------------------------------------- tests */

TestSuite(conv_fixtures);

/* The manifest parses, every binary has the implied size, and the set
 * covers what it is meant to: ghost rows that send, unsorted receivers. */
Test(conv_fixtures, manifest) {
  static cf_case_t cases[CF_MAX_CASES];
  char err[1600] = "";
  int n = load_manifest(cases, CF_MAX_CASES, err, sizeof err);
  cr_assert_geq(n, 0, "%s", err);
  cr_assert_geq(n, 4, "only %d cases in the manifest", n);
  int ghost_sender = 0, unsorted = 0, shared = 0;
  for (int i = 0; i < n; i++) {
    cf_data_t d;
    cr_expect_eq(load_data(&cases[i], &d, err, sizeof err), 0, "%s", err);
    free(d.buf);
    for (int j = 0; j < i; j++)
      cr_expect_neq(strcmp(cases[i].name, cases[j].name), 0, "duplicate case %s", cases[i].name);
    for (int64_t e = 0; e < cases[i].edges; e++) {
      if (cases[i].cols[e] >= cases[i].z_rows) ghost_sender = 1;
      if (e && cases[i].rows[e] < cases[i].rows[e - 1]) unsorted = 1;
    }
    shared |= cases[i].shared;
  }
  cr_expect(ghost_sender && unsorted && shared, "coverage: ghost senders %d, unsorted rows %d, shared w %d",
            ghost_sender, unsorted, shared);
}

ParameterizedTestParameters(conv_fixtures, cpu) {
  char err[1600];
  int n = load_manifest(NULL, 0, err, sizeof err);
  if (n <= 0) n = 0;
  int count = n > 0 ? n : 1;
  int *idx = cr_malloc(sizeof(int) * (size_t)count);
  for (int i = 0; i < count; i++) idx[i] = n > 0 ? i : -1;
  return cr_make_param_array(int, idx, (size_t)count);
}

ParameterizedTest(int *param, conv_fixtures, cpu, .timeout = 120) {
  static cf_case_t cases[CF_MAX_CASES];
  char err[1600] = "";
  int n = load_manifest(cases, CF_MAX_CASES, err, sizeof err);
  cr_assert_geq(n, 1, "no fixtures: %s", n < 0 ? err : "empty manifest");
  cr_assert(*param >= 0 && *param < n, "case index %d of %d", *param, n);
  run_case(&cases[*param], OEQ_BACKEND_CPU);
}

ParameterizedTestParameters(conv_fixtures, cuda) {
  char err[1600];
  int n = load_manifest(NULL, 0, err, sizeof err);
  if (n <= 0) n = 0;
  int count = n > 0 ? n : 1;
  int *idx = cr_malloc(sizeof(int) * (size_t)count);
  for (int i = 0; i < count; i++) idx[i] = n > 0 ? i : -1;
  return cr_make_param_array(int, idx, (size_t)count);
}

/* The same on the GPU; skipped (this part only) without a CUDA device. */
ParameterizedTest(int *param, conv_fixtures, cuda, .timeout = 300) {
  if (!oeq_backend_available(OEQ_BACKEND_CUDA)) {
    cr_skip_test("no CUDA device, CUDA part skipped: %s", oeq_last_error());
    return;
  }
  cu = oeq_cuda_api(NULL);
  cr_assert_not_null(cu);
  CUdevice dev;
  CUcontext ctx;
  CK(cu->cuDeviceGet(&dev, 0));
  CK(cu->cuDevicePrimaryCtxRetain(&ctx, dev));
  CK(cu->cuCtxPushCurrent(ctx));
  static cf_case_t cases[CF_MAX_CASES];
  char err[1600] = "";
  int n = load_manifest(cases, CF_MAX_CASES, err, sizeof err);
  cr_assert_geq(n, 1, "no fixtures: %s", n < 0 ? err : "empty manifest");
  cr_assert(*param >= 0 && *param < n, "case index %d of %d", *param, n);
  run_case(&cases[*param], OEQ_BACKEND_CUDA);
}
