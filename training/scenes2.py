"""Scene world v2: one building in close-up, with parts at the scale of the 8x8 paint grid.

The v1 world (scenes.py) drew several small buildings per scene: windows came out smaller than one
16 px cell of the 8x8 paint layer at 128 px, doors narrower than a cell, so no generator unit could
learn to draw them. v2 frames scenes the way the reference's LSUN church photographs are framed:

- one main building, a house or a church, whose facade fills 55-100% of the frame width;
- doors at least one cell wide and 1.5-3 cells tall, windows at least one cell, domes and towers at
  least two cells wide, trees 2-6 cells tall with a visible trunk and a crown, in front of and beside
  the building;
- fewer, larger objects, varied in position, count, size, material, sky, season and time of day;
- dome and roof colours kept apart (roofs are never yellow or orange; domes never tile-red), since
  the v1 segmenter called yellow and orange roofs "dome" on generated images.

Labels are exact and share the v1 class list (scenes.CLASSES), so the segmenter, dissection and the
painter work on either world. Sizes below are fractions of the frame S; one paint cell is S/8.
"""

import random

import numpy as np
from PIL import Image

import scenes
from scenes import (BRICK, BUILDING, CLASSES, CLOUD, DOME, DOOR, MOUNTAIN, NUM_CLASSES, ROAD, ROOF, SKY, TREE,  # noqa: F401
                    WINDOW, colorize)

CELL = 1 / 8

_ROOF = [(150, 55, 40), (125, 45, 35), (105, 40, 40), (90, 62, 48), (70, 70, 80), (58, 58, 62), (92, 88, 84),
         (60, 74, 96), (80, 50, 60)]
_DOME = [(95, 165, 140), (110, 182, 152), (78, 146, 128), (218, 188, 82), (202, 166, 60), (226, 226, 232),
         (188, 195, 206), (62, 102, 172), (92, 132, 196)]
_TREE_SUMMER = scenes._TREE
_TREE_AUTUMN = scenes._AUTUMN + [(150, 90, 40)]
_GRASS_DRY = [(150, 150, 80), (160, 145, 85), (130, 140, 70)]


def _frac(r, lo, hi):
    return r.uniform(lo, hi)


def _door(r, c, cx, base, w, h):
    scenes._door(r, c, cx, base, w, h, r.random() < 0.45)


def _window_row(r, c, x0, x1, y0, ww, wh, mood, avoid, arch, style, glass, frame):
    """One row of windows, each at least one cell wide, spread over the stretches of [x0, x1] that
    the spans in `avoid` (doors) leave free."""
    margin = ww * 0.3
    cuts = sorted((a0 - margin, a1 + margin) for a0, a1 in avoid)
    free, left = [], x0
    for a0, a1 in cuts:
        if a0 > left:
            free.append((left, a0))
        left = max(left, a1)
    if x1 > left:
        free.append((left, x1))
    for f0, f1 in free:
        span = f1 - f0
        n = min(3, int((span - ww * 0.3) / (ww * r.uniform(1.5, 2.2))) + (1 if span > ww * 1.4 else 0))
        if n <= 0:
            continue
        gap = (span - n * ww) / (n + 1)
        for j in range(n):
            if r.random() < 0.08:
                continue
            wx = f0 + gap + j * (ww + gap)
            scenes._window(r, c, wx, y0, wx + ww, y0 + wh, style, glass, frame, arch)


