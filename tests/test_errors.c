/* test_errors.c: the API's error model (abi.md): every function checks its
 * arguments, returns the right status with a message in oeq_last_error(),
 * writes nothing on failure; status strings; ABI version; backends; thread
 * safety of plan creation and of executing one plan from many threads. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oeq.h"
#include "support.h"

TestSuite(errors);

/* Expect status `want` and a non-empty last error containing `needle`. */
#define EXPECT_FAIL(call, want, needle)                                                               \
  do {                                                                                               \
    oeq_status_t s_ = (call);                                                                        \
    cr_expect_eq(s_, (want), "%s: status %d (%s), want %d", #call, (int)s_, oeq_status_string(s_),   \
                 (int)(want));                                                                       \
    cr_expect(oeq_last_error()[0] != '\0', "%s: empty oeq_last_error()", #call);                     \
    cr_expect(strstr(oeq_last_error(), (needle)) != NULL, "%s: message \"%s\" lacks \"%s\"", #call,  \
              oeq_last_error(), (needle));                                                           \
  } while (0)

#define EXPECT_OK(call)                                                                               \
  do {                                                                                               \
    oeq_status_t s_ = (call);                                                                        \
    cr_assert_eq(s_, OEQ_SUCCESS, "%s: %s", #call, oeq_last_error());                                \
    cr_expect_str_eq(oeq_last_error(), "", "%s succeeded but left \"%s\"", #call, oeq_last_error()); \
  } while (0)

#define INV OEQ_ERROR_INVALID_ARGUMENT

/* A small valid problem: float64, weighted and unweighted paths. */
static oeq_problem_t *small_problem(int shared) {
  oeq_problem_t *p = NULL;
  EXPECT_OK(oeq_problem_create("2x0e+2x1o", "1x0e+1x1o", "2x0e+2x1o+2x1e", &p));
  EXPECT_OK(oeq_problem_add_instruction(p, 0, 0, 0, OEQ_MODE_UVU, 1, 1.0));
  EXPECT_OK(oeq_problem_add_instruction(p, 1, 1, 0, OEQ_MODE_UVU, 0, 1.0));
  EXPECT_OK(oeq_problem_add_instruction(p, 1, 0, 1, OEQ_MODE_UVW, 1, 1.0));
  EXPECT_OK(oeq_problem_add_instruction(p, 1, 1, 2, OEQ_MODE_UVU, 1, 1.0));
  EXPECT_OK(oeq_problem_set_dtypes(p, OEQ_FLOAT64, OEQ_FLOAT64));
  EXPECT_OK(oeq_problem_set_shared_weights(p, shared));
  return p;
}

/* ------------------------------------------------------------ library */

Test(errors, abi_and_version) {
  cr_expect_eq(oeq_abi_version(), OEQ_ABI_VERSION);
  cr_expect_eq(OEQ_ABI_VERSION, 1);
  const char *v = oeq_version();
  cr_assert_not_null(v);
  cr_expect_str_eq(v, OEQ_VERSION_STRING);
  char want[64];
  snprintf(want, sizeof want, "%d.%d.%d", OEQ_VERSION_MAJOR, OEQ_VERSION_MINOR, OEQ_VERSION_PATCH);
  cr_expect_str_eq(v, want, "oeq_version() = %s, want MAJOR.MINOR.PATCH = %s", v, want);
  int a, b, c, n = -1;
  cr_expect(sscanf(v, "%d.%d.%d%n", &a, &b, &c, &n) == 3 && n == (int)strlen(v), "\"%s\" is not N.N.N", v);
}

Test(errors, status_strings) {
  const char *seen[11];
  for (int s = 0; s <= 10; s++) {
    const char *t = oeq_status_string((oeq_status_t)s);
    cr_assert_not_null(t, "status %d", s);
    cr_expect(t[0] != '\0', "empty text for status %d", s);
    cr_expect(strcmp(t, "unknown status") != 0, "status %d has no text of its own", s);
    for (int k = 0; k < s; k++) cr_expect(strcmp(seen[k], t) != 0, "statuses %d and %d share \"%s\"", k, s, t);
    seen[s] = t;
  }
  const int unknown[] = {11, -1, 1000, 0x7fffffff};
  for (int i = 0; i < 4; i++) {
    const char *t = oeq_status_string((oeq_status_t)unknown[i]);
    cr_assert_not_null(t);
    cr_expect_str_eq(t, "unknown status", "status %d gives \"%s\"", unknown[i], t);
  }
}

Test(errors, last_error_lifecycle) {
  oeq_problem_t *p = NULL;
  EXPECT_FAIL(oeq_problem_create("1x", "0e", "0e", &p), OEQ_ERROR_PARSE, "1x");
  EXPECT_OK(oeq_problem_create("0e", "0e", "0e", &p));
  cr_expect_str_eq(oeq_last_error(), "");
  int64_t n;
  EXPECT_FAIL(oeq_problem_weight_numel(NULL, &n), INV, "NULL");
  EXPECT_OK(oeq_problem_weight_numel(p, &n));
  oeq_problem_destroy(p);
}

Test(errors, backends) {
  cr_expect_eq(oeq_backend_available(OEQ_BACKEND_CPU), 1);
  cr_expect_str_eq(oeq_last_error(), "");
  cr_expect_eq(oeq_backend_available(OEQ_BACKEND_AUTO), 1);
  cr_expect_eq(oeq_backend_available((oeq_backend_t)7), 0);
  cr_expect(strstr(oeq_last_error(), "7") != NULL, "bad backend message: %s", oeq_last_error());
  oeq_problem_t *p = small_problem(1);
  oeq_plan_t *plan = (oeq_plan_t *)0x1;
  /* HIP is not built here. */
  cr_expect_eq(oeq_backend_available(OEQ_BACKEND_HIP), 0);
  cr_expect(oeq_last_error()[0] != '\0', "no reason given for HIP");
  EXPECT_FAIL(oeq_plan_create_tp(p, OEQ_BACKEND_HIP, 0, &plan), OEQ_ERROR_BACKEND_UNAVAILABLE, "hip");
  EXPECT_FAIL(oeq_plan_create_conv(p, OEQ_BACKEND_HIP, 0, 0, &plan), OEQ_ERROR_BACKEND_UNAVAILABLE, "hip");
  cr_expect_eq(plan, (oeq_plan_t *)0x1, "*out written on failure");
  int cuda = oeq_backend_available(OEQ_BACKEND_CUDA);
  if (!cuda) {
    cr_expect(oeq_last_error()[0] != '\0', "no reason given for CUDA");
    oeq_status_t s = oeq_plan_create_tp(p, OEQ_BACKEND_CUDA, 0, &plan);
    cr_expect_eq(s, OEQ_ERROR_BACKEND_UNAVAILABLE, "CUDA plan without CUDA: %d", s);
    cr_expect(oeq_last_error()[0] != '\0');
  }
  /* AUTO: the CPU when no GPU backend is available */
  EXPECT_OK(oeq_plan_create_tp(p, OEQ_BACKEND_AUTO, 0, &plan));
  oeq_backend_t b = (oeq_backend_t)-1;
  EXPECT_OK(oeq_plan_backend(plan, &b));
  if (!cuda)
    cr_expect_eq(b, OEQ_BACKEND_CPU, "AUTO chose %d without a GPU", b);
  else
    cr_expect_eq(b, OEQ_BACKEND_CUDA, "AUTO chose %d with CUDA available", b);
  oeq_plan_destroy(plan);
  EXPECT_OK(oeq_plan_create_conv(p, OEQ_BACKEND_CPU, 0, 0, &plan));
  EXPECT_OK(oeq_plan_backend(plan, &b));
  cr_expect_eq(b, OEQ_BACKEND_CPU);
  oeq_plan_destroy(plan);
  oeq_problem_destroy(p);
}

/* ------------------------------------------------------------ problem */

Test(errors, problem_functions) {
  oeq_problem_t *p = (oeq_problem_t *)0x1;
  EXPECT_FAIL(oeq_problem_create(NULL, "0e", "0e", &p), INV, "NULL");
  EXPECT_FAIL(oeq_problem_create("0e", NULL, "0e", &p), INV, "NULL");
  EXPECT_FAIL(oeq_problem_create("0e", "0e", NULL, &p), INV, "NULL");
  EXPECT_FAIL(oeq_problem_create("0e", "0e", "0e", NULL), INV, "NULL");
  EXPECT_FAIL(oeq_problem_create("0e", "0e", "1.5x0e", &p), OEQ_ERROR_PARSE, "1.5x0e");
  EXPECT_FAIL(oeq_problem_create_fully_connected(NULL, "0e", "0e", &p), INV, "NULL");
  EXPECT_FAIL(oeq_problem_create_fully_connected("0e", NULL, "0e", &p), INV, "NULL");
  EXPECT_FAIL(oeq_problem_create_fully_connected("0e", "0e", NULL, &p), INV, "NULL");
  EXPECT_FAIL(oeq_problem_create_fully_connected("0e", "0e", "0e", NULL), INV, "NULL");
  EXPECT_FAIL(oeq_problem_create_fully_connected("0e", "-1x0e", "0e", &p), OEQ_ERROR_PARSE, "-1x0e");
  EXPECT_FAIL(oeq_problem_create_channelwise(NULL, "0e", "0e", &p), INV, "NULL");
  EXPECT_FAIL(oeq_problem_create_channelwise("0e", NULL, "0e", &p), INV, "NULL");
  EXPECT_FAIL(oeq_problem_create_channelwise("0e", "0e", NULL, &p), INV, "NULL");
  EXPECT_FAIL(oeq_problem_create_channelwise("0e", "0e", "0e", NULL), INV, "NULL");
  EXPECT_FAIL(oeq_problem_create_channelwise("0e", "0e", "x1o", &p), OEQ_ERROR_PARSE, "x1o");
  cr_expect_eq(p, (oeq_problem_t *)0x1, "*out written by a failed create");

  EXPECT_FAIL(oeq_problem_add_instruction(NULL, 0, 0, 0, OEQ_MODE_UVW, 1, 1.0), INV, "NULL");
  EXPECT_FAIL(oeq_problem_set_dtypes(NULL, OEQ_FLOAT32, OEQ_FLOAT32), INV, "NULL");
  EXPECT_FAIL(oeq_problem_set_shared_weights(NULL, 1), INV, "NULL");
  EXPECT_FAIL(oeq_problem_set_normalization(NULL, OEQ_IRREP_NORM_COMPONENT, OEQ_PATH_NORM_ELEMENT), INV, "NULL");
  EXPECT_FAIL(oeq_problem_set_layout(NULL, OEQ_LAYOUT_MUL_IR), INV, "NULL");
  EXPECT_FAIL(oeq_problem_set_variances(NULL, NULL, NULL, NULL), INV, "NULL");
  int64_t n = -7, d1 = -7;
  EXPECT_FAIL(oeq_problem_weight_numel(NULL, &n), INV, "NULL");
  EXPECT_FAIL(oeq_problem_dims(NULL, &d1, NULL, NULL), INV, "NULL");
  cr_expect(n == -7 && d1 == -7, "out-pointers written by failed calls");
  size_t need = 99;
  EXPECT_FAIL(oeq_problem_describe(NULL, NULL, 0, &need), INV, "NULL");
  cr_expect_eq(need, 99);
  oeq_problem_destroy(NULL);

  p = small_problem(1);
  EXPECT_FAIL(oeq_problem_weight_numel(p, NULL), INV, "NULL");
  char buf[4];
  EXPECT_FAIL(oeq_problem_describe(p, NULL, sizeof buf, &need), INV, "NULL");
  /* bad enums, each rejected with the value named, the problem unchanged */
  EXPECT_FAIL(oeq_problem_set_dtypes(p, (oeq_dtype_t)2, OEQ_FLOAT32), INV, "2");
  EXPECT_FAIL(oeq_problem_set_dtypes(p, OEQ_FLOAT32, (oeq_dtype_t)-1), INV, "-1");
  EXPECT_FAIL(oeq_problem_set_normalization(p, (oeq_irrep_norm_t)3, OEQ_PATH_NORM_ELEMENT), INV, "3");
  EXPECT_FAIL(oeq_problem_set_normalization(p, OEQ_IRREP_NORM_COMPONENT, (oeq_path_norm_t)3), INV, "3");
  EXPECT_FAIL(oeq_problem_set_normalization(p, (oeq_irrep_norm_t)-2, OEQ_PATH_NORM_ELEMENT), INV, "-2");
  EXPECT_FAIL(oeq_problem_set_layout(p, (oeq_layout_t)2), INV, "2");
  EXPECT_FAIL(oeq_problem_add_instruction(p, 0, 0, 0, (oeq_mode_t)9, 1, 1.0), INV, "9");
  EXPECT_FAIL(oeq_problem_add_instruction(p, 0, 0, 0, OEQ_MODE_UVU, 1, -0.5), INV, "path_weight");
  EXPECT_FAIL(oeq_problem_add_instruction(p, 5, 0, 0, OEQ_MODE_UVU, 1, 1.0), OEQ_ERROR_INVALID_PROBLEM, "instruction 4");
  const double neg[] = {1.0, -1.0};
  EXPECT_FAIL(oeq_problem_set_variances(p, neg, NULL, NULL), INV, "in1_var[1]");
  char desc[8192];
  EXPECT_OK(oeq_problem_describe(p, desc, sizeof desc, &need));
  cr_expect(strstr(desc, "\"irrep_dtype\": \"float64\"") && strstr(desc, "\"component\"") &&
                strstr(desc, "\"mul_ir\""),
            "a rejected setter changed the problem: %s", desc);
  cr_expect(strstr(desc, "instruction") != NULL);
  int64_t numel = 0;
  EXPECT_OK(oeq_problem_weight_numel(p, &numel));
  cr_expect_eq(numel, 2 + 2 * 2 + 2, "weight_numel %lld", (long long)numel);
  oeq_problem_destroy(p);
}

/* -------------------------------------------------------------- plans */

Test(errors, plan_functions) {
  oeq_problem_t *p = small_problem(1);
  oeq_plan_t *plan = (oeq_plan_t *)0x1;
  EXPECT_FAIL(oeq_plan_create_tp(NULL, OEQ_BACKEND_CPU, 0, &plan), INV, "NULL");
  EXPECT_FAIL(oeq_plan_create_tp(p, OEQ_BACKEND_CPU, 0, NULL), INV, "NULL");
  EXPECT_FAIL(oeq_plan_create_tp(p, (oeq_backend_t)4, 0, &plan), INV, "4");
  EXPECT_FAIL(oeq_plan_create_tp(p, (oeq_backend_t)-1, 0, &plan), INV, "-1");
  EXPECT_FAIL(oeq_plan_create_tp(p, OEQ_BACKEND_CPU, -1, &plan), INV, "device");
  EXPECT_FAIL(oeq_plan_create_conv(NULL, OEQ_BACKEND_CPU, 0, 0, &plan), INV, "NULL");
  EXPECT_FAIL(oeq_plan_create_conv(p, OEQ_BACKEND_CPU, 0, 0, NULL), INV, "NULL");
  EXPECT_FAIL(oeq_plan_create_conv(p, (oeq_backend_t)5, 0, 0, &plan), INV, "5");
  EXPECT_FAIL(oeq_plan_create_conv(p, OEQ_BACKEND_CPU, 0, 1u << 7, &plan), INV, "0x80");
  EXPECT_FAIL(oeq_plan_create_conv(p, OEQ_BACKEND_CPU, 0, OEQ_CONV_KAHAN, &plan), INV, "DETERMINISTIC");
  cr_expect_eq(plan, (oeq_plan_t *)0x1, "*out written by a failed plan create");
  oeq_backend_t b = (oeq_backend_t)42;
  EXPECT_FAIL(oeq_plan_backend(NULL, &b), INV, "NULL");
  cr_expect_eq((int)b, 42);
  EXPECT_OK(oeq_plan_create_tp(p, OEQ_BACKEND_CPU, 0, &plan));
  EXPECT_FAIL(oeq_plan_backend(plan, NULL), INV, "NULL");
  oeq_plan_destroy(plan);
  oeq_plan_destroy(NULL);
  /* A problem may be destroyed right after its plan is made. */
  EXPECT_OK(oeq_plan_create_conv(p, OEQ_BACKEND_CPU, 0, OEQ_CONV_DETERMINISTIC | OEQ_CONV_KAHAN | OEQ_INDEX_INT64,
                                 &plan));
  oeq_problem_destroy(p);
  size_t ws;
  EXPECT_OK(oeq_conv_workspace_size(plan, 4, 4, 10, &ws));
  oeq_plan_destroy(plan);
}

/* ---------------------------------------------------- tensor product calls */

typedef struct {
  oeq_plan_t *plan;
  int64_t nx, ny, nz, nw, batch;
  double *x, *y, *w, *dz;
  double *z, *dx, *dy, *dw;
  unsigned char *snap[4];
  size_t bytes[4];
} tp_ctx_t;

static tp_ctx_t tp_ctx(int shared) {
  tp_ctx_t c = {.batch = 3};
  oeq_problem_t *p = small_problem(shared);
  EXPECT_OK(oeq_problem_dims(p, &c.nx, &c.ny, &c.nz));
  EXPECT_OK(oeq_problem_weight_numel(p, &c.nw));
  EXPECT_OK(oeq_plan_create_tp(p, OEQ_BACKEND_CPU, 0, &c.plan));
  oeq_problem_destroy(p);
  int64_t wr = shared ? 1 : c.batch;
  test_rng_t rng = {3};
  c.x = malloc((size_t)(c.batch * c.nx) * 8), c.y = malloc((size_t)(c.batch * c.ny) * 8);
  c.w = malloc((size_t)(wr * c.nw) * 8), c.dz = malloc((size_t)(c.batch * c.nz) * 8);
  test_fill_double(&rng, c.x, c.batch * c.nx), test_fill_double(&rng, c.y, c.batch * c.ny);
  test_fill_double(&rng, c.w, wr * c.nw), test_fill_double(&rng, c.dz, c.batch * c.nz);
  c.bytes[0] = (size_t)(c.batch * c.nz) * 8, c.bytes[1] = (size_t)(c.batch * c.nx) * 8;
  c.bytes[2] = (size_t)(c.batch * c.ny) * 8, c.bytes[3] = (size_t)(wr * c.nw) * 8;
  double **outs[4] = {&c.z, &c.dx, &c.dy, &c.dw};
  for (int k = 0; k < 4; k++) {
    *outs[k] = malloc(c.bytes[k]);
    test_poison_double(*outs[k], (int64_t)(c.bytes[k] / 8));
    c.snap[k] = malloc(c.bytes[k]);
    memcpy(c.snap[k], *outs[k], c.bytes[k]);
  }
  return c;
}

static void tp_ctx_untouched(const tp_ctx_t *c, const char *what) {
  const double *outs[4] = {c->z, c->dx, c->dy, c->dw};
  for (int k = 0; k < 4; k++)
    cr_expect(memcmp(outs[k], c->snap[k], c->bytes[k]) == 0, "%s: output %d written by a failed call", what, k);
}

static void tp_ctx_free(tp_ctx_t *c) {
  oeq_plan_destroy(c->plan);
  free(c->x), free(c->y), free(c->w), free(c->dz), free(c->z), free(c->dx), free(c->dy), free(c->dw);
  for (int k = 0; k < 4; k++) free(c->snap[k]);
}

Test(errors, tp_calls) {
  for (int shared = 0; shared < 2; shared++) {
    tp_ctx_t c = tp_ctx(shared);
    int64_t B = c.batch;
    void *stream = (void *)0x1234;
    EXPECT_FAIL(oeq_tp_forward(NULL, B, c.x, c.y, c.w, c.z, NULL), INV, "plan is NULL");
    EXPECT_FAIL(oeq_tp_forward(c.plan, -1, c.x, c.y, c.w, c.z, NULL), INV, "-1");
    EXPECT_FAIL(oeq_tp_forward(c.plan, B, NULL, c.y, c.w, c.z, NULL), INV, "x is NULL");
    EXPECT_FAIL(oeq_tp_forward(c.plan, B, c.x, NULL, c.w, c.z, NULL), INV, "y is NULL");
    EXPECT_FAIL(oeq_tp_forward(c.plan, B, c.x, c.y, NULL, c.z, NULL), INV, "w is NULL");
    EXPECT_FAIL(oeq_tp_forward(c.plan, B, c.x, c.y, c.w, NULL, NULL), INV, "z is NULL");
    EXPECT_FAIL(oeq_tp_forward(c.plan, B, c.x, c.y, c.w, c.z, stream), INV, "stream");
    EXPECT_FAIL(oeq_tp_backward(NULL, B, c.x, c.y, c.w, c.dz, c.dx, c.dy, c.dw, NULL), INV, "plan is NULL");
    EXPECT_FAIL(oeq_tp_backward(c.plan, -5, c.x, c.y, c.w, c.dz, c.dx, c.dy, c.dw, NULL), INV, "-5");
    EXPECT_FAIL(oeq_tp_backward(c.plan, B, NULL, c.y, c.w, c.dz, c.dx, c.dy, c.dw, NULL), INV, "x is NULL");
    EXPECT_FAIL(oeq_tp_backward(c.plan, B, c.x, NULL, c.w, c.dz, c.dx, c.dy, c.dw, NULL), INV, "y is NULL");
    EXPECT_FAIL(oeq_tp_backward(c.plan, B, c.x, c.y, NULL, c.dz, c.dx, c.dy, c.dw, NULL), INV, "w is NULL");
    EXPECT_FAIL(oeq_tp_backward(c.plan, B, c.x, c.y, c.w, NULL, c.dx, c.dy, c.dw, NULL), INV, "dz is NULL");
    EXPECT_FAIL(oeq_tp_backward(c.plan, B, c.x, c.y, c.w, c.dz, NULL, c.dy, c.dw, NULL), INV, "dx is NULL");
    EXPECT_FAIL(oeq_tp_backward(c.plan, B, c.x, c.y, c.w, c.dz, c.dx, NULL, c.dw, NULL), INV, "dy is NULL");
    EXPECT_FAIL(oeq_tp_backward(c.plan, B, c.x, c.y, c.w, c.dz, c.dx, c.dy, NULL, NULL), INV, "dw is NULL");
    EXPECT_FAIL(oeq_tp_backward(c.plan, B, c.x, c.y, c.w, c.dz, c.dx, c.dy, c.dw, stream), INV, "stream");
    /* a TP plan used for convolution */
    int32_t idx[3] = {0, 1, 2};
    size_t ws = 77;
    EXPECT_FAIL(oeq_conv_forward(c.plan, 3, 3, 3, c.x, c.y, c.w, idx, idx, NULL, c.z, NULL, 0, NULL), INV,
                "tensor-product plan");
    EXPECT_FAIL(oeq_conv_backward(c.plan, 3, 3, 3, c.x, c.y, c.w, c.dz, idx, idx, NULL, c.dx, c.dy, c.dw, NULL, 0,
                                  NULL),
                INV, "tensor-product plan");
    EXPECT_FAIL(oeq_conv_workspace_size(c.plan, 3, 3, 3, &ws), INV, "tensor-product plan");
    cr_expect_eq(ws, 77u, "bytes written by a failed call");
    tp_ctx_untouched(&c, "tp bad calls");
    /* the same calls succeed with good arguments */
    EXPECT_OK(oeq_tp_forward(c.plan, B, c.x, c.y, c.w, c.z, NULL));
    EXPECT_OK(oeq_tp_backward(c.plan, B, c.x, c.y, c.w, c.dz, c.dx, c.dy, c.dw, NULL));
    tp_ctx_free(&c);
  }
}

Test(errors, weights_null_allowed_only_without_weights) {
  oeq_problem_t *p = NULL;
  EXPECT_OK(oeq_problem_create("1x1o", "1x1o", "1x0e+1x1e", &p));
  EXPECT_OK(oeq_problem_add_instruction(p, 0, 0, 0, OEQ_MODE_UUU, 0, 1.0));
  EXPECT_OK(oeq_problem_add_instruction(p, 0, 0, 1, OEQ_MODE_UVU, 0, 1.0));
  EXPECT_OK(oeq_problem_set_dtypes(p, OEQ_FLOAT64, OEQ_FLOAT64));
  oeq_plan_t *plan;
  EXPECT_OK(oeq_plan_create_tp(p, OEQ_BACKEND_CPU, 0, &plan));
  double x[3] = {1, 2, 3}, y[3] = {4, 5, 6}, z[4], dz[4] = {1, 1, 1, 1}, dx[3], dy[3];
  EXPECT_OK(oeq_tp_forward(plan, 1, x, y, NULL, z, NULL));
  EXPECT_OK(oeq_tp_backward(plan, 1, x, y, NULL, dz, dx, dy, NULL, NULL));
  oeq_plan_destroy(plan);
  /* with one weighted path, NULL w is refused */
  EXPECT_OK(oeq_problem_add_instruction(p, 0, 0, 0, OEQ_MODE_UVW, 1, 1.0));
  EXPECT_OK(oeq_plan_create_tp(p, OEQ_BACKEND_CPU, 0, &plan));
  test_poison_double(z, 4);
  EXPECT_FAIL(oeq_tp_forward(plan, 1, x, y, NULL, z, NULL), INV, "w is NULL");
  for (int i = 0; i < 4; i++) cr_expect(isnan(z[i]), "z written");
  oeq_plan_destroy(plan);
  oeq_problem_destroy(p);
}

/* ---------------------------------------------------------- convolution */

Test(errors, conv_calls) {
  for (int shared = 0; shared < 2; shared++) {
    oeq_problem_t *p = small_problem(shared);
    int64_t nx, ny, nz, nw;
    EXPECT_OK(oeq_problem_dims(p, &nx, &ny, &nz));
    EXPECT_OK(oeq_problem_weight_numel(p, &nw));
    oeq_plan_t *plan, *det;
    EXPECT_OK(oeq_plan_create_conv(p, OEQ_BACKEND_CPU, 0, 0, &plan));
    EXPECT_OK(oeq_plan_create_conv(p, OEQ_BACKEND_CPU, 0, OEQ_CONV_DETERMINISTIC, &det));
    oeq_problem_destroy(p);
    enum { N = 4, E = 5 };
    int32_t rows[E] = {0, 0, 1, 2, 3}, cols[E] = {1, 2, 0, 3, 3}, perm[E] = {2, 0, 1, 3, 4};
    int64_t wr = shared ? 1 : E;
    double *x = malloc((size_t)(N * nx) * 8), *y = malloc((size_t)(E * ny) * 8), *w = malloc((size_t)(wr * nw) * 8);
    double *dz = malloc((size_t)(N * nz) * 8), *z = malloc((size_t)(N * nz) * 8), *dx = malloc((size_t)(N * nx) * 8);
    double *dy = malloc((size_t)(E * ny) * 8), *dw = malloc((size_t)(wr * nw) * 8);
    test_rng_t rng = {4};
    test_fill_double(&rng, x, N * nx), test_fill_double(&rng, y, E * ny), test_fill_double(&rng, w, wr * nw);
    test_fill_double(&rng, dz, N * nz);
    double *outs[4] = {z, dx, dy, dw};
    size_t ob[4] = {(size_t)(N * nz) * 8, (size_t)(N * nx) * 8, (size_t)(E * ny) * 8, (size_t)(wr * nw) * 8};
    unsigned char *snap[4];
    for (int k = 0; k < 4; k++) {
      test_poison_double(outs[k], (int64_t)(ob[k] / 8));
      snap[k] = malloc(ob[k]);
      memcpy(snap[k], outs[k], ob[k]);
    }
    void *st = (void *)0x99;
    EXPECT_FAIL(oeq_conv_forward(NULL, N, N, E, x, y, w, rows, cols, NULL, z, NULL, 0, NULL), INV, "plan is NULL");
    EXPECT_FAIL(oeq_conv_forward(plan, -1, N, E, x, y, w, rows, cols, NULL, z, NULL, 0, NULL), INV, "x_rows = -1");
    EXPECT_FAIL(oeq_conv_forward(plan, N, -2, E, x, y, w, rows, cols, NULL, z, NULL, 0, NULL), INV, "z_rows = -2");
    EXPECT_FAIL(oeq_conv_forward(plan, N, N, -3, x, y, w, rows, cols, NULL, z, NULL, 0, NULL), INV, "edges = -3");
    EXPECT_FAIL(oeq_conv_forward(plan, 0, N, E, x, y, w, rows, cols, NULL, z, NULL, 0, NULL), INV, "x_rows = 0");
    EXPECT_FAIL(oeq_conv_forward(plan, N, 0, E, x, y, w, rows, cols, NULL, z, NULL, 0, NULL), INV, "z_rows = 0");
    EXPECT_FAIL(oeq_conv_forward(plan, N, N, E, NULL, y, w, rows, cols, NULL, z, NULL, 0, NULL), INV, "x is NULL");
    EXPECT_FAIL(oeq_conv_forward(plan, N, N, E, x, NULL, w, rows, cols, NULL, z, NULL, 0, NULL), INV, "y is NULL");
    EXPECT_FAIL(oeq_conv_forward(plan, N, N, E, x, y, NULL, rows, cols, NULL, z, NULL, 0, NULL), INV, "w is NULL");
    EXPECT_FAIL(oeq_conv_forward(plan, N, N, E, x, y, w, NULL, cols, NULL, z, NULL, 0, NULL), INV, "rows is NULL");
    EXPECT_FAIL(oeq_conv_forward(plan, N, N, E, x, y, w, rows, NULL, NULL, z, NULL, 0, NULL), INV, "cols is NULL");
    EXPECT_FAIL(oeq_conv_forward(plan, N, N, E, x, y, w, rows, cols, NULL, NULL, NULL, 0, NULL), INV, "z is NULL");
    EXPECT_FAIL(oeq_conv_forward(plan, N, N, E, x, y, w, rows, cols, NULL, z, NULL, 0, st), INV, "stream");
    EXPECT_FAIL(oeq_conv_forward(det, N, N, E, x, y, w, rows, cols, NULL, z, NULL, 0, NULL), INV, "sender_perm");
    EXPECT_FAIL(oeq_conv_backward(NULL, N, N, E, x, y, w, dz, rows, cols, NULL, dx, dy, dw, NULL, 0, NULL), INV,
                "plan is NULL");
    EXPECT_FAIL(oeq_conv_backward(plan, N, N, -1, x, y, w, dz, rows, cols, NULL, dx, dy, dw, NULL, 0, NULL), INV,
                "edges = -1");
    EXPECT_FAIL(oeq_conv_backward(plan, N, N, E, NULL, y, w, dz, rows, cols, NULL, dx, dy, dw, NULL, 0, NULL), INV,
                "x is NULL");
    EXPECT_FAIL(oeq_conv_backward(plan, N, N, E, x, NULL, w, dz, rows, cols, NULL, dx, dy, dw, NULL, 0, NULL), INV,
                "y is NULL");
    EXPECT_FAIL(oeq_conv_backward(plan, N, N, E, x, y, NULL, dz, rows, cols, NULL, dx, dy, dw, NULL, 0, NULL), INV,
                "w is NULL");
    EXPECT_FAIL(oeq_conv_backward(plan, N, N, E, x, y, w, NULL, rows, cols, NULL, dx, dy, dw, NULL, 0, NULL), INV,
                "dz is NULL");
    EXPECT_FAIL(oeq_conv_backward(plan, N, N, E, x, y, w, dz, NULL, cols, NULL, dx, dy, dw, NULL, 0, NULL), INV,
                "rows is NULL");
    EXPECT_FAIL(oeq_conv_backward(plan, N, N, E, x, y, w, dz, rows, NULL, NULL, dx, dy, dw, NULL, 0, NULL), INV,
                "cols is NULL");
    EXPECT_FAIL(oeq_conv_backward(plan, N, N, E, x, y, w, dz, rows, cols, NULL, NULL, dy, dw, NULL, 0, NULL), INV,
                "dx is NULL");
    EXPECT_FAIL(oeq_conv_backward(plan, N, N, E, x, y, w, dz, rows, cols, NULL, dx, NULL, dw, NULL, 0, NULL), INV,
                "dy is NULL");
    EXPECT_FAIL(oeq_conv_backward(plan, N, N, E, x, y, w, dz, rows, cols, NULL, dx, dy, NULL, NULL, 0, NULL), INV,
                "dw is NULL");
    EXPECT_FAIL(oeq_conv_backward(plan, N, N, E, x, y, w, dz, rows, cols, NULL, dx, dy, dw, NULL, 0, st), INV, "stream");
    EXPECT_FAIL(oeq_conv_backward(det, N, N, E, x, y, w, dz, rows, cols, NULL, dx, dy, dw, NULL, 0, NULL), INV,
                "sender_perm");
    /* a conv plan used for a tensor product */
    EXPECT_FAIL(oeq_tp_forward(plan, 1, x, y, w, z, NULL), INV, "convolution plan");
    EXPECT_FAIL(oeq_tp_backward(plan, 1, x, y, w, dz, dx, dy, dw, NULL), INV, "convolution plan");
    size_t ws = 5;
    EXPECT_FAIL(oeq_conv_workspace_size(NULL, N, N, E, &ws), INV, "plan is NULL");
    EXPECT_FAIL(oeq_conv_workspace_size(plan, N, N, E, NULL), INV, "NULL");
    EXPECT_FAIL(oeq_conv_workspace_size(plan, -1, N, E, &ws), INV, ">= 0");
    EXPECT_FAIL(oeq_conv_workspace_size(plan, N, N, -1, &ws), INV, ">= 0");
    cr_expect_eq(ws, 5u);
    for (int k = 0; k < 4; k++)
      cr_expect(memcmp(outs[k], snap[k], ob[k]) == 0, "conv output %d written by a failed call", k);
    /* and good calls work */
    EXPECT_OK(oeq_conv_forward(plan, N, N, E, x, y, w, rows, cols, NULL, z, NULL, 0, NULL));
    EXPECT_OK(oeq_conv_backward(det, N, N, E, x, y, w, dz, rows, cols, perm, dx, dy, dw, NULL, 0, NULL));
    for (int k = 0; k < 4; k++) free(snap[k]);
    free(x), free(y), free(w), free(dz), free(z), free(dx), free(dy), free(dw);
    oeq_plan_destroy(plan), oeq_plan_destroy(det);
  }
}

/* --------------------------------------------------------- thread safety */

typedef struct {
  int id;
  int ok;
  double z[64];
  char msg[256];
} create_job_t;

/* Each thread builds its own problem (high l so the CG cache is exercised
 * concurrently), makes a plan and runs it on fixed inputs. */
static void *create_worker(void *arg) {
  create_job_t *j = arg;
  oeq_problem_t *p = NULL;
  oeq_plan_t *plan = NULL;
  j->ok = 0;
  if (oeq_problem_create("1x5o+1x7e", "1x4e+1x8o", "1x3o+1x9o+1x11e+1x5e", &p) != OEQ_SUCCESS) {
    snprintf(j->msg, sizeof j->msg, "create: %s", oeq_last_error());
    return NULL;
  }
  const int ins[][3] = {{0, 0, 0}, {0, 0, 1}, {1, 1, 1}, {1, 0, 2}, {0, 1, 2}, {1, 0, 3}};
  oeq_status_t s = OEQ_SUCCESS;
  for (int k = 0; k < 6 && s == OEQ_SUCCESS; k++)
    s = oeq_problem_add_instruction(p, ins[k][0], ins[k][1], ins[k][2], OEQ_MODE_UUU, 0, 1.0);
  if (s == OEQ_SUCCESS) s = oeq_problem_set_dtypes(p, OEQ_FLOAT64, OEQ_FLOAT64);
  if (s == OEQ_SUCCESS) s = oeq_plan_create_tp(p, OEQ_BACKEND_AUTO, 0, &plan);
  oeq_problem_destroy(p);
  if (s != OEQ_SUCCESS) {
    snprintf(j->msg, sizeof j->msg, "%s", oeq_last_error());
    return NULL;
  }
  double x[26], y[26];
  test_rng_t rng = {1};
  test_fill_double(&rng, x, 26);
  test_fill_double(&rng, y, 26);
  s = oeq_tp_forward(plan, 1, x, y, NULL, j->z, NULL);
  oeq_plan_destroy(plan);
  if (s != OEQ_SUCCESS) {
    snprintf(j->msg, sizeof j->msg, "forward: %s", oeq_last_error());
    return NULL;
  }
  j->ok = strcmp(oeq_last_error(), "") == 0;
  if (!j->ok) snprintf(j->msg, sizeof j->msg, "last error not cleared: %s", oeq_last_error());
  return NULL;
}

Test(errors, plan_creation_from_8_threads) {
  enum { T = 8 };
  pthread_t th[T];
  create_job_t jobs[T];
  memset(jobs, 0, sizeof jobs);
  for (int i = 0; i < T; i++) {
    jobs[i].id = i;
    cr_assert_eq(pthread_create(&th[i], NULL, create_worker, &jobs[i]), 0);
  }
  for (int i = 0; i < T; i++) pthread_join(th[i], NULL);
  /* out dim: 7 + 19 + 23 + 11 = 60 */
  for (int i = 0; i < T; i++) {
    cr_expect(jobs[i].ok, "thread %d: %s", i, jobs[i].msg);
    cr_expect(memcmp(jobs[i].z, jobs[0].z, 60 * sizeof(double)) == 0, "thread %d got other results", i);
  }
  /* and the same as a serial run */
  create_job_t serial = {0};
  create_worker(&serial);
  cr_assert(serial.ok, "%s", serial.msg);
  cr_expect(memcmp(serial.z, jobs[0].z, 60 * sizeof(double)) == 0, "threaded results differ from serial");
  double n = 0;
  for (int i = 0; i < 60; i++) n += fabs(serial.z[i]);
  cr_expect(n > 0, "all-zero output: weak test");
}

typedef struct {
  const oeq_plan_t *plan;
  int64_t batch, nx, ny, nz, nw;
  const double *x, *y, *w, *dz;
  double *z, *dx, *dy, *dw;
  oeq_status_t s1, s2;
  int failed_call_isolated;
} exec_job_t;

static void *exec_worker(void *arg) {
  exec_job_t *j = arg;
  for (int rep = 0; rep < 20; rep++) {
    j->s1 = oeq_tp_forward(j->plan, j->batch, j->x, j->y, j->w, j->z, NULL);
    j->s2 = oeq_tp_backward(j->plan, j->batch, j->x, j->y, j->w, j->dz, j->dx, j->dy, j->dw, NULL);
    if (j->s1 || j->s2) break;
  }
  /* last error is per thread: a failure here, then a check that it is ours */
  oeq_tp_forward(j->plan, -1, NULL, NULL, NULL, NULL, NULL);
  j->failed_call_isolated = strstr(oeq_last_error(), "-1") != NULL;
  return NULL;
}

Test(errors, one_plan_from_4_threads) {
  enum { T = 4 };
  oeq_problem_t *p = NULL;
  EXPECT_OK(oeq_problem_create_channelwise("16x0e+16x1o+8x2e", "0e+1o+2e", "0e+1o+2e", &p));
  EXPECT_OK(oeq_problem_set_dtypes(p, OEQ_FLOAT64, OEQ_FLOAT64));
  EXPECT_OK(oeq_problem_set_shared_weights(p, 1));
  exec_job_t base = {.batch = 50};
  EXPECT_OK(oeq_problem_dims(p, &base.nx, &base.ny, &base.nz));
  EXPECT_OK(oeq_problem_weight_numel(p, &base.nw));
  oeq_plan_t *plan;
  EXPECT_OK(oeq_plan_create_tp(p, OEQ_BACKEND_CPU, 0, &plan));
  oeq_problem_destroy(p);
  base.plan = plan;
  int64_t B = base.batch;
  double *x = malloc((size_t)(B * base.nx) * 8), *y = malloc((size_t)(B * base.ny) * 8), *w = malloc((size_t)base.nw * 8),
         *dz = malloc((size_t)(B * base.nz) * 8);
  test_rng_t rng = {10};
  test_fill_double(&rng, x, B * base.nx), test_fill_double(&rng, y, B * base.ny);
  test_fill_double(&rng, w, base.nw), test_fill_double(&rng, dz, B * base.nz);
  base.x = x, base.y = y, base.w = w, base.dz = dz;
  exec_job_t jobs[T + 1];
  for (int i = 0; i <= T; i++) {
    jobs[i] = base;
    jobs[i].z = malloc((size_t)(B * base.nz) * 8), jobs[i].dx = malloc((size_t)(B * base.nx) * 8);
    jobs[i].dy = malloc((size_t)(B * base.ny) * 8), jobs[i].dw = malloc((size_t)base.nw * 8);
    test_poison_double(jobs[i].z, B * base.nz);
  }
  exec_worker(&jobs[T]); /* serial reference */
  cr_assert(jobs[T].s1 == OEQ_SUCCESS && jobs[T].s2 == OEQ_SUCCESS, "serial run failed");
  pthread_t th[T];
  for (int i = 0; i < T; i++) cr_assert_eq(pthread_create(&th[i], NULL, exec_worker, &jobs[i]), 0);
  for (int i = 0; i < T; i++) pthread_join(th[i], NULL);
  /* main thread's last error is untouched by the workers' failures */
  EXPECT_OK(oeq_plan_backend(plan, &(oeq_backend_t){0}));
  for (int i = 0; i < T; i++) {
    cr_expect(jobs[i].s1 == OEQ_SUCCESS && jobs[i].s2 == OEQ_SUCCESS, "thread %d failed", i);
    cr_expect(jobs[i].failed_call_isolated, "thread %d saw another thread's error", i);
    cr_expect(memcmp(jobs[i].z, jobs[T].z, (size_t)(B * base.nz) * 8) == 0, "thread %d: z differs", i);
    cr_expect(memcmp(jobs[i].dx, jobs[T].dx, (size_t)(B * base.nx) * 8) == 0, "thread %d: dx differs", i);
    cr_expect(memcmp(jobs[i].dy, jobs[T].dy, (size_t)(B * base.ny) * 8) == 0, "thread %d: dy differs", i);
    cr_expect(memcmp(jobs[i].dw, jobs[T].dw, (size_t)base.nw * 8) == 0, "thread %d: dw differs", i);
  }
  for (int i = 0; i <= T; i++) free(jobs[i].z), free(jobs[i].dx), free(jobs[i].dy), free(jobs[i].dw);
  free(x), free(y), free(w), free(dz);
  oeq_plan_destroy(plan);
}

/* The getters: a NULL problem (or NULL `shared`) is INVALID_ARGUMENT with a
 * message and writes nothing; success clears the last error. */
Test(errors, getters) {
  oeq_dtype_t ir = (oeq_dtype_t)-7, wt = (oeq_dtype_t)-7;
  int shared = -7;
  int64_t a = -7, b = -7, c = -7;
  EXPECT_FAIL(oeq_problem_dtypes(NULL, &ir, &wt), INV, "problem is NULL");
  EXPECT_FAIL(oeq_problem_shared_weights(NULL, &shared), INV, "problem is NULL");
  EXPECT_FAIL(oeq_problem_irreps_count(NULL, &a, &b, &c), INV, "problem is NULL");
  cr_expect(ir == (oeq_dtype_t)-7 && wt == (oeq_dtype_t)-7 && shared == -7 && a == -7 && b == -7 && c == -7,
            "out-pointers written by failed getters");

  oeq_problem_t *p = small_problem(0);
  EXPECT_FAIL(oeq_problem_shared_weights(p, NULL), INV, "shared is NULL");
  EXPECT_OK(oeq_problem_dtypes(p, &ir, &wt));
  cr_expect(ir == OEQ_FLOAT64 && wt == OEQ_FLOAT64, "dtypes %d %d", ir, wt);
  EXPECT_FAIL(oeq_problem_irreps_count(NULL, NULL, NULL, NULL), INV, "NULL");
  EXPECT_OK(oeq_problem_shared_weights(p, &shared));
  cr_expect_eq(shared, 0);
  EXPECT_FAIL(oeq_problem_dtypes(NULL, NULL, NULL), INV, "NULL");
  EXPECT_OK(oeq_problem_irreps_count(p, &a, &b, &c));
  cr_expect(a == 2 && b == 2 && c == 3, "irreps_count %lld %lld %lld", (long long)a, (long long)b,
            (long long)c);
  oeq_problem_destroy(p);
}
