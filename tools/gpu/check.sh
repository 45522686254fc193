#!/usr/bin/env bash
# One-shot check of the WebGPU route on a GPU machine (no network needed: it uses the installed node_modules).
# Runs `list`, the webgpu parity tests on the machine's adapter, and `bench --backend webgpu` on llama-4x256, a
# Qwen2-0.5B-shaped and a Llama-3.2-1B-shaped random model (batch 8×256), then writes one JSON summary:
#   tools/gpu/check.sh [--quick] [--out DIR]        (default DIR: results/gpu-check/<UTC date-time>)
# --quick: SwiftShader (Debian chromium's CPU Vulkan) instead of the GPU, and only the `tiny` bench case: checks the
# script itself on a machine without a GPU (minutes, not a measurement).
set -uo pipefail
cd "$(dirname "$0")/../.."
quick=0
out="results/gpu-check/$(date -u +%Y-%m-%dT%H%M%SZ)"
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --out) out="$2"; shift ;;
    *) echo "usage: tools/gpu/check.sh [--quick] [--out DIR]" >&2; exit 2 ;;
  esac
  shift
done
mkdir -p "$out"
log() { echo "[gpu-check] $*" >&2; }

if [ "$quick" = 1 ]; then
  export VK_ICD_FILENAMES="${VK_ICD_FILENAMES:-/usr/lib/chromium/vk_swiftshader_icd.json}"
  cases="tiny"
else
  export LORA_LAB_TEST_ADAPTER=system # the tests use the machine's adapter, never SwiftShader
  cases="llama-4x256,qwen2-0.5b-gpu,llama3.2-1b-gpu"
fi
export LORA_LAB_REQUIRE_WEBGPU=1

log "machine"
{ command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader; } \
  >"$out/nvidia-smi.txt" 2>&1
{ command -v vulkaninfo >/dev/null && vulkaninfo --summary; } >"$out/vulkaninfo.txt" 2>&1
node --version >"$out/node.txt"

log "list"
npx tsx experiments/run.ts list >"$out/list.txt" 2>&1
list_rc=$?

log "webgpu tests (parity on both checkpoints, five optimizer trajectories, accumulation, resume, leaks)"
node --import tsx --test --test-reporter=tap --test-concurrency=1 \
  src/train/webgpu.e2e.test.ts >"$out/tests.tap" 2>&1
tests_rc=$?
node --import tsx --test --test-reporter=tap --test-name-pattern=webgpu src/train/resume.e2e.test.ts \
  >"$out/tests-resume.tap" 2>&1
resume_rc=$?

log "bench --backend webgpu --only $cases"
npx tsx experiments/run.ts bench --backend webgpu --only "$cases" --no-peer --results-dir "$out/bench" \
  >"$out/bench.log" 2>&1
bench_rc=$?

log "summary"
npx tsx tools/gpu/summarize.ts "$out" "$list_rc" "$tests_rc" "$resume_rc" "$bench_rc" >"$out/summary.json"
cat "$out/summary.json"
log "wrote $out/summary.json"
[ "$list_rc$tests_rc$resume_rc$bench_rc" = "0000" ]
