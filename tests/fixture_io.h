/* fixture_io.h: reading the e3nn reference fixtures (tests/fixtures/, format in
 * tests/fixtures/README.md) and building oeq problems from them; shared by
 * tests/test_fixtures.c and tests/test_conv_fixtures.c. */
#ifndef OEQ_TESTS_FIXTURE_IO_H
#define OEQ_TESTS_FIXTURE_IO_H

#include <stddef.h>
#include <stdint.h>

#include "oeq.h"

#define FX_MAX_INS 128
#define FX_MAX_VAR 64
#define FX_STR 512

typedef struct {
  int i1, i2, io, has_weight;
  oeq_mode_t mode;
  double path_weight;
} fx_ins_t;

/* A case's tensor-product definition (the manifest keys both suites share). */
typedef struct {
  char name[128];
  char in1[FX_STR], in2[FX_STR], out[FX_STR];
  oeq_irrep_norm_t irrep_norm;
  oeq_path_norm_t path_norm;
  int shared;
  int nvar[3]; /* -1: default */
  double var[3][FX_MAX_VAR];
  int64_t d1, d2, dout, numel;
  char builder[32];
  char builder_filter[FX_STR];
  int nins;
  fx_ins_t ins[FX_MAX_INS];
} fx_tp_t;

/* Per-suite hooks for fx_read_manifest; cur is the suite's current case.
 * begin (may be NULL): a "name" line started a case (cur is zeroed, its tp set
 * up). key: a key that is not a shared one; return 0 parsed, 1 bad value, -1
 * unknown key. end (may be NULL): the "end" line; return 0 if the case is
 * consistent, else -1 with a message in err. */
typedef struct {
  void (*begin)(void *cur);
  int (*key)(void *cur, const char *key, const char *value);
  int (*end)(const void *cur, const char *path, int lineno, char *err, size_t errn);
} fx_hooks_t;

/* In a Criterion test: asserts that call (an oeq_status_t) succeeds. */
#define FX_CHECK_OK(name, call)                                                                \
  do {                                                                                         \
    oeq_status_t st_ = (call);                                                                 \
    cr_assert_eq(st_, OEQ_SUCCESS, "case %s: %s failed: %s (%s)", (name), #call,               \
                 oeq_status_string(st_), oeq_last_error());                                    \
  } while (0)

/* $OEQ_SRCDIR/tests/fixtures, else ./tests/fixtures. */
void fx_fixture_dir(char *buf, size_t n);

/* Parses <fixture dir>/<file> into cases[0..max) (each case_size bytes; cases
 * may be NULL: count only), cur being a scratch case whose shared keys are at
 * *tp (inside cur). Returns the number of cases, or -1 with a message in err. */
int fx_read_manifest(const char *file, void *cur, size_t case_size, fx_tp_t *tp, void *cases,
                     int max, const fx_hooks_t *hooks, char *err, size_t errn);

/* Whitespace-separated integers (at most max) into out; 0, or -1 if too many. */
int fx_parse_ints(const char *v, int64_t *out, int *n, int max);

typedef struct {
  int64_t nx, ny, nw, nz;
  double *x, *y, *w, *dz, *z, *dx, *dy, *dw; /* views into buf */
  double *buf;
} fx_data_t;

/* Loads <fixture dir>/<name>.bin: little-endian float64 x, y, w, dz, z, dx,
 * dy, dw of nx, ny, nw, nz, nz, nx, ny, nw values. 0, or -1 with a message. */
int fx_load_data(const char *name, int64_t nx, int64_t ny, int64_t nw, int64_t nz, fx_data_t *d,
                 char *err, size_t errn);

/* Builds tp from its instructions (variances, normalization, shared weights,
 * dtypes dt). 0, or -1 with a message in err (nothing left allocated). */
int fx_build_problem(const fx_tp_t *tp, oeq_dtype_t dt, oeq_problem_t **out, char *err,
                     size_t errn);

/* Checks p's dims and weight count against tp's. 0, or -1 with a message
 * ("case <name> (<how>): ..."; how may be NULL). */
int fx_check_dims(const fx_tp_t *tp, const oeq_problem_t *p, const char *how, char *err,
                  size_t errn);

#endif
