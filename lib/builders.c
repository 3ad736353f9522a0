/* builders.c: e3nn's FullyConnectedTensorProduct and MACE's
 * tp_out_irreps_with_instructions (conventions.md A3, "Convolution TPs").
 *
 * Cost: both visit every (i1, i2) pair once and, through a bit mask of the
 * l values present per parity, only the output entries that match, so the
 * work is pairs + instructions made (the irreps and instruction caps bound
 * both; see oeq.h). */
#include "builders.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Entries of each (l, parity) in index order: rank 2l + (parity > 0). */
#define RANKS (2 * (OEQ_IRREPS_L_MAX + 1))

typedef struct {
  int start[RANKS + 1];
  int *index;       /* irreps->len entries grouped by rank, ascending within one */
  uint32_t mask[2]; /* bit l set if some entry has (l, odd) [0] / (l, even) [1] */
} by_irrep_t;

static int rank_of(int l, int parity) { return 2 * l + (parity > 0); }

static int group_by_irrep(const oeq_irreps_t *irreps, by_irrep_t *g) {
  memset(g, 0, sizeof *g);
  g->index = malloc(sizeof *g->index * (size_t)(irreps->len > 0 ? irreps->len : 1));
  if (!g->index) return -1;
  for (int i = 0; i < irreps->len; i++) {
    const oeq_irrep_term_t *t = &irreps->terms[i];
    g->start[rank_of(t->l, t->parity) + 1]++;
    g->mask[t->parity > 0] |= (uint32_t)1 << t->l;
  }
  for (int r = 0; r < RANKS; r++) g->start[r + 1] += g->start[r];
  int fill[RANKS];
  memcpy(fill, g->start, sizeof fill);
  for (int i = 0; i < irreps->len; i++)
    g->index[fill[rank_of(irreps->terms[i].l, irreps->terms[i].parity)]++] = i;
  return 0;
}

/* The l values in x (x) y present in g, as a mask (bit l). */
static uint32_t product_mask(const by_irrep_t *g, const oeq_irrep_term_t *x, const oeq_irrep_term_t *y) {
  int lo = x->l > y->l ? x->l - y->l : y->l - x->l, hi = x->l + y->l;
  if (hi > OEQ_IRREPS_L_MAX) hi = OEQ_IRREPS_L_MAX;
  if (lo > hi) return 0;
  uint32_t range = (uint32_t)((((uint64_t)1 << (hi + 1)) - 1) & ~(((uint64_t)1 << lo) - 1));
  return g->mask[x->parity * y->parity > 0] & range;
}

static int cmp_int(const void *a, const void *b) {
  int x = *(const int *)a, y = *(const int *)b;
  return (x > y) - (x < y);
}

oeq_status_t oeq_build_fully_connected(const char *in1, const char *in2, const char *out,
                                       oeq_problem_t **problem, oeq_error_t *err) {
  oeq_problem_t *p;
  oeq_status_t s = oeq_problem_new(in1, in2, out, &p, err);
  if (s != OEQ_SUCCESS) return s;
  by_irrep_t g = {.index = NULL};
  int *hits = malloc(sizeof *hits * (size_t)(p->out.len > 0 ? p->out.len : 1));
  if (!hits || group_by_irrep(&p->out, &g) != 0)
    s = oeq_fail(err, OEQ_ERROR_OUT_OF_MEMORY, "out of memory building a fully connected problem");
  /* e3nn's order: i1, i2, then i_out ascending among the allowed outputs. */
  for (int i1 = 0; i1 < p->in1.len && s == OEQ_SUCCESS; i1++)
    for (int i2 = 0; i2 < p->in2.len && s == OEQ_SUCCESS; i2++) {
      const oeq_irrep_term_t *a = &p->in1.terms[i1], *b = &p->in2.terms[i2];
      uint32_t m = product_mask(&g, a, b);
      int n = 0;
      for (; m; m &= m - 1) {
        int r = rank_of(__builtin_ctz(m), a->parity * b->parity);
        for (int k = g.start[r]; k < g.start[r + 1]; k++) hits[n++] = g.index[k];
      }
      if (n > 1) qsort(hits, (size_t)n, sizeof *hits, cmp_int);
      for (int k = 0; k < n && s == OEQ_SUCCESS; k++) {
        oeq_instruction_t ins = {i1, i2, hits[k], OEQ_MODE_UVW, 1, 1.0};
        s = oeq_problem_append(p, &ins, err);
      }
    }
  free(hits);
  free(g.index);
  if (s != OEQ_SUCCESS) {
    oeq_problem_free(p);
    return s;
  }
  *problem = p;
  return OEQ_SUCCESS;
}

