"""Write the measured parts of a model's MODEL.md: the issue-9 targets table (target / measured /
v1 / met?) and the quality tables, from metrics.json (eval_quality.py) and efficacy.json
(`ganpaint efficacy`), v1's numbers beside.

  model_card.py --model assets/models/scenes128v2 [--quality training/eval_v2/metrics.md]
                [--v1-metrics training/eval_v1_segv2/metrics.json]
                [--v1-model assets/models/scenes128]

Each part sits between its own markers and is replaced on a rerun; prose outside them is kept.
A MODEL.md that does not exist yet is started from a template that also holds the empty markers
of `ganpaint efficacy`'s table, so that command fills it in place. v1's distribution measures
come from --v1-metrics (v1's generator judged by the same segmenter as v2, docs/training.md), its
segmenter and brush numbers from --v1-model. A target whose numbers are missing reads "not
measured", never "met".
"""

import argparse
import json
import os
import sys
import tempfile

TARGETS_BEGIN = "<!-- targets:begin (written by training/model_card.py; edits inside are replaced) -->"
TARGETS_END = "<!-- targets:end -->"
QUALITY_BEGIN = "<!-- quality:begin (written by training/model_card.py from eval_quality.py's metrics.md) -->"
QUALITY_END = "<!-- quality:end -->"
INPAINT_BEGIN = "<!-- inpainter:begin (written by training/model_card.py from train_inpaint.py's eval.json) -->"
INPAINT_END = "<!-- inpainter:end -->"
EFFICACY_BEGIN = "<!-- efficacy:begin (written by `ganpaint efficacy`; edits inside are replaced) -->"
EFFICACY_END = "<!-- efficacy:end -->"

REFERENCE_BRUSHES = ["tree", "grass", "door", "sky", "cloud", "brick", "dome"]
REMOVAL_CONCEPTS = ["tree", "door", "dome", "cloud"]
INSERT_EACH, INSERT_MEAN, REMOVE_REGION = 0.80, 0.60, 0.70
LEAK_FAR, FID_FACTOR, CLASS_TV, SHARPNESS = 0.01, 0.3, 0.08, 0.8
SEG_MIOU, SEG_CLASS = 0.93, 0.85


class CardError(Exception):
    pass


def load_json(path):
    if not path:
        return None
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise CardError(f"{path}: {e}") from e


def chosen_insert(eff, concept):
    """The painter's default painting row of a concept in efficacy.json, or None."""
    if not eff:
        return None
    ch = (eff.get("brushes") or {}).get(concept, {}).get("add")
    if not ch:
        return None
    for c in eff.get("concepts", []):
        if c["concept"] == concept:
            for r in c.get("insert", []):
                if (r["brush"], r["layer"], r["step"]) == (ch["brush"], ch["layer"], ch["default"]):
                    return r
    return None


def chosen_remove(eff, concept):
    """(row, regions tried) of the painter's default erasing brush, or (None, 0)."""
    if not eff:
        return None, 0
    ch = (eff.get("brushes") or {}).get(concept, {}).get("remove")
    if not ch:
        return None, 0
    for c in eff.get("concepts", []):
        if c["concept"] == concept:
            for r in c.get("remove", []):
                if (r["brush"], r["layer"], r["step"]) == (ch["brush"], ch["layer"], ch["default"]):
                    return r, c.get("used_present", 0)
    return None, 0


def mean_insert(eff):
    if not eff:
        return None
    vals = [r["success"] for r in (chosen_insert(eff, c["concept"]) for c in eff.get("concepts", [])) if r]
    return sum(vals) / len(vals) if vals else None


def max_leak_far(eff):
    if not eff:
        return None, None
    rows = [(r["leak_far"], c["concept"]) for r, c in ((chosen_insert(eff, c["concept"]), c) for c in eff.get("concepts", [])) if r]
    return max(rows) if rows else (None, None)


def pct(v):
    return "–" if v is None else f"{100 * v:.0f}%"


def num(v, digits=3):
    return "–" if v is None else f"{v:.{digits}f}"


