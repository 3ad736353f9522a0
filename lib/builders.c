/* builders.c: e3nn's FullyConnectedTensorProduct and MACE's
 * tp_out_irreps_with_instructions (conventions.md A3, "Convolution TPs"). */
#include "builders.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

oeq_status_t oeq_build_fully_connected(const char *in1, const char *in2, const char *out,
                                       oeq_problem_t **problem, oeq_error_t *err) {
  oeq_problem_t *p;
  oeq_status_t s = oeq_problem_new(in1, in2, out, &p, err);
  if (s != OEQ_SUCCESS) return s;
  for (int i1 = 0; i1 < p->in1.len && s == OEQ_SUCCESS; i1++)
    for (int i2 = 0; i2 < p->in2.len && s == OEQ_SUCCESS; i2++)
      for (int io = 0; io < p->out.len && s == OEQ_SUCCESS; io++) {
        const oeq_irrep_term_t *a = &p->in1.terms[i1], *b = &p->in2.terms[i2], *c = &p->out.terms[io];
        if (!oeq_irrep_in_product(a->l, a->parity, b->l, b->parity, c->l, c->parity)) continue;
        oeq_instruction_t ins = {i1, i2, io, OEQ_MODE_UVW, 1, 1.0};
        s = oeq_problem_append(p, &ins, err);
      }
  if (s != OEQ_SUCCESS) {
    oeq_problem_free(p);
    return s;
  }
  *problem = p;
  return OEQ_SUCCESS;
}

/* Does (l, parity) appear among the filter's entries? */
static int filter_has(const oeq_irreps_t *filter, int l, int parity) {
  for (int i = 0; i < filter->len; i++)
    if (filter->terms[i].l == l && filter->terms[i].parity == parity) return 1;
  return 0;
}

/* Appends "MULxLP" to a growing string. */
static int append_term(char **text, size_t *len, size_t *cap, int64_t mul, int l, int parity) {
  char term[64];
  int n = snprintf(term, sizeof term, "%s%lldx%d%c", *len ? "+" : "", (long long)mul, l,
                   parity > 0 ? 'e' : 'o');
  if (*len + (size_t)n + 1 > *cap) {
    size_t grown_cap = 2 * (*cap + (size_t)n + 1);
    char *grown = realloc(*text, grown_cap);
    if (!grown) return -1;
    *text = grown;
    *cap = grown_cap;
  }
  memcpy(*text + *len, term, (size_t)n + 1);
  *len += (size_t)n;
  return 0;
}

oeq_status_t oeq_build_channelwise(const char *in1, const char *in2, const char *filter_out,
                                   oeq_problem_t **problem, oeq_error_t *err) {
  oeq_irreps_t a = {0, NULL}, b = {0, NULL}, filter = {0, NULL}, mid = {0, NULL}, sorted = {0, NULL};
  oeq_problem_t *p = NULL;
  char *mid_text = NULL;
  size_t mid_len = 0, mid_cap = 0;
  oeq_instruction_t *gen = NULL;
  int *perm = NULL, n_gen = 0;
  oeq_status_t s = oeq_irreps_parse(in1, &a, err);
  if (s == OEQ_SUCCESS) s = oeq_irreps_parse(in2, &b, err);
  if (s == OEQ_SUCCESS) s = oeq_irreps_parse(filter_out, &filter, err);
  if (s != OEQ_SUCCESS) goto done;
  gen = malloc(sizeof *gen * (size_t)(a.len * b.len * (2 * OEQ_IRREPS_L_MAX + 1) * 2 + 1));
  mid_cap = 64;
  mid_text = malloc(mid_cap);
  if (!gen || !mid_text) {
    s = oeq_fail(err, OEQ_ERROR_OUT_OF_MEMORY, "out of memory building a channelwise problem");
    goto done;
  }
  mid_text[0] = '\0';
  /* Generation order: node irrep i, edge irrep j, then l_out ascending as
   * e3nn's ir_in * ir_edge yields them; keep those in the filter. */
  for (int i = 0; i < a.len; i++)
    for (int j = 0; j < b.len; j++) {
      const oeq_irrep_term_t *x = &a.terms[i], *y = &b.terms[j];
      int lo = x->l > y->l ? x->l - y->l : y->l - x->l;
      for (int l = lo; l <= x->l + y->l; l++) {
        int parity = x->parity * y->parity;
        if (!filter_has(&filter, l, parity)) continue;
        if (append_term(&mid_text, &mid_len, &mid_cap, x->mul, l, parity) != 0) {
          s = oeq_fail(err, OEQ_ERROR_OUT_OF_MEMORY, "out of memory building a channelwise problem");
          goto done;
        }
        gen[n_gen] = (oeq_instruction_t){i, j, n_gen, OEQ_MODE_UVU, 1, 1.0};
        n_gen++;
      }
    }
  s = oeq_irreps_parse(mid_text, &mid, err);
  if (s != OEQ_SUCCESS) goto done;
  perm = malloc(sizeof *perm * (size_t)(n_gen > 0 ? n_gen : 1));
  if (!perm) {
    s = oeq_fail(err, OEQ_ERROR_OUT_OF_MEMORY, "out of memory building a channelwise problem");
    goto done;
  }
  s = oeq_irreps_sort(&mid, &sorted, perm, err);
  if (s != OEQ_SUCCESS) goto done;
  /* Remap i_out through the sort permutation; then MACE sorts the
   * instructions by i_out. Since perm is a bijection, instruction k with
   * new i_out = r lands at position r: a stable sort is exactly this. */
  char *sorted_text = malloc((size_t)oeq_irreps_format(&sorted, NULL, 0) + 1);
  if (!sorted_text) {
    s = oeq_fail(err, OEQ_ERROR_OUT_OF_MEMORY, "out of memory building a channelwise problem");
    goto done;
  }
  oeq_irreps_format(&sorted, sorted_text, (size_t)oeq_irreps_format(&sorted, NULL, 0) + 1);
  s = oeq_problem_new(in1, in2, sorted_text, &p, err);
  free(sorted_text);
  if (s != OEQ_SUCCESS) goto done;
  p->shared_weights = 0;
  for (int r = 0; r < n_gen && s == OEQ_SUCCESS; r++)
    for (int k = 0; k < n_gen; k++)
      if (perm[k] == r) {
        oeq_instruction_t ins = gen[k];
        ins.i_out = r;
        s = oeq_problem_append(p, &ins, err);
      }
done:
  if (s != OEQ_SUCCESS) {
    oeq_problem_free(p);
    p = NULL;
  } else {
    *problem = p;
  }
  oeq_irreps_free(&a);
  oeq_irreps_free(&b);
  oeq_irreps_free(&filter);
  oeq_irreps_free(&mid);
  oeq_irreps_free(&sorted);
  free(mid_text);
  free(gen);
  free(perm);
  return s;
}
