#!/usr/bin/env bash
# Model v2 (scenes128v2): scene world v2, segmenter v2, a GAN trained for GAN_CPU_MINUTES of CPU time
# in resumable chunks, then training/post_gan.sh: export, quality metrics, dissection of
# layer3..layer8, recipes, brush efficacy, inpainter, sheets and MODEL.md (`make model`).
#
#   bash training/make_model_v2.sh                 # everything; the GAN alone is ~7 CPU-hours here
#   CHUNK_MINUTES=150 bash training/make_model_v2.sh   # one GAN chunk; run again to continue
#
# Every step is skipped when its output exists, so the script can be run again after a chunk, or on
# a fresh clone: the GAN resumes from the compact checkpoint committed at GAN_COMPACT (fp16 weights,
# Adam second moments in bfloat16; see train_gan.compact_checkpoint) when training/ckpt/ is empty.
#
# Environment: PYTHON (default /usr/bin/python3), GAN_CPU_MINUTES (420), CHUNK_MINUTES (0 = to the end),
# SEG_MINUTES (24), SEG_FT_MINUTES (30), OUT (assets/models/scenes128v2), GAN_THREADS (1; 2 when the
# machine has nothing else to do: the budget counts CPU time, so two threads spend it in about half the
# wall-clock time, at some cost in steps per CPU-second); the post-GAN steps take
# theirs from training/post_gan.sh (JOBS, INPAINT_MINUTES, ...).
set -euo pipefail

PYTHON=${PYTHON:-/usr/bin/python3}
GAN_CPU_MINUTES=${GAN_CPU_MINUTES:-420}
CHUNK_MINUTES=${CHUNK_MINUTES:-0}
GAN_THREADS=${GAN_THREADS:-1}
SEG_MINUTES=${SEG_MINUTES:-24}
SEG_FT_MINUTES=${SEG_FT_MINUTES:-30}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${OUT:-assets/models/scenes128v2}
GAN_COMPACT=training/checkpoints/gan_v2.pt
cd "$ROOT"
D=training/data
mkdir -p "$D"
# One thread everywhere: on a shared 2-core machine two threads wait on each other whenever one is
# preempted, and OpenBLAS must not start its own pool next to torch's.
export OPENBLAS_NUM_THREADS=1

dataset() { # seed n out
    [[ -f "$3" ]] || "$PYTHON" training/build_dataset.py --world v2 --n "$2" --size 128 --seed "$1" --out "$3" --workers 2
}
dataset 100 30000 "$D/v2_gan128.npz"
dataset 101 8000 "$D/v2_seg128.npz"
dataset 107 1000 "$D/v2_seg128_eval.npz"
# v1 renders for the segmenter's second run: v2's close-ups hide most mountains (0.5% of pixels), and the
# first run read mountain at IoU 0.70.
[[ -f "$D/v1_seg128_extra.npz" ]] || "$PYTHON" training/build_dataset.py --world v1 --n 2500 --size 128 --seed 111 \
    --out "$D/v1_seg128_extra.npz" --workers 2

SEG=training/ckpt/seg_v2
SEG_KEEP=training/checkpoints/seg_v2   # committed copies: a fresh clone continues from them
for run in base final; do
    if [[ ! -f "$SEG/$run/latest.pt" && -f "$SEG_KEEP/$run.pt" ]]; then
        mkdir -p "$SEG/$run"
        cp "$SEG_KEEP/$run.pt" "$SEG/$run/latest.pt"
        [[ -f "$SEG_KEEP/$run.eval.json" ]] && cp "$SEG_KEEP/$run.eval.json" "$SEG/$run/eval.json"
    fi
done
# eval.json is written when a run reaches its budget; until then --resume continues it. Once the second
# run is done the first is not needed (only the second is committed).
if [[ ! -f "$SEG/final/eval.json" ]]; then
    if [[ ! -f "$SEG/base/eval.json" ]]; then
        "$PYTHON" training/train_segmenter.py --data "$D/v2_seg128.npz" --eval-data "$D/v2_seg128_eval.npz" \
            --out "$SEG/base" --minutes "$SEG_MINUTES" --clock cpu --resume
    fi
    # As for v1: a second run with down-up resampling so the segmenter also reads softer GAN images.
    "$PYTHON" training/train_segmenter.py --data "$D/v2_seg128.npz" --extra-data "$D/v1_seg128_extra.npz" \
        --eval-data "$D/v2_seg128_eval.npz" --out "$SEG/final" --minutes "$SEG_FT_MINUTES" --clock cpu \
        --lr 6e-4 --crop 96 --full-frac 0.5 --init "$SEG/base/latest.pt" --seed 1 --resume
fi

# The recipe chosen by the 64 px comparison in training/runs/cmp/ (docs/training.md).
GAN=training/ckpt/gan_v2
# A finished run is not resumed again: that would load the 1.5 GB dataset to write the same checkpoint.
[[ -f "$GAN/done.json" ]] || "$PYTHON" training/train_gan.py --data "$D/v2_gan128.npz" --out "$GAN" --runs training/runs/gan_v2 \
    --compact "$GAN_COMPACT" --resume --clock cpu --minutes "$GAN_CPU_MINUTES" --chunk-minutes "$CHUNK_MINUTES" \
    --fractions 0.03,0.07,0.13,0.27,0.5 --batch 8:32,16:32,32:24,64:16,128:12 --amp 1 \
    --threads "$GAN_THREADS" --seed 0 --ema-kimg 3 --ckpt-every 300
if [[ ! -f "$GAN/done.json" ]]; then
    echo "make_model_v2: GAN chunk finished; run again to continue (compact checkpoint: $GAN_COMPACT)"
    exit 0
fi

# After the GAN: export, eval_quality -> metrics.json, dissection of layer3..layer8, recipes (two
# processes), efficacy --calibrate, the v2 inpainter (evaluated and exported from
# training/ckpt/inpaint_v2), the sheets and MODEL.md; each step skipped when its output exists.
GAN_CKPT="$GAN/latest.pt" SEG_CKPT="$SEG/final/latest.pt" OUT="$OUT" PYTHON="$PYTHON" bash training/post_gan.sh
echo "make_model_v2: model in $OUT"
