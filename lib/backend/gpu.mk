# lib/backend/gpu.mk: the CUDA backend (libcuda + NVRTC opened at run time),
# the kernel cache, the GPU code generator, and their tests.

liboeq_core_la_SOURCES += \
	lib/backend/cuda_api.c lib/backend/cuda_api.h \
	lib/backend/kcache.c lib/backend/kcache.h \
	lib/backend/sha256.c lib/backend/sha256.h \
	lib/backend/cuda.c lib/backend/cuda_image.c lib/backend/ptr_memo.h \
	lib/codegen/strbuf.c lib/codegen/strbuf.h \
	lib/codegen/emit_util.c lib/codegen/emit_util.h \
	lib/codegen/tp_codegen.c lib/codegen/tp_codegen.h \
	lib/codegen/tp_forward.c \
	lib/codegen/tp_backward.c \
	lib/codegen/tp_dw_mma.c \
	lib/codegen/mma_emit.c lib/codegen/mma_emit.h \
	lib/codegen/tp_fwd_mma.c lib/codegen/tp_bwd_mma.c lib/codegen/pair_mma.h

# Test suites (each fragment adds its suites to TESTS). The GPU suite
# reaches the driver through oeq's dlopen table, so both build without CUDA.
if HAVE_CRITERION
check_PROGRAMS += tests/test_nvrtc_compile tests/test_cuda
tests_test_nvrtc_compile_SOURCES = tests/test_nvrtc_compile.c
tests_test_nvrtc_compile_CFLAGS = $(SUITE_CC_FLAGS)
tests_test_nvrtc_compile_LDADD = $(SUITE_LIBS)
tests_test_nvrtc_compile_LDFLAGS = $(SUITE_LINK_FLAGS)
tests_test_cuda_SOURCES = tests/test_cuda.c
tests_test_cuda_CFLAGS = $(SUITE_CC_FLAGS)
tests_test_cuda_LDADD = $(SUITE_LIBS)
tests_test_cuda_LDFLAGS = $(SUITE_LINK_FLAGS)
TESTS += tests/test_nvrtc_compile tests/test_cuda
endif
EXTRA_DIST += tests/gpu_cases.h
EXTRA_DIST += tests/anchors.h
