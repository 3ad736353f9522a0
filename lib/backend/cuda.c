/* cuda.c: the CUDA backend. Generates the plan's kernels, compiles them with
 * NVRTC for the device's exact architecture (through the kernel cache),
 * loads them with the driver API and launches them on the caller's stream.
 *
 * Context rules (abi.md): the context current on the calling thread if it
 * belongs to the plan's device, else the device's primary context, retained
 * for the plan's lifetime and pushed around each call. No context is ever
 * created, and nothing here synchronises with the host. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/cuda_api.h"
#include "backend/cuda_conv.h"
#include "backend/ptr_memo.h"
#include "codegen/tp_codegen.h"
#include "problem.h"

typedef struct cuda_plan {
  CUdevice device;
  CUcontext context;
  int retained_primary; /* 1: release the primary context with the plan */
  CUmodule module;     /* the forward kernel */
  CUmodule module_bwd; /* the backward kernels (compiled beside the forward) */
  CUfunction forward, backward;
  CUfunction backward_dw; /* shared-weight dw on tensor cores; NULL: none */
  unsigned block_threads;   /* the backward's block, taking backward_rows rows at a time */
  int backward_rows;
  unsigned forward_threads; /* the forward's block, taking forward_rows rows at a time */
  int forward_rows;
  unsigned forward_shared, backward_shared;
  unsigned forward_grid_max, backward_grid_max; /* resident blocks on the whole device */
  int warps_per_block;
  unsigned dw_groups, dw_threads, dw_shared, dw_rows, dw_grid_max; /* backward_dw's launch */
  int zero_dw_first;
  size_t dw_bytes;
  oeq_cuda_conv_t *conv; /* conv plans: the fused convolution (cuda_conv.c) */
  oeq_ptr_memo_t checked; /* arrays that passed cuda_check_pointer */
} cuda_plan_t;

/* ------------------------------------------------------------- context */

/* Make the plan's context current; *pushed says whether to pop after. */
static oeq_status_t enter(const oeq_cuda_api_t *cu, CUcontext ctx, int *pushed, oeq_error_t *err) {
  CUcontext cur = NULL;
  *pushed = 0;
  CUresult r = cu->cuCtxGetCurrent(&cur);
  if (r != OEQ_CUDA_SUCCESS) return oeq_cuda_fail(err, r, "cuCtxGetCurrent");
  if (cur == ctx) return OEQ_SUCCESS;
  r = cu->cuCtxPushCurrent(ctx);
  if (r != OEQ_CUDA_SUCCESS) return oeq_cuda_fail(err, r, "cuCtxPushCurrent");
  *pushed = 1;
  return OEQ_SUCCESS;
}

static void leave(const oeq_cuda_api_t *cu, int pushed) {
  CUcontext popped;
  if (pushed) cu->cuCtxPopCurrent(&popped);
}

/* The caller's current context if it is on `device`, else the retained
 * primary context. */
static oeq_status_t acquire_context(const oeq_cuda_api_t *cu, cuda_plan_t *cp, oeq_error_t *err) {
  CUcontext cur = NULL;
  CUdevice cur_dev = -1;
  if (cu->cuCtxGetCurrent(&cur) == OEQ_CUDA_SUCCESS && cur &&
      cu->cuCtxGetDevice(&cur_dev) == OEQ_CUDA_SUCCESS && cur_dev == cp->device) {
    cp->context = cur;
    return OEQ_SUCCESS;
  }
  CUresult r = cu->cuDevicePrimaryCtxRetain(&cp->context, cp->device);
  if (r != OEQ_CUDA_SUCCESS) return oeq_cuda_fail(err, r, "cuDevicePrimaryCtxRetain");
  cp->retained_primary = 1;
  return OEQ_SUCCESS;
}

/* ------------------------------------------------------------- backend ops */

