/* symcon_codegen.h: CUDA / HIP source for a symmetric contraction (MACE's
 * product basis, lib/symcon.h), in one of two layouts.
 *
 * "pairs" (symcon_codegen_pairs.c, symcon_pairs.h): the sum over basis
 * elements is taken once per block and channel, into shared memory, and a
 * thread evaluates a row's polynomial from it; used whenever that table
 * ([pairs + basis elements][species]) fits a block's shared memory.
 *
 * "terms" (below, symcon_codegen.c), for the rest (many species): the U basis is emitted sparse: every nonzero is a compile-time constant in
 * straight-line code, grouped by (basis element k, output component m) so
 * that a weight W[s][k][c] is loaded once per row and channel and multiplies
 * the whole polynomial sum_{idx} U[m][idx][k] x[idx_1]..x[idx_nu]. A warp
 * owns a row at a time (grid-stride over rows); lanes run across channels
 * (x, z, W are all channel-contiguous per row, so loads are coalesced); the
 * species' weights are gathered per row.
 *
 * Three kernels: the forward (z), the backward's dx (same layout as the
 * forward), and the backward's dw, which needs a sum over the rows of each
 * species without any host synchronisation: its grid's y dimension splits
 * the basis elements into groups small enough that a block keeps one
 * partial [num_elements][group][channels] in shared memory (shared-memory
 * atomics per row), and a block adds its partial to dw with global atomics
 * once, after its last row. dw must be zeroed first (stream-ordered memset).
 * Where even one basis element per group does not fit, the dw kernel adds
 * every row's contribution to dw with global atomics instead. */
#ifndef OEQ_SYMCON_CODEGEN_H
#define OEQ_SYMCON_CODEGEN_H

#include "codegen/kernel_table.h"
#include "codegen/tp_codegen.h"
#include "status.h"
#include "symcon.h"

typedef struct oeq_symcon_source {
  /* the translation unit (free() it); OEQ_PART 1 holds the forward kernel,
   * OEQ_PART 2 the two backward kernels */
  char *text;
  int warp_size, warps_per_block;
  int dw_groups;     /* grid_y of the dw kernel */
  int dw_group_size; /* basis elements per group */
  int dw_in_shared;  /* 1: per-block shared partials; 0: global atomics per row */
  int pairs;         /* 1: the pair layout (the dw_* fields do not apply) */
  oeq_kernel_table_t kernels;
} oeq_symcon_source_t;

typedef enum { OEQ_SYMCON_LAYOUT_AUTO, OEQ_SYMCON_LAYOUT_TERMS, OEQ_SYMCON_LAYOUT_PAIRS } oeq_symcon_layout_t;

enum { OEQ_SYMCON_K_FORWARD, OEQ_SYMCON_K_DX, OEQ_SYMCON_K_DW, OEQ_SYMCON_K_COUNT };

#define OEQ_SYMCON_FORWARD_KERNEL "oeq_symcon_forward"
#define OEQ_SYMCON_DX_KERNEL "oeq_symcon_backward_dx"
#define OEQ_SYMCON_DW_KERNEL "oeq_symcon_backward_dw"

/* Kernel signatures (IT / WT: the irrep / weight element types):
 *   oeq_symcon_forward(const IT *x, const int *species, const WT *w, IT *z, long long batch)
 *   oeq_symcon_backward_dx(const IT *x, const int *species, const WT *w, const IT *dz,
 *                          IT *dx, long long batch)
 *   oeq_symcon_backward_dw(const IT *x, const int *species, const IT *dz, WT *dw,
 *                          long long batch)       (dw zeroed before)
 * A row whose species is outside [0, num_elements) is skipped (its z / dx
 * row is not written); the CPU backend reports it instead. The dtypes are
 * sc->irrep_dtype and sc->weight_dtype; arithmetic is in double if either
 * is float64, else float. */
oeq_status_t oeq_codegen_symcon(const oeq_symcon_t *sc, const oeq_codegen_target_t *target,
                                oeq_symcon_source_t *out, oeq_error_t *err);
/* The same in a chosen layout (tests and benchmarks compare them): PAIRS
 * fails with OEQ_ERROR_UNSUPPORTED where its table does not fit; AUTO is
 * oeq_codegen_symcon. */
oeq_status_t oeq_codegen_symcon_layout(const oeq_symcon_t *sc, const oeq_codegen_target_t *target,
                                       oeq_symcon_layout_t layout, oeq_symcon_source_t *out,
                                       oeq_error_t *err);

#endif
