# tests/double_backward.mk: the second-derivative suite (CPU cases, the
# conservative-forces test, the e3nn double-backward fixtures when present,
# and GPU cases that skip themselves without a device).
CRITERION_SUITES += tests/test_double_backward
tests_test_double_backward_SOURCES = tests/test_double_backward.c tests/dd_support.c \
	tests/dd_support.h tests/dd_forces.c tests/dd_fixtures.c tests/fixture_io.c tests/gpu_runtime.c
EXTRA_DIST += tests/fixtures/gen_double_backward_fixtures.py tests/fixtures/dd_manifest.txt \
	tests/fixtures/dd_channelwise.bin tests/fixtures/dd_fctp_shared.bin tests/fixtures/dd_uvu_mixed.bin

# HIP sources use no warp primitive that is only a fence on AMD wave64
# (codegen only: no compiler or GPU).
CRITERION_SUITES += tests/test_hip_lockstep
