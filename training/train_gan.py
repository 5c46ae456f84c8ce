"""Progressive-growing GAN training under a wall-clock budget.

Usage:
  train_gan.py --data training/data/scenes128.npz --out training/ckpt/gan --minutes 95 [--resume]

The schedule is expressed in fractions of the wall-clock budget rather than in steps, because
the machine (a shared 2-core CPU) has unpredictable throughput and the run must end on time.
Each stage grows the resolution (8 -> 16 -> … -> max_res); the first half of every stage after
the first fades the new layers in. Recipe: non-saturating loss, lazy R1 penalty on reals,
Adam(betas=(0, 0.99)), an EMA copy of G used for samples and export.
"""

import argparse
import contextlib
import csv
import json
import math
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gan  # noqa: E402
import zrule  # noqa: E402

DEFAULT_FRACTIONS = "0.10,0.15,0.20,0.25,0.30"
DEFAULT_BATCHES = "8:64,16:64,32:32,64:32,128:16"
CKPT_EVERY_S = 180
SAMPLE_EVERY_S = 240


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="npz with 'images' uint8 [N,H,W,3]")
    p.add_argument("--out", required=True, help="checkpoint/log folder")
    p.add_argument("--runs", default="training/runs/gan", help="folder for sample grids and loss curve PNGs")
    p.add_argument("--minutes", type=float, required=True, help="wall-clock budget of the whole run")
    p.add_argument("--max-res", type=int, default=128)
    p.add_argument("--widths", default=None, help="e.g. 4:256,8:256,16:128,32:64,64:32,128:16")
    p.add_argument("--fractions", default=DEFAULT_FRACTIONS,
                   help="budget share of each stage 8,16,…,max_res (normalised)")
    p.add_argument("--batch", default=DEFAULT_BATCHES, help="batch size per resolution, res:batch,…")
    p.add_argument("--lr", type=float, default=0.0015)
    p.add_argument("--r1-gamma", type=float, default=1.0)
    p.add_argument("--r1-every", type=int, default=4)
    # A short half-life: stages last only a few hundred steps here, and a longer average blends a
    # newly faded-in layer's trained weights with its random initialisation (measured: a 10 kimg
    # EMA still drew noise 500 steps into the 16 px stage while G itself drew scenes).
    p.add_argument("--ema-kimg", type=float, default=1.5, help="EMA half-life in thousands of images")
    p.add_argument("--reset-ema", action="store_true", help="on --resume, restart the EMA from G's weights")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (0 = budget only)")
    p.add_argument("--ckpt-every", type=float, default=CKPT_EVERY_S, help="seconds between checkpoints")
    p.add_argument("--sample-every", type=float, default=SAMPLE_EVERY_S, help="seconds between sample grids")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = os.cpu_count())")
    p.add_argument("--channels-last", type=int, default=1,
                   help="1: NHWC memory format (2.5-4x faster high-resolution, few-channel convs on CPU)")
    p.add_argument("--compact", default=None,
                   help="also write a compact checkpoint here at every checkpoint (fp16 weights, for git); "
                        "--resume starts from it when --out has no latest.pt")
    p.add_argument("--amp", type=int, default=0,
                   help="1: forward passes under bfloat16 autocast (about 1.6-1.9x faster steps on CPUs with "
                        "AMX or AVX-512 BF16); weights, losses and optimiser state stay float32")
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                   help="what --minutes and the stage schedule count: wall-clock time, or this process's CPU "
                        "time (robust to other work sharing the machine, and what a budget of CPU hours means)")
    p.add_argument("--chunk-minutes", type=float, default=0,
                   help="stop (with a checkpoint) after this many minutes of this process; --resume continues "
                        "the same --minutes schedule (0 = run to the end of the budget)")
    return p.parse_args(argv)


