#!/usr/bin/env bash
# The GPU check of the cuda engine, in one command of at most 8 minutes on the lent H200 (so it can run
# twice in 15 minutes of device time). Rehearse it here: REHEARSE=1 CARRIED_NODE=1 bash bench/device/run.sh
# (no GPU: it checks the carried Node and the build, then stops with the reason). There: no Node.js, no registry; torch, transformers and peft
# installed. Prepare here first (bench/device/prepare.sh packs a Node binary into .device/), then run
# through the device tool with carry [".device"]:
#     bash bench/device/run.sh
# Steps: GPU present? -> Node from .device/node.xz -> build @sftkit/cuda there (nvcc) -> kernel self test
# (each kernel vs the host reference; cuBLASLt GEMMs) -> the engine's step vs the goldens on the GPU
# (.device/cuda-step.mjs) -> our bench (tokens/s, peak GPU memory; the lora row's step profiled per op,
# SFTKIT_CUDA_PROFILE=1, into sftkit.json) -> PyTorch's bench beside it.
# Exit 0 only when the kernels, the goldens and the whole run pass. QUICK=1 (a kernel iteration, about
# 2 minutes with SFTKIT_CUDA_ARCHS=90 CUDA_BENCH_ROWS=lora TORCH_ROWS=lora): self test, parts and the bench only.
# Stops early, with the reason, where there is no GPU. Writes $OUT/log and $OUT/*.json when $OUT is set.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT="${OUT:-$(mktemp -d)}"
exec > >(tee "$OUT/log") 2>&1
started=$(date +%s)
stage() { echo; echo "== $* ($(($(date +%s) - started)) s)"; }
stop() { echo "STOP: $*"; exit "${2:-2}"; }

stage "GPU"
# REHEARSE=1 (on a machine without a GPU) goes on to check the Node unpacking and the build, and then
# stops at the self test, which says why the kernels cannot run.
export PATH="$PATH:/usr/local/nvidia/bin"  # where the lent machines mount the driver's tools
if ! command -v nvidia-smi >/dev/null || ! nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader; then
  [ "${REHEARSE:-0}" = 1 ] || stop "no GPU here (nvidia-smi not found or sees none): nothing to check; run this on the lent GPU machine"
  echo "rehearsal: no GPU; continuing to the self test"
fi
nvcc_path="$(command -v nvcc || ls /usr/local/cuda/bin/nvcc 2>/dev/null || true)"
echo "nvcc: ${nvcc_path:-none} $(${nvcc_path:-false} --version 2>/dev/null | tail -1)"

stage "Node"
NODE="$(command -v node || true)"
[ "${CARRIED_NODE:-0}" = 1 ] && NODE=""  # rehearse the GPU machine's case: no Node installed
if [ -z "$NODE" ] || [ "$("$NODE" -p 'process.versions.node.split(".")[0]' 2>/dev/null)" != 20 ]; then
  [ -s .device/node.xz ] || stop "no Node 20 here and no .device/node.xz: run bench/device/prepare.sh on the dev machine and carry .device"
  mkdir -p /tmp/sft-node
  if command -v xz >/dev/null; then xz -dc .device/node.xz >/tmp/sft-node/node
  else python3 -c 'import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2],"wb"))' .device/node.xz /tmp/sft-node/node
  fi
  chmod +x /tmp/sft-node/node
  NODE=/tmp/sft-node/node
fi
export PATH="$(dirname "$NODE"):$PATH"
node --version || stop "the carried node does not run here"

stage "cuBLASLt"
# PyTorch's nvidia-* wheels carry it when the toolkit does not.
if [ -z "${SFTKIT_CUBLASLT:-}" ]; then
  SFTKIT_CUBLASLT="$(python3 - <<'PY' 2>/dev/null
import glob, os, site
roots = site.getsitepackages() + [site.getusersitepackages()]
hits = sorted(p for r in roots for p in glob.glob(os.path.join(r, "nvidia", "*", "lib", "libcublasLt.so.*")))
print(hits[-1] if hits else "")
PY
)"
  [ -n "$SFTKIT_CUBLASLT" ] && export SFTKIT_CUBLASLT
fi
echo "SFTKIT_CUBLASLT=${SFTKIT_CUBLASLT:-<search the toolkit and the loader path>}"

# The carried N-API headers (bench/device/prepare.sh) where Node's own are not installed.
[ -f .device/include/node/node_api.h ] && export npm_config_nodedir="$PWD/.device"
stage "build @sftkit/cuda (sm_80, sm_86, sm_89, sm_90 + PTX)"
SFTKIT_CUDA_NVCC_THREADS="${SFTKIT_CUDA_NVCC_THREADS:-4}" node packages/cuda/build.mjs
cp packages/cuda/build/status.json "$OUT/build-status.json" 2>/dev/null

