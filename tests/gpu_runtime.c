/* gpu_runtime.c: the GPU suites' runtime calls over oeq's CUDA and HIP
 * dlopen tables (see gpu_runtime.h). Every entry point is checked before
 * use: those only tests call may be NULL in a driver that lacks them. */
#include "gpu_runtime.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "backend/cuda_api.h"
#include "backend/hip_api.h"

static int is_cuda(oeq_backend_t rt) { return rt == OEQ_BACKEND_CUDA; }

static const oeq_cuda_api_t *cuda(void) { return oeq_cuda_api(NULL); }
static const oeq_hip_api_t *hip(void) { return oeq_hip_api(NULL); }

static CUdeviceptr cu_ptr(const void *p) { return (CUdeviceptr)(uintptr_t)p; }

/* Call an entry point of a table, or return TEST_RT_MISSING where the table
 * or the entry point is absent. */
#define CALL(table, fn, ...) ((table) && (table)->fn ? (int)(table)->fn(__VA_ARGS__) : TEST_RT_MISSING)

const char *test_rt_name(oeq_backend_t rt) { return is_cuda(rt) ? "CUDA" : "HIP"; }

int test_rt_available(oeq_backend_t rt, char *why, size_t len) {
  if (oeq_backend_available(rt)) return 1;
  snprintf(why, len, "%s", oeq_last_error());
  return 0;
}

const char *test_rt_lacks(oeq_backend_t rt, unsigned needs) {
  if (is_cuda(rt)) {
    const oeq_cuda_api_t *cu = cuda();
    if (!cu) return "the CUDA driver is not loaded";
    if ((needs & TEST_RT_MEMORY) && (!cu->cuMemAlloc || !cu->cuMemFree || !cu->cuMemcpyHtoD ||
                                     !cu->cuMemcpyDtoH || !cu->cuStreamSynchronize))
      return "the CUDA driver lacks cuMemAlloc, cuMemFree, cuMemcpyHtoD, cuMemcpyDtoH or "
             "cuStreamSynchronize (optional in oeq's loader)";
    if ((needs & TEST_RT_STREAMS) && (!cu->cuStreamCreate || !cu->cuStreamDestroy))
      return "the CUDA driver lacks cuStreamCreate or cuStreamDestroy (optional in oeq's loader)";
    if ((needs & TEST_RT_GRAPHS) && (!cu->cuStreamBeginCapture || !cu->cuStreamEndCapture ||
                                     !cu->cuGraphInstantiate || !cu->cuGraphLaunch ||
                                     !cu->cuGraphExecDestroy || !cu->cuGraphDestroy))
      return "the CUDA driver lacks a graph entry point (cuStreamBeginCapture, "
             "cuStreamEndCapture, cuGraphInstantiate, cuGraphLaunch, cuGraphExecDestroy, "
             "cuGraphDestroy; optional in oeq's loader)";
    return NULL;
  }
  const oeq_hip_api_t *h = hip();
  if (!h) return "the HIP runtime is not loaded";
  if ((needs & TEST_RT_MEMORY) &&
      (!h->hipMalloc || !h->hipFree || !h->hipMemcpy || !h->hipStreamSynchronize))
    return "the HIP runtime lacks hipMalloc, hipFree, hipMemcpy or hipStreamSynchronize";
  if ((needs & TEST_RT_STREAMS) && (!h->hipStreamCreateWithFlags || !h->hipStreamDestroy))
    return "the HIP runtime lacks hipStreamCreateWithFlags or hipStreamDestroy";
  if (needs & TEST_RT_GRAPHS)
    return "graph capture is tested on CUDA only (oeq's HIP table has no graph entry points)";
  return NULL;
}

/* The primary context each CUDA thread pushed (popped by test_rt_leave). */
static _Thread_local int cuda_entered;

int test_rt_enter(oeq_backend_t rt) {
  if (!is_cuda(rt)) return CALL(hip(), hipSetDevice, 0);
  const oeq_cuda_api_t *cu = cuda();
  CUdevice dev;
  CUcontext ctx;
  int r = CALL(cu, cuDeviceGet, &dev, 0);
  if (r == 0) r = CALL(cu, cuDevicePrimaryCtxRetain, &ctx, dev);
  if (r == 0) r = CALL(cu, cuCtxPushCurrent, ctx);
  if (r == 0) cuda_entered++;
  return r;
}

