#!/bin/sh
# test_fortran_errors.sh: statuses come back through `stat`; without `stat`
# a failure stops the program (non-zero exit) with the library's message.
b=${OEQ_BUILDDIR:-.}
"$b/fortran/tests/test_errors" || { echo "FAIL: test_errors"; exit 1; }
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
if "$b/fortran/tests/test_errstop" > "$tmp/out" 2> "$tmp/err"; then
  echo "FAIL: test_errstop exited 0"; cat "$tmp/out" "$tmp/err"; exit 1
fi
grep -q 'UNREACHABLE' "$tmp/out" && { echo "FAIL: create did not stop"; exit 1; }
grep -q '^oeq: irreps parse error: .*not irreps at all' "$tmp/err" || {
  echo "FAIL: no library message on stderr"; cat "$tmp/err"; exit 1; }
echo "ok: error stop with: $(grep '^oeq:' "$tmp/err")"
