/* cdriver.c: the C half of the Fortran-vs-C comparison (test_fortran_vs_c.sh).
 *
 * Runs the same problems on the same inputs as fdriver.f90, through the C API
 * directly, and writes every output as raw bytes to argv[1] in the same
 * order. The test then requires the two files to be identical: the Fortran
 * layer must hand the library exactly the arrays and counts C code would. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oeq.h"

/* Inputs exactly representable in float32 (|n| <= 1000, divided by 512), so
 * C and Fortran build bit-identical arrays from the formula. */
static double input_value(long i, long salt) {
  return (double)((i * 7919 + salt * 104729) % 2001 - 1000) / 512.0;
}

static void fill_f64(double *a, long n, long salt) {
  for (long i = 0; i < n; i++) a[i] = input_value(i, salt);
}

static void fill_f32(float *a, long n, long salt) {
  for (long i = 0; i < n; i++) a[i] = (float)input_value(i, salt);
}

static void check(oeq_status_t s, const char *what) {
  if (s == OEQ_SUCCESS) return;
  fprintf(stderr, "cdriver: %s: %s: %s\n", what, oeq_last_error(), oeq_status_string(s));
  exit(1);
}

static void put(FILE *f, const void *a, size_t bytes) {
  if (bytes && fwrite(a, 1, bytes, f) != bytes) {
    fprintf(stderr, "cdriver: write failed\n");
    exit(1);
  }
}

/* Fully connected uvw, float64, shared weights: forward then backward. */
static void run_tp(FILE *f) {
  enum { BATCH = 5 };
  oeq_problem_t *p;
  oeq_plan_t *plan;
  int64_t dx_, dy_, dz_, wn;
  check(oeq_problem_create_fully_connected("2x0e+2x1o", "1x0e+1x1o", "2x0e+1x1o+1x1e", &p), "problem");
  check(oeq_problem_set_dtypes(p, OEQ_FLOAT64, OEQ_FLOAT64), "dtypes");
  check(oeq_problem_dims(p, &dx_, &dy_, &dz_), "dims");
  check(oeq_problem_weight_numel(p, &wn), "numel");
  check(oeq_plan_create_tp(p, OEQ_BACKEND_CPU, 0, &plan), "plan");
  oeq_problem_destroy(p);
  double *x = malloc(sizeof(double) * BATCH * dx_), *y = malloc(sizeof(double) * BATCH * dy_);
  double *w = malloc(sizeof(double) * wn), *z = malloc(sizeof(double) * BATCH * dz_);
  double *gx = malloc(sizeof(double) * BATCH * dx_), *gy = malloc(sizeof(double) * BATCH * dy_);
  double *gw = malloc(sizeof(double) * wn);
  fill_f64(x, BATCH * dx_, 1);
  fill_f64(y, BATCH * dy_, 2);
  fill_f64(w, wn, 3);
  check(oeq_tp_forward(plan, BATCH, x, y, w, z, NULL), "tp forward");
  put(f, z, sizeof(double) * BATCH * dz_);
  fill_f64(z, BATCH * dz_, 4); /* dz */
  check(oeq_tp_backward(plan, BATCH, x, y, w, z, gx, gy, gw, NULL), "tp backward");
  put(f, gx, sizeof(double) * BATCH * dx_);
  put(f, gy, sizeof(double) * BATCH * dy_);
  put(f, gw, sizeof(double) * wn);
  oeq_plan_destroy(plan);
  free(x), free(y), free(w), free(z), free(gx), free(gy), free(gw);
}

/* Channelwise convolution, float32, 6 sending rows (one ghost), 5 receivers. */
enum { X_ROWS = 6, Z_ROWS = 5, EDGES = 12 };

static void graph(int32_t *rows, int32_t *cols, int32_t *perm) {
  for (int e = 0; e < EDGES; e++) {
    rows[e] = e * Z_ROWS / EDGES;
    cols[e] = (e * 7 + 3) % X_ROWS;
  }
  int k = 0; /* stable argsort of cols */
  for (int c = 0; c < X_ROWS; c++)
    for (int e = 0; e < EDGES; e++)
      if (cols[e] == c) perm[k++] = e;
}

static void run_conv(FILE *f, uint32_t flags) {
  oeq_problem_t *p;
  oeq_plan_t *plan;
  int64_t dx_, dy_, dz_, wn;
  int32_t rows[EDGES], cols[EDGES], perm[EDGES];
  graph(rows, cols, perm);
  check(oeq_problem_create_channelwise("4x0e+4x1o", "0e+1o", "0e+1o+1e", &p), "problem");
  check(oeq_problem_dims(p, &dx_, &dy_, &dz_), "dims");
  check(oeq_problem_weight_numel(p, &wn), "numel");
  check(oeq_plan_create_conv(p, OEQ_BACKEND_CPU, 0, flags, &plan), "plan");
  oeq_problem_destroy(p);
  float *x = malloc(sizeof(float) * X_ROWS * dx_), *y = malloc(sizeof(float) * EDGES * dy_);
  float *w = malloc(sizeof(float) * EDGES * wn), *z = malloc(sizeof(float) * Z_ROWS * dz_);
  float *gx = malloc(sizeof(float) * X_ROWS * dx_), *gy = malloc(sizeof(float) * EDGES * dy_);
  float *gw = malloc(sizeof(float) * EDGES * wn);
  const int32_t *sp = (flags & OEQ_CONV_DETERMINISTIC) ? perm : NULL;
  fill_f32(x, X_ROWS * dx_, 5);
  fill_f32(y, EDGES * dy_, 6);
  fill_f32(w, EDGES * wn, 7);
  check(oeq_conv_forward(plan, X_ROWS, Z_ROWS, EDGES, x, y, w, rows, cols, sp, z, NULL, 0, NULL),
        "conv forward");
  put(f, z, sizeof(float) * Z_ROWS * dz_);
  fill_f32(z, Z_ROWS * dz_, 8); /* dz */
  check(oeq_conv_backward(plan, X_ROWS, Z_ROWS, EDGES, x, y, w, z, rows, cols, sp, gx, gy, gw, NULL,
                          0, NULL),
        "conv backward");
  put(f, gx, sizeof(float) * X_ROWS * dx_);
  put(f, gy, sizeof(float) * EDGES * dy_);
  put(f, gw, sizeof(float) * EDGES * wn);
  oeq_plan_destroy(plan);
  free(x), free(y), free(w), free(z), free(gx), free(gy), free(gw);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: cdriver OUTPUT\n");
    return 2;
  }
  FILE *f = fopen(argv[1], "wb");
  if (!f) {
    perror(argv[1]);
    return 1;
  }
  run_tp(f);
  run_conv(f, OEQ_CONV_DETERMINISTIC);
  run_conv(f, 0);
  return fclose(f) == 0 ? 0 : 1;
}
