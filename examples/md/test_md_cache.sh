#!/bin/sh
# test_md_cache.sh: plan creation in the MD example is staged so that ranks
# sharing a kernel cache (OEQ_CACHE_DIR) do not all compile the same kernels
# at once: world rank 0 first, then the first rank of each other node, then
# the rest, with a barrier between the stages. Here: on 2 ranks of one node,
# rank 0 must report stage 1 and rank 1 stage 3, with a fresh cache
# directory. The CPU backend compiles nothing, so this checks the ordering
# logic only; the cold-cache timing (rank 1 loading from disk what rank 0
# compiled) is measured by run_gpu.sh on a CUDA machine.
. "${OEQ_SRCDIR:-.}/examples/md/md_test_env.sh"
OEQ_CACHE_DIR="$md_tmp/cache"
export OEQ_CACHE_DIR
md_run 2 --cells 3 --steps 0 > "$md_tmp/log" 2>&1 || { cat "$md_tmp/log"; echo "FAIL: run"; exit 1; }
grep 'created its plans' "$md_tmp/log"
grep -q '^md: rank 0 (node rank 0) created its plans in stage 1 ' "$md_tmp/log" || { echo "FAIL: rank 0 not in stage 1"; exit 1; }
grep -q '^md: rank 1 (node rank 1) created its plans in stage 3 ' "$md_tmp/log" || { echo "FAIL: rank 1 not in stage 3"; exit 1; }
exit 0
