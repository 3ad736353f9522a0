#!/bin/sh
# test_python.sh: runs test_oeq.py against the built liboeq with a Python
# that has NumPy ($PYTHON3, python3, or Debian's /usr/bin/python3); skips
# (77) when there is none.
srcdir=${OEQ_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
b=${OEQ_BUILDDIR:-.}
py=
for cand in "$PYTHON3" python3 /usr/bin/python3; do
  [ -n "$cand" ] || continue
  if "$cand" -c 'import numpy' > /dev/null 2>&1; then py=$cand; break; fi
done
[ -n "$py" ] || { echo "no python3 with numpy: skip"; exit 77; }
for lib in "$b/.libs/liboeq.so" "$b/.libs/liboeq.dylib"; do
  [ -f "$lib" ] && { OEQ_LIBRARY=$lib; export OEQ_LIBRARY; break; }
done
[ -n "$OEQ_LIBRARY" ] || { echo "FAIL: liboeq not built in $b/.libs"; exit 1; }
OMP_NUM_THREADS=2; export OMP_NUM_THREADS
# A sanitizer build of liboeq (.ci/test's ASan leg) needs the sanitizer
# runtimes loaded first in an uninstrumented python; python's own
# allocations at exit are not ours to check.
runtimes=$(ldd "$OEQ_LIBRARY" 2>/dev/null | awk '/lib(asan|ubsan)\.so/ {print $3}' | tr '\n' ' ')
if [ -n "$runtimes" ]; then
  LD_PRELOAD="$runtimes"; export LD_PRELOAD
  ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"; export ASAN_OPTIONS
fi
exec "$py" "$srcdir/bindings/python/test_oeq.py"
