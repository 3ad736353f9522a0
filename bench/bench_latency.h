/* bench_latency.h: the columns bench_tp's and bench_conv's latency tables
 * print beside a replayed CUDA graph's time (issue 18, the latency regime:
 * an MD step of a few hundred atoms per GPU):
 *   - launches per call: the kernel and memset nodes of the captured graph,
 *     i.e. what one library call puts on the stream;
 *   - the floor: the bytes the call must move once over the device copy
 *     bandwidth (each bench states its byte model), and the target, floor
 *     + 10 us, with a verdict.
 * Static inline functions: a bench that uses some of them compiles clean. */
#ifndef OEQ_BENCH_LATENCY_H
#define OEQ_BENCH_LATENCY_H

#include <stdio.h>
#include <stdlib.h>

#include "backend/cuda_api.h"

/* The allowance over the floor, forward and forward+backward. */
#define LATENCY_ALLOWANCE_US 10.0

/* A CUDA driver call that must succeed (the benches exit on a failure). */
#define CK(call)                                                                       \
  do {                                                                                     \
    CUresult r_ = (call);                                                                  \
    if (r_) {                                                                              \
      fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #call, oeq_cuda_error_string(r_)); \
      exit(1);                                                                             \
    }                                                                                      \
  } while (0)

static inline int lat_cmp_float(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return (x > y) - (x < y);
}

/* Device-to-device copy bandwidth in GB/s, bytes read + written: 1 GiB
 * copied, 3 warm-ups, median of 25. The floors divide by this rather than
 * a datasheet number so that they hold for the card and clocks of the run. */
static inline double copy_bandwidth_gbs(const oeq_cuda_api_t *cu, CUstream s) {
  enum { WARM = 3, RUNS = 25 };
  const size_t bytes = (size_t)1 << 30;
  CUdeviceptr a, b;
  CUevent e0, e1;
  CK(cu->cuMemAlloc(&a, bytes));
  CK(cu->cuMemAlloc(&b, bytes));
  CK(cu->cuEventCreate(&e0, OEQ_CU_EVENT_DEFAULT));
  CK(cu->cuEventCreate(&e1, OEQ_CU_EVENT_DEFAULT));
  CK(cu->cuMemsetD8Async(a, 1, bytes, s));
  float t[RUNS];
  for (int i = 0; i < WARM; i++) CK(cu->cuMemcpyDtoDAsync(b, a, bytes, s));
  for (int i = 0; i < RUNS; i++) {
    CK(cu->cuEventRecord(e0, s));
    CK(cu->cuMemcpyDtoDAsync(b, a, bytes, s));
    CK(cu->cuEventRecord(e1, s));
    CK(cu->cuEventSynchronize(e1));
    CK(cu->cuEventElapsedTime(&t[i], e0, e1));
  }
  cu->cuEventDestroy(e0), cu->cuEventDestroy(e1);
  cu->cuMemFree(a), cu->cuMemFree(b);
  qsort(t, RUNS, sizeof *t, lat_cmp_float);
  return 2.0 * (double)bytes / (t[RUNS / 2] * 1e-3) / 1e9;
}

/* The nodes of a captured graph by kind. kernels < 0: unknown (the driver
 * lacks cuGraphGetNodes / cuGraphNodeGetType, or one failed); the count is
 * a report, so failing it must not stop the timing. */
typedef struct graph_nodes {
  int kernels, memsets, other;
} graph_nodes_t;

static inline graph_nodes_t count_graph_nodes(const oeq_cuda_api_t *cu, CUgraph g) {
  graph_nodes_t n = {-1, 0, 0};
  size_t count = 0;
  if (!cu->cuGraphGetNodes || !cu->cuGraphNodeGetType || cu->cuGraphGetNodes(g, NULL, &count))
    return n;
  CUgraphNode *nodes = malloc((count ? count : 1) * sizeof *nodes);
  if (!nodes || cu->cuGraphGetNodes(g, nodes, &count)) {
    free(nodes);
    return n;
  }
  n.kernels = 0;
  for (size_t i = 0; i < count; i++) {
    int type = -1;
    if (cu->cuGraphNodeGetType(nodes[i], &type)) {
      n = (graph_nodes_t){-1, 0, 0};
      break;
    }
    if (type == OEQ_CU_GRAPH_NODE_TYPE_KERNEL)
      n.kernels++;
    else if (type == OEQ_CU_GRAPH_NODE_TYPE_MEMSET)
      n.memsets++;
    else
      n.other++; /* memcpy, stream-ordered alloc/free, ...: shown, as they cost too */
  }
  free(nodes);
  return n;
}

/* One floor comparison, as text cells for either table style. */
typedef struct latency_cells {
  char launches[32], floor_us[16], target_us[16], verdict[32];
} latency_cells_t;

/* "3k+1m" (kernels + memsets, "+2o" for other nodes), or "?". */
static inline void format_launches(graph_nodes_t n, char *buf, size_t len) {
  if (n.kernels < 0)
    snprintf(buf, len, "?");
  else if (n.other)
    snprintf(buf, len, "%dk+%dm+%do", n.kernels, n.memsets, n.other);
  else
    snprintf(buf, len, "%dk+%dm", n.kernels, n.memsets);
}

static inline latency_cells_t latency_cells(double t_ms, double bytes, double bw_gbs, graph_nodes_t n) {
  latency_cells_t c;
  const double floor_us = bytes / (bw_gbs * 1e9) * 1e6;
  const double target_us = floor_us + LATENCY_ALLOWANCE_US;
  const double over_us = t_ms * 1e3 - target_us;
  format_launches(n, c.launches, sizeof c.launches);
  snprintf(c.floor_us, sizeof c.floor_us, "%.1f", floor_us);
  snprintf(c.target_us, sizeof c.target_us, "%.1f", target_us);
  if (over_us <= 0)
    snprintf(c.verdict, sizeof c.verdict, "meets");
  else
    snprintf(c.verdict, sizeof c.verdict, "misses by %.1f us", over_us);
  return c;
}

#endif
