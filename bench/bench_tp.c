/* bench_tp.c: times oeq's CUDA tensor product on the anchor problems of
 * shared/bench/anchors.md and prints a table.
 *
 * Per problem (batch 50,000; float32, plus float64 for mace-large,
 * nequip-lips and benzene): forward and forward+backward with CUDA events,
 * 3 warm-ups, median of 25, the L2 cache flushed (a 512 MB memset) before
 * every timed run. The device copy bandwidth is measured in the same run;
 * the floor is the bytes a forward must move (x, y, w, z once) over it.
 * Then a latency case (batch 5,000) timed as replayed CUDA graphs, with the
 * host time of one call (returning, not finishing) beside it, and plan
 * creation times: cold (NVRTC; all plans compiled on parallel threads),
 * disk-cache hit and memory-cache hit.
 *
 * The latency table (issue 18) also prints, for forward and for
 * forward+backward: the launches per call (kernel "k" and memset "m" nodes
 * of the captured graph, "?" where the driver cannot list them), the floor,
 * the target floor + 10 us and whether the replay meets it. Byte models
 * (element size 4 or 8; w and dw are one row with shared weights):
 *   forward:          x, y, w read and z written, once each;
 *   forward+backward: x, y, w and dz read, z, dx, dy and dw written, once
 *                     each, as if one job: twice the forward's bytes. The
 *                     backward re-reading x, y and w is the implementation's
 *                     cost, not the floor's.
 * The replays run back to back without an L2 flush, so at batch 5,000 part
 * of the data can be L2-resident and a time below the floor is possible.
 * Usage: bench_tp [filter-substring] */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backend/cuda_api.h"
#include "backend/kcache.h"
#include "bench_latency.h"
#include "oeq.h"

#define REPS 25
#define DEV(p) ((void *)(uintptr_t)(p))
#define WARMUP 3
#define LATENCY_BATCH 5000 /* the latency table's batch */

typedef struct anchor {
  const char *label, *in1, *in2, *out;
  int fully_connected, shared;
  oeq_dtype_t dtype;
} anchor_t;

