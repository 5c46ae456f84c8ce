"""Sheets to judge a model by eye (issue 9): a sample grid, generated images with their
segmentations, and a before/after sheet of the painter's brushes.

  sheets.py grid    --model DIR --out F.jpg [--first-id 0] [--n 32] [--cols 8]
  sheets.py seg     --model DIR --out F.jpg [--first-id 0] [--n 20] [--cols 2]
  sheets.py brushes --model DIR --out F.jpg [--concepts tree,grass,door,sky,cloud,brick,dome]
                    [--images 3] [--ganpaint bin/ganpaint]

grid: generated images of ids first-id … first-id+n−1, row-major.
seg: per id, the image | the model segmenter's labels in the manifest's class colours, and a
legend with each class's share of the sheet's pixels; for checking the segmenter on generated
images.
brushes: per concept two rows, add and remove, each `--images` before/after pairs. The after
image is `ganpaint render --edit CONCEPT:MODE:RECT`, i.e. the painter's default brush and step
(efficacy.json's choice), so the sheet shows what a click paints. Images are held-out ids (from
90% of max_id on, the dissection's skipped, as the benchmark) on which the stroke makes sense:
to add, a region of the benchmark's 4×4 tiling where the concept covers < 50% and its
plausibility rule holds (plausible.py), the one nearest the centre; to remove, the region the
concept covers most (≥ 50%), else the whole image when the concept shows (≥ 1% of the pixels).
The stroke's rectangle is outlined on the before image; captions give the concept's share of the
region (whole image for "everywhere") before → after, by the model's segmenter.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import onnx_torch  # noqa: E402
import plausible  # noqa: E402
import recipes  # noqa: E402

REFERENCE_BRUSHES = "tree,grass,door,sky,cloud,brick,dome"
HELD_OUT = (0.9, 1.0)  # the benchmark's evaluation range of ids
POOL = 64  # held-out images searched for places to stroke
CAPTION = 14  # px of text under a row of tiles
LABEL_W = 150  # px of the label column of the brush sheet
STROKE = (255, 0, 255)


class SheetError(Exception):
    pass


def to_uint8(img, image_range):
    """[N, 3, H, W] in image_range -> [N, H, W, 3] uint8."""
    lo, hi = image_range
    x = ((img - lo) / (hi - lo)).clamp(0, 1) * 255
    return x.round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def from_uint8(arr, image_range):
    lo, hi = image_range
    x = torch.from_numpy(np.asarray(arr, np.float32)).permute(2, 0, 1).unsqueeze(0) / 255
    return x * (hi - lo) + lo


@torch.no_grad()
def generate(model, ids, batch=8):
    """Images (uint8 HWC) and labels of ids."""
    imgs, labels = [], []
    for s in range(0, len(ids), batch):
        img, _ = model.head_all(model.z(ids[s:s + batch]), [])
        imgs.append(to_uint8(img, model.image_range))
        labels.append(model.segment(img).numpy().astype(np.uint8))
    return np.concatenate(imgs), np.concatenate(labels)


def colours(model):
    return [c["color"] for c in model.manifest["segmenter"]["classes"]]


def colorize(labels, cols):
    pal = np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in cols], np.uint8)
    return pal[labels]


def tile_grid(tiles, cols, gap=2, fill=255):
    """HxWx3 uint8 tiles (equal sizes) in rows of cols."""
    h, w = tiles[0].shape[:2]
    rows = -(-len(tiles) // cols)
    canvas = np.full((rows * h + (rows - 1) * gap, cols * w + (cols - 1) * gap, 3), fill, np.uint8)
    for k, t in enumerate(tiles):
        r, c = divmod(k, cols)
        canvas[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = t
    return canvas


def save(canvas, path, quality=88):
    img = canvas if isinstance(canvas, Image.Image) else Image.fromarray(canvas)
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=d, suffix=os.path.splitext(path)[1])
    os.close(fd)
    try:
        if path.lower().endswith((".jpg", ".jpeg")):
            img.convert("RGB").save(tmp, quality=quality, optimize=True)
        else:
            img.save(tmp, optimize=True)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def sample_grid(model, first, n, cols):
    imgs, _ = generate(model, list(range(first, first + n)))
    return tile_grid(list(imgs), cols)


def seg_sheet(model, first, n, cols):
    """Pairs image | labels, cols pairs a row, and a legend column with pixel shares."""
    imgs, labels = generate(model, list(range(first, first + n)))
    cols_hex = colours(model)
    pairs = [tile_grid([im, colorize(lab, cols_hex)], 2, gap=0) for im, lab in zip(imgs, labels)]
    grid = tile_grid(pairs, cols, gap=4)
    share = np.bincount(labels.ravel(), minlength=len(cols_hex)) / labels.size
    font = ImageFont.load_default()
    line = 16
    legend_w = 170
    H = max(grid.shape[0], line * (len(cols_hex) + 2))
    sheet = Image.new("RGB", (grid.shape[1] + legend_w, H), "white")
    sheet.paste(Image.fromarray(grid), (0, 0))
    d = ImageDraw.Draw(sheet)
    x = grid.shape[1] + 10
    d.text((x, 2), f"ids {first}-{first + n - 1}", fill="black", font=font)
    for k, (name, c) in enumerate(zip(model.classes, cols_hex)):
        y = line * (k + 1) + 4
        d.rectangle([x, y, x + 12, y + 12], fill=c, outline="black")
        d.text((x + 18, y), f"{name} {100 * share[k]:.1f}%", fill="black", font=font)
    return sheet, {name: round(float(share[k]), 4) for k, name in enumerate(model.classes)}


def centre_first(rects, w, h):
    cx, cy = w / 2, h / 2
    return sorted(rects, key=lambda r: ((r[0] + r[2]) / 2 - cx) ** 2 + ((r[1] + r[3]) / 2 - cy) ** 2)


def add_region(labels, concept, classes):
    """The tiling region nearest the centre where the concept may be painted, or None."""
    h, w = labels.shape
    cls = {n: i for i, n in enumerate(classes)}
    c = cls[concept]
    for r in centre_first(plausible.tiling(w, h, recipes.SIDE), w, h):
        if plausible.share(labels, r, c) < recipes.ELIGIBLE_BELOW and \
                plausible.plausible(concept, plausible.Context(labels, r, len(classes)), cls):
            return r
    return None


def remove_region(labels, concept, classes):
    """The tiling region the concept covers most (≥ half), else the whole image when the concept
    covers ≥ 1% of it ("everywhere"), else None. Returns (rect, everywhere)."""
    h, w = labels.shape
    c = classes.index(concept)
    best = max(centre_first(plausible.tiling(w, h, recipes.SIDE), w, h), key=lambda r: plausible.share(labels, r, c))
    if plausible.share(labels, best, c) >= recipes.PRESENT_FROM:
        return best, False
    if (labels == c).mean() >= recipes.MIN_IMAGE_SHARE:
        return (0, 0, w, h), True
    return None, False


def places(labels, concept, classes, mode, k):
    """The first k pool images (index, rect, everywhere) where the stroke makes sense."""
    out = []
    for i, lab in enumerate(labels):
        if mode == "add":
            r, every = add_region(lab, concept, classes), False
        else:
            r, every = remove_region(lab, concept, classes)
        if r is not None:
            out.append((i, r, every))
        if len(out) == k:
            break
    return out


def render(ganpaint, model_dir, image_id, edit, path):
    cmd = [ganpaint, "render", "--model", model_dir, "--id", str(image_id), "--edit", edit, "--out", path]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise SheetError(f"{' '.join(cmd)}: {p.stderr.strip()}")
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def chosen(model_dir, concept, mode):
    """The painter's default brush and step for the caption (efficacy.json), or ''."""
    try:
        with open(os.path.join(model_dir, "efficacy.json")) as f:
            ch = json.load(f).get("brushes", {}).get(concept, {}).get("add" if mode == "add" else "remove")
    except OSError:
        return "IoU ranking"
    if not ch:
        return "IoU ranking"
    s = next((st["strength"] for st in ch["steps"] if st["name"] == ch["default"]), None)
    return f"{ch['brush']} {ch['default']} {s:g}" if s is not None else f"{ch['brush']} {ch['default']}"


