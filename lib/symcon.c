/* symcon.c: MACE's generalized CG basis (mace/tools/cg.py, U_matrix_real
 * on the legacy path with "component" normalization), built sparse from
 * lib/cg.c's real Wigner 3j tensors.
 *
 * MACE's recursion (_wigner_nj), for irreps_in repeated nu times:
 *  - level 1: one path per input irrep r, in input order (not sorted):
 *    C[j][i] = 1 for i = offset(r) + j;
 *  - level n+1: for each path L of level n (in order), each input irrep r
 *    (in order) and each l_out from |l_L - l_r| to l_L + l_r (parity
 *    p_L p_r), C'[m][i_1..i_n][offset(r) + c] =
 *      sqrt(2 l_out + 1) sum_j C_L[j][i_1..i_n] w3j(l_out, l_L, l_r)[m][j][c];
 *    the new level is then sorted stably by irrep (e3nn's (l, p) order).
 * U_{o,nu}[..., k] is the k-th path of level nu whose irrep is o, in that
 * order (U_matrix_real stacks them along the last axis). MACE calls
 * U_matrix_real once per nu, and only the nu = 4 call filters (its
 * filter_ir_mid: l_out <= 11 with parity (-1)^l at every level >= 2). The
 * filtered levels are the unfiltered ones with the failing paths and their
 * descendants removed, order kept (a stable sort of a subsequence), so one
 * recursion serves every nu: each path carries whether it and its
 * ancestors pass, and level 4 grows only from passing paths. */
#include "symcon.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg.h"
#include "problem.h"

/* Correlation 4: MACE's filter_ir_mid, l < 12 with natural parity. */
#define FILTER_LMAX 11

typedef struct {
  int l, p;
  int pass; /* it and its ancestors pass the correlation-4 filter */
  int64_t n;
  oeq_symcon_entry_t *e; /* m = component of the path's irrep; k unused */
} path_t;

typedef struct {
  int n, cap;
  path_t *v;
} level_t;

typedef struct {
  const oeq_irreps_t *in;
  const int64_t *offsets; /* of each input irrep in the per-channel row */
  int correlation;
  int64_t held; /* entries alive, against OEQ_SYMCON_MAX_ENTRIES */
  oeq_error_t *err;
} build_t;

static void level_free(level_t *lv) {
  for (int i = 0; i < lv->n; i++) free(lv->v[i].e);
  free(lv->v);
  lv->v = NULL;
  lv->n = lv->cap = 0;
}

static oeq_status_t too_big(build_t *b) {
  return oeq_fail(b->err, OEQ_ERROR_UNSUPPORTED,
                  "the U tensors of correlation %d need more than %d nonzeros "
                  "(OEQ_SYMCON_MAX_ENTRIES); use a lower correlation or fewer input irreps",
                  b->correlation, OEQ_SYMCON_MAX_ENTRIES);
}

static oeq_status_t reserve(build_t *b, int64_t n) {
  if (n > OEQ_SYMCON_MAX_ENTRIES || b->held + n > OEQ_SYMCON_MAX_ENTRIES) return too_big(b);
  b->held += n;
  return OEQ_SUCCESS;
}

static oeq_status_t level_push(level_t *lv, path_t p, build_t *b) {
  if (lv->n == lv->cap) {
    int cap = lv->cap ? 2 * lv->cap : 16;
    path_t *v = realloc(lv->v, (size_t)cap * sizeof *v);
    if (!v) return oeq_fail(b->err, OEQ_ERROR_OUT_OF_MEMORY, "out of memory building the U basis");
    lv->v = v;
    lv->cap = cap;
  }
  lv->v[lv->n++] = p;
  return OEQ_SUCCESS;
}

/* Sort key width for qsort's comparator (entries of one level). */
static _Thread_local int sort_width;

static int cmp_entry(const void *pa, const void *pb) {
  const oeq_symcon_entry_t *a = pa, *b = pb;
  if (a->k != b->k) return a->k < b->k ? -1 : 1;
  if (a->m != b->m) return a->m < b->m ? -1 : 1;
  for (int i = 0; i < sort_width; i++)
    if (a->idx[i] != b->idx[i]) return a->idx[i] < b->idx[i] ? -1 : 1;
  return 0;
}

static int same_key(const oeq_symcon_entry_t *a, const oeq_symcon_entry_t *b, int width) {
  if (a->k != b->k || a->m != b->m) return 0;
  for (int i = 0; i < width; i++)
    if (a->idx[i] != b->idx[i]) return 0;
  return 1;
}

