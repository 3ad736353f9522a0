/* md_gpu.c: device memory for the MD example, the way a CUDA Fortran or
 * OpenACC runtime provides it to Fortran: the CUDA driver API opened at run
 * time (libcuda.so.1, nothing linked), the chosen device's primary context
 * made current on the calling thread (the context oeq's CUDA plans use for
 * that device), plain alloc / copy / free. Every function returns 0 on
 * success and a nonzero CUDA error code (or -1: no driver) otherwise. */
#include <dlfcn.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef int (*md_init_t)(unsigned);
typedef int (*md_count_t)(int *);
typedef int (*md_device_get_t)(int *, int);
typedef int (*md_ctx_retain_t)(void **, int);
typedef int (*md_ctx_set_t)(void *);
typedef int (*md_alloc_t)(uint64_t *, size_t);
typedef int (*md_free_t)(uint64_t);
typedef int (*md_htod_t)(uint64_t, const void *, size_t);
typedef int (*md_dtoh_t)(void *, uint64_t, size_t);
typedef int (*md_sync_t)(void);

static md_init_t md_init;
static md_count_t md_count;
static md_device_get_t md_device_get;
static md_ctx_retain_t md_ctx_retain;
static md_ctx_set_t md_ctx_set;
static md_alloc_t md_alloc;
static md_free_t md_free;
static md_htod_t md_htod;
static md_dtoh_t md_dtoh;
static md_sync_t md_sync;

/* Host mode (--backend cpu-ptr): "device" memory is host memory, so the
 * c_ptr code path of the example runs against CPU plans and can be tested
 * on a machine without a GPU. */
static int host_mode = 0;

void md_gpu_use_host(void) { host_mode = 1; }

static int load(void) {
  static int loaded = 0;
  if (loaded) return 0;
  void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib) return -1;
  md_init = (md_init_t)dlsym(lib, "cuInit");
  md_count = (md_count_t)dlsym(lib, "cuDeviceGetCount");
  md_device_get = (md_device_get_t)dlsym(lib, "cuDeviceGet");
  md_ctx_retain = (md_ctx_retain_t)dlsym(lib, "cuDevicePrimaryCtxRetain");
  md_ctx_set = (md_ctx_set_t)dlsym(lib, "cuCtxSetCurrent");
  md_alloc = (md_alloc_t)dlsym(lib, "cuMemAlloc_v2");
  md_free = (md_free_t)dlsym(lib, "cuMemFree_v2");
  md_htod = (md_htod_t)dlsym(lib, "cuMemcpyHtoD_v2");
  md_dtoh = (md_dtoh_t)dlsym(lib, "cuMemcpyDtoH_v2");
  md_sync = (md_sync_t)dlsym(lib, "cuCtxSynchronize");
  if (!md_init || !md_count || !md_device_get || !md_ctx_retain || !md_ctx_set || !md_alloc ||
      !md_free || !md_htod || !md_dtoh || !md_sync)
    return -1;
  int r = md_init(0);
  if (r) return r;
  loaded = 1;
  return 0;
}

/* Number of CUDA devices in *n (0 without a driver). */
int md_gpu_count(int *n) {
  *n = 0;
  int r = load();
  return r ? r : md_count(n);
}

/* Make device `ordinal`'s primary context current on this thread. */
int md_gpu_open(int ordinal) {
  int r = load();
  if (r) return r;
  int dev = 0;
  void *ctx = NULL;
  if ((r = md_device_get(&dev, ordinal)) != 0) return r;
  if ((r = md_ctx_retain(&ctx, dev)) != 0) return r;
  return md_ctx_set(ctx);
}

int md_gpu_alloc(void **p, size_t bytes) {
  if (host_mode) {
    *p = malloc(bytes ? bytes : 1);
    return *p ? 0 : 2; /* CUDA_ERROR_OUT_OF_MEMORY */
  }
  uint64_t d = 0;
  int r = md_alloc(&d, bytes ? bytes : 1);
  *p = r ? NULL : (void *)(uintptr_t)d;
  return r;
}

int md_gpu_put(void *dst, const void *src, size_t bytes) {
  if (host_mode) {
    if (bytes) memcpy(dst, src, bytes);
    return 0;
  }
  return bytes ? md_htod((uint64_t)(uintptr_t)dst, src, bytes) : 0;
}

/* Waits for the work queued before it (the default stream), then copies. */
int md_gpu_get(void *dst, const void *src, size_t bytes) {
  if (host_mode) {
    if (bytes) memcpy(dst, src, bytes);
    return 0;
  }
  int r = md_sync();
  if (r || !bytes) return r;
  return md_dtoh(dst, (uint64_t)(uintptr_t)src, bytes);
}

int md_gpu_free(void *p) {
  if (host_mode) {
    free(p);
    return 0;
  }
  return p ? md_free((uint64_t)(uintptr_t)p) : 0;
}
