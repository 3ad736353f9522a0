/* conv_workspace.c: overflow-checked convolution workspace sizes. */
#include "backend/conv_workspace.h"

#include "checked.h"

static oeq_status_t too_large(oeq_error_t *err, int64_t segments, int64_t width) {
  return oeq_fail(err, OEQ_ERROR_INVALID_ARGUMENT,
                  "the convolution workspace for %lld segments of %lld elements overflows",
                  (long long)segments, (long long)width);
}

oeq_status_t oeq_conv_ws_layout(size_t header, int64_t segments, int64_t width,
                                int64_t weight_numel, int deterministic, int shared,
                                size_t elem_size, oeq_conv_ws_layout_t *out, oeq_error_t *err) {
  oeq_conv_ws_layout_t l = {0};
  int64_t n;
  l.slots_off = header;
  if (deterministic &&
      (oeq_mul_i64(segments, width, &n) || oeq_bytes(n, elem_size, &l.slots_bytes)))
    return too_large(err, segments, width);
  if (shared && (oeq_mul_i64(segments, weight_numel, &n) || oeq_bytes(n, elem_size, &l.dw_bytes)))
    return too_large(err, segments, weight_numel);
  size_t rounded;
  /* The dw block starts at a 256-byte boundary after the slots. */
  if (oeq_add_size(l.slots_bytes, 255, &rounded) || oeq_add_size(l.slots_off, rounded & ~(size_t)255, &l.dw_off) ||
      oeq_add_size(l.dw_off, l.dw_bytes, &l.total))
    return too_large(err, segments, width);
  *out = l;
  return OEQ_SUCCESS;
}

oeq_status_t oeq_conv_bucket_bytes(int64_t n_buckets, int64_t edges, size_t *bytes,
                                   oeq_error_t *err) {
  int64_t n;
  if (n_buckets < 0 || edges < 0 || oeq_add_i64(n_buckets, edges, &n) || oeq_add_i64(n, 1, &n) ||
      oeq_bytes(n, sizeof(int64_t), bytes))
    return oeq_fail(err, OEQ_ERROR_INVALID_ARGUMENT,
                    "the convolution workspace for %lld rows and %lld edges overflows",
                    (long long)n_buckets, (long long)edges);
  return OEQ_SUCCESS;
}