def _facade(r, c, S, x0, x1, top, base, mood, arch_windows, door_cx=None):
    """Door (1-2 of them on wide facades) and windows on the wall [x0,x1] x [top,base]."""
    H = base - top
    W = x1 - x0
    dw = S * _frac(r, 0.13, 0.2)
    dh = min(S * _frac(r, 0.19, 0.36), H * 0.82)
    dh = max(dh, min(dw * 1.5, H * 0.82))
    if door_cx is None:
        door_cx = (x0 + x1) / 2 + r.uniform(-0.25, 0.25) * W
    door_cx = min(max(door_cx, x0 + dw), x1 - dw)
    doors = [door_cx]
    if W > S * 0.8 and r.random() < 0.3:
        other = door_cx + (W * 0.38 if door_cx < (x0 + x1) / 2 else -W * 0.38)
        if x0 + dw < other < x1 - dw:
            doors.append(other)
    for d in doors:
        _door(r, c, d, base, dw, dh)
    avoid = [(d - dw / 2, d + dw / 2) for d in doors]
    glass = scenes._glass(r, mood)
    frame = scenes._jit(r, r.choice([(240, 240, 235), (60, 45, 35), (90, 90, 95), (200, 190, 170)]), 8)
    style = r.randint(0, 1)
    ww = S * _frac(r, 0.125, 0.17)
    wh = ww * _frac(r, 1.1, 1.7)
    # Ground-floor windows sit a little above the ground beside the door; an upper row only where
    # the wall is tall enough for a second storey.
    y_low = base - wh - S * r.uniform(0.04, 0.09)
    if y_low > top + S * 0.02:
        _window_row(r, c, x0, x1, y_low, ww, wh, mood, avoid, arch_windows, style, glass, frame)
    if y_low - top > wh * 1.35:
        y_up = top + (y_low - top - wh) * r.uniform(0.35, 0.6)
        _window_row(r, c, x0, x1, y_up, ww, wh, mood, [], arch_windows, style, glass, frame)
    return dw, dh, doors


def _roof(r, c, S, x0, x1, top, kind, rcol):
    W = x1 - x0
    over = W * r.uniform(0.02, 0.06)
    rh = S * r.uniform(0.1, 0.22)
    if kind == "gable":
        c.poly([(x0 - over, top + 1), (x1 + over, top + 1), ((x0 + x1) / 2, top - rh)], rcol, ROOF)
    elif kind == "hip":
        inset = W * r.uniform(0.15, 0.3)
        c.poly([(x0 - over, top + 1), (x1 + over, top + 1), (x1 - inset, top - rh * 0.8), (x0 + inset, top - rh * 0.8)],
               rcol, ROOF)
    else:
        c.rect(x0 - over, top - S * 0.03, x1 + over, top + 1, rcol, ROOF)
    return rh


def _dome(r, c, S, cx, y, w):
    """A dome w wide (>= 2 cells) standing on y, with a drum, a shaded side, ribs and a lantern."""
    col = scenes._jit(r, r.choice(_DOME), 8)
    shade = scenes._mix(col, (20, 20, 30), 0.3)
    light = scenes._mix(col, (255, 255, 255), 0.25)
    dh = w * r.uniform(0.5, 0.85)
    drum = w * r.uniform(0.08, 0.3)
    c.rect(cx - w * 0.44, y - drum, cx + w * 0.44, y + 1, scenes._mix(col, (205, 205, 200), 0.45), DOME)
    top = y - drum
    c.chord(cx - w / 2, top - dh, cx + w / 2, top + dh, 180, 360, shade, DOME)
    c.chord(cx - w / 2 + w * 0.14, top - dh, cx + w / 2, top + dh * 0.96, 180, 360, col, DOME)
    c.chord(cx - w * 0.1, top - dh * 0.9, cx + w * 0.3, top + dh * 0.2, 200, 300, light, DOME)
    lw = w * 0.12
    c.rect(cx - lw / 2, top - dh - lw * 1.5, cx + lw / 2, top - dh + 1, col, DOME)
    if r.random() < 0.7:
        c.line([(cx, top - dh - lw * 1.5), (cx, top - dh - lw * 3.0)], shade, DOME, max(2, int(lw * 0.35)))


def _tower(r, c, S, tx, tw, top, th, wall, cls, mood):
    """A tower tw wide rising th above `top`, capped by a spire (roof) or a dome."""
    c.rect(tx, top - th, tx + tw, top + 1, wall, cls)
    win = scenes._mix(wall, (30, 30, 35), 0.6)
    ww = max(tw * 0.4, S * 0.06)
    scenes._window(r, c, tx + (tw - ww) / 2, top - th + tw * 0.35, tx + (tw + ww) / 2, top - th + tw * 0.35 + ww * 1.6,
                   0, scenes._glass(r, mood), win, arch=True)
    if r.random() < 0.5:
        rcol = scenes._jit(r, r.choice(_ROOF), 8)
        c.poly([(tx - 2, top - th + 1), (tx + tw + 2, top - th + 1), (tx + tw / 2, top - th - tw * r.uniform(1.0, 2.2))],
               rcol, ROOF)
    else:
        _dome(r, c, S, tx + tw / 2, top - th, tw * 1.05)


