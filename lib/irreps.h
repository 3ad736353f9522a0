/* irreps.h: e3nn's Irreps: parse, format, sort (conventions.md A1). */
#ifndef OEQ_IRREPS_H
#define OEQ_IRREPS_H

#include <stdint.h>

#include "status.h"

/* Largest multiplicity / l accepted from a string (guards overflow). */
#define OEQ_IRREPS_MUL_MAX 1000000
#define OEQ_IRREPS_L_MAX 24
/* Most entries one string may hold (documented in oeq.h): keeps every
 * builder's work and every size product bounded. */
#define OEQ_IRREPS_TERMS_MAX 4096

typedef struct oeq_irrep_term {
  int64_t mul;
  int l;
  int parity; /* +1 (e) or -1 (o) */
} oeq_irrep_term_t;

typedef struct oeq_irreps {
  int len; /* number of (mul, ir) entries, mul-0 entries kept */
  oeq_irrep_term_t *terms;
} oeq_irreps_t;

/* Parse e3nn's grammar; on success *out owns a new array (oeq_irreps_free).
 * Failures name the offending term and its byte position. */
oeq_status_t oeq_irreps_parse(const char *text, oeq_irreps_t *out, oeq_error_t *err);
void oeq_irreps_free(oeq_irreps_t *irreps);
oeq_status_t oeq_irreps_copy(const oeq_irreps_t *src, oeq_irreps_t *dst, oeq_error_t *err);

static inline int oeq_irrep_dim(int l) { return 2 * l + 1; }
int64_t oeq_irreps_dim(const oeq_irreps_t *irreps);
/* Offset (in elements) of entry i within a row. */
int64_t oeq_irreps_offset(const oeq_irreps_t *irreps, int i);

/* e3nn's repr ("16x0e+1x1o"); writes at most len bytes, returns the length
 * that the full text needs (snprintf semantics). */
int oeq_irreps_format(const oeq_irreps_t *irreps, char *buf, size_t len);

/* e3nn's Irrep ordering: (l, parity) tuples, so 0o < 0e < 1o < 1e. */
int oeq_irrep_compare(int l1, int p1, int l2, int p2);

/* Stable sort as e3nn's Irreps.sort(): perm[old] = new. Linear: a
 * counting sort on (l, parity), of which there are 2 (OEQ_IRREPS_L_MAX + 1). */
oeq_status_t oeq_irreps_sort(const oeq_irreps_t *in, oeq_irreps_t *sorted, int *perm,
                             oeq_error_t *err);

/* Does ir3 appear in ir1 x ir2 (parity product and triangle rule)? */
int oeq_irrep_in_product(int l1, int p1, int l2, int p2, int l3, int p3);

#endif
