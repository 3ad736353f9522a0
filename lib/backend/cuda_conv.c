/* cuda_conv.c: the fused graph convolution on CUDA: kernel compilation at
 * plan creation, workspace layout, and the launch sequence of each call
 * (all on the caller's stream). See cuda_conv.h for the contract on bad
 * indices and the workspace. */
#include "backend/cuda_conv.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/conv_codegen.h"
#include "problem.h"

#define HEADER_BYTES 256
/* Below this many segments the forward splits them by output block. */
#define SPLIT_BELOW_SEGMENTS 2048

typedef CUresult (*mem_alloc_async_fn)(CUdeviceptr *ptr, size_t bytes, CUstream stream);
typedef CUresult (*mem_free_async_fn)(CUdeviceptr ptr, CUstream stream);

enum { K_FWD, K_BWD, K_FWD_FIX, K_BWD_FIX, K_DW, K_CHECK, K_COUNT };

struct oeq_cuda_conv {
  CUmodule module;
  CUfunction fn[K_COUNT]; /* NULL where the mode has no such kernel */
  unsigned grid_max[K_COUNT];
  unsigned block_threads, backward_shared;
  int warps_per_block;
  size_t compute_size;
  int forward_items; /* forward warps per segment */
  int check; /* OEQ_CONV_CHECK: validate and synchronise every call */
  mem_alloc_async_fn alloc_async;
  mem_free_async_fn free_async;
};

static const char *const kernel_names[K_COUNT] = {
    OEQ_CONV_FORWARD_KERNEL,   OEQ_CONV_BACKWARD_KERNEL, OEQ_CONV_FORWARD_FIXUP_KERNEL,
    OEQ_CONV_BACKWARD_FIXUP_KERNEL, OEQ_CONV_DW_REDUCE_KERNEL, OEQ_CONV_CHECK_KERNEL};

/* ------------------------------------------------------------ plan time */

static int env_check(void) {
  const char *v = getenv("OEQ_CONV_CHECK");
  return v && *v && strcmp(v, "0") != 0;
}

static oeq_status_t load(const oeq_cuda_api_t *cu, oeq_cuda_conv_t *cc, const void *image,
                         const oeq_conv_source_t *src, int sm_count, oeq_error_t *err) {
  CUresult r = cu->cuModuleLoadData(&cc->module, image);
  if (r != OEQ_CUDA_SUCCESS) return oeq_cuda_fail(err, r, "cuModuleLoadData (conv)");
  cc->warps_per_block = src->warps_per_block;
  cc->block_threads = (unsigned)(src->warps_per_block * src->warp_size);
  cc->backward_shared = (unsigned)src->backward_shared_bytes;
  cc->compute_size = src->compute_size;
  cc->forward_items = src->forward_items;
  for (int k = 0; k < K_COUNT; k++) {
    /* Kernels a mode does not need are not generated, and not looked up
     * (a failed lookup is an API error to tools like compute-sanitizer). */
    cc->fn[k] = NULL;
    if (((k == K_FWD_FIX || k == K_BWD_FIX) && !src->has_fixups) || (k == K_DW && !src->has_dw_reduce))
      continue;
    r = cu->cuModuleGetFunction(&cc->fn[k], cc->module, kernel_names[k]);
    if (r != OEQ_CUDA_SUCCESS) return oeq_cuda_fail(err, r, "cuModuleGetFunction (conv)");
    unsigned shared = k == K_BWD ? cc->backward_shared : 0;
    if (shared > 48 * 1024 &&
        (r = cu->cuFuncSetAttribute(cc->fn[k], OEQ_CU_FUNC_ATTR_MAX_DYNAMIC_SHARED, (int)shared)) != 0)
      return oeq_cuda_fail(err, r, "cuFuncSetAttribute(max dynamic shared memory)");
    int per_sm = 0;
    r = cu->cuOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, cc->fn[k], (int)cc->block_threads, shared);
    if (r != OEQ_CUDA_SUCCESS) return oeq_cuda_fail(err, r, "cuOccupancyMaxActiveBlocksPerMultiprocessor");
    if (per_sm < 1)
      return oeq_fail(err, OEQ_ERROR_UNSUPPORTED,
                      "conv kernel %s cannot run on this device (%u threads, %u bytes of shared memory)",
                      kernel_names[k], cc->block_threads, shared);
    cc->grid_max[k] = (unsigned)(per_sm * sm_count);
  }
  if (!cc->fn[K_FWD] || !cc->fn[K_BWD] || !cc->fn[K_CHECK])
    return oeq_fail(err, OEQ_ERROR_INTERNAL, "conv module lacks its main kernels");
  return OEQ_SUCCESS;
}

