#!/usr/bin/env bash
# VideoLLM-online at full size on a GPU machine, from random weights (no real weights can be
# fetched there either): a Llama-3-8B / SigLIP-L checkpoint in the public layout with
# Mixture-of-Depths routers on every layer from the 3rd (r = 0.2), imported twice (dense, and
# with the routers), each measured by bench/videollm.ts on the WebGPU provider at 1, 8 and 32
# streams and on the CPU provider for scale. Prints the tables and writes them to $OUT.
#
# From a checkout with `npm install` done (the device has no Node and no registry):
#   ../shared/gpu/prepare-carry.sh tsx esbuild @esbuild/linux-x64 zod @huggingface/tokenizers
# (bench/videollm.ts needs onnxruntime-node, @huggingface/tokenizers and zod at run time, tsx to run TypeScript)
# then the device tool's run with carry [".gpu"] and the command
#   source .gpu/on-device.sh; bash models/scripts/device_videollm.sh
#
# LAYERS (default 32, Llama-3-8B's) makes a shallower model of the same width when the device
# budget is short (~15 minutes a session); the tables then say so and per-layer costs scale.
# PRESET=tiny LAYERS=4 runs the same steps on the tiny test shape (a smoke test on any machine;
# without a GPU the WebGPU bench falls back to the CPU and says so).
# Disk: the bf16 checkpoint (~16 GB at 32 layers) plus one float32 package (~32 GB) at a time.
set -euo pipefail
cd "$(dirname "$0")/../.."
PRESET=${PRESET:-llama3-8b}
LAYERS=${LAYERS:-32}
STREAMS=${STREAMS:-1,8,32}
STEPS=${STEPS:-10}
WORK=${WORK:-/tmp/kibitz-videollm}
OUT=${OUT:-$WORK/out}
PY=${PY:-python3}
mkdir -p "$WORK" "$OUT"
export PYTHONPATH=models
log() { echo "[$(date +%H:%M:%S)] $*" | tee -a "$OUT/device_videollm.log"; }

for t in node "$PY"; do command -v "$t" >/dev/null || { echo "missing $t: source .gpu/on-device.sh first" >&2; exit 2; }; done
[ -d node_modules/tsx ] || { echo "node_modules/tsx missing: run prepare-carry.sh with the packages named above" >&2; exit 2; }
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$OUT/gpu.txt" || true

log "checkpoint: $PRESET shape, $LAYERS layers, routers from layer 2 at r=0.2"
[ -f "$WORK/ckpt/.done" ] || { "$PY" -m kibitz_models.cli videollm-tiny --preset "$PRESET" --layers "$LAYERS" --routers --out "$WORK/ckpt" && touch "$WORK/ckpt/.done"; }

bench() {   # $1 = package, $2 = provider, $3 = streams, $4 = steps
  node --import tsx/esm bench/videollm.ts --pkg "$1" --provider "$2" --streams "$3" --steps "$4" 2>&1 | tee -a "$OUT/tables.md"
}
for variant in dense mod; do
  pkg="$WORK/pkg-$variant"
  log "import $variant"
  "$PY" -m kibitz_models.cli import-videollm "$WORK/ckpt" --out "$pkg" --name "videollm-$PRESET-$variant-${LAYERS}l" $([ "$variant" = dense ] && echo --dense) --no-parity
  du -sh "$pkg" | tee -a "$OUT/device_videollm.log"
  log "bench $variant on webgpu"
  echo "### $variant, webgpu, $LAYERS layers" >> "$OUT/tables.md"
  bench "$pkg" webgpu "$STREAMS" "$STEPS"
  log "bench $variant on cpu (for scale)"
  echo "### $variant, cpu ($(nproc) cores), $LAYERS layers" >> "$OUT/tables.md"
  bench "$pkg" cpu 1 2
  rm -rf "$pkg"
done
log "done: $OUT/tables.md"
