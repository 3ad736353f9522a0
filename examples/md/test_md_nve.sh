#!/bin/sh
# test_md_nve.sh: energy conservation of the MD example (float64, 1 rank,
# 32 atoms, kT = 0.05, mass 1, nearest neighbours at 1).
#
# Velocity Verlet is symplectic and time-reversible: with smooth forces that
# are the exact gradient of the energy, E_tot oscillates within
# O((omega dt)^2) of E_kin and does not drift. Here the stiffest mode has
# omega ~ 12 (the pair term's curvature at d = 1 over ~12 neighbours), so
# with dt = 0.005, (omega dt)^2 ~ 4e-3. Bounds, relative to E_kin(0):
#  - max |E_tot(t) - E_tot(0)| over 1000 steps < 1e-2;
#  - drift (mean of the last 100 steps minus mean of the first 100) < 1e-3;
#  - halving dt (2000 steps, same time) divides the excursion by 4 (3 to 5):
#    the error is the integrator's, not forces that are not -dE/dx (those
#    give an error that does not fall as dt^2).
# A smooth cutoff matters: the envelope and the pair term vanish at rc with
# their first derivatives, so atoms crossing rc cause no energy jumps.
. "${OEQ_SRCDIR:-.}/examples/md/md_test_env.sh"
md_run 1 --cells 2 --steps 1000 --dt 0.005 > "$md_tmp/a" 2>&1 || { cat "$md_tmp/a"; echo "FAIL: run"; exit 1; }
md_run 1 --cells 2 --steps 2000 --dt 0.0025 > "$md_tmp/b" 2>&1 || { cat "$md_tmp/b"; echo "FAIL: run"; exit 1; }
a=$(grep '^nve:' "$md_tmp/a")
b=$(grep '^nve:' "$md_tmp/b")
echo "$a"
echo "$b"
[ -n "$a" ] && [ -n "$b" ] || { echo "FAIL: no nve line"; exit 1; }
echo "$a $b" | awk '{
  dev1 = $7 + 0; drift1 = $9 + 0; dev2 = $16 + 0
  printf "dt 0.005: max_dev %.3e (bound 1e-2), drift %.3e (bound 1e-3); dt ratio of max_dev %.2f (3..5)\n", dev1, drift1, dev1 / dev2
  exit !(dev1 > 0 && dev1 < 1e-2 && drift1 < 1e-3 && dev1 / dev2 > 3 && dev1 / dev2 < 5) }' || {
  echo "FAIL: energy conservation"; exit 1; }
exit 0
