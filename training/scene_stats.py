"""Sizes of the scene parts and pixel shares of a scene world, as docs/training.md reports them.

    /usr/bin/python3 training/scene_stats.py --world v2 [--n 120] [--size 128]

Renders seeds 0..n-1 and prints, per part, the median over the images containing it (more than 20
pixels of the class) of its longest horizontal × vertical run of pixels (an object's width and height
where one object of the class dominates, without connected components), how many images contain
it, the median share of the frame width the building walls span, and every class's pixel share.
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import build_dataset  # noqa: E402
import scenes  # noqa: E402

PARTS = (("door", scenes.DOOR), ("window", scenes.WINDOW), ("dome", scenes.DOME), ("tree", scenes.TREE))


def longest_runs(mask):
    """(longest horizontal run, longest vertical run) of True pixels in a 2-D mask."""

    def runs(m):
        best = 0
        for row in m:
            padded = np.concatenate([[0], row.astype(np.int8), [0]])
            d = np.diff(padded)
            starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
            if len(starts):
                best = max(best, int((ends - starts).max()))
        return best

    return runs(mask), runs(mask.T)


def stats(labels):
    """Part sizes, building width and pixel shares of a list of label maps."""
    sizes = {name: [] for name, _ in PARTS}
    for lab in labels:
        for name, cls in PARTS:
            m = lab == cls
            if m.sum() > 20:
                sizes[name].append(longest_runs(m))
    parts = {}
    for name, v in sizes.items():
        med = np.median(np.array(v), axis=0) if v else (0.0, 0.0)
        parts[name] = {"width": float(med[0]), "height": float(med[1]), "images": len(v)}
    walls = [((lab == scenes.BUILDING) | (lab == scenes.BRICK)).any(axis=0).mean() for lab in labels]
    counts = np.bincount(np.concatenate([lab.ravel() for lab in labels]), minlength=scenes.NUM_CLASSES)
    shares = {scenes.CLASSES[i][0]: float(c / counts.sum()) for i, c in enumerate(counts)}
    return {"parts": parts, "wall_width_median": float(np.median(walls)), "pixel_shares": shares}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--world", default="v2", choices=sorted(build_dataset.WORLDS))
    p.add_argument("--n", type=int, default=120, help="renders (seeds 0..n-1)")
    p.add_argument("--size", type=int, default=128)
    a = p.parse_args(argv)
    if a.n < 1:
        p.error("--n must be at least 1")
    render = build_dataset.WORLDS[a.world]
    labels = [render(seed, a.size)[1] for seed in range(a.n)]
    st = stats(labels)
    print(f"world {a.world}, {a.n} renders at {a.size} px")
    for name, v in st["parts"].items():
        print(f"{name}: {v['width']:.0f} x {v['height']:.0f} px, in {v['images']}/{a.n}")
    print(f"building walls span a median {100 * st['wall_width_median']:.0f}% of the frame width")
    shares = sorted(st["pixel_shares"].items(), key=lambda kv: -kv[1])
    print("pixel shares: " + ", ".join(f"{k} {100 * v:.1f}%" for k, v in shares))


if __name__ == "__main__":
    main()
