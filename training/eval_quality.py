"""Quality report for a trained generator, judged through the segmenter's eyes.

    /usr/bin/python3 training/eval_quality.py --model-ckpt training/ckpt/gan/latest.pt \
        --seg training/ckpt/seg/latest.pt --n 2000 --out training/eval/

Renders n held-out scenes (true labels known) and generates n images from the EMA generator
(z of image ids 0..n-1, the same rule the app uses), then reports:

- segmenter_miou / segmenter_class_iou: the segmenter against the renders' true labels;
- fid_seg: Fréchet distance between Gaussians fitted to the segmenter's penultimate features,
  global-average-pooled, of generated vs rendered images (an Inception-free FID: Inception
  weights cannot be downloaded here, and the segmenter is the network that dissection relies on);
  fid_seg_render_split is the same distance between two halves of the renders, a noise floor;
- class_tv: total-variation distance between the class pixel shares the segmenter sees in
  generated images and the true class shares of the renders;
- per-class pixel-share table (metrics.md) and a sample grid (samples.png).
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from segmenter import Segmenter  # noqa: E402

RENDER_SEED = 9  # build_dataset seed disjoint from GAN (0), segmenter train (1) and eval (7) data


class EvalError(ValueError):
    pass


# ---------------------------------------------------------------------------------------------
# Statistics.

def sqrtm_psd(c):
    """Square root of a symmetric positive semi-definite matrix via its eigen-decomposition."""
    w, v = np.linalg.eigh((c + c.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(mu1, c1, mu2, c2):
    """|mu1-mu2|^2 + tr(C1 + C2 - 2 (C1 C2)^1/2).

    tr((C1 C2)^1/2) equals tr((S C2 S)^1/2) with S = C1^1/2, and S C2 S is symmetric PSD, so
    its eigenvalues are real and non-negative: no complex sqrtm (and no scipy) needed."""
    s1 = sqrtm_psd(c1)
    m = s1 @ c2 @ s1
    tr_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum()
    d = mu1 - mu2
    return float(d @ d + np.trace(c1) + np.trace(c2) - 2 * tr_sqrt)


def gaussian(feats):
    feats = np.asarray(feats, np.float64)
    if feats.ndim != 2 or len(feats) < 2:
        raise EvalError("need at least two feature vectors, got shape %s" % (feats.shape,))
    return feats.mean(0), np.cov(feats, rowvar=False)


def fid(f1, f2):
    mu1, c1 = gaussian(f1)
    mu2, c2 = gaussian(f2)
    return frechet_distance(mu1, c1, mu2, c2)


def total_variation(p, q):
    p = np.asarray(p, np.float64)
    q = np.asarray(q, np.float64)
    if p.shape != q.shape or p.sum() <= 0 or q.sum() <= 0:
        raise EvalError("class share vectors must match in shape and be non-empty")
    return float(0.5 * np.abs(p / p.sum() - q / q.sum()).sum())


# ---------------------------------------------------------------------------------------------
# Loading.

def load_generator(path, device):
    """EMA generator from a train_gan.py checkpoint (see gan.py for the layout)."""
    import gan

    try:
        ck = torch.load(path, map_location=device)
    except Exception as e:
        raise EvalError("cannot read generator checkpoint %s: %s" % (path, e)) from e
    if not isinstance(ck, dict) or ck.get("format") != gan.CHECKPOINT_FORMAT:
        raise EvalError("%s is not a %s checkpoint" % (path, gan.CHECKPOINT_FORMAT))
    cfg = gan.GANConfig(**ck["config"])
    g = gan.Generator(cfg).to(device)
    g.load_state_dict(ck["G_ema"])
    g.eval()
    return g, cfg, ck


class ShippedGenerator:
    """A model directory's ONNX generator (training/onnx_torch.py) behind load_generator's interface,
    so a shipped model (v1, whose training checkpoint is not kept) is measured with the same
    extractor as a new checkpoint. z comes from the manifest's rule, as the app draws it."""

    def __init__(self, model_dir):
        import onnx_torch

        try:
            self.model = onnx_torch.Model(model_dir)
        except (OSError, ValueError, KeyError) as e:
            raise EvalError("cannot load model %s: %s" % (model_dir, e)) from e
        img = self.model.manifest["image"]
        if img["height"] != img["width"]:
            raise EvalError("%s: images are %dx%d, not square" % (model_dir, img["height"], img["width"]))
        if list(self.model.image_range) != [-1, 1]:
            raise EvalError("%s: image range %s is not [-1, 1]" % (model_dir, self.model.image_range))
        self.max_res = img["height"]
        self.z_size = self.model.manifest["z"]["size"]

    def resolutions(self):
        return [self.max_res]

    def z(self, ids):
        return self.model.z(ids)

    def __call__(self, z):
        x = z
        for b in self.model.blocks:
            x = b(x)
        return self.model.to_rgb(x)


