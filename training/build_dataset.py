"""Render the procedural scene dataset used to train the default GAN and segmenter.

    /usr/bin/python3 training/build_dataset.py --n 30000 --size 128 --seed 0 \
        --out training/data/scenes128.npz --workers 2

Image i uses render seed `seed * 1_000_003 + i`, so any image can be re-rendered alone.
The archive is written to a temporary file and renamed, so a crash never leaves a
truncated dataset where a trainer would pick it up.
"""

import argparse
import multiprocessing as mp
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scenes  # noqa: E402
import scenes2  # noqa: E402

# The scene worlds a dataset can be rendered from: v1 (several small buildings, the scenes128 model)
# and v2 (one building in close-up with parts at the paint grid's scale).
WORLDS = {"v1": scenes.render, "v2": scenes2.render}

SEED_STRIDE = 1_000_003


def _render_chunk(args):
    start, stop, seed, size, world = args
    render = WORLDS[world]
    imgs = np.empty((stop - start, size, size, 3), np.uint8)
    labs = np.empty((stop - start, size, size), np.uint8)
    for k, i in enumerate(range(start, stop)):
        imgs[k], labs[k] = render(seed * SEED_STRIDE + i, size)
    return start, imgs, labs


def build(n, size, seed, workers, chunk=250, log=print, world="v1"):
    if world not in WORLDS:
        raise ValueError(f"--world must be one of {sorted(WORLDS)}, got {world!r}")
    if n <= 0:
        raise ValueError(f"--n must be positive, got {n}")
    if size < 8:
        raise ValueError(f"--size must be >= 8, got {size}")
    images = np.empty((n, size, size, 3), np.uint8)
    labels = np.empty((n, size, size), np.uint8)
    # Several chunks per worker keep both processes busy even for small --n.
    chunk = max(1, min(chunk, -(-n // (max(1, workers) * 4))))
    jobs = [(s, min(n, s + chunk), seed, size, world) for s in range(0, n, chunk)]
    t0 = time.time()
    done = 0
    if workers <= 1:
        results = map(_render_chunk, jobs)
        pool = None
    else:
        pool = mp.Pool(workers)
        results = pool.imap_unordered(_render_chunk, jobs)
    try:
        for start, imgs, labs in results:
            images[start : start + len(imgs)] = imgs
            labels[start : start + len(labs)] = labs
            done += len(imgs)
            el = time.time() - t0
            if done == n or done % 2000 < len(imgs):
                log(f"{done}/{n} images, {done / max(el, 1e-9):.1f} images/s", flush=True)
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    return images, labels, time.time() - t0


def save_atomic(path, images, labels):
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    tmp = path + f".tmp{os.getpid()}.npz"  # np.savez appends .npz unless present
    try:
        np.savez(tmp, images=images, labels=labels)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=30000, help="number of images (default 30000)")
    ap.add_argument("--size", type=int, default=128, help="image side in pixels (default 128)")
    ap.add_argument("--seed", type=int, default=0, help="dataset seed (default 0)")
    ap.add_argument("--out", default="training/data/scenes128.npz", help="output .npz path")
    ap.add_argument("--workers", type=int, default=2, help="render processes (default 2)")
    ap.add_argument("--world", default="v1", help="scene world: v1 or v2 (default v1)")
    a = ap.parse_args(argv)
    try:
        images, labels, el = build(a.n, a.size, a.seed, a.workers, world=a.world)
    except ValueError as e:
        ap.error(str(e))
    save_atomic(a.out, images, labels)
    print(f"wrote {a.out}: {a.n} images {a.size}px in {el:.1f}s ({a.n / el:.1f} images/s)")


if __name__ == "__main__":
    main()
