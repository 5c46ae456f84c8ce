"""Where a concept plausibly belongs: the brush-efficacy benchmark's rules (docs/efficacy.md).

A port of the Go package `efficacy` (regions.go): recipes.py draws its training regions with the
same rules the benchmark judges by. tests/test_recipes.py checks this port against the Go
implementation's outcomes on the drawn scenes in efficacy/testdata/rules_golden.json.
"""

import numpy as np

TOUCH, MOST, FEW = 0.3, 0.5, 0.25
GROUND = ("grass", "road")
WALL = ("building", "brick")
SKY = ("sky", "cloud")
STRUCTURE = ("building", "brick", "roof", "dome", "door", "window")
BANDS = ("region", "top", "bottom", "above", "below", "left", "right")


def tiling(w, h, side=4):
    """Regions (x0, y0, x1, y1) of a side x side tiling, row by row."""
    return [(c * w // side, r * h // side, (c + 1) * w // side, (r + 1) * h // side)
            for r in range(side) for c in range(side)]


def share(seg, rect, cls):
    """Share of class index `cls` in rect of the label map seg [H, W] (0 for an empty rect)."""
    x0, y0, x1, y1 = rect
    h, w = seg.shape
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 <= x0 or y1 <= y0:
        return 0.0
    return float((seg[y0:y1, x0:x1] == cls).mean())


class Context:
    """Class shares of a region's bands (see efficacy.Context)."""

    def __init__(self, seg, rect, n_classes):
        x0, y0, x1, y1 = rect
        t = max((y1 - y0) // 2, 1)
        rects = {
            "region": rect, "top": (x0, y0, x1, y0 + t), "bottom": (x0, y1 - t, x1, y1),
            "above": (x0, y0 - t, x1, y0), "below": (x0, y1, x1, y1 + t),
            "left": (x0 - t, y0, x0, y1), "right": (x1, y0, x1 + t, y1),
        }
        h, w = seg.shape
        self.share, self.outside = {}, {}
        for band, (a, b, c, d) in rects.items():
            a, b, c, d = max(a, 0), max(b, 0), min(c, w), min(d, h)
            if c <= a or d <= b:
                self.share[band] = np.zeros(n_classes)
                self.outside[band] = True
                continue
            counts = np.bincount(seg[b:d, a:c].ravel(), minlength=n_classes)[:n_classes]
            self.share[band] = counts / float((c - a) * (d - b))
            self.outside[band] = False

    def sum(self, cls, band, names):
        return float(sum(self.share[band][cls[n]] for n in names if n in cls))


def _touches_ground(c, cls):
    return c.sum(cls, "bottom", GROUND) >= TOUCH or c.sum(cls, "below", GROUND) >= TOUCH


def _beside_wall(c, cls):
    return c.sum(cls, "region", WALL) < MOST and (c.sum(cls, "left", WALL) >= TOUCH or c.sum(cls, "right", WALL) >= TOUCH)


def _beside(c, cls, name):
    return any(c.sum(cls, b, (name,)) >= TOUCH for b in ("left", "right", "above", "below"))


def _roofline(c, cls):
    under = c.sum(cls, "bottom", STRUCTURE) >= TOUCH or c.sum(cls, "below", STRUCTURE) >= TOUCH
    return under and c.sum(cls, "top", SKY) >= TOUCH


def _wall_standing(c, cls):
    return _touches_ground(c, cls) or _beside_wall(c, cls) or c.sum(cls, "below", WALL) >= TOUCH


def _ground_level(c, cls):
    return c.sum(cls, "region", SKY) < FEW and (
        _touches_ground(c, cls) or c.sum(cls, "region", GROUND) >= TOUCH or c.outside["below"])


RULES = {
    "sky": lambda c, cls: c.sum(cls, "region", GROUND) < FEW and (c.outside["above"] or c.sum(cls, "above", SKY) >= MOST),
    "cloud": lambda c, cls: c.sum(cls, "region", SKY) >= MOST,
    "tree": lambda c, cls: _touches_ground(c, cls) or _beside_wall(c, cls) or _beside(c, cls, "tree"),
    "grass": _ground_level,
    "road": _ground_level,
    "building": _wall_standing,
    "brick": lambda c, cls: _wall_standing(c, cls) or c.sum(cls, "region", ("building",)) >= TOUCH,
    "door": lambda c, cls: c.sum(cls, "region", WALL) >= TOUCH and _touches_ground(c, cls),
    "window": lambda c, cls: c.sum(cls, "region", ("window",) + WALL) >= MOST,
    "dome": _roofline,
    "roof": _roofline,
    "mountain": lambda c, cls: c.sum(cls, "top", SKY) >= TOUCH and (
        c.sum(cls, "bottom", ("grass", "road", "tree", "mountain")) >= TOUCH
        or c.sum(cls, "below", ("grass", "road", "tree", "mountain")) >= TOUCH),
}


def plausible(concept, ctx, cls):
    """Whether the concept's rule holds; a concept without a rule is plausible everywhere."""
    rule = RULES.get(concept)
    return True if rule is None else bool(rule(ctx, cls))
