/* cuda_api.h: the CUDA driver and NVRTC entry points oeq uses, opened at run
 * time with dlopen so that the library builds and loads with no CUDA
 * installed. No CUDA header is needed: the few types and enum values used
 * are declared here with the values of the driver's ABI (cuda.h, nvrtc.h),
 * which NVIDIA keeps stable across releases. */
#ifndef OEQ_CUDA_API_H
#define OEQ_CUDA_API_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

typedef int CUresult;
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;
typedef struct CUctx_st *CUcontext;
typedef struct CUmod_st *CUmodule;
typedef struct CUfunc_st *CUfunction;
typedef struct CUstream_st *CUstream;
typedef struct CUevent_st *CUevent;
typedef struct CUgraph_st *CUgraph;
typedef struct CUgraphExec_st *CUgraphExec;
typedef struct CUgraphNode_st *CUgraphNode;
typedef int nvrtcResult;
typedef struct _nvrtcProgram *nvrtcProgram;

enum {
  OEQ_CUDA_SUCCESS = 0,
  OEQ_CUDA_ERROR_INVALID_VALUE = 1,
  OEQ_CUDA_ERROR_NOT_READY = 600,
};

/* CUdevice_attribute values. */
enum {
  OEQ_CU_ATTR_MAX_SHARED_PER_BLOCK = 8,
  OEQ_CU_ATTR_MULTIPROCESSOR_COUNT = 16,
  OEQ_CU_ATTR_L2_CACHE_SIZE = 38,
  OEQ_CU_ATTR_COMPUTE_CAPABILITY_MAJOR = 75,
  OEQ_CU_ATTR_COMPUTE_CAPABILITY_MINOR = 76,
  OEQ_CU_ATTR_MAX_SHARED_PER_BLOCK_OPTIN = 97,
};

/* CUfunction_attribute / CUpointer_attribute / CUmemorytype values. */
enum { OEQ_CU_FUNC_ATTR_MAX_DYNAMIC_SHARED = 8 };
enum { OEQ_CU_POINTER_ATTR_MEMORY_TYPE = 2 };
enum { OEQ_CU_MEMTYPE_HOST = 1, OEQ_CU_MEMTYPE_DEVICE = 2, OEQ_CU_MEMTYPE_UNIFIED = 4 };
enum { OEQ_CU_STREAM_NON_BLOCKING = 1 };
enum { OEQ_CU_EVENT_DEFAULT = 0 };
enum { OEQ_CU_STREAM_CAPTURE_MODE_GLOBAL = 0, OEQ_CU_STREAM_CAPTURE_MODE_RELAXED = 2 };
/* CUgraphNodeType values. */
enum { OEQ_CU_GRAPH_NODE_TYPE_KERNEL = 0, OEQ_CU_GRAPH_NODE_TYPE_MEMSET = 2 };

