/* gpu.c: the GPU backends' operations, written once over a driver table
 * (gpu.h). A plan generates its source for the device, compiles its parts
 * (through the kernel cache) at once, loads every kernel its table lists,
 * and sizes each kernel's grid to the blocks resident on the device; calls
 * then only enqueue launches on the caller's stream. */
#include "backend/gpu.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/kcache.h"
#include "problem.h"

/* ------------------------------------------------------------ test hook */

static _Atomic(const char *) appended_source;

void oeq_gpu_test_append_source(const char *text) { atomic_store(&appended_source, text); }

/* ------------------------------------------------------------- compile */

/* One program of a source: OEQ_PART defined for part n of several. */
typedef struct part_job {
  const oeq_gpu_driver_t *drv;
  const oeq_gpu_device_t *dev;
  char *source;
  int warp_size;
  char what[48]; /* for OEQ_LOG and messages */
  void *image;
  size_t size;
  int cached;
  oeq_status_t status;
  oeq_error_t err;
} part_job_t;

static void *compile_part(void *arg) {
  part_job_t *j = arg;
  j->status = j->drv->compile(j->source, j->dev, j->warp_size, j->what, 0, &j->image, &j->size,
                              &j->cached, &j->err);
  return NULL;
}

static char *part_source(const char *text, int part, int n_parts) {
  const char *extra = atomic_load(&appended_source);
  const size_t n = strlen(text) + (extra ? strlen(extra) : 0) + 32;
  char *s = malloc(n);
  if (!s) return NULL;
  if (n_parts > 1)
    snprintf(s, n, "#define OEQ_PART %d\n%s%s", part, text, extra ? extra : "");
  else
    snprintf(s, n, "%s%s", text, extra ? extra : "");
  return s;
}

/* Compile the parts concurrently (NVRTC is thread-safe; hiprtc takes
 * turns inside hip_api.c), so that a cold plan waits for the longest part
 * rather than their sum. */
static oeq_status_t compile_parts(const oeq_gpu_driver_t *drv, const oeq_gpu_device_t *dev,
                                  const char *text, int n_parts, int warp_size, const char *kind,
                                  part_job_t job[OEQ_MAX_PARTS], oeq_error_t *err) {
  memset(job, 0, sizeof(part_job_t) * OEQ_MAX_PARTS);
  for (int i = 0; i < n_parts; i++) {
    job[i] = (part_job_t){.drv = drv, .dev = dev, .warp_size = warp_size,
                          .source = part_source(text, i + 1, n_parts)};
    /* Part 1 holds the forward kernels, the others the backward ones. */
    snprintf(job[i].what, sizeof job[i].what, "%s%s", kind,
             n_parts == 1 ? "" : i == 0 ? " forward" : " backward");
    if (!job[i].source) return oeq_fail(err, OEQ_ERROR_OUT_OF_MEMORY, "out of memory preparing kernel source");
  }
  pthread_t thread[OEQ_MAX_PARTS];
  int started[OEQ_MAX_PARTS] = {0};
  for (int i = 1; i < n_parts; i++)
    started[i] = pthread_create(&thread[i], NULL, compile_part, &job[i]) == 0;
  compile_part(&job[0]);
  for (int i = 1; i < n_parts; i++) {
    if (started[i])
      pthread_join(thread[i], NULL);
    else
      compile_part(&job[i]); /* no thread to be had: one after the other */
  }
  for (int i = 0; i < n_parts; i++)
    if (job[i].status != OEQ_SUCCESS) {
      if (err) *err = job[i].err;
      return job[i].status;
    }
  return OEQ_SUCCESS;
}

static void free_jobs(part_job_t job[OEQ_MAX_PARTS]) {
  for (int i = 0; i < OEQ_MAX_PARTS; i++) {
    free(job[i].source);
    free(job[i].image);
  }
}

/* ---------------------------------------------------------------- load */

/* Load part i's module. An image from the kernel cache that the runtime
 * refuses (a driver update, a damaged file that still checks out) is
 * evicted and compiled afresh once, instead of failing every plan. */
