"""Learn concept recipes: brushes that make the model's own segmenter see the concept.

  recipes.py --model DIR [--layer layer4] [--concepts sky,tree,...] [--kinds dense,ace,erase]
             [--small-layer layer6 --small door,window,dome] [--images 480] [--steps 150] [--batch 8]
             [--shard i/n | --jobs n]

A recipe is an edit of the paint layer's activations inside the brushed cells,
x' = x + m·s·w_u·(v_u − x) per unit u (m the brush mask, s the strength, docs/engine.md), with
learned weights w in [0, 1] and values v. Kinds (each per concept):

  dense  every unit, w = 1: a learned insertion vector. Starts from the presence-weighted mean
         feature of the concept's cells (the issue's probe) and is optimised.
  ace    sparse weights in [0, 1] and per-unit values, in the style of the reference's `*-ace`
         rankings: starts from the concept's top 80 IoU units, an L1 penalty shrinks the weights,
         and for the last third of the steps only the 40 largest stay.
  erase  sparse weights and values that make the concept disappear under the mask and keep the
         other pixels as they were; starts from switching off the top 20 IoU units.
  <kind>-<layer> (e.g. dense-layer6) the dense kind at another layer, for small concepts
         (--small-layer, --small).

Training minimises, through the generator blocks after the layer and through the segmenter
(both run from the model's ONNX files, onnx_torch.py), the segmenter's cross-entropy of the
concept inside random plausible 2×2-cell regions (the benchmark's rules, plausible.py) plus the
squared change of the image beyond a ring around the region, on crops of the region with 32 px
of context (the tail and the segmenter are fully convolutional); erasing minimises the concept's
probability where it was, under region and whole-image masks, plus the change of the other
pixels. Images: ids from [0.1, 0.2)·max_id without the dissection's, disjoint from the
benchmark's calibration and evaluation ranges (docs/efficacy.md).

Recipes are stored in DIR/dissection/<layer>.json under "recipes" (schema version 2,
docs/dissection-format.md) as "<concept>-<kind>"; other recipes in the file are kept. Then run
`ganpaint efficacy --model DIR --calibrate` to measure them and let the painter pick.
torch runs on one thread (the machine is shared).

Two cores: `--jobs 2` starts two processes over disjoint concept sets (`--shard 0/2`, `--shard 1/2`,
balanced by the number of recipes each concept gets), each with one torch thread. Every concept
draws its training regions from its own random stream (seeded by --seed and the concept's class
index), so a concept's recipes do not depend on which other concepts a process trains: sharded and
single-process runs write the same recipes. The shards merge into the layer files under a lock.
"""

import argparse
import fcntl
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
import onnx_torch  # noqa: E402
import plausible  # noqa: E402

TRAIN_RANGE = (0.1, 0.2)
MASK64 = (1 << 64) - 1
SIDE = 4  # regions: a SIDE×SIDE tiling of the image, as the benchmark
ELIGIBLE_BELOW = 0.5
PRESENT_FROM = 0.5
MIN_IMAGE_SHARE = 0.01
SUCCESS_SHARE, SUCCESS_RISE = 0.5, 0.25
KEEP_WEIGHT = 10.0  # squared image change beyond the ring (per pixel, RGB summed)
L1_WEIGHT = {"ace": 0.006, "erase": 0.05}
ACE_UNITS = 40  # an ace recipe keeps this many units (the last third of its training)
PRUNE_BELOW = 0.02  # sparse weights below this are dropped from the stored recipe
SPARSE_START = 20  # sparse recipes start from the concept's top IoU-ranked units
CROP_MARGIN = 32  # px of context kept around a training region (two cells of an 8×8 layer at 128 px)


class RecipeError(Exception):
    pass


def sample_ids(seed, n, max_id):
    """The dissection's image ids: the Go dissection.SampleIDs stream."""
    state, seen, out = seed & MASK64, set(), []
    if n > max_id:
        raise RecipeError(f"cannot draw {n} ids below {max_id}")
    while len(out) < n:
        state = (state + 0x9E3779B97F4A7C15) & MASK64
        x = state
        x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK64
        x ^= x >> 31
        i = x % max_id
        if i not in seen:
            seen.add(i)
            out.append(i)
    return out


def ceil_frac(max_id, f):
    """⌈f·max_id⌉ computed as the Go side does."""
    v = int(f * float(max_id))
    if float(v) < f * float(max_id):
        v += 1
    return min(v, max_id)


