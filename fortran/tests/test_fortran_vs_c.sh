#!/bin/sh
# test_fortran_vs_c.sh: the Fortran layer (fdriver, Fortran arrays through
# module oeq) and the C API (cdriver) give bit-identical results on the same
# inputs: TP forward/backward (float64) and the convolution forward/backward
# (float32, deterministic and atomic-free plain modes).
b=${OEQ_BUILDDIR:-.}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
# One thread: the plain (non-deterministic) convolution sums in thread order.
OMP_NUM_THREADS=1; export OMP_NUM_THREADS
"$b/fortran/tests/fdriver" "$tmp/fortran.bin" || { echo "FAIL: fdriver"; exit 1; }
"$b/fortran/tests/cdriver" "$tmp/c.bin" || { echo "FAIL: cdriver"; exit 1; }
size=$(wc -c < "$tmp/c.bin")
[ "$size" -gt 0 ] || { echo "FAIL: empty output"; exit 1; }
if ! cmp "$tmp/fortran.bin" "$tmp/c.bin"; then
  echo "FAIL: Fortran and C results differ"
  exit 1
fi
echo "ok: $size bytes identical"
