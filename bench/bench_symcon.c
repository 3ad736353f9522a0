/* bench_symcon.c: the symmetric contraction's generated CUDA kernels
 * (lib/codegen/symcon_codegen.c) run directly through oeq's driver table,
 * in both layouts, without the launch layer's choice between them:
 *
 *  1. correctness, for both kernel layouts (terms and pairs,
 *     symcon_codegen.h): for MACE's fixture-sized problems and MACE-large, z, dx
 *     and dw of a 256-row batch (and a 5000-row one for MACE-large;
 *     species random, some absent) are compared with the CPU backend (oeq_symcon_forward / _backward) in
 *     float64 (relative error <= 1e-12) and float32 (<= 1e-5);
 *  2. timing: MACE-large's product basis (channels 128, 0e+1o+2e+3o ->
 *     0e+1o+2e, correlation 3, 10 species; and -> 0e, the last layer) at
 *     20k and 100k rows: forward, dx, dw and the whole backward (memset +
 *     dx + dw), median of 20 runs (CUDA events), with the forward's memory
 *     floor (x + z + species read/written once, plus each species' weights
 *     once) at the device's measured copy bandwidth.
 *
 * Usage: bench_symcon [--pairs] [--bench] [rows...]   (default 20000 100000; --bench: no checks; --pairs:
 * the pair layout alone, to compare builds). Exit 0 when every
 * check passed, 1 on a mismatch, 77 without a CUDA device or NVRTC. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda_api.h"
#include "codegen/symcon_codegen.h"
#include "oeq.h"
#include "symcon.h"

static const oeq_cuda_api_t *cu;
static int sm, n_sm, max_shared;
/* the kernels' layout (symcon_codegen.h): both are checked and timed */
static oeq_symcon_layout_t layout = OEQ_SYMCON_LAYOUT_TERMS;
static const char *layout_name(void) { return layout == OEQ_SYMCON_LAYOUT_PAIRS ? "pairs" : "terms"; }

#define CK(call)                                                                  \
  do {                                                                            \
    CUresult r_ = (call);                                                         \
    if (r_ != 0) {                                                                \
      fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call,                \
              oeq_cuda_error_string(r_));                                         \
      exit(2);                                                                    \
    }                                                                             \
  } while (0)

typedef struct {
  const char *in, *out;
  int corr;
  int64_t E, C;
} case_t;

typedef struct {
  oeq_symcon_t *sc;
  oeq_symcon_source_t src;
  CUmodule mod[2];
  CUfunction fn[OEQ_SYMCON_K_COUNT];
  int blocks[OEQ_SYMCON_K_COUNT]; /* resident blocks on the device */
} kernels_t;

static double rng_state = 0.5;
static double uniform(void) { /* a small LCG in double: deterministic and portable */
  rng_state = fmod(rng_state * 9301.0 + 49297.0, 233280.0);
  return rng_state / 233280.0 * 2.0 - 1.0;
}