def _wall(r):
    if r.random() < 0.4:
        return BRICK, scenes._jit(r, r.choice(scenes._BRICK), 12)
    return BUILDING, scenes._jit(r, r.choice(scenes._PLASTER), 10)


def _house(r, c, S, cx, base, W, H, mood):
    x0, x1 = cx - W / 2, cx + W / 2
    top = base - H
    cls, wall = _wall(r)
    rcol = scenes._jit(r, r.choice(_ROOF), 8)
    kind = r.choices(["gable", "hip", "flat"], weights=[0.5, 0.35, 0.15])[0]
    c.rect(x0, top, x1, base, wall, cls)
    _roof(r, c, S, x0, x1, top, kind, rcol)
    if kind != "flat" and r.random() < 0.35:
        chx = cx + r.choice([-1, 1]) * W * r.uniform(0.15, 0.3)
        c.rect(chx, top - S * 0.12, chx + S * 0.04, top - S * 0.02, scenes._jit(r, r.choice(scenes._BRICK), 10), BRICK)
    _facade(r, c, S, x0, x1, top, base, mood, arch_windows=r.random() < 0.2)


def _church(r, c, S, cx, base, W, H, mood):
    x0, x1 = cx - W / 2, cx + W / 2
    top = base - H
    cls, wall = _wall(r)
    if r.random() < 0.4:
        # Lower side wings, partly off-frame where the facade is wide.
        ww = W * r.uniform(0.22, 0.4)
        wh = H * r.uniform(0.55, 0.8)
        rcol = scenes._jit(r, r.choice(_ROOF), 8)
        for sx in (x0 - ww, x1):
            c.rect(sx, base - wh, sx + ww, base, wall, cls)
            c.poly([(sx - 2, base - wh + 1), (sx + ww + 2, base - wh + 1), (sx + ww / 2, base - wh - wh * 0.3)], rcol, ROOF)
    c.rect(x0, top, x1, base, wall, cls)
    kind = r.choices(["dome", "tower_side", "tower_mid", "twin"], weights=[0.45, 0.2, 0.2, 0.15])[0]
    if kind == "dome":
        _dome(r, c, S, cx + r.uniform(-0.1, 0.1) * W, top, max(S * 0.26, W * r.uniform(0.4, 0.75)))
    else:
        rcol = scenes._jit(r, r.choice(_ROOF), 8)
        c.poly([(x0 - 2, top + 1), (x1 + 2, top + 1), (cx, top - S * r.uniform(0.06, 0.14))], rcol, ROOF)
        tw = max(S * 0.25, W * r.uniform(0.22, 0.32))
        th = S * r.uniform(0.12, 0.3)
        if kind == "tower_mid":
            _tower(r, c, S, cx - tw / 2, tw, top, th, wall, cls, mood)
        elif kind == "tower_side":
            tx = x0 if r.random() < 0.5 else x1 - tw
            _tower(r, c, S, tx, tw, top, th, wall, cls, mood)
        else:
            _tower(r, c, S, x0, tw, top, th, wall, cls, mood)
            _tower(r, c, S, x1 - tw, tw, top, th, wall, cls, mood)
    _facade(r, c, S, x0, x1, top, base, mood, arch_windows=r.random() < 0.75, door_cx=cx)


