#!/bin/sh
# test_fortran_symcon.sh: the symmetric contraction through module oeq
# (fortran/tests/test_symcon.f90 exits 1 on the first failed check).
b=${OEQ_BUILDDIR:-.}
exec "$b/fortran/tests/test_symcon"
