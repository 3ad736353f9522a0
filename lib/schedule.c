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

static oeq_status_t build_path(const oeq_problem_t *p, int k, oeq_path_t *path, oeq_error_t *err) {
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
      .x_offset = oeq_irreps_offset(&p->in1, ins->i_in1),
      .y_offset = oeq_irreps_offset(&p->in2, ins->i_in2),
      .z_offset = oeq_irreps_offset(&p->out, ins->i_out),
      .w_offset = oeq_problem_weight_offset(p, k),
      .w_count = ins->has_weight ? oeq_instruction_weight_count(p, ins) : 0,
      .coefficient = oeq_problem_coefficient(p, k),
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
  for (int i = 0; i < irreps->len; i++)
    blocks[i] = (oeq_block_t){.offset = oeq_irreps_offset(irreps, i),
                              .mul = irreps->terms[i].mul,
                              .l = irreps->terms[i].l,
                              .d = oeq_irrep_dim(irreps->terms[i].l)};
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
  s->paths = calloc((size_t)(p->n_instructions > 0 ? p->n_instructions : 1), sizeof *s->paths);
  if (!s->in1_blocks || !s->in2_blocks || !s->out_blocks || !s->paths) {
    oeq_schedule_free(s);
    return oeq_fail(err, OEQ_ERROR_OUT_OF_MEMORY, "out of memory building a schedule");
  }
  for (int k = 0; k < p->n_instructions; k++) {
    if (oeq_instruction_is_empty(p, &p->instructions[k])) continue;
    oeq_status_t st = build_path(p, k, &s->paths[s->n_paths], err);
    if (st != OEQ_SUCCESS) {
      oeq_error_prefix(err, "instruction %d: ", k);
      oeq_schedule_free(s);
      return st;
    }
    s->n_paths++;
    s->out_blocks[p->instructions[k].i_out].written = 1;
  }
  *out = s;
  return OEQ_SUCCESS;
}
