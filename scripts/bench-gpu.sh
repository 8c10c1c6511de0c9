#!/usr/bin/env bash
# The training benchmark (bench/train.ts) on a GPU machine that has none of this project's
# files: WebGPU (Dawn's Vulkan backend) against PyTorch on CUDA, measured in the same run.
#
#   bash scripts/bench-gpu.sh pack          here: build bench/.cache/gpu (about 35 MB; git-ignored)
#   bash scripts/bench-gpu.sh run [ARGS]    there: run bench/train.ts from that folder; ARGS go to it
#                                           (default: --backend webgpu --no-cpu, plus
#                                           --torch-device cuda when PyTorch sees a GPU)
#
# The folder holds: the benchmark compiled to JavaScript (js/), the npm files it loads
# (modules.tar.xz: TF.js's Node builds, the wasm binaries, the `webgpu` package's linux-x64
# dawn.node), a Node binary (node.xz, used only when the machine has no Node >= 20), and
# libvulkan.so.1 / libstdc++.so.6 from this machine (used only when the machine lacks them).
# Results are printed and, when $OUT is set (the device runner's output folder), written there.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUNDLE=$ROOT/bench/.cache/gpu

pack() {
  rm -rf "$BUNDLE"
  mkdir -p "$BUNDLE/libs"
  echo "compiling bench/train.ts and what it imports to $BUNDLE/js" >&2
  npx --no-install tsc --outDir "$BUNDLE/js" --rootDir . --module commonjs --target ES2022 --esModuleInterop \
    --skipLibCheck --strict --types node --declaration false --sourceMap false bench/train.ts
  echo "listing the npm files the benchmark loads" >&2
  local list=$BUNDLE/files.txt
  # Everything a child of the benchmark requires, on wasm and on WebGPU, then each package's package.json.
  node -e '
    const path = require("path");
    require("@tensorflow/tfjs"); require("@tensorflow/tfjs-backend-wasm"); require("@tensorflow/tfjs-backend-webgpu");
    const files = new Set(Object.keys(require.cache).filter((f) => f.includes("/node_modules/")));
    for (const f of [...files]) {
      const m = /^(.*\/node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(f);
      if (m) files.add(m[1] + "/package.json");
    }
    const wasmDir = path.dirname(require.resolve("@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm"));
    for (const w of ["tfjs-backend-wasm.wasm", "tfjs-backend-wasm-simd.wasm", "tfjs-backend-wasm-threaded-simd.wasm"]) files.add(path.join(wasmDir, w));
    const webgpu = path.dirname(require.resolve("webgpu"));
    for (const w of ["package.json", "index.js", "dist/linux-x64/dawn.node"]) files.add(path.join(webgpu, w));
    process.stdout.write([...files].map((f) => path.relative(process.cwd(), f)).sort().join("\n") + "\n");
  ' > "$list"
  tar -cJf "$BUNDLE/modules.tar.xz" -T "$list"
  echo "compressing $(command -v node) ($(node --version))" >&2
  xz -T0 -6 -c "$(command -v node)" > "$BUNDLE/node.xz"
  local ldcache
  ldcache=$(ldconfig -p 2>/dev/null || true)
  for lib in libvulkan.so.1 libstdc++.so.6; do
    local p
    p=$(awk -v l="$lib" '$1 == l && /x86-64/ && !found { print $NF; found = 1 }' <<<"$ldcache")
    if [ -n "$p" ]; then cp -L "$p" "$BUNDLE/libs/$lib"; fi
  done
  du -sh "$BUNDLE" >&2
  echo "carry: bench/.cache/gpu   command: bash scripts/bench-gpu.sh run" >&2
}

run() {
  [ -d "$BUNDLE/js" ] || { echo "bench-gpu: $BUNDLE is missing: run 'bash scripts/bench-gpu.sh pack' here and carry bench/.cache/gpu" >&2; exit 1; }
  local work
  work=$(mktemp -d)
  # Node: the machine's when it is new enough, else the carried one.
  local node=""
  if command -v node >/dev/null && node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)'; then
    node=$(command -v node)
  else
    xz -dc "$BUNDLE/node.xz" > "$work/node" && chmod +x "$work/node"
    node=$work/node
  fi
  [ -d "$BUNDLE/node_modules" ] || tar -xJf "$BUNDLE/modules.tar.xz" -C "$BUNDLE"
  # Libraries the machine lacks: the Vulkan loader; a libstdc++ new enough for dawn.node (GLIBCXX_3.4.30).
  mkdir -p "$work/libs"
  local ldcache
  ldcache=$(ldconfig -p 2>/dev/null || true)
  grep -q 'libvulkan.so.1 ' <<<"$ldcache" || cp "$BUNDLE/libs/libvulkan.so.1" "$work/libs/" 2>/dev/null || true
  local stdcpp
  stdcpp=$(awk '$1 == "libstdc++.so.6" && /x86-64/ && !found { print $NF; found = 1 }' <<<"$ldcache")
  if [ -z "$stdcpp" ] || ! grep -aq GLIBCXX_3.4.30 "$stdcpp"; then cp "$BUNDLE/libs/libstdc++.so.6" "$work/libs/" 2>/dev/null || true; fi
  export LD_LIBRARY_PATH="$work/libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  # NVIDIA's Vulkan driver lives in libGLX_nvidia.so.0; containers often have it without its ICD file.
  if ! ls /usr/share/vulkan/icd.d/nvidia* /etc/vulkan/icd.d/nvidia* >/dev/null 2>&1 && grep -q 'libGLX_nvidia.so.0 ' <<<"$ldcache"; then
    printf '{"file_format_version":"1.0.0","ICD":{"library_path":"libGLX_nvidia.so.0","api_version":"1.3"}}\n' > "$work/nvidia_icd.json"
    export VK_ICD_FILENAMES=$work/nvidia_icd.json
  fi
  local py=python3
  [ -x /usr/bin/python3 ] && py=/usr/bin/python3
  local torch_args=(--python "$py")
  local cuda
  cuda=$("$py" -c 'import torch; print("cuda" if torch.cuda.is_available() else "cpu")' 2>/dev/null || echo none)
  if [ "$cuda" = none ]; then torch_args=(--no-torch); else torch_args+=(--torch-device "$cuda"); fi
  local args=("$@")
  [ ${#args[@]} -gt 0 ] || args=(--backend webgpu --no-cpu "${torch_args[@]}")
  {
    echo "# bench-gpu $(date -u +%FT%TZ)"
    echo "# node $("$node" --version) ($node); PyTorch device: $cuda; LD_LIBRARY_PATH=$LD_LIBRARY_PATH; VK_ICD_FILENAMES=${VK_ICD_FILENAMES:-}"
    nvidia-smi -L 2>/dev/null | sed 's/^/# /' || echo "# nvidia-smi: not found"
    echo "# args: ${args[*]}"
  } | tee "${OUT:-$work}/bench-gpu.txt"
  "$node" "$BUNDLE/js/bench/train.js" "${args[@]}" 2>&1 | tee -a "${OUT:-$work}/bench-gpu.txt"
}

case "${1:-}" in
  pack) pack ;;
  run) shift; run "$@" ;;
  *) echo "usage: bash scripts/bench-gpu.sh pack | run [bench/train.ts arguments]" >&2; exit 2 ;;
esac