#define F32 OEQ_FLOAT32
#define F64 OEQ_FLOAT64
static const anchor_t anchors[] = {
    {"mace-large", "128x0e+128x1o+128x2e", "1x0e+1x1o+1x2e+1x3o", "0e+1o+2e+3o", 0, 0, F32},
    {"mace-medium", "128x0e+128x1o", "1x0e+1x1o+1x2e+1x3o", "0e+1o+2e", 0, 0, F32},
    {"nequip-lips", "32x0o+32x0e+32x1o+32x1e+32x2o+32x2e", "0e+1o+2e", "32x0o+32x0e+32x1o+32x1e+32x2o+32x2e", 0, 0, F32},
    {"nequip-revmd17-aspirin", "64x0o+64x0e+64x1o+64x1e", "0e+1o", "64x0o+64x0e+64x1o+64x1e", 0, 0, F32},
    {"nequip-revmd17-toluene", "64x0o+64x0e+64x1o+64x1e+64x2o+64x2e", "0e+1o+2e", "64x0o+64x0e+64x1o+64x1e+64x2o+64x2e", 0, 0, F32},
    {"nequip-revmd17-benzene", "64x0o+64x0e+64x1o+64x1e+64x2o+64x2e+64x3o+64x3e", "0e+1o+2e+3o", "64x0o+64x0e+64x1o+64x1e+64x2o+64x2e+64x3o+64x3e", 0, 0, F32},
    {"nequip-water", "32x0o+32x0e+32x1o+32x1e", "0e+1o", "32x0o+32x0e+32x1o+32x1e", 0, 0, F32},
    {"nequix-mp-1-first_layer", "89x0e", "1x0e+1x1o+1x2e+1x3o", "89x0e+89x1o+89x2e+89x3o", 0, 0, F32},
    {"nequix-mp-1-main_layers", "128x0e+64x1o+32x2e+32x3o", "1x0e+1x1o+1x2e+1x3o", "0e+1o+2e+3o", 0, 0, F32},
    {"nequix-mp-1-last_layer", "128x0e+64x1o+32x2e+32x3o", "1x0e+1x1o+1x2e+1x3o", "0e", 0, 0, F32},
    {"SevenNet_l3i5-first-layer", "128x0e", "1x0e+1x1e+1x2e+1x3e", "0e+1e+2e+3e", 0, 0, F32},
    {"SevenNet_l3i5-main-layers", "128x0e+64x1e+32x2e+32x3e", "1x0e+1x1e+1x2e+1x3e", "0e+1e+2e+3e", 0, 0, F32},
    {"SevenNet_l3i5-last-layer", "128x0e+64x1e+32x2e+32x3e", "1x0e+1x1e+1x2e+1x3e", "0e", 0, 0, F32},
    {"DiffDock-L=1", "10x1o+10x1e+48x0e+48x0o", "1x0e+1x1o", "10x1o+10x1e+48x0e+48x0o", 1, 0, F32},
    {"DiffDock-L=2", "10x1o+10x1e+48x0e+48x0o", "1x0e+1x1o+1x2e", "10x1o+10x1e+48x0e+48x0o", 1, 0, F32},
    {"tetris-poly-1", "1x0e+1x1o+1x2e+1x3o", "1x0e+1x1o+1x2e+1x3o", "64x0e+24x1e+24x1o+16x2e+16x2o", 1, 1, F32},
    {"tetris-poly-2", "64x0e+24x1e+24x1o+16x2e+16x2o", "1x0e+1x1o+1x2e", "0o+6x0e", 1, 1, F32},
    {"e3tools_conv", "64x0e+16x1o", "1x0e+1x1o", "80x0e+16x1o", 1, 0, F32},
    {"e3tools_transformer", "64x0e+16x1o", "1x0e+1x1o", "64x0e+16x1o", 1, 1, F32},
    {"mace-large-f64", "128x0e+128x1o+128x2e", "1x0e+1x1o+1x2e+1x3o", "0e+1o+2e+3o", 0, 0, F64},
    {"nequip-lips-f64", "32x0o+32x0e+32x1o+32x1e+32x2o+32x2e", "0e+1o+2e", "32x0o+32x0e+32x1o+32x1e+32x2o+32x2e", 0, 0, F64},
    {"nequip-revmd17-benzene-f64", "64x0o+64x0e+64x1o+64x1e+64x2o+64x2e+64x3o+64x3e", "0e+1o+2e+3o", "64x0o+64x0e+64x1o+64x1e+64x2o+64x2e+64x3o+64x3e", 0, 0, F64},
    /* not anchors: the float64 tensor-core kernels (DMMA), and a wide
     * shared-weight product whose dw kernel takes 22 (float64: 44) tile
     * groups */
    {"e3tools_transformer-f64", "64x0e+16x1o", "1x0e+1x1o", "64x0e+16x1o", 1, 1, F64},
    {"wide-fctp-shared", "128x0e+128x1o+128x2e", "1x0e+1x1o+1x2e", "128x0e+128x1o+128x2e", 1, 1, F32},
    {"wide-fctp-shared-f64", "128x0e+128x1o+128x2e", "1x0e+1x1o+1x2e", "128x0e+128x1o+128x2e", 1, 1, F64},
};
#define N_ANCHORS ((int)(sizeof anchors / sizeof anchors[0]))

static const oeq_cuda_api_t *cu;

#define OK(call)                                                                         \
  do {                                                                                   \
    if ((call) != OEQ_SUCCESS) {                                                         \
      fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #call, oeq_last_error());    \
      exit(1);                                                                           \
    }                                                                                    \
  } while (0)

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

static int cmp_float(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return (x > y) - (x < y);
}

