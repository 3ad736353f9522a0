/* gpu.h: the one launch layer of the GPU backends.
 *
 * gpu.c implements the backend operations (plan creation, pointer checks,
 * TP and convolution calls) once, for every GPU runtime. What differs
 * between CUDA and HIP is behind oeq_gpu_driver_t, a thin table of
 * runtime calls (gpu_cuda.c over libcuda + NVRTC, gpu_hip.c over
 * libamdhip64 + hiprtc). The kernels and their launch geometry come from
 * codegen's kernel tables (codegen/kernel_table.h); this layer only loads
 * them, sizes the grids to what is resident on the device, and launches.
 *
 * Nothing here synchronises with the host, except a convolution under
 * OEQ_CONV_CHECK (gpu_conv.c). */
#ifndef OEQ_GPU_H
#define OEQ_GPU_H

#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"
#include "backend/ptr_memo.h"
#include "codegen/kernel_table.h"
#include "codegen/tp_codegen.h"
#include "status.h"

/* What the generator and the launch layer need to know about a device. */
typedef struct oeq_gpu_device {
  int ordinal;
  oeq_dialect_t dialect;
  int warp_size;     /* the device's native warp / wavefront */
  int sm_count;      /* multiprocessors (compute units) */
  size_t max_shared; /* dynamic shared memory a block may use (opt-in limit) */
  int sm;            /* CUDA compute capability x 10; 0 on HIP */
  char arch[256];    /* "sm_90", "gfx90a:sramecc+:xnack-" */
} oeq_gpu_device_t;

/* The runtime calls the launch layer makes. `ctx` is the driver's own
 * per-plan state (CUDA: the context; HIP: the device). Every call that
 * can fail returns a status with a message naming the runtime call. */
typedef struct oeq_gpu_driver {
  const char *name; /* "CUDA", "HIP": for messages */
  /* 1 if `device` can take plans now, else 0 with the reason in err. */
  int (*available)(int device, oeq_error_t *err);
  /* Read the device's facts and set up a plan's ctx (freed by close). */
  oeq_status_t (*open)(int device, oeq_gpu_device_t *dev, void **ctx, oeq_error_t *err);
  void (*close)(void *ctx);
  /* Make the plan's device current for this thread; leave() restores what
   * the caller had (token is enter's). */
  oeq_status_t (*enter)(void *ctx, intptr_t *token, oeq_error_t *err);
  void (*leave)(void *ctx, intptr_t token);
  /* Source -> binary image (malloc'ed) for the device, through the kernel
   * cache (oeq_kcache_compile); *cached says it came from the cache;
   * refresh drops the cached image and compiles anew. warp_size is the
   * width the source was written for. */
  oeq_status_t (*compile)(const char *source, const oeq_gpu_device_t *dev, int warp_size,
                          const char *what, int refresh, void **image, size_t *size, int *cached,
                          oeq_error_t *err);
  oeq_status_t (*module_load)(const void *image, void **module, oeq_error_t *err);
  void (*module_unload)(void *module);
  oeq_status_t (*get_function)(void *module, const char *name, void **fn, oeq_error_t *err);
  /* Allow `shared` bytes of dynamic shared memory where the runtime needs
   * an opt-in, and return how many blocks of `threads` fit on one SM. */
  oeq_status_t (*blocks_per_sm)(void *fn, int threads, size_t shared, int *blocks,
                                oeq_error_t *err);
  oeq_status_t (*launch)(void *fn, unsigned grid_x, unsigned grid_y, unsigned threads,
                         size_t shared, void *stream, void **args, oeq_error_t *err);
  oeq_status_t (*memset_async)(void *dst, size_t bytes, void *stream, oeq_error_t *err);
  /* 1: ptr is host memory a kernel cannot read; 0: device (or managed)
   * memory, or unknown to the runtime's query (then *memo = 0). */
  int (*is_host_pointer)(void *ctx, const void *ptr, int *memo);
  /* Stream-ordered allocation, for a convolution called without a
   * workspace; OEQ_ERROR_UNSUPPORTED where the runtime lacks it. */
  oeq_status_t (*alloc_async)(void **ptr, size_t bytes, void *stream, oeq_error_t *err);
  oeq_status_t (*free_async)(void *ptr, void *stream, oeq_error_t *err);
  /* Wait for the stream, then copy bytes from device to host. */
  oeq_status_t (*read_after)(void *dst, const void *src, size_t bytes, void *stream,
                             oeq_error_t *err);
} oeq_gpu_driver_t;

const oeq_gpu_driver_t *oeq_gpu_driver_cuda(void);
const oeq_gpu_driver_t *oeq_gpu_driver_hip(void);

