/* test_irreps.c: e3nn's Irreps grammar, repr and sort (conventions.md A1),
 * through lib/irreps.h and through the public oeq_problem_create. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "irreps.h"
#include "oeq.h"

TestSuite(irreps);

/* Parses text (must succeed) and returns its repr in a static buffer. */
static const char *repr_of(const char *text, oeq_irreps_t *out) {
  static char buf[4096];
  oeq_error_t err = {0};
  oeq_status_t s = oeq_irreps_parse(text, out, &err);
  cr_assert_eq(s, OEQ_SUCCESS, "parse(\"%s\") failed: %s", text, err.message);
  int n = oeq_irreps_format(out, buf, sizeof buf);
  cr_assert(n >= 0 && (size_t)n < sizeof buf, "format length %d", n);
  cr_assert_eq((size_t)n, strlen(buf), "format returned %d but wrote %zu bytes", n, strlen(buf));
  return buf;
}

static void check_repr(const char *text, const char *want, int64_t dim, int len) {
  oeq_irreps_t ir;
  const char *got = repr_of(text, &ir);
  cr_expect_str_eq(got, want, "repr(Irreps(\"%s\")) = \"%s\", want \"%s\"", text, got, want);
  cr_expect_eq(oeq_irreps_dim(&ir), dim, "dim(\"%s\") = %lld, want %lld", text,
               (long long)oeq_irreps_dim(&ir), (long long)dim);
  cr_expect_eq(ir.len, len, "len(\"%s\") = %d, want %d", text, ir.len, len);
  oeq_irreps_free(&ir);
}

Test(irreps, reprs_as_e3nn) {
  check_repr("16x0e+8x1o", "16x0e+8x1o", 16 + 24, 2);
  check_repr("2 x 1o", "2x1o", 6, 1);
  check_repr(" 3x2o+1e ", "3x2o+1x1e", 18, 2);
  check_repr("0e", "1x0e", 1, 1);
  check_repr("1x2e", "1x2e", 5, 1);
  check_repr("0x1o+2x1y", "0x1o+2x1o", 6, 2);
  check_repr("1y", "1x1o", 3, 1);
  check_repr("2y", "1x2e", 5, 1);
  check_repr("0y+3y", "1x0e+1x3o", 8, 2);
  check_repr("\t5x3e + 2x0o\n", "5x3e+2x0o", 37, 2);
  check_repr("1 o", "1x1o", 3, 1); /* Irrep(" 1 o"): int("1 ") is 1 in Python */
  check_repr("1000000x0e", "1000000x0e", 1000000, 1);
  check_repr("24e", "1x24e", 49, 1);
}

Test(irreps, empty_and_blank) {
  const char *cases[] = {"", " ", "\t\n  "};
  for (int i = 0; i < 3; i++) {
    oeq_irreps_t ir;
    const char *got = repr_of(cases[i], &ir);
    cr_expect_str_eq(got, "", "repr of blank case %d is \"%s\"", i, got);
    cr_expect_eq(ir.len, 0, "blank case %d has len %d", i, ir.len);
    cr_expect_eq(oeq_irreps_dim(&ir), 0, "blank case %d has dim %lld", i,
                 (long long)oeq_irreps_dim(&ir));
    oeq_irreps_free(&ir);
  }
}

Test(irreps, round_trip) {
  const char *cases[] = {"16x0e+8x1o", "1x0o+1x0e+1x1o+2x1o+1x1e", "0x1o+2x1o",
                         "128x0e+128x1o+128x2e+128x3o", "3x6e+1x5o+0x0e", "7x12o"};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    oeq_irreps_t a, b;
    char first[256];
    snprintf(first, sizeof first, "%s", repr_of(cases[i], &a));
    cr_expect_str_eq(first, cases[i], "canonical text \"%s\" does not print as itself", cases[i]);
    const char *second = repr_of(first, &b);
    cr_expect_str_eq(second, first, "round trip of \"%s\" changed it to \"%s\"", first, second);
    cr_assert_eq(a.len, b.len, "len changed on round trip of %s", cases[i]);
    for (int k = 0; k < a.len; k++)
      cr_expect(a.terms[k].mul == b.terms[k].mul && a.terms[k].l == b.terms[k].l &&
                    a.terms[k].parity == b.terms[k].parity,
                "term %d differs after round trip of %s", k, cases[i]);
    oeq_irreps_free(&a);
    oeq_irreps_free(&b);
  }
}

