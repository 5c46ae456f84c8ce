"""Train the learned inpainter (training/inpaint.py) on scene renders, evaluate it, export it.

    /usr/bin/python3 training/train_inpaint.py --data training/data/v1_inpaint128.npz \
        --eval-data training/data/v1_inpaint128_eval.npz --out training/ckpt/inpaint \
        --minutes 40 --clock cpu [--resume] [--model-dir assets/models/scenes128 --export]

With --resume on a run that has reached its budget (or --steps), nothing is trained: the checkpoint
is evaluated (against --model-dir's segmenter when given) and exported with --export.

Masks are what the compare panel gives an inpainter (docs/analysis.md):
  - cells: unions of rectangles on the paint layer's grid (CELL px), as a brush stroke covers;
  - objects: every pixel of one class, dilated by a few pixels, as "remove everywhere" uses the
    segmenter's mask of the concept; taken from another image, so the hole's outline says nothing
    about what lies under it;
  - strokes: free-form thick lines, so the network does not learn the grid alone.
The loss is L1 on both stages' raw predictions, the hole weighted HOLE_WEIGHT times the known
pixels. There is no adversarial term: on this CPU budget it would halve the steps, and the panel
compares against Telea and Navier-Stokes, which are smooth too.

Evaluation on held-out renders, one cell mask and one object mask per image: mean absolute error in
the hole (0..255), and how the segmenter of the model labels the filled hole against the true labels
(pixel accuracy and mean IoU over classes present in holes), next to the same for a fill with the
mean known colour. Results go to OUT/eval.json; --export writes inpainter.onnx into a model
directory and adds it to its manifest.json.
"""

import argparse
import json
import math
import os
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import trainio  # noqa: E402
from inpaint import CHECKPOINT_FORMAT, Inpainter, check_input  # noqa: E402
from trainio import DataError, TrainLog, save_atomic  # noqa: E402,F401 (DataError: callers and tests catch it here)

CELL = 16
HOLE_WEIGHT = 6.0
MAX_HOLE = 0.6
OPSET = 13


def load_npz(path):
    """The dataset, with sides a multiple of the mask cells."""
    return trainio.load_npz(path, side_multiple=CELL)


# --- masks ---------------------------------------------------------------------------------------

def cell_mask(rng, h, w, cell=CELL):
    """1-4 rectangles of 1-3 cells a side on the cell grid."""
    m = np.zeros((h, w), np.float32)
    gh, gw = h // cell, w // cell
    for _ in range(int(rng.integers(1, 5))):
        ch, cw = int(rng.integers(1, min(3, gh) + 1)), int(rng.integers(1, min(3, gw) + 1))
        y, x = int(rng.integers(0, gh - ch + 1)), int(rng.integers(0, gw - cw + 1))
        m[y * cell:(y + ch) * cell, x * cell:(x + cw) * cell] = 1
    return m


def dilate(m, r):
    if r <= 0:
        return m
    t = torch.from_numpy(m)[None, None]
    return F.max_pool2d(t, 2 * r + 1, stride=1, padding=r)[0, 0].numpy()


def object_mask(rng, labels, min_share=0.01):
    """All pixels of one class of the image (not the largest), dilated by 1-4 px; None if none fits."""
    h, w = labels.shape
    counts = np.bincount(labels.ravel(), minlength=256)
    order = np.argsort(-counts)
    cands = [c for c in order[1:] if min_share * h * w <= counts[c] <= MAX_HOLE * h * w * 0.8]
    if not cands:
        return None
    c = cands[int(rng.integers(0, len(cands)))]
    return dilate((labels == c).astype(np.float32), int(rng.integers(1, 5)))


