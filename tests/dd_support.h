/* dd_support.h: what the double-backward suite's files share
 * (tests/test_double_backward.c, dd_forces.c, dd_fixtures.c): running a
 * TP or convolution plan's forward, backward and double backward on host
 * arrays for any backend (GPU plans get device copies), and small graphs.
 * Everything is float64 unless a case's dtype says otherwise. */
#ifndef OEQ_TEST_DD_SUPPORT_H
#define OEQ_TEST_DD_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

#include "oeq.h"

/* A plan and the counts of its calls (TP: x_rows = z_rows = edges = batch). */
typedef struct {
  oeq_plan_t *plan;
  oeq_backend_t backend;
  int conv;
  uint32_t flags;
  oeq_dtype_t dtype; /* irreps and weights */
  int64_t x_rows, z_rows, edges;
  int64_t x_dim, y_dim, z_dim, numel;
  int shared;
  /* conv: int32 indices (deterministic: rows sorted, perm sorts cols) */
  int32_t *rows, *cols, *perm;
} dd_case_t;

/* Element counts of x, y, w, z (and their gradients). */
int64_t dd_nx(const dd_case_t *c);
int64_t dd_ny(const dd_case_t *c);
int64_t dd_nw(const dd_case_t *c);
int64_t dd_nz(const dd_case_t *c);

/* Make the plan for problem p (dims read from it) on backend b; conv with
 * `flags` on a random graph of these counts (seeded), else a TP of batch
 * x_rows. 0, or -1 with the library's message in why. */
int dd_case_init(dd_case_t *c, const oeq_problem_t *p, oeq_backend_t b, int conv, uint32_t flags,
                 int64_t x_rows, int64_t z_rows, int64_t edges, uint64_t seed, char *why,
                 size_t len);
/* Replace a conv case's graph (edges as at init; rows sorted). */
void dd_case_set_graph(dd_case_t *c, const int32_t *rows, const int32_t *cols);
void dd_case_free(dd_case_t *c);

/* The calls on host arrays of the case's dtype (GPU: copied to the device
 * and back; outputs start from the host contents, so NaN poison reaches the
 * device). NULL inputs stay NULL. Return the call's status. `workspace`:
 * 1 to pass one of the reported size, 0 for NULL. */
oeq_status_t dd_forward(const dd_case_t *c, const void *x, const void *y, const void *w, void *z);
oeq_status_t dd_backward(const dd_case_t *c, const void *x, const void *y, const void *w,
                         const void *dz, void *gx, void *gy, void *gw);
oeq_status_t dd_double(const dd_case_t *c, const void *x, const void *y, const void *w,
                       const void *dz, const void *ddx, const void *ddy, const void *ddw, void *gx,
                       void *gy, void *gw, void *gdz, int workspace);

double dd_dot(const double *a, const double *b, int64_t n);

#endif