Test(irreps, terms_and_offsets) {
  oeq_irreps_t ir;
  repr_of("2x0e+0x1o+3x2o+1y", &ir);
  cr_assert_eq(ir.len, 4);
  const int64_t mul[] = {2, 0, 3, 1};
  const int l[] = {0, 1, 2, 1}, p[] = {1, -1, -1, -1};
  const int64_t off[] = {0, 2, 2, 17, 20};
  for (int k = 0; k < 4; k++) {
    cr_expect(ir.terms[k].mul == mul[k] && ir.terms[k].l == l[k] && ir.terms[k].parity == p[k],
              "term %d = (%lld, %d, %d)", k, (long long)ir.terms[k].mul, ir.terms[k].l,
              ir.terms[k].parity);
  }
  for (int k = 0; k <= 4; k++)
    cr_expect_eq(oeq_irreps_offset(&ir, k), off[k], "offset(%d) = %lld, want %lld", k,
                 (long long)oeq_irreps_offset(&ir, k), (long long)off[k]);
  oeq_irreps_free(&ir);
}

/* Parse failure: status PARSE, the message names the offending term text
 * and its position ("position N"). Nothing is allocated. */
static void check_fail(const char *text, const char *term, size_t pos) {
  oeq_irreps_t ir = {-7, (oeq_irrep_term_t *)0x1};
  oeq_error_t err = {0};
  oeq_status_t s = oeq_irreps_parse(text, &ir, &err);
  cr_expect_eq(s, OEQ_ERROR_PARSE, "parse(\"%s\") gave status %d, want OEQ_ERROR_PARSE", text, s);
  cr_expect_eq(err.status, OEQ_ERROR_PARSE, "err.status for \"%s\"", text);
  cr_expect(ir.len == -7 && ir.terms == (oeq_irrep_term_t *)0x1,
            "parse(\"%s\") wrote its output on failure", text);
  char want_term[128], want_pos[64];
  snprintf(want_term, sizeof want_term, "\"%s\"", term);
  snprintf(want_pos, sizeof want_pos, "position %zu", pos);
  cr_expect(strstr(err.message, want_term) != NULL, "message for \"%s\" does not name term %s: %s",
            text, want_term, err.message);
  cr_expect(strstr(err.message, want_pos) != NULL, "message for \"%s\" does not say %s: %s", text,
            want_pos, err.message);

  /* Same through the public API, with the last error. */
  oeq_problem_t *p = (oeq_problem_t *)0x1;
  s = oeq_problem_create("1x0e", text, "1x0e", &p);
  cr_expect_eq(s, OEQ_ERROR_PARSE, "oeq_problem_create(in2=\"%s\") gave %d", text, s);
  cr_expect_eq(p, (oeq_problem_t *)0x1, "oeq_problem_create wrote *out on failure");
  cr_expect(strstr(oeq_last_error(), want_term) != NULL, "last error for \"%s\": %s", text,
            oeq_last_error());
}

Test(irreps, failures_name_term_and_position) {
  check_fail("1x", "1x", 0);
  check_fail("x1o", "x1o", 0);
  check_fail("-1x0e", "-1x0e", 0);
  check_fail("1.5x0e", "1.5x0e", 0);
  check_fail("1q", "1q", 0);
  check_fail("2x0e+1q", "1q", 5);
  check_fail("16x0e+8x1o+3x", "3x", 11);
  check_fail("99999999999999999999x0e", "99999999999999999999x0e", 0);
  check_fail("1x0e+1000001x1o", "1000001x1o", 5);
  check_fail("0e+25e", "25e", 3);
  check_fail("99999999999999999999999e", "99999999999999999999999e", 0);
  check_fail("1x1x1o", "1x1x1o", 0);
  check_fail("1o+", "", 3);
  check_fail("+1o", "", 0);
  check_fail("1o++1e", "", 3);
  check_fail("e", "e", 0);
  check_fail("1x o", "1x o", 0);
  check_fail("1e1", "1e1", 0);
  check_fail("ax1e", "ax1e", 0);
  check_fail("1X1e", "1X1e", 0);
}

Test(irreps, huge_numbers_say_why) {
  oeq_irreps_t ir;
  oeq_error_t err = {0};
  cr_assert_eq(oeq_irreps_parse("99999999999999999999x0e", &ir, &err), OEQ_ERROR_PARSE);
  cr_expect(strstr(err.message, "multiplicity") != NULL, "mul overflow message: %s", err.message);
  cr_assert_eq(oeq_irreps_parse("3x100o", &ir, &err), OEQ_ERROR_PARSE);
  cr_expect(strstr(err.message, "l ") != NULL || strstr(err.message, "l is") != NULL,
            "l overflow message should mention l: %s", err.message);
}