/* Sort by (k, m, idx[0..width)), sum equal keys, drop sums below `drop`.
 * Returns the new count. */
static int64_t merge_entries(oeq_symcon_entry_t *e, int64_t n, int width, double drop) {
  sort_width = width;
  qsort(e, (size_t)n, sizeof *e, cmp_entry);
  int64_t out = 0;
  for (int64_t i = 0; i < n;) {
    oeq_symcon_entry_t acc = e[i];
    int64_t j = i + 1;
    for (; j < n && same_key(&e[j], &acc, width); j++) acc.value += e[j].value;
    if (fabs(acc.value) > drop) e[out++] = acc;
    i = j;
  }
  return out;
}

static oeq_status_t level_one(build_t *b, level_t *lv) {
  for (int r = 0; r < b->in->len; r++) {
    int d = oeq_irrep_dim(b->in->terms[r].l);
    path_t p = {b->in->terms[r].l, b->in->terms[r].parity, 1, d, NULL};
    oeq_status_t s = reserve(b, d);
    if (s != OEQ_SUCCESS) return s;
    p.e = calloc((size_t)d, sizeof *p.e);
    if (!p.e) return oeq_fail(b->err, OEQ_ERROR_OUT_OF_MEMORY, "out of memory building the U basis");
    for (int j = 0; j < d; j++) {
      p.e[j].m = j;
      p.e[j].idx[0] = (int32_t)(b->offsets[r] + j);
      p.e[j].value = 1.0;
    }
    s = level_push(lv, p, b);
    if (s != OEQ_SUCCESS) {
      free(p.e);
      return s;
    }
  }
  return OEQ_SUCCESS;
}

/* Path (left x input irrep r -> l_out) of level n + 1 from left of level n. */
static oeq_status_t couple(build_t *b, const path_t *left, int n, int r, int l_out, path_t *out) {
  const oeq_irrep_term_t *t = &b->in->terms[r];
  const oeq_cg_t *cg = NULL;
  oeq_status_t s = oeq_cg_get(l_out, left->l, t->l, &cg, b->err);
  if (s != OEQ_SUCCESS) return s;
  /* cg->nz grouped by its middle index b (the left path's component). */
  int db = cg->d2;
  int *start = calloc((size_t)db + 1, sizeof *start);
  int *order = malloc((size_t)(cg->nnz > 0 ? cg->nnz : 1) * sizeof *order);
  if (!start || !order) {
    free(start);
    free(order);
    return oeq_fail(b->err, OEQ_ERROR_OUT_OF_MEMORY, "out of memory building the U basis");
  }
  for (int q = 0; q < cg->nnz; q++) start[cg->nz[q].b + 1]++;
  for (int j = 0; j < db; j++) start[j + 1] += start[j];
  int *fill = calloc((size_t)db, sizeof *fill);
  if (!fill) {
    free(start);
    free(order);
    return oeq_fail(b->err, OEQ_ERROR_OUT_OF_MEMORY, "out of memory building the U basis");
  }
  for (int q = 0; q < cg->nnz; q++) order[start[cg->nz[q].b] + fill[cg->nz[q].b]++] = q;
  free(fill);

  int64_t count = 0;
  for (int64_t i = 0; i < left->n; i++) count += start[left->e[i].m + 1] - start[left->e[i].m];
  s = reserve(b, count);
  oeq_symcon_entry_t *e = NULL;
  if (s == OEQ_SUCCESS) {
    e = calloc((size_t)(count > 0 ? count : 1), sizeof *e);
    if (!e) s = oeq_fail(b->err, OEQ_ERROR_OUT_OF_MEMORY, "out of memory building the U basis");
  }
  if (s != OEQ_SUCCESS) {
    free(start);
    free(order);
    return s;
  }
  double norm = sqrt((double)oeq_irrep_dim(l_out)); /* "component" normalization */
  int64_t w = 0;
  for (int64_t i = 0; i < left->n; i++) {
    const oeq_symcon_entry_t *le = &left->e[i];
    for (int q = start[le->m]; q < start[le->m + 1]; q++) {
      const oeq_cg_nonzero_t *z = &cg->nz[order[q]];
      oeq_symcon_entry_t *ne = &e[w++];
      *ne = *le;
      ne->m = z->a;
      ne->idx[n] = (int32_t)(b->offsets[r] + z->c);
      ne->value = le->value * z->value * norm;
    }
  }
  free(start);
  free(order);
  int64_t kept = merge_entries(e, w, n + 1, 1e-15);
  b->held -= count - kept;
  out->l = l_out;
  out->p = left->p * t->parity;
  out->n = kept;
  out->e = e;
  return OEQ_SUCCESS;
}

