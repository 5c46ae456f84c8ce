#!/usr/bin/env bash
# The whole model pipeline at toy size (32 px, a few steps), for CI: render a small dataset,
# train the GAN (and the segmenter when its trainer exists), export in the model format.
# Finishes in well under 3 minutes on a 2-core CPU.
#
#   bash training/toy_pipeline.sh [OUT_DIR]
#
# OUT_DIR (default: a fresh temporary folder) receives data/, ckpt/, runs/ and model/; the
# exported model is OUT_DIR/model and the torch reference outputs OUT_DIR/model-check.npz, so a
# Go test can load the model and compare ONNX Runtime with torch.
set -euo pipefail

PYTHON=${PYTHON:-/usr/bin/python3}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${1:-$(mktemp -d -t ganpaint-toy.XXXXXX)}
mkdir -p "$OUT"
start=$(date +%s)

step() { echo "toy: $* ($(( $(date +%s) - start ))s)"; }

step "rendering 256 scenes at 32 px"
"$PYTHON" "$HERE/build_dataset.py" --n 256 --size 32 --seed 0 --out "$OUT/data/toy32.npz" --workers 2

step "training the GAN (32 px, few steps)"
"$PYTHON" "$HERE/train_gan.py" --data "$OUT/data/toy32.npz" --out "$OUT/ckpt/gan" --runs "$OUT/runs/gan" \
    --minutes 0.3 --max-res 32 --widths 4:32,8:32,16:16,32:8 --batch 8:8,16:8,32:8 \
    --fractions 1,1,1 --seed 0

seg_args=()
if [[ -f "$HERE/train_segmenter.py" && -f "$HERE/segmenter.py" ]]; then
    step "training the segmenter (few steps)"
    "$PYTHON" "$HERE/train_segmenter.py" --data "$OUT/data/toy32.npz" --eval-data "$OUT/data/toy32.npz" \
        --out "$OUT/ckpt/seg" --minutes 1 --steps 5 --batch 8 --crop 16 --eval-n 32 --seed 0
    seg_args=(--seg "$OUT/ckpt/seg/latest.pt")
fi

step "exporting"
"$PYTHON" "$HERE/export.py" --ckpt "$OUT/ckpt/gan/latest.pt" "${seg_args[@]}" --out "$OUT/model" \
    --name toy32 --title "Toy pipeline model, 32 px" --check-out "$OUT/model-check.npz"

for f in manifest.json generator/layer1.onnx generator/layer8.onnx generator/to_rgb.onnx discriminator.onnx; do
    [[ -s "$OUT/model/$f" ]] || { echo "toy: missing $OUT/model/$f" >&2; exit 1; }
done
if [[ ${#seg_args[@]} -gt 0 && ! -s "$OUT/model/segmenter.onnx" ]]; then
    echo "toy: missing $OUT/model/segmenter.onnx" >&2
    exit 1
fi
step "done: model in $OUT/model"