# The engine's step, bundled by prepare.sh; @sftkit/cuda resolves through NODE_PATH to packages/cuda.
[ -s .device/cuda-step.mjs ] || stop "no .device/cuda-step.mjs: run bench/device/prepare.sh on the dev machine and carry .device"
mkdir -p /tmp/sft-mods/@sftkit && ln -sfn "$PWD/packages/cuda" /tmp/sft-mods/@sftkit/cuda
export NODE_PATH=/tmp/sft-mods
GOLDENS=packages/core/src/engines/cuda/goldens

stage "kernel self test (GPU vs the host reference)"
timeout 150 node bench/device/selftest.mjs
kernels=$?
if [ "$kernels" = 2 ]; then
  if [ "${REHEARSE:-0}" = 1 ]; then
    stage "rehearsal: golden comparison on the HOST backend (the bundle and the carried Node work)"
    timeout 120 node .device/cuda-step.mjs golden "$GOLDENS" --host
    stage "rehearsal: the bench's code path on the HOST backend, a tiny shape"
    CUDA_BENCH_SHAPE=tiny SFTKIT_CUDA_PROFILE=1 timeout 120 node .device/cuda-step.mjs bench --host --steps 1 --rows lora --profile-rows lora --out "$OUT/sftkit-rehearsal.json"
  fi
  stop "the CUDA add-on cannot run here (above)"
fi
if [ "$kernels" != 0 ] && [ -z "${SFTKIT_CUDA_ATTENTION:-}" ]; then
  # An attention kernel failed: the rest of the run uses the next kernels that passed (the self test's
  # case names say which kernels each case ran).
  sleep 1
  cap=""
  if grep -qE "^FAIL .*(tiled|per-row)" "$OUT/log"; then cap=rows
  elif grep -qE "^FAIL .*tensor cores" "$OUT/log"; then cap=tiled
  fi
  [ -n "$cap" ] && export SFTKIT_CUDA_ATTENTION=$cap && echo "attention kernels failed: the rest of the run uses SFTKIT_CUDA_ATTENTION=$cap"
fi

goldens=0 e2e=0 features=0
if [ "${QUICK:-0}" = 1 ]; then
  echo "QUICK=1: kernels, parts and the bench only (the engine choice, goldens and whole runs skipped)"
else
stage "engines: what sft doctor lists, and auto's choice for a Qwen2 LoRA plan (cuda expected)"
timeout 60 node .device/cuda-step.mjs choice
echo "(choice: exit $?)"

stage "golden comparison: one AdamW step per method on the GPU vs the CPU-made goldens (bf16 tolerances)"
timeout 90 node .device/cuda-step.mjs golden "$GOLDENS"
goldens=$?

stage "a whole run: compile (engine auto) + train + evaluate + artefacts, Qwen2-shaped tiny LoRA (.device/e2e.mjs)"
timeout 150 node .device/e2e.mjs /tmp/sft-gpu-e2e
e2e=$?
cp /tmp/sft-gpu-e2e/metrics.jsonl "$OUT/e2e-metrics.jsonl" 2>/dev/null
stage "a whole run with the options cuda runs from composed kernels: added token rows, LoRA dropout, NEFTune, modules to save"
timeout 150 node .device/e2e.mjs /tmp/sft-gpu-e2e-features --features
features=$?
echo "(features run: exit $features)"

stage "the run's merged model in transformers"
PYTHONUNBUFFERED=1 timeout 90 python3 bench/device/e2e_check.py /tmp/sft-gpu-e2e
echo "(e2e check: exit $?)"
fi

stage "bench: sftkit cuda, Qwen2.5-0.5B shape, 8 x 1024 tokens, AdamW (lora r16 all-linear, full, qlora)"
# The lora row then runs one more step with each op timed (a sync after each): the table of where its time
# goes (engines/cuda/profile.ts), printed and kept in sftkit.json's row under "profile".
SFTKIT_CUDA_PROFILE=1 CUDA_BENCH_BUDGET_S="${CUDA_BENCH_BUDGET_S:-130}" timeout 170 node .device/cuda-step.mjs bench --rows "${CUDA_BENCH_ROWS:-lora,full,qlora}" --steps "${CUDA_BENCH_STEPS:-3}" --profile-rows "${CUDA_PROFILE_ROWS:-lora}" --out "$OUT/sftkit.json"
echo "(sftkit rows: exit $?)"

stage "bench: PyTorch, same shape, bf16 autocast"
PYTHONUNBUFFERED=1 timeout 150 python3 bench/device/torch_bench.py --steps "${BENCH_STEPS:-5}" --rows "${TORCH_ROWS:-lora,full,qlora}" --out "$OUT/torch.json"

stage "done"
[ "$kernels" = 0 ] && [ "$goldens" = 0 ] && [ "$e2e" = 0 ] && [ "$features" = 0 ]
