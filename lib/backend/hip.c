/* hip.c: the HIP backend (AMD GPUs). Generates the plan's kernels in the HIP
 * dialect, compiles them with hiprtc for the device's gcnArchName (through
 * the kernel cache), loads them with hipModuleLoadData and launches them
 * with hipModuleLaunchKernel on the caller's stream.
 *
 * Device rules: HIP has no contexts to push; the plan's device is made
 * current around each call that needs it and the caller's device restored
 * after, so a caller working on another device is not disturbed. Nothing
 * here synchronises with the host. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/backend.h"
#include "backend/hip_api.h"
#include "backend/kcache.h"
#include "backend/ptr_memo.h"
#include "codegen/tp_codegen.h"
#include "problem.h"

typedef struct hip_plan {
  int device;
  hipModule_t module;
  hipFunction_t forward, backward;
  unsigned block_threads;
  unsigned forward_shared, backward_shared;
  unsigned forward_grid_max, backward_grid_max; /* resident blocks on the whole device */
  int warps_per_block;
  int zero_dw_first;
  size_t dw_bytes;
  oeq_ptr_memo_t checked; /* arrays that passed hip_check_pointer */
} hip_plan_t;

static const char no_conv[] =
    "the HIP backend has no fused convolution yet (use the CPU backend, or the TP plan with a "
    "gather / scatter of your own)";

/* -------------------------------------------------------------- device */

/* Make `device` current; *prev is the caller's, restored by leave(). */
static oeq_status_t enter(const oeq_hip_api_t *hip, int device, int *prev, oeq_error_t *err) {
  hipError_t r = hip->hipGetDevice(prev);
  if (r != OEQ_HIP_SUCCESS) return oeq_hip_fail(err, r, "hipGetDevice");
  if (*prev != device && (r = hip->hipSetDevice(device)) != OEQ_HIP_SUCCESS)
    return oeq_hip_fail(err, r, "hipSetDevice");
  return OEQ_SUCCESS;
}

