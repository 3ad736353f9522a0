#!/bin/sh
# test_genabi.sh: the drift test of every binding's generated layer. The
# committed fortran/oeq_c.f90, fortran/oeq_real.inc, julia/src/abi.jl and
# bindings/python/oeq_abi.py must be exactly what bindings/genabi.py makes
# of include/oeq.h (every file it writes is compared). Then the check must
# catch drift: a changed prototype, a changed enum value, a new function and
# a new enum value must each reach every layer, and a C type the generator
# does not know must stop it.
srcdir=${OEQ_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
py=$(command -v python3) || { echo "python3 not found: skip"; exit 77; }
gen="$py $srcdir/bindings/genabi.py"
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

$gen --header "$srcdir/include/oeq.h" --outdir "$tmp/gen" || { echo "FAIL: genabi.py failed"; exit 1; }
files=$(cd "$tmp/gen" && find . -type f | sed 's,^\./,,' | sort)
[ "$(echo "$files" | wc -w)" -ge 4 ] || { echo "FAIL: genabi.py wrote only: $files"; exit 1; }
stale=
for f in $files; do
  if [ ! -f "$srcdir/$f" ]; then
    echo "FAIL: $f is generated but not in the tree"; stale="$stale $f"
  elif ! diff -u "$srcdir/$f" "$tmp/gen/$f"; then
    stale="$stale $f"
  fi
done
if [ -n "$stale" ]; then
  echo "FAIL: stale generated file(s):$stale"
  echo "      regenerate them from include/oeq.h with: python3 bindings/genabi.py (and commit them)"
  exit 1
fi
echo "ok: $(echo "$files" | tr '\n' ' ')match include/oeq.h"

# Negative checks on a changed header: int device -> int64_t device, an enum
# value changed, a new dtype, a new function.
sed -e 's/oeq_backend_t b, int device,/oeq_backend_t b, int64_t device,/' \
    -e 's/OEQ_ERROR_IO = 9/OEQ_ERROR_IO = 19/' \
    -e 's/OEQ_FLOAT64 = 1 }/OEQ_FLOAT64 = 1, OEQ_FLOAT16 = 2 }/' \
    -e 's/^OEQ_API void oeq_plan_destroy(oeq_plan_t \*plan);$/&\
OEQ_API oeq_status_t oeq_plan_frobnicate(const oeq_plan_t *plan, int64_t *n);/' \
    "$srcdir/include/oeq.h" > "$tmp/changed.h"
for edit in 'int64_t device' 'OEQ_ERROR_IO = 19' 'OEQ_FLOAT16 = 2' 'oeq_plan_frobnicate'; do
  grep -q "$edit" "$tmp/changed.h" || { echo "FAIL: the sed did not make '$edit'"; exit 1; }
done
$gen --header "$tmp/changed.h" --outdir "$tmp/changed" || { echo "FAIL: genabi.py failed on the changed header"; exit 1; }
fails=0
# expect FILE FIXED-STRING WHAT: the layer generated from the changed header has it.
expect() {
  if grep -qF -- "$2" "$tmp/changed/$1"; then
    echo "ok: $1: $3"
  else
    echo "FAIL: $1 does not follow the header: $3 (no '$2')"; fails=$((fails + 1))
  fi
}
expect fortran/oeq_c.f90 'integer(c_int64_t), value :: device' 'int64_t device'
expect fortran/oeq_c.f90 'OEQ_ERROR_IO = 19' 'enum value'
expect fortran/oeq_c.f90 'function oeq_plan_frobnicate(plan, n) bind(C' 'new function'
expect fortran/oeq_c.f90 'integer(c_int64_t), intent(out) :: n' 'new function out-pointer'
expect fortran/oeq_real.inc 'OEQ_FLOAT16' 'new dtype listed'
expect julia/src/abi.jl '(Ptr{oeq_problem_s}, Cint, Int64, Ref{Ptr{oeq_plan_s}})' 'int64_t device'
expect julia/src/abi.jl 'const OEQ_ERROR_IO = Cint(19)' 'enum value'
expect julia/src/abi.jl 'const OEQ_FLOAT16 = Cint(2)' 'new dtype'
expect julia/src/abi.jl 'ccall(fptr(:oeq_plan_frobnicate), Cint, (Ptr{oeq_plan_s}, Ref{Int64}), plan, n)' 'new function'
expect julia/src/abi.jl ':oeq_plan_frobnicate,' 'new function looked up'
expect bindings/python/oeq_abi.py '    ERROR_IO = 19' 'enum value'
expect bindings/python/oeq_abi.py '    FLOAT16 = 2' 'new dtype'
# The Python table is read back through ctypes, not as text.
if "$py" - "$tmp/changed/bindings/python" <<'PY'
import ctypes, sys
sys.path.insert(0, sys.argv[1])
import oeq_abi as a
res, args = a.PROTOTYPES["oeq_plan_create_tp"]
assert args[2] is ctypes.c_int64, f"device is {args[2]}"
res, args = a.PROTOTYPES["oeq_plan_frobnicate"]
assert res is ctypes.c_int and args == [ctypes.POINTER(a.oeq_plan_t), ctypes.POINTER(ctypes.c_int64)], args
assert list(a.PROTOTYPES).index("oeq_plan_frobnicate") == list(a.PROTOTYPES).index("oeq_plan_destroy") + 1
PY
then
  echo "ok: bindings/python/oeq_abi.py: int64_t device, new function"
else
  echo "FAIL: bindings/python/oeq_abi.py does not follow the header"; fails=$((fails + 1))
fi
for f in $files; do
  cmp -s "$tmp/gen/$f" "$tmp/changed/$f" && { echo "FAIL: $f did not change"; fails=$((fails + 1)); }
done

# A type no table knows stops the generator, naming it.
sed -e 's/^OEQ_API void oeq_plan_destroy(oeq_plan_t \*plan);$/&\
OEQ_API oeq_status_t oeq_plan_odd(const oeq_plan_t *plan, long double x);/' \
    "$srcdir/include/oeq.h" > "$tmp/odd.h"
if $gen --header "$tmp/odd.h" --outdir "$tmp/odd" > "$tmp/odd.out" 2>&1; then
  echo "FAIL: genabi.py accepted a long double argument"; fails=$((fails + 1))
elif grep -q 'long double' "$tmp/odd.out"; then
  echo "ok: an unknown type stops the generator: $(head -1 "$tmp/odd.out")"
else
  echo "FAIL: the generator's message does not name the type: $(cat "$tmp/odd.out")"; fails=$((fails + 1))
fi
[ $fails -eq 0 ] || exit 1