def verdict(value, ok, gap):
    """'yes', or 'no (by …)' with how far it is from the target, or 'not measured'."""
    if value is None:
        return "not measured"
    return "**yes**" if ok else f"no (by {gap})"


def target_rows(m, eff, v1m, v1eff, v1own):
    """(target, measured, v1, met) rows for every target of issue 9."""
    rows = []
    for c in REFERENCE_BRUSHES:
        r, r1 = chosen_insert(eff, c), chosen_insert(v1eff, c)
        v = r["success"] if r else None
        brush = f" ({r['brush']} {r['step']})" if r else ""
        rows.append((f"insertion success, {c} (plausible regions)", "≥ 80%", pct(v) + brush,
                     pct(r1["success"] if r1 else None),
                     verdict(v, v is not None and v >= INSERT_EACH, f"{100 * (INSERT_EACH - (v or 0)):.0f} points")))
    v, v1 = mean_insert(eff), mean_insert(v1eff)
    rows.append(("insertion success, mean over all concepts", "≥ 60%", pct(v), pct(v1),
                 verdict(v, v is not None and v >= INSERT_MEAN, f"{100 * (INSERT_MEAN - (v or 0)):.0f} points")))
    for c in REMOVAL_CONCEPTS:
        (r, tried), (r1, tried1) = chosen_remove(eff, c), chosen_remove(v1eff, c)
        v = r["region_drop"] if r and tried else None
        v1 = r1["region_drop"] if r1 and tried1 else None
        note = "" if v is not None or not r else f" (no region ≥ half {c}; everywhere {pct(r['drop'])})"
        rows.append((f"removal, {c}: share of its pixels deleted in the brushed region", "≥ 70%", pct(v) + note, pct(v1),
                     verdict(v, v is not None and v >= REMOVE_REGION, f"{100 * (REMOVE_REGION - (v or 0)):.0f} points")))
    (v, worst), (v1, _) = max_leak_far(eff), max_leak_far(v1eff)
    rows.append(("far leak of the default painting brushes (worst concept)", "≤ 1%",
                 ("–" if v is None else f"{100 * v:.1f}% ({worst})"), ("–" if v1 is None else f"{100 * v1:.1f}%"),
                 verdict(v, v is not None and v <= LEAK_FAR, f"{100 * ((v or 0) - LEAK_FAR):.1f} points")))
    fid, fid1 = (m or {}).get("fid_seg"), (v1m or {}).get("fid_seg")
    dim, dim1 = (m or {}).get("fid_feature_dim"), (v1m or {}).get("fid_feature_dim")
    if fid is not None and fid1 is not None and dim != dim1:
        raise CardError(f"fid_seg of v2 ({dim} dims) and v1 ({dim1} dims) come from different extractors")
    goal = None if fid1 is None else FID_FACTOR * fid1
    rows.append((f"fid_seg (segmenter features, {dim or dim1 or '?'} dims)",
                 "≤ 0.3 × v1" + ("" if goal is None else f" = {goal:.3f}"), num(fid), num(fid1),
                 verdict(fid if goal is not None else None, fid is not None and goal is not None and fid <= goal,
                         f"{(fid or 0) - (goal or 0):.3f}, {(fid or 0) / fid1:.2f} × v1" if fid1 else "")))
    tv, tv1 = (m or {}).get("class_tv"), (v1m or {}).get("class_tv")
    rows.append(("class TV distance", "≤ 0.08", num(tv), num(tv1), verdict(tv, tv is not None and tv <= CLASS_TV, f"{(tv or 0) - CLASS_TV:.3f}")))
    sh, sh1 = (m or {}).get("sharpness_ratio"), (v1m or {}).get("sharpness_ratio")
    rows.append(("sharpness ratio (generated / rendered)", "≥ 0.8", num(sh, 2), num(sh1, 2),
                 verdict(sh, sh is not None and sh >= SHARPNESS, f"{SHARPNESS - (sh or 0):.2f}")))
    miou, miou1 = (m or {}).get("segmenter_miou"), (v1own or {}).get("segmenter_miou")
    rows.append(("segmenter mIoU on held-out renders", "≥ 0.93", num(miou), num(miou1),
                 verdict(miou, miou is not None and miou >= SEG_MIOU, f"{SEG_MIOU - (miou or 0):.3f}")))
    ious, ious1 = (m or {}).get("segmenter_class_iou") or {}, (v1own or {}).get("segmenter_class_iou") or {}
    low = min(ious.items(), key=lambda kv: kv[1]) if ious else None
    low1 = min(ious1.items(), key=lambda kv: kv[1]) if ious1 else None
    rows.append(("segmenter IoU of every class (lowest)", "≥ 0.85", "–" if not low else f"{low[1]:.3f} ({low[0]})",
                 "–" if not low1 else f"{low1[1]:.3f} ({low1[0]})",
                 verdict(low and low[1], bool(low) and low[1] >= SEG_CLASS, f"{SEG_CLASS - (low[1] if low else 0):.3f}")))
    return rows


