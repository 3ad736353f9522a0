/* cuda_image.c: generated CUDA source -> CUBIN, through the kernel cache
 * (memory, then disk), compiling with NVRTC only on a miss. Shared by the
 * tensor-product and convolution plans. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "backend/cuda_api.h"
#include "backend/kcache.h"
#include "status.h"

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

oeq_status_t oeq_cuda_cached_image(const char *source, int sm, const char *what, void **image,
                                   size_t *size, oeq_error_t *err) {
  const oeq_nvrtc_api_t *nv = oeq_nvrtc_api(err);
  if (!nv) return OEQ_ERROR_BACKEND_UNAVAILABLE;
  int major = 0, minor = 0;
  nv->nvrtcVersion(&major, &minor);
  char target[32], compiler[32];
  snprintf(target, sizeof target, "cuda sm_%d", sm);
  snprintf(compiler, sizeof compiler, "nvrtc %d.%d", major, minor);
  oeq_kcache_key_t key;
  oeq_kcache_make_key(&key, source, target, compiler);
  if (oeq_kcache_lookup(&key, image, size)) return OEQ_SUCCESS;
  double t0 = now_ms();
  oeq_status_t st = oeq_nvrtc_compile(source, sm, NULL, 0, image, size, NULL, err);
  if (st != OEQ_SUCCESS) return st;
  oeq_log("compiled %s kernels for sm_%d with %s in %.0f ms (%zu bytes of source)", what, sm,
          compiler, now_ms() - t0, strlen(source));
  oeq_kcache_store(&key, *image, *size);
  return OEQ_SUCCESS;
}
