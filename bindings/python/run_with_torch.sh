#!/bin/sh
# run_with_torch.sh SCRIPT: runs bindings/python/SCRIPT against the built
# liboeq with a Python that has torch and NumPy ($PYTHON3, python3, or
# Debian's /usr/bin/python3); skips (77) when there is none. The torch
# suites (test_torch_gpu.sh, test_torch_op.sh) call it; their CUDA cases
# skip themselves without a device.
srcdir=${OEQ_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
b=${OEQ_BUILDDIR:-.}
py=
for cand in "$PYTHON3" python3 /usr/bin/python3; do
  [ -n "$cand" ] || continue
  if "$cand" -c 'import torch, numpy' > /dev/null 2>&1; then py=$cand; break; fi
done
[ -n "$py" ] || { echo "no python3 with torch and numpy: skip"; exit 77; }
if [ -z "$OEQ_LIBRARY" ]; then
  for lib in "$b/.libs/liboeq.so" "$b/.libs/liboeq.dylib"; do
    [ -f "$lib" ] && { OEQ_LIBRARY=$lib; export OEQ_LIBRARY; break; }
  done
fi
[ -n "$OEQ_LIBRARY" ] || { echo "FAIL: liboeq not built in $b/.libs"; exit 1; }
exec "$py" "$srcdir/bindings/python/$1"
