/* bench_conv.c: times oeq's fused CUDA convolution (shared/bench/anchors.md's
 * conv cases) and prints a table.
 *
 * Problems mace-large and nequip-lips (float32, per-edge weights), atomic
 * and deterministic mode. Cases: a random graph of 20,000 nodes and 400,000
 * edges (receivers sorted), a latency case (500 nodes, 5,000 edges; the
 * forward and forward+backward captured once in a CUDA graph and replayed)
 * and a throughput case (100,000 nodes, 2,000,000 edges); an MD-like case
 * (20,000 points in a periodic box, cell-ordered, an edge per pair within
 * the cutoff that gives 20 neighbours on average: bench_md_graph), where
 * neighbours are near in index as in a real MD step. CUDA events, 3
 * warm-ups, median of 10 (25 graph replays for latency). "extra MB" is the
 * device memory the call needs beyond inputs and outputs: its workspace.
 *
 * "fwd floor" and "fwd+bwd floor": the byte models below moved at the
 * measured device copy bandwidth, as a share of the measured time.
 *
 * After the table, the latency case again (issue 18: MD with a few hundred
 * atoms per GPU): launches per call (kernel "k" and memset "m" nodes of the
 * captured graph, "?" where the driver cannot list them) and the time
 * against the floor, bytes the call must move once over the device copy
 * bandwidth measured at the start, with the target floor + 10 us, for
 * forward and for forward+backward. Byte models (float32; x and z have one
 * row per node, y and w one per edge; rows and cols are int32):
 *   forward:          x, y, w, rows, cols read and z written, once each;
 *   forward+backward: x, y, w, dz, rows, cols read and z, dx, dy, dw
 *                     written, once each, as if one job (so the indices
 *                     count once). sender_perm (deterministic mode, 4 bytes
 *                     an edge) and the workspace are not counted: they are
 *                     the implementation's choice. The table's "fwd bytes
 *                     GB" column is the forward's model without the indices.
 * The replays run back to back without an L2 flush, so part of the data
 * can be L2-resident and a time below the floor is possible.
 * Usage: bench_conv [FILTER [CASE]]: FILTER alone picks problems or cases
 * whose label holds it; with CASE, problems matching FILTER in cases
 * matching CASE. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda_api.h"
#include "bench_graphs.h"
#include "bench_latency.h"
#include "oeq.h"

#define DEV(p) ((void *)(uintptr_t)(p))

static const oeq_cuda_api_t *cu;

#define OK(call)                                                                       \
  do {                                                                                 \
    oeq_status_t s_ = (call);                                                          \
    if (s_) {                                                                          \
      fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #call, oeq_last_error()); \
      exit(1);                                                                         \
    }                                                                                  \
  } while (0)

typedef struct {
  const char *label, *in1, *in2, *out;
} prob_def_t;

static const prob_def_t probs[] = {
    {"mace-large", "128x0e+128x1o+128x2e", "1x0e+1x1o+1x2e+1x3o", "0e+1o+2e+3o"},
    {"nequip-lips", "32x0o+32x0e+32x1o+32x1e+32x2o+32x2e", "0e+1o+2e", "32x0o+32x0e+32x1o+32x1e+32x2o+32x2e"},
};

static uint64_t rng_state = 88172645463325252ULL;
static uint64_t rnd(void) { return bench_rand(&rng_state); }

static CUdeviceptr dalloc(size_t bytes) {
  CUdeviceptr p = 0;
  CK(cu->cuMemAlloc(&p, bytes ? bytes : 16));
  return p;
}

/* Random normal-ish floats (sum of uniforms), generated on the host once
 * into a pool and copied in pieces (filling GBs on the host is slow). */
static void fill(CUdeviceptr d, size_t n) {
  static float *pool;
  const size_t pool_n = 1 << 22;
  if (!pool) {
    pool = malloc((pool_n + 1024) * sizeof(float));
    for (size_t i = 0; i < pool_n + 1024; i++)
      pool[i] = (float)(((double)(rnd() >> 11) / 9007199254740992.0 + (double)(rnd() >> 11) / 9007199254740992.0) - 1.0);
  }
  for (size_t off = 0; off < n; off += pool_n) {
    size_t k = n - off < pool_n ? n - off : pool_n;
    CK(cu->cuMemcpyHtoD(d + off * 4, pool + (rnd() % 1024), k * 4));
  }
}

