#!/usr/bin/env bash
# MoD variants trained alike on the device machine (a GPU), in one command (models/EXPERIMENTS.md "Trained
# alike on a GPU"). The device has python3 with CUDA PyTorch and no ffmpeg, so the training
# streams travel already decoded and xz-compressed (about 165 KB a stream, 240 streams ~40 MB):
#
#   here:   mkdir -p $C/data; cp models/.cache/data/*.json $C/data/
#           (cd models/.cache/data; ls *.npy | xargs -P2 -I{} sh -c 'xz -6 -c {} > ../gpucarry/data/{}.xz')
#           PYTHONPATH=models /usr/bin/python3 -m kibitz_models.cli import --package models/kibitz-demo --out $C/start.pt   # C=models/.cache/gpucarry
#   the tracked tree (~47 MiB) plus this carry is over what travels (64 MiB): move the packages out for the call,
#           mkdir -p /tmp/stash; mv models/kibitz-chess models/kibitz-demo models/checkpoints models/samples /tmp/stash/
#           and back after it (mv /tmp/stash/* models/); commit nothing in between
#   device: run with carry ["models/.cache/gpucarry"]:  MINUTES=7.5 WORK=$OUT bash models/scripts/device_train_alike.sh
#           (WORK=$OUT: checkpoints are saved straight into what comes back, so a cut run keeps its last save)
#
# Env: CARRY (default models/.cache/gpucarry), MINUTES (training budget, default 7), VARIANTS,
# BATCH (32), WORKERS (12), DEVICE (cuda), OUT (where the checkpoints and the log are copied),
# START (a checkpoint in CARRY, default start.pt), TEACHER (one in CARRY to distil from), LR, WARMUP, SAVE_EVERY.
set -uo pipefail
C=${CARRY:-models/.cache/gpucarry}
MINUTES=${MINUTES:-7}
VARIANTS=${VARIANTS:-dense,interleaved,deep,deep-r0.3,deep2}
PY=${PY:-python3}
OUT=${OUT:-/tmp/alike-out}
WORK=${WORK:-/tmp/alike}
export PYTHONPATH=models PYTHONUNBUFFERED=1
mkdir -p "$OUT" "$WORK" /tmp/alike-data
nvidia-smi -L 2>/dev/null || echo "no nvidia-smi"
$PY -c 'import torch, numpy; print("torch", torch.__version__, "numpy", numpy.__version__, "cuda", torch.cuda.is_available() and torch.cuda.get_device_name(0))'
t0=$(date +%s)
cp "$C"/data/*.json /tmp/alike-data/
$PY - "$C/data" /tmp/alike-data <<'EOF' || exit 3
import lzma, os, sys
from multiprocessing import Pool
src, dst = sys.argv[1], sys.argv[2]
def unpack(f):
    with lzma.open(os.path.join(src, f)) as i, open(os.path.join(dst, f[:-3]), "wb") as o:
        while chunk := i.read(1 << 22):
            o.write(chunk)
    return f
files = sorted(f for f in os.listdir(src) if f.endswith(".npy.xz"))
with Pool(min(16, os.cpu_count() or 2)) as p:
    n = len(list(p.imap_unordered(unpack, files)))
print(f"unpacked {n} streams")
EOF
echo "unpacked in $(( $(date +%s) - t0 )) s"
timeout "$(awk "BEGIN{print int($MINUTES*60+90)}")" $PY -m kibitz_models.cli train-alike --data /tmp/alike-data \
  --resume "$C/${START:-start.pt}" --out-dir "$WORK" --variants "$VARIANTS" --minutes "$MINUTES" --steps 100000 \
  --batch "${BATCH:-32}" --workers "${WORKERS:-12}" --device "${DEVICE:-cuda}" --save-every "${SAVE_EVERY:-90}" \
  --lr "${LR:-6e-4}" --warmup "${WARMUP:-30}" ${TEACHER:+--teacher "$C/$TEACHER"}
rc=$?
[ "$WORK" = "$OUT" ] || cp "$WORK"/*.pt "$WORK"/alike.log.jsonl "$OUT"/ 2>/dev/null
ls -la "$OUT"
exit $rc
