# bindings/bindings.mk: the Python ctypes binding and its tests (NumPy on
# the CPU; PyTorch CUDA tensors where torch and a GPU are there).
#
# Binding tests are shell scripts judged by exit status (77 = skip); the
# .sh driver setup (TEST_EXTENSIONS, SH_LOG_*) lives in tests/tests.mk.

EXTRA_DIST += bindings/python/oeq.py bindings/python/oeq_abi.py bindings/python/test_oeq.py \
	bindings/python/test_python.sh bindings/python/test_torch_gpu.py \
	bindings/python/test_torch_gpu.sh bindings/python/run_with_torch.sh
TESTS += bindings/python/test_python.sh bindings/python/test_torch_gpu.sh
# PyTorch custom ops over the C ABI (oeq_torch.py; torch >= 2.4, e3nn optional).
EXTRA_DIST += bindings/python/oeq_torch.py bindings/python/test_torch_op.py \
	bindings/python/test_torch_op.sh
TESTS += bindings/python/test_torch_op.sh

# One generator writes every binding's raw layer from include/oeq.h (Fortran
# oeq_c.f90 and oeq_real.inc, Julia abi.jl, Python oeq_abi.py); the outputs
# are committed and test_genabi.sh fails when any of them drifts from the
# header. Regenerate with: python3 bindings/genabi.py
EXTRA_DIST += bindings/genabi.py bindings/test_genabi.sh
TESTS += bindings/test_genabi.sh