typedef struct {
  int64_t nodes, edges;
  CUdeviceptr rows, cols, perm;
} graph_t;

/* A host graph (bench_graphs.h) on the device. */
static graph_t upload(bench_graph_t h) {
  const size_t bytes = (size_t)h.edges * 4;
  graph_t g = {h.nodes, h.edges, dalloc(bytes), dalloc(bytes), dalloc(bytes)};
  CK(cu->cuMemcpyHtoD(g.rows, h.rows, bytes));
  CK(cu->cuMemcpyHtoD(g.cols, h.cols, bytes));
  CK(cu->cuMemcpyHtoD(g.perm, h.perm, bytes));
  bench_graph_free(&h);
  return g;
}

static void free_graph(graph_t *g) { cu->cuMemFree(g->rows), cu->cuMemFree(g->cols), cu->cuMemFree(g->perm); }

static int cmpf(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return x < y ? -1 : x > y;
}

typedef struct {
  oeq_plan_t *plan;
  int64_t nx, ny, nz, nw;
  CUdeviceptr x, y, w, z, dz, dx, dy, dw, ws;
  size_t ws_bytes;
  const graph_t *g;
  CUstream stream;
} run_t;

static void fwd(run_t *r) {
  const graph_t *g = r->g;
  OK(oeq_conv_forward(r->plan, g->nodes, g->nodes, g->edges, DEV(r->x), DEV(r->y), DEV(r->w), DEV(g->rows),
                      DEV(g->cols), DEV(g->perm), DEV(r->z), DEV(r->ws), r->ws_bytes, r->stream));
}

static void bwd(run_t *r) {
  const graph_t *g = r->g;
  OK(oeq_conv_backward(r->plan, g->nodes, g->nodes, g->edges, DEV(r->x), DEV(r->y), DEV(r->w), DEV(r->dz),
                       DEV(g->rows), DEV(g->cols), DEV(g->perm), DEV(r->dx), DEV(r->dy), DEV(r->dw), DEV(r->ws),
                       r->ws_bytes, r->stream));
}

/* Median ms of `reps` runs of f (or of a replayed graph of it, whose nodes,
 * what one call launches, go to *nodes). */
static float time_it(run_t *r, void (*f)(run_t *), int reps, int as_graph, graph_nodes_t *nodes) {
  CUevent a, b;
  CK(cu->cuEventCreate(&a, 0));
  CK(cu->cuEventCreate(&b, 0));
  CUgraphExec exec = NULL;
  CUgraph graph = NULL;
  if (as_graph) {
    CK(cu->cuStreamBeginCapture(r->stream, OEQ_CU_STREAM_CAPTURE_MODE_GLOBAL));
    f(r);
    CK(cu->cuStreamEndCapture(r->stream, &graph));
    *nodes = count_graph_nodes(cu, graph);
    CK(cu->cuGraphInstantiate(&exec, graph, 0));
  }
  float t[64];
  for (int i = 0; i < 3 + reps; i++) {
    CK(cu->cuEventRecord(a, r->stream));
    if (as_graph)
      CK(cu->cuGraphLaunch(exec, r->stream));
    else
      f(r);
    CK(cu->cuEventRecord(b, r->stream));
    CK(cu->cuEventSynchronize(b));
    if (i >= 3) CK(cu->cuEventElapsedTime(&t[i - 3], a, b));
  }
  if (exec) cu->cuGraphExecDestroy(exec), cu->cuGraphDestroy(graph);
  cu->cuEventDestroy(a), cu->cuEventDestroy(b);
  qsort(t, (size_t)reps, sizeof(float), cmpf);
  return t[reps / 2];
}

static void fwd_bwd(run_t *r) { fwd(r), bwd(r); }

/* The float32 data a forward must move once (x, y, w read, z written), and
 * the int32 rows and cols. */
static double data_bytes(const run_t *r) {
  const graph_t *g = r->g;
  return 4.0 * ((double)g->edges * (double)(r->ny + r->nw) + (double)g->nodes * (double)(r->nx + r->nz));
}
static double index_bytes(const graph_t *g) { return 8.0 * (double)g->edges; }

