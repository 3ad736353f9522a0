# bindings/bindings.mk: the Python ctypes binding and its tests (NumPy on
# the CPU; PyTorch CUDA tensors where torch and a GPU are there).
#
# Binding tests are shell scripts judged by exit status (77 = skip); the
# .sh driver setup (TEST_EXTENSIONS, SH_LOG_*) lives in tests/tests.mk.

EXTRA_DIST += bindings/python/oeq.py bindings/python/test_oeq.py \
	bindings/python/test_python.sh bindings/python/test_torch_gpu.py \
	bindings/python/test_torch_gpu.sh
TESTS += bindings/python/test_python.sh bindings/python/test_torch_gpu.sh
