"""Procedural outdoor scenes with per-pixel labels.

The default GANPaint-Go model (GAN + segmenter) is trained on these renders, so the
scenes must contain parts a generator has to learn separately (doors on walls, domes
on churches, trees on the ground) and the labels must align exactly with the pixels.

Only numpy and PIL are used so the renderer runs anywhere Debian's python3 does.
Every random draw comes from generators seeded by the image seed: the same seed always
gives byte-identical arrays.
"""

import random

import numpy as np
from PIL import Image, ImageDraw

CLASSES = [
    ("sky", "#87ceeb"),
    ("cloud", "#f5f5f5"),
    ("tree", "#1f8f2f"),
    ("grass", "#9be35a"),
    ("door", "#7a3b10"),
    ("brick", "#c0392b"),
    ("dome", "#f1c40f"),
    ("building", "#d9c3a0"),
    ("window", "#2e86de"),
    ("roof", "#8e44ad"),
    ("mountain", "#6c7a89"),
    ("road", "#3d3d3d"),
]

SKY, CLOUD, TREE, GRASS, DOOR, BRICK, DOME, BUILDING, WINDOW, ROOF, MOUNTAIN, ROAD = range(12)
NUM_CLASSES = len(CLASSES)

# Texture strength per class: (blotchy low-frequency, medium blobs, fine grain).
# Indexed by label so one vectorised expression textures the whole image.
_TEX = np.array(
    [
        (0.03, 0.00, 0.01),  # sky
        (0.06, 0.06, 0.02),  # cloud
        (0.10, 0.30, 0.10),  # tree
        (0.14, 0.08, 0.10),  # grass
        (0.04, 0.02, 0.05),  # door
        (0.05, 0.03, 0.05),  # brick (plus mortar lines)
        (0.05, 0.04, 0.03),  # dome
        (0.06, 0.04, 0.04),  # building
        (0.03, 0.02, 0.03),  # window
        (0.06, 0.04, 0.06),  # roof (plus tile lines)
        (0.12, 0.06, 0.04),  # mountain
        (0.08, 0.04, 0.08),  # road
    ],
    dtype=np.float32,
)


def _hex(c):
    return tuple(int(c[i : i + 2], 16) for i in (1, 3, 5))


LABEL_COLORS = np.array([_hex(c) for _, c in CLASSES], dtype=np.uint8)


def colorize(labels):
    """Label map (H,W) -> RGB uint8 image using the class colours."""
    return LABEL_COLORS[labels]


def _jit(r, rgb, amt):
    return tuple(max(0, min(255, int(c + r.uniform(-amt, amt)))) for c in rgb)


def _mix(a, b, t):
    return tuple(int(round(x + (y - x) * t)) for x, y in zip(a, b))


class _Canvas:
    """Paints the RGB picture and the label map with the same geometry."""

    def __init__(self, rgb_img, size):
        self.img = rgb_img
        self.lab = Image.new("L", (size, size), SKY)
        self.d = ImageDraw.Draw(self.img)
        self.l = ImageDraw.Draw(self.lab)
        self.S = size

    def poly(self, pts, col, cls):
        self.d.polygon(pts, fill=col)
        self.l.polygon(pts, fill=cls)

    def rect(self, x0, y0, x1, y1, col, cls):
        box = [int(round(x0)), int(round(y0)), int(round(x1)) - 1, int(round(y1)) - 1]
        if box[2] < box[0] or box[3] < box[1]:
            return
        self.d.rectangle(box, fill=col)
        self.l.rectangle(box, fill=cls)

    def ellipse(self, x0, y0, x1, y1, col, cls):
        box = [x0, y0, x1, y1]
        self.d.ellipse(box, fill=col)
        self.l.ellipse(box, fill=cls)

    def chord(self, x0, y0, x1, y1, start, end, col, cls):
        box = [x0, y0, x1, y1]
        self.d.chord(box, start, end, fill=col)
        self.l.chord(box, start, end, fill=cls)

    def line(self, pts, col, cls, width):
        self.d.line(pts, fill=col, width=width)
        self.l.line(pts, fill=cls, width=width)


# ---------------------------------------------------------------- palettes

