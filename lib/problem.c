/* problem.c: the problem model: instructions, e3nn normalization and the
 * flat weight layout (conventions.md A3). */
#include "problem.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "checked.h"
#include "symcon.h"

const char *oeq_mode_name(oeq_mode_t mode) {
  switch (mode) {
    case OEQ_MODE_UVW: return "uvw";
    case OEQ_MODE_UVU: return "uvu";
    case OEQ_MODE_UVV: return "uvv";
    case OEQ_MODE_UUW: return "uuw";
    case OEQ_MODE_UUU: return "uuu";
    case OEQ_MODE_UVUV: return "uvuv";
  }
  return "?";
}

size_t oeq_dtype_size(oeq_dtype_t dtype) { return dtype == OEQ_FLOAT64 ? 8 : 4; }

static double *ones(int n) {
  double *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
  if (v)
    for (int i = 0; i < n; i++) v[i] = 1.0;
  return v;
}

oeq_status_t oeq_problem_new(const char *in1, const char *in2, const char *out,
                             oeq_problem_t **problem, oeq_error_t *err) {
  oeq_problem_t *p = calloc(1, sizeof *p);
  if (!p) return oeq_fail(err, OEQ_ERROR_OUT_OF_MEMORY, "out of memory creating a problem");
  oeq_status_t s = oeq_irreps_parse(in1, &p->in1, err);
  if (s == OEQ_SUCCESS) s = oeq_irreps_parse(in2, &p->in2, err);
  if (s == OEQ_SUCCESS) s = oeq_irreps_parse(out, &p->out, err);
  if (s != OEQ_SUCCESS) {
    oeq_problem_free(p);
    return s;
  }
  p->irrep_dtype = p->weight_dtype = OEQ_FLOAT32;
  p->shared_weights = 1;
  p->irrep_norm = OEQ_IRREP_NORM_COMPONENT;
  p->path_norm = OEQ_PATH_NORM_ELEMENT;
  p->layout = OEQ_LAYOUT_MUL_IR;
  p->in1_var = ones(p->in1.len);
  p->in2_var = ones(p->in2.len);
  p->out_var = ones(p->out.len);
  if (!p->in1_var || !p->in2_var || !p->out_var) {
    oeq_problem_free(p);
    return oeq_fail(err, OEQ_ERROR_OUT_OF_MEMORY, "out of memory creating a problem");
  }
  *problem = p;
  return OEQ_SUCCESS;
}

void oeq_problem_free(oeq_problem_t *p) {
  if (!p) return;
  oeq_irreps_free(&p->in1);
  oeq_irreps_free(&p->in2);
  oeq_irreps_free(&p->out);
  free(p->instructions);
  free(p->in1_var);
  free(p->in2_var);
  free(p->out_var);
  oeq_symcon_free(p->symcon);
  free(p);
}

/* Largest accepted path_weight: alpha * path_weight stays far from DBL_MAX
 * (alpha <= 49^2 / fan-in), leaving room for variances. */
#define PATH_WEIGHT_MAX 1e200

