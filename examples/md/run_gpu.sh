#!/bin/sh
# run_gpu.sh: the MD example on CUDA, 1 and 2 ranks (one GPU per rank, by
# node-local rank). Builds nothing: MD points at a built examples/md/md.
#   MD=build/examples/md/md sh examples/md/run_gpu.sh
# On a machine without Open MPI or the gfortran runtime, stage everything
# with stage_gpu_run.sh and run OUTDIR/run.sh instead.
# Knobs (environment): MD, MPIEXEC, CELLS (FCC cells per side: 4 CELLS^3
# atoms; default 10 = 4000 atoms), CHANNELS (default 32), STEPS (timed run,
# default 200), BACKEND (default cuda; cpu for a dry run of the script).
#
# 1. cold kernel cache (fresh OEQ_CACHE_DIR), 2 ranks, 5 steps: rank 0
#    compiles in stage 1, rank 1 loads the kernels from disk in stage 3
#    (compare the two "created its plans" times);
# 2. 1 rank, 5 steps, and the CPU backend, 5 steps: E and F after 5 steps
#    must agree: 1 vs 2 GPUs to 1e-12, GPU vs CPU to 1e-10 (relative; both
#    float64, sums in different orders);
# 3. timed runs, STEPS steps, 1 and 2 ranks: timesteps/s and atom-steps/s
#    (the MD loop only: neighbour lists, host-side model, copies, MPI, oeq).
set -u
MD=${MD:-examples/md/md}
MPIEXEC=${MPIEXEC:-mpiexec}
CELLS=${CELLS:-10}
CHANNELS=${CHANNELS:-32}
STEPS=${STEPS:-200}
BACKEND=${BACKEND:-cuda}
[ -x "$MD" ] || { echo "run_gpu.sh: no MD binary at $MD (set MD=...)"; exit 1; }
OMPI_ALLOW_RUN_AS_ROOT=1
OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
OMPI_MCA_rmaps_base_oversubscribe=1
OMPI_MCA_btl_vader_single_copy_mechanism=none
# One node: shared memory only (no UCX / InfiniBand probing).
OMPI_MCA_pml=ob1
OMPI_MCA_btl=self,vader
export OMPI_ALLOW_RUN_AS_ROOT OMPI_ALLOW_RUN_AS_ROOT_CONFIRM OMPI_MCA_rmaps_base_oversubscribe \
  OMPI_MCA_btl_vader_single_copy_mechanism OMPI_MCA_pml OMPI_MCA_btl
tmp=$(mktemp -d "${TMPDIR:-/tmp}/oeq-md-gpu.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
OEQ_CACHE_DIR="$tmp/cache"
export OEQ_CACHE_DIR
command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L
status=0
md() {
  n=$1
  shift
  echo "+ $MPIEXEC -n $n $MD $*"
  "$MPIEXEC" -n "$n" "$MD" --cells "$CELLS" --channels "$CHANNELS" "$@" || { echo "FAILED"; status=1; }
}
compare() {  # compare A B TOL LABEL
  awk -v tol="$3" -v label="$4" '
    FNR == 1 { if (NR == 1) e1 = $2; else e2 = $2; next }
    NR == FNR { for (k = 2; k <= 4; k++) f[FNR, k] = $k; next }
    { for (k = 2; k <= 4; k++) {
        d = $k - f[FNR, k]; if (d < 0) d = -d; if (d > m) m = d
        a = f[FNR, k]; if (a < 0) a = -a; if (a > fm) fm = a } }
    END {
      de = e2 - e1; if (de < 0) de = -de; ae = e1 < 0 ? -e1 : e1
      ok = (fm > 0 && de <= tol * ae && m <= tol * fm)
      printf "%s: |dE|/|E| = %.3e, max|dF|/max|F| = %.3e (tolerance %s): %s\n", label, de / ae, m / fm, tol, ok ? "ok" : "DIFFERENT"
      exit !ok }' "$1" "$2" || status=1
}

echo "== 1. cold cache, 2 ranks"
md 2 --backend "$BACKEND" --steps 5 --out "$tmp/f2"
echo "== 2. the same 5 steps on 1 rank and on the CPU"
md 1 --backend "$BACKEND" --steps 5 --out "$tmp/f1"
md 2 --backend cpu --steps 5 --out "$tmp/fcpu"
compare "$tmp/f1" "$tmp/f2" 1e-12 "$BACKEND 1 rank vs 2 ranks"
compare "$tmp/fcpu" "$tmp/f1" 1e-10 "cpu vs $BACKEND"
echo "== 3. timed: $STEPS steps"
for n in 1 2; do
  md $n --backend "$BACKEND" --steps "$STEPS" > "$tmp/t$n"
  cat "$tmp/t$n"
done
echo "== summary ($BACKEND, $((4 * CELLS * CELLS * CELLS)) atoms, $CHANNELS channels, $STEPS steps)"
for n in 1 2; do
  grep '^speed:' "$tmp/t$n" | sed "s/^/$n rank(s): /"
done
exit $status
