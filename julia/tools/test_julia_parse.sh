#!/bin/sh
# test_julia_parse.sh: every .jl file of julia/ parses (tree-sitter-julia as
# wasm under node; parse_check.mjs), and a deliberately broken copy does not.
# Skips (77) without node or without julia/tools/node_modules
# (install them with: cd julia/tools && npm ci).
srcdir=${OEQ_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
tools=$srcdir/julia/tools
command -v node > /dev/null 2>&1 || { echo "node not found: skip"; exit 77; }
[ -f "$tools/node_modules/tree-sitter-julia/tree-sitter-julia.wasm" ] &&
  [ -d "$tools/node_modules/web-tree-sitter" ] || {
  echo "julia/tools/node_modules missing (cd julia/tools && npm ci): skip"; exit 77; }
files=$(find "$srcdir/julia" -name node_modules -prune -o -name '*.jl' -print | sort)
[ -n "$files" ] || { echo "FAIL: no .jl files"; exit 1; }
# shellcheck disable=SC2086
node "$tools/parse_check.mjs" $files || { echo "FAIL: a .jl file does not parse"; exit 1; }

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
# Negative checks: an `end` removed, and an unclosed bracket.
sed -e '0,/^end$/{/^end$/d}' "$srcdir/julia/src/OEQ.jl" > "$tmp/no_end.jl"
sed -e 's/^const OEQ_MODE_UVU = Cint(1)$/const OEQ_MODE_UVU = Cint((1)/' "$srcdir/julia/src/abi.jl" > "$tmp/paren.jl"
for f in no_end paren; do
  orig=$srcdir/julia/src/OEQ.jl
  [ $f = paren ] && orig=$srcdir/julia/src/abi.jl
  cmp -s "$orig" "$tmp/$f.jl" && { echo "FAIL: $f: the edit changed nothing"; exit 1; }
  if node "$tools/parse_check.mjs" "$tmp/$f.jl" > "$tmp/$f.out" 2>&1; then
    echo "FAIL: $f: a broken file parsed"; exit 1
  fi
  echo "ok: $f rejected: $(head -1 "$tmp/$f.out")"
done
