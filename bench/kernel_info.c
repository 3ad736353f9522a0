/* kernel_info.c: a developer's view of the generated kernels, no GPU needed.
 *
 * For the anchor problems of shared/bench/anchors.md (those whose label
 * contains the filter), compiles the TP (or conv) translation unit with
 * NVRTC and prints ptxas's resource lines per kernel: registers, spills,
 * stack. With --source, prints the generated source instead.
 * Usage: kernel_info [--conv] [--det] [--kahan] [--f64] [--sm N] [--source] [filter] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anchors.h"
#include "backend/cuda_api.h"
#include "codegen/conv_codegen.h"
#include "codegen/tp_codegen.h"
#include "problem.h"
#include "schedule.h"

typedef struct {
  int conv, det, kahan, f64, sm, source;
  const char *filter;
} options_t;

static int line_has(const char *line, int len, const char *needle) {
  const char *hit = strstr(line, needle);
  return hit && hit - line < len;
}

/* ptxas -v lines worth reading: which kernel, its registers, its spills. */
static void print_resources(const char *log) {
  for (const char *line = log; line && *line;) {
    const char *nl = strchr(line, '\n');
    int len = nl ? (int)(nl - line) : (int)strlen(line);
    if (line_has(line, len, "Compiling entry") || line_has(line, len, "spill") || line_has(line, len, "Used "))
      printf("    %.*s\n", len, line);
    line = nl ? nl + 1 : NULL;
  }
}

static int report(const anchor_t *a, const options_t *o) {
  oeq_error_t err = {0};
  oeq_problem_t *p = NULL;
  oeq_schedule_t *s = NULL;
  char *text = NULL;
  int rc = 1;
  if (anchor_problem(a, o->f64 ? OEQ_FLOAT64 : OEQ_FLOAT32, &p) != OEQ_SUCCESS ||
      oeq_schedule_build(p, &s, &err) != OEQ_SUCCESS) {
    fprintf(stderr, "%s: %s\n", a->label, err.message[0] ? err.message : oeq_last_error());
    goto done;
  }
  oeq_codegen_target_t target = {OEQ_DIALECT_CUDA, 4, 227 * 1024, o->sm};
  oeq_kernel_table_t table = {0};
  if (o->conv) {
    oeq_conv_options_t opt = {.deterministic = o->det || o->kahan, .kahan = o->kahan};
    oeq_conv_source_t src = {0};
    if (oeq_codegen_conv(s, &target, &opt, &src, &err) != OEQ_SUCCESS) goto fail;
    text = src.text;
    table = src.kernels;
    printf("%s conv (%s): %d forward items\n", a->label,
           o->kahan ? "kahan" : o->det ? "deterministic" : "atomic", src.forward_items);
  } else {
    oeq_tp_source_t src = {0};
    if (oeq_codegen_tp(s, &target, &src, &err) != OEQ_SUCCESS) goto fail;
    text = src.text;
    table = src.kernels;
    printf("%s tp: x/y/z/w per row %lld/%lld/%lld/%lld\n", a->label, (long long)s->x_dim,
           (long long)s->y_dim, (long long)s->z_dim, (long long)s->weight_numel);
  }
  for (int k = 0; k < table.count; k++) {
    const oeq_kernel_desc_t *d = &table.kernel[k];
    if (d->name)
      printf("  %s (part %d): %d threads, %d rows a block at a time, %zu bytes of shared memory%s\n",
             d->name, d->part, d->threads, d->rows_per_block, d->shared_bytes,
             d->grid_y > 1 ? ", several groups" : "");
  }
  if (o->source) {
    fputs(text, stdout);
    rc = 0;
    goto done;
  }
  const char *opts[] = {"--ptxas-options=-v"};
  void *bin = NULL;
  size_t size = 0;
  char *log = NULL;
  if (oeq_nvrtc_compile(text, o->sm, opts, 1, &bin, &size, &log, &err) != OEQ_SUCCESS) goto fail;
  print_resources(log);
  free(bin);
  free(log);
  rc = 0;
  goto done;
fail:
  fprintf(stderr, "%s: %s\n", a->label, err.message);
done:
  free(text);
  oeq_schedule_free(s);
  oeq_problem_destroy(p);
  return rc;
}

int main(int argc, char **argv) {
  options_t o = {.sm = 90};
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--conv")) o.conv = 1;
    else if (!strcmp(argv[i], "--det")) o.det = 1;
    else if (!strcmp(argv[i], "--kahan")) o.kahan = 1;
    else if (!strcmp(argv[i], "--f64")) o.f64 = 1;
    else if (!strcmp(argv[i], "--source")) o.source = 1;
    else if (!strcmp(argv[i], "--sm") && i + 1 < argc) o.sm = atoi(argv[++i]);
    else if (argv[i][0] == '-') {
      fprintf(stderr, "usage: %s [--conv] [--det] [--kahan] [--f64] [--sm N] [--source] [filter]\n", argv[0]);
      return 2;
    } else o.filter = argv[i];
  }
  oeq_error_t err;
  if (!oeq_nvrtc_api(&err)) {
    fprintf(stderr, "kernel_info: %s\n", err.message);
    return 1;
  }
  int rc = 0;
  for (int i = 0; i < N_ANCHORS; i++)
    if (!o.filter || strstr(anchors[i].label, o.filter)) rc |= report(&anchors[i], &o);
  return rc;
}
