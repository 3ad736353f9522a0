/* anchors.h: the benchmark problems of shared/bench/anchors.md, for the
 * suites that compile generated source for every one of them (NVRTC and
 * hiprtc). Header-only: static data and one builder. */
#ifndef OEQ_TEST_ANCHORS_H
#define OEQ_TEST_ANCHORS_H

#include "oeq.h"

typedef struct anchor {
  const char *label, *in1, *in2, *out;
  int fully_connected, shared;
} anchor_t;

static const anchor_t anchors[] = {
    {"mace-large", "128x0e+128x1o+128x2e", "1x0e+1x1o+1x2e+1x3o", "0e+1o+2e+3o", 0, 0},
    {"mace-medium", "128x0e+128x1o", "1x0e+1x1o+1x2e+1x3o", "0e+1o+2e", 0, 0},
    {"nequip-lips", "32x0o+32x0e+32x1o+32x1e+32x2o+32x2e", "0e+1o+2e",
     "32x0o+32x0e+32x1o+32x1e+32x2o+32x2e", 0, 0},
    {"nequip-revmd17-aspirin", "64x0o+64x0e+64x1o+64x1e", "0e+1o", "64x0o+64x0e+64x1o+64x1e", 0, 0},
    {"nequip-revmd17-toluene", "64x0o+64x0e+64x1o+64x1e+64x2o+64x2e", "0e+1o+2e",
     "64x0o+64x0e+64x1o+64x1e+64x2o+64x2e", 0, 0},
    {"nequip-revmd17-benzene", "64x0o+64x0e+64x1o+64x1e+64x2o+64x2e+64x3o+64x3e", "0e+1o+2e+3o",
     "64x0o+64x0e+64x1o+64x1e+64x2o+64x2e+64x3o+64x3e", 0, 0},
    {"nequip-water", "32x0o+32x0e+32x1o+32x1e", "0e+1o", "32x0o+32x0e+32x1o+32x1e", 0, 0},
    {"nequix-mp-1-first_layer", "89x0e", "1x0e+1x1o+1x2e+1x3o", "89x0e+89x1o+89x2e+89x3o", 0, 0},
    {"nequix-mp-1-main_layers", "128x0e+64x1o+32x2e+32x3o", "1x0e+1x1o+1x2e+1x3o", "0e+1o+2e+3o", 0, 0},
    {"nequix-mp-1-last_layer", "128x0e+64x1o+32x2e+32x3o", "1x0e+1x1o+1x2e+1x3o", "0e", 0, 0},
    {"SevenNet_l3i5-first-layer", "128x0e", "1x0e+1x1e+1x2e+1x3e", "0e+1e+2e+3e", 0, 0},
    {"SevenNet_l3i5-main-layers", "128x0e+64x1e+32x2e+32x3e", "1x0e+1x1e+1x2e+1x3e", "0e+1e+2e+3e", 0, 0},
    {"SevenNet_l3i5-last-layer", "128x0e+64x1e+32x2e+32x3e", "1x0e+1x1e+1x2e+1x3e", "0e", 0, 0},
    {"DiffDock-L=1", "10x1o+10x1e+48x0e+48x0o", "1x0e+1x1o", "10x1o+10x1e+48x0e+48x0o", 1, 0},
    {"DiffDock-L=2", "10x1o+10x1e+48x0e+48x0o", "1x0e+1x1o+1x2e", "10x1o+10x1e+48x0e+48x0o", 1, 0},
    {"tetris-poly-1", "1x0e+1x1o+1x2e+1x3o", "1x0e+1x1o+1x2e+1x3o", "64x0e+24x1e+24x1o+16x2e+16x2o", 1, 1},
    {"tetris-poly-2", "64x0e+24x1e+24x1o+16x2e+16x2o", "1x0e+1x1o+1x2e", "0o+6x0e", 1, 1},
    {"e3tools_conv", "64x0e+16x1o", "1x0e+1x1o", "80x0e+16x1o", 1, 0},
    {"e3tools_transformer", "64x0e+16x1o", "1x0e+1x1o", "64x0e+16x1o", 1, 1},
};

#define N_ANCHORS ((int)(sizeof anchors / sizeof anchors[0]))

/* The anchor as an oeq problem in dtype t (irreps and weights), built the
 * way anchors.md says (MACE channelwise or e3nn fully connected). */
static inline oeq_status_t anchor_problem(const anchor_t *a, oeq_dtype_t t, oeq_problem_t **p) {
  oeq_status_t st = a->fully_connected ? oeq_problem_create_fully_connected(a->in1, a->in2, a->out, p)
                                       : oeq_problem_create_channelwise(a->in1, a->in2, a->out, p);
  if (st != OEQ_SUCCESS) return st;
  oeq_problem_set_dtypes(*p, t, t);
  return oeq_problem_set_shared_weights(*p, a->shared);
}

#endif
