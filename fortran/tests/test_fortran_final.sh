#!/bin/sh
# test_fortran_final.sh: the final procedures free every handle (valgrind,
# definite + indirect leaks are errors). The same program with a deliberate
# leak must fail, which shows the check can fail. Skips without valgrind.
b=${OEQ_BUILDDIR:-.}
prog="$b/fortran/tests/test_final"
"$prog" || { echo "FAIL: test_final"; exit 1; }
if ldd "$prog" 2>/dev/null | grep -q libasan; then
  # A sanitizer build (.ci/test's ASan leg): valgrind cannot run it, but
  # LeakSanitizer checked the run above at exit; it must catch the leak too.
  if "$prog" leak > /dev/null 2>&1; then echo "FAIL: LeakSanitizer missed a deliberate leak"; exit 1; fi
  echo "ok: no leaks (LeakSanitizer), and a deliberate leak is reported"
  exit 0
fi
command -v valgrind > /dev/null 2>&1 || { echo "valgrind not found: ran without the leak check; skip"; exit 77; }
vg="valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=3"
OMP_NUM_THREADS=1; export OMP_NUM_THREADS
$vg "$prog"
rc=$?
[ $rc -eq 0 ] || { echo "FAIL: valgrind reports leaks or errors (rc $rc)"; exit 1; }
echo "ok: no leaks"
$vg "$prog" leak > /dev/null 2>&1
rc=$?
[ $rc -eq 3 ] || { echo "FAIL: a deliberate leak was not reported (rc $rc)"; exit 1; }
echo "ok: a deliberate leak is reported"
