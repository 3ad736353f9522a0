/* gpu_symcon.c: the symmetric contraction on a GPU: its source (one
 * program per direction, lib/codegen/symcon_codegen.c) and the launch
 * sequence of each call, on the caller's stream, for every runtime.
 *
 * A row whose species lies outside [0, num_elements) is skipped by the
 * kernels (its z / dx row is left as it was, its dw contribution dropped):
 * checking device memory on the host would cost a synchronisation per
 * call; the CPU backend reports such rows instead. */
#include "backend/gpu.h"
#include "codegen/symcon_codegen.h"
#include "problem.h"
#include "symcon.h"

oeq_status_t oeq_gpu_symcon_generate(const oeq_plan_t *plan, oeq_gpu_plan_t *gp, char **text,
                                     oeq_kernel_table_t *table, int *warp_size, oeq_error_t *err) {
  const oeq_codegen_target_t target = {.dialect = gp->dev.dialect,
                                       .warps_per_block = 4,
                                       .max_shared_per_block = gp->dev.max_shared,
                                       .sm = gp->dev.sm};
  oeq_symcon_source_t src = {0};
  oeq_status_t st = oeq_codegen_symcon(plan->symcon, &target, &src, err);
  if (st != OEQ_SUCCESS) return st;
  /* The dw kernel adds per-block partial sums into dw: it starts at zero. */
  gp->zero_dw_bytes = (size_t)plan->symcon->weight_numel * oeq_dtype_size(plan->symcon->weight_dtype);
  *text = src.text;
  *table = src.kernels;
  *warp_size = src.warp_size;
  return OEQ_SUCCESS;
}

oeq_status_t oeq_gpu_symcon_forward(const oeq_gpu_plan_t *gp, int64_t batch, const void *x,
                                    const int32_t *species, const void *w, void *z, void *stream,
                                    oeq_error_t *err) {
  if (batch == 0) return OEQ_SUCCESS;
  long long rows = (long long)batch;
  void *args[] = {&x, &species, &w, &z, &rows};
  return oeq_gpu_launch(gp, OEQ_SYMCON_K_FORWARD, batch, stream, args, err);
}

/* dx and dw are independent: each is skipped when NULL. dw is written for
 * every batch (zeros when there are no rows), as on the CPU. */
oeq_status_t oeq_gpu_symcon_backward(const oeq_gpu_plan_t *gp, int64_t batch, const void *x,
                                     const int32_t *species, const void *w, const void *dz,
                                     void *dx, void *dw, void *stream, oeq_error_t *err) {
  long long rows = (long long)batch;
  oeq_status_t st = OEQ_SUCCESS;
  if (dx && batch > 0) {
    void *args[] = {&x, &species, &w, &dz, &dx, &rows};
    st = oeq_gpu_launch(gp, OEQ_SYMCON_K_DX, batch, stream, args, err);
  }
  if (st == OEQ_SUCCESS && dw) {
    st = gp->drv->memset_async(dw, gp->zero_dw_bytes, stream, err);
    if (st == OEQ_SUCCESS && batch > 0) {
      void *args[] = {&x, &species, &dz, &dw, &rows};
      st = oeq_gpu_launch(gp, OEQ_SYMCON_K_DW, batch, stream, args, err);
    }
  }
  return st;
}