def _tree(r, c, S, cx, base, h, palette):
    """A tree h tall (2-6 cells) with a trunk at least a quarter of its height and a crown."""
    kind = r.choices(["round", "conifer", "poplar"], weights=[0.55, 0.3, 0.15])[0]
    col = scenes._jit(r, r.choice(palette), 12)
    dark = scenes._mix(col, (10, 25, 10), 0.35)
    light = scenes._mix(col, (210, 235, 130), 0.22)
    trunk = scenes._jit(r, r.choice(scenes._TRUNK), 8)
    tw = max(S * 0.025, h * r.uniform(0.07, 0.1))
    if kind == "round":
        cr = h * r.uniform(0.27, 0.36)
        ccy = base - h + cr
        c.rect(cx - tw / 2, ccy, cx + tw / 2, base, trunk, TREE)
        # Two branches so the trunk reads as a trunk where it meets the crown.
        c.line([(cx, ccy + cr * 0.9), (cx - cr * 0.45, ccy + cr * 0.35)], trunk, TREE, max(2, int(tw * 0.45)))
        c.line([(cx, ccy + cr * 0.8), (cx + cr * 0.4, ccy + cr * 0.25)], trunk, TREE, max(2, int(tw * 0.45)))
        c.ellipse(cx - cr, ccy - cr, cx + cr, ccy + cr * 0.8, dark, TREE)
        for _ in range(r.randint(4, 7)):
            pr = cr * r.uniform(0.35, 0.6)
            px = cx + r.uniform(-0.55, 0.45) * cr
            py = ccy + r.uniform(-0.6, 0.2) * cr
            c.ellipse(px - pr, py - pr, px + pr, py + pr, col if r.random() < 0.65 else light, TREE)
    elif kind == "conifer":
        c.rect(cx - tw / 2, base - h * 0.28, cx + tw / 2, base, trunk, TREE)
        cw = h * r.uniform(0.22, 0.32)
        tiers = r.randint(3, 4)
        dcol = scenes._mix(col, (20, 50, 40), 0.3)
        for k in range(tiers):
            t0 = base - h * 0.2 - k * (h * 0.78 / tiers)
            tww = cw * (1 - k / (tiers + 0.6))
            c.poly([(cx - tww, t0), (cx + tww, t0), (cx, t0 - h * 0.78 / tiers * 1.6)],
                   dcol if k % 2 else scenes._mix(dcol, col, 0.5), TREE)
    else:
        c.rect(cx - tw / 2, base - h * 0.35, cx + tw / 2, base, trunk, TREE)
        pw = h * r.uniform(0.14, 0.2)
        c.ellipse(cx - pw, base - h, cx + pw, base - h * 0.22, dark, TREE)
        c.ellipse(cx - pw * 0.8, base - h * 0.97, cx + pw * 0.6, base - h * 0.3, col, TREE)


def _path(r, c, S, door_x, base):
    """A path from the door to the bottom edge, widening towards the viewer."""
    col = scenes._jit(r, r.choice([(150, 135, 115), (120, 115, 110), (170, 150, 120), (95, 95, 100)]), 8)
    w0 = S * r.uniform(0.08, 0.14)
    w1 = S * r.uniform(0.25, 0.5)
    bx = door_x + r.uniform(-0.15, 0.15) * S
    c.poly([(door_x - w0 / 2, base), (door_x + w0 / 2, base), (bx + w1 / 2, S + 2), (bx - w1 / 2, S + 2)], col, ROAD)


