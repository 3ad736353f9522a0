/* hip_api.h: the HIP runtime, hiprtc and comgr entry points oeq uses, opened
 * at run time with dlopen so that the library builds and loads with no ROCm
 * installed. No HIP header is needed: the few types and enum values used are
 * declared here with the values of ROCm's ABI (hip_runtime_api.h, hiprtc.h),
 * which are the same in ROCm 5.x and 6.x except where noted.
 *
 * Libraries: the runtime is libamdhip64 (.so.7/.so.6/.so.5). hiprtc lives in
 * libhiprtc on ROCm 6 and later, inside libamdhip64 on ROCm 5.x. comgr (the
 * code-object manager hiprtc compiles through) is opened only to ask which
 * GPU targets the compiler knows: Debian's ROCm 5.2 hiprtc aborts the whole
 * process when asked for one it does not (gfx940-942, gfx11), so every
 * compile checks its target against that list first. */
#ifndef OEQ_HIP_API_H
#define OEQ_HIP_API_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

typedef int hipError_t;
typedef struct ihipModule_t *hipModule_t;
typedef struct ihipModuleSymbol_t *hipFunction_t;
typedef struct ihipStream_t *hipStream_t;
typedef int hiprtcResult;
typedef struct _hiprtcProgram *hiprtcProgram;

enum {
  OEQ_HIP_SUCCESS = 0,
  OEQ_HIP_ERROR_INVALID_VALUE = 1,
  OEQ_HIP_ERROR_OUT_OF_MEMORY = 2,
};

/* hipDeviceAttribute_t values (renumbered in ROCm 5.0, stable since). */
enum {
  OEQ_HIP_ATTR_MAX_THREADS_PER_BLOCK = 56,
  OEQ_HIP_ATTR_MULTIPROCESSOR_COUNT = 63,
  OEQ_HIP_ATTR_MAX_SHARED_PER_BLOCK = 74,
  OEQ_HIP_ATTR_WARP_SIZE = 87,
};

/* hipMemcpyKind, hipStreamNonBlocking (tests). */
enum { OEQ_HIP_MEMCPY_H2D = 1, OEQ_HIP_MEMCPY_D2H = 2 };
enum { OEQ_HIP_STREAM_NON_BLOCKING = 1 };

/* The first member of hipPointerAttribute_t. Its enum changed in ROCm 6:
 * 5.x host = 0, device = 1; 6.x unregistered = 0, host = 1, device = 2. */
typedef struct oeq_hip_pointer_attr {
  int memory_type;
  int device;
  void *device_pointer, *host_pointer;
  int is_managed;
  unsigned allocation_flags;
  unsigned char reserved[64]; /* room should a later release grow it */
} oeq_hip_pointer_attr_t;

/* The resolved runtime entry points. Those marked optional may be NULL. */
typedef struct oeq_hip_api {
  hipError_t (*hipInit)(unsigned flags);
  hipError_t (*hipRuntimeGetVersion)(int *version);
  hipError_t (*hipGetDeviceCount)(int *count);
  hipError_t (*hipGetDevice)(int *device);
  hipError_t (*hipSetDevice)(int device);
  hipError_t (*hipDeviceGetAttribute)(int *value, int attribute, int device);
  /* hipDeviceProp_t in ROCm 5's layout (R0000) and ROCm 6's (R0600, optional) */
  hipError_t (*hipGetDeviceProperties)(void *prop, int device);
  hipError_t (*hipGetDevicePropertiesR0600)(void *prop, int device);
  hipError_t (*hipModuleLoadData)(hipModule_t *module, const void *image);
  hipError_t (*hipModuleUnload)(hipModule_t module);
  hipError_t (*hipModuleGetFunction)(hipFunction_t *fn, hipModule_t module, const char *name);
  hipError_t (*hipModuleLaunchKernel)(hipFunction_t fn, unsigned gx, unsigned gy, unsigned gz,
                                      unsigned bx, unsigned by, unsigned bz, unsigned shared_bytes,
                                      hipStream_t stream, void **params, void **extra);
  hipError_t (*hipModuleOccupancyMaxActiveBlocksPerMultiprocessor)(int *blocks, hipFunction_t fn,
                                                                   int block_size,
                                                                   size_t dynamic_shared);
  hipError_t (*hipPointerGetAttributes)(oeq_hip_pointer_attr_t *attr, const void *ptr);
  hipError_t (*hipMemsetAsync)(void *dst, int value, size_t bytes, hipStream_t stream);
  const char *(*hipGetErrorString)(hipError_t error);
  const char *(*hipGetErrorName)(hipError_t error); /* optional */
  hipError_t (*hipGetLastError)(void);               /* optional */
  hipError_t (*hipMemcpy)(void *dst, const void *src, size_t bytes, int kind);
  hipError_t (*hipStreamSynchronize)(hipStream_t stream);
  hipError_t (*hipMallocAsync)(void **ptr, size_t bytes, hipStream_t stream); /* optional */
  hipError_t (*hipFreeAsync)(void *ptr, hipStream_t stream);                 /* optional */
  /* used by tests and benchmarks; optional */
  hipError_t (*hipMalloc)(void **ptr, size_t bytes);
  hipError_t (*hipFree)(void *ptr);
  hipError_t (*hipStreamCreateWithFlags)(hipStream_t *stream, unsigned flags);
  hipError_t (*hipStreamDestroy)(hipStream_t stream);
  int runtime_version; /* hipRuntimeGetVersion: 50221153 for ROCm 5.2.3 */
} oeq_hip_api_t;

