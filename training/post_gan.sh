#!/usr/bin/env bash
# Everything after the GAN: export, quality metrics, dissection, recipes, brush efficacy, the
# inpainter, the by-eye sheets and MODEL.md. training/make_model_v2.sh runs it once its GAN is done;
# the toy test (training/tests/test_post_gan.sh) runs it at toy size.
#
# Every step is skipped when its output exists, so an interrupted run continues where it stopped
# (recipes resume per concept). Times on an idle 2-core machine: docs/training.md.
#
# Environment (defaults are v2's):
#   GAN_CKPT, SEG_CKPT     train_gan.py and train_segmenter.py checkpoints (required)
#   OUT                    model directory (assets/models/scenes128v2); NAME, TITLE for its manifest
#   WORLD (v2), EVAL_DIR (training/eval_v2), EVAL_N (2000), EVAL_FLAGS   eval_quality.py
#   LAYERS (layer3..layer8), DISSECT_SAMPLES (1000), DISSECT_FLAGS       ganpaint dissect
#   JOBS (2), RECIPE_FLAGS                                               recipes.py --jobs
#   LONG_ERASERS (cloud; "" = none), LONG_ERASER_STEPS (400)             their erasers retrained longer
#   EFFICACY_FLAGS                                                       ganpaint efficacy --calibrate
#   FIDREF_RENDERS (default: EVAL_N renders of WORLD at FIDREF_SIZE, 128)  ganpaint fidref
#   ARTIFACT_FLAGS                                                       ganpaint artifacts
#   INPAINT_CKPT (training/ckpt/inpaint_v2), INPAINT_DATA, INPAINT_EVAL, INPAINT_MINUTES (62),
#   INPAINT_FLAGS          train_inpaint.py --resume: evaluates and exports a finished run
#                          (trains the rest of its budget first if it is not finished)
#   SHEETS (training/runs/<NAME>), SHEET_FLAGS                           sheets.py
#   V1_METRICS, V1_MODEL   v1's numbers beside v2's in MODEL.md
#   PYTHON, GANPAINT (default: `make build`, then bin/ganpaint)
set -euo pipefail

PYTHON=${PYTHON:-/usr/bin/python3}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
: "${GAN_CKPT:?GAN_CKPT (train_gan.py checkpoint) is required}"
: "${SEG_CKPT:?SEG_CKPT (train_segmenter.py checkpoint) is required}"
OUT=${OUT:-assets/models/scenes128v2}
NAME=${NAME:-scenes128v2}
TITLE=${TITLE:-Procedural close-up scenes (v2), 128 px}
WORLD=${WORLD:-v2}
EVAL_DIR=${EVAL_DIR:-training/eval_v2}
EVAL_N=${EVAL_N:-2000}
LAYERS=${LAYERS:-layer3,layer4,layer5,layer6,layer7,layer8}
DISSECT_SAMPLES=${DISSECT_SAMPLES:-1000}
JOBS=${JOBS:-2}
INPAINT_CKPT=${INPAINT_CKPT:-training/ckpt/inpaint_v2}
INPAINT_DATA=${INPAINT_DATA:-training/data/v2_seg128.npz}
INPAINT_EVAL=${INPAINT_EVAL:-training/data/v2_seg128_eval.npz}
INPAINT_MINUTES=${INPAINT_MINUTES:-62}
LONG_ERASERS=${LONG_ERASERS-cloud}
LONG_ERASER_STEPS=${LONG_ERASER_STEPS:-400}
FIDREF_RENDERS=${FIDREF_RENDERS:-}
FIDREF_SIZE=${FIDREF_SIZE:-128}
SHEETS=${SHEETS:-training/runs/$NAME}
V1_METRICS=${V1_METRICS:-training/eval_v1_segv2/metrics.json}
V1_MODEL=${V1_MODEL:-assets/models/scenes128}
GANPAINT=${GANPAINT:-}
# One thread per process: the steps that can use both cores run two processes (recipes) or
# ONNX Runtime's own workers (dissect, efficacy).
export OPENBLAS_NUM_THREADS=1
read -r -a EVAL_FLAGS <<< "${EVAL_FLAGS:-}"
read -r -a DISSECT_FLAGS <<< "${DISSECT_FLAGS:-}"
read -r -a RECIPE_FLAGS <<< "${RECIPE_FLAGS:-}"
read -r -a EFFICACY_FLAGS <<< "${EFFICACY_FLAGS:-}"
read -r -a ARTIFACT_FLAGS <<< "${ARTIFACT_FLAGS:-}"
read -r -a INPAINT_FLAGS <<< "${INPAINT_FLAGS:-}"
read -r -a SHEET_FLAGS <<< "${SHEET_FLAGS:-}"

start=$(date +%s)
step() { echo "post_gan: $* ($(( $(date +%s) - start )) s)"; }
has_layers() { # every layer of $LAYERS in the dissection index
    "$PYTHON" - "$OUT/dissection/index.json" "$LAYERS" <<'EOF'
import json, sys
try:
    have = json.load(open(sys.argv[1]))["layers"]
except (OSError, ValueError, KeyError):
    sys.exit(1)
sys.exit(0 if all(l in have for l in sys.argv[2].split(",")) else 1)
EOF
}
card() {
    "$PYTHON" training/model_card.py --model "$OUT" --v1-metrics "$V1_METRICS" --v1-model "$V1_MODEL" \
        --sheets "$SHEETS" "$@"
}