static float median(float *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_float);
  return n % 2 ? v[n / 2] : 0.5f * (v[n / 2 - 1] + v[n / 2]);
}

static oeq_problem_t *make_problem(const anchor_t *a) {
  oeq_problem_t *p = NULL;
  OK(a->fully_connected ? oeq_problem_create_fully_connected(a->in1, a->in2, a->out, &p)
                        : oeq_problem_create_channelwise(a->in1, a->in2, a->out, &p));
  OK(oeq_problem_set_dtypes(p, a->dtype, a->dtype));
  OK(oeq_problem_set_shared_weights(p, a->shared));
  return p;
}

/* Random normal-ish values (sum of uniforms), never zeros. */
static CUdeviceptr device_random(size_t n, oeq_dtype_t t, uint64_t seed) {
  size_t bytes = n * (t == F64 ? 8 : 4);
  void *h = malloc(bytes > 0 ? bytes : 1);
  uint64_t s = seed * 0x9E3779B97F4A7C15ULL + 1;
  for (size_t i = 0; i < n; i++) {
    double v = 0;
    for (int k = 0; k < 3; k++) {
      s ^= s >> 12, s ^= s << 25, s ^= s >> 27;
      v += (double)((s * 2685821657736338717ULL) >> 11) / 9007199254740992.0 - 0.5;
    }
    if (t == F64)
      ((double *)h)[i] = 2 * v;
    else
      ((float *)h)[i] = (float)(2 * v);
  }
  CUdeviceptr d;
  CK(cu->cuMemAlloc(&d, bytes > 0 ? bytes : 16));
  if (bytes) CK(cu->cuMemcpyHtoD(d, h, bytes));
  free(h);
  return d;
}

/* ---------------------------------------------------- plan creation, cold */

typedef struct plan_job {
  const anchor_t *a;
  oeq_plan_t *plan;
  double cold_ms;
} plan_job_t;

static plan_job_t jobs[N_ANCHORS];
static int next_job, n_jobs;
static pthread_mutex_t job_lock = PTHREAD_MUTEX_INITIALIZER;

static void *compile_worker(void *arg) {
  (void)arg;
  for (;;) {
    pthread_mutex_lock(&job_lock);
    int i = next_job++;
    pthread_mutex_unlock(&job_lock);
    if (i >= n_jobs) return NULL;
    oeq_problem_t *p = make_problem(jobs[i].a);
    double t0 = now_ms();
    OK(oeq_plan_create_tp(p, OEQ_BACKEND_CUDA, 0, &jobs[i].plan));
    jobs[i].cold_ms = now_ms() - t0;
    oeq_problem_destroy(p);
  }
}

/* ------------------------------------------------------------- timing */

typedef struct buffers {
  CUdeviceptr x, y, w, z, dz, dx, dy, dw;
} buffers_t;

static CUdeviceptr flush_buf;
static size_t flush_bytes = (size_t)512 << 20;
static CUevent ev0, ev1;

static void run_fwd(oeq_plan_t *plan, int64_t batch, const buffers_t *b, CUstream s) {
  OK(oeq_tp_forward(plan, batch, DEV(b->x), DEV(b->y), DEV(b->w), DEV(b->z), s));
}

static void run_fwd_bwd(oeq_plan_t *plan, int64_t batch, const buffers_t *b, CUstream s) {
  run_fwd(plan, batch, b, s);
  OK(oeq_tp_backward(plan, batch, DEV(b->x), DEV(b->y), DEV(b->w), DEV(b->dz),
                     DEV(b->dx), DEV(b->dy), DEV(b->dw), s));
}

typedef void (*runner_t)(oeq_plan_t *, int64_t, const buffers_t *, CUstream);