void test_rt_leave(oeq_backend_t rt) {
  const oeq_cuda_api_t *cu = is_cuda(rt) ? cuda() : NULL;
  if (!cu || cuda_entered == 0) return;
  CUcontext popped;
  CUdevice dev;
  if (CALL(cu, cuCtxPopCurrent, &popped) == 0 && CALL(cu, cuDeviceGet, &dev, 0) == 0)
    (void)CALL(cu, cuDevicePrimaryCtxRelease, dev);
  cuda_entered--;
}

int test_rt_alloc(oeq_backend_t rt, void **dev, size_t bytes) {
  *dev = NULL;
  if (!is_cuda(rt)) return CALL(hip(), hipMalloc, dev, bytes);
  CUdeviceptr d = 0;
  const int r = CALL(cuda(), cuMemAlloc, &d, bytes);
  if (r == 0) *dev = (void *)(uintptr_t)d;
  return r;
}

int test_rt_free(oeq_backend_t rt, void *dev) {
  if (!dev) return 0;
  return is_cuda(rt) ? CALL(cuda(), cuMemFree, cu_ptr(dev)) : CALL(hip(), hipFree, dev);
}

int test_rt_to_device(oeq_backend_t rt, void *dev, const void *host, size_t bytes) {
  if (bytes == 0) return 0;
  return is_cuda(rt) ? CALL(cuda(), cuMemcpyHtoD, cu_ptr(dev), host, bytes)
                     : CALL(hip(), hipMemcpy, dev, host, bytes, OEQ_HIP_MEMCPY_H2D);
}

int test_rt_to_host(oeq_backend_t rt, void *host, const void *dev, size_t bytes) {
  if (bytes == 0) return 0;
  return is_cuda(rt) ? CALL(cuda(), cuMemcpyDtoH, host, cu_ptr(dev), bytes)
                     : CALL(hip(), hipMemcpy, host, dev, bytes, OEQ_HIP_MEMCPY_D2H);
}

int test_rt_stream_create(oeq_backend_t rt, void **stream) {
  *stream = NULL;
  if (!is_cuda(rt)) {
    hipStream_t s = NULL;
    const int r = CALL(hip(), hipStreamCreateWithFlags, &s, OEQ_HIP_STREAM_NON_BLOCKING);
    if (r == 0) *stream = s;
    return r;
  }
  CUstream s = NULL;
  const int r = CALL(cuda(), cuStreamCreate, &s, OEQ_CU_STREAM_NON_BLOCKING);
  if (r == 0) *stream = s;
  return r;
}

int test_rt_stream_destroy(oeq_backend_t rt, void *stream) {
  if (!stream) return 0;
  return is_cuda(rt) ? CALL(cuda(), cuStreamDestroy, (CUstream)stream)
                     : CALL(hip(), hipStreamDestroy, (hipStream_t)stream);
}

int test_rt_sync(oeq_backend_t rt, void *stream) {
  return is_cuda(rt) ? CALL(cuda(), cuStreamSynchronize, (CUstream)stream)
                     : CALL(hip(), hipStreamSynchronize, (hipStream_t)stream);
}

int test_rt_capture_begin(oeq_backend_t rt, void *stream) {
  if (!is_cuda(rt)) return TEST_RT_MISSING;
  return CALL(cuda(), cuStreamBeginCapture, (CUstream)stream, OEQ_CU_STREAM_CAPTURE_MODE_GLOBAL);
}

int test_rt_capture_end(oeq_backend_t rt, void *stream, void **graph) {
  *graph = NULL;
  if (!is_cuda(rt)) return TEST_RT_MISSING;
  const oeq_cuda_api_t *cu = cuda();
  CUgraph g = NULL;
  CUgraphExec exec = NULL;
  int r = CALL(cu, cuStreamEndCapture, (CUstream)stream, &g);
  if (r != 0) return r;
  r = CALL(cu, cuGraphInstantiate, &exec, g, 0);
  /* the executable graph keeps what it needs of the captured one */
  (void)CALL(cu, cuGraphDestroy, g);
  if (r == 0) *graph = exec;
  return r;
}

int test_rt_graph_launch(oeq_backend_t rt, void *graph, void *stream) {
  if (!is_cuda(rt)) return TEST_RT_MISSING;
  return CALL(cuda(), cuGraphLaunch, (CUgraphExec)graph, (CUstream)stream);
}

void test_rt_graph_destroy(oeq_backend_t rt, void *graph) {
  if (is_cuda(rt) && graph) (void)CALL(cuda(), cuGraphExecDestroy, (CUgraphExec)graph);
}

const char *test_rt_error(oeq_backend_t rt, int code) {
  if (code == TEST_RT_MISSING) return "entry point missing from the driver";
  return is_cuda(rt) ? oeq_cuda_error_string(code) : oeq_hip_error_string(code);
}