def targets_block(rows, sources):
    out = ["| target | goal | measured | v1 | met? |", "| --- | --- | --- | --- | --- |"]
    out += [f"| {a} | {b} | {c} | {d} | {e} |" for a, b, c, d, e in rows]
    missed = sum(1 for r in rows if r[4].startswith("no"))
    unknown = sum(1 for r in rows if r[4] == "not measured")
    out += ["", f"{len(rows) - missed - unknown} of {len(rows)} targets met, {missed} missed, {unknown} not measured. "
            f"Brushes: the painter's default brush and step per concept (efficacy.json). Sources: {sources}."]
    return "\n".join(out)


def inpaint_block(ev, v1ev):
    """The learned inpainter on held-out renders, v1's beside."""
    out = ["| mask | hole share | MAE in the hole (0–255): learned / mean fill | segmenter agrees in the hole: "
           "learned / mean fill | v1: MAE, agreement |", "| --- | --- | --- | --- | --- |"]
    for kind, name in (("cells", "1–4 brushed blocks"), ("object", "another image's object outline")):
        r = ev.get(kind, {})
        m, f = r.get("model", {}), r.get("mean_fill", {})
        v1 = (v1ev or {}).get(kind, {}).get("model", {})
        out.append(f"| {name} | {pct(r.get('hole_share'))} | {num(m.get('hole_mae'), 1)} / {num(f.get('hole_mae'), 1)} | "
                   f"{pct(m.get('seg_accuracy'))} / {pct(f.get('seg_accuracy'))} | "
                   f"{num(v1.get('hole_mae'), 1)}, {pct(v1.get('seg_accuracy'))} |")
    out += ["", f"{ev.get('images', '?')} held-out renders; {ev.get('steps', '?')} steps in {ev.get('minutes', '?')} "
            f"{ev.get('clock', '')}-minutes (`training/train_inpaint.py`)."]
    return "\n".join(out)


def replace_block(text, begin, end, body):
    block = begin + "\n" + body.rstrip("\n") + "\n" + end
    i, j = text.find(begin), text.find(end)
    if i >= 0 and j > i:
        return text[:i] + block + text[j + len(end):]
    if i >= 0 or j >= 0:
        raise CardError(f"only one of the markers {begin[:20]}… is in the card; fix it by hand")
    return None


def template(name, title, sheets):
    return f"""# {name} — {title}

Written by `training/model_card.py` from the pipeline's measurements (`training/make_model_v2.sh`);
prose outside the marked blocks is kept when it runs again.

## Targets (issue 9)

{TARGETS_BEGIN}
{TARGETS_END}

## Quality (`metrics.json`, `training/eval_quality.py`)

{QUALITY_BEGIN}
{QUALITY_END}

## Brush efficacy

{EFFICACY_BEGIN}
{EFFICACY_END}

## Learned inpainter (`inpainter.onnx`, compare panel)

{INPAINT_BEGIN}
{INPAINT_END}

## Sheets

By `training/sheets.py`, in `{sheets}/`:
- `grid.jpg`: generated images, ids 0–31.
- `seg.jpg`: 20 generated images with the segmenter's labels (by-eye check of the segmenter).
- `brushes.jpg`: before/after of the seven reference brushes, adding and removing, with the
  painter's default brush and step.

## Licence
MIT, like the rest of the repository (see LICENSE). The training data is synthetic and generated by the
repository's own code.
"""