class Schedule:
    """Maps elapsed seconds to (resolution, fade alpha, batch size)."""

    def __init__(self, max_res, fractions, batches, total_s):
        self.res = []
        r = 8
        while r <= max_res:
            self.res.append(r)
            r *= 2
        fr = [float(f) for f in fractions.split(",")]
        if len(fr) != len(self.res):
            # Keep the relative weights of the last stages when fewer stages exist (toy runs).
            fr = fr[-len(self.res):] if len(fr) > len(self.res) else fr + [fr[-1]] * (len(self.res) - len(fr))
        s = sum(fr)
        self.bounds = []
        acc = 0.0
        for f in fr:
            start = acc
            acc += f / s * total_s
            self.bounds.append((start, acc))
        self.batches = {int(k): int(v) for k, v in (x.split(":") for x in batches.split(","))}
        for r in self.res:
            if r not in self.batches:
                raise ValueError(f"no batch size for resolution {r}")
        self.total_s = total_s

    def at(self, elapsed):
        for i, (a, b) in enumerate(self.bounds):
            if elapsed < b or i == len(self.bounds) - 1:
                r = self.res[i]
                if i == 0:
                    return i, r, 1.0, self.batches[r]
                fade = 0.5 * (b - a)
                alpha = min(1.0, max(0.0, (elapsed - a) / fade))
                return i, r, alpha, self.batches[r]


