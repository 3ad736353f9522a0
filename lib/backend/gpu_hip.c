/* gpu_hip.c: the HIP driver table of the launch layer (gpu.h), over
 * libamdhip64 and hiprtc opened at run time (hip_api.c).
 *
 * Device rules: HIP has no contexts to push; the plan's device is made
 * current around each call that needs it and the caller's device restored
 * after, so a caller working on another device is not disturbed. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/gpu.h"
#include "backend/hip_api.h"
#include "backend/kcache.h"

typedef struct hip_ctx {
  int device;
} hip_ctx_t;

/* Only plans reach these, and a plan exists only once the table loaded. */
static const oeq_hip_api_t *api(void) { return oeq_hip_api(NULL); }

static int hip_available(int device, oeq_error_t *err) {
  const oeq_hip_api_t *hip = oeq_hip_api(err);
  if (!hip) return 0;
  int count = 0;
  hip->hipGetDeviceCount(&count);
  if (device < 0 || device >= count) {
    oeq_fail(err, OEQ_ERROR_BACKEND_UNAVAILABLE, "no AMD GPU %d (%d found)", device, count);
    return 0;
  }
  return oeq_hiprtc_api(err) != NULL;
}

/* hipDeviceProp_t's gcnArchName ("gfx90a:sramecc+:xnack-"). There is no
 * attribute for it, and the struct's layout differs between ROCm 5
 * (R0000: at byte 396) and ROCm 6 (R0600: at byte 1160); a buffer larger
 * than either takes whichever call the library has. */
static oeq_status_t device_arch(const oeq_hip_api_t *hip, int device, char *arch, size_t len,
                                oeq_error_t *err) {
  static _Thread_local union {
    max_align_t align;
    unsigned char bytes[8192];
  } prop;
  memset(&prop, 0, sizeof prop);
  size_t offset = 396;
  hipError_t r;
  if (hip->hipGetDevicePropertiesR0600) {
    offset = 1160;
    r = hip->hipGetDevicePropertiesR0600(&prop, device);
  } else {
    r = hip->hipGetDeviceProperties(&prop, device);
  }
  if (r != OEQ_HIP_SUCCESS) return oeq_hip_fail(err, r, "hipGetDeviceProperties");
  snprintf(arch, len, "%.255s", (const char *)prop.bytes + offset);
  if (strncmp(arch, "gfx", 3) != 0)
    return oeq_fail(err, OEQ_ERROR_DEVICE,
                    "could not read the device's gcnArchName (HIP runtime %d): found '%.40s'",
                    hip->runtime_version, arch);
  return OEQ_SUCCESS;
}

static oeq_status_t attribute(const oeq_hip_api_t *hip, int device, int attr, int *value,
                              oeq_error_t *err) {
  hipError_t r = hip->hipDeviceGetAttribute(value, attr, device);
  return r == OEQ_HIP_SUCCESS ? OEQ_SUCCESS : oeq_hip_fail(err, r, "hipDeviceGetAttribute");
}

/* AMD GPUs have no opt-in for dynamic shared memory: the per-block limit
 * is the device's whole allowance. */
static oeq_status_t hip_open(int device, oeq_gpu_device_t *dev, void **ctx, oeq_error_t *err) {
  const oeq_hip_api_t *hip = oeq_hip_api(err);
  if (!hip) return OEQ_ERROR_BACKEND_UNAVAILABLE;
  oeq_gpu_device_t d = {.ordinal = device, .dialect = OEQ_DIALECT_HIP};
  int max_shared = 0;
  oeq_status_t st = device_arch(hip, device, d.arch, sizeof d.arch, err);
  if (st == OEQ_SUCCESS) st = attribute(hip, device, OEQ_HIP_ATTR_WARP_SIZE, &d.warp_size, err);
  if (st == OEQ_SUCCESS) st = attribute(hip, device, OEQ_HIP_ATTR_MULTIPROCESSOR_COUNT, &d.sm_count, err);
  if (st == OEQ_SUCCESS) st = attribute(hip, device, OEQ_HIP_ATTR_MAX_SHARED_PER_BLOCK, &max_shared, err);
  if (st != OEQ_SUCCESS) return st;
  /* Before any compiling: an unknown target would crash ROCm 5.2's hiprtc. */
  st = oeq_hip_check_arch(d.arch, err);
  if (st == OEQ_SUCCESS && d.warp_size != 64 && d.warp_size != 32)
    st = oeq_fail(err, OEQ_ERROR_UNSUPPORTED, "%s: wavefront size %d (oeq handles 32 and 64)",
                  d.arch, d.warp_size);
  if (st != OEQ_SUCCESS) return st;
  d.max_shared = (size_t)max_shared;
  hip_ctx_t *c = malloc(sizeof *c);
  if (!c) return oeq_fail(err, OEQ_ERROR_OUT_OF_MEMORY, "out of memory creating a HIP plan");
  c->device = device;
  *dev = d;
  *ctx = c;
  return OEQ_SUCCESS;
}

