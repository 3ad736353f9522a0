/* cuda_api.c: dlopen libcuda.so.1 and libnvrtc once per process and resolve
 * the entry points by name (the _v2 names where the driver has them, as
 * cuda.h maps them). Nothing is printed; failures become messages. */
#include "backend/cuda_api.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Resolve the first of up to three symbol names that exists. */
static void *find_symbol(void *lib, const char *a, const char *b, const char *c) {
  const char *names[3] = {a, b, c};
  for (int i = 0; i < 3; i++) {
    if (!names[i]) continue;
    void *p = dlsym(lib, names[i]);
    if (p) return p;
  }
  return NULL;
}

/* ------------------------------------------------------------------ driver */

static pthread_once_t driver_once = PTHREAD_ONCE_INIT;
static oeq_cuda_api_t driver;
static const oeq_cuda_api_t *driver_table; /* NULL until loaded successfully */
static char driver_reason[512];

/* Entry points that tests and benchmarks use, or that only some calls
 * need: a driver without one still runs plans (the field stays NULL). */
#define OPTIONAL(field, ...) *(void **)&driver.field = find_symbol(lib, __VA_ARGS__)

#define REQUIRE(field, ...)                                                                 \
  do {                                                                                      \
    *(void **)&driver.field = find_symbol(lib, __VA_ARGS__);                                \
    if (!driver.field) {                                                                    \
      snprintf(driver_reason, sizeof driver_reason,                                         \
               "libcuda.so.1 lacks %s (driver too old?)", #field);                          \
      return;                                                                               \
    }                                                                                       \
  } while (0)

static void load_driver(void) {
  void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char *why = dlerror();
    snprintf(driver_reason, sizeof driver_reason, "libcuda.so.1 not found: %s",
             why ? why : "dlopen failed");
    return;
  }
  REQUIRE(cuInit, "cuInit", NULL, NULL);
  REQUIRE(cuDriverGetVersion, "cuDriverGetVersion", NULL, NULL);
  REQUIRE(cuDeviceGet, "cuDeviceGet", NULL, NULL);
  REQUIRE(cuDeviceGetCount, "cuDeviceGetCount", NULL, NULL);
  REQUIRE(cuDeviceGetAttribute, "cuDeviceGetAttribute", NULL, NULL);
  REQUIRE(cuDeviceGetName, "cuDeviceGetName", NULL, NULL);
  REQUIRE(cuCtxGetCurrent, "cuCtxGetCurrent", NULL, NULL);
  REQUIRE(cuCtxGetDevice, "cuCtxGetDevice", NULL, NULL);
  REQUIRE(cuCtxPushCurrent, "cuCtxPushCurrent_v2", "cuCtxPushCurrent", NULL);
  REQUIRE(cuCtxPopCurrent, "cuCtxPopCurrent_v2", "cuCtxPopCurrent", NULL);
  REQUIRE(cuCtxSynchronize, "cuCtxSynchronize", NULL, NULL);
  REQUIRE(cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain", NULL, NULL);
  REQUIRE(cuDevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2", "cuDevicePrimaryCtxRelease",
          NULL);
  REQUIRE(cuModuleLoadData, "cuModuleLoadData", NULL, NULL);
  REQUIRE(cuModuleUnload, "cuModuleUnload", NULL, NULL);
  REQUIRE(cuModuleGetFunction, "cuModuleGetFunction", NULL, NULL);
  REQUIRE(cuFuncSetAttribute, "cuFuncSetAttribute", NULL, NULL);
  REQUIRE(cuLaunchKernel, "cuLaunchKernel", NULL, NULL);
  REQUIRE(cuPointerGetAttribute, "cuPointerGetAttribute", NULL, NULL);
  REQUIRE(cuOccupancyMaxActiveBlocksPerMultiprocessor,
          "cuOccupancyMaxActiveBlocksPerMultiprocessor", NULL, NULL);
  REQUIRE(cuMemsetD8Async, "cuMemsetD8Async", NULL, NULL);
  REQUIRE(cuGetErrorString, "cuGetErrorString", NULL, NULL);
  REQUIRE(cuMemcpyDtoH, "cuMemcpyDtoH_v2", NULL, NULL); /* the conv index check */
  REQUIRE(cuStreamSynchronize, "cuStreamSynchronize", NULL, NULL);
  OPTIONAL(cuMemAllocAsync, "cuMemAllocAsync", NULL, NULL); /* conv without a workspace */
  OPTIONAL(cuMemFreeAsync, "cuMemFreeAsync", NULL, NULL);
  OPTIONAL(cuMemAlloc, "cuMemAlloc_v2", NULL, NULL);
  OPTIONAL(cuMemFree, "cuMemFree_v2", NULL, NULL);
  OPTIONAL(cuMemcpyHtoD, "cuMemcpyHtoD_v2", NULL, NULL);
  OPTIONAL(cuMemcpyDtoDAsync, "cuMemcpyDtoDAsync_v2", NULL, NULL);
  OPTIONAL(cuStreamCreate, "cuStreamCreate", NULL, NULL);
  OPTIONAL(cuStreamDestroy, "cuStreamDestroy_v2", "cuStreamDestroy", NULL);
  OPTIONAL(cuEventCreate, "cuEventCreate", NULL, NULL);
  OPTIONAL(cuEventDestroy, "cuEventDestroy_v2", "cuEventDestroy", NULL);
  OPTIONAL(cuEventRecord, "cuEventRecord", NULL, NULL);
  OPTIONAL(cuEventSynchronize, "cuEventSynchronize", NULL, NULL);
  OPTIONAL(cuEventElapsedTime, "cuEventElapsedTime_v2", "cuEventElapsedTime", NULL);
  OPTIONAL(cuStreamBeginCapture, "cuStreamBeginCapture_v2", "cuStreamBeginCapture", NULL);
  OPTIONAL(cuStreamEndCapture, "cuStreamEndCapture", NULL, NULL);
  OPTIONAL(cuGraphInstantiate, "cuGraphInstantiateWithFlags", NULL, NULL);
  OPTIONAL(cuGraphLaunch, "cuGraphLaunch", NULL, NULL);
  OPTIONAL(cuGraphExecDestroy, "cuGraphExecDestroy", NULL, NULL);
  OPTIONAL(cuGraphDestroy, "cuGraphDestroy", NULL, NULL);
  OPTIONAL(cuGraphGetNodes, "cuGraphGetNodes", NULL, NULL);
  OPTIONAL(cuGraphNodeGetType, "cuGraphNodeGetType", NULL, NULL);
  OPTIONAL(cuMemAllocHost, "cuMemAllocHost_v2", "cuMemAllocHost", NULL);
  OPTIONAL(cuMemFreeHost, "cuMemFreeHost", NULL, NULL);

  CUresult r = driver.cuInit(0);
  if (r != OEQ_CUDA_SUCCESS) {
    snprintf(driver_reason, sizeof driver_reason, "cuInit failed: %s", oeq_cuda_error_string(r));
    return;
  }
  int count = 0;
  r = driver.cuDeviceGetCount(&count);
  if (r != OEQ_CUDA_SUCCESS || count <= 0) {
    snprintf(driver_reason, sizeof driver_reason, "no CUDA device");
    return;
  }
  driver_table = &driver; /* the library handle stays open for the process */
}
#undef REQUIRE
#undef OPTIONAL

const oeq_cuda_api_t *oeq_cuda_api(oeq_error_t *err) {
  pthread_once(&driver_once, load_driver);
  if (!driver_table) oeq_fail(err, OEQ_ERROR_BACKEND_UNAVAILABLE, "%s", driver_reason);
  return driver_table;
}

const char *oeq_cuda_error_string(CUresult r) {
  static _Thread_local char text[160];
  const char *s = NULL;
  if (driver.cuGetErrorString && driver.cuGetErrorString(r, &s) == OEQ_CUDA_SUCCESS && s)
    snprintf(text, sizeof text, "CUDA error %d: %s", r, s);
  else
    snprintf(text, sizeof text, "CUDA error %d", r);
  return text;
}

oeq_status_t oeq_cuda_fail(oeq_error_t *err, CUresult r, const char *what) {
  oeq_status_t s = r == 2 /* CUDA_ERROR_OUT_OF_MEMORY */ ? OEQ_ERROR_OUT_OF_MEMORY : OEQ_ERROR_DEVICE;
  return oeq_fail(err, s, "%s failed: %s", what, oeq_cuda_error_string(r));
}

/* ------------------------------------------------------------------- NVRTC */

static pthread_once_t nvrtc_once = PTHREAD_ONCE_INIT;
static oeq_nvrtc_api_t nvrtc;
static const oeq_nvrtc_api_t *nvrtc_table;
static char nvrtc_reason[768];

static void load_nvrtc(void) {
  /* Newest first; then the toolkit's usual place, for machines where it is
   * not on the loader path. */
  static const char *const names[] = {
      "libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so",
      "/usr/local/cuda/lib64/libnvrtc.so", "/usr/local/cuda/lib/libnvrtc.so",
  };
  void *lib = NULL;
  const char *env = getenv("OEQ_NVRTC_LIBRARY");
  if (env && *env) lib = dlopen(env, RTLD_NOW | RTLD_LOCAL);
  for (size_t i = 0; !lib && i < sizeof names / sizeof names[0]; i++)
    lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char *why = dlerror();
    snprintf(nvrtc_reason, sizeof nvrtc_reason,
             "libnvrtc not found (tried libnvrtc.so.13, .so.12, .so): %s",
             why ? why : "dlopen failed");
    return;
  }
#define NVRTC(field)                                                                         \
  do {                                                                                       \
    *(void **)&nvrtc.field = dlsym(lib, #field);                                             \
    if (!nvrtc.field) {                                                                      \
      snprintf(nvrtc_reason, sizeof nvrtc_reason, "libnvrtc lacks %s", #field);              \
      return;                                                                                \
    }                                                                                        \
  } while (0)
  NVRTC(nvrtcVersion);
  NVRTC(nvrtcCreateProgram);
  NVRTC(nvrtcDestroyProgram);
  NVRTC(nvrtcCompileProgram);
  NVRTC(nvrtcGetProgramLogSize);
  NVRTC(nvrtcGetProgramLog);
  NVRTC(nvrtcGetCUBINSize);
  NVRTC(nvrtcGetCUBIN);
  NVRTC(nvrtcGetErrorString);
#undef NVRTC
  nvrtc_table = &nvrtc;
}

const oeq_nvrtc_api_t *oeq_nvrtc_api(oeq_error_t *err) {
  pthread_once(&nvrtc_once, load_nvrtc);
  if (!nvrtc_table) oeq_fail(err, OEQ_ERROR_BACKEND_UNAVAILABLE, "%s", nvrtc_reason);
  return nvrtc_table;
}

static char *program_log(const oeq_nvrtc_api_t *nv, nvrtcProgram prog) {
  size_t n = 0;
  if (nv->nvrtcGetProgramLogSize(prog, &n) != 0 || n == 0) return NULL;
  char *log = malloc(n + 1);
  if (!log) return NULL;
  if (nv->nvrtcGetProgramLog(prog, log) != 0) {
    free(log);
    return NULL;
  }
  log[n] = '\0';
  return log;
}

oeq_status_t oeq_nvrtc_compile(const char *source, int sm, const char *const *extra, int n_extra,
                               void **cubin, size_t *size, char **log, oeq_error_t *err) {
  if (log) *log = NULL;
  const oeq_nvrtc_api_t *nv = oeq_nvrtc_api(err);
  if (!nv) return OEQ_ERROR_BACKEND_UNAVAILABLE;
  nvrtcProgram prog = NULL;
  nvrtcResult r = nv->nvrtcCreateProgram(&prog, source, "oeq_kernels.cu", 0, NULL, NULL);
  if (r != 0)
    return oeq_fail(err, OEQ_ERROR_COMPILE, "nvrtcCreateProgram failed: %s",
                    nv->nvrtcGetErrorString(r));
  char arch[48];
  /* sm_XY (not compute_XY): NVRTC emits a CUBIN for exactly this GPU. */
  snprintf(arch, sizeof arch, "--gpu-architecture=sm_%d", sm);
  /* ptxas's expensive optimizations: without them it leaves small
   * spills (4-20 bytes at 32-60 registers) in some generated kernels. */
  const char *opts[32] = {arch, "--std=c++17", "-default-device", "--fmad=true"};
  int n = 4;
  for (int i = 0; i < n_extra && n < 32; i++) opts[n++] = extra[i];
  r = nv->nvrtcCompileProgram(prog, n, opts);
  char *text = program_log(nv, prog);
  oeq_status_t st = OEQ_SUCCESS;
  if (r != 0) {
    char header[128];
    snprintf(header, sizeof header, "NVRTC compilation for sm_%d failed (%s):", sm,
             nv->nvrtcGetErrorString(r));
    st = oeq_fail_with_log(err, OEQ_ERROR_COMPILE, header, text);
  } else {
    size_t n_bytes = 0;
    void *bin = NULL;
    if (nv->nvrtcGetCUBINSize(prog, &n_bytes) != 0 || n_bytes == 0 || !(bin = malloc(n_bytes)) ||
        nv->nvrtcGetCUBIN(prog, bin) != 0) {
      free(bin);
      st = oeq_fail(err, OEQ_ERROR_COMPILE, "NVRTC produced no CUBIN for sm_%d", sm);
    } else {
      *cubin = bin;
      *size = n_bytes;
    }
  }
  nv->nvrtcDestroyProgram(&prog);
  if (log)
    *log = text;
  else
    free(text);
  return st;
}