def stroke_mask(rng, h, w):
    """1-3 polylines of 3-6 vertices, 6-20 px wide."""
    m = np.zeros((h, w), np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    for _ in range(int(rng.integers(1, 4))):
        r = float(rng.uniform(3, 10))
        p = rng.uniform(0, [w, h])
        for _ in range(int(rng.integers(2, 6))):
            q = np.clip(p + rng.normal(0, w / 4, 2), 0, [w - 1, h - 1])
            d = q - p
            L = float(d @ d) or 1.0
            t = np.clip(((xx - p[0]) * d[0] + (yy - p[1]) * d[1]) / L, 0, 1)
            dist2 = (xx - p[0] - t * d[0]) ** 2 + (yy - p[1] - t * d[1]) ** 2
            m[dist2 <= r * r] = 1
            p = q
    return m


def sample_mask(rng, labels):
    h, w = labels.shape
    for _ in range(8):
        kind = rng.random()
        if kind < 0.4:
            m = cell_mask(rng, h, w)
        elif kind < 0.8:
            m = object_mask(rng, labels)
            if m is None:
                continue
        else:
            m = stroke_mask(rng, h, w)
        share = float(m.mean())
        if 0.005 < share <= MAX_HOLE:
            return m
    return cell_mask(rng, h, w)


# --- data ----------------------------------------------------------------------------------------

def to_input(images_u8):
    """uint8 [N,H,W,3] -> float [N,3,H,W] in [-1, 1] (the scene models' image range)."""
    return torch.from_numpy(images_u8).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def random_crop(rng, h, w, crop):
    return int(rng.integers(0, (h - crop) // CELL + 1)) * CELL, int(rng.integers(0, (w - crop) // CELL + 1)) * CELL


def batch(images, labels, idx, rng, crop):
    """Crops of images[idx] with masks. Object masks come from another image's labels: a hole shaped
    like an object but lying over an unrelated part of the scene, so the network learns to continue
    the background, not to paint back the object whose outline the hole has (the compare panel asks
    it to remove that object)."""
    n, h, w = len(idx), images.shape[1], images.shape[2]
    xs = np.empty((n, crop, crop, 3), np.uint8)
    ms = np.empty((n, crop, crop), np.float32)
    for k, i in enumerate(idx):
        y, x = random_crop(rng, h, w, crop)
        img = images[i, y:y + crop, x:x + crop]
        if rng.random() < 0.5:
            img = img[:, ::-1]
        xs[k] = img
        j = int(rng.integers(0, len(labels)))
        y, x = random_crop(rng, h, w, crop)
        ms[k] = sample_mask(rng, np.ascontiguousarray(labels[j, y:y + crop, x:x + crop]))
    gt = to_input(xs)
    m = torch.from_numpy(ms)[:, None]
    return torch.cat([gt * (1 - m), m], 1), gt, m


def loss_fn(model, x, gt, m):
    coarse, refined = model.stages(x)
    wgt = 1 + (HOLE_WEIGHT - 1) * m
    return ((coarse - gt).abs() * wgt).mean() + ((refined - gt).abs() * wgt).mean()


# --- evaluation ----------------------------------------------------------------------------------

def eval_masks(labels, seed):
    """One cell mask and one object mask per image, fixed by seed. The object mask is an object of the
    next image, so the truth under it is scene the network can infer (ganpaint compare measures the
    other case, removing an object under its own outline, by what is left of it and FID)."""
    rng = np.random.default_rng(seed)
    out = []
    for i, lab in enumerate(labels):
        h, w = lab.shape
        out.append(("cells", cell_mask(rng, h, w)))
        m = object_mask(rng, labels[(i + 1) % len(labels)])
        out.append(("object", m if m is not None else cell_mask(rng, h, w)))
    return out


def mean_fill(x):
    img, m = x[:, :3], x[:, 3:4]
    known = (1 - m).sum(dim=(2, 3), keepdim=True).clamp(min=1)
    mean = (img * (1 - m)).sum(dim=(2, 3), keepdim=True) / known
    return img * (1 - m) + mean * m


@torch.no_grad()
def evaluate(model, images, labels, segment=None, seed=7, bs=16):
    """Per mask kind: hole MAE (0..255) and, with segment (labels of images in [-1,1]), pixel accuracy
    and mIoU of the filled holes' labels against the truth, for the model and for a mean fill."""
    masks = eval_masks(labels, seed)
    res = {}
    for kind in ("cells", "object"):
        sel = [(i // 2, m) for i, (k, m) in enumerate(masks) if k == kind]
        stats = {name: {"abs": 0.0, "n": 0.0, "cm": np.zeros((256, 256), np.int64)} for name in ("model", "mean_fill")}
        for s in range(0, len(sel), bs):
            chunk = sel[s:s + bs]
            idx = [i for i, _ in chunk]
            gt = to_input(images[idx])
            m = torch.from_numpy(np.stack([mm for _, mm in chunk]))[:, None]
            x = torch.cat([gt * (1 - m), m], 1)
            truth = torch.from_numpy(labels[idx].astype(np.int64))
            for name, out in (("model", model(x)), ("mean_fill", mean_fill(x))):
                st = stats[name]
                st["abs"] += float(((out - gt).abs() * m).sum()) * 127.5 / 3
                st["n"] += float(m.sum())
                if segment is not None:
                    pred = segment(out)
                    hole = m[:, 0] > 0.5
                    np.add.at(st["cm"], (truth[hole].numpy(), pred[hole].numpy()), 1)
        r = {}
        for name, st in stats.items():
            row = {"hole_mae": round(st["abs"] / max(st["n"], 1), 3)}
            if segment is not None:
                cm = st["cm"]
                present = cm.sum(1) > 0
                inter = np.diag(cm)
                union = cm.sum(0) + cm.sum(1) - inter
                row["seg_accuracy"] = round(float(inter.sum() / max(cm.sum(), 1)), 4)
                row["seg_miou"] = round(float((inter[present] / np.maximum(union[present], 1)).mean()), 4)
            r[name] = row
        r["masks"] = len(sel)
        r["hole_share"] = round(float(np.mean([mm.mean() for _, mm in sel])), 4)
        res[kind] = r
    return res


# --- export --------------------------------------------------------------------------------------

def export_onnx(model, path, size):
    model = model.eval()
    example = torch.zeros(1, 4, size, size)
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=d, suffix=".onnx.tmp")
    os.close(fd)
    try:
        torch.onnx.export(model, example, tmp, input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
                          opset_version=OPSET, do_constant_folding=True)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def export_to_model(model, model_dir):
    man_path = os.path.join(model_dir, "manifest.json")
    with open(man_path) as f:
        man = json.load(f)
    h, w = man["image"]["height"], man["image"]["width"]
    if h != w:
        raise SystemExit(f"{model_dir}: the inpainter is exported for square images, got {h}x{w}")
    if list(man["image"].get("range", [-1, 1])) != [-1, 1]:
        raise SystemExit(f"{model_dir}: image range {man['image']['range']} is not [-1, 1]")
    export_onnx(model, os.path.join(model_dir, "inpainter.onnx"), h)
    man["inpainter"] = {"file": "inpainter.onnx"}
    fd, tmp = tempfile.mkstemp(dir=model_dir, suffix=".json.tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(man, f, indent=2)
        f.write("\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, man_path)


# --- training ------------------------------------------------------------------------------------

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True)
    p.add_argument("--eval-data")
    p.add_argument("--out", required=True, help="checkpoint folder (latest.pt, log.csv, eval.json)")
    p.add_argument("--minutes", type=float, default=40.0, help="training budget in minutes of --clock")
    p.add_argument("--clock", choices=("wall", "cpu"), default="cpu")
    p.add_argument("--steps", type=int, default=0, help="stop after this many steps (0 = budget only)")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--crop", type=int, default=64, help="training crop side (multiple of 16); the last "
                   "--full-frac of the budget trains on whole images")
    p.add_argument("--full-frac", type=float, default=0.3)
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--ema", type=float, default=0.999)
    p.add_argument("--amp", type=int, default=1, help="bfloat16 autocast (the CPU's AMX units)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ckpt-minutes", type=float, default=4.0)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--eval-n", type=int, default=300)
    p.add_argument("--model-dir", help="model whose segmenter judges the fills (and --export target)")
    p.add_argument("--export", action="store_true", help="write inpainter.onnx into --model-dir")
    a = p.parse_args(argv)
    if a.crop % CELL or a.crop < 2 * CELL:
        p.error(f"--crop must be a multiple of {CELL} and at least {2 * CELL}")
    if a.export and not a.model_dir:
        p.error("--export needs --model-dir")
    return a


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    images, labels = load_npz(args.data)
    H = images.shape[1]
    crop = min(args.crop, H)
    os.makedirs(args.out, exist_ok=True)
    ckpt_path = os.path.join(args.out, "latest.pt")
    model = Inpainter(width=args.width).to(memory_format=torch.channels_last)
    ema = Inpainter(width=args.width)
    ema.load_state_dict(model.state_dict())
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.5, 0.99))
    rng = np.random.default_rng(args.seed)
    step, elapsed_before = 0, 0.0
    if args.resume and os.path.exists(ckpt_path):
        ck = torch.load(ckpt_path, map_location="cpu")
        if ck.get("format") != CHECKPOINT_FORMAT or ck["config"] != model.config():
            raise SystemExit(f"{ckpt_path}: a different inpainter; remove it or drop --resume")
        model.load_state_dict(ck["model"])
        ema.load_state_dict(ck["ema"])
        opt.load_state_dict(ck["optimizer"])
        rng.bit_generator.state = ck["rng"]
        step, elapsed_before = ck["step"], ck["elapsed"]
        print(f"resumed at step {step}, {elapsed_before / 60:.1f} min", flush=True)

    def checkpoint(elapsed):
        save_atomic({"format": CHECKPOINT_FORMAT, "config": model.config(), "model": model.state_dict(),
                     "ema": ema.state_dict(), "optimizer": opt.state_dict(), "step": step,
                     "elapsed": elapsed, "rng": rng.bit_generator.state, "image_size": H}, ckpt_path)

    budget = args.minutes * 60
    start_step = step
    log = TrainLog(args.out, args.resume, args.minutes)
    clock = time.process_time if args.clock == "cpu" else time.time
    t0, last = clock(), time.time()
    model.train()
    print(f"data: {len(images)} images {H}px; width {args.width}; {sum(p.numel() for p in model.parameters())} "
          f"parameters; budget {args.minutes} {args.clock}-minutes", flush=True)
    while True:
        elapsed = elapsed_before + clock() - t0
        if elapsed >= budget or (args.steps and step >= args.steps):
            break
        frac = max(elapsed / budget, step / args.steps if args.steps else 0.0)
        c = H if frac >= 1 - args.full_frac else crop
        bsz = max(2, args.batch * crop * crop // (c * c))
        lr = args.lr * min(1.0, (step + 1) / 100) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0))))
        for g in opt.param_groups:
            g["lr"] = lr
        x, gt, m = batch(images, labels, rng.integers(0, len(images), size=bsz), rng, c)
        x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bool(args.amp)):
            loss = loss_fn(model, x, gt, m)
        opt.zero_grad(set_to_none=True)
        loss.float().backward()
        opt.step()
        with torch.no_grad():
            for pe, pm in zip(ema.parameters(), model.parameters()):
                pe.lerp_(pm.detach(), 1 - args.ema)
        step += 1
        log.step(step, elapsed, float(loss), lr, c)
        if time.time() - last > args.ckpt_minutes * 60:
            checkpoint(elapsed_before + clock() - t0)
            last = time.time()
    total = elapsed_before + clock() - t0
    if step > start_step:
        checkpoint(total)
    else:
        # A run resumed at its budget only evaluates and exports (the model pipeline's last
        # step): the checkpoint it read stays byte for byte.
        total = elapsed_before
    log.close()
    print(f"trained {step} steps in {total / 60:.1f} min ({step - start_step} in this run)", flush=True)
    ema.eval()

    segment = None
    if args.model_dir:
        import onnx_torch

        seg_model = onnx_torch.Model(args.model_dir)
        segment = seg_model.segment
    if args.eval_data:
        ev_images, ev_labels = load_npz(args.eval_data)
        n = min(args.eval_n, len(ev_images))
        te = time.time()
        res = evaluate(ema, ev_images[:n], ev_labels[:n], segment)
        res.update({"images": n, "steps": step, "minutes": round(total / 60, 2), "clock": args.clock,
                    "eval_seconds": round(time.time() - te, 1), "config": ema.config()})
        with open(os.path.join(args.out, "eval.json"), "w") as f:
            json.dump(res, f, indent=1)
            f.write("\n")
        print(json.dumps(res, indent=1), flush=True)
    if args.export:
        export_to_model(ema, args.model_dir)
        print(f"wrote {os.path.join(args.model_dir, 'inpainter.onnx')}", flush=True)


if __name__ == "__main__":
    main()