static int natural_parity(int l) { return l % 2 ? -1 : 1; }

static int is_output(const oeq_symcon_t *sc, int l, int p) {
  for (int o = 0; o < sc->n_out; o++)
    if (sc->outs[o].l == l && sc->outs[o].parity == p) return 1;
  return 0;
}

/* Stable sort of a level by e3nn's irrep order (insertion sort: levels hold
 * at most a few thousand paths and are sorted once). */
static void level_sort(level_t *lv) {
  for (int i = 1; i < lv->n; i++) {
    path_t x = lv->v[i];
    int j = i - 1;
    while (j >= 0 && oeq_irrep_compare(lv->v[j].l, lv->v[j].p, x.l, x.p) > 0) {
      lv->v[j + 1] = lv->v[j];
      j--;
    }
    lv->v[j + 1] = x;
  }
}

static oeq_status_t grow(build_t *b, const oeq_symcon_t *sc, const level_t *prev, int n,
                         level_t *next) {
  int last = n + 1 == b->correlation, filtered = n + 1 == 4;
  for (int i = 0; i < prev->n; i++) {
    const path_t *left = &prev->v[i];
    if (filtered && !left->pass) continue;
    for (int r = 0; r < b->in->len; r++) {
      int lr = b->in->terms[r].l, p = left->p * b->in->terms[r].parity;
      for (int l = abs(left->l - lr); l <= left->l + lr; l++) {
        int pass = left->pass && l <= FILTER_LMAX && p == natural_parity(l);
        if (filtered && !pass) continue;
        if (last && !is_output(sc, l, p)) continue; /* never coupled further */
        /* before level 4: paths that can neither reach it nor be output */
        if (b->correlation == 4 && n + 1 == 3 && !pass && !is_output(sc, l, p)) continue;
        path_t np = {0, 0, 0, 0, NULL};
        oeq_status_t s = couple(b, left, n, r, l, &np);
        np.pass = pass;
        if (s == OEQ_SUCCESS) s = level_push(next, np, b);
        if (s != OEQ_SUCCESS) {
          free(np.e); /* NULL unless couple made it and the push failed */
          return s;
        }
      }
    }
  }
  level_sort(next);
  return OEQ_SUCCESS;
}

/* Block (o, nu) from the paths of level nu: k-th matching path is U[..., k];
 * indices sorted per entry and permutations merged. */
static oeq_status_t extract(build_t *b, oeq_symcon_t *sc, const level_t *lv, int nu) {
  for (int o = 0; o < sc->n_out; o++) {
    oeq_symcon_out_t *out = &sc->outs[o];
    oeq_symcon_block_t *blk = &out->blocks[nu - 1];
    int64_t count = 0, K = 0;
    for (int i = 0; i < lv->n; i++)
      if (lv->v[i].l == out->l && lv->v[i].p == out->parity) count += lv->v[i].n, K++;
    oeq_status_t s = reserve(b, count);
    if (s != OEQ_SUCCESS) return s;
    blk->nu = nu;
    blk->K = K;
    blk->e = calloc((size_t)(count > 0 ? count : 1), sizeof *blk->e);
    if (!blk->e) return oeq_fail(b->err, OEQ_ERROR_OUT_OF_MEMORY, "out of memory building the U basis");
    int64_t w = 0, k = 0;
    for (int i = 0; i < lv->n; i++) {
      const path_t *p = &lv->v[i];
      if (p->l != out->l || p->p != out->parity) continue;
      for (int64_t j = 0; j < p->n; j++) {
        oeq_symcon_entry_t e = p->e[j];
        e.k = (int32_t)k;
        for (int a = 1; a < nu; a++) /* insertion sort of nu <= 4 indices */
          for (int c = a; c > 0 && e.idx[c - 1] > e.idx[c]; c--) {
            int32_t t = e.idx[c];
            e.idx[c] = e.idx[c - 1];
            e.idx[c - 1] = t;
          }
        blk->e[w++] = e;
      }
      k++;
    }
    /* Merged permutations can cancel exactly (antisymmetric couplings):
     * what is left of such a sum is rounding, far below any true value. */
    blk->n = merge_entries(blk->e, w, nu, 1e-12);
  }
  return OEQ_SUCCESS;
}