_SKIES = {
    # (top, horizon) colours for each mood.
    "day": [((40, 100, 200), (170, 210, 240)), ((70, 130, 215), (200, 225, 245)), ((30, 80, 170), (150, 195, 235))],
    "sunset": [((40, 50, 120), (250, 150, 80)), ((70, 60, 140), (255, 120, 90)), ((30, 40, 90), (240, 190, 110)),
               ((90, 70, 150), (250, 170, 150))],
    "overcast": [((130, 140, 155), (190, 195, 200)), ((150, 155, 165), (210, 210, 210)), ((110, 120, 135), (170, 175, 185))],
    "dusk": [((15, 25, 70), (110, 90, 150)), ((25, 35, 80), (180, 120, 130))],
}
_PLASTER = [(225, 215, 190), (235, 230, 220), (215, 190, 150), (240, 220, 170), (200, 200, 195),
            (230, 200, 180), (190, 205, 215), (210, 175, 140), (245, 240, 235), (200, 185, 160)]
_BRICK = [(160, 70, 50), (175, 90, 60), (140, 60, 45), (185, 110, 80), (120, 55, 45), (170, 140, 110), (150, 100, 80)]
_ROOF = [(150, 55, 40), (110, 45, 35), (70, 70, 80), (90, 80, 75), (60, 60, 60), (130, 80, 50), (60, 90, 110),
         (170, 90, 60)]
_DOME = [(95, 165, 140), (110, 180, 150), (200, 165, 60), (215, 185, 80), (150, 150, 160), (70, 90, 150),
         (170, 70, 60), (230, 225, 215)]
_DOOR = [(95, 55, 30), (70, 40, 25), (120, 70, 40), (40, 60, 45), (110, 30, 30), (40, 45, 70), (60, 60, 60),
         (140, 100, 60)]
_GRASS = [(80, 140, 50), (95, 155, 60), (70, 120, 45), (120, 160, 70), (140, 150, 70), (60, 110, 50)]
_TREE = [(40, 100, 40), (50, 115, 45), (30, 80, 35), (70, 120, 50), (35, 90, 60), (60, 95, 40)]
_AUTUMN = [(180, 110, 40), (200, 150, 50), (160, 70, 40), (140, 120, 50)]
_TRUNK = [(90, 60, 40), (70, 50, 35), (110, 80, 55)]


# ---------------------------------------------------------------- scene parts


def _sky(r, S, horizon):
    mood = r.choices(["day", "sunset", "overcast", "dusk"], weights=[0.55, 0.2, 0.18, 0.07])[0]
    top, bot = r.choice(_SKIES[mood])
    top = _jit(r, top, 12)
    bot = _jit(r, bot, 12)
    # Gradient reaches the horizon colour at the horizon; below it is hidden by ground anyway.
    t = np.clip(np.arange(S, dtype=np.float32) / max(horizon, 1), 0, 1) ** r.uniform(0.8, 1.8)
    rows = np.array(top, np.float32)[None] * (1 - t[:, None]) + np.array(bot, np.float32)[None] * t[:, None]
    # One gradient column stretched sideways by PIL is far cheaper than a full numpy image.
    col = Image.fromarray(np.ascontiguousarray(rows[:, None, :].astype(np.uint8)))
    return mood, col.resize((S, S), Image.NEAREST), bot


def _clouds(r, c, S, horizon, mood):
    if mood == "overcast":
        cover = r.uniform(0.5, 1.0)
    else:
        cover = r.random() ** 1.7 * 0.8
    if mood == "sunset":
        base = (250, 200, 180)
    elif mood == "dusk":
        base = (120, 110, 150)
    elif mood == "overcast":
        base = (215, 215, 220)
    else:
        base = (250, 250, 250)
    n = int(cover * 14)
    for _ in range(n):
        cx = r.uniform(-0.1, 1.1) * S
        cy = r.uniform(0.03, 0.85) * horizon
        w = r.uniform(0.12, 0.35) * S * (1.6 if mood == "overcast" else 1)
        h = w * r.uniform(0.2, 0.45)
        col = _jit(r, base, 10)
        shade = _mix(col, (120, 120, 135), 0.35)
        # Flat-bottomed puff: darker underside, bumps on top.
        c.ellipse(cx - w / 2, cy - h / 3, cx + w / 2, cy + h / 3, shade, CLOUD)
        for _ in range(r.randint(3, 6)):
            px = cx + r.uniform(-0.38, 0.38) * w
            pr = r.uniform(0.15, 0.3) * w
            c.ellipse(px - pr, cy - pr * 0.9 - h * 0.1, px + pr, cy + pr * 0.5 - h * 0.1, col, CLOUD)