static double fwd_bytes(const run_t *r) { return data_bytes(r) + index_bytes(r->g); }

/* Forward+backward as one job: the data twice (dz, dx, dy, dw have the
 * sizes of z, x, y, w), the indices once. */
static double fwd_bwd_bytes(const run_t *r) { return 2.0 * data_bytes(r) + index_bytes(r->g); }

/* The latency rows, printed as their own table after the main one. */
typedef struct lat_row {
  const char *problem;
  int det;
  float tf, tfb;
  latency_cells_t cf, cb;
} lat_row_t;
static lat_row_t lat_rows[8];
static int n_lat_rows;
static double copy_bw; /* GB/s, read + written */

static void record_latency(const char *problem, int det, const run_t *r, float tf, float tfb,
                           graph_nodes_t nf, graph_nodes_t nfb) {
  if (n_lat_rows == (int)(sizeof lat_rows / sizeof lat_rows[0])) return;
  lat_rows[n_lat_rows++] = (lat_row_t){problem, det, tf, tfb,
                                       latency_cells(tf, fwd_bytes(r), copy_bw, nf),
                                       latency_cells(tfb, fwd_bwd_bytes(r), copy_bw, nfb)};
}

static void print_latency_table(void) {
  if (!n_lat_rows) return;
  printf("\nlatency vs floor (graph replay; launches: kernel k + memset m nodes; target: floor + %.0f us;"
         " copy bandwidth %.0f GB/s)\n",
         LATENCY_ALLOWANCE_US, copy_bw);
  printf("| problem | mode | fwd ms | fwd+bwd ms | launches fwd | launches fwd+bwd | fwd floor us"
         " | fwd target us | fwd | fwd+bwd floor us | fwd+bwd target us | fwd+bwd |\n");
  printf("|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (int i = 0; i < n_lat_rows; i++) {
    const lat_row_t *l = &lat_rows[i];
    printf("| %s | %s | %.4f | %.4f | %s | %s | %s | %s | %s | %s | %s | %s |\n", l->problem,
           l->det ? "deterministic" : "atomic", l->tf, l->tfb, l->cf.launches, l->cb.launches,
           l->cf.floor_us, l->cf.target_us, l->cf.verdict, l->cb.floor_us, l->cb.target_us,
           l->cb.verdict);
  }
}

static void bench_case(const char *label, const prob_def_t *pd, const graph_t *g, int latency, CUstream stream) {
  oeq_problem_t *p = NULL;
  OK(oeq_problem_create_channelwise(pd->in1, pd->in2, pd->out, &p));
  run_t r = {.g = g, .stream = stream};
  OK(oeq_problem_dims(p, &r.nx, &r.ny, &r.nz));
  OK(oeq_problem_weight_numel(p, &r.nw));
  int64_t n = g->nodes, E = g->edges;
  r.x = dalloc((size_t)(n * r.nx) * 4), r.y = dalloc((size_t)(E * r.ny) * 4), r.w = dalloc((size_t)(E * r.nw) * 4);
  r.z = dalloc((size_t)(n * r.nz) * 4), r.dz = dalloc((size_t)(n * r.nz) * 4), r.dx = dalloc((size_t)(n * r.nx) * 4);
  r.dy = dalloc((size_t)(E * r.ny) * 4), r.dw = dalloc((size_t)(E * r.nw) * 4);
  fill(r.x, (size_t)(n * r.nx)), fill(r.y, (size_t)(E * r.ny)), fill(r.w, (size_t)(E * r.nw));
  fill(r.dz, (size_t)(n * r.nz));
  const double floor_gb = data_bytes(&r) / 1e9; /* the forward's, without the indices */
  for (int det = 0; det < 2; det++) {
    OK(oeq_plan_create_conv(p, OEQ_BACKEND_CUDA, 0, det ? OEQ_CONV_DETERMINISTIC : 0, &r.plan));
    OK(oeq_conv_workspace_size(r.plan, n, n, E, &r.ws_bytes));
    r.ws = dalloc(r.ws_bytes);
    float tf, tb, tfb;
    if (latency) {
      graph_nodes_t nf, nfb;
      tf = time_it(&r, fwd, 25, 1, &nf);
      tfb = time_it(&r, fwd_bwd, 25, 1, &nfb);
      tb = tfb - tf;
      record_latency(pd->label, det, &r, tf, tfb, nf, nfb);
    } else {
      tf = time_it(&r, fwd, 10, 0, NULL);
      tb = time_it(&r, bwd, 10, 0, NULL);
      tfb = tf + tb;
    }
    /* the time the byte models take at the measured copy bandwidth, as a
     * share of the measured time (100%: at the memory floor) */
    const double ff = fwd_bytes(&r) / (copy_bw * 1e6) / tf, ffb = fwd_bwd_bytes(&r) / (copy_bw * 1e6) / tfb;
    printf("| %s | %s | %lld / %lld | %s | %.3f | %.3f | %.3f | %.0f%% | %.0f%% | %.1f | %.2f |\n", pd->label,
           label, (long long)n, (long long)E, det ? "deterministic" : "atomic", tf, tb, tfb, 100 * ff, 100 * ffb,
           r.ws_bytes / 1e6, floor_gb);
    fflush(stdout);
    cu->cuMemFree(r.ws);
    oeq_plan_destroy(r.plan);
  }
  CUdeviceptr all[] = {r.x, r.y, r.w, r.z, r.dz, r.dx, r.dy, r.dw};
  for (int i = 0; i < 8; i++) cu->cuMemFree(all[i]);
  oeq_problem_destroy(p);
}

