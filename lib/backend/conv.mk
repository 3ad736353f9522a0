# lib/backend/conv.mk: the fused graph convolution on CUDA (code generator,
# backend glue), its tests and its benchmark's sources.
liboeq_core_la_SOURCES += \
	lib/codegen/conv_codegen.c lib/codegen/conv_codegen.h lib/codegen/conv_emit.h \
	lib/codegen/conv_forward.c \
	lib/codegen/conv_backward.c \
	lib/codegen/conv_helpers.c \
	lib/backend/cuda_conv.c lib/backend/cuda_conv.h

if HAVE_CRITERION
check_PROGRAMS += tests/test_nvrtc_conv tests/test_cuda_conv
tests_test_nvrtc_conv_SOURCES = tests/test_nvrtc_conv.c
tests_test_nvrtc_conv_CFLAGS = $(SUITE_CC_FLAGS)
tests_test_nvrtc_conv_LDADD = $(SUITE_LIBS)
tests_test_nvrtc_conv_LDFLAGS = $(SUITE_LINK_FLAGS)
tests_test_cuda_conv_SOURCES = tests/test_cuda_conv.c
tests_test_cuda_conv_CFLAGS = $(SUITE_CC_FLAGS)
tests_test_cuda_conv_LDADD = $(SUITE_LIBS)
tests_test_cuda_conv_LDFLAGS = $(SUITE_LINK_FLAGS)
TESTS += tests/test_nvrtc_conv tests/test_cuda_conv
endif