def _mountains(r, c, S, horizon, sky_bot):
    ranges = r.choices([0, 1, 2], weights=[0.3, 0.45, 0.25])[0]
    for k in range(ranges):
        far = ranges - k  # drawn far to near
        height = r.uniform(0.12, 0.45) * horizon * (1.0 if far > 1 else 0.8)
        rocky = r.random() < 0.6
        if rocky:
            base = r.choice([(100, 110, 130), (120, 115, 125), (90, 100, 115), (130, 125, 115)])
        else:
            base = r.choice([(80, 110, 80), (95, 120, 85), (70, 100, 90)])
        col = _mix(_jit(r, base, 10), sky_bot, 0.25 * far)
        pts = [(-5, horizon + 2)]
        x = -5.0
        y = horizon - height * r.uniform(0.2, 0.6)
        peaks = []
        step = S * (r.uniform(0.04, 0.1) if rocky else r.uniform(0.12, 0.25))
        while x < S + 5:
            pts.append((x, y))
            x += step * r.uniform(0.6, 1.4)
            y = min(horizon - 2, max(horizon - height, y + r.uniform(-0.6, 0.6) * height))
            if y < horizon - 0.8 * height:
                peaks.append((x, y))
        pts.append((S + 5, y))
        pts.append((S + 5, horizon + 2))
        c.poly(pts, col, MOUNTAIN)
        if rocky and r.random() < 0.45:
            snow = _mix((240, 240, 245), sky_bot, 0.15)
            for px, py in peaks:
                s = height * 0.15
                c.poly([(px, py), (px - s, py + s * 1.2), (px + s, py + s * 1.2)], snow, MOUNTAIN)


def _ground(r, c, S, horizon):
    gcol = _jit(r, r.choice(_GRASS), 12)
    far = _mix(gcol, (150, 170, 150), 0.25)
    # Two bands: a hazier far field and the near field, so grass is not one flat colour.
    c.rect(0, horizon, S, S, gcol, GRASS)
    c.rect(0, horizon, S, horizon + (S - horizon) * 0.25, far, GRASS)
    return gcol


def _road(r, c, S, horizon, ground_top):
    col = r.choice([(90, 90, 95), (70, 70, 75), (170, 150, 120), (150, 130, 100), (120, 115, 110)])
    col = _jit(r, col, 10)
    kind = r.random()
    if kind < 0.5:
        # Road receding to a vanishing point on the horizon.
        vx = r.uniform(0.2, 0.8) * S
        w_far = r.uniform(0.01, 0.04) * S
        w_near = r.uniform(0.3, 0.8) * S
        bx = vx + r.uniform(-0.4, 0.4) * S
        c.poly([(vx - w_far, horizon), (vx + w_far, horizon), (bx + w_near / 2, S + 2), (bx - w_near / 2, S + 2)],
               col, ROAD)
    else:
        # Path crossing the foreground in front of the buildings.
        y = r.uniform(ground_top + 0.15 * (S - ground_top), S * 0.96)
        h = r.uniform(0.04, 0.1) * S
        tilt = r.uniform(-0.05, 0.05) * S
        c.poly([(-2, y - tilt), (S + 2, y + tilt), (S + 2, y + tilt + h), (-2, y - tilt + h)], col, ROAD)
    return col


def _wall(r):
    if r.random() < 0.42:
        return BRICK, _jit(r, r.choice(_BRICK), 12)
    return BUILDING, _jit(r, r.choice(_PLASTER), 10)


def _window(r, c, x0, y0, x1, y1, style, glass, frame, arch=False):
    c.rect(x0, y0, x1, y1, frame, WINDOW)
    bw = max(1.0, (x1 - x0) * 0.12)
    if arch:
        w = x1 - x0
        c.chord(x0, y0 - w / 2, x1, y0 + w / 2, 180, 360, frame, WINDOW)
        c.chord(x0 + bw, y0 - w / 2 + bw, x1 - bw, y0 + w / 2, 180, 360, glass, WINDOW)
    c.rect(x0 + bw, y0 + bw, x1 - bw, y1 - bw, glass, WINDOW)
    if style == 1 and x1 - x0 > 6:
        mx = (x0 + x1) / 2
        my = (y0 + y1) / 2
        c.rect(mx - bw / 2, y0, mx + bw / 2, y1, frame, WINDOW)
        c.rect(x0, my - bw / 2, x1, my + bw / 2, frame, WINDOW)
    # A small highlight so glass reads as glass.
    hl = _mix(glass, (255, 255, 255), 0.35)
    c.rect(x0 + bw, y0 + bw, x0 + bw + max(1, (x1 - x0) * 0.2), y0 + bw + max(1, (y1 - y0) * 0.3), hl, WINDOW)