static oeq_status_t load_part(oeq_gpu_plan_t *gp, part_job_t *j, int i, oeq_error_t *err) {
  oeq_status_t st = gp->drv->module_load(j->image, &gp->module[i], err);
  if (st == OEQ_SUCCESS || !j->cached) return st;
  oeq_log("%s rejected a cached %s image: compiling it again", gp->drv->name, j->what);
  free(j->image);
  j->image = NULL;
  j->cached = 0;
  st = gp->drv->compile(j->source, j->dev, j->warp_size, j->what, 1, &j->image, &j->size, &j->cached,
                        err);
  return st == OEQ_SUCCESS ? gp->drv->module_load(j->image, &gp->module[i], err) : st;
}

static oeq_status_t load_kernels(oeq_gpu_plan_t *gp, const oeq_kernel_table_t *t, oeq_error_t *err) {
  for (int r = 0; r < t->count; r++) {
    const oeq_kernel_desc_t *d = &t->kernel[r];
    oeq_gpu_kernel_t *k = &gp->kernel[r];
    if (!d->name) continue; /* a lookup that fails is an API error to tools like compute-sanitizer */
    if (d->part < 1 || d->part > t->n_parts || d->threads < 1 || d->rows_per_block < 1 || d->grid_y < 1)
      return oeq_fail(err, OEQ_ERROR_INTERNAL, "kernel %s: inconsistent launch table (part %d, %d threads)",
                      d->name, d->part, d->threads);
    k->desc = *d;
    oeq_status_t st = gp->drv->get_function(gp->module[d->part - 1], d->name, &k->fn, err);
    int per_sm = 0;
    if (st == OEQ_SUCCESS) st = gp->drv->blocks_per_sm(k->fn, d->threads, d->shared_bytes, &per_sm, err);
    if (st != OEQ_SUCCESS) return st;
    if (per_sm < 1)
      return oeq_fail(err, OEQ_ERROR_UNSUPPORTED,
                      "kernel %s cannot run on this device (%d threads, %zu bytes of shared memory "
                      "per block)",
                      d->name, d->threads, d->shared_bytes);
    /* The resident blocks are shared among the grid_y groups. */
    const unsigned resident = (unsigned)per_sm * (unsigned)gp->dev.sm_count;
    k->grid_max = resident > (unsigned)d->grid_y ? resident / (unsigned)d->grid_y : 1;
  }
  return OEQ_SUCCESS;
}

/* Compile and load a generated source for the plan's device. */
static oeq_status_t build(oeq_gpu_plan_t *gp, const char *text, const oeq_kernel_table_t *table,
                          int warp_size, const char *kind, oeq_error_t *err) {
  if (table->n_parts < 1 || table->n_parts > OEQ_MAX_PARTS || table->count > OEQ_MAX_KERNELS)
    return oeq_fail(err, OEQ_ERROR_INTERNAL, "kernel table with %d parts, %d kernels",
                    table->n_parts, table->count);
  /* HIP sources are written for 64 lanes; other widths must match. */
  if (warp_size != gp->dev.warp_size && !(gp->dev.dialect == OEQ_DIALECT_HIP && warp_size == 64))
    return oeq_fail(err, OEQ_ERROR_INTERNAL, "%s source for %d lanes on a %d-lane device",
                    gp->drv->name, warp_size, gp->dev.warp_size);
  part_job_t job[OEQ_MAX_PARTS];
  oeq_status_t st = compile_parts(gp->drv, &gp->dev, text, table->n_parts, warp_size, kind, job, err);
  intptr_t token = 0;
  int entered = 0;
  if (st == OEQ_SUCCESS && (st = gp->drv->enter(gp->ctx, &token, err)) == OEQ_SUCCESS) entered = 1;
  for (int i = 0; i < table->n_parts && st == OEQ_SUCCESS; i++) st = load_part(gp, &job[i], i, err);
  if (st == OEQ_SUCCESS) st = load_kernels(gp, table, err);
  if (entered) gp->drv->leave(gp->ctx, token);
  free_jobs(job);
  return st;
}

/* ---------------------------------------------------------- plan state */

