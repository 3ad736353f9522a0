/* conv_l2_model.c: the DRAM traffic of the fused conv backward's edge
 * schedules, predicted on the host by replaying their row accesses through
 * a model of the L2 (issue 18; bench/NOTES.md, session 10).
 *
 * Why: run AR's ncu profile put mace-large's backward at 27 GB of DRAM
 * traffic against 7.4 GB of data, and the question is which schedule of
 * edges over warps lets the gathered rows stay in L2. The model answers it
 * without a GPU, and the device then checks the answer.
 *
 * What is modelled, per edge (float32, row sizes from the problem): the
 * sender's x row read (once per sender change of a warp), the receiver's
 * dz row read, the edge's w row read and dw row written, and dx: an
 * atomic read-modify-write of the sender's row per edge (atomic mode) or
 * one store per sender change (deterministic mode). `warps` warps walk
 * their segments in lockstep, one edge a step, segments handed out as the
 * kernel's grid-stride loop does (warp g: g, g + warps, ...). The L2 is
 * set-associative (16 ways, 128-byte lines, LRU, write-back, a full-line
 * store needs no read). DRAM bytes = lines read on a miss + dirty lines
 * written back. y, dy and the indices (< 1% of the bytes) are left out.
 *
 * Schedules (lib/codegen/conv_codegen.h):
 *   contiguous   atomic mode before session 10: segment s = edges
 *                [s len, (s + 1) len), len = oeq_conv_segment_len
 *   interleaved  atomic mode now: segment s = edges s, s + n, s + 2n, ...
 *                (oeq_conv_backward_segments)
 *   sender       deterministic mode: contiguous runs of sender-order
 *                positions
 *
 * Usage: conv_l2_model [L2_MB [WARPS]]   (default 50 MB, 2,112 warps: an
 * H100's L2, and mace-large's backward at 128 registers, 16 warps an SM on
 * 132 SMs) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_graphs.h"
#include "codegen/conv_codegen.h"
#include "oeq.h"

#define WAYS 16
#define LINE 128

typedef struct l2 {
  int64_t sets;
  uint64_t *tag; /* line + 1; 0: empty */
  uint64_t *used; /* last use, for LRU */
  unsigned char *dirty;
  uint64_t clock;
  double read, written; /* DRAM bytes */
} l2_t;

enum { READ, STORE, UPDATE }; /* STORE: a full-line write; UPDATE: read-modify-write */

static void touch(l2_t *c, uint64_t line, int how) {
  const int64_t set = (int64_t)((line * 0x9E3779B97F4A7C15ULL >> 20) % (uint64_t)c->sets);
  uint64_t *tag = c->tag + set * WAYS, *used = c->used + set * WAYS;
  unsigned char *dirty = c->dirty + set * WAYS;
  int victim = 0;
  c->clock++;
  for (int w = 0; w < WAYS; w++) {
    if (tag[w] == line + 1) {
      used[w] = c->clock;
      dirty[w] |= how != READ;
      return;
    }
    if (used[w] < used[victim]) victim = w;
  }
  if (dirty[victim]) c->written += LINE;
  if (how != STORE) c->read += LINE;
  tag[victim] = line + 1, used[victim] = c->clock, dirty[victim] = how != READ;
}

static void touch_row(l2_t *c, uint64_t address, uint64_t bytes, int how) {
  for (uint64_t o = 0; o < bytes; o += LINE) touch(c, (address + o) / LINE, how);
}

typedef enum { CONTIGUOUS, INTERLEAVED, SENDER } schedule_t;
static const char *schedule_name[] = {"contiguous (atomic, before)", "interleaved (atomic, now)",
                                      "sender order (deterministic)"};

typedef struct rows {
  uint64_t x, dz, w; /* bytes of a row */
} rows_t;

/* The edge at step k of segment s, or -1 past its end. */
static int64_t edge_at(const bench_graph_t *g, schedule_t sch, int64_t n_seg, int64_t len, int64_t s, int64_t k) {
  if (sch == INTERLEAVED) {
    const int64_t i = s + k * n_seg;
    return i < g->edges ? i : -1;
  }
  const int64_t i = s * len + k;
  if (k >= len || i >= g->edges) return -1;
  return sch == SENDER ? g->perm[i] : i;
}

