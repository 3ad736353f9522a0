/* bench_graphs.c: the benchmark graphs (bench_graphs.h). */
#include "bench_graphs.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

/* perm: edges by sender, a stable counting sort */
static void sender_order(bench_graph_t *g) {
  int64_t *start = calloc((size_t)g->nodes + 1, sizeof *start);
  g->perm = malloc((size_t)g->edges * sizeof *g->perm);
  for (int64_t e = 0; e < g->edges; e++) start[g->cols[e] + 1]++;
  for (int64_t i = 0; i < g->nodes; i++) start[i + 1] += start[i];
  for (int64_t e = 0; e < g->edges; e++) g->perm[start[g->cols[e]]++] = (int32_t)e;
  free(start);
}

bench_graph_t bench_random_graph(int64_t nodes, int64_t edges, uint64_t *rng) {
  bench_graph_t g = {nodes, edges, malloc((size_t)edges * 4), malloc((size_t)edges * 4), NULL};
  int64_t *key = malloc((size_t)edges * sizeof *key);
  for (int64_t e = 0; e < edges; e++) {
    const int64_t r = (int64_t)(bench_rand(rng) % (uint64_t)nodes);
    key[e] = r * nodes + (int64_t)(bench_rand(rng) % (uint64_t)nodes);
  }
  qsort(key, (size_t)edges, sizeof *key, cmp64);
  for (int64_t e = 0; e < edges; e++) g.rows[e] = (int32_t)(key[e] / nodes), g.cols[e] = (int32_t)(key[e] % nodes);
  free(key);
  sender_order(&g);
  return g;
}

bench_graph_t bench_md_graph(int64_t nodes, double degree, uint64_t *rng) {
  const double side = cbrt((double)nodes), cut = cbrt(3.0 * degree / (4.0 * 3.14159265358979));
  const int nc = (int)(side / cut) > 3 ? (int)(side / cut) : 3, ncell = nc * nc * nc;
  const double cell = side / nc; /* >= cut: the 27 cells around a point hold its neighbours */
  double(*pt)[3] = malloc((size_t)nodes * sizeof *pt), (*sorted)[3] = malloc((size_t)nodes * sizeof *pt);
  int64_t *cstart = calloc((size_t)ncell + 1, sizeof *cstart), *at = malloc((size_t)ncell * sizeof *at);
  int *cell_of = malloc((size_t)nodes * sizeof *cell_of);
  for (int64_t i = 0; i < nodes; i++) {
    int ci[3];
    for (int d = 0; d < 3; d++) {
      pt[i][d] = (double)(bench_rand(rng) >> 11) / 9007199254740992.0 * side;
      ci[d] = (int)(pt[i][d] / cell) % nc;
    }
    cell_of[i] = (ci[2] * nc + ci[1]) * nc + ci[0];
    cstart[cell_of[i] + 1]++;
  }
  for (int c = 0; c < ncell; c++) cstart[c + 1] += cstart[c];
  memcpy(at, cstart, (size_t)ncell * sizeof *at);
  for (int64_t i = 0; i < nodes; i++) memcpy(sorted[at[cell_of[i]]++], pt[i], sizeof pt[i]);
  const int64_t cap = (int64_t)((double)nodes * degree * 1.5) + 1024;
  bench_graph_t g = {nodes, 0, malloc((size_t)cap * 4), malloc((size_t)cap * 4), NULL};
  for (int64_t r = 0; r < nodes; r++) { /* receivers in order, senders from the 27 cells */
    int ci[3];
    for (int d = 0; d < 3; d++) ci[d] = (int)(sorted[r][d] / cell) % nc;
    for (int dz = -1; dz <= 1; dz++)
      for (int dy = -1; dy <= 1; dy++)
        for (int dx = -1; dx <= 1; dx++) {
          const int c = (((ci[2] + dz + nc) % nc) * nc + (ci[1] + dy + nc) % nc) * nc + (ci[0] + dx + nc) % nc;
          for (int64_t s = cstart[c]; s < cstart[c + 1]; s++) {
            double d2 = 0;
            for (int d = 0; d < 3; d++) {
              double t = fabs(sorted[r][d] - sorted[s][d]);
              t = t > side / 2 ? side - t : t; /* periodic */
              d2 += t * t;
            }
            if (s == r || d2 >= cut * cut || g.edges == cap) continue;
            g.rows[g.edges] = (int32_t)r, g.cols[g.edges] = (int32_t)s, g.edges++;
          }
        }
  }
  free(pt), free(sorted), free(cstart), free(at), free(cell_of);
  sender_order(&g);
  return g;
}

void bench_graph_free(bench_graph_t *g) {
  free(g->rows), free(g->cols), free(g->perm);
  *g = (bench_graph_t){0};
}
