# tests/gpu.mk: the GPU suites (CUDA and HIP backends, fused convolution)
# and the run-time-compiler suites (NVRTC, hiprtc). They reach the drivers
# through oeq's dlopen tables, so they build without CUDA or ROCm and skip
# themselves where a compiler or a device is missing.
CRITERION_SUITES += tests/test_nvrtc_compile tests/test_cuda
CRITERION_SUITES += tests/test_nvrtc_conv tests/test_cuda_conv
CRITERION_SUITES += tests/test_hiprtc_compile tests/test_hip
EXTRA_DIST += tests/gpu_cases.h tests/anchors.h
