/* conv_workspace.h: overflow-checked convolution workspace sizes.
 *
 * Pure arithmetic, no driver: the CPU backend's bucket array and the GPU
 * backends' layout (a header, per-segment slots, per-segment shared-weight
 * gradients) computed with every product and sum checked, so a huge edge
 * count is refused with a message instead of wrapping to a tiny size. */
#ifndef OEQ_CONV_WORKSPACE_H
#define OEQ_CONV_WORKSPACE_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

typedef struct oeq_conv_ws_layout {
  size_t slots_off, slots_bytes, dw_off, dw_bytes, total;
} oeq_conv_ws_layout_t;

/* GPU layout: header bytes, then (deterministic) segments x width slots of
 * elem_size, aligned to 256, then (shared weights) segments x weight_numel.
 * Fails with OEQ_ERROR_INVALID_ARGUMENT when a size overflows. */
oeq_status_t oeq_conv_ws_layout(size_t header, int64_t segments, int64_t width,
                                int64_t weight_numel, int deterministic, int shared,
                                size_t elem_size, oeq_conv_ws_layout_t *out, oeq_error_t *err);

/* CPU buckets: (n_buckets + 1 + edges) int64 offsets. */
oeq_status_t oeq_conv_bucket_bytes(int64_t n_buckets, int64_t edges, size_t *bytes,
                                   oeq_error_t *err);

#endif