static void release(oeq_gpu_plan_t *gp) {
  int loaded = 0;
  for (int i = 0; i < OEQ_MAX_PARTS; i++) loaded |= gp->module[i] != NULL;
  intptr_t token = 0;
  if (loaded && gp->drv->enter(gp->ctx, &token, NULL) == OEQ_SUCCESS) {
    for (int i = 0; i < OEQ_MAX_PARTS; i++)
      if (gp->module[i]) gp->drv->module_unload(gp->module[i]);
    gp->drv->leave(gp->ctx, token);
  }
  if (gp->ctx) gp->drv->close(gp->ctx);
  free(gp);
}

static oeq_status_t tp_generate(const oeq_plan_t *plan, oeq_gpu_plan_t *gp, char **text,
                                oeq_kernel_table_t *table, int *warp_size, oeq_error_t *err) {
  oeq_codegen_target_t target = {.dialect = gp->dev.dialect,
                                 .warps_per_block = 4,
                                 .max_shared_per_block = gp->dev.max_shared,
                                 .sm = gp->dev.sm};
  oeq_tp_source_t src = {0};
  oeq_status_t st = oeq_codegen_tp(plan->schedule, &target, &src, err);
  if (st != OEQ_SUCCESS) return st;
  const oeq_schedule_t *s = plan->schedule;
  if (src.backward_zeroes_dw)
    gp->zero_dw_bytes = (size_t)s->weight_numel * oeq_dtype_size(s->weight_dtype);
  *text = src.text;
  *table = src.kernels;
  *warp_size = src.warp_size;
  return OEQ_SUCCESS;
}

static const char *kind_name(oeq_plan_kind_t kind) {
  return kind == OEQ_PLAN_CONV ? "conv" : kind == OEQ_PLAN_SYMCON ? "symmetric contraction" : "TP";
}

static oeq_status_t generate(const oeq_plan_t *plan, oeq_gpu_plan_t *gp, char **text,
                             oeq_kernel_table_t *table, int *warp_size, oeq_error_t *err) {
  switch (plan->kind) {
    case OEQ_PLAN_CONV: return oeq_gpu_conv_generate(plan, gp, text, table, warp_size, err);
    case OEQ_PLAN_SYMCON: return oeq_gpu_symcon_generate(plan, gp, text, table, warp_size, err);
    default: return tp_generate(plan, gp, text, table, warp_size, err);
  }
}

static oeq_status_t gpu_plan_init(const oeq_gpu_driver_t *drv, oeq_plan_t *plan, oeq_error_t *err) {
  oeq_gpu_plan_t *gp = calloc(1, sizeof *gp);
  if (!gp) return oeq_fail(err, OEQ_ERROR_OUT_OF_MEMORY, "out of memory creating a %s plan", drv->name);
  gp->drv = drv;
  oeq_status_t st = drv->open(plan->device, &gp->dev, &gp->ctx, err);
  char *text = NULL;
  oeq_kernel_table_t table = {0};
  int warp_size = 0;
  if (st == OEQ_SUCCESS) st = generate(plan, gp, &text, &table, &warp_size, err);
  if (st == OEQ_SUCCESS) st = build(gp, text, &table, warp_size, kind_name(plan->kind), err);
  free(text);
  if (st != OEQ_SUCCESS) {
    release(gp);
    return st;
  }
  plan->impl = gp;
  return OEQ_SUCCESS;
}

/* ------------------------------------------------------------- launches */

unsigned oeq_gpu_grid(const oeq_gpu_kernel_t *k, int64_t items) {
  int64_t blocks = (items + k->desc.rows_per_block - 1) / k->desc.rows_per_block;
  if (blocks < 1) blocks = 1;
  return blocks < (int64_t)k->grid_max ? (unsigned)blocks : k->grid_max;
}

oeq_status_t oeq_gpu_launch(const oeq_gpu_plan_t *gp, int role, int64_t items, void *stream,
                            void **args, oeq_error_t *err) {
  const oeq_gpu_kernel_t *k = &gp->kernel[role];
  if (!k->fn) return oeq_fail(err, OEQ_ERROR_INTERNAL, "kernel %d is not loaded", role);
  oeq_status_t st = gp->drv->launch(k->fn, oeq_gpu_grid(k, items), (unsigned)k->desc.grid_y,
                                    (unsigned)k->desc.threads, k->desc.shared_bytes, stream, args, err);
  if (st != OEQ_SUCCESS) oeq_error_prefix(err, "launching %s", k->desc.name);
  return st;
}