static int cuda_available(int device, oeq_error_t *err) {
  const oeq_cuda_api_t *cu = oeq_cuda_api(err);
  if (!cu) return 0;
  int count = 0;
  cu->cuDeviceGetCount(&count);
  if (device < 0 || device >= count) {
    oeq_fail(err, OEQ_ERROR_BACKEND_UNAVAILABLE, "no CUDA device %d (%d found)", device, count);
    return 0;
  }
  return oeq_nvrtc_api(err) != NULL;
}

static oeq_status_t get_attribute(const oeq_cuda_api_t *cu, CUdevice dev, int attr, int *value,
                                  oeq_error_t *err) {
  CUresult r = cu->cuDeviceGetAttribute(value, attr, dev);
  return r == OEQ_CUDA_SUCCESS ? OEQ_SUCCESS : oeq_cuda_fail(err, r, "cuDeviceGetAttribute");
}

/* The tensor-core dw kernel: as many blocks as the device holds at once,
 * shared among its tile groups (gridDim.y), every group's blocks striding
 * over the rows. */
static oeq_status_t load_dw_kernel(const oeq_cuda_api_t *cu, cuda_plan_t *cp,
                                   const oeq_tp_source_t *src, int sm_count, oeq_error_t *err) {
  CUresult r = cu->cuModuleGetFunction(&cp->backward_dw, cp->module_bwd, OEQ_TP_DW_KERNEL);
  if (r != OEQ_CUDA_SUCCESS) return oeq_cuda_fail(err, r, "cuModuleGetFunction");
  cp->dw_groups = (unsigned)src->dw_groups;
  cp->dw_threads = (unsigned)src->dw_threads;
  cp->dw_shared = (unsigned)src->dw_shared_bytes;
  cp->dw_rows = (unsigned)src->dw_rows;
  if (cp->dw_shared > 48 * 1024 &&
      (r = cu->cuFuncSetAttribute(cp->backward_dw, OEQ_CU_FUNC_ATTR_MAX_DYNAMIC_SHARED,
                                  (int)cp->dw_shared)) != 0)
    return oeq_cuda_fail(err, r, "cuFuncSetAttribute(max dynamic shared memory)");
  int per_sm = 0;
  r = cu->cuOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, cp->backward_dw, (int)cp->dw_threads,
                                                      cp->dw_shared);
  if (r != OEQ_CUDA_SUCCESS) return oeq_cuda_fail(err, r, "cuOccupancyMaxActiveBlocksPerMultiprocessor");
  if (per_sm < 1)
    return oeq_fail(err, OEQ_ERROR_UNSUPPORTED,
                    "the generated dw kernel cannot run on this device (%u threads, %u bytes of "
                    "shared memory per block)",
                    cp->dw_threads, cp->dw_shared);
  const unsigned resident = (unsigned)(per_sm * sm_count);
  cp->dw_grid_max = resident > cp->dw_groups ? resident / cp->dw_groups : 1;
  return OEQ_SUCCESS;
}

