#!/bin/sh
# test_torch_op.sh: runs test_torch_op.py (the oeq_torch custom ops and modules)
# against the built liboeq with a Python that has torch; skips (77)
# when there is none; its CUDA cases skip themselves without a device.
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
exec "$py" "$srcdir/bindings/python/test_torch_op.py"
