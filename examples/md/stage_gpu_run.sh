#!/bin/sh
# stage_gpu_run.sh: gather what the MD example needs on a machine that has
# neither Open MPI nor the gfortran runtime (the GPU machines) into one
# folder to copy there. Run it here, on the Debian machine that built md:
#   sh examples/md/stage_gpu_run.sh BUILDDIR OUTDIR
# OUTDIR then holds md, lib/ (liboeq, liboeqf and the compiler runtimes md
# links, from ldd), ompi/ (Debian's Open MPI runtime packages unpacked with
# dpkg-deb -x: no root, no dpkg database needed there), run_gpu.sh and
# run.sh. On the GPU machine:
#   sh OUTDIR/run.sh            (knobs of run_gpu.sh: CELLS, CHANNELS, STEPS)
# run.sh points Open MPI at the unpacked tree (OPAL_PREFIX; PMIx's plugin
# path) and the loader at lib/, then runs run_gpu.sh with MD=OUTDIR/md.
# The CUDA driver and NVRTC come from the GPU machine (OEQ_NVRTC_LIBRARY if
# NVRTC is not on the loader path).
set -eu
[ $# -eq 2 ] || { echo "usage: $0 BUILDDIR OUTDIR"; exit 2; }
build=$(cd "$1" && pwd)
out=$2
src=$(cd "$(dirname "$0")" && pwd)
[ -x "$build/examples/md/md" ] || { echo "no $build/examples/md/md: make -C $build examples/md/md"; exit 1; }
mkdir -p "$out/lib" "$out/ompi"
cp "$build/examples/md/md" "$out/md"
cp "$src/run_gpu.sh" "$out/run_gpu.sh"

# Open MPI 4.1's runtime closure on Debian 12 beyond the base system.
pkgs="libopenmpi3 openmpi-bin openmpi-common libhwloc15 libevent-core-2.1-7
  libevent-pthreads-2.1-7 libevent-2.1-7 libpmix2 libfabric1 libucx0 libibverbs1
  librdmacm1 ibverbs-providers libpsm2-2 libpsm-infinipath1 libnl-3-200
  libnl-route-3-200 libmunge2 libltdl7 ocl-icd-libopencl1 libxnvctrl0"
debs=$(mktemp -d)
trap 'rm -rf "$debs"' EXIT
for p in $pkgs; do
  f=$(ls /var/cache/apt/archives/"${p}"_*.deb 2>/dev/null | head -1 || true)
  if [ -n "$f" ]; then
    cp "$f" "$debs/"
  else
    (cd "$debs" && apt-get download -q "$p")
  fi
done
for f in "$debs"/*.deb; do dpkg-deb -x "$f" "$out/ompi"; done

# Every library md loads except glibc's and those the Open MPI tree has.
LD_LIBRARY_PATH="$build/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" ldd "$out/md" |
  awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | while read -r lib; do
    name=$(basename "$lib")
    case $name in
      libc.so.*|libm.so.*|libdl.so.*|libpthread.so.*|librt.so.*|ld-linux*) continue ;;
    esac
    [ -e "$out/ompi/usr/lib/x86_64-linux-gnu/$name" ] && continue
    cp -L "$lib" "$out/lib/$name"
  done

cat > "$out/run.sh" <<'RUN'
#!/bin/sh
# run.sh: the MD example's GPU runs with the Open MPI and libraries staged
# next to this script (stage_gpu_run.sh).
d=$(cd "$(dirname "$0")" && pwd)
R=$d/ompi/usr
L=$R/lib/x86_64-linux-gnu
OPAL_PREFIX=$R
PMIX_MCA_mca_base_component_path=$L/pmix2/lib/pmix
PATH=$R/bin:$PATH
LD_LIBRARY_PATH=$L:$L/openmpi/lib:$d/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
MPIEXEC=$R/bin/orterun
MD=$d/md
export OPAL_PREFIX PMIX_MCA_mca_base_component_path PATH LD_LIBRARY_PATH MPIEXEC MD
exec sh "$d/run_gpu.sh" "$@"
RUN
chmod +x "$out/run.sh" "$out/run_gpu.sh" "$out/md"
du -sh "$out"
ls "$out/lib"
