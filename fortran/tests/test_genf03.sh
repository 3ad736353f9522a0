#!/bin/sh
# test_genf03.sh: fortran/oeq_c.f90 must be exactly what genf03.py makes of
# include/oeq.h; and the check must catch drift: a header with a changed
# prototype must give a different module.
srcdir=${OEQ_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
py=$(command -v python3) || { echo "python3 not found: skip"; exit 77; }
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

"$py" "$srcdir/fortran/genf03.py" "$srcdir/include/oeq.h" > "$tmp/oeq_c.f90" || exit 1
if ! diff -u "$srcdir/fortran/oeq_c.f90" "$tmp/oeq_c.f90"; then
  echo "FAIL: fortran/oeq_c.f90 is stale; run: python3 fortran/genf03.py include/oeq.h > fortran/oeq_c.f90"
  exit 1
fi
echo "ok: oeq_c.f90 matches include/oeq.h"

# Negative check: int device -> int64_t device, and one enum value changed.
sed -e 's/oeq_backend_t b, int device,/oeq_backend_t b, int64_t device,/' \
    -e 's/OEQ_ERROR_IO = 9/OEQ_ERROR_IO = 19/' "$srcdir/include/oeq.h" > "$tmp/broken.h"
cmp -s "$srcdir/include/oeq.h" "$tmp/broken.h" && { echo "FAIL: the sed did not break the header"; exit 1; }
"$py" "$srcdir/fortran/genf03.py" "$tmp/broken.h" > "$tmp/broken.f90" || exit 1
if cmp -s "$srcdir/fortran/oeq_c.f90" "$tmp/broken.f90"; then
  echo "FAIL: a changed header gave the same module"
  exit 1
fi
grep -q 'integer(c_int64_t), value :: device' "$tmp/broken.f90" || { echo "FAIL: int64_t device not mapped"; exit 1; }
grep -q 'OEQ_ERROR_IO = 19' "$tmp/broken.f90" || { echo "FAIL: enum value not followed"; exit 1; }
echo "ok: a changed header is detected"