/* Every call: the plan's device current around the launches, the
 * caller's restored after. */
#define GPU_CALL(plan, gp, err)                                                          \
  const oeq_gpu_plan_t *gp = (plan)->impl;                                               \
  if (!gp) return oeq_fail(err, OEQ_ERROR_INTERNAL, "GPU plan without backend state");  \
  intptr_t token_ = 0;                                                                   \
  oeq_status_t st_ = gp->drv->enter(gp->ctx, &token_, err);                              \
  if (st_ != OEQ_SUCCESS) return st_;

oeq_status_t oeq_gpu_tp_forward_enqueue(const oeq_gpu_plan_t *gp, int64_t batch, const void *x,
                                        const void *y, const void *w, void *z, void *stream,
                                        oeq_error_t *err) {
  if (batch == 0) return OEQ_SUCCESS;
  long long rows = (long long)batch;
  void *args[] = {&x, &y, &w, &z, &rows};
  return oeq_gpu_launch(gp, OEQ_TP_K_FORWARD, batch, stream, args, err);
}

oeq_status_t oeq_gpu_tp_backward_enqueue(const oeq_gpu_plan_t *gp, int64_t batch, const void *x,
                                         const void *y, const void *w, const void *dz, void *dx,
                                         void *dy, void *dw, void *stream, oeq_error_t *err) {
  oeq_status_t st = OEQ_SUCCESS;
  /* Shared weights: blocks add their partial sums into dw, so it starts
   * from zero, ordered on the same stream (no host synchronisation). */
  if (gp->zero_dw_bytes && dw) st = gp->drv->memset_async(dw, gp->zero_dw_bytes, stream, err);
  if (st == OEQ_SUCCESS && batch > 0) {
    long long rows = (long long)batch;
    void *args[] = {&x, &y, &w, &dz, &dx, &dy, &dw, &rows};
    st = oeq_gpu_launch(gp, OEQ_TP_K_BACKWARD, batch, stream, args, err);
    if (st == OEQ_SUCCESS && gp->kernel[OEQ_TP_K_DW].fn) {
      void *dw_args[] = {&x, &y, &dz, &dw, &rows};
      st = oeq_gpu_launch(gp, OEQ_TP_K_DW, batch, stream, dw_args, err);
    }
  }
  return st;
}

static oeq_status_t gpu_tp_forward(const oeq_plan_t *plan, int64_t batch, const void *x,
                                   const void *y, const void *w, void *z, void *stream,
                                   oeq_error_t *err) {
  if (batch == 0) return OEQ_SUCCESS;
  GPU_CALL(plan, gp, err);
  st_ = oeq_gpu_tp_forward_enqueue(gp, batch, x, y, w, z, stream, err);
  gp->drv->leave(gp->ctx, token_);
  return st_;
}

static oeq_status_t gpu_tp_backward(const oeq_plan_t *plan, int64_t batch, const void *x,
                                    const void *y, const void *w, const void *dz, void *dx,
                                    void *dy, void *dw, void *stream, oeq_error_t *err) {
  GPU_CALL(plan, gp, err);
  st_ = oeq_gpu_tp_backward_enqueue(gp, batch, x, y, w, dz, dx, dy, dw, stream, err);
  gp->drv->leave(gp->ctx, token_);
  return st_;
}

static oeq_status_t gpu_dd_call(const oeq_plan_t *plan, const oeq_dd_args_t *args, oeq_error_t *err) {
  GPU_CALL(plan, gp, err);
  st_ = oeq_gpu_double_backward(plan, args, err);
  gp->drv->leave(gp->ctx, token_);
  return st_;
}

static oeq_status_t gpu_symcon_forward(const oeq_plan_t *plan, int64_t batch, const void *x,
                                       const int32_t *species, const void *w, void *z, void *stream,
                                       oeq_error_t *err) {
  GPU_CALL(plan, gp, err);
  st_ = oeq_gpu_symcon_forward(gp, batch, x, species, w, z, stream, err);
  gp->drv->leave(gp->ctx, token_);
  return st_;
}

