# lib/backend/hip.mk: the HIP backend (libamdhip64 + hiprtc opened at run
# time; lib/backend/hip.c itself is listed in Makefile.am) and its tests.
# Both suites reach ROCm through oeq's dlopen tables, so they build without
# ROCm and skip themselves where hiprtc or an AMD GPU is missing.

liboeq_core_la_SOURCES += \
	lib/backend/hip_api.c lib/backend/hip_api.h

if HAVE_CRITERION
check_PROGRAMS += tests/test_hiprtc_compile tests/test_hip
tests_test_hiprtc_compile_SOURCES = tests/test_hiprtc_compile.c
tests_test_hiprtc_compile_CFLAGS = $(SUITE_CC_FLAGS)
tests_test_hiprtc_compile_LDADD = $(SUITE_LIBS)
tests_test_hiprtc_compile_LDFLAGS = $(SUITE_LINK_FLAGS)
tests_test_hip_SOURCES = tests/test_hip.c
tests_test_hip_CFLAGS = $(SUITE_CC_FLAGS)
tests_test_hip_LDADD = $(SUITE_LIBS)
tests_test_hip_LDFLAGS = $(SUITE_LINK_FLAGS)
TESTS += tests/test_hiprtc_compile tests/test_hip
endif
