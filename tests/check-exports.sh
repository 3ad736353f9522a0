#!/bin/sh
# check-exports.sh: liboeq.so exports exactly the oeq_* API: every function
# declared in include/oeq.h is defined, and nothing outside oeq_* is.
# The list of functions is parsed from the header so it cannot drift.
# Where configure used the version script (lib/liboeq.map), every export
# also carries the version node OEQ_1, the library's only version node.
# Plain exit-code test: 0 pass, 1 fail, 77 skip.
srcdir=${OEQ_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
builddir=${OEQ_BUILDDIR:-.}
header=$srcdir/include/oeq.h
lib=$builddir/.libs/liboeq.so

if [ ! -f "$lib" ]; then
  echo "SKIP: $lib not built (static-only build?)"
  exit 77
fi
command -v nm >/dev/null 2>&1 || { echo "SKIP: no nm"; exit 77; }
versioned=${OEQ_LD_VERSION_SCRIPT:-yes}
if [ "$versioned" = yes ] && ! command -v objdump >/dev/null 2>&1; then
  echo "SKIP: no objdump to read the version nodes"
  exit 77
fi

tmp=${TMPDIR:-/tmp}/oeq-exports.$$
trap 'rm -f "$tmp".*' EXIT INT TERM

# Function names: identifiers starting with oeq_ directly followed by '('.
sed 's,/\*.*\*/,,g' "$header" | grep -oE '\boeq_[a-z0-9_]+[[:space:]]*\(' |
  sed 's/[[:space:]]*($//' | sort -u >"$tmp.declared"
# Defined dynamic symbols (value, type, name); skip the absolute version nodes.
nm -D --defined-only "$lib" | awk 'NF >= 3 && $2 != "A" {print $3}' |
  sed 's/@.*//' | sort -u >"$tmp.exported"

fail=0
ndecl=$(wc -l <"$tmp.declared")
nexp=$(wc -l <"$tmp.exported")
echo "declared in oeq.h: $ndecl functions; exported by liboeq.so: $nexp symbols"
if [ "$ndecl" -lt 27 ]; then
  echo "FAIL: parsed only $ndecl functions from $header (the v1 ABI has 27)"
  fail=1
fi
missing=$(comm -23 "$tmp.declared" "$tmp.exported")
if [ -n "$missing" ]; then
  echo "FAIL: declared in oeq.h but not exported:"
  echo "$missing" | sed 's/^/  /'
  fail=1
fi
foreign=$(grep -v '^oeq_' "$tmp.exported")
if [ -n "$foreign" ]; then
  echo "FAIL: exported symbols outside the oeq_ namespace:"
  echo "$foreign" | sed 's/^/  /'
  fail=1
fi
extra=$(comm -13 "$tmp.declared" "$tmp.exported")
if [ -n "$extra" ]; then
  echo "FAIL: oeq_* symbols exported but not declared in oeq.h (internal names leaking):"
  echo "$extra" | sed 's/^/  /'
  fail=1
fi
if [ "$versioned" = yes ]; then
  # objdump -T: ... SIZE VERSION NAME; defined oeq_* functions only.
  objdump -T "$lib" | awk '$NF ~ /^oeq_/ && $0 !~ /\*UND\*/ {print $(NF-1), $NF}' | sort -u >"$tmp.versions"
  unversioned=$(awk '$1 != "OEQ_1" {print "  " $2 " (version " $1 ")"}' "$tmp.versions")
  nver=$(awk '$1 == "OEQ_1"' "$tmp.versions" | wc -l)
  if [ -n "$unversioned" ] || [ "$nver" -ne "$nexp" ]; then
    echo "FAIL: $nver of $nexp exports carry the version node OEQ_1; not:"
    echo "$unversioned"
    fail=1
  fi
  # Version definitions: the soname's base entry, then OEQ_1 and nothing else.
  nodes=$(objdump -p "$lib" | awk '/^Version definitions:/ {on = 1; next}
    on && NF == 0 {on = 0} on && NF >= 4 && $2 != "0x01" {print $NF}' | tr '\n' ' ')
  if [ "$nodes" != "OEQ_1 " ]; then
    echo "FAIL: version nodes defined by liboeq.so: '$nodes', want 'OEQ_1 '"
    fail=1
  else
    echo "version node: all $nver exports in OEQ_1"
  fi
fi
[ $fail -eq 0 ] && echo "PASS: exports match oeq.h"
exit $fail