static kernels_t build(const case_t *k, oeq_dtype_t dt) {
  kernels_t K;
  memset(&K, 0, sizeof K);
  oeq_error_t err;
  if (oeq_symcon_build(k->in, k->out, k->corr, k->E, k->C, &K.sc, &err)) {
    fprintf(stderr, "build: %s\n", err.message);
    exit(2);
  }
  K.sc->irrep_dtype = K.sc->weight_dtype = dt;
  oeq_codegen_target_t t = {OEQ_DIALECT_CUDA, 4, (size_t)max_shared, sm};
  if (oeq_codegen_symcon_layout(K.sc, &t, layout, &K.src, &err)) {
    fprintf(stderr, "codegen: %s\n", err.message);
    exit(2);
  }
  for (int part = 1; part <= 2; part++) {
    char def[32];
    snprintf(def, sizeof def, "-DOEQ_PART=%d", part);
    const char *opts[1] = {def};
    void *bin = NULL;
    size_t size = 0;
    char *log = NULL;
    if (oeq_nvrtc_compile(K.src.text, sm, opts, 1, &bin, &size, &log, &err)) {
      fprintf(stderr, "nvrtc: %s\n", err.message);
      exit(2);
    }
    CK(cu->cuModuleLoadData(&K.mod[part - 1], bin));
    free(bin);
    free(log);
  }
  for (int r = 0; r < OEQ_SYMCON_K_COUNT; r++) {
    const oeq_kernel_desc_t *d = &K.src.kernels.kernel[r];
    CK(cu->cuModuleGetFunction(&K.fn[r], K.mod[d->part - 1], d->name));
    if (d->shared_bytes > 48 * 1024)
      CK(cu->cuFuncSetAttribute(K.fn[r], OEQ_CU_FUNC_ATTR_MAX_DYNAMIC_SHARED, (int)d->shared_bytes));
    int per_sm = 0;
    CK(cu->cuOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, K.fn[r], d->threads, d->shared_bytes));
    /* as the launch layer: the resident blocks shared by the grid_y groups */
    K.blocks[r] = per_sm * n_sm / d->grid_y > 1 ? per_sm * n_sm / d->grid_y : 1;
  }
  return K;
}

static void release(kernels_t *K) {
  cu->cuModuleUnload(K->mod[0]);
  cu->cuModuleUnload(K->mod[1]);
  free(K->src.text);
  oeq_symcon_free(K->sc);
}

static void launch(const kernels_t *K, int role, long long batch, void **args) {
  const oeq_kernel_desc_t *d = &K->src.kernels.kernel[role];
  long long want = (batch + d->rows_per_block - 1) / d->rows_per_block;
  unsigned grid = (unsigned)(want < K->blocks[role] ? want : K->blocks[role]);
  if (grid == 0) grid = 1;
  CK(cu->cuLaunchKernel(K->fn[role], grid, (unsigned)d->grid_y, 1, (unsigned)d->threads, 1, 1,
                        (unsigned)d->shared_bytes, NULL, args, NULL));
}

typedef struct {
  CUdeviceptr x, sp, w, z, dz, dx, dw;
} bufs_t;

static size_t esz(oeq_dtype_t t) { return t == OEQ_FLOAT64 ? 8 : 4; }

/* Device buffers for `batch` rows of the problem, in its dtypes. */
static bufs_t bufs_alloc(const oeq_symcon_t *sc, long long batch) {
  const size_t s = esz(sc->irrep_dtype), ws = esz(sc->weight_dtype);
  const size_t nx = (size_t)(batch * sc->x_dim), nz = (size_t)(batch * sc->z_dim), nw = (size_t)sc->weight_numel;
  bufs_t d;
  CK(cu->cuMemAlloc(&d.x, nx * s));
  CK(cu->cuMemAlloc(&d.sp, (size_t)batch * 4));
  CK(cu->cuMemAlloc(&d.w, nw * ws));
  CK(cu->cuMemAlloc(&d.z, nz * s));
  CK(cu->cuMemAlloc(&d.dz, nz * s));
  CK(cu->cuMemAlloc(&d.dx, nx * s));
  CK(cu->cuMemAlloc(&d.dw, nw * ws));
  return d;
}

static void bufs_free(bufs_t *d) {
  const CUdeviceptr all[] = {d->x, d->sp, d->w, d->z, d->dz, d->dx, d->dw};
  for (int i = 0; i < 7; i++) cu->cuMemFree(all[i]);
}

/* Host arrays in the dtype: from doubles. */
static void *cast(const double *v, int64_t n, oeq_dtype_t t) {
  void *p = malloc((size_t)(n > 0 ? n : 1) * esz(t));
  for (int64_t i = 0; i < n; i++)
    if (t == OEQ_FLOAT64)
      ((double *)p)[i] = v[i];
    else
      ((float *)p)[i] = (float)v[i];
  return p;
}

static double at(const void *p, int64_t i, oeq_dtype_t t) {
  return t == OEQ_FLOAT64 ? ((const double *)p)[i] : ((const float *)p)[i];
}