/* The resolved entry points. Those marked optional may be NULL. */
typedef struct oeq_cuda_api {
  /* driver */
  CUresult (*cuInit)(unsigned flags);
  CUresult (*cuDriverGetVersion)(int *version);
  CUresult (*cuDeviceGet)(CUdevice *dev, int ordinal);
  CUresult (*cuDeviceGetCount)(int *count);
  CUresult (*cuDeviceGetAttribute)(int *value, int attribute, CUdevice dev);
  CUresult (*cuDeviceGetName)(char *name, int len, CUdevice dev);
  CUresult (*cuCtxGetCurrent)(CUcontext *ctx);
  CUresult (*cuCtxGetDevice)(CUdevice *dev);
  CUresult (*cuCtxPushCurrent)(CUcontext ctx);
  CUresult (*cuCtxPopCurrent)(CUcontext *ctx);
  CUresult (*cuCtxSynchronize)(void);
  CUresult (*cuDevicePrimaryCtxRetain)(CUcontext *ctx, CUdevice dev);
  CUresult (*cuDevicePrimaryCtxRelease)(CUdevice dev);
  CUresult (*cuModuleLoadData)(CUmodule *mod, const void *image);
  CUresult (*cuModuleUnload)(CUmodule mod);
  CUresult (*cuModuleGetFunction)(CUfunction *fn, CUmodule mod, const char *name);
  CUresult (*cuFuncSetAttribute)(CUfunction fn, int attribute, int value);
  CUresult (*cuLaunchKernel)(CUfunction fn, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                             unsigned by, unsigned bz, unsigned shared_bytes, CUstream stream,
                             void **params, void **extra);
  CUresult (*cuPointerGetAttribute)(void *data, int attribute, CUdeviceptr ptr);
  CUresult (*cuOccupancyMaxActiveBlocksPerMultiprocessor)(int *blocks, CUfunction fn,
                                                          int block_size, size_t dynamic_shared);
  CUresult (*cuMemsetD8Async)(CUdeviceptr dst, unsigned char value, size_t n, CUstream stream);
  CUresult (*cuGetErrorString)(CUresult error, const char **text);
  CUresult (*cuMemcpyDtoH)(void *dst, CUdeviceptr src, size_t bytes);
  CUresult (*cuStreamSynchronize)(CUstream stream);
  /* optional: NULL where the driver lacks them */
  CUresult (*cuMemAllocAsync)(CUdeviceptr *ptr, size_t bytes, CUstream stream);
  CUresult (*cuMemFreeAsync)(CUdeviceptr ptr, CUstream stream);
  /* optional, used by tests and the benchmark */
  CUresult (*cuMemAlloc)(CUdeviceptr *ptr, size_t bytes);
  CUresult (*cuMemFree)(CUdeviceptr ptr);
  CUresult (*cuMemcpyHtoD)(CUdeviceptr dst, const void *src, size_t bytes);
  CUresult (*cuMemcpyDtoDAsync)(CUdeviceptr dst, CUdeviceptr src, size_t bytes, CUstream stream);
  CUresult (*cuStreamCreate)(CUstream *stream, unsigned flags);
  CUresult (*cuStreamDestroy)(CUstream stream);
  CUresult (*cuEventCreate)(CUevent *event, unsigned flags);
  CUresult (*cuEventDestroy)(CUevent event);
  CUresult (*cuEventRecord)(CUevent event, CUstream stream);
  CUresult (*cuEventSynchronize)(CUevent event);
  CUresult (*cuEventElapsedTime)(float *ms, CUevent start, CUevent end);
  CUresult (*cuStreamBeginCapture)(CUstream stream, int mode);
  CUresult (*cuStreamEndCapture)(CUstream stream, CUgraph *graph);
  CUresult (*cuGraphInstantiate)(CUgraphExec *exec, CUgraph graph, unsigned long long flags);
  CUresult (*cuGraphLaunch)(CUgraphExec exec, CUstream stream);
  CUresult (*cuGraphExecDestroy)(CUgraphExec exec);
  CUresult (*cuGraphDestroy)(CUgraph graph);
  /* the benchmarks' launch count: the nodes of a captured graph */
  CUresult (*cuGraphGetNodes)(CUgraph graph, CUgraphNode *nodes, size_t *count);
  CUresult (*cuGraphNodeGetType)(CUgraphNode node, int *type);
  CUresult (*cuMemAllocHost)(void **ptr, size_t bytes);
  CUresult (*cuMemFreeHost)(void *ptr);
} oeq_cuda_api_t;

typedef struct oeq_nvrtc_api {
  nvrtcResult (*nvrtcVersion)(int *major, int *minor);
  nvrtcResult (*nvrtcCreateProgram)(nvrtcProgram *prog, const char *src, const char *name,
                                    int n_headers, const char *const *headers,
                                    const char *const *include_names);
  nvrtcResult (*nvrtcDestroyProgram)(nvrtcProgram *prog);
  nvrtcResult (*nvrtcCompileProgram)(nvrtcProgram prog, int n_options, const char *const *options);
  nvrtcResult (*nvrtcGetProgramLogSize)(nvrtcProgram prog, size_t *size);
  nvrtcResult (*nvrtcGetProgramLog)(nvrtcProgram prog, char *log);
  nvrtcResult (*nvrtcGetCUBINSize)(nvrtcProgram prog, size_t *size);
  nvrtcResult (*nvrtcGetCUBIN)(nvrtcProgram prog, char *cubin);
  const char *(*nvrtcGetErrorString)(nvrtcResult result);
} oeq_nvrtc_api_t;

/* The driver table, loaded (and cuInit-ed) once per process. NULL with the
 * reason in err (OEQ_ERROR_BACKEND_UNAVAILABLE) when libcuda.so.1 is
 * missing, cuInit fails, or no device exists. */
const oeq_cuda_api_t *oeq_cuda_api(oeq_error_t *err);
/* The NVRTC table, loaded once per process; NULL with the reason in err. */
const oeq_nvrtc_api_t *oeq_nvrtc_api(oeq_error_t *err);

/* Compile CUDA source with NVRTC to a CUBIN for sm_<sm> (e.g. 90), no
 * fast math, C++17, plus the extra options. On success *cubin (malloc'ed)
 * and *size are set. *log (malloc'ed, may be NULL) receives the compiler
 * log whether or not compilation succeeds; a failure is OEQ_ERROR_COMPILE
 * with the log's head in err. */
oeq_status_t oeq_nvrtc_compile(const char *source, int sm, const char *const *extra, int n_extra,
                               void **cubin, size_t *size, char **log, oeq_error_t *err);

/* "CUDA_ERROR_...: text" for a driver result (static or thread-local text). */
const char *oeq_cuda_error_string(CUresult r);

/* Fill err with OEQ_ERROR_DEVICE (or OUT_OF_MEMORY for error 2) naming the
 * call; returns the status. */
oeq_status_t oeq_cuda_fail(oeq_error_t *err, CUresult r, const char *what);

#endif