static oeq_status_t check_irreps(oeq_symcon_t *sc, oeq_error_t *err) {
  if (sc->in.len == 0)
    return oeq_fail(err, OEQ_ERROR_INVALID_PROBLEM, "irreps_in_per_channel is empty");
  if (sc->out.len == 0) return oeq_fail(err, OEQ_ERROR_INVALID_PROBLEM, "irreps_out is empty");
  for (int i = 0; i < sc->in.len; i++)
    if (sc->in.terms[i].mul != 1)
      return oeq_fail(err, OEQ_ERROR_INVALID_PROBLEM,
                      "irreps_in_per_channel entry %d has multiplicity %lld: each irrep of one "
                      "channel appears once (MACE's coupling irreps)",
                      i, (long long)sc->in.terms[i].mul);
  for (int i = 0; i < sc->out.len; i++)
    if (sc->out.terms[i].mul != 1 && sc->out.terms[i].mul != sc->channels)
      return oeq_fail(err, OEQ_ERROR_INVALID_PROBLEM,
                      "irreps_out entry %d has multiplicity %lld: use 1 (per channel) or the "
                      "channel count %lld",
                      i, (long long)sc->out.terms[i].mul, (long long)sc->channels);
  return OEQ_SUCCESS;
}

/* Row widths, offsets and the weight total, all overflow-checked. */
static oeq_status_t layout(oeq_symcon_t *sc, oeq_error_t *err) {
  int64_t d = oeq_irreps_dim(&sc->in), zd = 0, w = 0;
  sc->in_dim = d;
  if (__builtin_mul_overflow(d, sc->channels, &sc->x_dim)) goto overflow;
  for (int o = 0; o < sc->n_out; o++) {
    oeq_symcon_out_t *out = &sc->outs[o];
    out->z_offset = zd;
    int64_t part;
    if (__builtin_mul_overflow((int64_t)out->d, sc->channels, &part) ||
        __builtin_add_overflow(zd, part, &zd))
      goto overflow;
    for (int nu = sc->correlation; nu >= 1; nu--) {
      oeq_symcon_block_t *blk = &out->blocks[nu - 1];
      blk->w_offset = w;
      if (__builtin_mul_overflow(blk->K, sc->channels, &part) ||
          __builtin_mul_overflow(part, sc->num_elements, &part) ||
          __builtin_add_overflow(w, part, &w))
        goto overflow;
    }
  }
  sc->z_dim = zd;
  sc->weight_numel = w;
  return OEQ_SUCCESS;
overflow:
  return oeq_fail(err, OEQ_ERROR_INVALID_ARGUMENT,
                  "channels = %lld, num_elements = %lld: a row width or the weight count "
                  "overflows a 64-bit integer",
                  (long long)sc->channels, (long long)sc->num_elements);
}

static oeq_status_t build_basis(oeq_symcon_t *sc, oeq_error_t *err) {
  int64_t *offsets = malloc((size_t)sc->in.len * sizeof *offsets);
  if (!offsets) return oeq_fail(err, OEQ_ERROR_OUT_OF_MEMORY, "out of memory building the U basis");
  for (int r = 0; r < sc->in.len; r++) offsets[r] = oeq_irreps_offset(&sc->in, r);
  build_t b = {&sc->in, offsets, sc->correlation, 0, err};
  level_t cur = {0, 0, NULL}, next = {0, 0, NULL};
  oeq_status_t s = level_one(&b, &cur);
  if (s == OEQ_SUCCESS) s = extract(&b, sc, &cur, 1);
  for (int n = 1; s == OEQ_SUCCESS && n < sc->correlation; n++) {
    s = grow(&b, sc, &cur, n, &next);
    if (s == OEQ_SUCCESS) s = extract(&b, sc, &next, n + 1);
    for (int i = 0; i < cur.n; i++) b.held -= cur.v[i].n;
    level_free(&cur);
    cur = next;
    next = (level_t){0, 0, NULL};
  }
  level_free(&cur);
  level_free(&next);
  free(offsets);
  return s;
}

