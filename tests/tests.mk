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
	OEQ_BUILDDIR='$(abs_top_builddir)'; export OEQ_BUILDDIR; \
	OEQ_LD_VERSION_SCRIPT='$(OEQ_LD_VERSION_SCRIPT)'; export OEQ_LD_VERSION_SCRIPT; \
	OEQ_CC='$(CC)'; OEQ_CFLAGS='$(CFLAGS)'; OEQ_LDFLAGS='$(LDFLAGS)'; \
	OEQ_PKG_CONFIG='$(PKG_CONFIG)'; export OEQ_CC OEQ_CFLAGS OEQ_LDFLAGS OEQ_PKG_CONFIG; \
	OEQ_OPENMP_CFLAGS='$(OPENMP_CFLAGS)'; export OEQ_OPENMP_CFLAGS;

# Scripts (.sh, .py) are judged by their exit status (77 = skipped).
TEST_EXTENSIONS = .sh .py
SH_LOG_COMPILER = $(SHELL)
SH_LOG_DRIVER = $(SHELL) $(top_srcdir)/build-aux/test-driver
PY_LOG_COMPILER = $(PYTHON3)
PY_LOG_DRIVER = $(SHELL) $(top_srcdir)/build-aux/test-driver

# Every Criterion suite is one name in CRITERION_SUITES (tests/*.mk): its
# source is NAME.c unless the fragment lists NAME_SOURCES, and it takes the
# defaults below. They are the Makefile's global defaults, so every other
# program (library users in examples/, bench/, fortran/) names its own LDADD.
# CRITERION_CFLAGS (-pthread and a -D for Criterion's own headers) go to the
# preprocessor, so every object sees them but no link line does: libtool
# would record a -pthread of the link in liboeq.la for its users.
SUITE_LIBS = liboeq_core.la $(CRITERION_LIBS) -lm
AM_CPPFLAGS += $(CRITERION_CFLAGS)
LDADD = $(SUITE_LIBS)
AM_LDFLAGS = $(OPENMP_CFLAGS)

noinst_HEADERS += tests/support.h
EXTRA_DIST += tests/fixtures

CRITERION_SUITES =
include tests/suites.mk
include tests/fixtures.mk
include tests/fuzz/fuzz.mk
include tests/gpu.mk
include tests/double_backward.mk
if HAVE_CRITERION
check_PROGRAMS += $(CRITERION_SUITES)
TESTS += $(CRITERION_SUITES)
endif

# A plain program for valgrind (run by .ci/test): the whole lifecycle in one
# process.
noinst_PROGRAMS += tests/leak_check
tests_leak_check_SOURCES = tests/leak_check.c
tests_leak_check_LDADD = liboeq.la -lm
