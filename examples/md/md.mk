# examples/md/md.mk: the MPI Fortran mini-MD over oeq (examples/md/*.f90)
# and its checks. Built and run only when configure found an MPI Fortran
# compiler with mpi_f08 (HAVE_MPI_F08); otherwise the tests skip (77).
#
# The program is compiled with $(MPIFC) (mpifort) and linked through
# libtool against liboeqf / liboeq, so it cannot use Automake's own rules
# (those use $(FC)); -no-install gives a real binary for mpiexec.
MDX_FILES = examples/md/md_rng.f90 examples/md/md_domain.f90 examples/md/md_graph.f90 \
	examples/md/md_edge.f90 examples/md/md_oeqcall.f90 examples/md/md_potential.f90 \
	examples/md/md_main.f90 examples/md/md_gpu.c
MDX_TESTS = examples/md/test_md_ranks.sh examples/md/test_md_fd.sh examples/md/test_md_nve.sh \
	examples/md/test_md_rotation.sh \
	examples/md/test_md_cache.sh
EXTRA_DIST += $(MDX_FILES) $(MDX_TESTS) examples/md/md_test_env.sh examples/md/run_gpu.sh \
	examples/md/stage_gpu_run.sh
TESTS += $(MDX_TESTS)

if HAVE_MPI_F08
check_SCRIPTS += examples/md/md
MDX_OBJS = examples/md/md_rng.o examples/md/md_domain.o examples/md/md_graph.o \
	examples/md/md_edge.o examples/md/md_oeqcall.o examples/md/md_potential.o \
	examples/md/md_main.o examples/md/md_gpu.o
CLEANFILES += examples/md/md $(MDX_OBJS) examples/md/md_rng.mod examples/md/md_domain.mod \
	examples/md/md_graph.mod examples/md/md_edge.mod examples/md/md_oeqcall.mod \
	examples/md/md_potential.mod
MDX_FCFLAGS = -std=f2008 -Wall -Werror -O2 -g -I fortran -J examples/md $(FCFLAGS)
AM_TESTS_ENVIRONMENT += MPIEXEC='$(MPIEXEC)'; export MPIEXEC;

# Each object after the modules it uses (module files come with objects).
MDX_FC = $(AM_V_GEN)$(MKDIR_P) examples/md && $(MPIFC) $(MDX_FCFLAGS) -c -o $@
examples/md/md_rng.o: $(srcdir)/examples/md/md_rng.f90
	$(MDX_FC) $(srcdir)/examples/md/md_rng.f90
examples/md/md_domain.o: $(srcdir)/examples/md/md_domain.f90
	$(MDX_FC) $(srcdir)/examples/md/md_domain.f90
examples/md/md_graph.o: $(srcdir)/examples/md/md_graph.f90 examples/md/md_domain.o
	$(MDX_FC) $(srcdir)/examples/md/md_graph.f90
examples/md/md_edge.o: $(srcdir)/examples/md/md_edge.f90
	$(MDX_FC) $(srcdir)/examples/md/md_edge.f90
examples/md/md_oeqcall.o: $(srcdir)/examples/md/md_oeqcall.f90 $(OEQF_USER_LO)
	$(MDX_FC) $(srcdir)/examples/md/md_oeqcall.f90
examples/md/md_potential.o: $(srcdir)/examples/md/md_potential.f90 examples/md/md_rng.o \
		examples/md/md_domain.o examples/md/md_graph.o examples/md/md_edge.o examples/md/md_oeqcall.o
	$(MDX_FC) $(srcdir)/examples/md/md_potential.f90
examples/md/md_main.o: $(srcdir)/examples/md/md_main.f90 examples/md/md_potential.o
	$(MDX_FC) $(srcdir)/examples/md/md_main.f90
examples/md/md_gpu.o: $(srcdir)/examples/md/md_gpu.c
	$(AM_V_GEN)$(MKDIR_P) examples/md && $(CC) -std=c11 $(WARN_CFLAGS) $(CFLAGS) -c -o $@ \
	  $(srcdir)/examples/md/md_gpu.c
examples/md/md: $(MDX_OBJS) liboeqf.la liboeq.la
	$(AM_V_GEN)$(LIBTOOL) $(AM_V_lt) --tag=FC --mode=link $(MPIFC) $(MDX_FCFLAGS) $(LDFLAGS) \
	  -no-install -o $@ $(MDX_OBJS) liboeqf.la liboeq.la $(LIBS)
endif