oeq_status_t oeq_symcon_build(const char *irreps_in, const char *irreps_out, int correlation,
                              int64_t num_elements, int64_t channels, oeq_symcon_t **out,
                              oeq_error_t *err) {
  if (correlation < 1 || correlation > OEQ_SYMCON_MAX_CORRELATION)
    return oeq_fail(err, OEQ_ERROR_INVALID_ARGUMENT, "correlation = %d: must be 1 to %d", correlation,
                    OEQ_SYMCON_MAX_CORRELATION);
  if (num_elements < 1)
    return oeq_fail(err, OEQ_ERROR_INVALID_ARGUMENT, "num_elements = %lld: must be >= 1",
                    (long long)num_elements);
  if (channels < 1 || channels > OEQ_IRREPS_MUL_MAX)
    return oeq_fail(err, OEQ_ERROR_INVALID_ARGUMENT, "channels = %lld: must be 1 to %d",
                    (long long)channels, OEQ_IRREPS_MUL_MAX);
  oeq_symcon_t *sc = calloc(1, sizeof *sc);
  if (!sc) return oeq_fail(err, OEQ_ERROR_OUT_OF_MEMORY, "out of memory creating a problem");
  sc->correlation = correlation;
  sc->num_elements = num_elements;
  sc->channels = channels;
  oeq_status_t s = oeq_irreps_parse(irreps_in, &sc->in, err);
  if (s != OEQ_SUCCESS) oeq_error_prefix(err, "irreps_in_per_channel: ");
  if (s == OEQ_SUCCESS) {
    s = oeq_irreps_parse(irreps_out, &sc->out, err);
    if (s != OEQ_SUCCESS) oeq_error_prefix(err, "irreps_out: ");
  }
  if (s == OEQ_SUCCESS) s = check_irreps(sc, err);
  if (s == OEQ_SUCCESS) {
    sc->n_out = sc->out.len;
    sc->outs = calloc(sc->n_out > 0 ? (size_t)sc->n_out : 1, sizeof *sc->outs);
    if (!sc->outs) s = oeq_fail(err, OEQ_ERROR_OUT_OF_MEMORY, "out of memory creating a problem");
  }
  if (s == OEQ_SUCCESS) {
    for (int o = 0; o < sc->n_out; o++) {
      sc->outs[o].l = sc->out.terms[o].l;
      sc->outs[o].parity = sc->out.terms[o].parity;
      sc->outs[o].d = oeq_irrep_dim(sc->out.terms[o].l);
      sc->out.terms[o].mul = 1;
    }
    s = build_basis(sc, err);
  }
  if (s == OEQ_SUCCESS) s = layout(sc, err);
  if (s != OEQ_SUCCESS) {
    oeq_symcon_free(sc);
    return s;
  }
  *out = sc;
  return OEQ_SUCCESS;
}

void oeq_symcon_free(oeq_symcon_t *sc) {
  if (!sc) return;
  for (int o = 0; sc->outs && o < sc->n_out; o++)
    for (int nu = 0; nu < OEQ_SYMCON_MAX_CORRELATION; nu++) free(sc->outs[o].blocks[nu].e);
  free(sc->outs);
  oeq_irreps_free(&sc->in);
  oeq_irreps_free(&sc->out);
  free(sc);
}

oeq_status_t oeq_symcon_clone(const oeq_symcon_t *sc, oeq_symcon_t **out, oeq_error_t *err) {
  oeq_symcon_t *c = calloc(1, sizeof *c);
  if (!c) return oeq_fail(err, OEQ_ERROR_OUT_OF_MEMORY, "out of memory copying a problem");
  *c = *sc;
  c->in = c->out = (oeq_irreps_t){0, NULL};
  c->outs = calloc(sc->n_out > 0 ? (size_t)sc->n_out : 1, sizeof *c->outs);
  oeq_status_t s = c->outs ? OEQ_SUCCESS
                           : oeq_fail(err, OEQ_ERROR_OUT_OF_MEMORY, "out of memory copying a problem");
  if (s == OEQ_SUCCESS) s = oeq_irreps_copy(&sc->in, &c->in, err);
  if (s == OEQ_SUCCESS) s = oeq_irreps_copy(&sc->out, &c->out, err);
  for (int o = 0; s == OEQ_SUCCESS && o < sc->n_out; o++) {
    c->outs[o] = sc->outs[o];
    for (int nu = 0; nu < OEQ_SYMCON_MAX_CORRELATION; nu++) c->outs[o].blocks[nu].e = NULL;
    for (int nu = 0; s == OEQ_SUCCESS && nu < sc->correlation; nu++) {
      const oeq_symcon_block_t *src = &sc->outs[o].blocks[nu];
      size_t bytes = (size_t)(src->n > 0 ? src->n : 1) * sizeof *src->e;
      c->outs[o].blocks[nu].e = malloc(bytes);
      if (!c->outs[o].blocks[nu].e)
        s = oeq_fail(err, OEQ_ERROR_OUT_OF_MEMORY, "out of memory copying a problem");
      else if (src->n > 0)
        memcpy(c->outs[o].blocks[nu].e, src->e, (size_t)src->n * sizeof *src->e);
    }
  }
  if (s != OEQ_SUCCESS) {
    if (!c->outs) c->n_out = 0;
    oeq_symcon_free(c);
    return s;
  }
  *out = c;
  return OEQ_SUCCESS;
}