oeq_status_t oeq_cuda_conv_init(const oeq_cuda_api_t *cu, const oeq_plan_t *plan, int sm, int sm_count,
                                int max_shared_optin, oeq_cuda_conv_t **out, oeq_error_t *err) {
  oeq_cuda_conv_t *cc = calloc(1, sizeof *cc);
  if (!cc) return oeq_fail(err, OEQ_ERROR_OUT_OF_MEMORY, "out of memory creating a CUDA conv plan");
  cc->check = env_check();
  /* Stream-ordered allocation is newer than the driver table oeq needs
   * elsewhere: look it up here, and only a NULL workspace depends on it. */
  void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
  if (lib) {
    cc->alloc_async = (mem_alloc_async_fn)dlsym(lib, "cuMemAllocAsync");
    cc->free_async = (mem_free_async_fn)dlsym(lib, "cuMemFreeAsync");
    dlclose(lib);
  }
  oeq_codegen_target_t target = {.dialect = OEQ_DIALECT_CUDA,
                                 .warps_per_block = 4,
                                 .max_shared_per_block = (size_t)max_shared_optin};
  oeq_conv_options_t opt = {.deterministic = (plan->flags & OEQ_CONV_DETERMINISTIC) != 0,
                            .kahan = (plan->flags & OEQ_CONV_KAHAN) != 0,
                            .index64 = (plan->flags & OEQ_INDEX_INT64) != 0};
  oeq_conv_source_t src = {0};
  void *image = NULL;
  size_t image_size = 0;
  oeq_status_t st = oeq_codegen_conv(plan->schedule, &target, &opt, &src, err);
  if (st == OEQ_SUCCESS) st = oeq_cuda_cached_image(src.text, sm, "conv", &image, &image_size, err);
  if (st == OEQ_SUCCESS) st = load(cu, cc, image, &src, sm_count, err);
  free(image);
  free(src.text);
  if (st != OEQ_SUCCESS) {
    oeq_cuda_conv_release(cu, cc);
    return st;
  }
  *out = cc;
  return OEQ_SUCCESS;
}

void oeq_cuda_conv_release(const oeq_cuda_api_t *cu, oeq_cuda_conv_t *cc) {
  if (!cc) return;
  if (cc->module) cu->cuModuleUnload(cc->module);
  free(cc);
}

/* ------------------------------------------------------------ workspace */

typedef struct {
  size_t slots_off, slots_bytes, dw_off, dw_bytes, total;
} layout_t;

static size_t round256(size_t n) { return (n + 255) & ~(size_t)255; }

static layout_t workspace_layout(const oeq_plan_t *plan, int64_t edges, size_t csz) {
  const oeq_schedule_t *s = plan->schedule;
  int64_t n_seg = edges > 0 ? oeq_conv_segments(edges) : 0;
  int64_t width = s->z_dim > s->x_dim ? s->z_dim : s->x_dim;
  layout_t l = {0};
  l.slots_off = HEADER_BYTES;
  l.slots_bytes = (plan->flags & OEQ_CONV_DETERMINISTIC) ? (size_t)(n_seg * width) * csz : 0;
  l.dw_off = l.slots_off + round256(l.slots_bytes);
  l.dw_bytes = s->shared_weights ? (size_t)(n_seg * s->weight_numel) * csz : 0;
  l.total = l.dw_off + l.dw_bytes;
  return l;
}

static size_t compute_size(const oeq_schedule_t *s) {
  return s->irrep_dtype == OEQ_FLOAT64 || s->weight_dtype == OEQ_FLOAT64 ? 8 : 4;
}

oeq_status_t oeq_cuda_conv_workspace_size(const oeq_plan_t *plan, int64_t x_rows, int64_t z_rows,
                                          int64_t edges, size_t *bytes, oeq_error_t *err) {
  (void)x_rows, (void)z_rows, (void)err;
  *bytes = workspace_layout(plan, edges, compute_size(plan->schedule)).total;
  return OEQ_SUCCESS;
}

/* ------------------------------------------------------------ call time */

typedef struct {
  const oeq_cuda_api_t *cu;
  const oeq_cuda_conv_t *cc;
  CUstream stream;
  CUdeviceptr ws;  /* the workspace in use */
  int owned;       /* allocated here: free stream-ordered at the end */
  layout_t l;
} call_t;

static unsigned grid_for(const oeq_cuda_conv_t *cc, int k, int64_t warps) {
  int64_t blocks = (warps + cc->warps_per_block - 1) / cc->warps_per_block;
  if (blocks < 1) blocks = 1;
  return blocks < (int64_t)cc->grid_max[k] ? (unsigned)blocks : cc->grid_max[k];
}