def _door(r, c, cx, base, w, h, arch):
    col = _jit(r, r.choice(_DOOR), 10)
    frame = _mix(col, (30, 20, 15), 0.4)
    c.rect(cx - w / 2 - 1, base - h - 1, cx + w / 2 + 1, base, frame, DOOR)
    c.rect(cx - w / 2, base - h, cx + w / 2, base, col, DOOR)
    if arch:
        c.chord(cx - w / 2 - 1, base - h - w / 2 - 1, cx + w / 2 + 1, base - h + w / 2 + 1, 180, 360, frame, DOOR)
        c.chord(cx - w / 2, base - h - w / 2, cx + w / 2, base - h + w / 2, 180, 360, col, DOOR)
    if w > 6:
        # Panel line / split for double doors.
        c.rect(cx - 0.5, base - h, cx + 0.5, base, frame, DOOR)
    knob = _mix(col, (230, 200, 120), 0.6)
    c.rect(cx + w * 0.25, base - h * 0.5, cx + w * 0.25 + max(1, w * 0.08), base - h * 0.5 + max(1, w * 0.08), knob,
           DOOR)


def _glass(r, mood):
    if mood == "dusk" or (mood == "sunset" and r.random() < 0.4):
        return _jit(r, (240, 200, 110), 15)
    return _jit(r, r.choice([(60, 80, 110), (40, 55, 75), (90, 120, 150), (30, 35, 45), (110, 140, 170)]), 10)


def _windows_grid(r, c, x0, x1, top, bottom, mood, door_span, arch=False):
    """Rows/columns of windows over a wall, leaving the door column free on the ground floor."""
    W = x1 - x0
    H = bottom - top
    if W < 10 or H < 10:
        return
    ww = W * r.uniform(0.1, 0.2)
    wh = ww * r.uniform(1.1, 1.8)
    cols = max(1, min(5, int(W / (ww * r.uniform(1.6, 2.6)))))
    rows = max(1, min(3, int(H / (wh * r.uniform(1.5, 2.2)))))
    glass = _glass(r, mood)
    frame = _jit(r, r.choice([(240, 240, 235), (60, 45, 35), (90, 90, 95), (200, 190, 170)]), 8)
    style = r.randint(0, 1)
    gap_x = (W - cols * ww) / (cols + 1)
    gap_y = (H - rows * wh) / (rows + 1)
    skip = r.random() * 0.25
    for i in range(rows):
        for j in range(cols):
            wx = x0 + gap_x + j * (ww + gap_x)
            wy = top + gap_y + i * (wh + gap_y)
            if door_span and i == rows - 1 and wx < door_span[1] + 2 and wx + ww > door_span[0] - 2 and wy + wh > door_span[2]:
                continue
            if r.random() < skip:
                continue
            _window(r, c, wx, wy, wx + ww, wy + wh, style, glass, frame, arch)


