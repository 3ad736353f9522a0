/* irreps.c: e3nn's Irreps grammar and ordering (conventions.md A1).
 *
 * Grammar, as e3nn's Irreps(str): blank -> empty; otherwise terms split on
 * '+', each "MULxIR" or a bare "IR" (mul 1); IR is an integer l followed by
 * a parity character e/o/y (y = (-1)^l). Python's int() tolerates
 * surrounding whitespace, so whitespace around every token is accepted. */
#include "irreps.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parse the decimal integer in text[begin, end) allowing surrounding
 * whitespace. Returns 0 on success. */
static int parse_uint(const char *text, size_t begin, size_t end, int64_t limit, int64_t *value) {
  while (begin < end && isspace((unsigned char)text[begin])) begin++;
  while (end > begin && isspace((unsigned char)text[end - 1])) end--;
  if (begin == end) return -1;
  int64_t v = 0;
  for (size_t i = begin; i < end; i++) {
    if (!isdigit((unsigned char)text[i])) return -1;
    v = v * 10 + (text[i] - '0');
    if (v > limit) return -2;
  }
  *value = v;
  return 0;
}

static oeq_status_t parse_irrep(const char *text, size_t begin, size_t end, size_t term_start,
                                size_t term_end, int *l_out, int *p_out, oeq_error_t *err) {
  while (begin < end && isspace((unsigned char)text[begin])) begin++;
  while (end > begin && isspace((unsigned char)text[end - 1])) end--;
  int tl = (int)(term_end - term_start);
  if (begin == end)
    return oeq_fail(err, OEQ_ERROR_PARSE, "irreps \"%s\": term \"%.*s\" at position %zu has no irrep",
                    text, tl, text + term_start, term_start);
  char pc = text[end - 1];
  int64_t l;
  int rc = parse_uint(text, begin, end - 1, OEQ_IRREPS_L_MAX, &l);
  if (rc == -2)
    return oeq_fail(err, OEQ_ERROR_PARSE,
                    "irreps \"%s\": term \"%.*s\" at position %zu: l is larger than %d", text, tl,
                    text + term_start, term_start, OEQ_IRREPS_L_MAX);
  if (rc != 0 || (pc != 'e' && pc != 'o' && pc != 'y'))
    return oeq_fail(err, OEQ_ERROR_PARSE,
                    "irreps \"%s\": term \"%.*s\" at position %zu is not an irrep "
                    "(expected l followed by e, o or y, like \"1o\")",
                    text, tl, text + term_start, term_start);
  *l_out = (int)l;
  *p_out = pc == 'e' ? 1 : pc == 'o' ? -1 : (l % 2 ? -1 : 1);
  return OEQ_SUCCESS;
}

static oeq_status_t parse_term(const char *text, size_t begin, size_t end, oeq_irrep_term_t *term,
                               oeq_error_t *err) {
  const char *x = memchr(text + begin, 'x', end - begin);
  int tl = (int)(end - begin);
  if (!x) {
    term->mul = 1;
    return parse_irrep(text, begin, end, begin, end, &term->l, &term->parity, err);
  }
  size_t xpos = (size_t)(x - text);
  if (memchr(x + 1, 'x', end - xpos - 1))
    return oeq_fail(err, OEQ_ERROR_PARSE, "irreps \"%s\": term \"%.*s\" at position %zu has two 'x'",
                    text, tl, text + begin, begin);
  int rc = parse_uint(text, begin, xpos, OEQ_IRREPS_MUL_MAX, &term->mul);
  if (rc == -2)
    return oeq_fail(err, OEQ_ERROR_PARSE,
                    "irreps \"%s\": term \"%.*s\" at position %zu: multiplicity larger than %d",
                    text, tl, text + begin, begin, OEQ_IRREPS_MUL_MAX);
  if (rc != 0)
    return oeq_fail(err, OEQ_ERROR_PARSE,
                    "irreps \"%s\": term \"%.*s\" at position %zu: the multiplicity before 'x' "
                    "must be a non-negative integer",
                    text, tl, text + begin, begin);
  return parse_irrep(text, xpos + 1, end, begin, end, &term->l, &term->parity, err);
}

