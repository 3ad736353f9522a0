/* schedule.c: problem -> backend-neutral plan of work. */
#include "schedule.h"

#include <stdlib.h>
#include <string.h>

void oeq_schedule_free(oeq_schedule_t *s) {
  if (!s) return;
  for (int i = 0; i < s->n_paths; i++) free(s->paths[i].nz);
  free(s->paths);
  free(s->in1_blocks);
  free(s->in2_blocks);
  free(s->out_blocks);
  free(s);
}

/* Block offsets, coefficients and weight offsets are computed once for the
 * whole problem (oeq_problem_coefficients): per-path lookups would make
 * plan creation quadratic in the number of instructions. */
static oeq_status_t build_path(const oeq_problem_t *p, const oeq_schedule_t *sc, int k,
                               double coefficient, int64_t w_offset, oeq_path_t *path,
                               oeq_error_t *err) {
  const oeq_instruction_t *ins = &p->instructions[k];
  const oeq_irrep_term_t *a = &p->in1.terms[ins->i_in1], *b = &p->in2.terms[ins->i_in2],
                         *c = &p->out.terms[ins->i_out];
  const oeq_cg_t *cg;
  oeq_status_t s = oeq_cg_get(a->l, b->l, c->l, &cg, err);
  if (s != OEQ_SUCCESS) return s;
  *path = (oeq_path_t){
      .instruction = k,
      .mode = ins->mode,
      .has_weight = ins->has_weight,
      .l1 = a->l, .l2 = b->l, .l3 = c->l,
      .d1 = cg->d1, .d2 = cg->d2, .d3 = cg->d3,
      .mul1 = a->mul, .mul2 = b->mul, .mul3 = c->mul,
      .x_offset = sc->in1_blocks[ins->i_in1].offset,
      .y_offset = sc->in2_blocks[ins->i_in2].offset,
      .z_offset = sc->out_blocks[ins->i_out].offset,
      .w_offset = w_offset,
      .w_count = ins->has_weight ? oeq_instruction_weight_count(p, ins) : 0,
      .coefficient = coefficient,
      .nnz = cg->nnz,
  };
  path->nz = malloc((size_t)(cg->nnz > 0 ? cg->nnz : 1) * sizeof *path->nz);
  if (!path->nz) return oeq_fail(err, OEQ_ERROR_OUT_OF_MEMORY, "out of memory building a schedule");
  for (int i = 0; i < cg->nnz; i++) {
    path->nz[i] = cg->nz[i];
    path->nz[i].value = cg->nz[i].value * path->coefficient;
  }
  return OEQ_SUCCESS;
}

static oeq_block_t *make_blocks(const oeq_irreps_t *irreps) {
  oeq_block_t *blocks = calloc((size_t)(irreps->len > 0 ? irreps->len : 1), sizeof *blocks);
  if (!blocks) return NULL;
  int64_t offset = 0;
  for (int i = 0; i < irreps->len; i++) {
    blocks[i] = (oeq_block_t){.offset = offset,
                              .mul = irreps->terms[i].mul,
                              .l = irreps->terms[i].l,
                              .d = oeq_irrep_dim(irreps->terms[i].l)};
    offset += irreps->terms[i].mul * blocks[i].d;
  }
  return blocks;
}

oeq_status_t oeq_schedule_build(const oeq_problem_t *p, oeq_schedule_t **out, oeq_error_t *err) {
  oeq_schedule_t *s = calloc(1, sizeof *s);
  if (!s) return oeq_fail(err, OEQ_ERROR_OUT_OF_MEMORY, "out of memory building a schedule");
  s->x_dim = oeq_irreps_dim(&p->in1);
  s->y_dim = oeq_irreps_dim(&p->in2);
  s->z_dim = oeq_irreps_dim(&p->out);
  s->weight_numel = oeq_problem_weight_count(p);
  s->irrep_dtype = p->irrep_dtype;
  s->weight_dtype = p->weight_dtype;
  s->shared_weights = p->shared_weights;
  s->layout = p->layout;
  s->n_in1_blocks = p->in1.len;
  s->n_in2_blocks = p->in2.len;
  s->n_out_blocks = p->out.len;
  s->in1_blocks = make_blocks(&p->in1);
  s->in2_blocks = make_blocks(&p->in2);
  s->out_blocks = make_blocks(&p->out);
  size_t n = (size_t)(p->n_instructions > 0 ? p->n_instructions : 1);
  s->paths = calloc(n, sizeof *s->paths);
  double *coefficients = malloc(n * sizeof *coefficients);
  int64_t *w_offsets = malloc(n * sizeof *w_offsets);
  if (!s->in1_blocks || !s->in2_blocks || !s->out_blocks || !s->paths || !coefficients || !w_offsets) {
    free(coefficients);
    free(w_offsets);
    oeq_schedule_free(s);
    return oeq_fail(err, OEQ_ERROR_OUT_OF_MEMORY, "out of memory building a schedule");
  }
  oeq_status_t st = oeq_problem_coefficients(p, coefficients, w_offsets, err);
  for (int k = 0; k < p->n_instructions && st == OEQ_SUCCESS; k++) {
    if (oeq_instruction_is_empty(p, &p->instructions[k])) continue;
    st = build_path(p, s, k, coefficients[k], w_offsets[k], &s->paths[s->n_paths], err);
    if (st != OEQ_SUCCESS) {
      oeq_error_prefix(err, "instruction %d: ", k);
      break;
    }
    s->n_paths++;
    s->out_blocks[p->instructions[k].i_out].written = 1;
  }
  free(coefficients);
  free(w_offsets);
  if (st != OEQ_SUCCESS) {
    oeq_schedule_free(s);
    return st;
  }
  *out = s;
  return OEQ_SUCCESS;
}
