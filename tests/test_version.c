/* test_version.c: the release numbers of oeq_version.h. OEQ_VERSION_CODE
 * is the number that oeq_version()'s "MAJOR.MINOR.PATCH" encodes, and
 * OEQ_VERSION_ENCODE orders releases as their numbers do. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "oeq.h"

TestSuite(version);

Test(version, code_matches_the_library_string) {
  int major, minor, patch, end = -1;
  const char *v = oeq_version();
  cr_assert_not_null(v);
  cr_assert(sscanf(v, "%d.%d.%d%n", &major, &minor, &patch, &end) == 3 && end == (int)strlen(v),
            "oeq_version() = \"%s\" is not MAJOR.MINOR.PATCH", v);
  cr_expect_eq(OEQ_VERSION_ENCODE(major, minor, patch), OEQ_VERSION_CODE,
               "oeq_version() %s encodes to %d, OEQ_VERSION_CODE is %d", v,
               OEQ_VERSION_ENCODE(major, minor, patch), OEQ_VERSION_CODE);
  cr_expect_eq(OEQ_VERSION_CODE,
               OEQ_VERSION_ENCODE(OEQ_VERSION_MAJOR, OEQ_VERSION_MINOR, OEQ_VERSION_PATCH));
}

/* Usable in #if, as users will write it. */
#if OEQ_VERSION_CODE < OEQ_VERSION_ENCODE(0, 0, 0) || OEQ_VERSION_CODE != OEQ_VERSION_ENCODE(OEQ_VERSION_MAJOR, OEQ_VERSION_MINOR, OEQ_VERSION_PATCH)
#error "OEQ_VERSION_CODE is not usable in #if"
#endif

Test(version, encode_orders_releases) {
  /* Each field outranks every value of the fields after it (up to 99). */
  cr_expect_gt(OEQ_VERSION_ENCODE(1, 0, 0), OEQ_VERSION_ENCODE(0, 99, 99));
  cr_expect_gt(OEQ_VERSION_ENCODE(0, 2, 0), OEQ_VERSION_ENCODE(0, 1, 99));
  cr_expect_gt(OEQ_VERSION_ENCODE(0, 1, 1), OEQ_VERSION_ENCODE(0, 1, 0));
  cr_expect_neq(OEQ_VERSION_ENCODE(0, 1, 0), OEQ_VERSION_ENCODE(0, 0, 1));
}