static double rel_err(const void *a, const void *b, int64_t n, oeq_dtype_t t) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < n; i++) {
    double d = at(a, i, t) - at(b, i, t);
    if (isnan(d)) return INFINITY;
    num += d * d;
    den += at(b, i, t) * at(b, i, t);
  }
  return den > 0 ? sqrt(num / den) : sqrt(num);
}

static void run_backward(const kernels_t *K, bufs_t *d, long long batch) {
  const oeq_symcon_t *sc = K->sc;
  CK(cu->cuMemsetD8Async(d->dw, 0, (size_t)sc->weight_numel * esz(sc->weight_dtype), NULL));
  void *a_dx[] = {&d->x, &d->sp, &d->w, &d->dz, &d->dx, &batch};
  launch(K, OEQ_SYMCON_K_DX, batch, a_dx);
  void *a_dw[] = {&d->x, &d->sp, &d->dz, &d->dw, &batch};
  launch(K, OEQ_SYMCON_K_DW, batch, a_dw);
}

/* GPU vs CPU on `batch` rows; returns 1 if it matches. */
static int check(const case_t *k, oeq_dtype_t dt, long long batch) {
  kernels_t K = build(k, dt);
  const oeq_symcon_t *sc = K.sc;
  int64_t nx = batch * sc->x_dim, nz = batch * sc->z_dim, nw = sc->weight_numel;
  double *xd = malloc((size_t)nx * sizeof *xd), *wd = malloc((size_t)nw * sizeof *wd),
         *gd = malloc((size_t)nz * sizeof *gd);
  int32_t *sp = malloc((size_t)batch * sizeof *sp);
  for (int64_t i = 0; i < nx; i++) xd[i] = uniform();
  for (int64_t i = 0; i < nw; i++) wd[i] = uniform();
  for (int64_t i = 0; i < nz; i++) gd[i] = uniform();
  /* species 0 never appears: its dw must stay zero on both sides */
  for (long long b = 0; b < batch; b++)
    sp[b] = sc->num_elements > 1 ? 1 + (int32_t)((uniform() + 1) * 0.5 * (double)(sc->num_elements - 1)) % (int32_t)(sc->num_elements - 1) : 0;
  void *x = cast(xd, nx, dt), *w = cast(wd, nw, dt), *dz = cast(gd, nz, dt);
  size_t s = esz(dt);
  void *z_cpu = malloc((size_t)nz * s), *dx_cpu = malloc((size_t)nx * s), *dw_cpu = malloc((size_t)nw * s);
  void *z_gpu = malloc((size_t)nz * s), *dx_gpu = malloc((size_t)nx * s), *dw_gpu = malloc((size_t)nw * s);
  oeq_problem_t *p = NULL;
  oeq_plan_t *plan = NULL;
  if (oeq_problem_create_symmetric_contraction(k->in, k->out, k->corr, k->E, k->C, &p) ||
      oeq_problem_set_dtypes(p, dt, dt) ||
      oeq_plan_create_symmetric_contraction(p, OEQ_BACKEND_CPU, 0, &plan) ||
      oeq_symcon_forward(plan, batch, x, sp, w, z_cpu, NULL) ||
      oeq_symcon_backward(plan, batch, x, sp, w, dz, dx_cpu, dw_cpu, NULL)) {
    fprintf(stderr, "CPU reference: %s\n", oeq_last_error());
    exit(2);
  }
  bufs_t d = bufs_alloc(sc, batch);
  CK(cu->cuMemcpyHtoD(d.x, x, (size_t)nx * s));
  CK(cu->cuMemcpyHtoD(d.sp, sp, (size_t)batch * 4));
  CK(cu->cuMemcpyHtoD(d.w, w, (size_t)nw * s));
  CK(cu->cuMemcpyHtoD(d.dz, dz, (size_t)nz * s));
  void *a_f[] = {&d.x, &d.sp, &d.w, &d.z, &batch};
  launch(&K, OEQ_SYMCON_K_FORWARD, batch, a_f);
  run_backward(&K, &d, batch);
  CK(cu->cuCtxSynchronize());
  CK(cu->cuMemcpyDtoH(z_gpu, d.z, (size_t)nz * s));
  CK(cu->cuMemcpyDtoH(dx_gpu, d.dx, (size_t)nx * s));
  CK(cu->cuMemcpyDtoH(dw_gpu, d.dw, (size_t)nw * s));
  double tol = dt == OEQ_FLOAT64 ? 1e-12 : 1e-5;
  double ez = rel_err(z_gpu, z_cpu, nz, dt), ex = rel_err(dx_gpu, dx_cpu, nx, dt),
         ew = rel_err(dw_gpu, dw_cpu, nw, dt);
  int ok = ez <= tol && ex <= tol && ew <= tol;
  printf("check %s %-12s -> %-9s c%d E%lld C%lld %s rows %lld: z %.2e dx %.2e dw %.2e (dw %s, %d x %d) %s\n",
         layout_name(), k->in, k->out, k->corr, (long long)k->E, (long long)k->C,
         dt == OEQ_FLOAT64 ? "f64" : "f32", batch, ez, ex, ew,
         K.src.pairs ? "pairs" : K.src.dw_in_shared ? "shared" : "global", K.src.dw_groups,
         K.src.dw_group_size, ok ? "ok" : "MISMATCH");
  bufs_free(&d);
  oeq_plan_destroy(plan);
  oeq_problem_destroy(p);
  free(xd), free(wd), free(gd), free(sp), free(x), free(w), free(dz);
  free(z_cpu), free(dx_cpu), free(dw_cpu), free(z_gpu), free(dx_gpu), free(dw_gpu);
  release(&K);
  return ok;
}