int main(int argc, char **argv) {
  /* one filter: a problem or a case; two: a problem and a case */
  const char *filter = argc > 1 ? argv[1] : "", *case_filter = argc > 2 ? argv[2] : NULL;
  if (!oeq_backend_available(OEQ_BACKEND_CUDA)) {
    printf("bench_conv: no CUDA device (%s)\n", oeq_last_error());
    return 0;
  }
  cu = oeq_cuda_api(NULL);
  CUdevice dev;
  CUcontext ctx;
  CK(cu->cuDeviceGet(&dev, 0));
  CK(cu->cuDevicePrimaryCtxRetain(&ctx, dev));
  CK(cu->cuCtxPushCurrent(ctx));
  char name[128] = "";
  cu->cuDeviceGetName(name, sizeof name, dev);
  CUstream stream;
  CK(cu->cuStreamCreate(&stream, OEQ_CU_STREAM_NON_BLOCKING));
  printf("device: %s\n", name);
  copy_bw = copy_bandwidth_gbs(cu, stream);
  printf("device copy bandwidth: %.0f GB/s (read + written)\n", copy_bw);
  printf("| problem | case | nodes / edges | mode | fwd ms | bwd ms | fwd+bwd ms | fwd floor | fwd+bwd floor"
         " | workspace MB | fwd bytes GB |\n");
  printf("|---|---|---|---|---|---|---|---|---|---|---|\n");
  struct { const char *label; int64_t nodes, edges; int latency, local; } cases[] = {
      {"anchor", 20000, 400000, 0, 0},
      {"md-like", 20000, 20, 0, 1}, /* edges: the mean degree */
      {"latency (graph replay)", 500, 5000, 1, 0},
      {"throughput", 100000, 2000000, 0, 0}};
  for (int c = 0; c < 4; c++) {
    int wanted[2], any = 0;
    for (int i = 0; i < 2; i++) {
      wanted[i] = case_filter ? strstr(probs[i].label, filter) && strstr(cases[c].label, case_filter)
                              : strstr(probs[i].label, filter) || strstr(cases[c].label, filter);
      any |= wanted[i];
    }
    if (!any) continue;
    graph_t g = upload(cases[c].local ? bench_md_graph(cases[c].nodes, (double)cases[c].edges, &rng_state)
                                      : bench_random_graph(cases[c].nodes, cases[c].edges, &rng_state));
    for (int i = 0; i < 2; i++)
      if (wanted[i]) bench_case(cases[c].label, &probs[i], &g, cases[c].latency, stream);
    free_graph(&g);
  }
  print_latency_table();
  cu->cuStreamDestroy(stream);
  return 0;
}