def _house(r, c, cx, base, scale, mood):
    w = scale * r.uniform(0.8, 1.4)
    h = scale * r.uniform(0.45, 0.9)
    x0, x1 = cx - w / 2, cx + w / 2
    top = base - h
    cls, wall = _wall(r)
    rcol = _jit(r, r.choice(_ROOF), 10)
    over = w * r.uniform(0.03, 0.1)
    rh = h * r.uniform(0.35, 0.9)
    kind = r.random()
    inset = w * r.uniform(0.15, 0.35)
    if kind < 0.5:
        apex = [(cx, top - rh)]
    elif kind < 0.85:
        apex = [(x0 + inset, top - rh * 0.7), (x1 - inset, top - rh * 0.7)]
    else:
        apex = [(x0 - over, top - h * 0.06), (x1 + over, top - h * 0.06)]
    if r.random() < 0.5:
        # Oblique side wall so some houses read as boxes rather than flat facades.
        side = r.choice([-1, 1])
        sw = w * r.uniform(0.25, 0.55)
        rise = sw * r.uniform(0.25, 0.4)
        ex = x1 if side > 0 else x0
        dx = side * sw
        c.poly([(ex, base), (ex + dx, base - rise), (ex + dx, top - rise), (ex, top)], _mix(wall, (20, 20, 30), 0.28),
               cls)
        ax, ay = apex[-1] if side > 0 else apex[0]
        eo = ex + side * over
        c.poly([(ax, ay), (eo, top + 1), (eo + dx, top + 1 - rise), (ax + dx, ay - rise)], _mix(rcol, (15, 15, 20), 0.3),
               ROOF)
        if sw > 8:
            # One window on the side wall, sheared with the wall.
            wx0 = ex + dx * 0.35
            wx1 = ex + dx * 0.65
            wy0 = top + h * 0.25
            wy1 = top + h * 0.55
            k = rise / sw
            gl = _mix(_glass(r, mood), (0, 0, 0), 0.2)
            c.poly([(wx0, wy0 - abs(wx0 - ex) * k), (wx1, wy0 - abs(wx1 - ex) * k), (wx1, wy1 - abs(wx1 - ex) * k),
                    (wx0, wy1 - abs(wx0 - ex) * k)], gl, WINDOW)
    c.rect(x0, top, x1, base, wall, cls)
    # Roof sits on the wall top: gable triangle, hip trapezoid or flat parapet.
    if kind < 0.5:
        c.poly([(x0 - over, top + 1), (x1 + over, top + 1), apex[0]], rcol, ROOF)
    elif kind < 0.85:
        c.poly([(x0 - over, top + 1), (x1 + over, top + 1), apex[1], apex[0]], rcol, ROOF)
    else:
        c.rect(x0 - over, top - h * 0.06, x1 + over, top + 1, rcol, ROOF)
    if kind < 0.85 and r.random() < 0.4:
        chx = cx + r.choice([-1, 1]) * w * r.uniform(0.12, 0.25)
        chw = w * 0.07
        c.rect(chx, top - rh * 0.85, chx + chw, top - rh * 0.3, _jit(r, r.choice(_BRICK), 10), BRICK)
    dw = w * r.uniform(0.12, 0.2)
    dh = min(h * r.uniform(0.45, 0.7), dw * r.uniform(1.7, 2.4))
    dcx = cx + r.uniform(-0.3, 0.3) * w
    _door(r, c, dcx, base, dw, dh, r.random() < 0.25)
    _windows_grid(r, c, x0, x1, top, base, mood, (dcx - dw / 2, dcx + dw / 2, base - dh))
    if r.random() < 0.35:
        # Bushes along the facade base.
        for _ in range(r.randint(1, 3)):
            bx = r.uniform(x0, x1)
            if abs(bx - dcx) < dw:
                continue
            br = w * r.uniform(0.06, 0.12)
            bcol = _jit(r, r.choice(_TREE), 12)
            c.ellipse(bx - br, base - br * 1.3, bx + br, base + br * 0.3, bcol, TREE)
    return x0, x1, top


def _dome(r, c, cx, y, w, mood):
    col = _jit(r, r.choice(_DOME), 10)
    shade = _mix(col, (20, 20, 30), 0.25)
    dh = w * r.uniform(0.45, 0.8)
    # Drum (part of the dome structure) then the cupola, shaded on one side.
    drum = w * r.uniform(0.0, 0.25)
    if drum > 1:
        c.rect(cx - w * 0.45, y - drum, cx + w * 0.45, y + 1, _mix(col, (200, 200, 200), 0.3), DOME)
    top = y - drum
    c.chord(cx - w / 2, top - dh, cx + w / 2, top + dh, 180, 360, shade, DOME)
    c.chord(cx - w / 2 + w * 0.12, top - dh, cx + w / 2, top + dh * 0.95, 180, 360, col, DOME)
    if r.random() < 0.7:
        lw = w * 0.12
        c.rect(cx - lw / 2, top - dh - lw * 1.6, cx + lw / 2, top - dh + 1, col, DOME)
        c.line([(cx, top - dh - lw * 1.6), (cx, top - dh - lw * 3.2)], shade, DOME, max(1, int(lw * 0.3)))


