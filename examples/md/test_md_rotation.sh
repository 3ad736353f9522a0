#!/bin/sh
# test_md_rotation.sh: the potential is rotation invariant, which holds only
# if the spherical harmonics the example computes (e3nn's convention) and
# oeq's Clebsch-Gordan coefficients agree: layer 2's paths 1o x 2e -> 1o,
# 2e x 2e -> 2e, ... feed invariants of the readout. A periodic cubic box
# allows its own symmetries: 90 degrees about z, 120 degrees about
# (1, 1, 1), 90 degrees about x (md --rotate 1..3, about the box centre).
# The energy must equal the unrotated one and the force on every atom must
# be the rotated force, to 1e-12 relative (sums in another order). A
# permuted l = 1 basis (y, z, x) in md_edge.f90 fails it: E off by 4e-7 to
# 3e-6 and forces by 5e-3 under rotations 1 and 3.
. "${OEQ_SRCDIR:-.}/examples/md/md_test_env.sh"
for k in 0 1 2 3; do
  md_run 1 --cells 3 --steps 0 --rotate $k --out "$md_tmp/f$k" > "$md_tmp/log$k" 2>&1 || {
    cat "$md_tmp/log$k"; echo "FAIL: --rotate $k"; exit 1; }
done
status=0
for k in 1 2 3; do
  awk -v k=$k '
    FNR == 1 { if (NR == 1) e1 = $2; else e2 = $2; next }
    NR == FNR { fx[FNR] = $2; fy[FNR] = $3; fz[FNR] = $4; next }
    {
      # R F of the unrotated run for this rotation.
      if (k == 1) { gx = -fy[FNR]; gy = fx[FNR]; gz = fz[FNR] }
      if (k == 2) { gx = fz[FNR]; gy = fx[FNR]; gz = fy[FNR] }
      if (k == 3) { gx = fx[FNR]; gy = -fz[FNR]; gz = fy[FNR] }
      d = $2 - gx; if (d < 0) d = -d; if (d > m) m = d
      d = $3 - gy; if (d < 0) d = -d; if (d > m) m = d
      d = $4 - gz; if (d < 0) d = -d; if (d > m) m = d
      a = gx < 0 ? -gx : gx; if (a > fm) fm = a
    }
    END {
      de = e2 - e1; if (de < 0) de = -de; ae = e1 < 0 ? -e1 : e1
      printf "rotation %d: |dE|/|E| = %.3e, max|F - R F0|/max|F| = %.3e\n", k, de / ae, m / fm
      exit !(fm > 0.1 && de <= 1e-12 * ae && m <= 1e-12 * fm) }' "$md_tmp/f0" "$md_tmp/f$k" || {
    echo "FAIL: rotation $k changes the energy or the forces"; status=1; }
done
exit $status
