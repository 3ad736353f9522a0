/* gpu_mem.c: device memory for the Fortran GPU test (test_gpu.f90), the
 * way a CUDA Fortran or OpenACC runtime would provide it: the driver API
 * opened at run time (libcuda.so.1; nothing to link), device 0's primary
 * context made current on the calling thread, and plain alloc / copy /
 * free. Called from Fortran through bind(C) interfaces. */
#include <dlfcn.h>
#include <stddef.h>
#include <stdint.h>

typedef int (*cu_init_t)(unsigned);
typedef int (*cu_device_get_t)(int *, int);
typedef int (*cu_ctx_retain_t)(void **, int);
typedef int (*cu_ctx_push_t)(void *);
typedef int (*cu_alloc_t)(uint64_t *, size_t);
typedef int (*cu_free_t)(uint64_t);
typedef int (*cu_htod_t)(uint64_t, const void *, size_t);
typedef int (*cu_dtoh_t)(void *, uint64_t, size_t);
typedef int (*cu_sync_t)(void);

static cu_alloc_t cu_alloc;
static cu_free_t cu_free;
static cu_htod_t cu_htod;
static cu_dtoh_t cu_dtoh;
static cu_sync_t cu_sync;

/* 1 when a CUDA device is there and its primary context is current. */
int oeqt_gpu_open(void) {
  void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib) return 0;
  cu_init_t init = (cu_init_t)dlsym(lib, "cuInit");
  cu_device_get_t device_get = (cu_device_get_t)dlsym(lib, "cuDeviceGet");
  cu_ctx_retain_t retain = (cu_ctx_retain_t)dlsym(lib, "cuDevicePrimaryCtxRetain");
  cu_ctx_push_t push = (cu_ctx_push_t)dlsym(lib, "cuCtxPushCurrent_v2");
  cu_alloc = (cu_alloc_t)dlsym(lib, "cuMemAlloc_v2");
  cu_free = (cu_free_t)dlsym(lib, "cuMemFree_v2");
  cu_htod = (cu_htod_t)dlsym(lib, "cuMemcpyHtoD_v2");
  cu_dtoh = (cu_dtoh_t)dlsym(lib, "cuMemcpyDtoH_v2");
  cu_sync = (cu_sync_t)dlsym(lib, "cuCtxSynchronize");
  if (!init || !device_get || !retain || !push || !cu_alloc || !cu_free || !cu_htod || !cu_dtoh ||
      !cu_sync)
    return 0;
  int dev = 0;
  void *ctx = NULL;
  if (init(0) || device_get(&dev, 0) || retain(&ctx, dev) || push(ctx)) return 0;
  return 1;
}

void *oeqt_gpu_alloc(size_t bytes) {
  uint64_t p = 0;
  return cu_alloc(&p, bytes ? bytes : 1) ? NULL : (void *)(uintptr_t)p;
}

int oeqt_gpu_put(void *dst, const void *src, size_t bytes) {
  return cu_htod((uint64_t)(uintptr_t)dst, src, bytes);
}

/* Waits for the work queued before it (the default stream), then copies. */
int oeqt_gpu_get(void *dst, const void *src, size_t bytes) {
  if (cu_sync()) return 1;
  return cu_dtoh(dst, (uint64_t)(uintptr_t)src, bytes);
}

void oeqt_gpu_free(void *p) {
  if (p) cu_free((uint64_t)(uintptr_t)p);
}
