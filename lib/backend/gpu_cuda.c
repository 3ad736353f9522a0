/* gpu_cuda.c: the CUDA driver table of the launch layer (gpu.h), over
 * libcuda and NVRTC opened at run time (cuda_api.c).
 *
 * Context rules: a plan uses the context current on the creating thread if
 * it belongs to the plan's device, else the device's primary context,
 * retained for the plan's lifetime. Each call pushes the plan's context
 * when another one is current and pops it after. No context is ever
 * created. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda_api.h"
#include "backend/gpu.h"
#include "backend/kcache.h"

typedef struct cuda_ctx {
  CUdevice device;
  CUcontext context;
  int retained_primary; /* 1: release the primary context with the plan */
} cuda_ctx_t;

/* Only plans reach these, and a plan exists only once the table loaded. */
static const oeq_cuda_api_t *api(void) { return oeq_cuda_api(NULL); }

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

static oeq_status_t attribute(const oeq_cuda_api_t *cu, CUdevice dev, int attr, int *value,
                              oeq_error_t *err) {
  CUresult r = cu->cuDeviceGetAttribute(value, attr, dev);
  return r == OEQ_CUDA_SUCCESS ? OEQ_SUCCESS : oeq_cuda_fail(err, r, "cuDeviceGetAttribute");
}

/* The caller's current context if it is on the device, else the retained
 * primary context. */
static oeq_status_t acquire_context(const oeq_cuda_api_t *cu, cuda_ctx_t *c, oeq_error_t *err) {
  CUcontext cur = NULL;
  CUdevice cur_dev = -1;
  if (cu->cuCtxGetCurrent(&cur) == OEQ_CUDA_SUCCESS && cur &&
      cu->cuCtxGetDevice(&cur_dev) == OEQ_CUDA_SUCCESS && cur_dev == c->device) {
    c->context = cur;
    return OEQ_SUCCESS;
  }
  CUresult r = cu->cuDevicePrimaryCtxRetain(&c->context, c->device);
  if (r != OEQ_CUDA_SUCCESS) return oeq_cuda_fail(err, r, "cuDevicePrimaryCtxRetain");
  c->retained_primary = 1;
  return OEQ_SUCCESS;
}

static void cuda_close(void *ctx) {
  cuda_ctx_t *c = ctx;
  if (c->retained_primary) api()->cuDevicePrimaryCtxRelease(c->device);
  free(c);
}

static oeq_status_t cuda_open(int device, oeq_gpu_device_t *dev, void **ctx, oeq_error_t *err) {
  const oeq_cuda_api_t *cu = oeq_cuda_api(err);
  if (!cu) return OEQ_ERROR_BACKEND_UNAVAILABLE;
  cuda_ctx_t *c = calloc(1, sizeof *c);
  if (!c) return oeq_fail(err, OEQ_ERROR_OUT_OF_MEMORY, "out of memory creating a CUDA plan");
  CUresult r = cu->cuDeviceGet(&c->device, device);
  if (r != OEQ_CUDA_SUCCESS) {
    free(c);
    return oeq_cuda_fail(err, r, "cuDeviceGet");
  }
  int major = 0, minor = 0, sm_count = 1, optin = 48 * 1024;
  oeq_status_t st = attribute(cu, c->device, OEQ_CU_ATTR_COMPUTE_CAPABILITY_MAJOR, &major, err);
  if (st == OEQ_SUCCESS) st = attribute(cu, c->device, OEQ_CU_ATTR_COMPUTE_CAPABILITY_MINOR, &minor, err);
  if (st == OEQ_SUCCESS) st = attribute(cu, c->device, OEQ_CU_ATTR_MULTIPROCESSOR_COUNT, &sm_count, err);
  if (st == OEQ_SUCCESS) st = attribute(cu, c->device, OEQ_CU_ATTR_MAX_SHARED_PER_BLOCK_OPTIN, &optin, err);
  if (st == OEQ_SUCCESS && major < 6)
    st = oeq_fail(err, OEQ_ERROR_UNSUPPORTED,
                  "compute capability %d.%d: oeq needs 6.0 or newer (float64 atomics)", major, minor);
  if (st == OEQ_SUCCESS) st = acquire_context(cu, c, err);
  if (st != OEQ_SUCCESS) {
    cuda_close(c);
    return st;
  }
  *dev = (oeq_gpu_device_t){.ordinal = device,
                            .dialect = OEQ_DIALECT_CUDA,
                            .warp_size = 32,
                            .sm_count = sm_count,
                            .max_shared = (size_t)optin,
                            .sm = major * 10 + minor};
  snprintf(dev->arch, sizeof dev->arch, "sm_%d", dev->sm);
  *ctx = c;
  return OEQ_SUCCESS;
}