static float time_median(runner_t run, oeq_plan_t *plan, int64_t batch, const buffers_t *b, CUstream s) {
  float t[REPS];
  for (int i = 0; i < WARMUP; i++) run(plan, batch, b, s);
  for (int i = 0; i < REPS; i++) {
    CK(cu->cuMemsetD8Async(flush_buf, (unsigned char)i, flush_bytes, s)); /* evict L2 */
    CK(cu->cuEventRecord(ev0, s));
    run(plan, batch, b, s);
    CK(cu->cuEventRecord(ev1, s));
    CK(cu->cuEventSynchronize(ev1));
    CK(cu->cuEventElapsedTime(&t[i], ev0, ev1));
  }
  return median(t, REPS);
}

/* Median ms of replays of one captured call; *nodes: what the call launched. */
static float graph_median(runner_t run, oeq_plan_t *plan, int64_t batch, const buffers_t *b, CUstream s,
                          graph_nodes_t *nodes) {
  CUgraph g;
  CUgraphExec e;
  CK(cu->cuStreamBeginCapture(s, OEQ_CU_STREAM_CAPTURE_MODE_GLOBAL));
  run(plan, batch, b, s);
  CK(cu->cuStreamEndCapture(s, &g));
  *nodes = count_graph_nodes(cu, g);
  CK(cu->cuGraphInstantiate(&e, g, 0));
  float t[REPS];
  for (int i = 0; i < WARMUP; i++) CK(cu->cuGraphLaunch(e, s));
  for (int i = 0; i < REPS; i++) {
    CK(cu->cuEventRecord(ev0, s));
    CK(cu->cuGraphLaunch(e, s));
    CK(cu->cuEventRecord(ev1, s));
    CK(cu->cuEventSynchronize(ev1));
    CK(cu->cuEventElapsedTime(&t[i], ev0, ev1));
  }
  cu->cuGraphExecDestroy(e);
  cu->cuGraphDestroy(g);
  return median(t, REPS);
}

/* Host microseconds one call takes to return (the call's checks and the
 * launch: what an MD step of many small TP calls pays beyond the GPU's
 * time). Calls go out in bursts short enough never to fill the launch
 * queue, synchronised between bursts; the best burst. */
#define HOST_BURST 100
#define HOST_BURSTS 20
static double host_us_per_call(runner_t run, oeq_plan_t *plan, int64_t batch, const buffers_t *b,
                               CUstream s) {
  double best = 1e30;
  for (int k = 0; k < HOST_BURSTS; k++) {
    CK(cu->cuStreamSynchronize(s));
    const double t0 = now_ms();
    for (int i = 0; i < HOST_BURST; i++) run(plan, batch, b, s);
    const double us = (now_ms() - t0) * 1e3 / HOST_BURST;
    if (us < best) best = us;
  }
  CK(cu->cuStreamSynchronize(s));
  return best;
}

/* Bytes a forward must move once: x, y, w read and z written. */
static double fwd_bytes(const anchor_t *a, int64_t batch, int64_t xd, int64_t yd, int64_t zd, int64_t wn) {
  const size_t es = a->dtype == F64 ? 8 : 4;
  return (double)es * (double)(batch * (xd + yd + zd) + (a->shared ? 1 : batch) * wn);
}

/* Bytes forward+backward must move once, as one job: x, y, w, dz read and
 * z, dx, dy, dw written. dz, dx, dy, dw have the sizes of z, x, y, w, so
 * this is twice the forward's. */
static double fwd_bwd_bytes(const anchor_t *a, int64_t batch, int64_t xd, int64_t yd, int64_t zd,
                            int64_t wn) {
  return 2.0 * fwd_bytes(a, batch, xd, yd, zd, wn);
}

