#!/bin/sh
# test_md_fd.sh: the MD example's forces equal -dE/dx by central finite
# differences (h = 1e-5; truncation ~h^2 and rounding ~1e-16 |E| / h, both
# far below the 1e-6 of max |F| allowed), for 4 atoms x 3 components:
#  - the whole potential on 1 rank (32 atoms: every neighbour across the box
#    is a periodic-image ghost);
#  - the message-passing part alone (--no-pair): forces that come only from
#    oeq's conv_backward and the chain rule;
#  - the whole potential on 2 ranks (108 atoms: ghosts from the other rank,
#    node features exchanged between the layers, forces reduced back).
. "${OEQ_SRCDIR:-.}/examples/md/md_test_env.sh"
check() {
  n=$1
  shift
  md_run "$n" --mode fd "$@" > "$md_tmp/fd" 2>&1 || { cat "$md_tmp/fd"; echo "FAIL: md --mode fd $*"; exit 1; }
  grep '^fd: atom' "$md_tmp/fd" | head -3
  line=$(grep '^fd: max_err_rel' "$md_tmp/fd")
  echo "$n rank(s) $*: $line"
  [ "$(grep -c '^fd: atom' "$md_tmp/fd")" -eq 12 ] || { echo "FAIL: expected 12 components"; exit 1; }
  echo "$line" | awk '{ exit !($3 + 0 < 1e-6 && $5 + 0 > 0.1) }' || { echo "FAIL: finite differences"; exit 1; }
}
check 1 --cells 2
check 1 --cells 2 --no-pair
check 2 --cells 3
exit 0
