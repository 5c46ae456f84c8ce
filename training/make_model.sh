#!/usr/bin/env bash
# Retrain the default model (scenes128) from scratch and re-export it into assets/models/scenes128.
# About 2.5 hours on a 2-core CPU; it uses a GPU automatically when torch sees one.
#
#   bash training/make_model.sh
#
# Environment: PYTHON (default /usr/bin/python3), GAN_MINUTES (default 109), SEG_MINUTES (default 24), SEG_FT_MINUTES (default 30),
# FP16=1 to store the exported weights as float16.
set -euo pipefail

PYTHON=${PYTHON:-/usr/bin/python3}
GAN_MINUTES=${GAN_MINUTES:-109}
SEG_MINUTES=${SEG_MINUTES:-24}
SEG_FT_MINUTES=${SEG_FT_MINUTES:-30}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
D=training/data
mkdir -p "$D"

"$PYTHON" training/build_dataset.py --n 30000 --size 128 --seed 0 --out "$D/scenes128.npz" --workers 2
"$PYTHON" training/build_dataset.py --n 8000 --size 128 --seed 1 --out "$D/seg128.npz" --workers 2
"$PYTHON" training/build_dataset.py --n 1000 --size 128 --seed 7 --out "$D/seg128_eval.npz" --workers 2

"$PYTHON" training/train_segmenter.py --data "$D/seg128.npz" --eval-data "$D/seg128_eval.npz" \
    --out training/ckpt/seg --minutes "$SEG_MINUTES"
# Second segmenter run, as shipped: continues from the first with down-up resampling augmentation,
# so the "eye" of dissection also reads the softer GAN images (mIoU on 4x down-up renders 0.75 -> 0.83).
"$PYTHON" training/train_segmenter.py --data "$D/seg128.npz" --eval-data "$D/seg128_eval.npz" \
    --out training/ckpt/seg_ft --minutes "$SEG_FT_MINUTES" --lr 6e-4 --crop 96 --full-frac 0.5 \
    --init training/ckpt/seg/latest.pt --seed 1
cp training/ckpt/seg_ft/latest.pt training/ckpt/seg/latest.pt

# One torch thread: on a shared 2-core machine two OpenMP threads wait on each other whenever one
# is preempted, which measured 4x slower per step than one thread.
"$PYTHON" training/train_gan.py --data "$D/scenes128.npz" --out training/ckpt/gan --runs training/runs/gan \
    --minutes "$GAN_MINUTES" --fractions 0.12,0.18,0.22,0.26,0.22 --batch 8:32,16:32,32:24,64:16,128:12 \
    --threads 1 --seed 0 --ema-kimg 1.5

fp16=()
[[ "${FP16:-0}" == 1 ]] && fp16=(--fp16)
"$PYTHON" training/export.py --ckpt training/ckpt/gan/latest.pt --seg training/ckpt/seg/latest.pt \
    --out assets/models/scenes128 "${fp16[@]}" --check-out training/ckpt/gan/export-check.npz

"$PYTHON" training/eval_quality.py --model-ckpt training/ckpt/gan/latest.pt --seg training/ckpt/seg/latest.pt \
    --n 2000 --out training/eval
cp training/eval/metrics.json assets/models/scenes128/metrics.json
echo "make_model: model in assets/models/scenes128 (update the numbers in its MODEL.md from training/eval/metrics.md)"