/* Checks one instruction against the irreps, with e3nn's assertions. */
static oeq_status_t validate(const oeq_problem_t *p, const oeq_instruction_t *ins, oeq_error_t *err) {
  if ((unsigned)ins->mode > OEQ_MODE_UVUV)
    return oeq_fail(err, OEQ_ERROR_INVALID_ARGUMENT, "mode %d is not an oeq_mode_t", (int)ins->mode);
  if (ins->i_in1 < 0 || ins->i_in1 >= p->in1.len)
    return oeq_fail(err, OEQ_ERROR_INVALID_PROBLEM, "i_in1 = %d out of range (irreps_in1 has %d entries)",
                    ins->i_in1, p->in1.len);
  if (ins->i_in2 < 0 || ins->i_in2 >= p->in2.len)
    return oeq_fail(err, OEQ_ERROR_INVALID_PROBLEM, "i_in2 = %d out of range (irreps_in2 has %d entries)",
                    ins->i_in2, p->in2.len);
  if (ins->i_out < 0 || ins->i_out >= p->out.len)
    return oeq_fail(err, OEQ_ERROR_INVALID_PROBLEM, "i_out = %d out of range (irreps_out has %d entries)",
                    ins->i_out, p->out.len);
  if (!(ins->path_weight >= 0.0) || isinf(ins->path_weight))
    return oeq_fail(err, OEQ_ERROR_INVALID_ARGUMENT,
                    "path_weight %g must be finite and >= 0 (it enters a square root)", ins->path_weight);
  /* The coefficient is sqrt(alpha * path_weight) with alpha up to
   * (2 OEQ_IRREPS_L_MAX + 1)^2: a finite but huge weight would give inf. */
  if (ins->path_weight > PATH_WEIGHT_MAX)
    return oeq_fail(err, OEQ_ERROR_INVALID_ARGUMENT,
                    "path_weight %g is larger than %g (its coefficient would not be finite)",
                    ins->path_weight, PATH_WEIGHT_MAX);
  const oeq_irrep_term_t *a = &p->in1.terms[ins->i_in1], *b = &p->in2.terms[ins->i_in2],
                         *c = &p->out.terms[ins->i_out];
  char pa = a->parity > 0 ? 'e' : 'o', pb = b->parity > 0 ? 'e' : 'o', pc = c->parity > 0 ? 'e' : 'o';
  if (a->parity * b->parity != c->parity)
    return oeq_fail(err, OEQ_ERROR_INVALID_PROBLEM, "parity rule broken: %d%c x %d%c cannot give %d%c",
                    a->l, pa, b->l, pb, c->l, pc);
  if (!oeq_irrep_in_product(a->l, a->parity, b->l, b->parity, c->l, c->parity))
    return oeq_fail(err, OEQ_ERROR_INVALID_PROBLEM,
                    "triangle rule broken: %d%c x %d%c cannot give %d%c (|l1-l2| <= l_out <= l1+l2)",
                    a->l, pa, b->l, pb, c->l, pc);
  int64_t m1 = a->mul, m2 = b->mul, mo = c->mul;
  const char *mode = oeq_mode_name(ins->mode);
  switch (ins->mode) {
    case OEQ_MODE_UVW:
      if (!ins->has_weight)
        return oeq_fail(err, OEQ_ERROR_INVALID_PROBLEM, "uvw needs weights (has_weight = 0)");
      break;
    case OEQ_MODE_UVU:
      if (m1 != mo)
        return oeq_fail(err, OEQ_ERROR_INVALID_PROBLEM, "%s needs mul_in1 == mul_out (%lld != %lld)",
                        mode, (long long)m1, (long long)mo);
      break;
    case OEQ_MODE_UVV:
      if (m2 != mo)
        return oeq_fail(err, OEQ_ERROR_INVALID_PROBLEM, "%s needs mul_in2 == mul_out (%lld != %lld)",
                        mode, (long long)m2, (long long)mo);
      break;
    case OEQ_MODE_UUW:
      if (m1 != m2)
        return oeq_fail(err, OEQ_ERROR_INVALID_PROBLEM, "%s needs mul_in1 == mul_in2 (%lld != %lld)",
                        mode, (long long)m1, (long long)m2);
      if (!ins->has_weight && mo != 1)
        return oeq_fail(err, OEQ_ERROR_INVALID_PROBLEM,
                        "uuw without weights needs mul_out == 1 (it is %lld)", (long long)mo);
      break;
    case OEQ_MODE_UUU:
      if (m1 != m2 || m1 != mo)
        return oeq_fail(err, OEQ_ERROR_INVALID_PROBLEM,
                        "uuu needs mul_in1 == mul_in2 == mul_out (%lld, %lld, %lld)", (long long)m1,
                        (long long)m2, (long long)mo);
      break;
    case OEQ_MODE_UVUV:
      if (m1 * m2 != mo)
        return oeq_fail(err, OEQ_ERROR_INVALID_PROBLEM,
                        "uvuv needs mul_in1 * mul_in2 == mul_out (%lld * %lld != %lld)", (long long)m1,
                        (long long)m2, (long long)mo);
      break;
  }
  return OEQ_SUCCESS;
}

/* Weights of one instruction, or -1 if the product overflows int64_t. */
static int64_t checked_weight_count(const oeq_problem_t *p, const oeq_instruction_t *ins) {
  int64_t m1 = p->in1.terms[ins->i_in1].mul, m2 = p->in2.terms[ins->i_in2].mul,
          mo = p->out.terms[ins->i_out].mul, n = -1;
  switch (ins->mode) {
    case OEQ_MODE_UVW: return oeq_mul3_i64(m1, m2, mo, &n) ? -1 : n;
    case OEQ_MODE_UVU:
    case OEQ_MODE_UVV:
    case OEQ_MODE_UVUV: return oeq_mul_i64(m1, m2, &n) ? -1 : n;
    case OEQ_MODE_UUW: return oeq_mul_i64(m1, mo, &n) ? -1 : n;
    case OEQ_MODE_UUU: return m1;
  }
  return -1;
}

