#!/bin/sh
# test_conv_host.sh: the fused graph convolution's kernels, as generated for
# CUDA (warp 32) and HIP (wavefront 64), compiled for the host with
# tests/simt_host.h and run with lib/backend/gpu_conv.c's launch sequence
# against the CPU backend (tests/conv_host.cpp): the kernels' arithmetic,
# segments and deterministic fix-ups, shared-memory staging, warp sums,
# skipped out-of-range edges and the index check, on a machine without a
# GPU. Atomic, deterministic and Kahan modes; float32 and float64; per-edge
# and shared weights; a problem whose multiplicity (64) is two CUDA
# chunks, and a small NequIP-like one with mixed parities. Graphs are
# small (every warp primitive is a barrier of threads here, slowest for
# 64-lane wavefronts) but have several segments and hub nodes whose edges
# span three or more. Skips (77)
# without a C++20 compiler with <barrier>, and where OEQ_SKIP_RTC_TESTS is
# set (the sanitizer legs: it checks generated source, not oeq's C).
set -u
. "${OEQ_SRCDIR:?}/tests/host_kernel_env.sh"
status=0
# case: IN1 IN2 FILTER DTYPE DIALECT MODE WEIGHTS NODES EDGES GRID_MAX
# (MODE atomic|det|kahan, -split appended: the backward's block split;
# WEIGHTS edge|shared; GRID_MAX: blocks a launch
# gets at most, so that the kernels' grid-stride loops turn)
run() {
  warp=32
  [ "$5" = hip ] && warp=64
  if ! "$build/tests/conv_source" "$1" "$2" "$3" "$4" "$5" "$6" "$7" "$9" "$work/facts.h" >"$work/gen.cu"; then
    echo "FAIL: no source for $*"; status=1; return
  fi
  case $6 in *-split)
    grep -q "CONV_BACKWARD_ITEMS [2-9]" "$work/facts.h" || { echo "FAIL: $*: no backward block split"; status=1; return; }
  esac
  # the generated source (warnings off: generated code) and the host
  # program, compiled side by side
  $cxx $flags -w -DSIMT_WARP=$warp "-DOEQ_GENERATED_SOURCE=\"$work/gen.cu\"" \
    -c "$src/conv_host_part.cpp" -o "$work/part.o" &
  part=$!
  $cxx $flags -Wall -Wextra -Werror -DSIMT_WARP=$warp "-DOEQ_LAUNCH_FACTS=\"$work/facts.h\"" \
    -c "$src/conv_host.cpp" -o "$work/host.o"
  host=$?
  wait $part || { echo "FAIL: compile the source of $*"; status=1; return; }
  [ $host = 0 ] || { echo "FAIL: compile the host program for $*"; status=1; return; }
  $cxx -pthread "$work/host.o" "$work/part.o" $link -o "$work/host" || { echo "FAIL: link for $*"; status=1; return; }
  "$work/host" "$1" "$2" "$3" "$6" "$8" "${10}" || { echo "FAIL: $*"; status=1; }
}
# 64 channels: two chunks of lanes on CUDA, one wavefront on HIP
big="64x0e+64x1o+64x2e 0e+1o+2e+3o 0e+1o+2e+3o"
# NequIP-like: mixed parities, one partial chunk
small="8x0e+8x1o+8x1e 0e+1o+2e 0e+0o+1o+1e+2e+2o"
run $big f32 cuda det edge 24 200 2
run $big f64 cuda atomic edge 24 200 3
# the backward's block split (CONV_BWD_BLOCK_SPLIT): two CUDA chunks, so a
# segment's block has two warps, one a chunk
run $big f32 cuda det-split edge 24 200 2
run $big f64 cuda atomic-split edge 24 200 3
run $big f32 hip kahan edge 24 96 2
# shared weights: a per-warp dw that takes a HIP block down to 3 warps
run $big f64 hip det shared 24 96 2
run $small f64 cuda atomic edge 30 160 2
run $small f32 hip atomic shared 20 96 2
run $small f64 hip det edge 20 96 3
run $small f32 cuda kahan shared 30 160 1
exit $status
