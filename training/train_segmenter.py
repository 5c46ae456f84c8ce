"""Train the scene segmenter (training/segmenter.py) on renderer labels, within a wall-clock budget.

    /usr/bin/python3 training/train_segmenter.py --data training/data/seg128.npz \
        --eval-data training/data/seg128_eval.npz --out training/ckpt/seg --minutes 22

Writes <out>/latest.pt (atomic; --resume continues from it), <out>/log.csv and, at the end,
<out>/eval.json with per-class IoU and mIoU on the held-out renders.

The run is sized for a shared 2-core CPU: one thread by default, random 64 px crops for most of
the budget (a U-Net is translation-equivariant, so crops teach the same local rules 4x cheaper)
and full-size images at the end so BatchNorm statistics match the inference input.  Augmentations
(flip, brightness/contrast/tint jitter, Gaussian blur, pixel noise) make it usable on GAN images,
which are blurrier and noisier than renders.
"""

import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from segmenter import CHECKPOINT_FORMAT, DEFAULT_WIDTHS, Segmenter  # noqa: E402
from trainio import DataError, TrainLog, load_npz, save_atomic  # noqa: E402


def class_names(n):
    try:
        from scenes import CLASSES
        if len(CLASSES) == n:
            return [c[0] for c in CLASSES]
    except Exception:  # the renderer is optional for training on an existing file
        pass
    return ["class%d" % i for i in range(n)]


def class_weights(labels, n_classes, power=0.5, lo=0.25, hi=4.0):
    """Median-frequency balancing, softened by `power` so rare classes (door, window, dome) get
    more gradient without letting a handful of pixels dominate the loss."""
    counts = np.bincount(labels.reshape(-1), minlength=n_classes).astype(np.float64)
    freq = counts / counts.sum()
    present = freq > 0
    w = np.ones(n_classes)
    if present.any():
        med = np.median(freq[present])
        w[present] = np.clip((med / freq[present]) ** power, lo, hi)
    return torch.tensor(w / w[present].mean() if present.any() else w, dtype=torch.float32), freq


