# tests/suites.mk: the foundation suites, one Criterion program per area
# (tests/NAME.c; flags and libraries are the defaults of tests/tests.mk),
# plus a plain exit-code script that checks the exported symbols of liboeq.so.
CRITERION_SUITES += tests/test_cg tests/test_irreps tests/test_problem
CRITERION_SUITES += tests/test_cpu_tp tests/test_cpu_conv tests/test_errors
CRITERION_SUITES += tests/test_limits tests/test_kcache
# MACE's symmetric contraction (fixtures in tests/fixtures/symcon, shipped by
# EXTRA_DIST's tests/fixtures).
CRITERION_SUITES += tests/test_symcon
# (its fixtures also run through GPU plans where a device is present)
tests_test_symcon_SOURCES = tests/test_symcon.c tests/gpu_runtime.c
CRITERION_SUITES += tests/test_version

# Exported symbols: a plain script (exit status), not a Criterion suite.
TESTS += tests/check-exports.sh
EXTRA_DIST += tests/check-exports.sh
# pkg-config --static links a program against liboeq.a (plain script too).
TESTS += tests/check-static-link.sh
EXTRA_DIST += tests/check-static-link.sh