if [[ ! -f "$OUT/manifest.json" ]]; then
    step "export"
    "$PYTHON" training/export.py --ckpt "$GAN_CKPT" --seg "$SEG_CKPT" --out "$OUT" --name "$NAME" --title "$TITLE" \
        --check-out "$(dirname "$GAN_CKPT")/export-check.npz"
fi
# The card first from its template, so `ganpaint efficacy` fills its table in place.
card >/dev/null

if [[ ! -f "$OUT/metrics.json" ]]; then
    step "eval_quality ($EVAL_N images, world $WORLD)"
    "$PYTHON" training/eval_quality.py --model-ckpt "$GAN_CKPT" --seg "$SEG_CKPT" --world "$WORLD" --n "$EVAL_N" \
        --out "$EVAL_DIR" --threads 1 "${EVAL_FLAGS[@]}"
    cp "$EVAL_DIR/metrics.json" "$OUT/metrics.json"
fi

if [[ -z "$GANPAINT" ]]; then
    step "build"
    make build
    GANPAINT=bin/ganpaint
fi

if ! has_layers; then
    step "dissect $LAYERS ($DISSECT_SAMPLES samples)"
    "$GANPAINT" dissect --model "$OUT" --layers "$LAYERS" --samples "$DISSECT_SAMPLES" --threshold iqr --quiet \
        "${DISSECT_FLAGS[@]}"
fi

if [[ ! -f "$OUT/efficacy.json" ]]; then
    step "recipes ($JOBS processes)"
    "$PYTHON" training/recipes.py --model "$OUT" --jobs "$JOBS" --missing "${RECIPE_FLAGS[@]}"
    if [[ -n "$LONG_ERASERS" ]]; then
        # v2's cloud eraser stops short of the removal target at 150 steps (65%) and reaches 73% at 400.
        step "erasers of $LONG_ERASERS, $LONG_ERASER_STEPS steps"
        OPENBLAS_NUM_THREADS=2 "$PYTHON" training/recipes.py --model "$OUT" "${RECIPE_FLAGS[@]}" \
            --concepts "$LONG_ERASERS" --kinds erase --steps "$LONG_ERASER_STEPS" --threads 2
    fi
    step "efficacy --calibrate"
    "$GANPAINT" efficacy --model "$OUT" --calibrate --quiet "${EFFICACY_FLAGS[@]}" >/dev/null
fi

if [[ ! -f "$OUT/fid_reference.json" ]]; then
    # The FID tool's and the artifact ranking's reference: renders at eval_quality.py's seed.
    renders=$FIDREF_RENDERS rendered=""
    if [[ -z "$renders" ]]; then
        rendered="$EVAL_DIR/fidref_renders.npz"
        renders=$rendered
        step "render $EVAL_N reference images (world $WORLD)"
        "$PYTHON" training/build_dataset.py --n "$EVAL_N" --size "$FIDREF_SIZE" --seed 9 --world "$WORLD" \
            --out "$rendered"
    fi
    step "fidref"
    "$GANPAINT" fidref --model "$OUT" --renders "$renders"
    [[ -z "$rendered" ]] || rm -f "$rendered"
fi

if ! compgen -G "$OUT/dissection/artifacts-*.json" >/dev/null; then
    step "artifacts (the repair toggle's ranking, default layer)"
    "$GANPAINT" artifacts --model "$OUT" --quiet "${ARTIFACT_FLAGS[@]}"
fi

if ! grep -q '"inpainter"' "$OUT/manifest.json"; then
    if [[ -f "$INPAINT_CKPT/latest.pt" ]]; then
        step "inpainter: evaluate and export $INPAINT_CKPT"
        "$PYTHON" training/train_inpaint.py --data "$INPAINT_DATA" --eval-data "$INPAINT_EVAL" --out "$INPAINT_CKPT" \
            --minutes "$INPAINT_MINUTES" --clock cpu --resume --model-dir "$OUT" --export "${INPAINT_FLAGS[@]}"
        mkdir -p "$SHEETS"
        cp "$INPAINT_CKPT/eval.json" "$SHEETS/inpaint_eval.json"
    else
        echo "post_gan: no inpainter checkpoint at $INPAINT_CKPT; the model ships without one" >&2
    fi
fi

mkdir -p "$SHEETS"
for kind in grid seg brushes; do
    if [[ ! -f "$SHEETS/$kind.jpg" ]]; then
        step "sheet $kind"
        "$PYTHON" training/sheets.py "$kind" --model "$OUT" --out "$SHEETS/$kind.jpg" --ganpaint "$GANPAINT" \
            "${SHEET_FLAGS[@]}"
    fi
done

card --quality "$EVAL_DIR/metrics.md" --inpaint-eval "$SHEETS/inpaint_eval.json"
step "done: model in $OUT, sheets in $SHEETS"
