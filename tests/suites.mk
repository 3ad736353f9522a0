# tests/suites.mk: the foundation suites (included from tests/tests.mk
# inside `if HAVE_CRITERION`). One Criterion program per area, plus a plain
# exit-code script that checks the exported symbols of liboeq.so.
check_PROGRAMS += tests/test_irreps
tests_test_irreps_SOURCES = tests/test_irreps.c
tests_test_irreps_CFLAGS = $(SUITE_CC_FLAGS)
tests_test_irreps_LDADD = $(SUITE_LIBS)
tests_test_irreps_LDFLAGS = $(SUITE_LINK_FLAGS)

check_PROGRAMS += tests/test_problem
tests_test_problem_SOURCES = tests/test_problem.c
tests_test_problem_CFLAGS = $(SUITE_CC_FLAGS)
tests_test_problem_LDADD = $(SUITE_LIBS)
tests_test_problem_LDFLAGS = $(SUITE_LINK_FLAGS)

check_PROGRAMS += tests/test_cpu_tp
tests_test_cpu_tp_SOURCES = tests/test_cpu_tp.c
tests_test_cpu_tp_CFLAGS = $(SUITE_CC_FLAGS)
tests_test_cpu_tp_LDADD = $(SUITE_LIBS)
tests_test_cpu_tp_LDFLAGS = $(SUITE_LINK_FLAGS)

check_PROGRAMS += tests/test_cpu_conv
tests_test_cpu_conv_SOURCES = tests/test_cpu_conv.c
tests_test_cpu_conv_CFLAGS = $(SUITE_CC_FLAGS)
tests_test_cpu_conv_LDADD = $(SUITE_LIBS)
tests_test_cpu_conv_LDFLAGS = $(SUITE_LINK_FLAGS)

check_PROGRAMS += tests/test_errors
tests_test_errors_SOURCES = tests/test_errors.c
tests_test_errors_CFLAGS = $(SUITE_CC_FLAGS)
tests_test_errors_LDADD = $(SUITE_LIBS)
tests_test_errors_LDFLAGS = $(SUITE_LINK_FLAGS)

# Exported symbols: a plain script (exit status), not a Criterion suite.
TESTS += tests/check-exports.sh
EXTRA_DIST += tests/check-exports.sh

TESTS += tests/test_irreps tests/test_problem tests/test_cpu_tp tests/test_cpu_conv tests/test_errors