/* The weight total stays representable: weight_numel and every offset. */
static oeq_status_t check_weight_total(const oeq_problem_t *p, const oeq_instruction_t *ins,
                                       oeq_error_t *err) {
  if (!ins->has_weight) return OEQ_SUCCESS;
  int64_t n = checked_weight_count(p, ins), total;
  if (n < 0 || oeq_add_i64(p->weight_numel, n, &total))
    return oeq_fail(err, OEQ_ERROR_INVALID_ARGUMENT,
                    "the weight count (weight_numel) would overflow a 64-bit integer");
  return OEQ_SUCCESS;
}

oeq_status_t oeq_problem_append(oeq_problem_t *p, const oeq_instruction_t *ins, oeq_error_t *err) {
  if (p->n_instructions >= OEQ_PROBLEM_INSTRUCTIONS_MAX)
    return oeq_fail(err, OEQ_ERROR_INVALID_PROBLEM, "a problem holds at most %d instructions",
                    OEQ_PROBLEM_INSTRUCTIONS_MAX);
  oeq_status_t s = validate(p, ins, err);
  if (s == OEQ_SUCCESS) s = check_weight_total(p, ins, err);
  if (s != OEQ_SUCCESS) {
    oeq_error_prefix(err, "instruction %d (%d, %d, %d, %s): ", p->n_instructions, ins->i_in1,
                     ins->i_in2, ins->i_out, oeq_mode_name(ins->mode));
    return s;
  }
  if (p->n_instructions == p->capacity) {
    int cap = p->capacity ? 2 * p->capacity : 16;
    oeq_instruction_t *grown = realloc(p->instructions, (size_t)cap * sizeof *grown);
    if (!grown) return oeq_fail(err, OEQ_ERROR_OUT_OF_MEMORY, "out of memory adding an instruction");
    p->instructions = grown;
    p->capacity = cap;
  }
  p->instructions[p->n_instructions++] = *ins;
  if (ins->has_weight) p->weight_numel += oeq_instruction_weight_count(p, ins);
  return OEQ_SUCCESS;
}

int64_t oeq_instruction_weight_count(const oeq_problem_t *p, const oeq_instruction_t *ins) {
  int64_t m1 = p->in1.terms[ins->i_in1].mul, m2 = p->in2.terms[ins->i_in2].mul,
          mo = p->out.terms[ins->i_out].mul;
  switch (ins->mode) {
    case OEQ_MODE_UVW: return m1 * m2 * mo;
    case OEQ_MODE_UVU:
    case OEQ_MODE_UVV:
    case OEQ_MODE_UVUV: return m1 * m2;
    case OEQ_MODE_UUW: return m1 * mo;
    case OEQ_MODE_UUU: return m1;
  }
  return 0;
}

int64_t oeq_instruction_fan_in(const oeq_problem_t *p, const oeq_instruction_t *ins) {
  int64_t m1 = p->in1.terms[ins->i_in1].mul, m2 = p->in2.terms[ins->i_in2].mul;
  switch (ins->mode) {
    case OEQ_MODE_UVW: return m1 * m2;
    case OEQ_MODE_UVU: return m2;
    case OEQ_MODE_UVV: return m1;
    case OEQ_MODE_UUW: return m1;
    case OEQ_MODE_UUU:
    case OEQ_MODE_UVUV: return 1;
  }
  return 0;
}

int oeq_instruction_is_empty(const oeq_problem_t *p, const oeq_instruction_t *ins) {
  return oeq_instruction_weight_count(p, ins) == 0 || p->in1.terms[ins->i_in1].mul == 0 ||
         p->in2.terms[ins->i_in2].mul == 0 || p->out.terms[ins->i_out].mul == 0;
}

/* e3nn _tensor_product.py: alpha from the irrep normalization, divided by
 * the fan-in x of the path normalization (if x > 0), times out_var and the
 * user's path weight; the coefficient is sqrt(alpha). */