static oeq_status_t cuda_enter(void *ctx, intptr_t *pushed, oeq_error_t *err) {
  const oeq_cuda_api_t *cu = api();
  const cuda_ctx_t *c = ctx;
  CUcontext cur = NULL;
  *pushed = 0;
  CUresult r = cu->cuCtxGetCurrent(&cur);
  if (r != OEQ_CUDA_SUCCESS) return oeq_cuda_fail(err, r, "cuCtxGetCurrent");
  if (cur == c->context) return OEQ_SUCCESS;
  r = cu->cuCtxPushCurrent(c->context);
  if (r != OEQ_CUDA_SUCCESS) return oeq_cuda_fail(err, r, "cuCtxPushCurrent");
  *pushed = 1;
  return OEQ_SUCCESS;
}

static void cuda_leave(void *ctx, intptr_t pushed) {
  (void)ctx;
  CUcontext popped;
  if (pushed) api()->cuCtxPopCurrent(&popped);
}

/* NVRTC behind the kernel cache: the key holds the architecture and the
 * compiler's version. */
static oeq_status_t nvrtc_build(const char *source, void *arg, void **image, size_t *size,
                                oeq_error_t *err) {
  const oeq_gpu_device_t *dev = arg;
  return oeq_nvrtc_compile(source, dev->sm, NULL, 0, image, size, NULL, err);
}

static oeq_status_t cuda_compile(const char *source, const oeq_gpu_device_t *dev, int warp_size,
                                 const char *what, int refresh, void **image, size_t *size,
                                 int *cached, oeq_error_t *err) {
  (void)warp_size; /* CUDA sources are always written for 32 lanes */
  const oeq_nvrtc_api_t *nv = oeq_nvrtc_api(err);
  if (!nv) return OEQ_ERROR_BACKEND_UNAVAILABLE;
  int major = 0, minor = 0;
  nv->nvrtcVersion(&major, &minor);
  char target[32], compiler[32];
  snprintf(target, sizeof target, "cuda sm_%d", dev->sm);
  snprintf(compiler, sizeof compiler, "nvrtc %d.%d", major, minor);
  const oeq_kcache_job_t job = {.source = source,
                                .target = target,
                                .compiler = compiler,
                                .what = what,
                                .build = nvrtc_build,
                                .arg = (void *)dev,
                                .refresh = refresh};
  return oeq_kcache_compile(&job, image, size, cached, err);
}

static oeq_status_t cuda_module_load(const void *image, void **module, oeq_error_t *err) {
  CUresult r = api()->cuModuleLoadData((CUmodule *)module, image);
  return r == OEQ_CUDA_SUCCESS ? OEQ_SUCCESS : oeq_cuda_fail(err, r, "cuModuleLoadData");
}

static void cuda_module_unload(void *module) { api()->cuModuleUnload(module); }

static oeq_status_t cuda_get_function(void *module, const char *name, void **fn, oeq_error_t *err) {
  CUresult r = api()->cuModuleGetFunction((CUfunction *)fn, module, name);
  if (r == OEQ_CUDA_SUCCESS) return OEQ_SUCCESS;
  char what[128];
  snprintf(what, sizeof what, "cuModuleGetFunction(%s)", name);
  return oeq_cuda_fail(err, r, what);
}

static oeq_status_t cuda_blocks_per_sm(void *fn, int threads, size_t shared, int *blocks,
                                       oeq_error_t *err) {
  const oeq_cuda_api_t *cu = api();
  CUresult r;
  /* Above 48 KB a kernel must opt in to more dynamic shared memory. */
  if (shared > 48 * 1024 &&
      (r = cu->cuFuncSetAttribute(fn, OEQ_CU_FUNC_ATTR_MAX_DYNAMIC_SHARED, (int)shared)) != 0)
    return oeq_cuda_fail(err, r, "cuFuncSetAttribute(max dynamic shared memory)");
  r = cu->cuOccupancyMaxActiveBlocksPerMultiprocessor(blocks, fn, threads, shared);
  return r == OEQ_CUDA_SUCCESS ? OEQ_SUCCESS
                               : oeq_cuda_fail(err, r, "cuOccupancyMaxActiveBlocksPerMultiprocessor");
}

