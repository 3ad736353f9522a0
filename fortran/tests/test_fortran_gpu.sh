#!/bin/sh
# test_fortran_gpu.sh: module oeq with device arrays (type(c_ptr) overloads
# on CUDA plans) against CPU plans; test_gpu exits 77 (skip) without a
# CUDA device or the CUDA backend.
b=${OEQ_BUILDDIR:-.}
exec "$b/fortran/tests/test_gpu"