oeq_status_t oeq_irreps_parse(const char *text, oeq_irreps_t *out, oeq_error_t *err) {
  size_t n = strlen(text);
  size_t first = 0;
  while (first < n && isspace((unsigned char)text[first])) first++;
  oeq_irreps_t result = {0, NULL};
  if (first == n) {
    *out = result;
    return OEQ_SUCCESS;
  }
  size_t count = 1;
  for (size_t i = 0; i < n; i++) count += text[i] == '+';
  if (count > OEQ_IRREPS_TERMS_MAX)
    return oeq_fail(err, OEQ_ERROR_INVALID_ARGUMENT,
                    "irreps \"%.64s...\" has %zu entries; at most %d are accepted", text, count,
                    OEQ_IRREPS_TERMS_MAX);
  result.terms = calloc(count, sizeof *result.terms);
  if (!result.terms) return oeq_fail(err, OEQ_ERROR_OUT_OF_MEMORY, "out of memory parsing irreps");
  size_t begin = 0;
  for (size_t t = 0; t < count; t++) {
    const char *plus = strchr(text + begin, '+');
    size_t end = plus ? (size_t)(plus - text) : n;
    oeq_status_t s = parse_term(text, begin, end, &result.terms[t], err);
    if (s != OEQ_SUCCESS) {
      free(result.terms);
      return s;
    }
    begin = end + 1;
  }
  result.len = (int)count;
  *out = result;
  return OEQ_SUCCESS;
}

void oeq_irreps_free(oeq_irreps_t *irreps) {
  if (!irreps) return;
  free(irreps->terms);
  irreps->terms = NULL;
  irreps->len = 0;
}

oeq_status_t oeq_irreps_copy(const oeq_irreps_t *src, oeq_irreps_t *dst, oeq_error_t *err) {
  oeq_irreps_t copy = {src->len, NULL};
  if (src->len > 0) {
    copy.terms = malloc((size_t)src->len * sizeof *copy.terms);
    if (!copy.terms) return oeq_fail(err, OEQ_ERROR_OUT_OF_MEMORY, "out of memory copying irreps");
    memcpy(copy.terms, src->terms, (size_t)src->len * sizeof *copy.terms);
  }
  *dst = copy;
  return OEQ_SUCCESS;
}

int64_t oeq_irreps_dim(const oeq_irreps_t *irreps) {
  return oeq_irreps_offset(irreps, irreps->len);
}

int64_t oeq_irreps_offset(const oeq_irreps_t *irreps, int i) {
  int64_t off = 0;
  for (int k = 0; k < i; k++) off += irreps->terms[k].mul * oeq_irrep_dim(irreps->terms[k].l);
  return off;
}

int oeq_irreps_format(const oeq_irreps_t *irreps, char *buf, size_t len) {
  size_t used = 0;
  for (int i = 0; i < irreps->len; i++) {
    const oeq_irrep_term_t *t = &irreps->terms[i];
    char one[64];
    int k = snprintf(one, sizeof one, "%s%lldx%d%c", i ? "+" : "", (long long)t->mul, t->l,
                     t->parity > 0 ? 'e' : 'o');
    if (buf && used < len) snprintf(buf + used, len - used, "%s", one);
    used += (size_t)k;
  }
  if (buf && len > 0 && irreps->len == 0) buf[0] = '\0';
  return (int)used;
}

int oeq_irrep_compare(int l1, int p1, int l2, int p2) {
  if (l1 != l2) return l1 < l2 ? -1 : 1;
  if (p1 != p2) return p1 < p2 ? -1 : 1;
  return 0;
}

/* Position of (l, parity) in e3nn's order: 0o, 0e, 1o, 1e, ... */
static int irrep_rank(const oeq_irrep_term_t *t) { return 2 * t->l + (t->parity > 0); }

oeq_status_t oeq_irreps_sort(const oeq_irreps_t *in, oeq_irreps_t *sorted, int *perm,
                             oeq_error_t *err) {
  oeq_irreps_t result;
  oeq_status_t s = oeq_irreps_copy(in, &result, err);
  if (s != OEQ_SUCCESS) return s;
  int *order = malloc((size_t)(in->len > 0 ? in->len : 1) * sizeof *order);
  if (!order) {
    oeq_irreps_free(&result);
    return oeq_fail(err, OEQ_ERROR_OUT_OF_MEMORY, "out of memory sorting irreps");
  }
  /* Counting sort on the (l, parity) rank: stable, and linear in len. */
  enum { RANKS = 2 * (OEQ_IRREPS_L_MAX + 1) + 1 };
  int start[RANKS + 1] = {0};
  for (int i = 0; i < in->len; i++) start[irrep_rank(&in->terms[i]) + 1]++;
  for (int r = 0; r < RANKS; r++) start[r + 1] += start[r];
  for (int i = 0; i < in->len; i++) order[start[irrep_rank(&in->terms[i])]++] = i;
  for (int k = 0; k < in->len; k++) {
    result.terms[k] = in->terms[order[k]];
    if (perm) perm[order[k]] = k;
  }
  free(order);
  *sorted = result;
  return OEQ_SUCCESS;
}

int oeq_irrep_in_product(int l1, int p1, int l2, int p2, int l3, int p3) {
  int lo = l1 > l2 ? l1 - l2 : l2 - l1;
  return p1 * p2 == p3 && l3 >= lo && l3 <= l1 + l2;
}