/* Load the modules, raise the shared-memory limits, size the grids. */
static oeq_status_t load_kernels(const oeq_cuda_api_t *cu, cuda_plan_t *cp, void *const image[2],
                                 const oeq_tp_source_t *src, int sm_count, oeq_error_t *err) {
  CUresult r = cu->cuModuleLoadData(&cp->module, image[0]);
  if (r == OEQ_CUDA_SUCCESS) r = cu->cuModuleLoadData(&cp->module_bwd, image[1]);
  if (r != OEQ_CUDA_SUCCESS) return oeq_cuda_fail(err, r, "cuModuleLoadData");
  if ((r = cu->cuModuleGetFunction(&cp->forward, cp->module, OEQ_TP_FORWARD_KERNEL)) != 0 ||
      (r = cu->cuModuleGetFunction(&cp->backward, cp->module_bwd, OEQ_TP_BACKWARD_KERNEL)) != 0)
    return oeq_cuda_fail(err, r, "cuModuleGetFunction");
  cp->warps_per_block = src->warps_per_block;
  cp->block_threads = (unsigned)src->backward_threads;
  cp->backward_rows = src->backward_rows;
  cp->forward_threads = (unsigned)src->forward_threads;
  cp->forward_rows = src->forward_rows;
  cp->forward_shared = (unsigned)src->forward_shared_bytes;
  cp->backward_shared = (unsigned)src->backward_shared_bytes;
  CUfunction fns[2] = {cp->forward, cp->backward};
  unsigned shared[2] = {cp->forward_shared, cp->backward_shared};
  unsigned *grid[2] = {&cp->forward_grid_max, &cp->backward_grid_max};
  const unsigned threads[2] = {cp->forward_threads, cp->block_threads};
  for (int i = 0; i < 2; i++) {
    /* Above 48 KB a kernel must opt in to more dynamic shared memory. */
    if (shared[i] > 48 * 1024 &&
        (r = cu->cuFuncSetAttribute(fns[i], OEQ_CU_FUNC_ATTR_MAX_DYNAMIC_SHARED, (int)shared[i])) != 0)
      return oeq_cuda_fail(err, r, "cuFuncSetAttribute(max dynamic shared memory)");
    int per_sm = 0;
    r = cu->cuOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, fns[i], (int)threads[i], shared[i]);
    if (r != OEQ_CUDA_SUCCESS) return oeq_cuda_fail(err, r, "cuOccupancyMaxActiveBlocksPerMultiprocessor");
    if (per_sm < 1)
      return oeq_fail(err, OEQ_ERROR_UNSUPPORTED,
                      "the generated kernel cannot run on this device (%u threads, %u bytes of "
                      "shared memory per block)",
                      threads[i], shared[i]);
    *grid[i] = (unsigned)(per_sm * sm_count);
  }
  return src->dw_groups ? load_dw_kernel(cu, cp, src, sm_count, err) : OEQ_SUCCESS;
}

/* ------------------------------------------------------------ compile */

/* The forward and the backward kernels as two programs (OEQ_PART 1 and
 * 2), compiled at once: NVRTC is thread-safe, and a cold plan then waits
 * for the longer of the two instead of their sum (benzene's backward
 * source is twice its forward's). Each part goes through the kernel
 * cache on its own. */
typedef struct part_job {
  char *source;
  const char *what; /* for OEQ_LOG */
  int sm;
  void *image;
  size_t size;
  oeq_status_t status;
  oeq_error_t err;
} part_job_t;

static void *compile_part(void *arg) {
  part_job_t *j = arg;
  j->status = oeq_cuda_cached_image(j->source, j->sm, j->what, &j->image, &j->size, &j->err);
  return NULL;
}

static char *with_part(const char *text, int part) {
  const size_t n = strlen(text);
  char *s = malloc(n + 32);
  if (s) snprintf(s, n + 32, "#define OEQ_PART %d\n%s", part, text);
  return s;
}

static oeq_status_t compile_parts(const char *text, int sm, void *image[2], oeq_error_t *err) {
  part_job_t job[2];
  memset(job, 0, sizeof job);
  for (int i = 0; i < 2; i++) {
    job[i].source = with_part(text, i + 1);
    job[i].sm = sm;
    job[i].what = i == 0 ? "TP forward" : "TP backward";
  }
  oeq_status_t st = OEQ_SUCCESS;
  if (!job[0].source || !job[1].source) {
    st = oeq_fail(err, OEQ_ERROR_OUT_OF_MEMORY, "out of memory preparing kernel source");
  } else {
    pthread_t t;
    const int threaded = pthread_create(&t, NULL, compile_part, &job[1]) == 0;
    compile_part(&job[0]);
    if (threaded)
      pthread_join(t, NULL);
    else
      compile_part(&job[1]); /* no thread to be had: one after the other */
    for (int i = 0; i < 2 && st == OEQ_SUCCESS; i++)
      if (job[i].status != OEQ_SUCCESS) {
        st = job[i].status;
        if (err) *err = job[i].err;
      }
  }
  for (int i = 0; i < 2; i++) {
    free(job[i].source);
    if (st == OEQ_SUCCESS)
      image[i] = job[i].image;
    else
      free(job[i].image);
  }
  return st;
}