static double model(const bench_graph_t *g, const rows_t *r, schedule_t sch, double l2_bytes, int warps) {
  const int det = sch == SENDER;
  const int64_t len = oeq_conv_segment_len(g->edges);
  const int64_t n_seg = sch == INTERLEAVED ? oeq_conv_backward_segments(g->edges, 0, 0) : oeq_conv_segments(g->edges);
  const uint64_t X = 0, DZ = X + (uint64_t)g->nodes * r->x, W = DZ + (uint64_t)g->nodes * r->dz;
  const uint64_t DW = W + (uint64_t)g->edges * r->w, DX = DW + (uint64_t)g->edges * r->w;
  l2_t c = {.sets = (int64_t)(l2_bytes / LINE / WAYS)};
  c.tag = calloc((size_t)(c.sets * WAYS), sizeof *c.tag);
  c.used = calloc((size_t)(c.sets * WAYS), sizeof *c.used);
  c.dirty = calloc((size_t)(c.sets * WAYS), 1);
  int64_t *seg = malloc((size_t)warps * sizeof *seg), *step = calloc((size_t)warps, sizeof *step);
  int64_t *sender = malloc((size_t)warps * sizeof *sender);
  for (int w = 0; w < warps; w++) seg[w] = w, sender[w] = -1;
  for (int busy = 1; busy;) {
    busy = 0;
    for (int w = 0; w < warps; w++) {
      int64_t e = -1;
      while (seg[w] < n_seg && (e = edge_at(g, sch, n_seg, len, seg[w], step[w])) < 0) {
        if (det && sender[w] >= 0) touch_row(&c, DX + (uint64_t)sender[w] * r->x, r->x, STORE);
        seg[w] += warps, step[w] = 0, sender[w] = -1; /* the grid-stride loop's next segment */
      }
      if (seg[w] >= n_seg) continue;
      busy = 1, step[w]++;
      const int64_t s = g->cols[e], rcv = g->rows[e];
      if (s != sender[w]) {
        if (det && sender[w] >= 0) touch_row(&c, DX + (uint64_t)sender[w] * r->x, r->x, STORE);
        sender[w] = s;
        touch_row(&c, X + (uint64_t)s * r->x, r->x, READ);
      }
      touch_row(&c, W + (uint64_t)e * r->w, r->w, READ);
      touch_row(&c, DZ + (uint64_t)rcv * r->dz, r->dz, READ);
      touch_row(&c, DW + (uint64_t)e * r->w, r->w, STORE);
      if (!det) touch_row(&c, DX + (uint64_t)s * r->x, r->x, UPDATE);
    }
  }
  for (int64_t i = 0; i < c.sets * WAYS; i++)
    if (c.dirty[i]) c.written += LINE;
  free(c.tag), free(c.used), free(c.dirty), free(seg), free(step), free(sender);
  return c.read + c.written;
}

int main(int argc, char **argv) {
  const double l2_mb = argc > 1 ? atof(argv[1]) : 50.0;
  const int warps = argc > 2 ? atoi(argv[2]) : 2112;
  if (l2_mb < 1 || warps < 1) {
    fprintf(stderr, "usage: %s [L2_MB >= 1 [WARPS >= 1]]\n", argv[0]);
    return 2;
  }
  static const struct { const char *label, *in1, *in2, *out; } probs[] = {
      {"mace-large", "128x0e+128x1o+128x2e", "1x0e+1x1o+1x2e+1x3o", "0e+1o+2e+3o"},
      {"nequip-lips", "32x0o+32x0e+32x1o+32x1e+32x2o+32x2e", "0e+1o+2e", "32x0o+32x0e+32x1o+32x1e+32x2o+32x2e"},
  };
  uint64_t rng = 88172645463325252ULL;
  bench_graph_t graphs[2] = {bench_random_graph(20000, 400000, &rng), bench_md_graph(20000, 20, &rng)};
  const char *graph_name[2] = {"random", "md-like"};
  printf("L2 %.0f MB, %d warps in lockstep; DRAM GB of the conv backward (float32)\n", l2_mb, warps);
  printf("| problem | graph | edges | data GB (w, dw, x, dx, dz once) | %s | %s | %s |\n|---|---|---|---|---|---|---|\n",
         schedule_name[0], schedule_name[1], schedule_name[2]);
  for (int p = 0; p < 2; p++) {
    oeq_problem_t *prob = NULL;
    int64_t nx, ny, nz, nw;
    if (oeq_problem_create_channelwise(probs[p].in1, probs[p].in2, probs[p].out, &prob) ||
        oeq_problem_dims(prob, &nx, &ny, &nz) || oeq_problem_weight_numel(prob, &nw)) {
      fprintf(stderr, "%s: %s\n", probs[p].label, oeq_last_error());
      return 1;
    }
    oeq_problem_destroy(prob);
    const rows_t r = {(uint64_t)nx * 4, (uint64_t)nz * 4, (uint64_t)nw * 4};
    for (int k = 0; k < 2; k++) {
      const bench_graph_t *g = &graphs[k];
      const double data = 2.0 * (double)g->edges * (double)r.w + (double)g->nodes * (2.0 * (double)r.x + (double)r.dz);
      printf("| %s | %s | %lld | %.2f |", probs[p].label, graph_name[k], (long long)g->edges, data / 1e9);
      for (int s = 0; s < 3; s++) printf(" %.2f |", model(g, &r, (schedule_t)s, l2_mb * 1e6, warps) / 1e9);
      printf("\n");
      fflush(stdout);
    }
  }
  bench_graph_free(&graphs[0]), bench_graph_free(&graphs[1]);
  return 0;
}