static int cmp_f(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return x < y ? -1 : x > y;
}

/* Median of 20 timed runs of `what` (0 forward, 1 dx, 2 dw, 3 backward). */
static float time_ms(const kernels_t *K, bufs_t *d, long long batch, int what) {
  CUevent e0, e1;
  CK(cu->cuEventCreate(&e0, 0));
  CK(cu->cuEventCreate(&e1, 0));
  float t[20];
  for (int it = -3; it < 20; it++) {
    CK(cu->cuEventRecord(e0, NULL));
    if (what == 0) {
      void *a[] = {&d->x, &d->sp, &d->w, &d->z, &batch};
      launch(K, OEQ_SYMCON_K_FORWARD, batch, a);
    } else if (what == 1) {
      void *a[] = {&d->x, &d->sp, &d->w, &d->dz, &d->dx, &batch};
      launch(K, OEQ_SYMCON_K_DX, batch, a);
    } else if (what == 2) {
      void *a[] = {&d->x, &d->sp, &d->dz, &d->dw, &batch};
      launch(K, OEQ_SYMCON_K_DW, batch, a);
    } else {
      run_backward(K, d, batch);
    }
    CK(cu->cuEventRecord(e1, NULL));
    CK(cu->cuEventSynchronize(e1));
    if (it >= 0) CK(cu->cuEventElapsedTime(&t[it], e0, e1));
  }
  cu->cuEventDestroy(e0);
  cu->cuEventDestroy(e1);
  qsort(t, 20, sizeof t[0], cmp_f);
  return 0.5f * (t[9] + t[10]);
}

/* Device-to-device copy bandwidth (read + write bytes per second). */
static double copy_bandwidth(void) {
  size_t bytes = (size_t)1 << 30;
  CUdeviceptr a, b;
  CK(cu->cuMemAlloc(&a, bytes));
  CK(cu->cuMemAlloc(&b, bytes));
  CUevent e0, e1;
  CK(cu->cuEventCreate(&e0, 0));
  CK(cu->cuEventCreate(&e1, 0));
  float best = 1e30f;
  for (int i = 0; i < 5; i++) {
    float ms;
    CK(cu->cuEventRecord(e0, NULL));
    CK(cu->cuMemcpyDtoDAsync(b, a, bytes, NULL));
    CK(cu->cuEventRecord(e1, NULL));
    CK(cu->cuEventSynchronize(e1));
    CK(cu->cuEventElapsedTime(&ms, e0, e1));
    if (ms < best) best = ms;
  }
  cu->cuMemFree(a);
  cu->cuMemFree(b);
  cu->cuEventDestroy(e0);
  cu->cuEventDestroy(e1);
  return 2.0 * (double)bytes / (best * 1e-3);
}