static void release(const oeq_cuda_api_t *cu, cuda_plan_t *cp) {
  if (cp->module || cp->module_bwd || cp->conv) {
    int pushed = 0;
    if (enter(cu, cp->context, &pushed, NULL) == OEQ_SUCCESS) {
      if (cp->module) cu->cuModuleUnload(cp->module);
      if (cp->module_bwd) cu->cuModuleUnload(cp->module_bwd);
      oeq_cuda_conv_release(cu, cp->conv);
      leave(cu, pushed);
    }
  }
  if (cp->retained_primary) cu->cuDevicePrimaryCtxRelease(cp->device);
  free(cp);
}

static oeq_status_t cuda_plan_init(oeq_plan_t *plan, oeq_error_t *err) {
  const oeq_cuda_api_t *cu = oeq_cuda_api(err);
  if (!cu) return OEQ_ERROR_BACKEND_UNAVAILABLE;
  cuda_plan_t *cp = calloc(1, sizeof *cp);
  if (!cp) return oeq_fail(err, OEQ_ERROR_OUT_OF_MEMORY, "out of memory creating a CUDA plan");
  CUresult r = cu->cuDeviceGet(&cp->device, plan->device);
  if (r != OEQ_CUDA_SUCCESS) {
    free(cp);
    return oeq_cuda_fail(err, r, "cuDeviceGet");
  }
  int major = 0, minor = 0, sm_count = 1, optin = 48 * 1024;
  oeq_status_t st = get_attribute(cu, cp->device, OEQ_CU_ATTR_COMPUTE_CAPABILITY_MAJOR, &major, err);
  if (st == OEQ_SUCCESS)
    st = get_attribute(cu, cp->device, OEQ_CU_ATTR_COMPUTE_CAPABILITY_MINOR, &minor, err);
  if (st == OEQ_SUCCESS)
    st = get_attribute(cu, cp->device, OEQ_CU_ATTR_MULTIPROCESSOR_COUNT, &sm_count, err);
  if (st == OEQ_SUCCESS)
    st = get_attribute(cu, cp->device, OEQ_CU_ATTR_MAX_SHARED_PER_BLOCK_OPTIN, &optin, err);
  if (st != OEQ_SUCCESS) {
    free(cp);
    return st;
  }
  if (major < 6) {
    free(cp);
    return oeq_fail(err, OEQ_ERROR_UNSUPPORTED,
                    "compute capability %d.%d: oeq needs 6.0 or newer (float64 atomics)", major,
                    minor);
  }
  st = acquire_context(cu, cp, err);
  if (st != OEQ_SUCCESS) {
    free(cp);
    return st;
  }
  int pushed = 0;
  st = enter(cu, cp->context, &pushed, err);
  if (st != OEQ_SUCCESS) {
    release(cu, cp);
    return st;
  }
  if (plan->kind == OEQ_PLAN_CONV) { /* conv plans compile only the conv kernels */
    st = oeq_cuda_conv_init(cu, plan, major * 10 + minor, sm_count, optin, &cp->conv, err);
    leave(cu, pushed);
    if (st != OEQ_SUCCESS) {
      release(cu, cp);
      return st;
    }
    plan->impl = cp;
    return OEQ_SUCCESS;
  }
  oeq_codegen_target_t target = {.dialect = OEQ_DIALECT_CUDA,
                                 .warps_per_block = 4,
                                 .max_shared_per_block = (size_t)optin,
                                 .sm = major * 10 + minor};
  oeq_tp_source_t src = {0};
  void *image[2] = {NULL, NULL};
  st = oeq_codegen_tp(plan->schedule, &target, &src, err);
  if (st == OEQ_SUCCESS) st = compile_parts(src.text, major * 10 + minor, image, err);
  if (st == OEQ_SUCCESS) st = load_kernels(cu, cp, image, &src, sm_count, err);
  leave(cu, pushed);
  free(image[0]);
  free(image[1]);
  free(src.text);
  if (st != OEQ_SUCCESS) {
    release(cu, cp);
    return st;
  }
  cp->zero_dw_first = src.backward_zeroes_dw;
  cp->dw_bytes = (size_t)plan->schedule->weight_numel * oeq_dtype_size(plan->schedule->weight_dtype);
  plan->impl = cp;
  return OEQ_SUCCESS;
}

