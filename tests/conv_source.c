/* conv_source.c: prints the GPU source of a fused graph convolution
 * (lib/codegen/conv_codegen.h) for a channelwise problem, and writes to
 * FACTS the launch facts a host run needs (tests/conv_host.cpp), as C
 * macros and a table: codegen's kernel table (block size, work items a
 * block, dynamic shared bytes; absent kernels have no name), the warp,
 * forward_items, the segments of EDGES edges (forward and backward) and the
 * workspace layout the GPU backend would use for them, all through the
 * library's own functions, so the host launches exactly what
 * lib/backend/gpu_conv.c would.
 * Usage: conv_source IN1 IN2 FILTER f32|f64 cuda|hip atomic|det|kahan[-split]
 *                    edge|shared EDGES FACTS   (weights per edge or shared) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/conv_workspace.h"
#include "codegen/conv_codegen.h"
#include "schedule.h"

/* gpu_conv.c's workspace header (its HEADER_BYTES, private there). */
#define WORKSPACE_HEADER 256

static int write_facts(const char *path, const oeq_schedule_t *s, const oeq_conv_source_t *src,
                       const oeq_conv_options_t *opt, long long edges, oeq_error_t *err) {
  /* gpu_conv.c's workspace_layout(): slots as wide as the wider of x, z */
  const int64_t width = s->z_dim > s->x_dim ? s->z_dim : s->x_dim;
  const long long n_seg = edges > 0 ? oeq_conv_segments(edges) : 0;
  oeq_conv_ws_layout_t l;
  if (oeq_conv_ws_layout(WORKSPACE_HEADER, n_seg, width, s->weight_numel, opt->deterministic,
                         s->shared_weights, src->compute_size, &l, err))
    return 1;
  FILE *f = fopen(path, "w");
  if (!f) {
    snprintf(err->message, sizeof err->message, "cannot write %s", path);
    return 1;
  }
  fprintf(f,
          "/* launch facts of the conv source (tests/conv_source.c) */\n"
          "#define CONV_WARP %d\n#define CONV_WARPS_PER_BLOCK %d\n#define CONV_FORWARD_ITEMS %d\n"
          "#define CONV_COMPUTE_SIZE %zu\n#define CONV_DETERMINISTIC %d\n"
          "#define CONV_SHARED_WEIGHTS %d\n#define CONV_EDGES %lldLL\n#define CONV_SEG_LEN %lldLL\n"
          "#define CONV_N_SEG %lldLL\n#define CONV_WS_SLOTS_OFF %zu\n#define CONV_WS_DW_OFF %zu\n"
          "#define CONV_WS_TOTAL %zu\n#define CONV_FIXUP_ITEMS_FWD %d\n#define CONV_FIXUP_ITEMS_BWD %d\n"
          "#define CONV_BACKWARD_ITEMS %d\n#define CONV_N_SEG_BWD %lldLL\n#define CONV_SEG_LEN_BWD %lldLL\n",
          src->warp_size, src->warps_per_block, src->forward_items, src->compute_size,
          opt->deterministic, s->shared_weights, edges,
          (long long)oeq_conv_forward_segment_len(edges > 0 ? edges : 1, opt->deterministic),
          (long long)oeq_conv_forward_segments(edges, opt->deterministic), l.slots_off, l.dw_off,
          l.total, src->fixup_items[0], src->fixup_items[1], src->backward_items,
          (long long)oeq_conv_backward_segments(edges, opt->deterministic, s->shared_weights),
          (long long)oeq_conv_segment_len(edges > 0 ? edges : 1));
  fprintf(f,
          "enum { CONV_K_FORWARD = %d, CONV_K_BACKWARD = %d, CONV_K_FORWARD_FIXUP = %d,\n"
          "       CONV_K_BACKWARD_FIXUP = %d, CONV_K_DW_REDUCE = %d, CONV_K_CHECK = %d,\n"
          "       CONV_K_COUNT = %d };\n"
          "#define CONV_BAD_ROW %uu\n#define CONV_BAD_COL %uu\n",
          OEQ_CONV_K_FORWARD, OEQ_CONV_K_BACKWARD, OEQ_CONV_K_FORWARD_FIXUP,
          OEQ_CONV_K_BACKWARD_FIXUP, OEQ_CONV_K_DW_REDUCE, OEQ_CONV_K_CHECK, OEQ_CONV_K_COUNT,
          OEQ_CONV_BAD_ROW, OEQ_CONV_BAD_COL);
  fputs("struct conv_kernel { const char *name; int threads, rows_per_block; unsigned long shared_bytes;"
        " int grid_y; };\n"
        "static const conv_kernel conv_kernels[] = {\n",
        f);
  for (int k = 0; k < OEQ_CONV_K_COUNT; k++) {
    const oeq_kernel_desc_t *d = &src->kernels.kernel[k];
    if (d->name)
      fprintf(f, "  {\"%s\", %d, %d, %zuul, %d},\n", d->name, d->threads, d->rows_per_block,
              d->shared_bytes, d->grid_y);
    else
      fputs("  {nullptr, 0, 0, 0ul, 0},\n", f);
  }
  fputs("};\n", f);
  return fclose(f) != 0;
}

int main(int argc, char **argv) {
  if (argc != 10) {
    fprintf(stderr,
            "usage: %s IN1 IN2 FILTER f32|f64 cuda|hip atomic|det|kahan[-split] edge|shared EDGES FACTS\n",
            argv[0]);
    return 2;
  }
  const oeq_dtype_t dt = strcmp(argv[4], "f64") ? OEQ_FLOAT32 : OEQ_FLOAT64;
  const int hip = strcmp(argv[5], "hip") == 0;
  /* MODE: atomic, det or kahan; "-split" appended asks for the backward's
   * block split (taken where the problem allows it: CONV_BACKWARD_ITEMS) */
  const oeq_conv_options_t opt = {.deterministic = strncmp(argv[6], "atomic", 6) != 0,
                                  .kahan = strncmp(argv[6], "kahan", 5) == 0,
                                  .backward_split = strstr(argv[6], "-split") != NULL};
  oeq_problem_t *p = NULL;
  if (oeq_problem_create_channelwise(argv[1], argv[2], argv[3], &p) ||
      oeq_problem_set_dtypes(p, dt, dt) ||
      oeq_problem_set_shared_weights(p, strcmp(argv[7], "shared") == 0)) {
    fprintf(stderr, "%s\n", oeq_last_error());
    oeq_problem_destroy(p);
    return 1;
  }
  /* what oeq_gpu_conv_generate asks for on an H100 / a 64 KB HIP device */
  const oeq_codegen_target_t target = {hip ? OEQ_DIALECT_HIP : OEQ_DIALECT_CUDA, 4,
                                       hip ? 64 * 1024 : 227 * 1024, hip ? 0 : 90};
  oeq_schedule_t *s = NULL;
  oeq_conv_source_t src = {0};
  oeq_error_t err = {0};
  int status = 1;
  if (oeq_schedule_build(p, &s, &err) == OEQ_SUCCESS &&
      oeq_codegen_conv(s, &target, &opt, &src, &err) == OEQ_SUCCESS &&
      write_facts(argv[9], s, &src, &opt, atoll(argv[8]), &err) == 0) {
    fputs(src.text, stdout);
    status = 0;
  } else {
    fprintf(stderr, "%s\n", err.message);
  }
  free(src.text);
  oeq_schedule_free(s);
  oeq_problem_destroy(p);
  return status;
}