def class_table():
    from scenes import CLASSES

    return [n for n, _ in CLASSES], [c for _, c in CLASSES]


def render_set(n, size, seed, workers, world="v1"):
    import build_dataset

    images, labels, _ = build_dataset.build(n, size, seed, workers, log=lambda *a, **k: None, world=world)
    return images, labels


# ---------------------------------------------------------------------------------------------

def to_tensor(images_u8, device):
    x = torch.from_numpy(np.ascontiguousarray(images_u8)).to(device)
    return x.permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)


def to_u8(x):
    """[-1,1] image tensor -> uint8 HxWx3 per the model-format byte rule."""
    return ((x.clamp(-1, 1) + 1) * 127.5).round().clamp(0, 255).byte().permute(0, 2, 3, 1).cpu().numpy()


@torch.no_grad()
def seg_pass(seg, x):
    """One segmenter pass: (pooled penultimate features [B, widths[0]], pooled features of every decoder
    level concatenated [B, sum(widths)], argmax labels [B, H, W]).

    The penultimate map alone has only widths[0] (16) channels, too few for a Fréchet distance to tell
    textures apart; every level of the decoder, each global-average-pooled, gives sum(widths) (208)."""
    maps = seg.pyramid(x)
    logits = seg.classifier(maps[-1])
    pen = maps[-1].mean(dim=(2, 3))
    multi = torch.cat([m.mean(dim=(2, 3)) for m in maps], dim=1)
    return pen.cpu().numpy(), multi.cpu().numpy(), logits.argmax(1).to(torch.uint8).cpu().numpy()


def sharpness(images):
    """Mean gradient magnitude of the luminance of uint8 [N,H,W,3] images (finite differences, in
    grey levels per pixel): the sharpness ratio compares generated with rendered images."""
    y = images.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    gx = np.diff(y, axis=2)[:, :-1, :]
    gy = np.diff(y, axis=1)[:, :, :-1]
    return float(np.sqrt(gx * gx + gy * gy).mean())


def colorize(labels, colours):
    pal = np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in colours], np.uint8)
    return pal[labels]


def save_grid(rows, path):
    """rows: list of lists of HxWx3 uint8 tiles."""
    h, w = rows[0][0].shape[:2]
    cols = max(len(r) for r in rows)
    canvas = np.full((len(rows) * h + (len(rows) - 1) * 2, cols * w, 3), 255, np.uint8)
    for i, r in enumerate(rows):
        for j, t in enumerate(r):
            canvas[i * (h + 2):i * (h + 2) + h, j * w:(j + 1) * w] = t
    Image.fromarray(canvas).save(path, optimize=True)


