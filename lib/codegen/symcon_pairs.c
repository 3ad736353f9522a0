/* symcon_pairs.c: the pair table of a symmetric contraction (see
 * symcon_pairs.h). Host code, run once per plan. */
#include "codegen/symcon_pairs.h"

#include <stdlib.h>
#include <string.h>

#include "checked.h"

/* A U nonzero with the pair key it belongs to. */
typedef struct {
  oeq_symcon_pair_t key;
  int32_t elem;
  double value;
} keyed_t;

static int cmp_key(const oeq_symcon_pair_t *a, const oeq_symcon_pair_t *b) {
  if (a->deg != b->deg) return a->deg < b->deg ? -1 : 1;
  for (int j = 0; j < a->deg; j++)
    if (a->idx[j] != b->idx[j]) return a->idx[j] < b->idx[j] ? -1 : 1;
  if (a->o != b->o) return a->o < b->o ? -1 : 1;
  if (a->m != b->m) return a->m < b->m ? -1 : 1;
  return 0;
}

static int cmp_keyed(const void *pa, const void *pb) {
  const keyed_t *a = pa, *b = pb;
  int c = cmp_key(&a->key, &b->key);
  if (c) return c;
  return (a->elem > b->elem) - (a->elem < b->elem);
}

static int cmp_by_elem(const void *pa, const void *pb) {
  const oeq_symcon_term_t *a = pa, *b = pb;
  if (a->elem != b->elem) return a->elem < b->elem ? -1 : 1;
  return (a->pair > b->pair) - (a->pair < b->pair);
}

void oeq_symcon_pairs_free(oeq_symcon_pairs_t *pp) {
  if (!pp) return;
  free(pp->pair);
  free(pp->by_pair);
  free(pp->by_elem);
  free(pp->pair_start);
  free(pp->elem_start);
  free(pp->elem_base);
  free(pp->elem_stride);
  memset(pp, 0, sizeof *pp);
}

/* n elements of `size` bytes (at least one), NULL on overflow or failure. */
static void *alloc_n(int64_t n, size_t size) {
  size_t bytes;
  if (oeq_bytes(n > 0 ? n : 1, size, &bytes)) return NULL;
  return malloc(bytes);
}

oeq_status_t oeq_symcon_pairs_build(const oeq_symcon_t *sc, oeq_symcon_pairs_t *out,
                                    oeq_error_t *err) {
  memset(out, 0, sizeof *out);
  int64_t n_terms = 0, n_elems = 0;
  for (int o = 0; o < sc->n_out; o++)
    for (int nu = 1; nu <= sc->correlation; nu++) {
      n_terms += sc->outs[o].blocks[nu - 1].n;
      n_elems += sc->outs[o].blocks[nu - 1].K;
    }
  keyed_t *t = alloc_n(n_terms, sizeof *t);
  out->by_pair = alloc_n(n_terms, sizeof *out->by_pair);
  out->by_elem = alloc_n(n_terms, sizeof *out->by_elem);
  out->elem_start = alloc_n(n_elems + 1, sizeof *out->elem_start);
  out->elem_base = alloc_n(n_elems, sizeof *out->elem_base);
  out->elem_stride = alloc_n(n_elems, sizeof *out->elem_stride);
  if (!t || !out->by_pair || !out->by_elem || !out->elem_start || !out->elem_base ||
      !out->elem_stride)
    goto oom;

  /* Flat weight order: per output irrep, nu descending, k. */
  int64_t n = 0, e0 = 0;
  for (int o = 0; o < sc->n_out; o++)
    for (int nu = sc->correlation; nu >= 1; nu--) {
      const oeq_symcon_block_t *b = &sc->outs[o].blocks[nu - 1];
      for (int64_t k = 0; k < b->K; k++) {
        out->elem_base[e0 + k] = b->w_offset + k * sc->channels;
        out->elem_stride[e0 + k] = b->K * sc->channels;
      }
      for (int64_t i = 0; i < b->n; i++) {
        keyed_t *x = &t[n++];
        memset(x, 0, sizeof *x);
        x->key.o = o;
        x->key.m = b->e[i].m;
        x->key.deg = nu;
        memcpy(x->key.idx, b->e[i].idx, sizeof x->key.idx);
        for (int j = nu; j < OEQ_SYMCON_MAX_CORRELATION; j++) x->key.idx[j] = 0;
        x->elem = (int32_t)(e0 + b->e[i].k);
        x->value = b->e[i].value;
      }
      e0 += b->K;
    }
  qsort(t, (size_t)n_terms, sizeof *t, cmp_keyed);

  int64_t n_pairs = 0;
  for (int64_t i = 0; i < n_terms; i++)
    if (i == 0 || cmp_key(&t[i].key, &t[i - 1].key)) n_pairs++;
  out->pair = alloc_n(n_pairs, sizeof *out->pair);
  out->pair_start = alloc_n(n_pairs + 1, sizeof *out->pair_start);
  if (!out->pair || !out->pair_start) goto oom;
  int64_t p = -1;
  for (int64_t i = 0; i < n_terms; i++) {
    if (i == 0 || cmp_key(&t[i].key, &t[i - 1].key)) {
      out->pair[++p] = t[i].key;
      out->pair_start[p] = i;
    }
    out->by_pair[i] = (oeq_symcon_term_t){(int32_t)p, t[i].elem, t[i].value};
  }
  out->pair_start[n_pairs] = n_terms;
  free(t);
  t = NULL;

  memcpy(out->by_elem, out->by_pair, (size_t)n_terms * sizeof *out->by_elem);
  qsort(out->by_elem, (size_t)n_terms, sizeof *out->by_elem, cmp_by_elem);
  int64_t j = 0;
  for (int64_t e = 0; e <= n_elems; e++) {
    while (j < n_terms && out->by_elem[j].elem < e) j++;
    out->elem_start[e] = j;
  }
  out->n_pairs = n_pairs;
  out->n_elems = n_elems;
  out->n_terms = n_terms;
  return OEQ_SUCCESS;
oom:
  free(t);
  oeq_symcon_pairs_free(out);
  return oeq_fail(err, OEQ_ERROR_OUT_OF_MEMORY, "out of memory grouping the U basis into pairs");
}
