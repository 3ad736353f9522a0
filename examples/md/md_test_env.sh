# md_test_env.sh: sourced by the examples/md tests. Skips (77) when the MD
# example was not built, sets $MD and a function md_run NRANKS ARGS...
b=${OEQ_BUILDDIR:-.}
MD="$b/examples/md/md"
if [ ! -x "$MD" ]; then
  echo "SKIP: examples/md/md was not built: configure found no MPI Fortran compiler with mpi_f08"
  echo "      (install libopenmpi-dev openmpi-bin, or set MPIFC, and re-run configure)"
  exit 77
fi
MPIEXEC=${MPIEXEC:-mpiexec}
# OpenMPI: allow root (CI containers), more ranks than cores, no
# cross-memory-attach (often blocked in containers). Other MPIs ignore these.
OMPI_ALLOW_RUN_AS_ROOT=1
OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
OMPI_MCA_rmaps_base_oversubscribe=1
OMPI_MCA_btl_vader_single_copy_mechanism=none
# One node: shared memory only (no UCX / InfiniBand probing).
OMPI_MCA_pml=ob1
OMPI_MCA_btl=self,vader
export OMPI_ALLOW_RUN_AS_ROOT OMPI_ALLOW_RUN_AS_ROOT_CONFIRM OMPI_MCA_rmaps_base_oversubscribe \
  OMPI_MCA_btl_vader_single_copy_mechanism OMPI_MCA_pml OMPI_MCA_btl
# Under ASan (CI's sanitizer leg): Open MPI keeps allocations until exit,
# many of them in plugins it has unloaded by then (so no suppression can
# name them). Leak detection is off for these runs; ASan's memory errors
# and UBSan stay on, and oeq's own leaks are checked by its suites and the
# valgrind leg.
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
export ASAN_OPTIONS
md_tmp=$(mktemp -d "${TMPDIR:-/tmp}/oeq-md.XXXXXX") || exit 1
trap 'rm -rf "$md_tmp"' EXIT
md_run() {
  n=$1
  shift
  "$MPIEXEC" -n "$n" "$MD" --backend cpu "$@"
}
