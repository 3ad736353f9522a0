/* kcache_compile.c: a compile behind the kernel cache, the one path every
 * GPU runtime takes from generated source to a binary image. */
#include <string.h>
#include <time.h>

#include "backend/kcache.h"

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

oeq_status_t oeq_kcache_compile(const oeq_kcache_job_t *job, void **image, size_t *size,
                                int *cached, oeq_error_t *err) {
  oeq_kcache_key_t key;
  oeq_kcache_make_key(&key, job->source, job->target, job->compiler);
  if (cached) *cached = 0;
  if (job->refresh)
    oeq_kcache_evict(&key);
  else if (oeq_kcache_lookup(&key, image, size)) {
    if (cached) *cached = 1;
    return OEQ_SUCCESS;
  }
  const double t0 = now_ms();
  oeq_status_t st = job->build(job->source, job->arg, image, size, err);
  if (st != OEQ_SUCCESS) return st;
  oeq_log("compiled %s kernels for %s with %s in %.0f ms (%zu bytes of source)", job->what,
          job->target, job->compiler, now_ms() - t0, strlen(job->source));
  oeq_kcache_store(&key, *image, *size);
  return OEQ_SUCCESS;
}
