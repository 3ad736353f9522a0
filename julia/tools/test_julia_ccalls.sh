#!/bin/sh
# test_julia_ccalls.sh: every ccall of the Julia package fits include/oeq.h
# and every constant has the header's value (check_ccalls.py); then the
# checker must reject deliberately broken copies made here.
srcdir=${OEQ_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
py=$(command -v python3) || { echo "python3 not found: skip"; exit 77; }
check="$py $srcdir/julia/tools/check_ccalls.py $srcdir/include/oeq.h"
src=$srcdir/julia/src/OEQ.jl
ext=$srcdir/julia/ext/OEQCUDAExt.jl
$check "$src" "$ext" || { echo "FAIL: the package does not match oeq.h"; exit 1; }

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fails=0
# must_fail NAME SED-EXPRESSION FILE: the edited copy must be rejected.
must_fail() {
  sed -e "$2" "$3" > "$tmp/$1.jl"
  if cmp -s "$3" "$tmp/$1.jl"; then echo "FAIL: $1: the edit changed nothing"; fails=$((fails + 1)); return; fi
  if $check "$tmp/$1.jl" > "$tmp/$1.out" 2>&1; then
    echo "FAIL: $1: the checker accepted a broken copy"; fails=$((fails + 1))
  else
    echo "ok: $1 rejected: $(grep -v '^check_ccalls:\|^warning:' "$tmp/$1.out" | head -1)"
  fi
}
must_fail wrong_arg_type 's/(Ptr{oeq_problem_s}, Cint, Cint),$/(Ptr{oeq_problem_s}, Int64, Cint),/' "$src"
must_fail missing_arg 's/(Ptr{oeq_problem_s}, Cint, Cint, Cint, Cint, Cint, Cdouble)/(Ptr{oeq_problem_s}, Cint, Cint, Cint, Cint, Cdouble)/' "$src"
must_fail unknown_function 's/:oeq_problem_set_layout/:oeq_problem_set_layuot/' "$src"
must_fail wrong_return 's/ccall(fptr(:oeq_version), Cstring, ())/ccall(fptr(:oeq_version), Cint, ())/' "$src"
must_fail untyped_handle 's/(Ptr{oeq_plan_s}, Ref{Cint}), ptr, b)/(Ptr{Cvoid}, Ref{Cint}), ptr, b)/' "$src"
must_fail wrong_enum 's/^const OEQ_ERROR_IO = Cint(9)/const OEQ_ERROR_IO = Cint(19)/' "$src"
must_fail missing_flag '/^const OEQ_CONV_KAHAN/d' "$src"
must_fail size_t_as_int 's/Ptr{Cvoid}, Csize_t, Ptr{Cvoid}),$/Ptr{Cvoid}, Cint, Ptr{Cvoid}),/' "$src"
must_fail cuda_stream_count 's/CuPtr{UInt8}, Csize_t, Ptr{Cvoid}),/CuPtr{UInt8}, Csize_t),/' "$ext"
[ $fails -eq 0 ] || exit 1
echo "ok: all broken copies rejected"