static void cuda_plan_release(oeq_plan_t *plan) {
  const oeq_cuda_api_t *cu = oeq_cuda_api(NULL);
  if (cu && plan->impl) release(cu, plan->impl);
  plan->impl = NULL;
}

static oeq_status_t cuda_check_pointer(const oeq_plan_t *plan, const void *ptr, const char *name,
                                       oeq_error_t *err) {
  const oeq_cuda_api_t *cu = oeq_cuda_api(err);
  cuda_plan_t *cp = plan->impl;
  if (!cu || !cp) return OEQ_ERROR_INTERNAL;
  if (oeq_ptr_memo_has(&cp->checked, ptr)) return OEQ_SUCCESS;
  int pushed = 0;
  oeq_status_t st = enter(cu, cp->context, &pushed, err);
  if (st != OEQ_SUCCESS) return st;
  unsigned int type = 0;
  CUresult r = cu->cuPointerGetAttribute(&type, OEQ_CU_POINTER_ATTR_MEMORY_TYPE,
                                         (CUdeviceptr)(uintptr_t)ptr);
  leave(cu, pushed);
  /* Pageable host memory is unknown to the driver: INVALID_VALUE. */
  if (r == OEQ_CUDA_ERROR_INVALID_VALUE || (r == OEQ_CUDA_SUCCESS && type == OEQ_CU_MEMTYPE_HOST))
    return oeq_fail(err, OEQ_ERROR_INVALID_ARGUMENT,
                    "%s is a host pointer; a CUDA plan needs device memory", name);
  if (r == OEQ_CUDA_SUCCESS) oeq_ptr_memo_add(&cp->checked, ptr);
  return OEQ_SUCCESS;
}

/* Blocks for batch rows at rows_per_block a block, at most the resident grid. */
static unsigned grid_for(int64_t batch, int rows_per_block, unsigned grid_max) {
  int64_t blocks = (batch + rows_per_block - 1) / rows_per_block;
  return blocks < (int64_t)grid_max ? (unsigned)blocks : grid_max;
}

static oeq_status_t cuda_tp_forward(const oeq_plan_t *plan, int64_t batch, const void *x,
                                    const void *y, const void *w, void *z, void *stream,
                                    oeq_error_t *err) {
  const oeq_cuda_api_t *cu = oeq_cuda_api(err);
  const cuda_plan_t *cp = plan->impl;
  if (!cu || !cp) return OEQ_ERROR_INTERNAL;
  if (batch == 0) return OEQ_SUCCESS;
  int pushed = 0;
  oeq_status_t st = enter(cu, cp->context, &pushed, err);
  if (st != OEQ_SUCCESS) return st;
  long long rows = (long long)batch;
  void *args[] = {&x, &y, &w, &z, &rows};
  CUresult r = cu->cuLaunchKernel(cp->forward, grid_for(batch, cp->forward_rows, cp->forward_grid_max),
                                  1, 1, cp->forward_threads, 1, 1, cp->forward_shared,
                                  (CUstream)stream, args, NULL);
  leave(cu, pushed);
  return r == OEQ_CUDA_SUCCESS ? OEQ_SUCCESS : oeq_cuda_fail(err, r, "launching the TP forward kernel");
}

