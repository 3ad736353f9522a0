#!/bin/sh
# variant.sh BUILD BENCH OUT DEFINE...: builds a benchmark with the kernel
# generator's tuning knobs (lib/codegen/tuning.h) overridden, for an A/B of
# several knobs in one device run (bench/NOTES.md). BUILD is a configured
# build directory in which `make` has run; BENCH is bench_conv or
# bench_symcon; OUT is the binary to write.
#   bench/variant.sh build bench_conv build/bench/bench_conv_contig -DCONV_BWD_INTERLEAVE=0
#   bench/variant.sh build bench_symcon build/bench/bench_symcon_v4 -DSYMCON_PAIR_VECTOR=4
# The generator and launch files of that kernel family are recompiled with
# the DEFINEs into a copy of liboeq_core.a, which is linked with the
# benchmark's objects; the rest of the library is the build's.
set -e
[ $# -ge 4 ] || { echo "usage: $0 BUILD bench_conv|bench_symcon OUT DEFINE..." >&2; exit 2; }
build=$(cd "$1" && pwd); bench=$2; out=$3; shift 3
case $bench in
  bench_conv)
    files="codegen/conv_backward codegen/conv_codegen codegen/conv_forward codegen/conv_helpers backend/gpu_conv"
    objs="$build/bench/bench_conv.o $build/bench/bench_graphs.o" ;;
  bench_symcon)
    files="codegen/symcon_codegen codegen/symcon_codegen_pairs codegen/symcon_pairs backend/gpu_symcon"
    objs="$build/bench/bench_symcon.o" ;;
  *) echo "$0: unknown benchmark $bench" >&2; exit 2 ;;
esac
src=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for f in $files; do
  ${CC:-gcc} -std=c11 -O2 -fvisibility=hidden -fopenmp -DHAVE_CONFIG_H -I"$build" -I"$src/lib" -I"$src/include" \
    -I"$build/include" "$@" -c "$src/lib/$f.c" -o "$tmp/$(basename $f).o"
done
cp "$build/.libs/liboeq_core.a" "$tmp/lib.a"
ar r "$tmp/lib.a" "$tmp"/*.o 2>/dev/null
${CC:-gcc} -fopenmp -o "$out" $objs "$tmp/lib.a" -lm -ldl -lpthread
echo "built $out ($*)"