@torch.no_grad()
def brush_sheet(model, model_dir, ganpaint, concepts, k, log=print):
    index, layers = recipes.load_dissection(model_dir)
    exclude = recipes.dissection_ids(layers, model.max_id)
    ids = recipes.held_out_ids(model.max_id, HELD_OUT[0], HELD_OUT[1], POOL, exclude)
    imgs, labels = generate(model, ids)
    H, W = labels.shape[1:]
    font = ImageFont.load_default()
    rows = []
    summary = {}
    with tempfile.TemporaryDirectory() as tmp:
        for concept in concepts:
            if concept not in model.classes:
                raise SheetError(f"unknown concept {concept!r} (classes: {', '.join(model.classes)})")
            c = model.classes.index(concept)
            for mode in ("add", "remove"):
                found = places(labels, concept, model.classes, mode, k)
                row = Image.new("RGB", (LABEL_W + k * (2 * W + 6), H + CAPTION), "white")
                d = ImageDraw.Draw(row)
                d.text((4, 4), f"{concept} {mode}", fill="black", font=font)
                d.text((4, 20), chosen(model_dir, concept, mode), fill="black", font=font)
                if not found:
                    d.text((4, 36), "no image in the pool", fill="black", font=font)
                rises = []
                for j, (i, r, every) in enumerate(found):
                    edit = f"{concept}:{mode}" + ("" if every else ":" + ",".join(map(str, r)))
                    after = render(ganpaint, model_dir, ids[i], edit, os.path.join(tmp, "a.png"))
                    after_lab = model.segment(from_uint8(after, model.image_range))[0].numpy()
                    before_share = plausible.share(labels[i], r, c)
                    after_share = plausible.share(after_lab, r, c)
                    rises.append(after_share - before_share)
                    x = LABEL_W + j * (2 * W + 6)
                    b = Image.fromarray(imgs[i])
                    if not every:
                        ImageDraw.Draw(b).rectangle([r[0], r[1], r[2] - 1, r[3] - 1], outline=STROKE)
                    row.paste(b, (x, 0))
                    row.paste(Image.fromarray(after), (x + W, 0))
                    where = "everywhere" if every else "region"
                    d.text((x, H + 1), f"id {ids[i]} {where} {100 * before_share:.0f}%->{100 * after_share:.0f}%",
                           fill="black", font=font)
                summary[f"{concept}:{mode}"] = {"images": len(found),
                                                "mean_change": round(float(np.mean(rises)), 3) if rises else None}
                log(f"sheets: {concept} {mode}: {len(found)} images" +
                    (f", mean change of its share {np.mean(rises):+.2f}" if rises else ""))
                rows.append(row)
    sheet = Image.new("RGB", (rows[0].width, sum(r.height + 4 for r in rows)), "white")
    y = 0
    for r in rows:
        sheet.paste(r, (0, y))
        y += r.height + 4
    return sheet, summary


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("kind", choices=("grid", "seg", "brushes"))
    p.add_argument("--model", required=True, help="model directory")
    p.add_argument("--out", required=True, help=".jpg or .png")
    p.add_argument("--first-id", type=int, default=0)
    p.add_argument("--n", type=int, default=0, help="images (grid: 32, seg: 20)")
    p.add_argument("--cols", type=int, default=0, help="columns (grid: 8, seg: 2 pairs)")
    p.add_argument("--concepts", default=REFERENCE_BRUSHES, help="brushes: concepts, comma-separated")
    p.add_argument("--images", type=int, default=3, help="brushes: before/after pairs per concept and mode")
    p.add_argument("--ganpaint", default="bin/ganpaint", help="brushes: the ganpaint binary (renders the strokes)")
    p.add_argument("--quality", type=int, default=88, help="JPEG quality")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    try:
        if args.n < 0 or args.cols < 0 or args.images < 1 or args.first_id < 0:
            raise SheetError("--n, --cols and --first-id must be ≥ 0, --images ≥ 1")
        model = onnx_torch.Model(args.model)
        if args.first_id + max(args.n, 32) > model.max_id:
            raise SheetError(f"ids past max_id {model.max_id}")
        if args.kind == "grid":
            save(sample_grid(model, args.first_id, args.n or 32, args.cols or 8), args.out, args.quality)
        elif args.kind == "seg":
            sheet, share = seg_sheet(model, args.first_id, args.n or 20, args.cols or 2)
            save(sheet, args.out, args.quality)
            print("sheets: segmented pixel shares " + ", ".join(f"{k} {100 * v:.1f}%" for k, v in share.items()))
        else:
            if not os.access(args.ganpaint, os.X_OK):
                raise SheetError(f"--ganpaint {args.ganpaint}: not an executable (run `make build`)")
            concepts = [c for c in args.concepts.split(",") if c]
            sheet, _ = brush_sheet(model, args.model, args.ganpaint, concepts, args.images)
            save(sheet, args.out, args.quality)
        print(f"sheets: wrote {args.out} ({os.path.getsize(args.out) // 1024} KB)")
    except (SheetError, recipes.RecipeError, OSError, ValueError) as e:
        print(f"sheets: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