/* A loaded kernel: its function, launch geometry and resident grid. */
typedef struct oeq_gpu_kernel {
  void *fn; /* NULL: not in this plan */
  oeq_kernel_desc_t desc;
  unsigned grid_max; /* blocks in gridDim.x that are resident at once */
} oeq_gpu_kernel_t;

/* The backend state of a GPU plan (plan->impl). */
typedef struct oeq_gpu_plan {
  const oeq_gpu_driver_t *drv;
  void *ctx;
  oeq_gpu_device_t dev;
  void *module[OEQ_MAX_PARTS];
  oeq_gpu_kernel_t kernel[OEQ_MAX_KERNELS]; /* by the generator's role */
  /* TP (shared weights), symmetric contraction: dw is zeroed first,
   * since blocks add partial sums into it */
  size_t zero_dw_bytes;
  /* conv: the compute type's size, the forward's, fix-ups' and backward's
   * warps per segment, and whether every call validates its indices first
   * (OEQ_CONV_CHECK) */
  size_t compute_size;
  int forward_items;
  int fixup_items[2]; /* fix-up warps per segment: forward, backward */
  int backward_items; /* backward warps per segment */
  int check;
  oeq_ptr_memo_t checked; /* arrays that passed the host-memory check */
} oeq_gpu_plan_t;

/* Blocks for `items` work items at desc.rows_per_block a block: at least
 * one, at most the resident grid (the kernels stride over the rest). */
unsigned oeq_gpu_grid(const oeq_gpu_kernel_t *k, int64_t items);

/* Launch kernel `role` on `items` work items; `what` names it in errors. */
oeq_status_t oeq_gpu_launch(const oeq_gpu_plan_t *gp, int role, int64_t items, void *stream,
                            void **args, oeq_error_t *err);

/* The TP launches of a forward / backward call (the device current). */
oeq_status_t oeq_gpu_tp_forward_enqueue(const oeq_gpu_plan_t *gp, int64_t batch, const void *x,
                                        const void *y, const void *w, void *z, void *stream,
                                        oeq_error_t *err);
oeq_status_t oeq_gpu_tp_backward_enqueue(const oeq_gpu_plan_t *gp, int64_t batch, const void *x,
                                         const void *y, const void *w, const void *dz, void *dx,
                                         void *dy, void *dw, void *stream, oeq_error_t *err);

/* Second derivatives of a TP or conv plan (gpu_double.c), composed from
 * the plan's forward / backward launches into workspace temporaries and
 * the elementwise sum kernels; with the plan's device current. */
oeq_status_t oeq_gpu_dd_workspace_size(const oeq_plan_t *plan, int64_t x_rows, int64_t z_rows,
                                       int64_t edges, size_t *bytes, oeq_error_t *err);
oeq_status_t oeq_gpu_double_backward(const oeq_plan_t *plan, const oeq_dd_args_t *a,
                                     oeq_error_t *err);

/* The convolution (gpu_conv.c); calls run with the plan's device current. */
/* Generate the plan's conv source for gp->dev: its text (free() it), its
 * kernels, the lane count it was written for; fills gp's conv fields. */
oeq_status_t oeq_gpu_conv_generate(const oeq_plan_t *plan, oeq_gpu_plan_t *gp, char **text,
                                   oeq_kernel_table_t *table, int *warp_size, oeq_error_t *err);
oeq_status_t oeq_gpu_conv_workspace_size(const oeq_plan_t *plan, int64_t x_rows, int64_t z_rows,
                                         int64_t edges, size_t *bytes, oeq_error_t *err);
oeq_status_t oeq_gpu_conv_forward(const oeq_plan_t *plan, const oeq_conv_args_t *a,
                                  oeq_error_t *err);
oeq_status_t oeq_gpu_conv_backward(const oeq_plan_t *plan, const oeq_conv_args_t *a,
                                   oeq_error_t *err);

/* The symmetric contraction (gpu_symcon.c); calls run with the plan's
 * device current. */
oeq_status_t oeq_gpu_symcon_generate(const oeq_plan_t *plan, oeq_gpu_plan_t *gp, char **text,
                                     oeq_kernel_table_t *table, int *warp_size, oeq_error_t *err);
oeq_status_t oeq_gpu_symcon_forward(const oeq_gpu_plan_t *gp, int64_t batch, const void *x,
                                    const int32_t *species, const void *w, void *z, void *stream,
                                    oeq_error_t *err);
oeq_status_t oeq_gpu_symcon_backward(const oeq_gpu_plan_t *gp, int64_t batch, const void *x,
                                     const int32_t *species, const void *w, const void *dz,
                                     void *dx, void *dw, void *stream, oeq_error_t *err);

/* Test hook: text appended to every generated source before it is
 * compiled (NULL: none), e.g. a deliberate error to exercise the compile
 * failure path. Process-wide; for tests only. */
void oeq_gpu_test_append_source(const char *text);

#endif