def write_atomic(path, text):
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".MODEL.md", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def update_card(model_dir, quality_md=None, v1_metrics=None, v1_model=None, sheets="training/runs",
                inpaint_eval=None, v1_inpaint_eval=None):
    m = load_json(os.path.join(model_dir, "metrics.json"))
    eff = load_json(os.path.join(model_dir, "efficacy.json"))
    v1m = load_json(v1_metrics)
    v1own = load_json(os.path.join(v1_model, "metrics.json")) if v1_model else None
    v1eff = load_json(os.path.join(v1_model, "efficacy.json")) if v1_model else None
    with open(os.path.join(model_dir, "manifest.json")) as f:
        man = json.load(f)
    sources = ", ".join(p for p in (os.path.join(model_dir, "metrics.json") if m else "",
                                     os.path.join(model_dir, "efficacy.json") if eff else "",
                                     v1_metrics if v1m else "", v1_model if v1own or v1eff else "") if p) or "none"
    card = os.path.join(model_dir, "MODEL.md")
    try:
        with open(card) as f:
            text = f.read()
    except FileNotFoundError:
        text = template(man.get("name", os.path.basename(model_dir)), man.get("title", "model"), sheets)
    body = targets_block(target_rows(m, eff, v1m, v1eff, v1own), sources)
    new = replace_block(text, TARGETS_BEGIN, TARGETS_END, body)
    if new is None:
        new = text.rstrip("\n") + "\n\n## Targets (issue 9)\n\n" + TARGETS_BEGIN + "\n" + body + "\n" + TARGETS_END + "\n"
    text = new
    if quality_md and not os.path.exists(quality_md):
        print(f"model_card: {quality_md} is missing; the quality block is left as it was", file=sys.stderr)
    elif quality_md:
        with open(quality_md) as f:
            q = f.read()
        # Drop eval_quality's own title: the card's section has one.
        q = "\n".join(l for l in q.splitlines() if not l.startswith("# "))
        new = replace_block(text, QUALITY_BEGIN, QUALITY_END, q.strip("\n"))
        text = new if new is not None else text.rstrip("\n") + "\n\n## Quality\n\n" + QUALITY_BEGIN + "\n" + q.strip("\n") + "\n" + QUALITY_END + "\n"
    ev = load_json(inpaint_eval)
    if ev:
        body = inpaint_block(ev, load_json(v1_inpaint_eval))
        new = replace_block(text, INPAINT_BEGIN, INPAINT_END, body)
        text = new if new is not None else text.rstrip("\n") + "\n\n## Learned inpainter\n\n" + INPAINT_BEGIN + "\n" + body + "\n" + INPAINT_END + "\n"
    write_atomic(card, text)
    return card


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="model directory (its metrics.json and efficacy.json)")
    p.add_argument("--quality", help="eval_quality.py's metrics.md to copy into the card")
    p.add_argument("--v1-metrics", default="training/eval_v1_segv2/metrics.json",
                   help="v1's generator measured with the same segmenter ('' = none)")
    p.add_argument("--v1-model", default="assets/models/scenes128", help="v1's model directory ('' = none)")
    p.add_argument("--inpaint-eval", help="train_inpaint.py's eval.json of the model's inpainter")
    p.add_argument("--v1-inpaint-eval", default="training/runs/inpaint_v1/eval.json", help="v1's, beside ('' = none)")
    p.add_argument("--sheets", default="training/runs", help="where sheets.py wrote the model's sheets (for the template)")
    args = p.parse_args(argv)
    try:
        card = update_card(args.model, args.quality, args.v1_metrics or None, args.v1_model or None, args.sheets,
                           args.inpaint_eval, args.v1_inpaint_eval or None)
    except (CardError, OSError, ValueError, KeyError) as e:
        print(f"model_card: {e}", file=sys.stderr)
        return 1
    print(f"model_card: wrote the targets table into {card}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
