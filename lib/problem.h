/* problem.h: what to compute. Instructions, connection modes, e3nn's
 * normalization (one coefficient per instruction) and weight offsets in
 * e3nn's flat layout (conventions.md A3). Pure host code. */
#ifndef OEQ_PROBLEM_H
#define OEQ_PROBLEM_H

#include <stdint.h>

#include "irreps.h"
#include "status.h"

/* Most instructions one problem may hold (documented in oeq.h). */
#define OEQ_PROBLEM_INSTRUCTIONS_MAX 65536

/* What a problem computes: a tensor product (oeq_problem_create and the
 * builders) or MACE's symmetric contraction. */
typedef enum { OEQ_PROBLEM_TP = 0, OEQ_PROBLEM_SYMCON = 1 } oeq_problem_kind_t;

struct oeq_symcon;

typedef struct oeq_instruction {
  int i_in1, i_in2, i_out;
  oeq_mode_t mode;
  int has_weight;
  double path_weight; /* the user's value; the coefficient is derived */
} oeq_instruction_t;

struct oeq_problem {
  oeq_irreps_t in1, in2, out;
  int n_instructions, capacity;
  oeq_instruction_t *instructions;
  int64_t weight_numel; /* running total of the weighted instructions' counts */
  oeq_dtype_t irrep_dtype, weight_dtype;
  int shared_weights;
  oeq_irrep_norm_t irrep_norm;
  oeq_path_norm_t path_norm;
  oeq_layout_t layout;
  double *in1_var, *in2_var, *out_var; /* one per irreps entry, never NULL */
  /* OEQ_PROBLEM_SYMCON (lib/symcon.h): in1 / out hold the channels x the
   * per-channel irreps (so row widths come out right), in2 is empty, there
   * are no instructions; the weight count is the basis' (symcon). */
  oeq_problem_kind_t kind;
  struct oeq_symcon *symcon; /* the basis (owned), kind SYMCON only */
};

oeq_status_t oeq_problem_new(const char *in1, const char *in2, const char *out,
                             oeq_problem_t **problem, oeq_error_t *err);
/* Validates against the irreps (indices, parity, triangle, multiplicities),
 * the instruction cap and the weight total (which must fit in int64_t). */
oeq_status_t oeq_problem_append(oeq_problem_t *p, const oeq_instruction_t *ins, oeq_error_t *err);
void oeq_problem_free(oeq_problem_t *p);

/* e3nn's path_shape product: weights this instruction takes if weighted. */
int64_t oeq_instruction_weight_count(const oeq_problem_t *p, const oeq_instruction_t *ins);
/* e3nn's num_elements (fan-in of one output element through this path). */
int64_t oeq_instruction_fan_in(const oeq_problem_t *p, const oeq_instruction_t *ins);
/* Does e3nn skip this instruction (a 0 in path_shape, or an empty block)? */
int oeq_instruction_is_empty(const oeq_problem_t *p, const oeq_instruction_t *ins);
/* The normalization coefficient sqrt(alpha) of instruction k. */
double oeq_problem_coefficient(const oeq_problem_t *p, int k);
/* Offset of instruction k's weights in the flat weight row (-1 if unweighted). */
int64_t oeq_problem_weight_offset(const oeq_problem_t *p, int k);
int64_t oeq_problem_weight_count(const oeq_problem_t *p);

/* All coefficients and weight offsets at once, in O(instructions + entries)
 * (the per-k functions above cost O(instructions) each). coefficients and
 * offsets hold n_instructions values. Fails (INVALID_PROBLEM) when a
 * coefficient is not finite (a huge path_weight or variance). */
oeq_status_t oeq_problem_coefficients(const oeq_problem_t *p, double *coefficients,
                                      int64_t *offsets, oeq_error_t *err);

/* JSON description (snprintf semantics: returns the full length), given
 * oeq_problem_coefficients' results. */
size_t oeq_problem_write_json(const oeq_problem_t *p, const double *coefficients,
                              const int64_t *w_offsets, char *buf, size_t len);
/* Computes the coefficients, then writes the JSON; fails (writing nothing)
 * where oeq_problem_coefficients does. *needed may be NULL. */
oeq_status_t oeq_problem_describe_json(const oeq_problem_t *p, char *buf, size_t len, size_t *needed,
                                       oeq_error_t *err);

const char *oeq_mode_name(oeq_mode_t mode);
size_t oeq_dtype_size(oeq_dtype_t dtype);

#endif