def to_input(images_u8, device):
    """uint8 [B,H,W,3] -> float [B,3,H,W] in [-1, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(images_u8)).to(device)
    return x.permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)


def gaussian_blur(x, sigma):
    """Per-sample separable Gaussian blur; sigma is a [B] tensor (0 = untouched)."""
    B, C, H, W = x.shape
    radius = 3
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    s = sigma.clamp(min=1e-3).view(B, 1)
    k = torch.exp(-(t.view(1, -1) ** 2) / (2 * s * s))
    k = k / k.sum(dim=1, keepdim=True)  # [B, K]
    kk = k.repeat_interleave(C, dim=0)  # one kernel per (sample, channel) for a grouped conv
    y = x.reshape(1, B * C, H, W)
    y = F.pad(y, (radius, radius, 0, 0), mode="replicate")
    y = F.conv2d(y, kk.view(B * C, 1, 1, -1), groups=B * C)
    y = F.pad(y, (0, 0, radius, radius), mode="replicate")
    y = F.conv2d(y, kk.view(B * C, 1, -1, 1), groups=B * C)
    return y.view(B, C, H, W)


def augment(x, gen):
    """Photometric jitter + blur + noise.  `gen` is a torch.Generator so resumed runs and tests
    are reproducible."""
    B = x.shape[0]
    dev = x.device

    def u(lo, hi, *shape):
        return torch.rand(*shape, generator=gen).to(dev) * (hi - lo) + lo

    contrast = u(0.75, 1.25, B, 1, 1, 1)
    bright = u(-0.15, 0.15, B, 1, 1, 1)
    tint = u(-0.06, 0.06, B, 3, 1, 1)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * contrast + mean + bright + tint
    blur_on = (torch.rand(B, generator=gen) < 0.5).float()
    sigma = u(0.4, 1.6, B).cpu() * blur_on
    if blur_on.any():
        blurred = gaussian_blur(x, sigma.to(dev))
        m = blur_on.to(dev).view(B, 1, 1, 1)
        x = blurred * m + x * (1 - m)
    # Lost detail, as in a generator whose last layers are slim: box-downsample by 2 or 4 and
    # upsample bilinearly again.
    pick = torch.rand(B, generator=gen)
    for factor, lo, hi in ((2, 0.0, 0.15), (4, 0.15, 0.2)):
        m = ((pick >= lo) & (pick < hi)).float().to(dev).view(B, 1, 1, 1)
        if m.any() and x.shape[2] % factor == 0 and x.shape[3] % factor == 0:
            low = F.interpolate(F.avg_pool2d(x, factor), scale_factor=float(factor), mode="bilinear",
                                align_corners=False)
            x = low * m + x * (1 - m)
    noise_sd = u(0.0, 0.05, B, 1, 1, 1) * (torch.rand(B, 1, 1, 1, generator=gen) < 0.5).float().to(dev)
    x = x + torch.randn(x.shape, generator=gen).to(dev) * noise_sd
    return x.clamp_(-1.0, 1.0)


def sample_batch(images, labels, idx, crop, rng):
    """Random crops of size `crop` plus horizontal flips, done on uint8 arrays (cheap)."""
    N, H, W, _ = images.shape
    xs = np.empty((len(idx), crop, crop, 3), np.uint8)
    ys = np.empty((len(idx), crop, crop), np.uint8)
    for j, i in enumerate(idx):
        top = rng.integers(0, H - crop + 1)
        left = rng.integers(0, W - crop + 1)
        a = images[i, top:top + crop, left:left + crop]
        b = labels[i, top:top + crop, left:left + crop]
        if rng.random() < 0.5:
            a, b = a[:, ::-1], b[:, ::-1]
        xs[j], ys[j] = a, b
    return xs, ys


@torch.no_grad()
def confusion(model, images, labels, n_classes, device, batch=50):
    model.eval()
    cm = torch.zeros(n_classes * n_classes, dtype=torch.int64)
    for s in range(0, len(images), batch):
        x = to_input(images[s:s + batch], device)
        pred = model(x).argmax(dim=1).cpu()
        y = torch.from_numpy(labels[s:s + batch].astype(np.int64))
        cm += torch.bincount((y * n_classes + pred).reshape(-1), minlength=n_classes * n_classes)
    return cm.view(n_classes, n_classes).numpy()


DEGRADATIONS = {
    "blur_sigma1": lambda x: gaussian_blur(x, torch.full((x.shape[0],), 1.0, device=x.device)),
    "down2_up": lambda x: F.interpolate(F.avg_pool2d(x, 2), scale_factor=2.0, mode="bilinear", align_corners=False),
    "down4_up": lambda x: F.interpolate(F.avg_pool2d(x, 4), scale_factor=4.0, mode="bilinear", align_corners=False),
}


@torch.no_grad()
def degraded_miou(model, images, labels, n_classes, device, batch=50):
    """mIoU on renders degraded like generated images tend to be (blurred, detail lost): a
    proxy for how far the segmenter can be trusted on GAN output, which has no true labels."""
    model.eval()
    out = {}
    for name, f in DEGRADATIONS.items():
        cm = np.zeros((n_classes, n_classes), np.int64)
        for s in range(0, len(images), batch):
            pred = model(f(to_input(images[s:s + batch], device))).argmax(1).cpu().numpy()
            y = labels[s:s + batch].astype(np.int64)
            cm += np.bincount((y * n_classes + pred).reshape(-1), minlength=n_classes * n_classes).reshape(
                n_classes, n_classes)
        out[name] = iou_from_confusion(cm)[1]
    return out


def iou_from_confusion(cm):
    """Per-class IoU (None where the class never occurs in truth or prediction) and their mean."""
    tp = np.diag(cm).astype(np.float64)
    union = cm.sum(0) + cm.sum(1) - tp
    ious = [float(tp[c] / union[c]) if union[c] > 0 else None for c in range(len(tp))]
    valid = [v for v in ious if v is not None]
    miou = float(np.mean(valid)) if valid else 0.0
    acc = float(tp.sum() / max(cm.sum(), 1))
    return ious, miou, acc


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="training npz from build_dataset.py")
    p.add_argument("--extra-data", default=None, help="optional second training npz appended to --data")
    p.add_argument("--eval-data", default=None,
                   help="held-out npz (default: <data>_eval.npz next to --data if it exists)")
    p.add_argument("--out", required=True, help="checkpoint directory")
    p.add_argument("--minutes", type=float, default=22.0, help="training budget in minutes of --clock")
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                   help="what --minutes counts: wall-clock time or this process's CPU time (robust to other "
                        "work sharing the machine)")
    p.add_argument("--steps", type=int, default=0, help="optional cap on steps (toy runs); 0 = none")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--crop", type=int, default=64, help="crop size for the first part of the budget")
    p.add_argument("--full-frac", type=float, default=0.2,
                   help="final fraction of the budget trained on full-size images")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--widths", default=",".join(str(w) for w in DEFAULT_WIDTHS))
    p.add_argument("--n-classes", type=int, default=12)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--ckpt-minutes", type=float, default=2.0)
    p.add_argument("--eval-n", type=int, default=1000, help="held-out images used for eval.json")
    p.add_argument("--degraded-n", type=int, default=300,
                   help="held-out images also scored after blur / down-up sampling (0 = skip)")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--init", default=None,
                   help="start from this checkpoint's weights with a fresh optimizer and schedule "
                        "(fine-tuning after the renderer changed)")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(max(1, args.threads))
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    os.makedirs(args.out, exist_ok=True)
    widths = tuple(int(w) for w in args.widths.split(","))

    images, labels = load_npz(args.data, args.n_classes)
    if args.extra_data:
        # More examples of classes the main world shows rarely (v2's close-ups hide most mountains).
        ex_images, ex_labels = load_npz(args.extra_data, args.n_classes)
        if ex_images.shape[1:] != images.shape[1:]:
            raise DataError("%s: images %s do not match %s's %s" % (args.extra_data, ex_images.shape[1:], args.data,
                                                                    images.shape[1:]))
        images = np.concatenate([images, ex_images])
        labels = np.concatenate([labels, ex_labels])
    eval_path = args.eval_data
    if eval_path is None:
        cand = os.path.splitext(args.data)[0] + "_eval.npz"
        eval_path = cand if os.path.exists(cand) else None
    H = images.shape[1]
    torch.manual_seed(args.seed)  # before building the model: its initial weights are part of the run
    model = Segmenter(n_classes=args.n_classes, widths=widths).to(device)
    if H % model.multiple or images.shape[2] % model.multiple:
        raise DataError("image size %dx%d is not a multiple of %d" % (H, images.shape[2], model.multiple))
    crop = max(model.multiple, min(args.crop, H, images.shape[2]) // model.multiple * model.multiple)
    weights, freq = class_weights(labels, args.n_classes)
    weights = weights.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    rng = np.random.default_rng(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    step, elapsed_before = 0, 0.0
    ckpt_path = os.path.join(args.out, "latest.pt")
    if args.resume and os.path.exists(ckpt_path):
        ck = torch.load(ckpt_path, map_location=device)
        if ck.get("format") != CHECKPOINT_FORMAT or ck["config"]["widths"] != list(widths):
            raise SystemExit("cannot resume: %s has a different format or widths" % ckpt_path)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        step, elapsed_before = ck["step"], ck["elapsed"]
        rng.bit_generator.state = ck["rng"]
        gen.set_state(ck["torch_gen"])
        print("resumed at step %d, %.1f min elapsed" % (step, elapsed_before / 60), flush=True)

    elif args.init:
        ck = torch.load(args.init, map_location=device)
        if ck.get("format") != CHECKPOINT_FORMAT or ck["config"]["widths"] != list(widths):
            raise SystemExit("cannot init: %s has a different format or widths" % args.init)
        model.load_state_dict(ck["model"])
        print("initialised from %s (%d steps)" % (args.init, ck["step"]), flush=True)

    budget = args.minutes * 60.0
    names = class_names(args.n_classes)
    print("device %s, %d train images %dx%d, crop %d, class weights %s" %
          (device, len(images), H, images.shape[2], crop,
           ", ".join("%s %.2f" % (n, w) for n, w in zip(names, weights.tolist()))), flush=True)

    def checkpoint(elapsed):
        save_atomic({
            "format": CHECKPOINT_FORMAT, "config": model.config(), "model": model.state_dict(),
            "optimizer": opt.state_dict(), "step": step, "elapsed": elapsed,
            "rng": rng.bit_generator.state, "torch_gen": gen.get_state(),
            "class_names": names, "class_weights": weights.cpu().tolist(),
            "image_size": [H, images.shape[2]],
        }, ckpt_path)

    log = TrainLog(args.out, args.resume, args.minutes)
    clock = time.process_time if args.clock == "cpu" else time.time
    t0 = clock()
    last_ckpt = t0
    model.train()
    while True:
        elapsed = elapsed_before + clock() - t0
        if elapsed >= budget or (args.steps and step >= args.steps):
            break
        frac = elapsed / budget
        if args.steps:
            frac = max(frac, step / args.steps)
        full = frac >= 1.0 - args.full_frac
        c = H if full else crop
        bsz = max(2, args.batch // 2) if full and c > crop else args.batch
        lr = args.lr * min(1.0, (step + 1) / 50.0) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0))))
        for g in opt.param_groups:
            g["lr"] = lr
        idx = rng.integers(0, len(images), size=bsz)
        xb, yb = sample_batch(images, labels, idx, c, rng)
        x = augment(to_input(xb, device), gen)
        y = torch.from_numpy(yb.astype(np.int64)).to(device)
        loss = F.cross_entropy(model(x), y, weight=weights)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        log.step(step, elapsed, float(loss), lr, c)
        if time.time() - last_ckpt > args.ckpt_minutes * 60:
            checkpoint(elapsed_before + clock() - t0)
            last_ckpt = time.time()
    total = elapsed_before + clock() - t0
    checkpoint(total)
    log.close()
    print("trained %d steps in %.1f min" % (step, total / 60), flush=True)

    if eval_path is None:
        print("no held-out set given; skipping eval.json", flush=True)
        return
    ev_images, ev_labels = load_npz(eval_path, args.n_classes)
    n = min(args.eval_n, len(ev_images)) if args.eval_n > 0 else len(ev_images)
    te = time.time()
    cm = confusion(model, ev_images[:n], ev_labels[:n], args.n_classes, device)
    ious, miou, acc = iou_from_confusion(cm)
    nd = min(n, args.degraded_n)
    result = {
        "miou": miou,
        "pixel_accuracy": acc,
        "class_iou": {names[c]: ious[c] for c in range(args.n_classes)},
        "eval_images": int(n),
        "degraded_miou": degraded_miou(model, ev_images[:nd], ev_labels[:nd], args.n_classes, device)
        if nd > 0 else {},
        "degraded_images": int(nd),
        "eval_data": eval_path,
        "train_images": int(len(images)),
        "train_steps": int(step),
        "train_minutes": round(total / 60, 2),
        "eval_seconds": round(time.time() - te, 1),
        "train_class_freq": {names[c]: float(freq[c]) for c in range(args.n_classes)},
        "widths": list(widths),
        "device": str(device),
        "threads": args.threads,
    }
    tmp = os.path.join(args.out, "eval.json.tmp")
    with open(tmp, "w") as f:
        json.dump(result, f, indent=2)
    os.replace(tmp, os.path.join(args.out, "eval.json"))
    print("mIoU %.4f  pixel acc %.4f  degraded %s" % (
        miou, acc, ", ".join("%s %.4f" % kv for kv in result["degraded_miou"].items())))
    for c in range(args.n_classes):
        print("  %-9s %s" % (names[c], "n/a" if ious[c] is None else "%.4f" % ious[c]))


if __name__ == "__main__":
    main()
