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
# Symmetric-contraction plans on a GPU against the CPU plan.
CRITERION_SUITES += tests/test_symcon_gpu
tests_test_symcon_gpu_SOURCES = tests/test_symcon_gpu.c tests/gpu_runtime.c
EXTRA_DIST += tests/gpu_cases.h tests/anchors.h tests/gpu_runtime.h