def _church(r, c, cx, base, scale, mood):
    w = scale * r.uniform(0.9, 1.5)
    h = scale * r.uniform(0.55, 0.95)
    x0, x1 = cx - w / 2, cx + w / 2
    top = base - h
    cls, wall = _wall(r)
    if r.random() < 0.6:
        # Lower side wings with their own roofs.
        ww = w * r.uniform(0.25, 0.45)
        wh = h * r.uniform(0.5, 0.75)
        rcol = _jit(r, r.choice(_ROOF), 10)
        for sx in (x0 - ww, x1):
            c.rect(sx, base - wh, sx + ww, base, wall, cls)
            c.poly([(sx - 2, base - wh + 1), (sx + ww + 2, base - wh + 1), (sx + ww / 2, base - wh - wh * 0.3)], rcol, ROOF)
            _windows_grid(r, c, sx, sx + ww, base - wh, base, mood, None, arch=True)
    c.rect(x0, top, x1, base, wall, cls)
    dome_kind = r.random()
    if dome_kind < 0.7:
        _dome(r, c, cx, top, w * r.uniform(0.5, 0.85), mood)
    elif dome_kind < 0.85:
        # Pediment roof plus a domed tower at one side.
        rcol = _jit(r, r.choice(_ROOF), 10)
        c.poly([(x0 - 2, top + 1), (x1 + 2, top + 1), (cx, top - h * 0.3)], rcol, ROOF)
        tw = w * r.uniform(0.18, 0.3)
        tx = x0 if r.random() < 0.5 else x1 - tw
        th = h * r.uniform(0.5, 0.9)
        c.rect(tx, top - th, tx + tw, top + 1, wall, cls)
        _dome(r, c, tx + tw / 2, top - th, tw * 1.1, mood)
    else:
        # Bell tower with a pointed spire.
        rcol = _jit(r, r.choice(_ROOF), 10)
        c.poly([(x0 - 2, top + 1), (x1 + 2, top + 1), (cx, top - h * 0.35)], rcol, ROOF)
        tw = w * r.uniform(0.2, 0.32)
        tx = cx - tw / 2 + r.choice([-1, 0, 1]) * (w / 2 - tw / 2)
        th = h * r.uniform(0.7, 1.2)
        c.rect(tx, top - th, tx + tw, top + 1, wall, cls)
        c.poly([(tx - 1, top - th + 1), (tx + tw + 1, top - th + 1), (tx + tw / 2, top - th - tw * r.uniform(1.2, 2.5))],
               rcol, ROOF)
        _window(r, c, tx + tw * 0.3, top - th + tw * 0.5, tx + tw * 0.7, top - th + tw * 1.3, 0, (30, 30, 35),
                _mix(wall, (40, 40, 40), 0.3), arch=True)
    dw = w * r.uniform(0.14, 0.22)
    dh = min(h * r.uniform(0.5, 0.75), dw * r.uniform(1.6, 2.2))
    _door(r, c, cx, base, dw, dh, r.random() < 0.8)
    _windows_grid(r, c, x0, x1, top, base, mood, (cx - dw / 2, cx + dw / 2, base - dh), arch=r.random() < 0.7)
    return x0, x1, top


def _tree(r, c, cx, base, scale, palette):
    kind = r.choices(["round", "conifer", "poplar"], weights=[0.5, 0.3, 0.2])[0]
    col = _jit(r, r.choice(palette), 12)
    dark = _mix(col, (10, 25, 10), 0.35)
    light = _mix(col, (200, 230, 120), 0.2)
    trunk = _jit(r, r.choice(_TRUNK), 8)
    h = scale * r.uniform(0.6, 1.4)
    if kind == "round":
        tw = h * 0.07
        c.rect(cx - tw / 2, base - h * 0.55, cx + tw / 2, base, trunk, TREE)
        cr = h * r.uniform(0.25, 0.38)
        ccy = base - h + cr
        c.ellipse(cx - cr, ccy - cr, cx + cr, ccy + cr, dark, TREE)
        for _ in range(r.randint(3, 6)):
            pr = cr * r.uniform(0.4, 0.7)
            px = cx + r.uniform(-0.55, 0.45) * cr
            py = ccy + r.uniform(-0.6, 0.3) * cr
            c.ellipse(px - pr, py - pr, px + pr, py + pr, col if r.random() < 0.7 else light, TREE)
    elif kind == "conifer":
        tw = h * 0.06
        c.rect(cx - tw / 2, base - h * 0.2, cx + tw / 2, base, trunk, TREE)
        cw = h * r.uniform(0.25, 0.4)
        tiers = r.randint(2, 4)
        dcol = _mix(col, (20, 50, 40), 0.3)
        for k in range(tiers):
            t0 = base - h * 0.12 - k * (h * 0.85 / tiers)
            tww = cw * (1 - k / (tiers + 0.8))
            c.poly([(cx - tww, t0), (cx + tww, t0), (cx, t0 - h * 0.85 / tiers * 1.7)], dcol if k % 2 else _mix(dcol, col, 0.5), TREE)
    else:
        tw = h * 0.05
        c.rect(cx - tw / 2, base - h * 0.3, cx + tw / 2, base, trunk, TREE)
        pw = h * r.uniform(0.12, 0.2)
        c.ellipse(cx - pw, base - h, cx + pw, base - h * 0.12, dark, TREE)
        c.ellipse(cx - pw * 0.8, base - h * 0.97, cx + pw * 0.6, base - h * 0.2, col, TREE)