static void hip_close(void *ctx) { free(ctx); }

/* Make the plan's device current; *prev is the caller's, restored by leave. */
static oeq_status_t hip_enter(void *ctx, intptr_t *prev, oeq_error_t *err) {
  const oeq_hip_api_t *hip = api();
  const hip_ctx_t *c = ctx;
  int cur = 0;
  hipError_t r = hip->hipGetDevice(&cur);
  if (r != OEQ_HIP_SUCCESS) return oeq_hip_fail(err, r, "hipGetDevice");
  *prev = cur;
  if (cur != c->device && (r = hip->hipSetDevice(c->device)) != OEQ_HIP_SUCCESS)
    return oeq_hip_fail(err, r, "hipSetDevice");
  return OEQ_SUCCESS;
}

static void hip_leave(void *ctx, intptr_t prev) {
  const hip_ctx_t *c = ctx;
  if ((int)prev != c->device) api()->hipSetDevice((int)prev);
}

static void log_resources(const void *image, size_t size, const char *arch) {
  oeq_hip_kernel_info_t k[OEQ_MAX_KERNELS];
  int n = 0;
  if (oeq_hip_code_object_kernels(image, size, k, OEQ_MAX_KERNELS, &n, NULL) != OEQ_SUCCESS) return;
  for (int i = 0; i < n && i < OEQ_MAX_KERNELS; i++)
    oeq_log("%s on %s: %d VGPRs, %d AGPRs, %d SGPRs, %d VGPR / %d SGPR spills, %d scratch bytes",
            k[i].name, arch, k[i].vgpr_count, k[i].agpr_count, k[i].sgpr_count,
            k[i].vgpr_spill_count, k[i].sgpr_spill_count, k[i].private_segment_bytes);
}

typedef struct hiprtc_arg {
  const char *arch;
  int wave64_on_wave32;
} hiprtc_arg_t;

/* wave64_on_wave32: the device runs wave32 natively (RDNA) and the source
 * is written for 64 lanes, so the code is compiled for wave64 mode, which
 * those GPUs also run. */
static oeq_status_t hiprtc_build(const char *source, void *arg, void **image, size_t *size,
                                 oeq_error_t *err) {
  const hiprtc_arg_t *a = arg;
  const char *extra[] = {"-mwavefrontsize64"};
  oeq_status_t st =
      oeq_hiprtc_compile(source, a->arch, extra, a->wave64_on_wave32 ? 1 : 0, image, size, NULL, err);
  if (st == OEQ_SUCCESS && oeq_log_enabled()) log_resources(*image, *size, a->arch);
  return st;
}

static oeq_status_t hip_compile(const char *source, const oeq_gpu_device_t *dev, int warp_size,
                                const char *what, int refresh, void **image, size_t *size,
                                int *cached, oeq_error_t *err) {
  const oeq_hiprtc_api_t *rtc = oeq_hiprtc_api(err);
  if (!rtc) return OEQ_ERROR_BACKEND_UNAVAILABLE;
  hiprtc_arg_t arg = {.arch = dev->arch, .wave64_on_wave32 = dev->warp_size == 32 && warp_size == 64};
  char target[320];
  snprintf(target, sizeof target, "hip %s%s", dev->arch, arg.wave64_on_wave32 ? " wave64" : "");
  const oeq_kcache_job_t job = {.source = source,
                                .target = target,
                                .compiler = rtc->version,
                                .what = what,
                                .build = hiprtc_build,
                                .arg = &arg,
                                .refresh = refresh};
  return oeq_kcache_compile(&job, image, size, cached, err);
}

static oeq_status_t hip_module_load(const void *image, void **module, oeq_error_t *err) {
  hipError_t r = api()->hipModuleLoadData((hipModule_t *)module, image);
  return r == OEQ_HIP_SUCCESS ? OEQ_SUCCESS : oeq_hip_fail(err, r, "hipModuleLoadData");
}

static void hip_module_unload(void *module) { api()->hipModuleUnload(module); }

static oeq_status_t hip_get_function(void *module, const char *name, void **fn, oeq_error_t *err) {
  hipError_t r = api()->hipModuleGetFunction((hipFunction_t *)fn, module, name);
  if (r == OEQ_HIP_SUCCESS) return OEQ_SUCCESS;
  char what[128];
  snprintf(what, sizeof what, "hipModuleGetFunction(%s)", name);
  return oeq_hip_fail(err, r, what);
}

