/* cpu_threads.h: the OpenMP facts the CPU backend's per-thread scratch
 * needs, and their serial values when the library is built without
 * OpenMP. */
#ifndef OEQ_CPU_THREADS_H
#define OEQ_CPU_THREADS_H

#ifdef _OPENMP
#include <omp.h>
#endif

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

#endif