# ---------------------------------------------------------------- compositing


def _noise(g, n, S):
    """Value noise at n×n upsampled to S×S, zero mean, roughly unit range."""
    small = (g.random((n, n), dtype=np.float32) * 255).astype(np.uint8)
    big = Image.fromarray(small).resize((S, S), Image.BILINEAR)
    return np.asarray(big, dtype=np.float32) * (2.0 / 255.0) - 1.0


def _texture(g, r, arr, lab, S, light):
    """Multiplies in per-class texture and the global light; paints brick mortar and roof tiles."""
    low = _noise(g, 6, S)
    med = _noise(g, S // 6, S)
    fine = g.random((S, S), dtype=np.float32)
    fine -= 0.5
    f = np.take(_TEX[:, 0], lab) * low
    f += np.take(_TEX[:, 1], lab) * med
    f += np.take(_TEX[:, 2], lab) * (2 * fine)
    f += 1
    f *= light

    # Roof: horizontal tile courses, darker every few pixels.
    th = r.uniform(3.0, 6.0) * S / 256
    rows = np.nonzero((np.arange(S) % th) < 1.0)[0]
    roof_rows = lab[rows] == ROOF
    if roof_rows.any():
        sub = f[rows]
        sub[roof_rows] *= 0.78
        f[rows] = sub

    out = arr * f[..., None]

    # Brick: running bond with mortar lines; each brick gets its own tone. Only the brick
    # pixels are touched, which keeps brick-free scenes cheap.
    by, bx = np.nonzero(lab == BRICK)
    mcol = np.array(r.choice([(205, 200, 190), (190, 185, 175), (225, 220, 210), (215, 205, 185)]), np.float32)
    if len(by):
        bh = r.uniform(5.0, 7.5) * S / 256
        bw = bh * r.uniform(2.0, 2.6)
        mw = max(1.0, bh * 0.28)
        yf = by.astype(np.float32)
        xf = bx.astype(np.float32)
        row = np.floor(yf / bh)
        shift = (row % 2) * bw * 0.5
        col = np.floor((xf + shift) / bw)
        mortar = ((yf - row * bh) < mw) | ((xf + shift - col * bw) < mw)
        tone = 1 + 0.06 * np.sin((row * 7919 + col * 104729) % 997 * 12.9898)
        px = out[by, bx] * tone[:, None]
        px[mortar] = px[mortar] * 0.3 + mcol * 0.7 * f[by[mortar], bx[mortar], None]
        out[by, bx] = px
    return out


def _majority(lab, size):
    """2×2 majority vote; ties (and four different labels) keep the top-left sample."""
    a = lab[0::2, 0::2]
    b = lab[0::2, 1::2]
    c = lab[1::2, 0::2]
    d = lab[1::2, 1::2]
    lone = (a != b) & (a != c) & (a != d)
    out = a.copy()
    pick_b = lone & ((b == c) | (b == d))
    pick_c = lone & ~pick_b & (c == d)
    out[pick_b] = b[pick_b]
    out[pick_c] = c[pick_c]
    return out


def render(seed, size=128):
    """Render scene `seed` at `size`×`size`.

    Returns (rgb uint8 [size,size,3], labels uint8 [size,size]) where labels index CLASSES.
    Drawing happens at 2× and is box-filtered down so edges are anti-aliased; each label
    pixel is the majority label of its 2×2 block (ties go to the top-left sample).
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 8:
        raise ValueError(f"size must be an int >= 8, got {size!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    seed = int(seed)
    S = size * 2
    r = random.Random(seed)
    g = np.random.Generator(np.random.PCG64(seed))

    horizon = int(S * r.uniform(0.42, 0.66))
    mood, sky_img, sky_bot = _sky(r, S, horizon)
    c = _Canvas(sky_img, S)
    if mood in ("sunset", "day") and r.random() < 0.3:
        # The sun is painted as part of the sky.
        sr = S * r.uniform(0.03, 0.06)
        sx = S * r.uniform(0.1, 0.9)
        sy = horizon * (r.uniform(0.55, 0.95) if mood == "sunset" else r.uniform(0.1, 0.4))
        scol = (255, 220, 150) if mood == "sunset" else (255, 252, 230)
        c.ellipse(sx - sr * 1.8, sy - sr * 1.8, sx + sr * 1.8, sy + sr * 1.8, _mix(scol, sky_bot, 0.6), SKY)
        c.ellipse(sx - sr, sy - sr, sx + sr, sy + sr, scol, SKY)
    _clouds(r, c, S, horizon, mood)
    _mountains(r, c, S, horizon, sky_bot)
    _ground(r, c, S, horizon)

    # Objects sit on the ground between the horizon and the bottom; nearer ones (lower base)
    # are larger and drawn later so occlusion is right.
    objs = []
    nb = r.choices([0, 1, 2, 3], weights=[0.06, 0.5, 0.32, 0.12])[0]
    slots = list(range(3))
    r.shuffle(slots)
    for k in range(nb):
        base = horizon + (S - horizon) * r.uniform(0.15, 0.75)
        depth = (base - horizon) / (S - horizon)
        scale = S * (0.25 + 0.35 * depth) * r.uniform(0.85, 1.2)
        cx = S * (slots[k % 3] + 0.5) / 3 + r.uniform(-0.12, 0.12) * S
        if nb == 1:
            cx = S * r.uniform(0.3, 0.7)
        kind = "church" if r.random() < 0.5 else "house"
        objs.append((base, kind, cx, scale))
    palette = _AUTUMN if r.random() < 0.15 else _TREE
    nt = r.choices(range(6), weights=[0.12, 0.2, 0.22, 0.2, 0.14, 0.12])[0]
    for _ in range(nt):
        base = horizon + (S - horizon) * r.uniform(0.05, 1.0)
        depth = (base - horizon) / (S - horizon)
        scale = S * (0.12 + 0.45 * depth) * r.uniform(0.7, 1.3)
        objs.append((base, "tree", S * r.uniform(-0.05, 1.05), scale))
    if r.random() < 0.55:
        ground_top = min([o[0] for o in objs if o[1] != "tree"], default=horizon)
        _road(r, c, S, horizon, ground_top)
    objs.sort(key=lambda o: o[0])
    for base, kind, cx, scale in objs:
        if kind == "tree":
            _tree(r, c, cx, base, scale, palette)
        elif kind == "church":
            _church(r, c, cx, base, scale, mood)
        else:
            _house(r, c, cx, base, scale, mood)

    arr = np.asarray(c.img, dtype=np.float32)
    lab = np.asarray(c.lab, dtype=np.uint8)

    # Global light: brightness, a colour tint (warm at sunset), and a soft left-right sun ramp.
    bright = r.uniform(0.78, 1.12)
    if mood == "sunset":
        tint = np.array([1.08, 0.95, 0.85], np.float32)
    elif mood == "dusk":
        tint = np.array([0.8, 0.8, 0.95], np.float32)
        bright *= 0.8
    else:
        tint = np.array([r.uniform(0.94, 1.06), r.uniform(0.96, 1.04), r.uniform(0.94, 1.06)], np.float32)
    ramp = (1 + r.uniform(-0.12, 0.12) * (np.arange(S, dtype=np.float32) / S - 0.5)) * bright
    out = _texture(g, r, arr, lab, S, ramp[None, :])
    out *= tint
    np.clip(out, 0, 255, out=out)
    rgb = np.asarray(Image.fromarray(out.astype(np.uint8)).reduce(2))
    return rgb, _majority(lab, size)


def preview_grid(seeds, size=128, cols=8, render_fn=None):
    """Side-by-side grids of renders and their label colour maps, as one PIL image. render_fn is the
    scene world's render (default: this module's, v1)."""
    render_fn = render_fn or render
    n = len(seeds)
    rows = (n + cols - 1) // cols
    pics = Image.new("RGB", (cols * size * 2 + 8, rows * size), (255, 255, 255))
    for i, s in enumerate(seeds):
        rgb, lab = render_fn(s, size)
        x, y = (i % cols) * size, (i // cols) * size
        pics.paste(Image.fromarray(rgb), (x, y))
        pics.paste(Image.fromarray(colorize(lab)), (cols * size + 8 + x, y))
    return pics


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="Write a preview grid of scenes and their label maps.")
    ap.add_argument("--out", default="training/runs/scenes_preview.png", help="PNG path")
    ap.add_argument("--first", type=int, default=0, help="first seed (default 0)")
    ap.add_argument("--count", type=int, default=64, help="number of scenes (default 64)")
    ap.add_argument("--size", type=int, default=64, help="tile size in pixels (default 64, keeps the PNG small)")
    a = ap.parse_args()
    preview_grid(list(range(a.first, a.first + a.count)), a.size).save(a.out, optimize=True)