def render(seed, size=128):
    """Render v2 scene `seed` at `size`x`size`: (rgb uint8 [size,size,3], labels uint8 [size,size]).

    Same conventions as scenes.render: drawn at 2x, box-filtered down, labels by 2x2 majority.
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 8:
        raise ValueError(f"size must be an int >= 8, got {size!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    seed = int(seed)
    S = size * 2
    r = random.Random(seed)
    g = np.random.Generator(np.random.PCG64(seed))

    season = r.choices(["summer", "autumn", "dry"], weights=[0.65, 0.2, 0.15])[0]
    base = S * r.uniform(0.8, 0.95)
    horizon = int(min(base - S * 0.08, S * r.uniform(0.5, 0.74)))
    mood, sky_img, sky_bot = scenes._sky(r, S, horizon)
    c = scenes._Canvas(sky_img, S)
    if mood in ("sunset", "day") and r.random() < 0.25:
        sr = S * r.uniform(0.03, 0.05)
        sx = S * r.uniform(0.08, 0.92)
        sy = horizon * (r.uniform(0.5, 0.9) if mood == "sunset" else r.uniform(0.08, 0.3))
        scol = (255, 220, 150) if mood == "sunset" else (255, 252, 230)
        c.ellipse(sx - sr * 1.8, sy - sr * 1.8, sx + sr * 1.8, sy + sr * 1.8, scenes._mix(scol, sky_bot, 0.6), SKY)
        c.ellipse(sx - sr, sy - sr, sx + sr, sy + sr, scol, SKY)
    scenes._clouds(r, c, S, horizon, mood)
    if r.random() < 0.45:
        scenes._mountains(r, c, S, horizon, sky_bot)
    gcol = scenes._jit(r, r.choice(_GRASS_DRY if season == "dry" else scenes._GRASS), 12)
    c.rect(0, horizon, S, S, gcol, scenes.GRASS)
    c.rect(0, horizon, S, horizon + (S - horizon) * 0.3, scenes._mix(gcol, (150, 170, 150), 0.25), scenes.GRASS)

    palette = _TREE_AUTUMN if season == "autumn" else _TREE_SUMMER
    W = S * r.uniform(0.55, 1.0)
    H = S * r.uniform(0.28, 0.44)
    cx = S * r.uniform(0.3, 0.7)
    kind = "church" if r.random() < 0.5 else "house"

    # Trees behind or beside the building: drawn first, bases near the building's.
    behind = []
    if r.random() < 0.55:
        for _ in range(r.randint(1, 2)):
            side = r.choice([-1, 1])
            tx = cx + side * (W / 2 + r.uniform(-0.05, 0.2) * S)
            behind.append((tx, base - r.uniform(0.0, 0.06) * S, S * r.uniform(0.25, 0.6)))
    # A second, smaller building at one side, farther away.
    if r.random() < 0.35:
        side = r.choice([-1, 1])
        w2 = S * r.uniform(0.3, 0.5)
        x2 = cx + side * (W / 2 + w2 * r.uniform(0.2, 0.5))
        b2 = base - S * r.uniform(0.03, 0.08)
        h2 = S * r.uniform(0.2, 0.3)
        _house(r, c, S, x2, b2, w2, h2, mood)
    for tx, tb, th in behind:
        _tree(r, c, S, tx, tb, th, palette)
    if kind == "church":
        _church(r, c, S, cx, base, W, H, mood)
    else:
        _house(r, c, S, cx, base, W, H, mood)
    if r.random() < 0.35:
        _path(r, c, S, cx, base)
    # Trees in front: lower bases, taller; kept off the door's column most of the time.
    for _ in range(r.choices([0, 1, 2, 3], weights=[0.35, 0.35, 0.2, 0.1])[0]):
        tb = base + r.uniform(0.0, 1.0) * (S - base)
        tx = S * r.uniform(0.0, 1.0)
        if abs(tx - cx) < S * 0.15 and r.random() < 0.7:
            tx = cx + np.sign(tx - cx + 1e-3) * S * r.uniform(0.2, 0.5)
        _tree(r, c, S, tx, tb, S * r.uniform(0.25, 0.75), palette)

    arr = np.asarray(c.img, dtype=np.float32)
    lab = np.asarray(c.lab, dtype=np.uint8)
    bright = r.uniform(0.8, 1.1)
    if mood == "sunset":
        tint = np.array([1.08, 0.95, 0.85], np.float32)
    elif mood == "dusk":
        tint = np.array([0.8, 0.8, 0.95], np.float32)
        bright *= 0.82
    else:
        tint = np.array([r.uniform(0.94, 1.06), r.uniform(0.96, 1.04), r.uniform(0.94, 1.06)], np.float32)
    ramp = (1 + r.uniform(-0.12, 0.12) * (np.arange(S, dtype=np.float32) / S - 0.5)) * bright
    out = scenes._texture(g, r, arr, lab, S, ramp[None, :])
    out *= tint
    np.clip(out, 0, 255, out=out)
    rgb = np.asarray(Image.fromarray(out.astype(np.uint8)).reduce(2))
    return rgb, scenes._majority(lab, size)


def preview_grid(seeds, size=128, cols=8):
    """Renders and their label colour maps side by side, as one PIL image."""
    return scenes.preview_grid(seeds, size, cols, render_fn=render)


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="Write a preview grid of v2 scenes and their label maps.")
    ap.add_argument("--out", default="training/runs/scenes2_preview.png", help="PNG path")
    ap.add_argument("--first", type=int, default=0)
    ap.add_argument("--count", type=int, default=32)
    ap.add_argument("--size", type=int, default=128)
    a = ap.parse_args()
    preview_grid(list(range(a.first, a.first + a.count)), a.size, cols=8).save(a.out, optimize=True)
