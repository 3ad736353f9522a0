#!/bin/sh
# test_fortran_example.sh: the MD example runs and prints finite checksums.
b=${OEQ_BUILDDIR:-.}
out=$("$b/fortran/examples/md_conv") || { echo "FAIL: md_conv"; exit 1; }
echo "$out"
echo "$out" | grep -q '^checksum sum(abs(m)) = *[1-9]' || { echo "FAIL: no checksum"; exit 1; }
echo "$out" | grep -qi 'nan\|inf' && { echo "FAIL: non-finite checksum"; exit 1; }
exit 0
