/* cuda_conv.h: the fused graph convolution on the CUDA backend.
 *
 * cuda.c owns the plan (context, device) and calls these from its ops
 * table with the plan's context current. Everything is enqueued on the
 * caller's stream; nothing synchronises, except under OEQ_CONV_CHECK.
 *
 * Bad indices. The compute kernels test every edge's row and col (and, in
 * deterministic mode, each sender_perm entry) against their ranges and skip
 * an edge that is out of range: its contribution is dropped, and its dy / dw
 * rows are left unwritten. Nothing is ever written out of bounds. In
 * deterministic mode, rows that are not sorted or a sender_perm that does
 * not sort the edges by cols give unspecified (but in-bounds) results.
 * With OEQ_CONV_CHECK=1 in the environment when the plan is created, every
 * call first runs a validation kernel (ranges; in deterministic mode also
 * sortedness of rows and of cols[sender_perm]) that sets bits in the first 4
 * bytes of the workspace (OEQ_CONV_BAD_* in conv_codegen.h), then
 * synchronises the stream and returns OEQ_ERROR_INVALID_ARGUMENT naming the
 * problem (the outputs then hold the skipped-edge results). Without it the
 * calls stay asynchronous and graph-capturable.
 *
 * Workspace (oeq_conv_workspace_size, exact): 256 bytes of header, then in
 * deterministic mode one partial row per segment (max of z and x row widths,
 * in the compute type), then with shared weights one dw partial per
 * segment. Segments number at most OEQ_CONV_MAX_SEGMENTS (4096) and come
 * from the edge count alone. NULL workspace: allocated and freed
 * stream-ordered (cuMemAllocAsync / cuMemFreeAsync) when the call needs one. */
#ifndef OEQ_CUDA_CONV_H
#define OEQ_CUDA_CONV_H

#include "backend/backend.h"
#include "backend/cuda_api.h"

typedef struct oeq_cuda_conv oeq_cuda_conv_t;

/* Generate, compile (through the kernel cache) and load the conv kernels.
 * The plan's context must be current. */
oeq_status_t oeq_cuda_conv_init(const oeq_cuda_api_t *cu, const oeq_plan_t *plan, int sm, int sm_count,
                                int max_shared_optin, oeq_cuda_conv_t **out, oeq_error_t *err);
/* Unload; the plan's context must be current. NULL is a no-op. */
void oeq_cuda_conv_release(const oeq_cuda_api_t *cu, oeq_cuda_conv_t *cc);

oeq_status_t oeq_cuda_conv_workspace_size(const oeq_plan_t *plan, int64_t x_rows, int64_t z_rows,
                                          int64_t edges, size_t *bytes, oeq_error_t *err);
oeq_status_t oeq_cuda_conv_forward(const oeq_cuda_api_t *cu, const oeq_plan_t *plan,
                                   const oeq_cuda_conv_t *cc, const oeq_conv_args_t *a,
                                   oeq_error_t *err);
oeq_status_t oeq_cuda_conv_backward(const oeq_cuda_api_t *cu, const oeq_plan_t *plan,
                                    const oeq_cuda_conv_t *cc, const oeq_conv_args_t *a,
                                    oeq_error_t *err);

#endif
