/* mace_demo.c: the main job. Runs a MACE-sized channelwise tensor product
 * (mace-large: 128x0e+128x1o+128x2e x 0e+1o+2e+3o) forward and backward on
 * the default backend (the GPU if there is one, else the CPU) and prints
 * its throughput in rows per second.
 *
 *   usage: mace_demo [batch] [repeats]
 *
 * On a GPU the arrays must live in device memory; this program talks to the
 * CUDA driver through dlopen (as oeq itself does), so it builds anywhere. */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "oeq.h"

/* The handful of driver calls a caller needs to own device arrays. */
typedef int (*cu_init_t)(unsigned);
typedef int (*cu_device_get_t)(int *, int);
typedef int (*cu_ctx_retain_t)(void **, int);
typedef int (*cu_ctx_set_t)(void *);
typedef int (*cu_alloc_t)(uint64_t *, size_t);
typedef int (*cu_free_t)(uint64_t);
typedef int (*cu_htod_t)(uint64_t, const void *, size_t);
typedef int (*cu_sync_t)(void);

typedef struct {
  cu_alloc_t alloc;
  cu_free_t free;
  cu_htod_t htod;
  cu_sync_t sync;
} device_api_t;

static int device_open(device_api_t *api) {
  void *lib = dlopen("libcuda.so.1", RTLD_NOW);
  if (!lib) return -1;
  cu_init_t init = (cu_init_t)dlsym(lib, "cuInit");
  cu_device_get_t get = (cu_device_get_t)dlsym(lib, "cuDeviceGet");
  cu_ctx_retain_t retain = (cu_ctx_retain_t)dlsym(lib, "cuDevicePrimaryCtxRetain");
  cu_ctx_set_t set = (cu_ctx_set_t)dlsym(lib, "cuCtxSetCurrent");
  api->alloc = (cu_alloc_t)dlsym(lib, "cuMemAlloc_v2");
  api->free = (cu_free_t)dlsym(lib, "cuMemFree_v2");
  api->htod = (cu_htod_t)dlsym(lib, "cuMemcpyHtoD_v2");
  api->sync = (cu_sync_t)dlsym(lib, "cuCtxSynchronize");
  int dev;
  void *ctx;
  if (!init || !get || !retain || !set || !api->alloc || !api->free || !api->htod || !api->sync)
    return -1;
  if (init(0) || get(&dev, 0) || retain(&ctx, dev) || set(ctx)) return -1;
  return 0;
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void fill(float *v, int64_t n, uint64_t seed) {
  for (int64_t i = 0; i < n; i++) {
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    v[i] = (float)((double)(seed >> 40) / (double)(1u << 24) * 2.0 - 1.0);
  }
}

#define CHECK(call)                                                                     \
  do {                                                                                  \
    oeq_status_t s_ = (call);                                                           \
    if (s_ != OEQ_SUCCESS) {                                                            \
      fprintf(stderr, "%s failed: %s: %s\n", #call, oeq_status_string(s_), oeq_last_error()); \
      return 1;                                                                         \
    }                                                                                   \
  } while (0)

int main(int argc, char **argv) {
  oeq_problem_t *problem;
  oeq_plan_t *plan;
  CHECK(oeq_problem_create_channelwise("128x0e+128x1o+128x2e", "0e+1o+2e+3o", "0e+1o+2e+3o", &problem));
  CHECK(oeq_plan_create_tp(problem, OEQ_BACKEND_AUTO, 0, &plan));
  oeq_backend_t backend;
  CHECK(oeq_plan_backend(plan, &backend));
  int gpu = backend == OEQ_BACKEND_CUDA;
  int64_t batch = argc > 1 ? atoll(argv[1]) : gpu ? 50000 : 2000;
  int repeats = argc > 2 ? atoi(argv[2]) : gpu ? 50 : 3;
  int64_t d1, d2, d3, nw;
  CHECK(oeq_problem_dims(problem, &d1, &d2, &d3));
  CHECK(oeq_problem_weight_numel(problem, &nw));
  oeq_problem_destroy(problem);

  int64_t counts[7] = {batch * d1, batch * d2, batch * nw, batch * d3, batch * d1, batch * d2, batch * nw};
  void *arrays[7];
  device_api_t api = {0};
  if (gpu && device_open(&api) != 0) {
    fprintf(stderr, "mace_demo: the plan is on the GPU but the driver could not be opened\n");
    return 1;
  }
  for (int i = 0; i < 7; i++) {
    float *host = malloc((size_t)counts[i] * sizeof *host);
    if (!host) return 1;
    fill(host, counts[i], 1234 + (uint64_t)i);
    if (gpu) {
      uint64_t d;
      if (api.alloc(&d, (size_t)counts[i] * 4) || api.htod(d, host, (size_t)counts[i] * 4)) return 1;
      arrays[i] = (void *)(uintptr_t)d;
      free(host);
    } else {
      arrays[i] = host;
    }
  }
  void *x = arrays[0], *y = arrays[1], *w = arrays[2], *z = arrays[3], *dx = arrays[4],
       *dy = arrays[5], *dw = arrays[6];
  /* dz: reuse z's values as the incoming gradient. */
  CHECK(oeq_tp_forward(plan, batch, x, y, w, z, NULL));
  if (gpu) api.sync();
  double t0 = now();
  for (int r = 0; r < repeats; r++) CHECK(oeq_tp_forward(plan, batch, x, y, w, z, NULL));
  if (gpu) api.sync();
  double t_fwd = (now() - t0) / repeats;
  t0 = now();
  for (int r = 0; r < repeats; r++) CHECK(oeq_tp_backward(plan, batch, x, y, w, z, dx, dy, dw, NULL));
  if (gpu) api.sync();
  double t_bwd = (now() - t0) / repeats;

  printf("oeq %s, backend %s: mace-large channelwise TP (%lld x %lld -> %lld, %lld weights/row), float32\n",
         oeq_version(), gpu ? "cuda" : "cpu", (long long)d1, (long long)d2, (long long)d3, (long long)nw);
  printf("batch %lld, %d repeats\n", (long long)batch, repeats);
  printf("forward : %9.3f ms  %12.0f rows/s\n", 1e3 * t_fwd, (double)batch / t_fwd);
  printf("backward: %9.3f ms  %12.0f rows/s\n", 1e3 * t_bwd, (double)batch / t_bwd);
  for (int i = 0; i < 7; i++) {
    if (gpu)
      api.free((uint64_t)(uintptr_t)arrays[i]);
    else
      free(arrays[i]);
  }
  oeq_plan_destroy(plan);
  return 0;
}