static void bench_rows(const kernels_t *kp, const case_t *k, oeq_dtype_t dt, long long batch, double bw) {
  const kernels_t K = *kp;
  const oeq_symcon_t *sc = K.sc;
  size_t s = esz(dt);
  int64_t nx = batch * sc->x_dim, nz = batch * sc->z_dim, nw = sc->weight_numel;
  int64_t nh = nx > nz ? nx : nz; /* host scratch: holds x, dz and w in turn */
  if (nw > nh) nh = nw;
  double *h = malloc((size_t)nh * sizeof *h);
  int32_t *sp = malloc((size_t)batch * 4);
  for (long long b = 0; b < batch; b++) sp[b] = (int32_t)(b * 7 % sc->num_elements);
  bufs_t d = bufs_alloc(sc, batch);
  for (int64_t i = 0; i < nx; i++) h[i] = uniform();
  void *c = cast(h, nx, dt);
  CK(cu->cuMemcpyHtoD(d.x, c, (size_t)nx * s));
  free(c);
  for (int64_t i = 0; i < nz; i++) h[i] = uniform();
  c = cast(h, nz, dt);
  CK(cu->cuMemcpyHtoD(d.dz, c, (size_t)nz * s));
  free(c);
  for (int64_t i = 0; i < nw; i++) h[i] = uniform();
  c = cast(h, nw, dt);
  CK(cu->cuMemcpyHtoD(d.w, c, (size_t)nw * s));
  free(c);
  CK(cu->cuMemcpyHtoD(d.sp, sp, (size_t)batch * 4));
  float f = time_ms(&K, &d, batch, 0), dx = time_ms(&K, &d, batch, 1), dw = time_ms(&K, &d, batch, 2),
        bwd = time_ms(&K, &d, batch, 3);
  double floor_bytes = (double)(nx + nz) * (double)s + 4.0 * (double)batch + (double)nw * (double)s;
  double floor_ms = floor_bytes / bw * 1e3;
  printf("| %s -> %s | %s | %s | %lld | %.3f | %.3f | %.3f | %.3f | %.3f | %.1fx | %.2fx |\n", k->in,
         k->out, layout_name(), dt == OEQ_FLOAT64 ? "f64" : "f32", batch, f, dx, dw, bwd, floor_ms,
         f / floor_ms, bwd / f);
  bufs_free(&d);
  free(h);
  free(sp);
}

/* One build of the kernels, timed at every row count. */
static void bench(const case_t *k, oeq_dtype_t dt, const long long *rows, int n_rows, double bw) {
  kernels_t K = build(k, dt);
  for (int r = 0; r < n_rows; r++) bench_rows(&K, k, dt, rows[r], bw);
  release(&K);
}