static oeq_status_t cuda_tp_backward(const oeq_plan_t *plan, int64_t batch, const void *x,
                                     const void *y, const void *w, const void *dz, void *dx,
                                     void *dy, void *dw, void *stream, oeq_error_t *err) {
  const oeq_cuda_api_t *cu = oeq_cuda_api(err);
  const cuda_plan_t *cp = plan->impl;
  if (!cu || !cp) return OEQ_ERROR_INTERNAL;
  int pushed = 0;
  oeq_status_t st = enter(cu, cp->context, &pushed, err);
  if (st != OEQ_SUCCESS) return st;
  CUresult r = OEQ_CUDA_SUCCESS;
  /* Shared weights: blocks add their partial sums into dw, so it starts
   * from zero, ordered on the same stream (no host synchronisation). */
  if (cp->zero_dw_first && dw)
    r = cu->cuMemsetD8Async((CUdeviceptr)(uintptr_t)dw, 0, cp->dw_bytes, (CUstream)stream);
  if (r == OEQ_CUDA_SUCCESS && batch > 0) {
    long long rows = (long long)batch;
    void *args[] = {&x, &y, &w, &dz, &dx, &dy, &dw, &rows};
    r = cu->cuLaunchKernel(cp->backward, grid_for(batch, cp->backward_rows, cp->backward_grid_max),
                           1, 1, cp->block_threads, 1, 1, cp->backward_shared, (CUstream)stream,
                           args, NULL);
    if (r == OEQ_CUDA_SUCCESS && cp->backward_dw) {
      void *dw_args[] = {&x, &y, &dz, &dw, &rows};
      r = cu->cuLaunchKernel(cp->backward_dw, grid_for(batch, (int)cp->dw_rows, cp->dw_grid_max),
                             cp->dw_groups, 1, cp->dw_threads, 1, 1, cp->dw_shared,
                             (CUstream)stream, dw_args, NULL);
    }
  }
  leave(cu, pushed);
  return r == OEQ_CUDA_SUCCESS ? OEQ_SUCCESS : oeq_cuda_fail(err, r, "launching the TP backward kernel");
}

static oeq_status_t cuda_conv_workspace_size(const oeq_plan_t *plan, int64_t x_rows, int64_t z_rows,
                                             int64_t edges, size_t *bytes, oeq_error_t *err) {
  return oeq_cuda_conv_workspace_size(plan, x_rows, z_rows, edges, bytes, err);
}

/* Conv calls run in cuda_conv.c with the plan's context current. */
static oeq_status_t cuda_conv_call(const oeq_plan_t *plan, const oeq_conv_args_t *args, int backward,
                                   oeq_error_t *err) {
  const oeq_cuda_api_t *cu = oeq_cuda_api(err);
  const cuda_plan_t *cp = plan->impl;
  if (!cu || !cp || !cp->conv) return OEQ_ERROR_INTERNAL;
  int pushed = 0;
  oeq_status_t st = enter(cu, cp->context, &pushed, err);
  if (st != OEQ_SUCCESS) return st;
  st = backward ? oeq_cuda_conv_backward(cu, plan, cp->conv, args, err)
                : oeq_cuda_conv_forward(cu, plan, cp->conv, args, err);
  leave(cu, pushed);
  return st;
}

static oeq_status_t cuda_conv_forward(const oeq_plan_t *plan, const oeq_conv_args_t *args,
                                      oeq_error_t *err) {
  return cuda_conv_call(plan, args, 0, err);
}

static oeq_status_t cuda_conv_backward(const oeq_plan_t *plan, const oeq_conv_args_t *args,
                                       oeq_error_t *err) {
  return cuda_conv_call(plan, args, 1, err);
}

static const oeq_backend_ops_t cuda_ops = {
    .name = "cuda",
    .available = cuda_available,
    .plan_init = cuda_plan_init,
    .plan_release = cuda_plan_release,
    .check_pointer = cuda_check_pointer,
    .tp_forward = cuda_tp_forward,
    .tp_backward = cuda_tp_backward,
    .conv_workspace_size = cuda_conv_workspace_size,
    .conv_forward = cuda_conv_forward,
    .conv_backward = cuda_conv_backward,
};

const oeq_backend_ops_t *oeq_backend_cuda(void) { return &cuda_ops; }