static oeq_status_t launch(const call_t *c, int k, unsigned grid, unsigned threads, unsigned shared,
                           void **args, oeq_error_t *err) {
  CUresult r = c->cu->cuLaunchKernel(c->cc->fn[k], grid, 1, 1, threads, 1, 1, shared, c->stream, args, NULL);
  if (r != OEQ_CUDA_SUCCESS) {
    char what[96];
    snprintf(what, sizeof what, "launching %s", kernel_names[k]);
    return oeq_cuda_fail(err, r, what);
  }
  return OEQ_SUCCESS;
}

static oeq_status_t memset0(const call_t *c, const void *p, size_t bytes, oeq_error_t *err) {
  if (!bytes) return OEQ_SUCCESS;
  CUresult r = c->cu->cuMemsetD8Async((CUdeviceptr)(uintptr_t)p, 0, bytes, c->stream);
  return r == OEQ_CUDA_SUCCESS ? OEQ_SUCCESS : oeq_cuda_fail(err, r, "cuMemsetD8Async");
}

/* The caller's workspace, or one allocated on the stream when needed. */
static oeq_status_t begin(const oeq_cuda_api_t *cu, const oeq_plan_t *plan, const oeq_cuda_conv_t *cc,
                          const oeq_conv_args_t *a, call_t *c, oeq_error_t *err) {
  *c = (call_t){.cu = cu, .cc = cc, .stream = (CUstream)a->stream};
  c->l = workspace_layout(plan, a->edges, cc->compute_size);
  int needed = c->l.slots_bytes > 0 || c->l.dw_bytes > 0 || cc->check;
  if (a->workspace) {
    if (a->workspace_bytes < c->l.total)
      return oeq_fail(err, OEQ_ERROR_INVALID_ARGUMENT,
                      "workspace_bytes = %zu is smaller than oeq_conv_workspace_size's %zu",
                      a->workspace_bytes, c->l.total);
    c->ws = (CUdeviceptr)(uintptr_t)a->workspace;
  } else if (needed) {
    if (!cc->alloc_async || !cc->free_async)
      return oeq_fail(err, OEQ_ERROR_UNSUPPORTED,
                      "this driver lacks cuMemAllocAsync: pass a workspace of oeq_conv_workspace_size bytes");
    CUresult r = cc->alloc_async(&c->ws, c->l.total, c->stream);
    if (r != OEQ_CUDA_SUCCESS) return oeq_cuda_fail(err, r, "cuMemAllocAsync (conv workspace)");
    c->owned = 1;
  }
  if (!cc->check || a->edges == 0) return OEQ_SUCCESS;
  oeq_status_t st = memset0(c, (void *)(uintptr_t)c->ws, sizeof(unsigned), err);
  if (st != OEQ_SUCCESS) return st;
  const void *perm = (plan->flags & OEQ_CONV_DETERMINISTIC) ? a->sender_perm : NULL;
  CUdeviceptr word = c->ws;
  long long xr = a->x_rows, zr = a->z_rows, e = a->edges;
  void *args[] = {(void *)&a->rows, (void *)&a->cols, (void *)&perm, &word, &xr, &zr, &e};
  return launch(c, K_CHECK, grid_for(cc, K_CHECK, (e + 1023) / 1024), cc->block_threads, 0, args, err);
}

/* Frees an owned workspace; under OEQ_CONV_CHECK waits and reports. */
static oeq_status_t end(call_t *c, oeq_status_t st, int64_t edges, oeq_error_t *err) {
  unsigned word = 0;
  if (st == OEQ_SUCCESS && c->cc->check && edges > 0) {
    CUresult r = c->cu->cuStreamSynchronize(c->stream);
    if (r == OEQ_CUDA_SUCCESS) r = c->cu->cuMemcpyDtoH(&word, c->ws, sizeof word);
    if (r != OEQ_CUDA_SUCCESS) st = oeq_cuda_fail(err, r, "reading the conv index check");
  }
  if (c->owned) {
    CUresult r = c->cc->free_async(c->ws, c->stream);
    if (r != OEQ_CUDA_SUCCESS && st == OEQ_SUCCESS) st = oeq_cuda_fail(err, r, "cuMemFreeAsync");
  }
  if (st == OEQ_SUCCESS && word)
    st = oeq_fail(err, OEQ_ERROR_INVALID_ARGUMENT,
                  "conv index check failed:%s%s%s%s (those edges were skipped)",
                  word & OEQ_CONV_BAD_ROW ? " a row index outside [0, z_rows)" : "",
                  word & OEQ_CONV_BAD_COL ? " a col index outside [0, x_rows)" : "",
                  word & OEQ_CONV_UNSORTED_ROWS ? " rows not sorted (deterministic mode)" : "",
                  word & OEQ_CONV_BAD_PERM ? " sender_perm out of range or not sorting cols" : "");
  return st;
}