int main(int argc, char **argv) {
  oeq_error_t err;
  cu = oeq_cuda_api(&err);
  if (!cu || !oeq_nvrtc_api(&err)) {
    printf("skip: %s\n", err.message);
    return 77;
  }
  CUdevice dev;
  CUcontext ctx;
  CK(cu->cuDeviceGet(&dev, 0));
  CK(cu->cuDevicePrimaryCtxRetain(&ctx, dev));
  CK(cu->cuCtxPushCurrent(ctx));
  int major, minor;
  CK(cu->cuDeviceGetAttribute(&major, OEQ_CU_ATTR_COMPUTE_CAPABILITY_MAJOR, dev));
  CK(cu->cuDeviceGetAttribute(&minor, OEQ_CU_ATTR_COMPUTE_CAPABILITY_MINOR, dev));
  CK(cu->cuDeviceGetAttribute(&n_sm, OEQ_CU_ATTR_MULTIPROCESSOR_COUNT, dev));
  CK(cu->cuDeviceGetAttribute(&max_shared, OEQ_CU_ATTR_MAX_SHARED_PER_BLOCK_OPTIN, dev));
  sm = major * 10 + minor;
  char name[256];
  CK(cu->cuDeviceGetName(name, sizeof name, dev));
  printf("device: %s, sm_%d, %d SMs, %d KB shared per block\n", name, sm, n_sm, max_shared / 1024);

  static const case_t checks[] = {
      {"0e+1o", "0e+1o", 2, 2, 4},          {"0e+1o+2e", "0e", 3, 2, 4},
      {"0e+1o+2e+3o", "0e+1o+2e", 3, 3, 8}, {"0e+1o+2e", "0e+1o+2e", 1, 2, 3},
      {"0e+1o", "0e+1o+2e", 4, 3, 40},      {"0e+1o+2e+3o", "0e+1o+2e", 3, 10, 128},
      {"0e+1o", "0e", 2, 200, 512}, /* dw through global atomics */
  };
  static const oeq_symcon_layout_t layouts[2] = {OEQ_SYMCON_LAYOUT_TERMS, OEQ_SYMCON_LAYOUT_PAIRS};
  /* --pairs: the pair layout alone (comparing builds with other tuning.h
   * knobs) */
  /* --bench: timings only (tests/test_symcon_gpu runs the same checks) */
  int pairs_only = 0, checks_on = 1, first_row = 1;
  for (; first_row < argc && argv[first_row][0] == '-'; first_row++) {
    if (strcmp(argv[first_row], "--pairs") == 0)
      pairs_only = 1;
    else if (strcmp(argv[first_row], "--bench") == 0)
      checks_on = 0;
  }
  int ok = 1;
  for (int l = pairs_only; l < 2 && checks_on; l++) {
    layout = layouts[l];
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++) {
      if (layout == OEQ_SYMCON_LAYOUT_PAIRS && checks[i].E > 100) continue; /* does not fit */
      for (int dt = 1; dt >= 0; dt--) ok &= check(&checks[i], (oeq_dtype_t)dt, 256);
    }
    /* several row chunks and sort tiles, a partial last one */
    for (int dt = 1; dt >= 0; dt--) ok &= check(&checks[5], (oeq_dtype_t)dt, 5000);
  }

  double bw = copy_bandwidth();
  printf("\ncopy bandwidth %.0f GB/s (read + write)\n\n", bw / 1e9);
  printf("| problem | layout | dtype | rows | forward ms | dx ms | dw ms | backward ms | floor ms | fwd/floor | bwd/fwd |\n");
  printf("|---|---|---|---|---|---|---|---|---|---|---|\n");
  static const case_t large[] = {{"0e+1o+2e+3o", "0e+1o+2e", 3, 10, 128}, {"0e+1o+2e+3o", "0e", 3, 10, 128}};
  long long rows[8] = {20000, 100000};
  int n_rows = 2;
  if (argc > first_row) {
    n_rows = 0;
    for (int i = first_row; i < argc && n_rows < 8; i++) rows[n_rows++] = atoll(argv[i]);
  }
  for (int i = 0; i < 2; i++)
    for (int dt = 0; dt < 2; dt++)
      for (int l = pairs_only; l < 2; l++) {
        layout = layouts[l];
        bench(&large[i], (oeq_dtype_t)dt, rows, n_rows, bw);
      }
  cu->cuCtxPopCurrent(&ctx);
  cu->cuDevicePrimaryCtxRelease(dev);
  printf("\n%s\n", !checks_on ? "checks not run (--bench)" : ok ? "all checks passed" : "SOME CHECKS FAILED");
  return ok ? 0 : 1;
}
