/* describe.c: oeq_problem_describe, a JSON view of a problem for people. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "problem.h"
#include "symcon.h"

typedef struct {
  char *buf;
  size_t len, used;
} json_out_t;

static void put(json_out_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(json_out_t *o, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  size_t room = o->used < o->len ? o->len - o->used : 0;
  int n = vsnprintf(room ? o->buf + o->used : NULL, room, fmt, ap);
  va_end(ap);
  if (n > 0) o->used += (size_t)n;
}

static void put_irreps(json_out_t *o, const char *key, const oeq_irreps_t *irreps) {
  int n = oeq_irreps_format(irreps, NULL, 0);
  char *text = malloc((size_t)n + 1);
  if (text) oeq_irreps_format(irreps, text, (size_t)n + 1);
  put(o, "  \"%s\": {\"irreps\": \"%s\", \"dim\": %lld},\n", key, text ? text : "?",
      (long long)oeq_irreps_dim(irreps));
  free(text);
}

static const char *dtype_name(oeq_dtype_t d) { return d == OEQ_FLOAT64 ? "float64" : "float32"; }

size_t oeq_problem_write_json(const oeq_problem_t *p, const double *coefficients,
                              const int64_t *w_offsets, char *buf, size_t len) {
  static const char *irrep_norms[] = {"component", "norm", "none"};
  static const char *path_norms[] = {"element", "path", "none"};
  if (p->symcon) return oeq_symcon_write_json(p->symcon, buf, len);
  json_out_t o = {buf, len, 0};
  if (buf && len) buf[0] = '\0';
  put(&o, "{\n");
  put_irreps(&o, "in1", &p->in1);
  put_irreps(&o, "in2", &p->in2);
  put_irreps(&o, "out", &p->out);
  put(&o, "  \"irrep_dtype\": \"%s\", \"weight_dtype\": \"%s\",\n", dtype_name(p->irrep_dtype),
      dtype_name(p->weight_dtype));
  put(&o, "  \"shared_weights\": %s, \"layout\": \"%s\",\n", p->shared_weights ? "true" : "false",
      p->layout == OEQ_LAYOUT_MUL_IR ? "mul_ir" : "ir_mul");
  put(&o, "  \"irrep_normalization\": \"%s\", \"path_normalization\": \"%s\",\n",
      irrep_norms[p->irrep_norm], path_norms[p->path_norm]);
  put(&o, "  \"weight_numel\": %lld,\n", (long long)oeq_problem_weight_count(p));
  put(&o, "  \"instructions\": [");
  for (int k = 0; k < p->n_instructions; k++) {
    const oeq_instruction_t *ins = &p->instructions[k];
    put(&o,
        "%s\n    {\"i_in1\": %d, \"i_in2\": %d, \"i_out\": %d, \"mode\": \"%s\", "
        "\"has_weight\": %s, \"path_weight\": %.17g, \"coefficient\": %.17g, "
        "\"weight_offset\": %lld, \"weight_count\": %lld}",
        k ? "," : "", ins->i_in1, ins->i_in2, ins->i_out, oeq_mode_name(ins->mode),
        ins->has_weight ? "true" : "false", ins->path_weight, coefficients[k],
        (long long)w_offsets[k],
        (long long)(ins->has_weight ? oeq_instruction_weight_count(p, ins) : 0));
  }
  put(&o, "%s]\n}\n", p->n_instructions ? "\n  " : "");
  return o.used;
}

oeq_status_t oeq_problem_describe_json(const oeq_problem_t *p, char *buf, size_t len, size_t *needed,
                                       oeq_error_t *err) {
  size_t n = (size_t)(p->n_instructions > 0 ? p->n_instructions : 1);
  double *coefficients = malloc(n * sizeof *coefficients);
  int64_t *w_offsets = malloc(n * sizeof *w_offsets);
  oeq_status_t s = coefficients && w_offsets
                       ? oeq_problem_coefficients(p, coefficients, w_offsets, err)
                       : oeq_fail(err, OEQ_ERROR_OUT_OF_MEMORY, "out of memory describing a problem");
  /* Nothing is written on failure (a non-finite coefficient is not JSON). */
  if (s == OEQ_SUCCESS) {
    size_t used = oeq_problem_write_json(p, coefficients, w_offsets, buf, len);
    if (needed) *needed = used;
  }
  free(coefficients);
  free(w_offsets);
  return s;
}