oeq_status_t oeq_build_channelwise(const char *in1, const char *in2, const char *filter_out,
                                   oeq_problem_t **problem, oeq_error_t *err) {
  oeq_irreps_t a = {0, NULL}, b = {0, NULL}, filter = {0, NULL}, mid = {0, NULL}, sorted = {0, NULL};
  oeq_problem_t *p = NULL;
  by_irrep_t g = {.index = NULL};
  oeq_instruction_t *gen = NULL;
  int *perm = NULL, *inverse = NULL;
  char *sorted_text = NULL;
  oeq_status_t s = oeq_irreps_parse(in1, &a, err);
  if (s == OEQ_SUCCESS) s = oeq_irreps_parse(in2, &b, err);
  if (s == OEQ_SUCCESS) s = oeq_irreps_parse(filter_out, &filter, err);
  if (s != OEQ_SUCCESS) goto done;
  if (group_by_irrep(&filter, &g) != 0) goto oom;
  /* Count first (64-bit): each path makes one output entry, and the output
   * irreps obey the same entry cap as any irreps string. */
  int64_t count = 0;
  for (int i = 0; i < a.len; i++)
    for (int j = 0; j < b.len; j++) count += __builtin_popcount(product_mask(&g, &a.terms[i], &b.terms[j]));
  if (count > OEQ_IRREPS_TERMS_MAX) {
    s = oeq_fail(err, OEQ_ERROR_INVALID_ARGUMENT,
                 "the channelwise product has %lld paths, so irreps_out would have %lld entries; at "
                 "most %d are accepted",
                 (long long)count, (long long)count, OEQ_IRREPS_TERMS_MAX);
    goto done;
  }
  int n_gen = (int)count;
  size_t slots = (size_t)(n_gen > 0 ? n_gen : 1);
  gen = malloc(sizeof *gen * slots);
  mid.terms = malloc(sizeof *mid.terms * slots);
  perm = malloc(sizeof *perm * slots);
  inverse = malloc(sizeof *inverse * slots);
  if (!gen || !mid.terms || !perm || !inverse) goto oom;
  /* Generation order: node irrep i, edge irrep j, then l_out ascending as
   * e3nn's ir_in * ir_edge yields them; keep those in the filter. */
  for (int i = 0; i < a.len; i++)
    for (int j = 0; j < b.len; j++) {
      const oeq_irrep_term_t *x = &a.terms[i], *y = &b.terms[j];
      for (uint32_t m = product_mask(&g, x, y); m; m &= m - 1) {
        mid.terms[mid.len] = (oeq_irrep_term_t){x->mul, __builtin_ctz(m), x->parity * y->parity};
        gen[mid.len] = (oeq_instruction_t){i, j, mid.len, OEQ_MODE_UVU, 1, 1.0};
        mid.len++;
      }
    }
  s = oeq_irreps_sort(&mid, &sorted, perm, err);
  if (s != OEQ_SUCCESS) goto done;
  int text_len = oeq_irreps_format(&sorted, NULL, 0);
  sorted_text = malloc((size_t)text_len + 1);
  if (!sorted_text) goto oom;
  oeq_irreps_format(&sorted, sorted_text, (size_t)text_len + 1);
  s = oeq_problem_new(in1, in2, sorted_text, &p, err);
  if (s != OEQ_SUCCESS) goto done;
  p->shared_weights = 0;
  /* Remap i_out through the sort permutation; then MACE sorts the
   * instructions by i_out. Since perm is a bijection, instruction k with
   * new i_out = r lands at position r: a stable sort is exactly this. */
  for (int k = 0; k < n_gen; k++) inverse[perm[k]] = k;
  for (int r = 0; r < n_gen && s == OEQ_SUCCESS; r++) {
    oeq_instruction_t ins = gen[inverse[r]];
    ins.i_out = r;
    s = oeq_problem_append(p, &ins, err);
  }
  goto done;
oom:
  s = oeq_fail(err, OEQ_ERROR_OUT_OF_MEMORY, "out of memory building a channelwise problem");
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
  free(g.index);
  free(sorted_text);
  free(gen);
  free(perm);
  free(inverse);
  return s;
}