typedef struct oeq_hiprtc_api {
  hiprtcResult (*hiprtcVersion)(int *major, int *minor);
  hiprtcResult (*hiprtcCreateProgram)(hiprtcProgram *prog, const char *src, const char *name,
                                      int n_headers, const char *const *headers,
                                      const char *const *include_names);
  hiprtcResult (*hiprtcDestroyProgram)(hiprtcProgram *prog);
  hiprtcResult (*hiprtcCompileProgram)(hiprtcProgram prog, int n_options,
                                       const char *const *options);
  hiprtcResult (*hiprtcGetProgramLogSize)(hiprtcProgram prog, size_t *size);
  hiprtcResult (*hiprtcGetProgramLog)(hiprtcProgram prog, char *log);
  hiprtcResult (*hiprtcGetCodeSize)(hiprtcProgram prog, size_t *size);
  hiprtcResult (*hiprtcGetCode)(hiprtcProgram prog, char *code);
  const char *(*hiprtcGetErrorString)(hiprtcResult result);
  char version[96]; /* "hiprtc M.m, HIP N, comgr M.m": part of cache keys */
} oeq_hiprtc_api_t;

/* The runtime table, loaded (and hipInit-ed) once per process. NULL with
 * the reason in err (OEQ_ERROR_BACKEND_UNAVAILABLE) when libamdhip64 is
 * missing, hipInit fails, or no device exists. */
const oeq_hip_api_t *oeq_hip_api(oeq_error_t *err);
/* The hiprtc table, loaded once per process; needs no device. */
const oeq_hiprtc_api_t *oeq_hiprtc_api(oeq_error_t *err);

/* OEQ_SUCCESS if the compiler can target `arch` (a gcnArchName such as
 * "gfx90a:sramecc+:xnack-"), else OEQ_ERROR_UNSUPPORTED with a message.
 * The list is comgr's own; without comgr, the targets of ROCm 5.2. */
oeq_status_t oeq_hip_check_arch(const char *arch, oeq_error_t *err);

/* Compile HIP source with hiprtc to a code object for `arch` (checked with
 * oeq_hip_check_arch first: an unknown target never reaches hiprtc), -O3,
 * C++17, plus the extra options. On success *code (malloc'ed) and *size
 * are set. *log (malloc'ed, may be NULL) receives the compiler log either
 * way; a failure is OEQ_ERROR_COMPILE with the log's head in err. */
oeq_status_t oeq_hiprtc_compile(const char *source, const char *arch, const char *const *extra,
                                int n_extra, void **code, size_t *size, char **log,
                                oeq_error_t *err);

/* What the compiler reports for one kernel of a code object (the
 * NT_AMDGPU_METADATA note); -1 where the metadata has no such field. */
typedef struct oeq_hip_kernel_info {
  char name[96];
  int vgpr_count, agpr_count, sgpr_count;
  int vgpr_spill_count, sgpr_spill_count;
  int private_segment_bytes; /* scratch per lane: spills and stack */
  int group_segment_bytes;   /* static LDS */
  int wavefront_size;
} oeq_hip_kernel_info_t;

/* Read the kernels' resource usage from an AMDGPU code object (ELF). Up to
 * `max` entries are written; *count is the number of kernels found. */
oeq_status_t oeq_hip_code_object_kernels(const void *image, size_t size,
                                         oeq_hip_kernel_info_t *out, int max, int *count,
                                         oeq_error_t *err);

/* "hipErrorX (text)" for a runtime result (thread-local text). */
const char *oeq_hip_error_string(hipError_t r);

/* Fill err with OEQ_ERROR_DEVICE (OUT_OF_MEMORY for error 2) naming the
 * call; returns the status. */
oeq_status_t oeq_hip_fail(oeq_error_t *err, hipError_t r, const char *what);

#endif
