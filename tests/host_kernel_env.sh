# host_kernel_env.sh: what the host-run kernel tests share
# (tests/test_symcon_host.sh, tests/test_conv_host.sh), sourced by them:
# skip (77) where OEQ_SKIP_RTC_TESTS is set (the sanitizer legs: these
# check generated source, not oeq's C) or where $OEQ_CXX (g++) cannot build
# C++20 <barrier> (tests/simt_host.h needs it); else set src, build, cxx,
# lib (the static core library), work (a temporary directory, removed on
# exit), and the compile and link flags.
[ -n "${OEQ_SKIP_RTC_TESTS:-}" ] && { echo "skip: OEQ_SKIP_RTC_TESTS is set"; exit 77; }
src=${OEQ_SRCDIR:?}/tests
build=${OEQ_BUILDDIR:?}
cxx=${OEQ_CXX:-g++}
lib=$build/.libs/liboeq_core.a
[ -f "$lib" ] || { echo "no $lib"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf '#include <barrier>\nint main() { std::barrier<> b(1); b.arrive_and_wait(); }\n' >"$work/probe.cpp"
if ! $cxx -std=c++20 -pthread "$work/probe.cpp" -o "$work/probe" >/dev/null 2>&1; then
  echo "skip: $cxx cannot build C++20 <barrier>"
  exit 77
fi
flags="-std=c++20 -O1 -pthread -I$src -I$OEQ_SRCDIR/include -I$build/include"
link="$lib ${OEQ_OPENMP_CFLAGS:-} -ldl -lm"
