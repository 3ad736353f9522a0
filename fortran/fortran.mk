# fortran/fortran.mk: the Fortran modules (liboeqf), their generator check,
# the example and the Fortran tests. Built only when configure found a
# Fortran compiler (HAVE_FC).
#
# Installs: liboeqf.{so,a}, the module files oeq.mod and oeq_c.mod into
# $(fmoddir) = $(includedir) (the fmoddir of oeq.pc; .mod files are specific
# to the compiler that built them), and oeq-fortran.pc:
#   gfortran $(pkg-config --cflags oeq-fortran) prog.f90 $(pkg-config --libs oeq-fortran)
EXTRA_DIST += fortran/oeq_real.inc.tpl fortran/oeq_real.inc fortran/oeq-fortran.pc.in \
	fortran/tests/test_fortran_vs_c.sh fortran/tests/test_fortran_errors.sh \
	fortran/tests/test_fortran_final.sh fortran/tests/test_fortran_example.sh \
	fortran/tests/test_fortran_gpu.sh fortran/tests/test_fortran_symcon.sh

# oeq_c.f90 and oeq_real.inc are generated (bindings/genabi.py) and committed;
# bindings/test_genabi.sh fails when they drift from oeq.h.

if HAVE_FC
# The standard, warning and module-directory flags in the spelling of the
# compiler configure found (configure.ac).
OEQF_FCFLAGS = $(OEQF_STD_FCFLAGS) $(FC_MODOUT)fortran

lib_LTLIBRARIES += liboeqf.la
liboeqf_la_SOURCES = fortran/oeq_c.f90 fortran/oeq.f90
liboeqf_la_FCFLAGS = $(OEQF_FCFLAGS)
liboeqf_la_LIBADD = liboeq.la
liboeqf_la_LDFLAGS = -version-info $(OEQ_LT_VERSION) -no-undefined

# oeq.f90 uses module oeq_c; the .mod files come with the objects. (The
# target is named through a variable so that Automake keeps its own rule.)
OEQF_USER_LO = fortran/liboeqf_la-oeq.lo
$(OEQF_USER_LO): fortran/liboeqf_la-oeq_c.lo
# oeq.f90 includes the generated typed overloads (Automake does not track
# Fortran INCLUDE lines).
$(OEQF_USER_LO): $(srcdir)/fortran/oeq_real.inc
fortran/oeq_c.mod: fortran/liboeqf_la-oeq_c.lo
	@:
fortran/oeq.mod: fortran/liboeqf_la-oeq.lo
	@:
fmoddir = $(includedir)
nodist_fmod_DATA = fortran/oeq.mod fortran/oeq_c.mod
CLEANFILES += fortran/oeq.mod fortran/oeq_c.mod

# pkg-config file from a sed rule (no configure change needed).
pkgconfig_DATA += fortran/oeq-fortran.pc
CLEANFILES += fortran/oeq-fortran.pc
fortran/oeq-fortran.pc: $(srcdir)/fortran/oeq-fortran.pc.in Makefile
	$(AM_V_GEN)$(MKDIR_P) fortran && sed \
	  -e 's|@prefix[@]|$(prefix)|g' -e 's|@exec_prefix[@]|$(exec_prefix)|g' \
	  -e 's|@libdir[@]|$(libdir)|g' -e 's|@includedir[@]|$(includedir)|g' \
	  -e 's|@fmoddir[@]|$(fmoddir)|g' -e 's|@FC[@]|$(FC)|g' \
	  -e 's|@PACKAGE_VERSION[@]|$(PACKAGE_VERSION)|g' \
	  $(srcdir)/fortran/oeq-fortran.pc.in > $@

# Test and example programs: built by make check (through check_SCRIPTS, so
# that the Criterion TAP driver of tests/tests.mk does not run them as suites)
# and run by the .sh tests; -no-install gives real binaries for valgrind.
OEQF_CHECK_PROGS = fortran/tests/fdriver fortran/tests/cdriver fortran/tests/test_errors \
	fortran/tests/test_errstop fortran/tests/test_final fortran/examples/md_conv \
	fortran/tests/test_gpu fortran/tests/test_symcon
