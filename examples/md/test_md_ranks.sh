#!/bin/sh
# test_md_ranks.sh: the MD example gives the same energy and forces on 1, 2
# and 4 ranks (CPU backend, float64): 500 atoms, 10 velocity-Verlet steps
# (some atoms must change ranks: checked), then E and F by global id. The only
# difference allowed is the order of floating-point sums (over edges of a
# receiver, over ghost contributions, over ranks): 1e-12 relative, E
# against |E| and F against max |F|. Then the c_ptr code path (the one a
# GPU run takes) on the CPU, which must match the host path bit for bit.
. "${OEQ_SRCDIR:-.}/examples/md/md_test_env.sh"
for n in 1 2 4; do
  md_run $n --cells 5 --steps 10 --out "$md_tmp/f$n" > "$md_tmp/log$n" 2>&1 || {
    cat "$md_tmp/log$n"; echo "FAIL: $n ranks"; exit 1; }
  grep '^domain:' "$md_tmp/log$n"
  if [ $n -gt 1 ] && ! grep -q '^domain: atoms moved between ranks [1-9]' "$md_tmp/log$n"; then
    echo "FAIL: no atom changed ranks on $n ranks: migration untested"; exit 1
  fi
  lines=$(wc -l < "$md_tmp/f$n")
  [ "$lines" -eq 501 ] || { echo "FAIL: $n ranks wrote $lines lines, expected 501"; exit 1; }
done
status=0
for n in 2 4; do
  awk -v n=$n '
    FNR == 1 { if (NR == 1) e1 = $2; else e2 = $2; next }
    NR == FNR { for (k = 2; k <= 4; k++) f[FNR, k] = $k; next }
    { for (k = 2; k <= 4; k++) {
        d = $k - f[FNR, k]; if (d < 0) d = -d; if (d > m) m = d
        a = f[FNR, k]; if (a < 0) a = -a; if (a > fm) fm = a
        if ($k != $k + 0 || $k ~ /[nN]a[nN]|[iI]nf/) bad = 1 } }
    END {
      de = e2 - e1; if (de < 0) de = -de; ae = e1 < 0 ? -e1 : e1
      printf "%d ranks vs 1: |dE|/|E| = %.3e, max|dF|/max|F| = %.3e (max|F| = %.3f)\n", n, de / ae, m / fm, fm
      exit (bad || fm < 0.1 || !(de <= 1e-12 * ae) || !(m <= 1e-12 * fm)) }' "$md_tmp/f1" "$md_tmp/f$n" || {
    echo "FAIL: $n ranks differ from 1 rank"; status=1; }
done
# The device-array code path (md_gpu.c buffers, the type(c_ptr) overloads)
# with host memory and CPU plans: the same plans on the same numbers, so
# the same bits as the host-array path.
md_run 2 --cells 5 --steps 10 --backend cpu-ptr --out "$md_tmp/fptr" > "$md_tmp/logptr" 2>&1 || {
  cat "$md_tmp/logptr"; echo "FAIL: --backend cpu-ptr"; exit 1; }
if cmp -s "$md_tmp/f2" "$md_tmp/fptr"; then
  echo "2 ranks, c_ptr path: identical to the host-array path"
else
  echo "FAIL: the c_ptr path differs from the host-array path"; status=1
fi
exit $status