static oeq_status_t hip_blocks_per_sm(void *fn, int threads, size_t shared, int *blocks,
                                      oeq_error_t *err) {
  hipError_t r = api()->hipModuleOccupancyMaxActiveBlocksPerMultiprocessor(blocks, fn, threads, shared);
  return r == OEQ_HIP_SUCCESS ? OEQ_SUCCESS
                              : oeq_hip_fail(err, r, "hipModuleOccupancyMaxActiveBlocksPerMultiprocessor");
}

static oeq_status_t hip_launch(void *fn, unsigned grid_x, unsigned grid_y, unsigned threads,
                               size_t shared, void *stream, void **args, oeq_error_t *err) {
  hipError_t r = api()->hipModuleLaunchKernel(fn, grid_x, grid_y, 1, threads, 1, 1, (unsigned)shared,
                                              (hipStream_t)stream, args, NULL);
  return r == OEQ_HIP_SUCCESS ? OEQ_SUCCESS : oeq_hip_fail(err, r, "hipModuleLaunchKernel");
}

static oeq_status_t hip_memset_async(void *dst, size_t bytes, void *stream, oeq_error_t *err) {
  hipError_t r = api()->hipMemsetAsync(dst, 0, bytes, (hipStream_t)stream);
  return r == OEQ_HIP_SUCCESS ? OEQ_SUCCESS : oeq_hip_fail(err, r, "hipMemsetAsync");
}

static int hip_is_host_pointer(void *ctx, const void *ptr, int *memo) {
  (void)ctx;
  const oeq_hip_api_t *hip = api();
  oeq_hip_pointer_attr_t attr;
  memset(&attr, 0, sizeof attr);
  hipError_t r = hip->hipPointerGetAttributes(&attr, ptr);
  /* A failed query would otherwise linger for the caller's hipGetLastError. */
  if (r != OEQ_HIP_SUCCESS && hip->hipGetLastError) hip->hipGetLastError();
  /* ROCm 5 rejects pageable host memory with hipErrorInvalidValue and calls
   * registered host memory type 0; ROCm 6 numbers unregistered 0, host 1. */
  const int rocm6 = hip->runtime_version >= 60000000;
  int host = r == OEQ_HIP_ERROR_INVALID_VALUE;
  if (r == OEQ_HIP_SUCCESS)
    host = rocm6 ? (attr.memory_type == 0 || attr.memory_type == 1) : attr.memory_type == 0;
  *memo = r == OEQ_HIP_SUCCESS && !host;
  return host;
}

static oeq_status_t hip_alloc_async(void **ptr, size_t bytes, void *stream, oeq_error_t *err) {
  const oeq_hip_api_t *hip = api();
  if (!hip->hipMallocAsync || !hip->hipFreeAsync)
    return oeq_fail(err, OEQ_ERROR_UNSUPPORTED,
                    "this HIP runtime lacks hipMallocAsync: pass a workspace of "
                    "oeq_conv_workspace_size bytes");
  hipError_t r = hip->hipMallocAsync(ptr, bytes, (hipStream_t)stream);
  return r == OEQ_HIP_SUCCESS ? OEQ_SUCCESS : oeq_hip_fail(err, r, "hipMallocAsync (conv workspace)");
}

static oeq_status_t hip_free_async(void *ptr, void *stream, oeq_error_t *err) {
  hipError_t r = api()->hipFreeAsync(ptr, (hipStream_t)stream);
  return r == OEQ_HIP_SUCCESS ? OEQ_SUCCESS : oeq_hip_fail(err, r, "hipFreeAsync");
}

static oeq_status_t hip_read_after(void *dst, const void *src, size_t bytes, void *stream,
                                   oeq_error_t *err) {
  const oeq_hip_api_t *hip = api();
  hipError_t r = hip->hipStreamSynchronize((hipStream_t)stream);
  if (r == OEQ_HIP_SUCCESS) r = hip->hipMemcpy(dst, src, bytes, OEQ_HIP_MEMCPY_D2H);
  return r == OEQ_HIP_SUCCESS ? OEQ_SUCCESS : oeq_hip_fail(err, r, "reading the conv index check");
}

static const oeq_gpu_driver_t hip_driver = {
    .name = "HIP",
    .available = hip_available,
    .open = hip_open,
    .close = hip_close,
    .enter = hip_enter,
    .leave = hip_leave,
    .compile = hip_compile,
    .module_load = hip_module_load,
    .module_unload = hip_module_unload,
    .get_function = hip_get_function,
    .blocks_per_sm = hip_blocks_per_sm,
    .launch = hip_launch,
    .memset_async = hip_memset_async,
    .is_host_pointer = hip_is_host_pointer,
    .alloc_async = hip_alloc_async,
    .free_async = hip_free_async,
    .read_after = hip_read_after,
};

const oeq_gpu_driver_t *oeq_gpu_driver_hip(void) { return &hip_driver; }
