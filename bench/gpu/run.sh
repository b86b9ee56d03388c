#!/usr/bin/env bash
# The GPU measurement (issue 8), for a lent GPU machine with no Node and no
# network. Needs .gpu-carry/ (made by bench/gpu/prepare.sh) beside the working
# tree. Unpacks Node, the bundled benchmark, dawn.node, koffi and the Vulkan/EGL
# loaders into a temporary folder, records what the machine offers (driver,
# device files, ICDs), and runs gpu-bench.cjs, which writes gpu-results.json
# and gpu-results.md to $OUT (default bench/results/gpu). Finishes in under
# 8 minutes (the benchmark stops starting new parts after its budget).
#
# Usage: bash bench/gpu/run.sh [--smoke] [other gpu-bench arguments]
#   --smoke  small sizes; runs on a CPU-only machine (CUDA reports "no CUDA
#            driver", WebGPU runs on llvmpipe) to prove the script end to end.
set -uo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
OUT=${OUT:-$repo/bench/results/gpu}
mkdir -p "$OUT"
t0=$(date +%s)
log() { echo "[run.sh $(( $(date +%s) - t0 )) s] $*"; }

carry=$repo/.gpu-carry
work=${DYTLAB_GPU_WORK:-${TMPDIR:-/tmp}/dytlab-gpu}
if [ ! -f "$carry/payload.tar.xz" ]; then
  echo "run.sh: $carry/payload.tar.xz is missing: run bash bench/gpu/prepare.sh on a build machine and carry .gpu-carry" >&2
  exit 2
fi
want=$(sed -n 's/.*"payloadSha256": "\([0-9a-f]*\)".*/\1/p' "$carry/manifest.json" 2>/dev/null)
if [ ! -f "$work/.sha256" ] || [ "$(cat "$work/.sha256")" != "$want" ]; then
  rm -rf "$work" && mkdir -p "$work"
  log "unpacking the carried payload into $work"
  if command -v xz >/dev/null; then
    xz -dc "$carry/payload.tar.xz" | tar -C "$work" -xf - || { echo "run.sh: unpacking failed" >&2; exit 2; }
  else
    python3 -c "import lzma,sys,tarfile; tarfile.open(fileobj=lzma.open(sys.argv[1])).extractall(sys.argv[2])" "$carry/payload.tar.xz" "$work" \
      || { echo "run.sh: no xz and python3 could not unpack" >&2; exit 2; }
  fi
  echo "$want" > "$work/.sha256"
fi
node=$work/bin/node
chmod +x "$node"

# --- What the machine offers (recorded in the result) -------------------------
probe=$OUT/probe.txt
{
  echo "## nvidia-smi"; nvidia-smi 2>&1 | head -30 || echo "(no nvidia-smi)"
  echo "## device files"; ls -l /dev/nvidia* /dev/dri 2>&1 | head -20
  echo "## driver libraries"; (ldconfig -p 2>/dev/null | grep -E 'libcuda\.so|libnvidia-|libGLX_nvidia|libEGL_nvidia|libvulkan' | head -20) || true
  echo "## Vulkan ICDs"; ls /usr/share/vulkan/icd.d /etc/vulkan/icd.d 2>&1
  echo "## EGL vendors"; ls /usr/share/glvnd/egl_vendor.d /etc/glvnd/egl_vendor.d 2>&1
  echo "## NVIDIA_DRIVER_CAPABILITIES=${NVIDIA_DRIVER_CAPABILITIES:-unset}"
  echo "## python3"; python3 -c 'import sys, torch; print(sys.version.split()[0], "torch", torch.__version__, "cuda", torch.cuda.is_available())' 2>&1 | tail -1
} > "$probe" 2>&1
log "probe written to $probe"

# --- Loaders: the carried Vulkan/EGL loaders, the driver's own ICDs ------------
export LD_LIBRARY_PATH="$work/sysroot/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
icds=$(ls /usr/share/vulkan/icd.d/*nvidia* /etc/vulkan/icd.d/*nvidia* 2>/dev/null | head -1)
glx=$(ldconfig -p 2>/dev/null | grep -o '/[^ ]*libGLX_nvidia\.so\.0' | head -1)
if [ -z "$icds" ] && [ -n "$glx" ]; then
  # Containers often mount the driver without its ICD file: describe it ourselves.
  printf '{"file_format_version":"1.0.0","ICD":{"library_path":"%s","api_version":"1.3.0"}}\n' "$glx" > "$work/nvidia_icd.json"
  export VK_ICD_FILENAMES="$work/nvidia_icd.json" VK_DRIVER_FILES="$work/nvidia_icd.json"
  log "no NVIDIA Vulkan ICD file; using $glx through $work/nvidia_icd.json"
fi
egl=$(ldconfig -p 2>/dev/null | grep -o '/[^ ]*libEGL_nvidia\.so\.0' | head -1)
if [ -n "$egl" ] && ! ls /usr/share/glvnd/egl_vendor.d/*nvidia* >/dev/null 2>&1; then
  printf '{"file_format_version":"1.0.0","ICD":{"library_path":"%s"}}\n' "$egl" > "$work/10_nvidia.json"
  export __EGL_VENDOR_LIBRARY_FILENAMES="$work/10_nvidia.json"
fi

export DYTLAB_GPU_PROBE=$probe DYTLAB_GPU_MANIFEST=$carry/manifest.json OUT
budget=${DYTLAB_GPU_BUDGET:-400}
log "running gpu-bench with $("$node" --version) (budget ${budget} s)"
timeout -k 10 $((budget + 60)) "$node" "$work/gpu-bench.cjs" --out "$OUT" --budget "$budget" "$@"
code=$?
log "gpu-bench exited $code; results in $OUT"
exit $code