class Data:
    """All training images as a uint8 tensor [N,3,H,W]; batches are resized on the fly."""

    def __init__(self, path, max_res):
        with np.load(path) as f:
            imgs = f["images"]
        if imgs.ndim != 4 or imgs.shape[3] != 3 or imgs.dtype != np.uint8:
            raise ValueError(f"{path}: images must be uint8 [N,H,W,3], got {imgs.dtype} {imgs.shape}")
        if imgs.shape[1] != imgs.shape[2] or imgs.shape[1] % max_res:
            raise ValueError(f"{path}: image size {imgs.shape[1:3]} is not a multiple of {max_res}")
        self.x = torch.from_numpy(np.ascontiguousarray(imgs.transpose(0, 3, 1, 2)))
        self.size = imgs.shape[1]

    def batch(self, gen, n, res, alpha, device):
        idx = torch.randint(0, self.x.shape[0], (n,), generator=gen)
        x = self.x[idx].to(device).float() / 127.5 - 1.0
        flip = torch.rand(n, generator=gen) < 0.5
        x = torch.where(flip.to(device)[:, None, None, None], x.flip(3), x)
        if self.size != res:
            x = F.avg_pool2d(x, self.size // res)
        if alpha < 1.0:
            low = F.interpolate(F.avg_pool2d(x, 2), scale_factor=2.0, mode="nearest")
            x = torch.lerp(low, x, alpha)
        return x


def ema_update(ema, g, beta):
    with torch.no_grad():
        for pe, p in zip(ema.parameters(), g.parameters()):
            pe.lerp_(p, 1.0 - beta)
        for be, b in zip(ema.buffers(), g.buffers()):
            be.copy_(b)


def to_u8(img):
    """[B,3,H,W] in [-1,1] -> list of HxWx3 uint8, following the model-format byte rule."""
    x = ((img.detach().cpu().float() + 1.0) / 2.0 * 255.0).round().clamp(0, 255).to(torch.uint8)
    return [a.permute(1, 2, 0).numpy() for a in x]


def save_grid(imgs, path, cols, tile):
    rows = math.ceil(len(imgs) / cols)
    grid = Image.new("RGB", (cols * tile, rows * tile), (0, 0, 0))
    for i, a in enumerate(imgs):
        im = Image.fromarray(a)
        if im.size != (tile, tile):
            im = im.resize((tile, tile), Image.NEAREST)
        grid.paste(im, ((i % cols) * tile, (i // cols) * tile))
    tmp = path + ".tmp.png"
    grid.save(tmp, optimize=True)
    os.replace(tmp, path)


def save_loss_curve(log_path, png_path):
    """Plot D and G loss (smoothed) against elapsed minutes with PIL (matplotlib is not installed)."""
    rows = []
    with open(log_path) as f:
        for r in csv.DictReader(f):
            rows.append((float(r["elapsed_s"]) / 60, float(r["d_loss"]), float(r["g_loss"]), int(r["res"])))
    if len(rows) < 2:
        return
    W, H, pad = 640, 320, 40
    img = Image.new("RGB", (W, H), "white")
    dr = ImageDraw.Draw(img)
    t = [r[0] for r in rows]

    def smooth(v, k=25):
        out, acc = [], []
        for x in v:
            acc.append(x)
            if len(acc) > k:
                acc.pop(0)
            out.append(sum(acc) / len(acc))
        return out

    series = [(smooth([r[1] for r in rows]), (200, 40, 40), "D loss"),
              (smooth([r[2] for r in rows]), (40, 40, 200), "G loss")]
    lo = min(min(s) for s, _, _ in series)
    hi = max(max(s) for s, _, _ in series)
    hi = hi if hi > lo else lo + 1
    t0, t1 = t[0], max(t[-1], t[0] + 1e-6)

    def xy(ti, v):
        return pad + (ti - t0) / (t1 - t0) * (W - 2 * pad), H - pad - (v - lo) / (hi - lo) * (H - 2 * pad)

    dr.rectangle([pad, pad, W - pad, H - pad], outline=(0, 0, 0))
    prev_res = rows[0][3]
    for ti, _, _, res in rows:
        if res != prev_res:
            x, _ = xy(ti, lo)
            dr.line([x, pad, x, H - pad], fill=(180, 180, 180))
            dr.text((x + 2, pad + 2), f"{res}px", fill=(100, 100, 100))
            prev_res = res
    for s, col, name in series:
        dr.line([xy(ti, v) for ti, v in zip(t, s)], fill=col, width=1)
    dr.text((pad, 8), f"D loss (red), G loss (blue); y {lo:.2f}..{hi:.2f}; x minutes 0..{t1:.0f}", fill=(0, 0, 0))
    img.save(png_path, optimize=True)


def train_step(G, D, optG, optD, real, z, res, alpha, r1_gamma, r1_every, channels_last=False, amp=False):
    """One discriminator and one generator update; r1_gamma 0 skips the (lazy) R1 penalty.

    amp runs the networks' forward passes under bfloat16 autocast (convolutions on the CPU's AMX/
    AVX-512 BF16 units through oneDNN); weights, losses and optimiser state stay float32.

    The D step's fakes, kept with their graph, serve the G step: that saves one generator forward
    pass per step, a fifth of the step's cost on this CPU. Returns detached scalars
    (d_loss, g_loss, mean D(real), mean D(fake), r1).
    """
    if channels_last:
        real = real.contiguous(memory_format=torch.channels_last)
    cast = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if amp else contextlib.nullcontext
    with cast():
        fake = G(z, res, alpha)
    do_r1 = r1_gamma > 0
    if do_r1:
        real.requires_grad_(True)
    with cast():
        d_real = D(real, res, alpha, track_std=True).float()
        d_fake = D(fake.detach(), res, alpha).float()
    d_loss = F.softplus(d_fake).mean() + F.softplus(-d_real).mean()
    loss = d_loss
    r1_val = 0.0
    if do_r1:
        (grad,) = torch.autograd.grad(d_real.sum(), real, create_graph=True)
        r1 = grad.pow(2).sum(dim=(1, 2, 3)).mean()
        loss = loss + 0.5 * r1_gamma * r1_every * r1
        r1_val = r1.item()
    optD.zero_grad(set_to_none=True)
    loss.backward()
    optD.step()

    # D already updated; only G's parameters are stepped below.
    with cast():
        g_fake = D(fake, res, alpha).float()
    g_loss = F.softplus(-g_fake).mean()
    optG.zero_grad(set_to_none=True)
    g_loss.backward()
    optG.step()
    return d_loss.item(), g_loss.item(), d_real.mean().item(), d_fake.mean().item(), r1_val


COMPACT_FORMAT = "ganpaint-progan-compact-v1"


def _adam_restore(compact):
    state = {k: {"step": v["step"], "exp_avg": torch.zeros_like(v["exp_avg_sq"], dtype=torch.float32),
                 "exp_avg_sq": v["exp_avg_sq"].float()} for k, v in compact["state"].items()}
    return {"param_groups": compact["param_groups"], "state": state}


def _half(sd):
    return {k: (v.half() if v.is_floating_point() else v) for k, v in sd.items()}


def _full(sd):
    return {k: (v.float() if v.is_floating_point() else v) for k, v in sd.items()}


def compact_checkpoint(ck):
    """A full training checkpoint shrunk for committing to git (one path, overwritten each time):
    G, D and the EMA generator in float16, Adam second moments in bfloat16 (see _adam_compact),
    the rest as is. For the v1-sized GAN this is about 20 MB against 47 MB."""
    out = {k: v for k, v in ck.items() if k not in ("G", "D", "G_ema", "optG", "optD")}
    out["format"] = COMPACT_FORMAT
    out["G"], out["D"], out["G_ema"] = _half(ck["G"]), _half(ck["D"]), _half(ck["G_ema"])
    out["optG"], out["optD"] = _adam_compact(ck["optG"]), _adam_compact(ck["optD"])
    return out


def _adam_compact(sd):
    """Adam state in a fraction of its size: the second moments in bfloat16 (fp16 would flush the
    tiny ones to zero) and the step counts. First moments are not kept: with beta1 = 0, as this
    recipe uses, the first moment is just the last gradient and the next step overwrites it."""
    if any(g["betas"][0] != 0.0 for g in sd["param_groups"]):
        raise ValueError("compact checkpoints need Adam with beta1 = 0")
    return {"param_groups": sd["param_groups"],
            "state": {k: {"step": v["step"], "exp_avg_sq": v["exp_avg_sq"].to(torch.bfloat16)}
                      for k, v in sd["state"].items()}}


def expand_checkpoint(ck):
    """The inverse of compact_checkpoint, up to the precision it dropped: a checkpoint train_gan
    resumes from."""
    if ck.get("format") != COMPACT_FORMAT:
        raise ValueError(f"not a {COMPACT_FORMAT} checkpoint")
    out = dict(ck)
    out["format"] = gan.CHECKPOINT_FORMAT
    out["G"], out["D"], out["G_ema"] = _full(ck["G"]), _full(ck["D"]), _full(ck["G_ema"])
    out["optG"], out["optD"] = _adam_restore(ck["optG"]), _adam_restore(ck["optD"])
    return out


def rng_state():
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads or os.cpu_count())
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    os.makedirs(args.out, exist_ok=True)
    os.makedirs(args.runs, exist_ok=True)
    ckpt_path = os.path.join(args.out, "latest.pt")
    done_path = os.path.join(args.out, "done.json")
    if os.path.exists(done_path):
        # A resumed run is not done until it reaches its end again.
        os.remove(done_path)
    log_path = os.path.join(args.out, "log.csv")

    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    random.seed(args.seed)
    widths = gan.parse_widths(args.widths) if args.widths else dict(gan.DEFAULT_WIDTHS)
    cfg = gan.GANConfig(max_res=args.max_res, widths=widths)
    G = gan.Generator(cfg).to(device)
    D = gan.Discriminator(cfg).to(device)
    G_ema = gan.Generator(cfg).to(device)
    G_ema.load_state_dict(G.state_dict())
    G_ema.requires_grad_(False)
    cl = bool(args.channels_last)
    if cl:
        for m in (G, D, G_ema):
            m.to(memory_format=torch.channels_last)
    optG = torch.optim.Adam(G.parameters(), lr=args.lr, betas=(0.0, 0.99), eps=1e-8)
    # Lazy R1: scale D's betas/lr so the penalty's effective strength matches per-step R1 (StyleGAN2).
    c = args.r1_every / (args.r1_every + 1)
    optD = torch.optim.Adam(D.parameters(), lr=args.lr * c, betas=(0.0, 0.99 ** c), eps=1e-8)
    data_gen = torch.Generator().manual_seed(args.seed + 1)

    step, elapsed, stage_seen = 0, 0.0, -1
    resume_from = None
    if args.resume and os.path.exists(ckpt_path):
        resume_from = ckpt_path
    elif args.resume and args.compact and os.path.exists(args.compact):
        resume_from = args.compact
    if resume_from:
        ck = torch.load(resume_from, map_location=device)
        if ck.get("format") == COMPACT_FORMAT:
            ck = expand_checkpoint(ck)
        if ck.get("format") != gan.CHECKPOINT_FORMAT:
            raise SystemExit(f"{resume_from}: not a {gan.CHECKPOINT_FORMAT} checkpoint")
        if ck.get("clock", "wall") != args.clock:
            raise SystemExit(f"{resume_from}: its schedule counts {ck.get('clock', 'wall')} time, not --clock {args.clock}")
        if ck["config"] != cfg.to_dict():
            raise SystemExit(f"{ckpt_path}: architecture {ck['config']} differs from the requested {cfg.to_dict()}")
        G.load_state_dict(ck["G"])
        D.load_state_dict(ck["D"])
        G_ema.load_state_dict(ck["G_ema"])
        optG.load_state_dict(ck["optG"])
        optD.load_state_dict(ck["optD"])
        step, elapsed, stage_seen = ck["step"], ck["elapsed_s"], ck["stage"]
        torch.set_rng_state(ck["rng"]["torch"])
        np.random.set_state(ck["rng"]["numpy"])
        random.setstate(ck["rng"]["python"])
        data_gen.set_state(ck["data_rng"])
        if args.reset_ema:
            G_ema.load_state_dict(G.state_dict())
        print(f"resumed from {resume_from} at step {step}, {elapsed / 60:.1f} min elapsed", flush=True)
    elif args.resume:
        print(f"--resume: no checkpoint at {ckpt_path}, starting fresh", flush=True)

    data = Data(args.data, cfg.max_res)
    print(f"data: {data.x.shape[0]} images {data.size}px; device {device}; threads {torch.get_num_threads()}",
          flush=True)
    sched = Schedule(cfg.max_res, args.fractions, args.batch, args.minutes * 60.0)
    sample_z = torch.from_numpy(np.stack([zrule.z_for_id(i, cfg.z_size, 0) for i in range(16)])).to(device)

    new_log = not (args.resume and os.path.exists(log_path))
    if not new_log:
        # Rows written after the checkpoint describe steps that will be redone: drop them.
        with open(log_path) as f:
            rows = list(csv.reader(f))
        with open(log_path + ".tmp", "w", newline="") as f:
            csv.writer(f).writerows([r for r in rows[:1]] + [r for r in rows[1:] if r and int(r[0]) <= step])
        os.replace(log_path + ".tmp", log_path)
    logf = open(log_path, "w" if new_log else "a", newline="")
    log = csv.writer(logf)
    if new_log:
        log.writerow(["step", "elapsed_s", "res", "alpha", "batch", "d_loss", "g_loss", "r1", "sec_per_step",
                      "d_real", "d_fake"])

    def checkpoint(stage):
        ck = {"format": gan.CHECKPOINT_FORMAT, "config": cfg.to_dict(), "G": G.state_dict(), "D": D.state_dict(),
              "G_ema": G_ema.state_dict(), "optG": optG.state_dict(), "optD": optD.state_dict(), "step": step,
              "elapsed_s": elapsed, "stage": stage, "rng": rng_state(), "data_rng": data_gen.get_state(),
              "args": vars(args), "clock": args.clock}
        tmp = ckpt_path + ".tmp"
        torch.save(ck, tmp)
        os.replace(tmp, ckpt_path)
        if args.compact:
            os.makedirs(os.path.dirname(os.path.abspath(args.compact)), exist_ok=True)
            tmp = args.compact + ".tmp"
            torch.save(compact_checkpoint(ck), tmp)
            os.replace(tmp, args.compact)

    def samples(res, name, alpha=1.0):
        with torch.no_grad():
            imgs = to_u8(G_ema(sample_z, res=res, alpha=alpha))
        save_grid(imgs, os.path.join(args.runs, name), cols=4, tile=cfg.max_res)

    clock = time.process_time if args.clock == "cpu" else time.time
    t_start = clock() - elapsed
    t_proc = time.time()
    chunk_end = False
    last_ckpt = last_sample = time.time()
    r1_val = 0.0
    stage, res = stage_seen, None
    while True:
        elapsed = clock() - t_start
        if elapsed >= sched.total_s or (args.max_steps and step >= args.max_steps):
            break
        if args.chunk_minutes and time.time() - t_proc >= args.chunk_minutes * 60:
            print(f"chunk of {args.chunk_minutes} min done at step {step}; continue with --resume", flush=True)
            chunk_end = True
            break
        t0 = time.time()
        st, res, alpha, bs = sched.at(elapsed)
        if st != stage:
            if stage >= 0:
                samples(sched.res[stage], f"stage_{sched.res[stage]}px.png")
            stage = st
            print(f"[{elapsed / 60:.1f} min] step {step}: stage {res}px, batch {bs}", flush=True)

        real = data.batch(data_gen, bs, res, alpha, device)
        z = torch.randn(bs, cfg.z_size, device=device)
        do_r1 = args.r1_gamma > 0 and step % args.r1_every == 0
        d_loss, g_loss, d_real, d_fake, r1 = train_step(G, D, optG, optD, real, z, res, alpha,
                                                        args.r1_gamma if do_r1 else 0.0, args.r1_every,
                                                        channels_last=cl, amp=bool(args.amp))
        if do_r1:
            r1_val = r1

        beta = 0.5 ** (bs / (args.ema_kimg * 1000.0))
        ema_update(G_ema, G, beta)
        step += 1
        dt = time.time() - t0
        if not (math.isfinite(d_loss) and math.isfinite(g_loss)):
            raise SystemExit(f"step {step}: loss is not finite (d {d_loss}, g {g_loss})")
        log.writerow([step, f"{clock() - t_start:.1f}", res, f"{alpha:.3f}", bs, f"{d_loss:.4f}",
                      f"{g_loss:.4f}", f"{r1_val:.4f}", f"{dt:.3f}", f"{d_real:.3f}", f"{d_fake:.3f}"])
        if step % 50 == 0:
            logf.flush()
            print(f"[{elapsed / 60:.1f} min] step {step} res {res} a {alpha:.2f} d {d_loss:.3f} "
                  f"g {g_loss:.3f} r1 {r1_val:.3f} {dt:.3f}s/step", flush=True)
        now = time.time()
        if now - last_sample >= args.sample_every:
            samples(res, "latest.png", alpha)
            last_sample = now
        if now - last_ckpt >= args.ckpt_every:
            elapsed = clock() - t_start
            checkpoint(stage)
            last_ckpt = now

    elapsed = clock() - t_start
    logf.flush()
    logf.close()
    checkpoint(stage)
    if res is not None:
        samples(res, "latest.png")
        samples(res, f"stage_{res}px.png")
    save_loss_curve(log_path, os.path.join(args.runs, "loss.png"))
    print(f"done: {step} steps in {elapsed / 60:.1f} min; checkpoint {ckpt_path}", flush=True)
    if not chunk_end:
        with open(done_path, "w") as f:
            json.dump({"step": step, "elapsed_s": elapsed, "final_res": res}, f)


if __name__ == "__main__":
    main()
