/* ptr_memo.h: device addresses a GPU plan has already checked.
 *
 * Each array of a GPU call is checked for host memory (abi.md: misuse is
 * caught where it is cheap) with a driver query (cuPointerGetAttribute /
 * hipPointerGetAttributes, plus the context switch around it): four such
 * queries a forward, seven a backward, against a few microseconds for the
 * launch itself. Callers pass the same arrays step after step, so a plan
 * remembers the last addresses that passed and queries only new ones.
 *
 * An address that passed lies in the driver's unified address space of
 * device (or page-locked) allocations, which the driver keeps reserved
 * when such memory is freed and hands out again itself, not to malloc: a
 * remembered address stays one a kernel can reach. The check is a courtesy
 * (a clear error instead of a faulting kernel) that the memo only ever
 * skips; it never fails a call. OEQ_PTR_MEMO=0 at build time turns it off.
 *
 * A direct-mapped table of atomics: plans run from many threads at once
 * (abi.md), and a lost update only costs one more query. */
#ifndef OEQ_PTR_MEMO_H
#define OEQ_PTR_MEMO_H

#include <stdatomic.h>
#include <stdint.h>
#include "codegen/tuning.h"

#define OEQ_PTR_MEMO_SLOTS 16

typedef struct oeq_ptr_memo {
  _Atomic uintptr_t slot[OEQ_PTR_MEMO_SLOTS];
} oeq_ptr_memo_t;

/* Allocations are at least 256-byte aligned: mix the bits above that. */
static inline unsigned oeq_ptr_memo_index(uintptr_t p) {
  return (unsigned)((p >> 8) ^ (p >> 13) ^ (p >> 21)) % OEQ_PTR_MEMO_SLOTS;
}

static inline int oeq_ptr_memo_has(oeq_ptr_memo_t *m, const void *ptr) {
  const uintptr_t p = (uintptr_t)ptr;
  if (!OEQ_PTR_MEMO) return 0;
  return atomic_load_explicit(&m->slot[oeq_ptr_memo_index(p)], memory_order_relaxed) == p;
}

static inline void oeq_ptr_memo_add(oeq_ptr_memo_t *m, const void *ptr) {
  const uintptr_t p = (uintptr_t)ptr;
  atomic_store_explicit(&m->slot[oeq_ptr_memo_index(p)], p, memory_order_relaxed);
}

#endif
