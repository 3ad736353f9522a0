#!/bin/sh
# conv_variant.sh BUILD OUT DEFINE...: builds bench_conv with the conv
# kernels' tuning knobs (lib/codegen/tuning.h) overridden, for an A/B of
# several knobs in one device run (bench/NOTES.md). BUILD is a configured
# build directory in which `make` has run; OUT is the binary to write.
#   bench/conv_variant.sh build build/bench/bench_conv_contig -DCONV_BWD_INTERLEAVE=0
# The conv codegen and launch files are recompiled with the DEFINEs into a
# copy of liboeq_core.a, which is linked with bench_conv's objects; the
# rest of the library is the build's.
set -e
[ $# -ge 3 ] || { echo "usage: $0 BUILD OUT DEFINE..." >&2; exit 2; }
build=$(cd "$1" && pwd); out=$2; shift 2
src=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for f in codegen/conv_backward codegen/conv_codegen codegen/conv_forward codegen/conv_helpers backend/gpu_conv; do
  ${CC:-gcc} -std=c11 -O2 -fvisibility=hidden -fopenmp -DHAVE_CONFIG_H -I"$build" -I"$src/lib" -I"$src/include" \
    -I"$build/include" "$@" -c "$src/lib/$f.c" -o "$tmp/$(basename $f).o"
done
cp "$build/.libs/liboeq_core.a" "$tmp/lib.a"
ar r "$tmp/lib.a" "$tmp"/*.o 2>/dev/null
${CC:-gcc} -fopenmp -o "$out" "$build/bench/bench_conv.o" "$build/bench/bench_graphs.o" "$tmp/lib.a" -lm -ldl -lpthread
echo "built $out ($*)"
