/* checked.h: size arithmetic that reports overflow instead of wrapping.
 *
 * Every size product in the library (batch x row width, rows x bytes,
 * weights per path) goes through these so a huge count is rejected with a
 * message rather than wrapped into a small allocation. Each returns 0 and
 * stores the result when it fits, 1 (leaving *out untouched) when not. */
#ifndef OEQ_CHECKED_H
#define OEQ_CHECKED_H

#include <stddef.h>
#include <stdint.h>

static inline int oeq_mul_i64(int64_t a, int64_t b, int64_t *out) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) return 1;
  *out = r;
  return 0;
}

static inline int oeq_add_i64(int64_t a, int64_t b, int64_t *out) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) return 1;
  *out = r;
  return 0;
}

/* a * b * c, all non-negative. */
static inline int oeq_mul3_i64(int64_t a, int64_t b, int64_t c, int64_t *out) {
  int64_t ab;
  return oeq_mul_i64(a, b, &ab) || oeq_mul_i64(ab, c, out);
}

/* count elements of `size` bytes as a size_t byte count (count >= 0). */
static inline int oeq_bytes(int64_t count, size_t size, size_t *out) {
  size_t r;
  if (count < 0 || (uint64_t)count > SIZE_MAX || __builtin_mul_overflow((size_t)count, size, &r))
    return 1;
  *out = r;
  return 0;
}

static inline int oeq_add_size(size_t a, size_t b, size_t *out) {
  size_t r;
  if (__builtin_add_overflow(a, b, &r)) return 1;
  *out = r;
  return 0;
}

#endif
