#!/bin/sh
# test_symcon_host.sh: the symmetric contraction's pair-layout kernels, as
# generated for CUDA (warp 32) and HIP (wavefront 64), compiled for the host
# with tests/simt_host.h and run against the CPU backend
# (tests/symcon_host.cpp): the kernels' arithmetic, shared-memory tables,
# species sort and warp reductions checked on a machine without a GPU.
# Several row chunks, sort tiles and a partial last tile, a row whose
# species is out of range (skipped: left as it was), species groups (too
# many species for one block's tables); float32 and
# float64; correlation 1 to 4. Skips (77) without a C++20 compiler with
# <barrier>, and where OEQ_SKIP_RTC_TESTS is set (the sanitizer legs: it
# checks generated source, not oeq's C).
set -u
. "${OEQ_SRCDIR:?}/tests/host_kernel_env.sh"
status=0
# case: IN OUT CORRELATION ELEMENTS CHANNELS DTYPE DIALECT ROWS THREADS GRID_X GROUPS
# (GROUPS: the species groups the source must be split into)
run() {
  dtype=$6 dialect=$7
  warp=32
  [ "$dialect" = hip ] && warp=64
  def=
  [ "$dtype" = f64 ] && def=-DOEQ_HOST_DOUBLE
  if ! "$build/tests/symcon_source" "$1" "$2" "$3" "$4" "$5" "$dtype" "$dialect" >"$work/gen.cu"; then
    echo "FAIL: no source for $*"; status=1; return
  fi
  if ! grep -q "species in ${11} group(s)" "$work/gen.cu"; then
    echo "FAIL: $*: not ${11} species group(s): $(grep -o 'species in [0-9]* group' "$work/gen.cu")"; status=1; return
  fi
  for part in 1 2; do
    $cxx $flags -w -DSIMT_WARP=$warp -DOEQ_PART=$part "-DOEQ_GENERATED_SOURCE=\"$work/gen.cu\"" \
      -c "$src/symcon_host_part.cpp" -o "$work/part$part.o" || { echo "FAIL: compile part $part of $*"; status=1; return; }
  done
  $cxx $flags -DSIMT_WARP=$warp $def "$src/symcon_host.cpp" "$work/part1.o" "$work/part2.o" $link \
    -o "$work/host" || { echo "FAIL: link for $*"; status=1; return; }
  "$work/host" "$1" "$2" "$3" "$4" "$5" "$8" "$9" "${10}" || { echo "FAIL: $*"; status=1; }
}
# 2100 rows: two row chunks for one block (grid-stride), three sort tiles
run 0e+1o+2e+3o 0e+1o+2e 3 3 2 f32 cuda 2100 128 1 1
run 0e+1o+2e+3o 0e+1o+2e 3 3 2 f64 cuda 2100 128 1 1
run 0e+1o+2e+3o 0e+1o+2e 3 4 2 f64 hip 700 128 2 1
run 0e+1o 0e+1o+2e 4 3 2 f64 cuda 300 64 1 1
run 0e+1o+2e 0e+1o+2e 1 2 3 f32 hip 300 64 1 1
# MACE-MP's 89 species: tables for all of them do not fit a block, so
# blocks take species groups (2 in float32, 4 in float64; 3 in a 64 KB HIP
# block for 40 species)
run 0e+1o+2e+3o 0e+1o+2e 3 89 2 f32 cuda 700 128 1 2
run 0e+1o+2e+3o 0e+1o+2e 3 89 1 f64 cuda 500 64 1 4
run 0e+1o+2e+3o 0e+1o+2e 3 40 1 f32 hip 500 128 1 3
exit $status
