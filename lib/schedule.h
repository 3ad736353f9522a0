/* schedule.h: the backend-neutral plan of work.
 *
 * A schedule is a problem reduced to what a kernel needs: one path per
 * non-empty instruction (in instruction order, which is e3nn's summation
 * order), each with its block offsets in the x / y / z rows, its weight
 * offset in e3nn's flat layout, and its CG nonzeros with the normalization
 * coefficient folded in. The CPU backend executes it; the code generators
 * turn it into GPU source. Immutable once built. */
#ifndef OEQ_SCHEDULE_H
#define OEQ_SCHEDULE_H

#include <stdint.h>

#include "cg.h"
#include "problem.h"

typedef struct oeq_path {
  int instruction; /* index in the problem's instruction list */
  oeq_mode_t mode;
  int has_weight;
  int l1, l2, l3;
  int d1, d2, d3;       /* 2l+1 */
  int64_t mul1, mul2, mul3;
  int64_t x_offset, y_offset, z_offset; /* block offsets (elements) in a row */
  int64_t w_offset;     /* offset in the weight row; -1 if unweighted */
  int64_t w_count;      /* weights this path reads (0 if unweighted) */
  double coefficient;   /* e3nn's sqrt(alpha) */
  int nnz;
  oeq_cg_nonzero_t *nz; /* CG nonzeros, value already multiplied by coefficient */
} oeq_path_t;

typedef struct oeq_block {
  int64_t offset; /* elements from the row start */
  int64_t mul;
  int l, d;    /* d = 2l+1 */
  int written; /* output blocks: 1 if some path writes it (else e3nn's zeros) */
} oeq_block_t;

typedef struct oeq_schedule {
  int n_paths;
  oeq_path_t *paths;
  int64_t x_dim, y_dim, z_dim, weight_numel;
  oeq_dtype_t irrep_dtype, weight_dtype;
  int shared_weights;
  oeq_layout_t layout;
  /* The blocks of each row, for layout transforms and zeroing. */
  int n_in1_blocks, n_in2_blocks, n_out_blocks;
  oeq_block_t *in1_blocks, *in2_blocks, *out_blocks;
} oeq_schedule_t;

oeq_status_t oeq_schedule_build(const oeq_problem_t *p, oeq_schedule_t **out, oeq_error_t *err);
void oeq_schedule_free(oeq_schedule_t *s);

/* Index of element (u, a) of a block of multiplicity mul and dimension d
 * starting at offset off, in the schedule's layout. */
static inline int64_t oeq_block_index(oeq_layout_t layout, int64_t off, int64_t mul, int d,
                                      int64_t u, int a) {
  return layout == OEQ_LAYOUT_MUL_IR ? off + u * d + a : off + (int64_t)a * mul + u;
}

#endif