oeq_status_t oeq_cuda_conv_forward(const oeq_cuda_api_t *cu, const oeq_plan_t *plan,
                                   const oeq_cuda_conv_t *cc, const oeq_conv_args_t *a,
                                   oeq_error_t *err) {
  const oeq_schedule_t *s = plan->schedule;
  call_t c;
  oeq_status_t st = begin(cu, plan, cc, a, &c, err);
  if (st != OEQ_SUCCESS) return end(&c, st, 0, err);
  /* Rows with no edge (and blocks no path reaches) are zeros; atomic adds
   * need a zero start. */
  st = memset0(&c, a->z, (size_t)(a->z_rows * s->z_dim) * oeq_dtype_size(s->irrep_dtype), err);
  if (st == OEQ_SUCCESS && a->edges > 0) {
    long long xr = a->x_rows, zr = a->z_rows, e = a->edges;
    long long len = oeq_conv_segment_len(a->edges), n = oeq_conv_segments(a->edges);
    CUdeviceptr slots = c.ws ? c.ws + c.l.slots_off : 0;
    /* Few segments (small graphs): one warp per (segment, output block)
     * to fill the GPU; else one per segment, reusing its edges in L1. */
    int split = n < SPLIT_BELOW_SEGMENTS;
    void *args[] = {(void *)&a->x,    (void *)&a->y, (void *)&a->w, (void *)&a->rows, (void *)&a->cols,
                    (void *)&a->z,    &slots,        &xr,           &zr,              &e,
                    &len,             &n,            &split};
    st = launch(&c, K_FWD, grid_for(cc, K_FWD, split ? n * cc->forward_items : n), cc->block_threads, 0, args,
                err);
    if (st == OEQ_SUCCESS && (plan->flags & OEQ_CONV_DETERMINISTIC) && n > 1) {
      const void *none = NULL;
      void *fargs[] = {(void *)&a->rows, (void *)&none, (void *)&a->z, &slots, &zr, &e, &len, &n};
      st = launch(&c, K_FWD_FIX, grid_for(cc, K_FWD_FIX, n), cc->block_threads, 0, fargs, err);
    }
  }
  return end(&c, st, a->edges, err);
}

oeq_status_t oeq_cuda_conv_backward(const oeq_cuda_api_t *cu, const oeq_plan_t *plan,
                                    const oeq_cuda_conv_t *cc, const oeq_conv_args_t *a,
                                    oeq_error_t *err) {
  const oeq_schedule_t *s = plan->schedule;
  const int det = (plan->flags & OEQ_CONV_DETERMINISTIC) != 0;
  call_t c;
  oeq_status_t st = begin(cu, plan, cc, a, &c, err);
  if (st != OEQ_SUCCESS) return end(&c, st, 0, err);
  st = memset0(&c, a->dx, (size_t)(a->x_rows * s->x_dim) * oeq_dtype_size(s->irrep_dtype), err);
  long long xr = a->x_rows, zr = a->z_rows, e = a->edges;
  long long len = oeq_conv_segment_len(a->edges), n = a->edges > 0 ? oeq_conv_segments(a->edges) : 0;
  CUdeviceptr slots = c.ws ? c.ws + c.l.slots_off : 0, dw_slots = c.ws ? c.ws + c.l.dw_off : 0;
  const void *perm = det ? a->sender_perm : NULL;
  if (st == OEQ_SUCCESS && a->edges > 0) {
    void *args[] = {(void *)&a->x,  (void *)&a->y,  (void *)&a->w,  (void *)&a->dz, (void *)&a->rows,
                    (void *)&a->cols, (void *)&perm, (void *)&a->dx, (void *)&a->dy, (void *)&a->dw,
                    &slots,         &dw_slots,      &xr,            &zr,            &e,
                    &len,           &n};
    st = launch(&c, K_BWD, grid_for(cc, K_BWD, n), cc->block_threads, cc->backward_shared, args, err);
    if (st == OEQ_SUCCESS && det && n > 1) {
      void *fargs[] = {(void *)&a->cols, (void *)&perm, (void *)&a->dx, &slots, &xr, &e, &len, &n};
      st = launch(&c, K_BWD_FIX, grid_for(cc, K_BWD_FIX, n), cc->block_threads, 0, fargs, err);
    }
  }
  if (st == OEQ_SUCCESS && s->shared_weights && s->weight_numel > 0) {
    /* Also with no edges: dw is then the empty sum, written as zeros. */
    void *rargs[] = {&dw_slots, (void *)&a->dw, &n};
    st = launch(&c, K_DW, grid_for(cc, K_DW, (s->weight_numel + 31) / 32), cc->block_threads, 0, rargs, err);
  }
  return end(&c, st, a->edges, err);
}