size_t oeq_symcon_write_json(const oeq_symcon_t *sc, char *buf, size_t len) {
  size_t used = 0;
  if (buf && len) buf[0] = '\0';
#define PUT(...)                                                             \
  do {                                                                       \
    size_t room_ = used < len ? len - used : 0;                              \
    int n_ = snprintf(room_ ? buf + used : NULL, room_, __VA_ARGS__);        \
    if (n_ > 0) used += (size_t)n_;                                          \
  } while (0)
  char in[512], out[512];
  oeq_irreps_format(&sc->in, in, sizeof in);
  oeq_irreps_format(&sc->out, out, sizeof out);
  PUT("{\n  \"kind\": \"symmetric_contraction\",\n");
  PUT("  \"irreps_in_per_channel\": \"%s\", \"irreps_out\": \"%s\",\n", in, out);
  PUT("  \"correlation\": %d, \"num_elements\": %lld, \"channels\": %lld,\n", sc->correlation,
      (long long)sc->num_elements, (long long)sc->channels);
  PUT("  \"x_dim\": %lld, \"z_dim\": %lld, \"weight_numel\": %lld,\n", (long long)sc->x_dim,
      (long long)sc->z_dim, (long long)sc->weight_numel);
  PUT("  \"blocks\": [");
  int first = 1;
  for (int o = 0; o < sc->n_out; o++)
    for (int nu = sc->correlation; nu >= 1; nu--) {
      const oeq_symcon_block_t *b = &sc->outs[o].blocks[nu - 1];
      PUT("%s\n    {\"irrep_out\": \"%d%c\", \"nu\": %d, \"K\": %lld, \"nonzeros\": %lld, "
          "\"weight_offset\": %lld}",
          first ? "" : ",", sc->outs[o].l, sc->outs[o].parity > 0 ? 'e' : 'o', nu, (long long)b->K,
          (long long)b->n, (long long)b->w_offset);
      first = 0;
    }
  PUT("\n  ]\n}\n");
#undef PUT
  return used;
}

oeq_status_t oeq_symcon_reject(const char *function, oeq_error_t *err) {
  return oeq_fail(err, OEQ_ERROR_INVALID_ARGUMENT,
                  "%s does not apply to a symmetric-contraction problem (it has no instructions, "
                  "layout, normalization or variances; its weights are per species)",
                  function);
}

/* The irreps with every multiplicity set to `channels`, as e3nn text. */
static char *channel_irreps(const oeq_irreps_t *per_channel, int64_t channels) {
  oeq_irreps_t t = *per_channel;
  t.terms = malloc((size_t)(t.len > 0 ? t.len : 1) * sizeof *t.terms);
  if (!t.terms) return NULL;
  for (int i = 0; i < t.len; i++) {
    t.terms[i] = per_channel->terms[i];
    t.terms[i].mul = channels;
  }
  int n = oeq_irreps_format(&t, NULL, 0);
  char *text = malloc((size_t)n + 1);
  if (text) oeq_irreps_format(&t, text, (size_t)n + 1);
  free(t.terms);
  return text;
}

oeq_status_t oeq_symcon_problem_new(const char *irreps_in, const char *irreps_out, int correlation,
                                    int64_t num_elements, int64_t channels,
                                    struct oeq_problem **out, oeq_error_t *err) {
  oeq_symcon_t *sc = NULL;
  oeq_status_t s = oeq_symcon_build(irreps_in, irreps_out, correlation, num_elements, channels, &sc, err);
  if (s != OEQ_SUCCESS) return s;
  char *in = channel_irreps(&sc->in, channels), *o = channel_irreps(&sc->out, channels);
  oeq_problem_t *p = NULL;
  if (!in || !o)
    s = oeq_fail(err, OEQ_ERROR_OUT_OF_MEMORY, "out of memory creating a problem");
  else
    s = oeq_problem_new(in, "", o, &p, err);
  free(in);
  free(o);
  if (s != OEQ_SUCCESS) {
    oeq_symcon_free(sc);
    return s;
  }
  p->kind = OEQ_PROBLEM_SYMCON;
  p->symcon = sc;
  *out = p;
  return OEQ_SUCCESS;
}
