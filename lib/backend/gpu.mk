# lib/backend/gpu.mk: the CUDA backend (libcuda + NVRTC opened at run time),
# the kernel cache, the GPU code generator, and their tests.

liboeq_core_la_SOURCES += \
	lib/backend/cuda_api.c lib/backend/cuda_api.h \
	lib/backend/kcache.c lib/backend/kcache.h \
	lib/backend/sha256.c lib/backend/sha256.h \
	lib/backend/cuda.c \
	lib/codegen/strbuf.c lib/codegen/strbuf.h \
	lib/codegen/emit_util.c lib/codegen/emit_util.h \
	lib/codegen/tp_codegen.c lib/codegen/tp_codegen.h \
	lib/codegen/tp_forward.c \
	lib/codegen/tp_backward.c

if HAVE_CRITERION
check_PROGRAMS += test_nvrtc_compile test_cuda
TESTS += test_nvrtc_compile test_cuda
test_nvrtc_compile_SOURCES = tests/test_nvrtc_compile.c
test_nvrtc_compile_CFLAGS = $(AM_CFLAGS) $(CRITERION_CFLAGS)
test_nvrtc_compile_LDADD = liboeq_core.la $(CRITERION_LIBS)
test_cuda_SOURCES = tests/test_cuda.c
test_cuda_CFLAGS = $(AM_CFLAGS) $(CRITERION_CFLAGS)
test_cuda_LDADD = liboeq_core.la $(CRITERION_LIBS)
endif