EXTRA_PROGRAMS = $(OEQF_CHECK_PROGS)
check_SCRIPTS += $(OEQF_CHECK_PROGS)
CLEANFILES += $(OEQF_CHECK_PROGS)
OEQF_PROG_FLAGS = $(OEQF_FCFLAGS) -I fortran
OEQF_PROG_LIBS = liboeqf.la liboeq.la

fortran_tests_fdriver_SOURCES = fortran/tests/fdriver.f90
fortran_tests_fdriver_FCFLAGS = $(OEQF_PROG_FLAGS)
fortran_tests_fdriver_LDADD = $(OEQF_PROG_LIBS)
fortran_tests_fdriver_LDFLAGS = -no-install
fortran_tests_test_errors_SOURCES = fortran/tests/test_errors.f90
fortran_tests_test_errors_FCFLAGS = $(OEQF_PROG_FLAGS)
fortran_tests_test_errors_LDADD = $(OEQF_PROG_LIBS)
fortran_tests_test_errors_LDFLAGS = -no-install
fortran_tests_test_errstop_SOURCES = fortran/tests/test_errstop.f90
fortran_tests_test_errstop_FCFLAGS = $(OEQF_PROG_FLAGS)
fortran_tests_test_errstop_LDADD = $(OEQF_PROG_LIBS)
fortran_tests_test_errstop_LDFLAGS = -no-install
fortran_tests_test_final_SOURCES = fortran/tests/test_final.f90
fortran_tests_test_final_FCFLAGS = $(OEQF_PROG_FLAGS)
fortran_tests_test_final_LDADD = $(OEQF_PROG_LIBS)
fortran_tests_test_final_LDFLAGS = -no-install
fortran_examples_md_conv_SOURCES = fortran/examples/md_conv.f90
fortran_examples_md_conv_FCFLAGS = $(OEQF_PROG_FLAGS)
fortran_examples_md_conv_LDADD = $(OEQF_PROG_LIBS)
fortran_examples_md_conv_LDFLAGS = -no-install
# Device arrays through the c_ptr overloads (skips without a CUDA device);
# gpu_mem.c opens the driver API at run time, so nothing CUDA is linked.
fortran_tests_test_gpu_SOURCES = fortran/tests/test_gpu.f90 fortran/tests/gpu_mem.c
fortran_tests_test_gpu_FCFLAGS = $(OEQF_PROG_FLAGS)
fortran_tests_test_gpu_LDADD = $(OEQF_PROG_LIBS)
fortran_tests_test_gpu_LDFLAGS = -no-install
fortran_tests_test_symcon_SOURCES = fortran/tests/test_symcon.f90
fortran_tests_test_symcon_FCFLAGS = $(OEQF_PROG_FLAGS)
fortran_tests_test_symcon_LDADD = $(OEQF_PROG_LIBS)
fortran_tests_test_symcon_LDFLAGS = -no-install
fortran_tests_cdriver_SOURCES = fortran/tests/cdriver.c
fortran_tests_cdriver_CPPFLAGS = -I$(top_srcdir)/include -I$(top_builddir)/include
fortran_tests_cdriver_LDADD = liboeq.la
fortran_tests_cdriver_LDFLAGS = -no-install

# Every Fortran object needs the modules first.
$(fortran_tests_fdriver_OBJECTS) $(fortran_tests_test_errors_OBJECTS) \
$(fortran_tests_test_errstop_OBJECTS) $(fortran_tests_test_final_OBJECTS) \
$(fortran_examples_md_conv_OBJECTS) $(fortran_tests_test_gpu_OBJECTS) \
$(fortran_tests_test_symcon_OBJECTS): $(OEQF_USER_LO)

TESTS += fortran/tests/test_fortran_vs_c.sh fortran/tests/test_fortran_errors.sh \
	fortran/tests/test_fortran_final.sh fortran/tests/test_fortran_example.sh \
	fortran/tests/test_fortran_gpu.sh fortran/tests/test_fortran_symcon.sh
endif
