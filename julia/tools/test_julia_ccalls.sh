#!/bin/sh
# test_julia_ccalls.sh: every ccall of the Julia package fits include/oeq.h
# (the generated julia/src/abi.jl and the CUDA extension's own CuPtr calls),
# every wrapper call of OEQ.jl has the prototype's argument count, and every
# constant has the header's value (check_ccalls.py); then the checker must
# reject deliberately broken copies made here.
srcdir=${OEQ_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
py=$(command -v python3) || { echo "python3 not found: skip"; exit 77; }
check="$py $srcdir/julia/tools/check_ccalls.py $srcdir/include/oeq.h"
abi=$srcdir/julia/src/abi.jl
src=$srcdir/julia/src/OEQ.jl
ext=$srcdir/julia/ext/OEQCUDAExt.jl
$check "$abi" "$src" "$ext" || { echo "FAIL: the package does not match oeq.h"; exit 1; }

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fails=0
# must_fail NAME SED-EXPRESSION FILE: the package with FILE edited must be rejected.
must_fail() {
  mkdir "$tmp/$1"
  for f in "$abi" "$src" "$ext"; do cp "$f" "$tmp/$1/"; done
  sed -e "$2" "$3" > "$tmp/$1/$(basename "$3")"
  if cmp -s "$3" "$tmp/$1/$(basename "$3")"; then
    echo "FAIL: $1: the edit changed nothing"; fails=$((fails + 1)); return
  fi
  if $check "$tmp/$1/abi.jl" "$tmp/$1/OEQ.jl" "$tmp/$1/OEQCUDAExt.jl" > "$tmp/$1.out" 2>&1; then
    echo "FAIL: $1: the checker accepted a broken copy"; fails=$((fails + 1))
  else
    echo "ok: $1 rejected: $(grep -v '^check_ccalls:\|^warning:' "$tmp/$1.out" | head -1)"
  fi
}
must_fail wrong_arg_type 's/(Ptr{oeq_problem_s}, Cint, Cint)/(Ptr{oeq_problem_s}, Int64, Cint)/' "$abi"
must_fail missing_arg 's/Cint, Cdouble)/Cdouble)/' "$abi"
must_fail wrong_return 's/ccall(fptr(:oeq_version), Cstring, ())/ccall(fptr(:oeq_version), Cint, ())/' "$abi"
must_fail untyped_handle 's/(Ptr{oeq_plan_s}, Ref{Cint}), plan, out)/(Ptr{Cvoid}, Ref{Cint}), plan, out)/' "$abi"
must_fail wrong_enum 's/^const OEQ_ERROR_IO = Cint(9)/const OEQ_ERROR_IO = Cint(19)/' "$abi"
must_fail missing_flag '/^const OEQ_CONV_KAHAN/d' "$abi"
must_fail size_t_as_int 's/Ptr{Cvoid}, Csize_t, Ptr{Cvoid})/Ptr{Cvoid}, Cint, Ptr{Cvoid})/' "$abi"
must_fail unknown_function 's/oeq_problem_set_layout(p, layout)/oeq_problem_set_layuot(p, layout)/' "$src"
must_fail wrapper_arity 's/oeq_problem_set_layout(p, layout)/oeq_problem_set_layout(p)/' "$src"
must_fail cuda_stream_count 's/CuPtr{UInt8}, Csize_t, Ptr{Cvoid}),/CuPtr{UInt8}, Csize_t),/' "$ext"
[ $fails -eq 0 ] || exit 1
echo "ok: all broken copies rejected"