def evaluate(args):
    torch.set_num_threads(max(1, args.threads))
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if args.n < 4:
        raise EvalError("--n must be at least 4, got %d" % args.n)
    if args.model_dir:
        if args.res:
            raise EvalError("--res needs a training checkpoint (--model-ckpt)")
        g = cfg = ShippedGenerator(args.model_dir)
        gck = {}
    else:
        g, cfg, gck = load_generator(args.model_ckpt, device)
    seg = Segmenter.from_checkpoint(args.seg, map_location=device).to(device)
    names, colours = class_table()
    if seg.n_classes != len(names):
        raise EvalError("segmenter has %d classes, the renderer %d" % (seg.n_classes, len(names)))
    size = args.size or cfg.max_res
    if args.res and (args.res not in cfg.resolutions() or args.res < 8):
        raise EvalError("--res %d is not one of the generator's resolutions %s" % (args.res, cfg.resolutions()[1:]))
    if not 0.0 <= args.alpha <= 1.0:
        raise EvalError("--alpha must be in [0, 1], got %g" % args.alpha)
    if size % seg.multiple:
        raise EvalError("generator resolution %d is not a multiple of %d" % (size, seg.multiple))
    timings = {}

    t = time.time()
    if args.renders:
        with np.load(args.renders) as z:
            r_img, r_lab = z["images"][:args.n], z["labels"][:args.n]
        if len(r_img) < args.n or r_img.shape[1:3] != (size, size):
            raise EvalError("%s must hold >= %d renders of %dx%d" % (args.renders, args.n, size, size))
    else:
        r_img, r_lab = render_set(args.n, size, args.render_seed, args.workers, args.world)
    timings["render_s"] = round(time.time() - t, 1)

    nc = seg.n_classes
    t = time.time()
    r_feat, r_multi, r_pred = [], [], []
    cm = np.zeros((nc, nc), np.int64)
    for s in range(0, args.n, args.batch):
        f, fm, pred = seg_pass(seg, to_tensor(r_img[s:s + args.batch], device))
        r_feat.append(f)
        r_multi.append(fm)
        y = r_lab[s:s + args.batch].astype(np.int64)
        cm += np.bincount((y * nc + pred).reshape(-1), minlength=nc * nc).reshape(nc, nc)
        r_pred.append(pred)
    r_feat = np.concatenate(r_feat)
    r_multi = np.concatenate(r_multi)
    r_pred = np.concatenate(r_pred)
    timings["segment_renders_s"] = round(time.time() - t, 1)

    import zrule

    t = time.time()
    g_feat, g_multi, g_pred, g_keep = [], [], [], []
    g_sharp = []
    for s in range(0, args.n, args.batch):
        ids = list(range(args.first_id + s, args.first_id + min(args.n, s + args.batch)))
        if args.model_dir:
            z = g.z(ids).to(device)
        else:
            z = torch.from_numpy(np.asarray(zrule.z_batch(ids, size=cfg.z_size), np.float32)).to(device)
        with torch.no_grad():
            img = g(z, res=args.res, alpha=args.alpha).clamp(-1, 1) if args.res else g(z).clamp(-1, 1)
            if img.shape[-1] != size:
                img = torch.nn.functional.interpolate(img, size=(size, size), mode="bilinear",
                                                      align_corners=False).clamp(-1, 1)
        f, fm, pred = seg_pass(seg, img)
        g_feat.append(f)
        g_multi.append(fm)
        g_sharp.append(sharpness(to_u8(img)) * img.shape[0])
        g_pred.append(pred)
        if s == 0:
            g_keep = to_u8(img[:args.grid])
    g_feat = np.concatenate(g_feat)
    g_multi = np.concatenate(g_multi)
    g_pred = np.concatenate(g_pred)
    timings["generate_and_segment_s"] = round(time.time() - t, 1)

    tp = np.diag(cm).astype(np.float64)
    union = cm.sum(0) + cm.sum(1) - tp
    class_iou = {names[c]: (float(tp[c] / union[c]) if union[c] > 0 else None) for c in range(nc)}
    valid = [v for v in class_iou.values() if v is not None]
    share_gen = np.bincount(g_pred.reshape(-1), minlength=nc) / g_pred.size
    share_ren = np.bincount(r_lab.reshape(-1), minlength=nc) / r_lab.size
    share_ren_seg = np.bincount(r_pred.reshape(-1), minlength=nc) / r_pred.size
    half = args.n // 2
    metrics = {
        "segmenter_miou": float(np.mean(valid)) if valid else 0.0,
        "segmenter_class_iou": class_iou,
        "segmenter_pixel_accuracy": float(tp.sum() / cm.sum()),
        "class_tv": total_variation(share_gen, share_ren),
        "class_tv_segmented_renders": total_variation(share_gen, share_ren_seg),
        "fid_seg": fid(g_multi, r_multi),
        "fid_seg_render_split": fid(r_multi[:half], r_multi[half:]),
        "fid_feature_dim": int(g_multi.shape[1]),
        "fid_seg_penultimate": fid(g_feat, r_feat),
        "fid_seg_penultimate_render_split": fid(r_feat[:half], r_feat[half:]),
        "fid_penultimate_dim": int(g_feat.shape[1]),
        "sharpness_generated": float(np.sum(g_sharp) / args.n),
        "sharpness_rendered": sharpness(r_img[:args.n]),
        "segmenter_widths": list(seg.widths),
        "class_share_generated": {names[c]: float(share_gen[c]) for c in range(nc)},
        "class_share_rendered": {names[c]: float(share_ren[c]) for c in range(nc)},
        "class_share_rendered_segmented": {names[c]: float(share_ren_seg[c]) for c in range(nc)},
        "n_generated": int(args.n),
        "n_rendered": int(args.n),
        "generated_ids": [int(args.first_id), int(args.first_id + args.n - 1)],
        "generated_resolution": int(args.res or size),
        "generated_alpha": float(args.alpha if args.res else 1.0),
        "render_seed": None if args.renders else int(args.render_seed),
        "generator_checkpoint": {"path": args.model_ckpt, "step": gck.get("step"),
                                 "elapsed_s": gck.get("elapsed_s"), "config": gck.get("config")},
        "generator_model_dir": args.model_dir,
        "segmenter_checkpoint": args.seg,
        "timings": timings,
        "device": str(device),
    }
    metrics["sharpness_ratio"] = metrics["sharpness_generated"] / max(metrics["sharpness_rendered"], 1e-9)
    os.makedirs(args.out, exist_ok=True)
    write_json(metrics, os.path.join(args.out, "metrics.json"))
    with open(os.path.join(args.out, "metrics.md"), "w") as f:
        f.write(markdown(metrics, names))
    k = min(args.grid, len(g_keep))
    gen_tiles = list(g_keep[:k])
    seg_tiles = list(colorize(g_pred[:k], colours))
    ren_tiles = list(r_img[:k])
    cols = 8
    rows = []
    for s in range(0, k, cols):
        rows += [gen_tiles[s:s + cols], seg_tiles[s:s + cols]]
    rows += [ren_tiles[:cols], list(colorize(r_lab[:cols], colours))]
    save_grid(rows, os.path.join(args.out, "samples.png"))
    return metrics


