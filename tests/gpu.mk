# tests/gpu.mk: the GPU suites (CUDA and HIP backends, fused convolution)
# and the run-time-compiler suite (NVRTC, hiprtc). They reach the drivers
# through oeq's dlopen tables, so they build without CUDA or ROCm and skip
# themselves where a compiler or a device is missing.
# Each case runs once per runtime (tests/gpu_runtime.h).
CRITERION_SUITES += tests/test_rtc_compile tests/test_gpu tests/test_gpu_conv
# The symmetric contraction's generated source (NVRTC, hiprtc).
CRITERION_SUITES += tests/test_symcon_rtc
tests_test_gpu_SOURCES = tests/test_gpu.c tests/gpu_runtime.c
tests_test_gpu_conv_SOURCES = tests/test_gpu_conv.c tests/gpu_runtime.c
# The symmetric contraction's pair kernels compiled for the host and run
# there (tests/simt_host.h): a script, with a program that prints the source.
check_PROGRAMS += tests/symcon_source
tests_symcon_source_LDADD = liboeq_core.la -lm
TESTS += tests/test_symcon_host.sh
EXTRA_DIST += tests/test_symcon_host.sh tests/host_kernel_env.sh tests/simt_host.h tests/symcon_host.cpp tests/symcon_host_part.cpp
# The fused convolution's kernels compiled for the host and run there, the
# same way (tests/test_conv_host.sh), with a program that prints the
# source and its launch facts.
check_PROGRAMS += tests/conv_source
tests_conv_source_LDADD = liboeq_core.la -lm
TESTS += tests/test_conv_host.sh
EXTRA_DIST += tests/test_conv_host.sh tests/conv_host.cpp tests/conv_host_part.cpp
# Symmetric-contraction plans on a GPU against the CPU plan.
CRITERION_SUITES += tests/test_symcon_gpu
tests_test_symcon_gpu_SOURCES = tests/test_symcon_gpu.c tests/gpu_runtime.c
EXTRA_DIST += tests/gpu_cases.h tests/anchors.h tests/gpu_runtime.h
