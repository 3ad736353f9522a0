/* tp_codegen.h: CUDA / HIP source for a tensor-product schedule.
 *
 * One translation unit holds the forward kernel (z = TP(x, y, w)) and the
 * backward kernel (dx, dy, dw in one pass), both specialised to the
 * schedule: every multiplicity, offset and CG coefficient is a compile-time
 * constant and the CG sums are unrolled straight-line code. A warp owns a
 * batch row at a time (grid-stride loop over rows); lanes run across the
 * multiplicity of the block being produced. With shared weights, uvw / uuw
 * products are matrix products over the batch and go to tensor-core
 * kernels that take 16 rows at a time (CUDA sm_80+): a third kernel for
 * their dw (tp_dw_mma.c) and, where every path is one, the forward and the
 * backward themselves (tp_fwd_mma.c, tp_bwd_mma.c). The dialect is chosen
 * here, at generation time: no text is substituted afterwards. */
#ifndef OEQ_TP_CODEGEN_H
#define OEQ_TP_CODEGEN_H

#include <stddef.h>

#include "codegen/kernel_table.h"
#include "schedule.h"
#include "status.h"

typedef enum { OEQ_DIALECT_CUDA = 0, OEQ_DIALECT_HIP = 1 } oeq_dialect_t;

typedef struct oeq_codegen_target {
  oeq_dialect_t dialect;
  int warps_per_block;         /* wanted; reduced so that shared memory fits */
  size_t max_shared_per_block; /* bytes a block may use (opt-in limit) */
  /* CUDA compute capability x 10 (80 for sm_80); 0 when unknown or HIP.
   * Tensor-core kernels (mma.sync) are generated only from 80 on. */
  int sm;
} oeq_codegen_target_t;

typedef struct oeq_tp_source {
  /* the translation unit (free() it); with OEQ_PART defined as 1 it holds
   * only the forward kernel, as 2 only the backward ones (dw included) */
  char *text;
  int warp_size, warps_per_block;
  int backward_zeroes_dw; /* 1: dw must be zeroed before the backward kernel */
  /* OEQ_TP_K_FORWARD: a warp a row (warps_per_block rows a block), or the
   * tensor-core forward's row tiles. OEQ_TP_K_BACKWARD: the same for dx,
   * dy (and dw unless a dw kernel exists). OEQ_TP_K_DW: shared-weight dw of
   * the pair paths on tensor cores (tp_dw_mma.c), grid_y tile groups; it
   * runs after the backward kernel on the same stream. */
  oeq_kernel_table_t kernels;
} oeq_tp_source_t;

/* OEQ_TP_K_ADD_I / _W: elementwise sums of the double backward
 * (codegen/add_kernel.h), in the forward part. */
enum {
  OEQ_TP_K_FORWARD,
  OEQ_TP_K_BACKWARD,
  OEQ_TP_K_DW,
  OEQ_TP_K_ADD_I,
  OEQ_TP_K_ADD_W,
  OEQ_TP_K_COUNT
};

#define OEQ_TP_FORWARD_KERNEL "oeq_tp_forward"
#define OEQ_TP_BACKWARD_KERNEL "oeq_tp_backward"
#define OEQ_TP_DW_KERNEL "oeq_tp_backward_dw"

/* Kernel signatures (IT/WT: the irrep / weight element types):
 *   oeq_tp_forward(const IT *x, const IT *y, const WT *w, IT *z, long long batch)
 *   oeq_tp_backward(const IT *x, const IT *y, const WT *w, const IT *dz,
 *                   IT *dx, IT *dy, WT *dw, long long batch)
 *   oeq_tp_backward_dw(const IT *x, const IT *y, const IT *dz, WT *dw,
 *                      long long batch)      (when the table lists it) */
oeq_status_t oeq_codegen_tp(const oeq_schedule_t *s, const oeq_codegen_target_t *target,
                            oeq_tp_source_t *out, oeq_error_t *err);

/* OEQ_ERROR_UNSUPPORTED (naming the instruction) for schedules the GPU
 * emitters cannot generate: l above their unrolling limit, or
 * multiplicities whose index arithmetic would overflow. */
oeq_status_t oeq_codegen_check_supported(const oeq_schedule_t *s, oeq_error_t *err);

#endif