def held_out_ids(max_id, lo, hi, n, exclude):
    skip = set(exclude)
    out = []
    for i in range(ceil_frac(max_id, lo), ceil_frac(max_id, hi)):
        if len(out) == n:
            break
        if i not in skip:
            out.append(i)
    if len(out) < n:
        raise RecipeError(f"only {len(out)} usable ids in the training range, {n} wanted")
    return out


def load_dissection(model_dir):
    path = os.path.join(model_dir, "dissection", "index.json")
    try:
        with open(path) as f:
            index = json.load(f)
    except OSError as e:
        raise RecipeError(f"{path}: {e} (run `ganpaint dissect` first)") from e
    layers = {}
    for name, file in index["layers"].items():
        with open(os.path.join(model_dir, "dissection", file)) as f:
            layers[name] = json.load(f)
    return index, layers


def dissection_ids(layers, max_id):
    ids = set()
    for l in layers.values():
        if l.get("samples", 0) > 0:
            ids.update(sample_ids(int(l["seed"]), int(l["samples"]), max_id))
        if l.get("causal"):
            ids.update(int(i) for i in l["causal"].get("ids", []))
    return ids


class Data:
    """The training images: activations at the layers used, images and labels."""

    def __init__(self, model, ids, layers, batch=16, log=print):
        self.ids = ids
        feats = {l: [] for l in layers}
        imgs, labels = [], []
        t = time.time()
        with torch.no_grad():
            for s in range(0, len(ids), batch):
                z = model.z(ids[s:s + batch])
                img, f = model.head_all(z, layers)
                for l in layers:
                    feats[l].append(f[l])
                imgs.append(img)
                labels.append(model.segment(img).to(torch.uint8))
        self.feats = {l: torch.cat(v) for l, v in feats.items()}
        self.imgs = torch.cat(imgs)
        self.labels = torch.cat(labels)
        self.H, self.W = self.labels.shape[1:]
        log(f"recipes: {len(ids)} training images in {time.time() - t:.0f} s")


class Pools:
    """Per concept: plausible eligible regions, present regions, images showing it."""

    def __init__(self, data, classes, concept):
        self.concept = concept
        c = classes.index(concept)
        cls = {n: i for i, n in enumerate(classes)}
        rects = plausible.tiling(data.W, data.H, SIDE)
        self.insert, self.present, self.images = [], [], []
        for i in range(len(data.ids)):
            seg = data.labels[i].numpy()
            for r in rects:
                before = plausible.share(seg, r, c)
                if before >= PRESENT_FROM:
                    self.present.append((i, r))
                if before < ELIGIBLE_BELOW and plausible.plausible(concept, plausible.Context(seg, r, len(classes)), cls):
                    self.insert.append((i, r))
            if (seg == c).mean() >= MIN_IMAGE_SHARE:
                self.images.append(i)