def write_json(obj, path):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def markdown(m, names):
    lines = [
        "# Quality of the generator (measured by training/eval_quality.py)",
        "",
        "| metric | value |",
        "| --- | --- |",
        "| segmenter mIoU (renders, true labels) | %.4f |" % m["segmenter_miou"],
        "| segmenter pixel accuracy | %.4f |" % m["segmenter_pixel_accuracy"],
        "| FID on segmenter features, every decoder level pooled (%d dims; generated vs rendered) | %.4f |" % (
            m["fid_feature_dim"], m["fid_seg"]),
        "| same, two halves of the renders (noise floor) | %.4f |" % m["fid_seg_render_split"],
        "| FID on the penultimate features only (%d dims; v1's reported fid_seg) | %.4f |" % (
            m["fid_penultimate_dim"], m["fid_seg_penultimate"]),
        "| sharpness ratio (mean luminance gradient, generated / rendered) | %.3f |" % m["sharpness_ratio"],
        "| class TV distance (segmented generated vs true rendered) | %.4f |" % m["class_tv"],
        "| class TV distance (segmented generated vs segmented rendered) | %.4f |" % m["class_tv_segmented_renders"],
        "",
        "%d generated (ids %d..%d, generated at %d px) and %d rendered images." % (
            m["n_generated"], m["generated_ids"][0], m["generated_ids"][1], m["generated_resolution"],
            m["n_rendered"]),
        "",
        "| class | segmenter IoU | share generated | share rendered (true) | share rendered (segmented) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for n in names:
        iou = m["segmenter_class_iou"][n]
        lines.append("| %s | %s | %.2f%% | %.2f%% | %.2f%% |" % (
            n, "n/a" if iou is None else "%.4f" % iou, 100 * m["class_share_generated"][n],
            100 * m["class_share_rendered"][n], 100 * m["class_share_rendered_segmented"][n]))
    return "\n".join(lines) + "\n"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    gen = p.add_mutually_exclusive_group(required=True)
    gen.add_argument("--model-ckpt", help="train_gan.py checkpoint (EMA generator is used)")
    gen.add_argument("--model-dir", help="a shipped model directory: its ONNX generator, run in torch")
    p.add_argument("--seg", required=True, help="train_segmenter.py checkpoint")
    p.add_argument("--n", type=int, default=2000, help="generated images and renders (each)")
    p.add_argument("--out", default="training/eval")
    p.add_argument("--renders", default=None, help="optional prebuilt npz of held-out renders")
    p.add_argument("--size", type=int, default=0,
                   help="evaluate at this resolution: renders at it, generated images upsampled bilinearly to "
                        "it (default: the generator's; a 64 px comparison run is judged at the segmenter's 128)")
    p.add_argument("--world", default="v1", help="scene world of the held-out renders: v1 or v2")
    p.add_argument("--render-seed", type=int, default=RENDER_SEED)
    p.add_argument("--first-id", type=int, default=0, help="first image id to generate")
    p.add_argument("--res", type=int, default=0,
                   help="evaluate a progressive run mid-way: generate at this stage's resolution and "
                        "upsample bilinearly to the final size (default: final resolution)")
    p.add_argument("--alpha", type=float, default=1.0,
                   help="with --res: fade-in weight of that stage (as in train_gan's log), so images "
                        "mid-fade look like the ones being trained")
    p.add_argument("--batch", type=int, default=50)
    p.add_argument("--grid", type=int, default=16, help="generated images in samples.png")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--workers", type=int, default=1, help="render processes")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        m = evaluate(args)
    except EvalError as e:
        print("eval_quality: %s" % e, file=sys.stderr)
        return 2
    print("segmenter mIoU %.4f | fid_seg %.4f (render split %.4f) | class TV %.4f" % (
        m["segmenter_miou"], m["fid_seg"], m["fid_seg_render_split"], m["class_tv"]))
    with open(os.path.join(args.out, "metrics.md")) as f:
        print(f.read())
    return 0


if __name__ == "__main__":
    sys.exit(main())
