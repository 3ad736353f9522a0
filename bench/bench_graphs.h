/* bench_graphs.h: the graphs of the convolution benchmarks, built on the
 * host (bench_graphs.c): edges with receivers sorted, and the stable
 * sender order the deterministic mode takes. */
#ifndef OEQ_BENCH_GRAPHS_H
#define OEQ_BENCH_GRAPHS_H

#include <stdint.h>

typedef struct bench_graph {
  int64_t nodes, edges;
  int32_t *rows, *cols; /* receiver, sender of edge e (receivers ascending) */
  int32_t *perm;        /* sender order: edges by sender, stable */
} bench_graph_t;

/* xorshift64: the benchmarks' one random stream */
static inline uint64_t bench_rand(uint64_t *state) {
  *state ^= *state << 13, *state ^= *state >> 7, *state ^= *state << 17;
  return *state;
}

/* `edges` edges with receiver and sender uniform over `nodes` nodes. */
bench_graph_t bench_random_graph(int64_t nodes, int64_t edges, uint64_t *rng);

/* An MD-like graph: `nodes` points uniform in a periodic cube of unit
 * density, numbered in the order of the cells (of side >= the cutoff) they
 * fall in, as a cell-list MD code stores its atoms, and an edge for every
 * ordered pair closer than the cutoff that gives `degree` neighbours on
 * average. Neighbours are then near in index, so gathered rows can stay in
 * L2, unlike in the random graph. */
bench_graph_t bench_md_graph(int64_t nodes, double degree, uint64_t *rng);

void bench_graph_free(bench_graph_t *g);

#endif