def cell_mask(rects, shape, img_hw):
    """[B, h, w] float mask of the layer cells each pixel rectangle touches (max pooling)."""
    h, w = shape
    H, W = img_hw
    m = torch.zeros(len(rects), h, w)
    for k, (x0, y0, x1, y1) in enumerate(rects):
        if x1 <= x0 or y1 <= y0:
            continue
        m[k, y0 * h // H:(y1 - 1) * h // H + 1, x0 * w // W:(x1 - 1) * w // W + 1] = 1
    return m


def pixel_mask(rects, img_hw, grow=0):
    H, W = img_hw
    m = torch.zeros(len(rects), H, W, dtype=torch.bool)
    for k, (x0, y0, x1, y1) in enumerate(rects):
        m[k, max(y0 - grow, 0):min(y1 + grow, H), max(x0 - grow, 0):min(x1 + grow, W)] = True
    return m


def apply_recipe(x, mask, w, v, s=1.0):
    """x' = x + m·min(s·w, 1)·(v − x), x [B, C, h, w], mask [B, h, w], w and v [C]."""
    a = torch.clamp(s * w, 0, 1).view(1, -1, 1, 1) * mask.unsqueeze(1)
    return x + a * (v.view(1, -1, 1, 1) - x)


class Trainer:
    def __init__(self, model, data, classes, rankings=None, log=print, seed=0):
        """rankings: {layer: {concept: units by IoU}} from the dissection; sparse recipes start
        from the concept's top-ranked units."""
        self.m, self.d, self.classes, self.log = model, data, classes, log
        self.rankings = rankings or {}
        self.rng = np.random.default_rng(seed)

    def start_weights(self, layer, concept, top, on, off):
        """Weights `on` for the concept's `top` IoU-ranked units at layer, `off` for the rest."""
        C = self.d.feats[layer].shape[1]
        a = torch.full((C,), off)
        for u in self.rankings.get(layer, {}).get(concept, [])[:top]:
            a[u] = on
        return a

    def mean_vector(self, layer, concept):
        """Presence-weighted mean feature of the concept's cells (the starting point)."""
        c = self.classes.index(concept)
        f = self.d.feats[layer]
        h, w = f.shape[2:]
        pres = F.adaptive_avg_pool2d((self.d.labels == c).float().unsqueeze(1), (h, w)).squeeze(1)
        wsum = pres.sum()
        if wsum <= 0:
            raise RecipeError(f"{concept} never appears in the training images")
        return (f * pres.unsqueeze(1)).sum(dim=(0, 2, 3)) / wsum

    def _crop(self, layer, batch):
        """Cut the layer's activations, the images and the labels around each region: the
        region plus CROP_MARGIN px on every side (shifted inside the image), so the generator
        tail and the segmenter run on a quarter of the pixels. Returns the crops, the regions in
        crop coordinates and a mask of the pixels far enough from a cut (not image) border for
        the tail to be exact there."""
        f = self.d.feats[layer]
        h, w = f.shape[2:]
        H, W = self.d.H, self.d.W
        cs = H // h
        m = CROP_MARGIN // cs
        xs, ys, ls, rel, valid = [], [], [], [], []
        for i, (x0, y0, x1, y1) in batch:
            r0, r1, c0, c1 = y0 // cs, -(-y1 // cs), x0 // cs, -(-x1 // cs)
            sh, sw = min(r1 - r0 + 2 * m, h), min(c1 - c0 + 2 * m, w)
            a = min(max(r0 - m, 0), h - sh)
            b = min(max(c0 - m, 0), w - sw)
            xs.append(f[i, :, a:a + sh, b:b + sw])
            py, px = a * cs, b * cs
            ys.append(self.d.imgs[i, :, py:py + sh * cs, px:px + sw * cs])
            ls.append(self.d.labels[i, py:py + sh * cs, px:px + sw * cs])
            rel.append((x0 - px, y0 - py, x1 - px, y1 - py))
            ok = torch.ones(sh * cs, sw * cs, dtype=torch.bool)
            if a > 0:
                ok[:cs] = False
            if a + sh < h:
                ok[-cs:] = False
            if b > 0:
                ok[:, :cs] = False
            if b + sw < w:
                ok[:, -cs:] = False
            valid.append(ok)
        shapes = {tuple(x.shape) for x in xs}
        if len(shapes) != 1:
            raise RecipeError(f"regions of different sizes in one batch: {shapes}")
        return torch.stack(xs), torch.stack(ys), torch.stack(ls), rel, torch.stack(valid)

    def _insert_loss(self, layer, c, w, v, batch):
        x, y0, _, rects, valid = self._crop(layer, batch)
        hw = tuple(y0.shape[2:])
        cm = cell_mask(rects, x.shape[2:], hw)
        y = self.m.tail(apply_recipe(x, cm, w, v), layer)
        logp = F.log_softmax(self.m.segment_logits(y), dim=1)[:, c]
        inside = pixel_mask(rects, hw)
        ring = (rects[0][2] - rects[0][0]) // 2
        far = ~pixel_mask(rects, hw, grow=ring) & valid
        l_in = -(logp * inside).sum() / inside.sum()
        diff = ((y - y0) ** 2).sum(dim=1)
        l_keep = (diff * far).sum() / far.sum().clamp(min=1)
        return l_in, l_keep

    def _erase_loss(self, layer, c, w, v, batch, crop):
        if crop:
            x, y0, lab, rects, valid = self._crop(layer, batch)
        else:
            idx = [i for i, _ in batch]
            x, y0, lab = self.d.feats[layer][idx], self.d.imgs[idx], self.d.labels[idx]
            rects = [r for _, r in batch]
            valid = torch.ones(lab.shape, dtype=torch.bool)
        hw = tuple(y0.shape[2:])
        cm = cell_mask(rects, x.shape[2:], hw)
        y = self.m.tail(apply_recipe(x, cm, w, v), layer)
        p = F.softmax(self.m.segment_logits(y), dim=1)[:, c]
        was = (lab == c) & pixel_mask(rects, hw)
        l_rm = -(torch.log1p(-p.clamp(max=1 - 1e-6)) * was).sum() / was.sum().clamp(min=1)
        keep = (lab != c) & valid
        diff = ((y - y0) ** 2).sum(dim=1)
        l_keep = (diff * keep).sum() / keep.sum().clamp(min=1)
        return l_rm, l_keep, was.sum()

    def reseed(self, seed, concept):
        """Gives the concept its own stream of training draws: its recipes are then the same
        whichever concepts were trained before it in this process (--shard)."""
        self.rng = np.random.default_rng([seed, self.classes.index(concept)])

    def _draw(self, pool, n):
        k = self.rng.integers(0, len(pool), size=n)
        return [pool[i] for i in k]

    @torch.no_grad()
    def success(self, layer, concept, w, v, regions, batch=16):
        """Share of regions where the concept covers ≥ half after the stroke and rose ≥ 0.25."""
        c = self.classes.index(concept)
        hw = (self.d.H, self.d.W)
        ok = 0
        for s in range(0, len(regions), batch):
            part = regions[s:s + batch]
            idx = [i for i, _ in part]
            rects = [r for _, r in part]
            x = self.d.feats[layer][idx]
            y = self.m.tail(apply_recipe(x, cell_mask(rects, x.shape[2:], hw), w, v), layer)
            lab = self.m.segment(y).numpy()
            for k, (i, r) in enumerate(part):
                before = plausible.share(self.d.labels[i].numpy(), r, c)
                after = plausible.share(lab[k], r, c)
                ok += after >= SUCCESS_SHARE and after - before >= SUCCESS_RISE
        return ok / max(len(regions), 1)

    def train_insert(self, layer, concept, kind, pools, steps, batch, val):
        c = self.classes.index(concept)
        C = self.d.feats[layer].shape[1]
        v0 = self.mean_vector(layer, concept)
        v = v0.clone().requires_grad_(True)
        sparse = kind == "ace"
        a = (self.start_weights(layer, concept, 2 * ACE_UNITS, 1.0, 0.1) if sparse else torch.ones(C)).requires_grad_(sparse)
        params = [{"params": [v], "lr": 0.05}]
        if sparse:
            params.append({"params": [a], "lr": 0.05})
        opt = torch.optim.Adam(params)
        keep = torch.ones(C)
        t0 = time.time()
        start = self.success(layer, concept, torch.ones(C), v0, val)
        for step in range(steps):
            for g in opt.param_groups:
                g["lr"] = g.setdefault("lr0", g["lr"]) * 0.5 * (1 + math.cos(math.pi * step / steps))
            l_in, l_keep = self._insert_loss(layer, c, a, v, self._draw(pools.insert, batch))
            loss = l_in + KEEP_WEIGHT * l_keep
            if sparse:
                loss = loss + L1_WEIGHT["ace"] * a.abs().sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                if sparse and step == (2 * steps) // 3:
                    # Hard sparsity for the last third: the ACE_UNITS largest
                    # weights stay, the others are switched off and frozen.
                    keep = torch.zeros(C)
                    keep[torch.topk(a, min(ACE_UNITS, C)).indices] = 1
                a.mul_(keep).clamp_(0, 1)
            if step % 25 == 0 or step == steps - 1:
                self.log(f"  {concept}-{kind} step {step}: in {l_in.item():.3f} keep {l_keep.item():.4f}"
                         + (f" units {(a > PRUNE_BELOW).sum().item()}" if sparse else ""))
        w = a.detach().clone()
        if sparse:
            w[w < PRUNE_BELOW] = 0
        end = self.success(layer, concept, w, v.detach(), val)
        self.log(f"  {concept}-{kind}: validation success {100 * start:.0f}% (mean vector) -> {100 * end:.0f}%, "
                 f"{time.time() - t0:.0f} s")
        return w, v.detach(), {"steps": steps, "batch": batch, "val_success_start": round(start, 4),
                                "val_success": round(end, 4), "seconds": round(time.time() - t0, 1)}

    def train_erase(self, layer, concept, pools, steps, batch):
        c = self.classes.index(concept)
        C = self.d.feats[layer].shape[1]
        # Start from the IoU ranking's erasing brush: its top units switched off.
        a = self.start_weights(layer, concept, SPARSE_START, 1.0, 0.0).requires_grad_(True)
        v = torch.zeros(C, requires_grad=True)
        opt = torch.optim.Adam([{"params": [v], "lr": 0.05}, {"params": [a], "lr": 0.02}])
        full = (0, 0, self.d.W, self.d.H)
        t0 = time.time()
        for step in range(steps):
            for g in opt.param_groups:
                g["lr"] = g.setdefault("lr0", g["lr"]) * 0.5 * (1 + math.cos(math.pi * step / steps))
            # Half the batch erases regions (on crops), half whole images.
            half = batch // 2 if pools.present else 0
            loss = L1_WEIGHT["erase"] * a.abs().sum()
            l_rm = torch.zeros(())
            if half:
                r_rm, r_keep, _ = self._erase_loss(layer, c, a, v, self._draw(pools.present, half), crop=True)
                loss = loss + r_rm * half / batch + KEEP_WEIGHT * r_keep * half / batch
                l_rm = l_rm + r_rm * half / batch
            items = [(i, full) for i in self._draw(pools.images, batch - half)]
            i_rm, l_keep, _ = self._erase_loss(layer, c, a, v, items, crop=False)
            loss = loss + (i_rm + KEEP_WEIGHT * l_keep) * (batch - half) / batch
            l_rm = l_rm + i_rm * (batch - half) / batch
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                a.clamp_(0, 1)
            if step % 25 == 0 or step == steps - 1:
                self.log(f"  {concept}-erase step {step}: rm {l_rm.item():.3f} keep {l_keep.item():.4f} "
                         f"units {(a > PRUNE_BELOW).sum().item()}")
        w = a.detach().clone()
        w[w < PRUNE_BELOW] = 0
        return w, v.detach(), {"steps": steps, "batch": batch, "seconds": round(time.time() - t0, 1)}


def to_recipe(concept, kind, remove, w, v, training):
    order = sorted((u for u in range(len(w)) if w[u] > 0), key=lambda u: (-float(w[u]), u))
    if not order:
        return None
    return {"concept": concept, "kind": kind, "remove": remove, "units": order,
            "weights": [round(float(w[u]), 6) for u in order], "values": [round(float(v[u]), 6) for u in order],
            "training": training}


def write_json_atomic(path, obj):
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=d, prefix="." + os.path.basename(path), suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def save_recipes(model_dir, index, layers, recipes):
    """recipes: {layer: {name: recipe}}; merged into the layer files (schema version 2). Each file
    is read again under a lock right before it is rewritten, so a dissection or another trainer
    that wrote it since this run started keeps its work."""
    d = os.path.join(model_dir, "dissection")
    # The lock is on the directory itself, so no lock file lands in the model.
    lock = os.open(d, os.O_RDONLY)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for layer, named in recipes.items():
            path = os.path.join(d, index["layers"][layer])
            with open(path) as f:
                l = json.load(f)
            merged = dict(l.get("recipes") or {})
            merged.update(named)
            l["recipes"] = merged
            l["schema_version"] = 2
            write_json_atomic(path, l)
            layers[layer] = l
        with open(os.path.join(d, "index.json")) as f:
            current = json.load(f)
        current["schema_version"] = 2
        write_json_atomic(os.path.join(d, "index.json"), current)
    finally:
        os.close(lock)


@torch.no_grad()
def write_check(path, model, layer, recipe_w, recipe_v):
    """Torch reference for the Go test: two images, a recipe in the rectangle from a quarter to
    a half of the width and from a quarter to three quarters of the height."""
    ids = [0, 1]
    z = model.z(ids)
    feats = model.head(z, layer)
    h, w = feats.shape[2:]
    H = model.manifest["image"]["height"]
    W = model.manifest["image"]["width"]
    rect = (W // 4, H // 4, W // 2, 3 * H // 4)
    edited = apply_recipe(feats, cell_mask([rect] * len(ids), (h, w), (H, W)), recipe_w, recipe_v)
    img = model.tail(edited, layer)
    arrays = {"ids": np.array(ids, np.int64), "rect": np.array(rect, np.int64), "layer_index": np.array(model.index(layer)),
              "weights": recipe_w.numpy().astype(np.float32), "values": recipe_v.numpy().astype(np.float32),
              "features": feats.numpy(), "edited": edited.numpy(), "image": img.numpy(),
              "labels": model.segment(img).numpy().astype(np.int64)}
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def recipe_count(concept, kinds, small):
    return len(kinds) + (1 if concept in small else 0)


def shard_concepts(concepts, i, n, cost):
    """The concepts of shard i of n: greedy by cost (most expensive first, each to the least
    loaded shard, ties to the lower shard and the earlier concept), so shards finish together.
    Order within a shard follows the input order."""
    load = [0] * n
    owner = {}
    for c in sorted(concepts, key=lambda c: -cost(c)):
        k = min(range(n), key=lambda j: (load[j], j))
        owner[c] = k
        load[k] += cost(c)
    return [c for c in concepts if owner[c] == i]


def parse_shard(s):
    try:
        i, n = (int(x) for x in s.split("/"))
    except ValueError:
        raise RecipeError(f"--shard {s!r}: want i/n, e.g. 0/2") from None
    if n < 1 or not 0 <= i < n:
        raise RecipeError(f"--shard {s!r}: need 0 ≤ i < n")
    return i, n


def run_jobs(argv, jobs):
    """Runs this script as `jobs` processes, --shard k/jobs each, their output prefixed with [k];
    returns the first non-zero exit code (every shard runs to its end either way)."""
    import subprocess
    import threading
    procs, threads = [], []

    def pump(k, stream):
        for line in stream:
            sys.stdout.write(f"[{k}/{jobs}] {line}")
            sys.stdout.flush()

    for k in range(jobs):
        p = subprocess.Popen([sys.executable, os.path.abspath(__file__)] + argv + ["--shard", f"{k}/{jobs}"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        t = threading.Thread(target=pump, args=(k, p.stdout), daemon=True)
        t.start()
        procs.append(p)
        threads.append(t)
    codes = []
    for k, p in enumerate(procs):
        # wait4 for the shard's own CPU time: with both cores free, the step takes about the
        # largest of them (the figure docs/training.md's estimate comes from).
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        codes.append(p.returncode)
        print(f"recipes: shard {k}/{jobs} exited {p.returncode}, {ru.ru_utime + ru.ru_stime:.0f} CPU-s", flush=True)
    for t, p in zip(threads, procs):
        t.join()
        p.stdout.close()
    bad = [c for c in codes if c != 0]
    return bad[0] if bad else 0


def strip_jobs(argv):
    """argv without --jobs and its value (either spelling)."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a == "--jobs":
            skip = True
            continue
        if a.startswith("--jobs="):
            continue
        out.append(a)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="model directory with a dissection")
    p.add_argument("--layer", default=None, help="paint layer (default: the manifest's default_layer)")
    p.add_argument("--concepts", default="", help="comma-separated (default: every class the dissection ranks)")
    p.add_argument("--kinds", default="dense,ace,erase", help="dense, ace, erase")
    p.add_argument("--small-layer", default="layer6", help="second layer for --small concepts ('' = none)")
    p.add_argument("--small", default="door,window,dome", help="concepts also trained as dense at --small-layer")
    p.add_argument("--images", type=int, default=480, help="training images")
    p.add_argument("--val", type=int, default=64, help="validation regions per concept (from the training pool)")
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch threads (the machine is shared)")
    p.add_argument("--check-out", default=None, help="write a torch reference (.npz) for the Go test and exit")
    p.add_argument("--dry-run", action="store_true", help="train and report, but do not write the recipes")
    p.add_argument("--shard", default="", help="i/n: train only shard i of n of the concepts (see --jobs)")
    p.add_argument("--jobs", type=int, default=1, help="run as this many processes over disjoint concept sets")
    p.add_argument("--missing", action="store_true",
                   help="skip concepts whose recipes are all in the layer files already (resuming a run)")
    args = p.parse_args(argv)
    if args.jobs < 1:
        print(f"recipes: --jobs {args.jobs} must be at least 1", file=sys.stderr)
        return 1
    if args.jobs > 1:
        if args.shard or args.check_out:
            print("recipes: --jobs does not go with --shard or --check-out", file=sys.stderr)
            return 1
        return run_jobs(strip_jobs(sys.argv[1:] if argv is None else list(argv)), args.jobs)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    try:
        model = onnx_torch.Model(args.model)
        layer = args.layer or model.manifest["default_layer"]
        if args.check_out:
            C = model.shapes[layer][0]
            g = torch.Generator().manual_seed(1)
            write_check(args.check_out, model, layer, torch.rand(C, generator=g), torch.randn(C, generator=g))
            print(f"wrote {args.check_out}")
            return 0
        index, layers = load_dissection(args.model)
        if layer not in layers:
            raise RecipeError(f"layer {layer} is not dissected (have {', '.join(sorted(layers))})")
        kinds = [k for k in args.kinds.split(",") if k]
        for k in kinds:
            if k not in ("dense", "ace", "erase"):
                raise RecipeError(f"unknown kind {k!r}")
        small_layer = args.small_layer or None
        small = [c for c in args.small.split(",") if c] if small_layer else []
        if small_layer and small and small_layer not in layers:
            raise RecipeError(f"--small-layer {small_layer} is not dissected")
        classes = model.classes
        concepts = [c for c in args.concepts.split(",") if c] or [c for c in classes if c in layers[layer]["rankings"]]
        for c in concepts + small:
            if c not in classes:
                raise RecipeError(f"unknown concept {c!r} (classes: {', '.join(classes)})")
        if args.missing:
            have = {l: set((layers[l].get("recipes") or {}).keys()) for l in layers}

            def done(c):
                want = [(layer, f"{c}-{k}") for k in kinds] + ([(small_layer, f"{c}-dense-{small_layer}")] if c in small else [])
                return all(name in have.get(l, ()) for l, name in want)
            skipped = [c for c in concepts if done(c)]
            concepts = [c for c in concepts if not done(c)]
            if skipped:
                print(f"recipes: --missing: {', '.join(skipped)} already trained", flush=True)
        if args.shard:
            i, n = parse_shard(args.shard)
            concepts = shard_concepts(concepts, i, n, lambda c: recipe_count(c, kinds, small))
            print(f"recipes: shard {i}/{n}: {', '.join(concepts) or 'no concepts'}", flush=True)
            if not concepts:
                return 0
        exclude = dissection_ids(layers, model.max_id)
        ids = held_out_ids(model.max_id, TRAIN_RANGE[0], TRAIN_RANGE[1], args.images, exclude)
        use = [layer] + ([small_layer] if small else [])
        data = Data(model, ids, use)
        tr = Trainer(model, data, classes, rankings={l: layers[l]["rankings"] for l in use}, seed=args.seed)
        out = {l: {} for l in use}
        t0 = time.time()
        for concept in concepts:
            tr.reseed(args.seed, concept)
            pools = Pools(data, classes, concept)
            print(f"recipes: {concept}: {len(pools.insert)} plausible regions, {len(pools.present)} present, "
                  f"{len(pools.images)} images", flush=True)
            val = [pools.insert[i] for i in np.random.default_rng(args.seed + 1).permutation(len(pools.insert))[:args.val]]
            info = {"images": len(ids), "id_range": list(TRAIN_RANGE)}
            for kind in kinds:
                if kind == "erase":
                    if not pools.images:
                        print(f"  {concept}: no training image shows it; no erase recipe")
                        continue
                    w, v, t = tr.train_erase(layer, concept, pools, args.steps, args.batch)
                    rc = to_recipe(concept, "erase", True, w, v, {**info, **t})
                elif not pools.insert:
                    print(f"  {concept}: no plausible region; no {kind} recipe")
                    continue
                else:
                    w, v, t = tr.train_insert(layer, concept, kind, pools, args.steps, args.batch, val)
                    rc = to_recipe(concept, kind, False, w, v, {**info, **t})
                if rc:
                    out[layer][f"{concept}-{kind}"] = rc
            if concept in small and pools.insert:
                w, v, t = tr.train_insert(small_layer, concept, "dense", pools, args.steps, args.batch, val)
                rc = to_recipe(concept, "dense-" + small_layer, False, w, v, {**info, **t})
                if rc:
                    out[small_layer][f"{concept}-dense-{small_layer}"] = rc
            if not args.dry_run:
                # After every concept, so an interrupted run keeps what it finished.
                save_recipes(args.model, index, layers, {l: r for l, r in out.items() if r})
            sys.stdout.flush()
        print(f"recipes: trained in {time.time() - t0:.0f} s")
        if not args.dry_run:
            print(f"recipes: wrote {sum(len(r) for r in out.values())} recipes into {args.model}/dissection/")
    except (RecipeError, OSError, ValueError, KeyError) as e:
        print(f"recipes: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