Test(irreps, ordering_is_tuple_order) {
  /* 0o < 0e < 1o < 1e < 2o < 2e */
  const int l[] = {0, 0, 1, 1, 2, 2}, p[] = {-1, 1, -1, 1, -1, 1};
  for (int i = 0; i < 6; i++)
    for (int j = 0; j < 6; j++) {
      int c = oeq_irrep_compare(l[i], p[i], l[j], p[j]);
      int want = i < j ? -1 : i > j ? 1 : 0;
      cr_expect((c > 0) - (c < 0) == want, "compare(%d%c, %d%c) = %d, want sign %d", l[i],
                p[i] > 0 ? 'e' : 'o', l[j], p[j] > 0 ? 'e' : 'o', c, want);
    }
}

Test(irreps, sort_conventions_example) {
  oeq_irreps_t in, sorted;
  oeq_error_t err = {0};
  repr_of("1e+0e+1o+0o+2x1o", &in);
  int perm[5] = {-1, -1, -1, -1, -1};
  cr_assert_eq(oeq_irreps_sort(&in, &sorted, perm, &err), OEQ_SUCCESS, "%s", err.message);
  char buf[128];
  oeq_irreps_format(&sorted, buf, sizeof buf);
  cr_expect_str_eq(buf, "1x0o+1x0e+1x1o+2x1o+1x1e");
  const int want_p[] = {4, 1, 2, 0, 3}, want_inv[] = {3, 1, 2, 4, 0};
  for (int i = 0; i < 5; i++) cr_expect_eq(perm[i], want_p[i], "p[%d] = %d, want %d", i, perm[i], want_p[i]);
  int inv[5];
  for (int i = 0; i < 5; i++) inv[perm[i]] = i;
  for (int i = 0; i < 5; i++) cr_expect_eq(inv[i], want_inv[i], "inv[%d] = %d, want %d", i, inv[i], want_inv[i]);
  oeq_irreps_free(&in);
  oeq_irreps_free(&sorted);
}

Test(irreps, sort_is_stable_and_keeps_mul0) {
  oeq_irreps_t in, sorted;
  oeq_error_t err = {0};
  repr_of("3x1o+0x0e+2x1o+5x0e+1x1o+4x0o", &in);
  int perm[6];
  cr_assert_eq(oeq_irreps_sort(&in, &sorted, perm, &err), OEQ_SUCCESS, "%s", err.message);
  char buf[128];
  oeq_irreps_format(&sorted, buf, sizeof buf);
  cr_expect_str_eq(buf, "4x0o+0x0e+5x0e+3x1o+2x1o+1x1o", "sorted: %s", buf);
  const int want_p[] = {3, 1, 4, 2, 5, 0};
  for (int i = 0; i < 6; i++) cr_expect_eq(perm[i], want_p[i], "p[%d] = %d, want %d", i, perm[i], want_p[i]);
  oeq_irreps_free(&in);
  oeq_irreps_free(&sorted);
  /* The empty irreps sorts to empty. */
  repr_of("", &in);
  cr_assert_eq(oeq_irreps_sort(&in, &sorted, NULL, &err), OEQ_SUCCESS);
  cr_expect_eq(sorted.len, 0);
  oeq_irreps_free(&in);
  oeq_irreps_free(&sorted);
}

Test(irreps, product_rule) {
  cr_expect(oeq_irrep_in_product(1, -1, 1, -1, 0, 1), "1o x 1o contains 0e");
  cr_expect(oeq_irrep_in_product(1, -1, 1, -1, 1, 1), "1o x 1o contains 1e");
  cr_expect(oeq_irrep_in_product(1, -1, 1, -1, 2, 1), "1o x 1o contains 2e");
  cr_expect(!oeq_irrep_in_product(1, -1, 1, -1, 1, -1), "1o x 1o has no 1o");
  cr_expect(!oeq_irrep_in_product(1, -1, 1, -1, 3, 1), "1o x 1o has no 3e");
  cr_expect(!oeq_irrep_in_product(3, 1, 1, 1, 1, 1), "3e x 1e has no 1e (triangle)");
  cr_expect(oeq_irrep_in_product(3, -1, 2, 1, 5, -1), "3o x 2e contains 5o");
}
