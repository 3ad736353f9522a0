/* cpu_threads.h: the OpenMP facts the CPU backend's per-thread scratch
 * needs (their serial values when the library is built without OpenMP),
 * and that scratch: canonical double rows, one set per thread. */
#ifndef OEQ_CPU_THREADS_H
#define OEQ_CPU_THREADS_H

#include <stdint.h>
#include <stdlib.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "checked.h"
#include "schedule.h" /* oeq_dtype_size */
#include "status.h"

/* Threads a parallel region may use (scratch rows to allocate). */
static inline int oeq_cpu_max_threads(void) {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

/* This thread's index inside a parallel region. */
static inline int oeq_cpu_thread_id(void) {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

/* Scratch rows: per_thread doubles for each of `threads` threads. */
typedef struct oeq_cpu_scratch {
  double *block; /* free() it */
  int threads;
  int64_t per_thread;
} oeq_cpu_scratch_t;

/* Rows of fixed + weight_rows x weight_numel doubles (plus one) a thread,
 * the sizes checked: weight_numel is bounded only by int64_t. */
static inline oeq_status_t oeq_cpu_scratch_alloc(int64_t weight_numel, int64_t fixed,
                                                 int64_t weight_rows, oeq_cpu_scratch_t *sc,
                                                 oeq_error_t *err) {
  sc->threads = oeq_cpu_max_threads();
  int64_t w, n;
  size_t bytes;
  if (oeq_mul_i64(weight_numel, weight_rows, &w) || oeq_add_i64(fixed + 1, w, &sc->per_thread) ||
      oeq_mul_i64(sc->per_thread, sc->threads, &n) || oeq_bytes(n, sizeof(double), &bytes))
    return oeq_fail(err, OEQ_ERROR_INVALID_ARGUMENT,
                    "the CPU scratch rows (weight_numel = %lld) overflow a size",
                    (long long)weight_numel);
  sc->block = malloc(bytes);
  if (!sc->block) return oeq_fail(err, OEQ_ERROR_OUT_OF_MEMORY, "out of memory for CPU scratch rows");
  return OEQ_SUCCESS;
}

/* Thread t's rows. */
static inline double *oeq_cpu_scratch_of(const oeq_cpu_scratch_t *sc, int t) {
  return sc->block + (int64_t)t * sc->per_thread;
}

/* Row `row` of an array of rows `width` elements wide. */
static inline const void *oeq_cpu_row(const void *base, int64_t row, int64_t width, oeq_dtype_t t) {
  return (const char *)base + (size_t)(row * width) * oeq_dtype_size(t);
}
static inline void *oeq_cpu_row_mut(void *base, int64_t row, int64_t width, oeq_dtype_t t) {
  return (char *)base + (size_t)(row * width) * oeq_dtype_size(t);
}

#endif