static oeq_status_t cuda_launch(void *fn, unsigned grid_x, unsigned grid_y, unsigned threads,
                                size_t shared, void *stream, void **args, oeq_error_t *err) {
  CUresult r = api()->cuLaunchKernel(fn, grid_x, grid_y, 1, threads, 1, 1, (unsigned)shared,
                                     (CUstream)stream, args, NULL);
  return r == OEQ_CUDA_SUCCESS ? OEQ_SUCCESS : oeq_cuda_fail(err, r, "cuLaunchKernel");
}

static oeq_status_t cuda_memset_async(void *dst, size_t bytes, void *stream, oeq_error_t *err) {
  CUresult r = api()->cuMemsetD8Async((CUdeviceptr)(uintptr_t)dst, 0, bytes, (CUstream)stream);
  return r == OEQ_CUDA_SUCCESS ? OEQ_SUCCESS : oeq_cuda_fail(err, r, "cuMemsetD8Async");
}

static int cuda_is_host_pointer(void *ctx, const void *ptr, int *memo) {
  (void)ctx; /* the call runs with the plan's context current */
  unsigned int type = 0;
  CUresult r = api()->cuPointerGetAttribute(&type, OEQ_CU_POINTER_ATTR_MEMORY_TYPE,
                                            (CUdeviceptr)(uintptr_t)ptr);
  *memo = r == OEQ_CUDA_SUCCESS && type != OEQ_CU_MEMTYPE_HOST;
  /* Pageable host memory is unknown to the driver: INVALID_VALUE. */
  return r == OEQ_CUDA_ERROR_INVALID_VALUE || (r == OEQ_CUDA_SUCCESS && type == OEQ_CU_MEMTYPE_HOST);
}

static oeq_status_t cuda_alloc_async(void **ptr, size_t bytes, void *stream, oeq_error_t *err) {
  const oeq_cuda_api_t *cu = api();
  if (!cu->cuMemAllocAsync)
    return oeq_fail(err, OEQ_ERROR_UNSUPPORTED,
                    "this driver lacks cuMemAllocAsync: pass a workspace of oeq_conv_workspace_size bytes");
  CUdeviceptr p = 0;
  CUresult r = cu->cuMemAllocAsync(&p, bytes, (CUstream)stream);
  if (r != OEQ_CUDA_SUCCESS) return oeq_cuda_fail(err, r, "cuMemAllocAsync (conv workspace)");
  *ptr = (void *)(uintptr_t)p;
  return OEQ_SUCCESS;
}

static oeq_status_t cuda_free_async(void *ptr, void *stream, oeq_error_t *err) {
  CUresult r = api()->cuMemFreeAsync((CUdeviceptr)(uintptr_t)ptr, (CUstream)stream);
  return r == OEQ_CUDA_SUCCESS ? OEQ_SUCCESS : oeq_cuda_fail(err, r, "cuMemFreeAsync");
}

static oeq_status_t cuda_read_after(void *dst, const void *src, size_t bytes, void *stream,
                                    oeq_error_t *err) {
  const oeq_cuda_api_t *cu = api();
  CUresult r = cu->cuStreamSynchronize((CUstream)stream);
  if (r == OEQ_CUDA_SUCCESS) r = cu->cuMemcpyDtoH(dst, (CUdeviceptr)(uintptr_t)src, bytes);
  return r == OEQ_CUDA_SUCCESS ? OEQ_SUCCESS : oeq_cuda_fail(err, r, "reading the conv index check");
}

static const oeq_gpu_driver_t cuda_driver = {
    .name = "CUDA",
    .available = cuda_available,
    .open = cuda_open,
    .close = cuda_close,
    .enter = cuda_enter,
    .leave = cuda_leave,
    .compile = cuda_compile,
    .module_load = cuda_module_load,
    .module_unload = cuda_module_unload,
    .get_function = cuda_get_function,
    .blocks_per_sm = cuda_blocks_per_sm,
    .launch = cuda_launch,
    .memset_async = cuda_memset_async,
    .is_host_pointer = cuda_is_host_pointer,
    .alloc_async = cuda_alloc_async,
    .free_async = cuda_free_async,
    .read_after = cuda_read_after,
};

const oeq_gpu_driver_t *oeq_gpu_driver_cuda(void) { return &cuda_driver; }