static buffers_t alloc_buffers(const anchor_t *a, int64_t batch, int64_t xd, int64_t yd, int64_t zd,
                               int64_t wn) {
  int64_t wr = a->shared ? 1 : batch;
  buffers_t b = {
      .x = device_random((size_t)(batch * xd), a->dtype, 1),
      .y = device_random((size_t)(batch * yd), a->dtype, 2),
      .w = device_random((size_t)(wr * wn), a->dtype, 3),
      .z = device_random((size_t)(batch * zd), a->dtype, 4),
      .dz = device_random((size_t)(batch * zd), a->dtype, 5),
      .dx = device_random((size_t)(batch * xd), a->dtype, 6),
      .dy = device_random((size_t)(batch * yd), a->dtype, 7),
      .dw = device_random((size_t)(wr * wn), a->dtype, 8),
  };
  return b;
}

static void free_buffers(buffers_t *b) {
  CUdeviceptr *all[] = {&b->x, &b->y, &b->w, &b->z, &b->dz, &b->dx, &b->dy, &b->dw};
  for (int i = 0; i < 8; i++) cu->cuMemFree(*all[i]);
}

/* One row of the latency table: graph replays, host time per call, launches
 * and the floor comparison, forward and forward+backward. */
static void latency_row(const anchor_t *a, oeq_plan_t *plan, CUstream s, double bw) {
  const int64_t batch = LATENCY_BATCH;
  oeq_problem_t *p = make_problem(a);
  int64_t xd, yd, zd, wn;
  OK(oeq_problem_dims(p, &xd, &yd, &zd));
  OK(oeq_problem_weight_numel(p, &wn));
  buffers_t b = alloc_buffers(a, batch, xd, yd, zd, wn);
  graph_nodes_t n_fwd, n_both;
  float fwd = graph_median(run_fwd, plan, batch, &b, s, &n_fwd);
  float both = graph_median(run_fwd_bwd, plan, batch, &b, s, &n_both);
  double host_fwd = host_us_per_call(run_fwd, plan, batch, &b, s);
  double host_both = host_us_per_call(run_fwd_bwd, plan, batch, &b, s);
  latency_cells_t cf = latency_cells(fwd, fwd_bytes(a, batch, xd, yd, zd, wn), bw, n_fwd);
  latency_cells_t cb = latency_cells(both, fwd_bwd_bytes(a, batch, xd, yd, zd, wn), bw, n_both);
  printf("%-28s %4s %9.4f %9.4f %12.2f %12.2f | %9s %9s | %8s %8s %-18s | %8s %8s %-18s\n", a->label,
         a->dtype == F64 ? "f64" : "f32", fwd, both, host_fwd, host_both, cf.launches, cb.launches,
         cf.floor_us, cf.target_us, cf.verdict, cb.floor_us, cb.target_us, cb.verdict);
  fflush(stdout);
  free_buffers(&b);
  oeq_problem_destroy(p);
}

