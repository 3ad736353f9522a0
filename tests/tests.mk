# tests/tests.mk: Criterion suites under Automake's TAP driver.
#
# Each suite is one check_PROGRAM linked with the internal archive (so it
# can reach lower layers); Criterion writes TAP to stdout and the driver
# turns it into per-test results. GPU suites skip themselves without a GPU.
LOG_DRIVER = env AM_TAP_AWK='$(AWK)' $(SHELL) $(top_srcdir)/build-aux/tap-driver.sh
LOG_COMPILER = $(SHELL) $(top_srcdir)/tests/run-suite.sh
EXTRA_DIST += tests/run-suite.sh
AM_TESTS_ENVIRONMENT = OEQ_CACHE_DIR=off; export OEQ_CACHE_DIR; \
	OEQ_SRCDIR='$(abs_top_srcdir)'; export OEQ_SRCDIR; \
	OEQ_BUILDDIR='$(abs_top_builddir)'; export OEQ_BUILDDIR;

# Scripts (.sh, .py) are judged by their exit status (77 = skipped).
TEST_EXTENSIONS = .sh .py
SH_LOG_COMPILER = $(SHELL)
SH_LOG_DRIVER = $(SHELL) $(top_srcdir)/build-aux/test-driver
PY_LOG_COMPILER = $(PYTHON3)
PY_LOG_DRIVER = $(SHELL) $(top_srcdir)/build-aux/test-driver

SUITE_CC_FLAGS = $(AM_CFLAGS) $(CRITERION_CFLAGS)
SUITE_LIBS = liboeq_core.la $(CRITERION_LIBS) -lm
SUITE_LINK_FLAGS = $(OPENMP_CFLAGS)

noinst_HEADERS += tests/support.h
EXTRA_DIST += tests/fixtures

if HAVE_CRITERION
check_PROGRAMS += tests/test_cg
tests_test_cg_SOURCES = tests/test_cg.c
tests_test_cg_CFLAGS = $(SUITE_CC_FLAGS)
tests_test_cg_LDADD = $(SUITE_LIBS)
tests_test_cg_LDFLAGS = $(SUITE_LINK_FLAGS)

include tests/suites.mk
include tests/fixtures.mk
endif

# Each fragment adds its own suites to TESTS (check_PROGRAMS also holds
# drivers that are not tests themselves).
if HAVE_CRITERION
TESTS += tests/test_cg
endif

# A plain program for valgrind (run by .ci/test): the whole lifecycle in one
# process.
noinst_PROGRAMS += tests/leak_check
tests_leak_check_SOURCES = tests/leak_check.c
tests_leak_check_LDADD = liboeq.la -lm
