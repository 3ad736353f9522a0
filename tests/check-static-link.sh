#!/bin/sh
# check-static-link.sh: a program links against the static liboeq.a with
# nothing but the flags `pkg-config --static --cflags --libs oeq` gives
# (Libs.private must carry OpenMP and the system libraries the archive
# needs), and runs. The built oeq.pc is pointed at a scratch prefix that
# holds the headers and only the archive, so -loeq cannot pick liboeq.so.
# The program is examples/simple_tp.c, the README's C example.
# Plain exit-code test: 0 pass, 1 fail, 77 skip.
srcdir=${OEQ_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
builddir=${OEQ_BUILDDIR:-.}
cc=${OEQ_CC:-cc}
pkg_config=${OEQ_PKG_CONFIG:-pkg-config}

archive=$builddir/.libs/liboeq.a
if [ ! -f "$archive" ]; then
  echo "SKIP: $archive not built (shared-only build?)"
  exit 77
fi
command -v "$pkg_config" >/dev/null 2>&1 || { echo "SKIP: no pkg-config"; exit 77; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/oeq-static.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
mkdir "$tmp/lib" "$tmp/include" "$tmp/pkgconfig"
cp "$archive" "$tmp/lib/" &&
  cp "$srcdir/include/oeq.h" "$builddir/include/oeq_version.h" "$tmp/include/" &&
  cp "$builddir/oeq.pc" "$tmp/pkgconfig/" || exit 1

export PKG_CONFIG_PATH="$tmp/pkgconfig"
set -- --define-variable=libdir="$tmp/lib" --define-variable=includedir="$tmp/include"
cflags=$("$pkg_config" "$@" --static --cflags oeq) &&
  libs=$("$pkg_config" "$@" --static --libs oeq) || { echo "FAIL: pkg-config cannot read oeq.pc"; exit 1; }
echo "pkg-config --static --cflags --libs oeq: $cflags $libs"

# CFLAGS / LDFLAGS of the build (a sanitizer build's archive needs its
# runtime at link time), then exactly pkg-config's flags.
# shellcheck disable=SC2086 # flag lists split on purpose
if ! $cc $OEQ_CFLAGS $cflags -o "$tmp/simple_tp" "$srcdir/examples/simple_tp.c" $OEQ_LDFLAGS $libs \
     >"$tmp/link.log" 2>&1; then
  echo "FAIL: linking against the static library with pkg-config --static flags:"
  sed 's/^/  /' "$tmp/link.log"
  exit 1
fi
if command -v readelf >/dev/null 2>&1 && readelf -d "$tmp/simple_tp" | grep -q 'liboeq\.so'; then
  echo "FAIL: the program needs liboeq.so; it should hold the archive's objects"
  exit 1
fi
if ! "$tmp/simple_tp" >"$tmp/out" 2>&1; then
  echo "FAIL: the statically linked program failed:"
  sed 's/^/  /' "$tmp/out"
  exit 1
fi
n=$(grep -c . "$tmp/out")
if [ "$n" -ne 9 ]; then
  echo "FAIL: the program printed $n lines, want the 9 outputs of 1o x 1o -> 0e + 1e + 2e"
  exit 1
fi
echo "PASS: static link with pkg-config --static flags"