int main(int argc, char **argv) {
  const char *filter = argc > 1 ? argv[1] : "";
  if (!oeq_backend_available(OEQ_BACKEND_CUDA)) {
    printf("CUDA backend unavailable: %s\n", oeq_last_error());
    return 0;
  }
  cu = oeq_cuda_api(NULL);
  CUdevice dev;
  CUcontext ctx;
  CK(cu->cuDeviceGet(&dev, 0));
  CK(cu->cuDevicePrimaryCtxRetain(&ctx, dev));
  CK(cu->cuCtxPushCurrent(ctx));
  char name[128];
  cu->cuDeviceGetName(name, sizeof name, dev);
  CUstream s;
  CK(cu->cuStreamCreate(&s, OEQ_CU_STREAM_NON_BLOCKING));
  CK(cu->cuEventCreate(&ev0, 0));
  CK(cu->cuEventCreate(&ev1, 0));
  CK(cu->cuMemAlloc(&flush_buf, flush_bytes));

  /* Cold plans: a fresh disk cache, empty memory cache, 16 threads. */
  char dir[] = "/tmp/oeq-bench-cache-XXXXXX";
  if (mkdtemp(dir)) setenv("OEQ_CACHE_DIR", dir, 1);
  for (int i = 0; i < N_ANCHORS; i++)
    if (strstr(anchors[i].label, filter)) jobs[n_jobs++].a = &anchors[i];
  double t0 = now_ms();
  pthread_t threads[16];
  for (int i = 0; i < 16; i++) pthread_create(&threads[i], NULL, compile_worker, NULL);
  for (int i = 0; i < 16; i++) pthread_join(threads[i], NULL);
  printf("device: %s; %d plans created cold on 16 threads in %.1f s\n", name, n_jobs,
         (now_ms() - t0) / 1e3);

  double bw = copy_bandwidth_gbs(cu, s);
  printf("device copy bandwidth: %.0f GB/s (read + written)\n\n", bw);
  printf("%-28s %4s %9s %9s %9s %9s %7s %7s %6s | %8s %8s %8s\n", "problem", "dt", "fwd ms",
         "fwd+bwd", "floor ms", "GB/s", "floor/f", "", "", "cold ms", "disk ms", "mem ms");
  const int64_t batch = 50000;
  for (int j = 0; j < n_jobs; j++) {
    const anchor_t *a = jobs[j].a;
    oeq_problem_t *p = make_problem(a);
    int64_t xd, yd, zd, wn;
    OK(oeq_problem_dims(p, &xd, &yd, &zd));
    OK(oeq_problem_weight_numel(p, &wn));
    /* warm plan creation: from disk (memory cleared), then from memory */
    oeq_plan_t *tmp;
    oeq_kcache_clear_memory();
    double t1 = now_ms();
    OK(oeq_plan_create_tp(p, OEQ_BACKEND_CUDA, 0, &tmp));
    double disk_ms = now_ms() - t1;
    oeq_plan_destroy(tmp);
    t1 = now_ms();
    OK(oeq_plan_create_tp(p, OEQ_BACKEND_CUDA, 0, &tmp));
    double mem_ms = now_ms() - t1;
    oeq_plan_destroy(tmp);

    buffers_t b = alloc_buffers(a, batch, xd, yd, zd, wn);
    float fwd = time_median(run_fwd, jobs[j].plan, batch, &b, s);
    float both = time_median(run_fwd_bwd, jobs[j].plan, batch, &b, s);
    double bytes = fwd_bytes(a, batch, xd, yd, zd, wn);
    double floor_ms = bytes / (bw * 1e9) * 1e3;
    printf("%-28s %4s %9.3f %9.3f %9.3f %9.0f %6.0f%% %7s %6s | %8.0f %8.1f %8.1f\n", a->label,
           a->dtype == F64 ? "f64" : "f32", fwd, both, floor_ms, bytes / (fwd * 1e-3) / 1e9,
           100 * floor_ms / fwd, "", "", jobs[j].cold_ms, disk_ms, mem_ms);
    fflush(stdout);
    free_buffers(&b);
    oeq_problem_destroy(p);
  }

  printf("\nlatency: batch %d, replayed CUDA graph (median of %d); launch: kernel (k) + memset (m)\n"
         "nodes of the captured graph; floor: bytes once / copy bandwidth; tgt: floor + %.0f us\n",
         LATENCY_BATCH, REPS, LATENCY_ALLOWANCE_US);
  printf("%-28s %4s %9s %9s %12s %12s | %9s %9s | %8s %8s %-18s | %8s %8s %-18s\n", "problem", "dt",
         "fwd ms", "fwd+bwd", "host us fwd", "fwd+bwd", "launch f", "launch fb", "floor us", "tgt us",
         "fwd", "floor us", "tgt us", "fwd+bwd");
  for (int j = 0; j < n_jobs; j++) {
    const anchor_t *a = jobs[j].a;
    if (strstr("mace-large nequip-lips nequip-revmd17-benzene DiffDock-L=2", a->label) && a->dtype == F32)
      latency_row(a, jobs[j].plan, s, bw);
  }
  for (int j = 0; j < n_jobs; j++) oeq_plan_destroy(jobs[j].plan);
  return 0;
}