static oeq_status_t gpu_symcon_backward(const oeq_plan_t *plan, int64_t batch, const void *x,
                                        const int32_t *species, const void *w, const void *dz,
                                        void *dx, void *dw, void *stream, oeq_error_t *err) {
  GPU_CALL(plan, gp, err);
  st_ = oeq_gpu_symcon_backward(gp, batch, x, species, w, dz, dx, dw, stream, err);
  gp->drv->leave(gp->ctx, token_);
  return st_;
}

static oeq_status_t gpu_conv_call(const oeq_plan_t *plan, const oeq_conv_args_t *args, int backward,
                                  oeq_error_t *err) {
  GPU_CALL(plan, gp, err);
  st_ = backward ? oeq_gpu_conv_backward(plan, args, err) : oeq_gpu_conv_forward(plan, args, err);
  gp->drv->leave(gp->ctx, token_);
  return st_;
}

static oeq_status_t gpu_conv_forward(const oeq_plan_t *plan, const oeq_conv_args_t *args,
                                     oeq_error_t *err) {
  return gpu_conv_call(plan, args, 0, err);
}

static oeq_status_t gpu_conv_backward(const oeq_plan_t *plan, const oeq_conv_args_t *args,
                                      oeq_error_t *err) {
  return gpu_conv_call(plan, args, 1, err);
}

static oeq_status_t gpu_check_pointer(const oeq_plan_t *plan, const void *ptr, const char *name,
                                      oeq_error_t *err) {
  oeq_gpu_plan_t *gp = plan->impl;
  if (!gp) return oeq_fail(err, OEQ_ERROR_INTERNAL, "GPU plan without backend state");
  if (oeq_ptr_memo_has(&gp->checked, ptr)) return OEQ_SUCCESS;
  int memo = 0;
  if (gp->drv->is_host_pointer(gp->ctx, ptr, &memo))
    return oeq_fail(err, OEQ_ERROR_INVALID_ARGUMENT, "%s is a host pointer; a %s plan needs device memory",
                    name, gp->drv->name);
  if (memo) oeq_ptr_memo_add(&gp->checked, ptr);
  return OEQ_SUCCESS;
}

static void gpu_plan_release(oeq_plan_t *plan) {
  if (plan->impl) release(plan->impl);
  plan->impl = NULL;
}

/* ------------------------------------------------------------ the tables */

static int cuda_available(int device, oeq_error_t *err) {
  return oeq_gpu_driver_cuda()->available(device, err);
}
static oeq_status_t cuda_plan_init(oeq_plan_t *plan, oeq_error_t *err) {
  return gpu_plan_init(oeq_gpu_driver_cuda(), plan, err);
}
static int hip_available(int device, oeq_error_t *err) {
  return oeq_gpu_driver_hip()->available(device, err);
}
static oeq_status_t hip_plan_init(oeq_plan_t *plan, oeq_error_t *err) {
  return gpu_plan_init(oeq_gpu_driver_hip(), plan, err);
}

#define GPU_OPS(NAME, AVAILABLE, INIT)                  \
  {                                                     \
    .name = NAME, .available = AVAILABLE, .plan_init = INIT, \
    .plan_release = gpu_plan_release, .check_pointer = gpu_check_pointer, \
    .tp_forward = gpu_tp_forward, .tp_backward = gpu_tp_backward,         \
    .conv_workspace_size = oeq_gpu_conv_workspace_size,                   \
    .conv_forward = gpu_conv_forward, .conv_backward = gpu_conv_backward, \
    .dd_workspace_size = oeq_gpu_dd_workspace_size,                       \
    .tp_double_backward = gpu_dd_call, .conv_double_backward = gpu_dd_call, \
    .symcon_forward = gpu_symcon_forward, .symcon_backward = gpu_symcon_backward, \
  }

static const oeq_backend_ops_t cuda_ops = GPU_OPS("cuda", cuda_available, cuda_plan_init);
static const oeq_backend_ops_t hip_ops = GPU_OPS("hip", hip_available, hip_plan_init);

const oeq_backend_ops_t *oeq_backend_cuda(void) { return &cuda_ops; }
const oeq_backend_ops_t *oeq_backend_hip(void) { return &hip_ops; }