static void leave(const oeq_hip_api_t *hip, int device, int prev) {
  if (prev != device) hip->hipSetDevice(prev);
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

static oeq_status_t get_attribute(const oeq_hip_api_t *hip, int device, int attr, int *value,
                                  oeq_error_t *err) {
  hipError_t r = hip->hipDeviceGetAttribute(value, attr, device);
  return r == OEQ_HIP_SUCCESS ? OEQ_SUCCESS : oeq_hip_fail(err, r, "hipDeviceGetAttribute");
}

/* ------------------------------------------------------------- compile */

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

static void log_resources(const void *image, size_t size, const char *arch) {
  oeq_hip_kernel_info_t k[4];
  int n = 0;
  if (oeq_hip_code_object_kernels(image, size, k, 4, &n, NULL) != OEQ_SUCCESS) return;
  for (int i = 0; i < n && i < 4; i++)
    oeq_log("%s on %s: %d VGPRs, %d AGPRs, %d SGPRs, %d VGPR / %d SGPR spills, %d scratch bytes",
            k[i].name, arch, k[i].vgpr_count, k[i].agpr_count, k[i].sgpr_count,
            k[i].vgpr_spill_count, k[i].sgpr_spill_count, k[i].private_segment_bytes);
}

/* The code object for this source and target: from the cache or hiprtc.
 * wave64_on_wave32: the device runs wave32 natively (RDNA) and the source
 * is written for 64 lanes, so the code is compiled for wave64 mode, which
 * those GPUs also run. */
static oeq_status_t get_image(const char *source, const char *arch, int wave64_on_wave32,
                              void **image, size_t *size, oeq_error_t *err) {
  const oeq_hiprtc_api_t *rtc = oeq_hiprtc_api(err);
  if (!rtc) return OEQ_ERROR_BACKEND_UNAVAILABLE;
  char target[320];
  snprintf(target, sizeof target, "hip %s%s", arch, wave64_on_wave32 ? " wave64" : "");
  oeq_kcache_key_t key;
  oeq_kcache_make_key(&key, source, target, rtc->version);
  if (oeq_kcache_lookup(&key, image, size)) return OEQ_SUCCESS;
  const char *extra[] = {"-mwavefrontsize64"};
  double t0 = now_ms();
  oeq_status_t st =
      oeq_hiprtc_compile(source, arch, extra, wave64_on_wave32 ? 1 : 0, image, size, NULL, err);
  if (st != OEQ_SUCCESS) return st;
  if (oeq_log_enabled()) {
    oeq_log("compiled TP kernels for %s with %s in %.0f ms (%zu bytes of source)", arch,
            rtc->version, now_ms() - t0, strlen(source));
    log_resources(*image, *size, arch);
  }
  oeq_kcache_store(&key, *image, *size);
  return OEQ_SUCCESS;
}

/* Load the module and size the grids. AMD GPUs have no opt-in for dynamic
 * shared memory: the per-block limit the generator was given is the
 * device's whole allowance. */
static oeq_status_t load_kernels(const oeq_hip_api_t *hip, hip_plan_t *hp, const void *image,
                                 const oeq_tp_source_t *src, int cu_count, oeq_error_t *err) {
  hipError_t r = hip->hipModuleLoadData(&hp->module, image);
  if (r != OEQ_HIP_SUCCESS) return oeq_hip_fail(err, r, "hipModuleLoadData");
  if ((r = hip->hipModuleGetFunction(&hp->forward, hp->module, OEQ_TP_FORWARD_KERNEL)) != 0 ||
      (r = hip->hipModuleGetFunction(&hp->backward, hp->module, OEQ_TP_BACKWARD_KERNEL)) != 0)
    return oeq_hip_fail(err, r, "hipModuleGetFunction");
  hp->warps_per_block = src->warps_per_block;
  hp->block_threads = (unsigned)(src->warps_per_block * src->warp_size);
  hp->forward_shared = (unsigned)src->forward_shared_bytes;
  hp->backward_shared = (unsigned)src->backward_shared_bytes;
  hipFunction_t fns[2] = {hp->forward, hp->backward};
  unsigned shared[2] = {hp->forward_shared, hp->backward_shared};
  unsigned *grid[2] = {&hp->forward_grid_max, &hp->backward_grid_max};
  for (int i = 0; i < 2; i++) {
    int per_cu = 0;
    r = hip->hipModuleOccupancyMaxActiveBlocksPerMultiprocessor(&per_cu, fns[i],
                                                                (int)hp->block_threads, shared[i]);
    if (r != OEQ_HIP_SUCCESS)
      return oeq_hip_fail(err, r, "hipModuleOccupancyMaxActiveBlocksPerMultiprocessor");
    if (per_cu < 1)
      return oeq_fail(err, OEQ_ERROR_UNSUPPORTED,
                      "the generated kernel cannot run on this device (%u threads, %u bytes of "
                      "shared memory per block)",
                      hp->block_threads, shared[i]);
    *grid[i] = (unsigned)(per_cu * cu_count);
  }
  return OEQ_SUCCESS;
}

/* ------------------------------------------------------------- backend ops */

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

static void release(const oeq_hip_api_t *hip, hip_plan_t *hp) {
  if (hp->module) {
    int prev = 0;
    if (enter(hip, hp->device, &prev, NULL) == OEQ_SUCCESS) {
      hip->hipModuleUnload(hp->module);
      leave(hip, hp->device, prev);
    }
  }
  free(hp);
}

/* Everything the generator and compiler need to know about the device. */
typedef struct device_facts {
  char arch[256];
  int warp_size, cu_count, max_shared;
} device_facts_t;

static oeq_status_t read_device(const oeq_hip_api_t *hip, int device, device_facts_t *d,
                                oeq_error_t *err) {
  oeq_status_t st = device_arch(hip, device, d->arch, sizeof d->arch, err);
  if (st == OEQ_SUCCESS)
    st = get_attribute(hip, device, OEQ_HIP_ATTR_WARP_SIZE, &d->warp_size, err);
  if (st == OEQ_SUCCESS)
    st = get_attribute(hip, device, OEQ_HIP_ATTR_MULTIPROCESSOR_COUNT, &d->cu_count, err);
  if (st == OEQ_SUCCESS)
    st = get_attribute(hip, device, OEQ_HIP_ATTR_MAX_SHARED_PER_BLOCK, &d->max_shared, err);
  if (st != OEQ_SUCCESS) return st;
  /* Before any compiling: an unknown target would crash ROCm 5.2's hiprtc. */
  st = oeq_hip_check_arch(d->arch, err);
  if (st == OEQ_SUCCESS && d->warp_size != 64 && d->warp_size != 32)
    st = oeq_fail(err, OEQ_ERROR_UNSUPPORTED, "%s: wavefront size %d (oeq handles 32 and 64)",
                  d->arch, d->warp_size);
  return st;
}

static oeq_status_t hip_plan_init(oeq_plan_t *plan, oeq_error_t *err) {
  const oeq_hip_api_t *hip = oeq_hip_api(err);
  if (!hip) return OEQ_ERROR_BACKEND_UNAVAILABLE;
  if (plan->kind != OEQ_PLAN_TP) return oeq_fail(err, OEQ_ERROR_UNSUPPORTED, "%s", no_conv);
  device_facts_t dev;
  oeq_status_t st = read_device(hip, plan->device, &dev, err);
  if (st != OEQ_SUCCESS) return st;
  hip_plan_t *hp = calloc(1, sizeof *hp);
  if (!hp) return oeq_fail(err, OEQ_ERROR_OUT_OF_MEMORY, "out of memory creating a HIP plan");
  hp->device = plan->device;
  oeq_codegen_target_t target = {.dialect = OEQ_DIALECT_HIP,
                                 .warps_per_block = 4,
                                 .max_shared_per_block = (size_t)dev.max_shared};
  oeq_tp_source_t src = {0};
  void *image = NULL;
  size_t image_size = 0;
  int prev = 0, entered = 0;
  st = oeq_codegen_tp(plan->schedule, &target, &src, err);
  /* The HIP dialect is written for 64 lanes; wave32 GPUs run it in wave64
   * mode. A generator that emits 32-lane HIP would be compiled as is. */
  const int wave64_on_wave32 = dev.warp_size == 32 && src.warp_size == 64;
  if (st == OEQ_SUCCESS && src.warp_size != 64 && src.warp_size != dev.warp_size)
    st = oeq_fail(err, OEQ_ERROR_INTERNAL, "HIP source for %d lanes on a wave%d device",
                  src.warp_size, dev.warp_size);
  if (st == OEQ_SUCCESS)
    st = get_image(src.text, dev.arch, wave64_on_wave32, &image, &image_size, err);
  if (st == OEQ_SUCCESS && (st = enter(hip, hp->device, &prev, err)) == OEQ_SUCCESS) entered = 1;
  if (st == OEQ_SUCCESS) st = load_kernels(hip, hp, image, &src, dev.cu_count, err);
  if (entered) leave(hip, hp->device, prev);
  free(image);
  free(src.text);
  if (st != OEQ_SUCCESS) {
    release(hip, hp);
    return st;
  }
  hp->zero_dw_first = src.backward_zeroes_dw;
  const oeq_schedule_t *s = plan->schedule;
  hp->dw_bytes = (size_t)s->weight_numel * oeq_dtype_size(s->weight_dtype);
  plan->impl = hp;
  return OEQ_SUCCESS;
}

static void hip_plan_release(oeq_plan_t *plan) {
  const oeq_hip_api_t *hip = oeq_hip_api(NULL);
  if (hip && plan->impl) release(hip, plan->impl);
  plan->impl = NULL;
}

static oeq_status_t hip_check_pointer(const oeq_plan_t *plan, const void *ptr, const char *name,
                                      oeq_error_t *err) {
  const oeq_hip_api_t *hip = oeq_hip_api(err);
  hip_plan_t *hp = plan->impl;
  if (!hip || !hp) return OEQ_ERROR_INTERNAL;
  if (oeq_ptr_memo_has(&hp->checked, ptr)) return OEQ_SUCCESS;
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
  if (host)
    return oeq_fail(err, OEQ_ERROR_INVALID_ARGUMENT,
                    "%s is a host pointer; a HIP plan needs device memory", name);
  if (r == OEQ_HIP_SUCCESS) oeq_ptr_memo_add(&hp->checked, ptr);
  return OEQ_SUCCESS;
}

static unsigned grid_for(int64_t batch, int warps_per_block, unsigned grid_max) {
  int64_t blocks = (batch + warps_per_block - 1) / warps_per_block;
  return blocks < (int64_t)grid_max ? (unsigned)blocks : grid_max;
}

static oeq_status_t hip_tp_forward(const oeq_plan_t *plan, int64_t batch, const void *x,
                                   const void *y, const void *w, void *z, void *stream,
                                   oeq_error_t *err) {
  const oeq_hip_api_t *hip = oeq_hip_api(err);
  const hip_plan_t *hp = plan->impl;
  if (!hip || !hp) return OEQ_ERROR_INTERNAL;
  if (batch == 0) return OEQ_SUCCESS;
  int prev = 0;
  oeq_status_t st = enter(hip, hp->device, &prev, err);
  if (st != OEQ_SUCCESS) return st;
  long long rows = (long long)batch;
  void *args[] = {&x, &y, &w, &z, &rows};
  hipError_t r = hip->hipModuleLaunchKernel(
      hp->forward, grid_for(batch, hp->warps_per_block, hp->forward_grid_max), 1, 1,
      hp->block_threads, 1, 1, hp->forward_shared, (hipStream_t)stream, args, NULL);
  leave(hip, hp->device, prev);
  return r == OEQ_HIP_SUCCESS ? OEQ_SUCCESS
                              : oeq_hip_fail(err, r, "launching the TP forward kernel");
}

static oeq_status_t hip_tp_backward(const oeq_plan_t *plan, int64_t batch, const void *x,
                                    const void *y, const void *w, const void *dz, void *dx,
                                    void *dy, void *dw, void *stream, oeq_error_t *err) {
  const oeq_hip_api_t *hip = oeq_hip_api(err);
  const hip_plan_t *hp = plan->impl;
  if (!hip || !hp) return OEQ_ERROR_INTERNAL;
  int prev = 0;
  oeq_status_t st = enter(hip, hp->device, &prev, err);
  if (st != OEQ_SUCCESS) return st;
  hipError_t r = OEQ_HIP_SUCCESS;
  /* Shared weights: blocks add their partial sums into dw, so it starts
   * from zero, ordered on the same stream (no host synchronisation). */
  if (hp->zero_dw_first && dw) r = hip->hipMemsetAsync(dw, 0, hp->dw_bytes, (hipStream_t)stream);
  if (r == OEQ_HIP_SUCCESS && batch > 0) {
    long long rows = (long long)batch;
    void *args[] = {&x, &y, &w, &dz, &dx, &dy, &dw, &rows};
    r = hip->hipModuleLaunchKernel(hp->backward,
                                   grid_for(batch, hp->warps_per_block, hp->backward_grid_max), 1,
                                   1, hp->block_threads, 1, 1, hp->backward_shared,
                                   (hipStream_t)stream, args, NULL);
  }
  leave(hip, hp->device, prev);
  return r == OEQ_HIP_SUCCESS ? OEQ_SUCCESS
                              : oeq_hip_fail(err, r, "launching the TP backward kernel");
}

static oeq_status_t hip_conv_workspace_size(const oeq_plan_t *plan, int64_t x_rows, int64_t z_rows,
                                            int64_t edges, size_t *bytes, oeq_error_t *err) {
  (void)plan, (void)x_rows, (void)z_rows, (void)edges, (void)bytes;
  return oeq_fail(err, OEQ_ERROR_UNSUPPORTED, "%s", no_conv);
}

static oeq_status_t hip_conv_unsupported(const oeq_plan_t *plan, const oeq_conv_args_t *args,
                                         oeq_error_t *err) {
  (void)plan, (void)args;
  return oeq_fail(err, OEQ_ERROR_UNSUPPORTED, "%s", no_conv);
}

static const oeq_backend_ops_t hip_ops = {
    .name = "hip",
    .available = hip_available,
    .plan_init = hip_plan_init,
    .plan_release = hip_plan_release,
    .check_pointer = hip_check_pointer,
    .tp_forward = hip_tp_forward,
    .tp_backward = hip_tp_backward,
    .conv_workspace_size = hip_conv_workspace_size,
    .conv_forward = hip_conv_unsupported,
    .conv_backward = hip_conv_unsupported,
};

const oeq_backend_ops_t *oeq_backend_hip(void) { return &hip_ops; }