double oeq_problem_coefficient(const oeq_problem_t *p, int k) {
  const oeq_instruction_t *ins = &p->instructions[k];
  int d1 = oeq_irrep_dim(p->in1.terms[ins->i_in1].l), d2 = oeq_irrep_dim(p->in2.terms[ins->i_in2].l),
      d3 = oeq_irrep_dim(p->out.terms[ins->i_out].l);
  double alpha = p->irrep_norm == OEQ_IRREP_NORM_COMPONENT ? d3
                 : p->irrep_norm == OEQ_IRREP_NORM_NORM    ? (double)d1 * d2
                                                           : 1.0;
  double x = 1.0;
  if (p->path_norm == OEQ_PATH_NORM_ELEMENT) {
    x = 0.0;
    for (int j = 0; j < p->n_instructions; j++) {
      const oeq_instruction_t *o = &p->instructions[j];
      if (o->i_out == ins->i_out)
        x += p->in1_var[o->i_in1] * p->in2_var[o->i_in2] * (double)oeq_instruction_fan_in(p, o);
    }
  } else if (p->path_norm == OEQ_PATH_NORM_PATH) {
    int count = 0;
    for (int j = 0; j < p->n_instructions; j++) count += p->instructions[j].i_out == ins->i_out;
    x = p->in1_var[ins->i_in1] * p->in2_var[ins->i_in2] * (double)oeq_instruction_fan_in(p, ins) * count;
  }
  if (x > 0.0) alpha /= x;
  alpha *= p->out_var[ins->i_out];
  alpha *= ins->path_weight;
  return sqrt(alpha);
}

int64_t oeq_problem_weight_offset(const oeq_problem_t *p, int k) {
  if (!p->instructions[k].has_weight) return -1;
  int64_t off = 0;
  for (int j = 0; j < k; j++)
    if (p->instructions[j].has_weight) off += oeq_instruction_weight_count(p, &p->instructions[j]);
  return off;
}

int64_t oeq_problem_weight_count(const oeq_problem_t *p) { return p->weight_numel; }

oeq_status_t oeq_problem_coefficients(const oeq_problem_t *p, double *coefficients,
                                      int64_t *offsets, oeq_error_t *err) {
  /* One pass gathers each output entry's fan-in sum (element) or path count
   * (path); a second applies e3nn's formula as oeq_problem_coefficient. */
  double *x = calloc((size_t)(p->out.len > 0 ? p->out.len : 1), sizeof *x);
  if (!x) return oeq_fail(err, OEQ_ERROR_OUT_OF_MEMORY, "out of memory computing coefficients");
  for (int j = 0; j < p->n_instructions; j++) {
    const oeq_instruction_t *o = &p->instructions[j];
    x[o->i_out] += p->path_norm == OEQ_PATH_NORM_ELEMENT
                       ? p->in1_var[o->i_in1] * p->in2_var[o->i_in2] * (double)oeq_instruction_fan_in(p, o)
                       : 1.0;
  }
  int64_t off = 0;
  for (int k = 0; k < p->n_instructions; k++) {
    const oeq_instruction_t *ins = &p->instructions[k];
    int d1 = oeq_irrep_dim(p->in1.terms[ins->i_in1].l), d2 = oeq_irrep_dim(p->in2.terms[ins->i_in2].l),
        d3 = oeq_irrep_dim(p->out.terms[ins->i_out].l);
    double alpha = p->irrep_norm == OEQ_IRREP_NORM_COMPONENT ? d3
                   : p->irrep_norm == OEQ_IRREP_NORM_NORM    ? (double)d1 * d2
                                                             : 1.0;
    double n = 1.0;
    if (p->path_norm == OEQ_PATH_NORM_ELEMENT)
      n = x[ins->i_out];
    else if (p->path_norm == OEQ_PATH_NORM_PATH)
      n = p->in1_var[ins->i_in1] * p->in2_var[ins->i_in2] * (double)oeq_instruction_fan_in(p, ins) *
          x[ins->i_out];
    if (n > 0.0) alpha /= n;
    alpha *= p->out_var[ins->i_out];
    alpha *= ins->path_weight;
    double c = sqrt(alpha);
    if (!isfinite(c)) {
      free(x);
      return oeq_fail(err, OEQ_ERROR_INVALID_PROBLEM,
                      "instruction %d: its normalization coefficient is not finite (path_weight %g, "
                      "out_var %g)",
                      k, ins->path_weight, p->out_var[ins->i_out]);
    }
    if (coefficients) coefficients[k] = c;
    if (offsets) offsets[k] = ins->has_weight ? off : -1;
    if (ins->has_weight) off += oeq_instruction_weight_count(p, ins);
  }
  free(x);
  return OEQ_SUCCESS;
}
