"""Procedural demo art for the 14 Batik Cual motifs of Bangka Belitung.

Cualify needs pictures before real photographs of the cloth exist: for the
demo catalogue, for fixtures and for training a toy classifier.  This module
draws a stylised Batik Cual sample for any motif slug: a jittered maroon
"gula mutung" ground, small filler ornaments in the ground, an optional
ornamental border and the motif itself in gold with cream/ochre details and
muted green, navy, pink and red accents.

Only Pillow and numpy are used (no Django), so the module can run anywhere.

    >>> img = render_motif("merak", seed=7, size=256)

Everything that varies between images comes from one numpy Generator seeded
from the slug and the seed, so a (slug, seed) pair always gives the same
composition, and the same pixels at a given size.
"""
from __future__ import annotations

import colorsys
import math
import zlib

import numpy as np
from PIL import Image, ImageDraw

# The fixed slugs, in the seed catalogue's order (that module is plain Python too).
from .catalogue import MOTIF_SLUGS

__all__ = ["MOTIF_SLUGS", "render_motif"]

MIN_SIZE = 32
MAX_SIZE = 2048

# Drawing happens on a canvas this many times larger, then LANCZOS brings it
# down: Pillow's polygons and lines have no anti-aliasing of their own.
_SUPERSAMPLE = 2

TAU = 2.0 * math.pi

# Reference colours of the cloth, jittered per image by _palette().
_BASE_COLOURS = {
    "ground": (112, 28, 30),  # gula mutung: burnt-sugar maroon
    "gold": (216, 166, 64),
    "ochre": (178, 114, 40),
    "cream": (240, 224, 188),
    "green": (96, 122, 76),
    "navy": (46, 58, 102),
    "pink": (214, 116, 122),
    "red": (172, 46, 40),
}


# ---------------------------------------------------------------------------
# Colour
# ---------------------------------------------------------------------------

def _mix(a, b, t):
    """Blend two RGB tuples: t=0 gives a, t=1 gives b."""
    return tuple(int(round(x + (y - x) * t)) for x, y in zip(a, b))


def _palette(rng):
    # One hue/brightness shift for the whole cloth (a different dye bath),
    # plus a smaller one per colour (each dye batch drifts a little).
    hue_shift = rng.uniform(-0.025, 0.025)
    brightness = rng.uniform(0.86, 1.12)
    pal = {}
    for name, rgb in _BASE_COLOURS.items():
        h, s, v = colorsys.rgb_to_hsv(*(c / 255.0 for c in rgb))
        h = (h + hue_shift + rng.uniform(-0.012, 0.012)) % 1.0
        s = min(1.0, s * rng.uniform(0.88, 1.1))
        v = min(1.0, v * brightness * rng.uniform(0.94, 1.06))
        pal[name] = tuple(int(round(c * 255)) for c in colorsys.hsv_to_rgb(h, s, v))
    pal["ground_deco"] = _mix(pal["ground"], pal["ochre"], rng.uniform(0.3, 0.5))
    pal["ground_dark"] = _mix(pal["ground"], (0, 0, 0), 0.35)
    pal["dark"] = _mix(pal["ground"], (0, 0, 0), 0.55)
    # Outline ("klowong") colour: most Cual pieces outline in cream, some in
    # a dark brown; both occur so the classifier cannot lean on it.
    if rng.random() < 0.65:
        pal["line"] = pal["cream"]
    else:
        pal["line"] = _mix(pal["ochre"], (0, 0, 0), 0.45)
    return pal


# ---------------------------------------------------------------------------
# Geometry helpers (pure functions on (N, 2) point arrays, y pointing down)
# ---------------------------------------------------------------------------

def _rotate(points, angle):
    c, s = math.cos(angle), math.sin(angle)
    return np.asarray(points, dtype=float).reshape(-1, 2) @ np.array([[c, s], [-s, c]])


def _bezier(p0, p1, p2, p3, n=24):
    """Points along a cubic Bezier curve."""
    t = np.linspace(0.0, 1.0, n)[:, None]
    p0, p1, p2, p3 = (np.asarray(p, dtype=float) for p in (p0, p1, p2, p3))
    u = 1.0 - t
    return u**3 * p0 + 3 * u**2 * t * p1 + 3 * u * t**2 * p2 + t**3 * p3


def _ribbon(centre, half_width):
    """Outline of a stroke of varying width around a centre line.

    half_width is a scalar or one value per centre point; a profile that goes
    to zero at the ends gives petals, leaves, plumes and tentacles.
    """
    c = np.asarray(centre, dtype=float)
    d = np.gradient(c, axis=0)
    d /= np.linalg.norm(d, axis=1, keepdims=True) + 1e-12
    normal = np.stack([-d[:, 1], d[:, 0]], axis=1)
    hw = np.broadcast_to(np.asarray(half_width, dtype=float), (len(c),))[:, None]
    return np.vstack([c + normal * hw, (c - normal * hw)[::-1]])


def _ellipse(cx, cy, rx, ry, angle=0.0, n=28):
    t = np.linspace(0.0, TAU, n, endpoint=False)
    pts = np.stack([rx * np.cos(t), ry * np.sin(t)], axis=1)
    return _rotate(pts, angle) + (cx, cy)


def _arc(cx, cy, r, a0, a1, n=16):
    t = np.linspace(a0, a1, n)
    return np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], axis=1)


def _leaf(length, width, bend=0.0, n=14):
    """Almond-shaped leaf or petal from the origin along +x."""
    t = np.linspace(0.0, 1.0, n)
    centre = np.stack([t * length, bend * length * t**2], axis=1)
    return _ribbon(centre, width * np.sin(np.pi * t) ** 0.8)


def _polar(r, a):
    return np.array([r * math.cos(a), r * math.sin(a)])


# ---------------------------------------------------------------------------
# Canvas and pen
# ---------------------------------------------------------------------------

class _Canvas:
    """The supersampled image plus what every motif needs to draw on it."""

    def __init__(self, size, pal, line_frac):
        self.w = size * _SUPERSAMPLE
        self.img = Image.new("RGB", (self.w, self.w), pal["ground"])
        self.draw = ImageDraw.Draw(self.img)
        self.pal = pal
        self.lw = line_frac * self.w  # base line width in canvas pixels

    def pen(self, cx, cy, scale, angle=0.0, mirror=False):
        return _Pen(self, cx, cy, scale, angle, mirror)


class _Pen:
    """Draws a figure in its own local frame.

    Local units: the figure's nominal radius is 1, y points down, and the
    pen maps them to the canvas with a scale (fraction of the image), an
    angle, an optional mirror and a centre (fractions of the image).
    """

    def __init__(self, canvas, cx, cy, scale, angle, mirror):
        self.d = canvas.draw
        c, s = math.cos(angle), math.sin(angle)
        m = np.array([[c, -s], [s, c]]) * scale * canvas.w
        if mirror:
            m = m @ np.diag([-1.0, 1.0])
        self.m_t = m.T
        self.origin = np.array([cx, cy]) * canvas.w
        self.px = scale * canvas.w  # canvas pixels per local unit
        # Small figures get thinner lines, but never a different look.
        self.lw = canvas.lw * min(1.4, max(0.55, scale / 0.3) ** 0.5)

    def xy(self, pts):
        p = np.asarray(pts, dtype=float).reshape(-1, 2) @ self.m_t + self.origin
        return [tuple(q) for q in p.tolist()]

    def width(self, w):
        return max(1, int(round(w * self.lw)))

    def poly(self, pts, fill=None, outline=None, width=1.0):
        xy = self.xy(pts)
        if fill is not None:
            self.d.polygon(xy, fill=fill)
        if outline is not None:
            self.d.line(xy + xy[:1], fill=outline, width=self.width(width), joint="curve")

    def line(self, pts, fill, width=1.0):
        self.d.line(self.xy(pts), fill=fill, width=self.width(width), joint="curve")

    def circle(self, centre, r, fill=None, outline=None, width=1.0):
        (x, y), = self.xy(centre)
        rr = max(0.5, r * self.px)
        self.d.ellipse(
            [x - rr, y - rr, x + rr, y + rr],
            fill=fill,
            outline=outline,
            width=self.width(width) if outline is not None else 0,
        )

    def dot(self, centre, r, fill):
        self.circle(centre, r, fill=fill)


# ---------------------------------------------------------------------------
# Ground, border, layout, texture
# ---------------------------------------------------------------------------

def _decorate_ground(cv, rng):
    """Isen-isen: the small filler marks batik makers put in empty ground."""
    style = rng.choice(["dots", "grid", "dashes", "sprigs", "plain"], p=[0.28, 0.22, 0.2, 0.2, 0.1])
    pen = cv.pen(0.0, 0.0, 1.0)
    col = cv.pal["ground_deco"]
    r = rng.uniform(0.003, 0.006)
    if style == "dots":
        for x, y in rng.uniform(0, 1, size=(int(rng.integers(60, 160)), 2)):
            pen.dot((x, y), r, col)
    elif style == "grid":
        step = rng.uniform(0.045, 0.08)
        off = rng.uniform(0, step, size=2)
        for i, y in enumerate(np.arange(off[1], 1.0, step)):
            for x in np.arange(off[0] + (step / 2) * (i % 2), 1.0, step):
                pen.dot((x, y), r, col)
    elif style == "dashes":
        n = int(rng.integers(50, 120))
        for (x, y), a in zip(rng.uniform(0, 1, size=(n, 2)), rng.uniform(0, TAU, n)):
            d = _polar(rng.uniform(0.008, 0.016), a)
            pen.line([(x, y) - d, (x, y) + d], col, width=0.7)
    elif style == "sprigs":
        for x, y in rng.uniform(0, 1, size=(int(rng.integers(25, 60)), 2)):
            for k in range(4):
                pen.dot((x, y) + _polar(2.2 * r, k * TAU / 4 + 0.4), r, col)


def _draw_border(cv, rng, band):
    """A framed band around the cloth with a repeating ornament in it.

    Triangles are deliberately not among the ornaments: rows of tall
    triangles are the pucuk-rebung motif itself.
    """
    pal = cv.pal
    pen = cv.pen(0.0, 0.0, 1.0)
    b = band
    # Band background and frame lines.
    for x0, y0, x1, y1 in ((0, 0, 1, b), (0, 1 - b, 1, 1), (0, 0, b, 1), (1 - b, 0, 1, 1)):
        pen.poly([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], fill=pal["ground_dark"])
    gold = pal["gold"]
    for inset in (0.2 * b, b):
        pen.poly([(inset, inset), (1 - inset, inset), (1 - inset, 1 - inset), (inset, 1 - inset)],
                 outline=gold, width=1.0)
    style = rng.choice(["beads", "diamonds", "scallops", "wave"])
    mid = 0.6 * b
    half = 0.32 * b
    count = int(rng.integers(9, 16))
    ts = np.linspace(mid, 1 - mid, count)
    accent = pal[rng.choice(["cream", "pink", "green", "gold"])]
    for side in range(4):
        # Evenly spaced points along the middle of this side of the band.
        pts = [(t, mid) if side == 0 else (t, 1 - mid) if side == 1 else
               (mid, t) if side == 2 else (1 - mid, t) for t in ts]
        along = np.array([1.0, 0.0]) if side < 2 else np.array([0.0, 1.0])
        across = along[::-1]
        if style == "beads":
            for p in pts:
                pen.circle(p, 0.6 * half, fill=accent, outline=gold, width=0.8)
        elif style == "diamonds":
            for p in pts:
                p = np.array(p)
                q = [p + along * half * 1.2, p + across * half, p - along * half * 1.2, p - across * half]
                pen.poly(q, fill=accent, outline=gold, width=0.8)
        elif style == "scallops":
            step = (1 - 2 * mid) / (count - 1)
            outward = across * (-1 if side in (0, 2) else 1)
            a0 = math.atan2(outward[1], outward[0])
            for p in pts[:-1]:
                p = np.array(p) + along * step / 2 - outward * half * 0.5
                pen.line(_arc(p[0], p[1], step / 2, a0 - math.pi / 2, a0 + math.pi / 2), gold, width=1.0)
                pen.dot(p, 0.25 * half, accent)
        else:  # wave
            t = np.linspace(mid, 1 - mid, 120)
            w = half * 0.8 * np.sin((t - mid) / (1 - 2 * mid) * TAU * (count // 2))
            c = np.array(pts[0]) * across
            line = np.outer(t, along) + c + np.outer(w, across)
            pen.line(line, gold, width=1.2)
    for corner in ((mid, mid), (1 - mid, mid), (mid, 1 - mid), (1 - mid, 1 - mid)):
        pen.circle(corner, half, fill=pal["gold"], outline=pal["line"], width=0.8)


def _layout(rng, lo, hi, n, radius, tries=300):
    """n centres inside [lo, hi]^2 that keep figures of this radius apart."""
    a, b = lo + radius, hi - radius
    if b <= a:
        a = b = (lo + hi) / 2
    centres = []
    for _ in range(tries):
        if len(centres) == n:
            break
        p = rng.uniform(a, b, size=2)
        if all(np.hypot(*(p - q)) >= 1.7 * radius for q in centres):
            centres.append(p)
    while len(centres) < n:  # crowded: accept overlaps rather than loop forever
        centres.append(rng.uniform(a, b, size=2))
    return centres


def _repeats(rng, lo, hi, choices, weights, single):
    """Pick how many copies of a figure to draw and a jittered size for them.

    `single` is the radius of a lone figure as a fraction of the free area;
    more copies shrink it so they still fit.
    """
    n = int(rng.choice(choices, p=weights))
    span = hi - lo
    # Shrink factors chosen so that n figures fit side by side without overlap.
    shrink = (1.0, 0.62, 0.5, 0.42)[min(n, 4) - 1]
    radius = span * single * shrink * rng.uniform(0.85, 1.15)
    radius = min(radius, span / 2 * 0.98)
    return _layout(rng, lo, hi, n, radius), radius


def _texture(img, rng):
    """Cloth-like finish: fine grain, a faint weave and slow dye mottling."""
    arr = np.asarray(img, dtype=np.float32)
    h, w, _ = arr.shape
    grain = rng.normal(0.0, rng.uniform(3.0, 6.0), size=(h, w, 1)).astype(np.float32)
    yy = np.arange(h, dtype=np.float32)[:, None]
    xx = np.arange(w, dtype=np.float32)[None, :]
    phase = rng.uniform(0, TAU, 2)
    weave = (np.sin(yy * 2.3 + phase[0]) + np.sin(xx * 2.1 + phase[1])) * rng.uniform(1.0, 2.5)
    # Mottling: a coarse random field blown up smoothly, like uneven dye uptake.
    coarse = rng.normal(0.0, 1.0, size=(6, 6)).astype(np.float32)
    mottle = np.asarray(Image.fromarray(coarse).resize((w, h), Image.BICUBIC))
    mottle = mottle * rng.uniform(3.0, 8.0)
    arr += grain + (weave + mottle)[:, :, None]
    return Image.fromarray(np.clip(arr + 0.5, 0, 255).astype(np.uint8))


# ---------------------------------------------------------------------------
# Motifs: each draws its figure(s) between lo and hi (fractions of the image)
# ---------------------------------------------------------------------------

def _kembang_kenanga(cv, rng, lo, hi):
    """Ylang-ylang: six long, narrow petals that droop and twist."""
    pal = cv.pal
    centres, radius = _repeats(rng, lo, hi, [1, 2, 3], [0.7, 0.2, 0.1], 0.46)
    for cx, cy in centres:
        pen = cv.pen(cx, cy, radius, rng.uniform(0, TAU), rng.random() < 0.5)
        droop = rng.uniform(0.25, 0.45)
        petal_w = rng.uniform(0.085, 0.12)
        fill = pal["gold"] if rng.random() < 0.8 else pal["cream"]
        for k in range(6):
            a = k * TAU / 6 + rng.uniform(-0.08, 0.08)
            t = np.linspace(0.0, 1.0, 22)
            # Petal centre line: out from the heart, curling sideways at the tip.
            local = np.stack([0.12 + 0.88 * t, droop * t**2.2], axis=1)
            centre = _rotate(local, a)
            outline = _ribbon(centre, petal_w * np.sin(np.pi * (0.08 + 0.92 * t)) ** 0.6)
            pen.poly(outline, fill=fill, outline=pal["line"], width=0.9)
            pen.line(centre[2:-4], pal["ochre"], width=0.7)
        pen.circle((0, 0), 0.2, fill=pal["ochre"], outline=pal["line"], width=0.9)
        for k in range(6):
            pen.dot(_polar(0.1, k * TAU / 6 + TAU / 12), 0.035, pal["cream"])


def _small_flower(pen, pal, kind, fill, heart):
    """A small round flower of radius ~1 in the pen's frame (for the garden)."""
    if kind == 0:  # five round petals
        for k in range(5):
            pen.circle(_polar(0.55, k * TAU / 5), 0.45, fill=fill, outline=pal["line"], width=0.7)
    elif kind == 1:  # daisy of eight pointed petals
        for k in range(8):
            pen.poly(_rotate(_leaf(1.0, 0.22), k * TAU / 8), fill=fill, outline=pal["line"], width=0.7)
    else:  # rosette of rings
        pen.circle((0, 0), 1.0, fill=fill, outline=pal["line"], width=0.7)
        pen.circle((0, 0), 0.7, outline=heart, width=0.8)
    pen.circle((0, 0), 0.3, fill=heart, outline=pal["line"], width=0.6)


def _kembang_setaman(cv, rng, lo, hi):
    """Garden: many small mixed round flowers scattered over the cloth."""
    pal = cv.pal
    n = int(rng.integers(10, 17))
    radius = (hi - lo) * rng.uniform(0.055, 0.075)
    fills = [pal["gold"], pal["pink"], pal["cream"], pal["gold"]]
    hearts = [pal["red"], pal["ochre"], pal["navy"], pal["green"]]
    for cx, cy in _layout(rng, lo, hi, n, radius * 1.1):
        r = radius * rng.uniform(0.75, 1.2)
        pen = cv.pen(cx, cy, r, rng.uniform(0, TAU))
        # A pair of little leaves behind some flowers.
        if rng.random() < 0.6:
            a = rng.uniform(0, TAU)
            for da in (0.0, 2.2):
                pen.poly(_rotate(_leaf(1.5, 0.35), a + da), fill=pal["green"], outline=pal["line"], width=0.6)
        _small_flower(pen, pal, int(rng.integers(0, 3)), fills[int(rng.integers(0, 4))],
                      hearts[int(rng.integers(0, 4))])


def _kembang_rukem(cv, rng, lo, hi):
    """Rukem: one or two branches with bunches of small round fruit hanging below."""
    pal = cv.pal
    span = hi - lo
    n_branches = int(rng.choice([1, 2], p=[0.55, 0.45]))
    # Coordinates below are relative to the image centre so that the whole
    # spray can be tilted a little as one piece.
    pen = cv.pen(0.5, 0.5, 1.0, rng.uniform(-0.25, 0.25), rng.random() < 0.5)
    if n_branches == 1:
        rows = [rng.uniform(-0.26, -0.12)]
    else:
        rows = [rng.uniform(-0.36, -0.28), rng.uniform(0.02, 0.1)]
    for y in rows:
        x0, x1 = -0.5 + lo - 0.03, 0.5 - lo - rng.uniform(0.0, 0.12)
        sag = span * rng.uniform(-0.08, 0.14)
        branch = _bezier((x0, y), (x0 + (x1 - x0) * 0.35, y + sag), (x0 + (x1 - x0) * 0.7, y + sag),
                         (x1, y + rng.uniform(-0.05, 0.05)), 30)
        pen.poly(_ribbon(branch, np.linspace(0.013, 0.005, len(branch))), fill=pal["ochre"],
                 outline=pal["line"], width=0.6)
        n_bunches = int(rng.integers(3, 6))
        berry_r = span * (rng.uniform(0.021, 0.027) if n_branches == 1 else rng.uniform(0.016, 0.02))
        for j, t in enumerate(np.linspace(0.12, 0.92, n_bunches) + rng.uniform(-0.03, 0.03, n_bunches)):
            base = branch[int(np.clip(t, 0, 1) * (len(branch) - 1))]
            tip = base + _polar(span * rng.uniform(0.03, 0.06), math.pi / 2 + rng.uniform(-0.35, 0.35))
            pen.line([base, tip], pal["ochre"], width=1.1)
            # A leaf pointing up off the branch between bunches.
            if rng.random() < 0.7:
                up = -math.pi / 2 + rng.choice([-1, 1]) * rng.uniform(0.5, 1.0)
                pen.poly(_rotate(_leaf(span * 0.12, span * 0.028, bend=0.2), up) + base,
                         fill=pal["green"], outline=pal["line"], width=0.6)
            # The bunch hangs like grapes: rows of berries, wide at the top.
            widths = [4, 3, 3, 2, 1] if n_branches == 1 else [3, 3, 2, 1]
            widths = widths[: int(rng.integers(len(widths) - 1, len(widths) + 1))]
            for r, count in enumerate(widths):
                for k in range(count):
                    p = tip + ((k - (count - 1) / 2) * 1.9 * berry_r + rng.uniform(-0.2, 0.2) * berry_r,
                               berry_r * (1.0 + 1.65 * r))
                    col = pal["gold"] if rng.random() < 0.7 else pal["red"]
                    pen.circle(p, berry_r, fill=col, outline=pal["line"], width=0.6)
                    pen.dot(p + (-berry_r * 0.3, -berry_r * 0.3), berry_r * 0.28, pal["cream"])


def _kembang_setangkai(cv, rng, lo, hi):
    """One long stem with alternate leaves and a single flower on top."""
    pal = cv.pal
    span = hi - lo
    # Always a single stalk ("setangkai") standing up the middle of the cloth.
    radius = span * 0.5 * rng.uniform(0.82, 1.0)
    cx = lo + span * (0.5 + rng.uniform(-0.1, 0.1))
    cy = 0.5 + span * rng.uniform(-0.04, 0.04)
    pen = cv.pen(cx, cy, radius, rng.uniform(-0.3, 0.3), rng.random() < 0.5)
    sway = rng.uniform(-0.35, 0.35)
    stem = _bezier((0, 1.0), (sway, 0.4), (-sway, -0.1), (0, -0.5), 30)
    pen.poly(_ribbon(stem, np.linspace(0.04, 0.022, len(stem))), fill=pal["green"],
             outline=pal["line"], width=0.7)
    for j, t in enumerate(np.linspace(0.15, 0.7, int(rng.integers(4, 7)))):
        i = int(t * (len(stem) - 1))
        side = 1 if j % 2 == 0 else -1
        # Leaves spread wide and tilt upwards, alternating left and right.
        ang = -math.pi / 2 + side * rng.uniform(0.9, 1.25)
        leaf = _rotate(_leaf(rng.uniform(0.42, 0.55), 0.12, bend=-0.25 * side), ang) + stem[i]
        pen.poly(leaf, fill=pal["green"] if rng.random() < 0.6 else pal["gold"],
                 outline=pal["line"], width=0.7)
        pen.line([stem[i], stem[i] + _rotate([(0.3, 0.0)], ang)[0]], pal["line"], width=0.5)
    # Flower: a cup of pointed petals opening upwards, seen from the side.
    top = stem[-1]
    for k, a in enumerate(np.linspace(-math.pi / 2 - 1.15, -math.pi / 2 + 1.15, 5)):
        length = 0.45 if k in (0, 4) else 0.55
        pen.poly(_rotate(_leaf(length, 0.15), a) + top, fill=pal["gold"] if k % 2 else pal["pink"],
                 outline=pal["line"], width=0.8)
    pen.circle(top, 0.11, fill=pal["ochre"], outline=pal["line"], width=0.8)


def _duck(pen, pal, walking=True, wing_col=None):
    """A duck facing +x, about 2 units long, body centred near the origin."""
    body = np.vstack([_ellipse(0.0, 0.1, 0.7, 0.4, n=30)[3:27], [(-0.95, -0.35)]])
    # The ellipse points from 3..26 skip the back end so the tail can stick up.
    pen.poly(body, fill=pal["gold"], outline=pal["line"], width=0.9)
    neck = _bezier((0.4, 0.0), (0.55, -0.3), (0.5, -0.5), (0.58, -0.7), 10)
    pen.poly(_ribbon(neck, 0.11), fill=pal["gold"], outline=None)
    pen.circle((0.6, -0.75), 0.2, fill=pal["gold"], outline=pal["line"], width=0.9)
    pen.poly([(0.74, -0.82), (1.08, -0.72), (0.76, -0.64)], fill=pal["red"], outline=pal["line"], width=0.6)
    pen.dot((0.63, -0.8), 0.045, pal["dark"])
    wing = _rotate(_leaf(0.85, 0.2, bend=0.15), math.pi + 0.15) + (0.35, 0.05)
    pen.poly(wing, fill=wing_col or pal["ochre"], outline=pal["line"], width=0.7)
    for k in range(3):
        pen.line([(0.1 - 0.18 * k, 0.0), (-0.2 - 0.18 * k, 0.12)], pal["line"], width=0.6)
    if walking:
        for x in (-0.05, 0.2):
            pen.line([(x, 0.45), (x + 0.05, 0.68), (x + 0.2, 0.7)], pal["red"], width=0.9)


def _sumping_flower(pen, pal, fill):
    """Sumping: a drooping bell with curled lobes, hanging from the origin."""
    bell = np.array([(-0.05, 0.0), (-0.3, 0.45), (-0.5, 0.85), (-0.2, 0.75), (0.0, 0.95),
                     (0.2, 0.75), (0.5, 0.85), (0.3, 0.45), (0.05, 0.0)])
    pen.poly(bell, fill=fill, outline=pal["line"], width=0.8)
    pen.line([(0.0, 0.1), (0.0, 0.8)], pal["line"], width=0.6)
    for x in (-0.5, 0.5):
        pen.dot((x, 0.88), 0.07, pal["cream"])


def _bebek_kembang_sumping(cv, rng, lo, hi):
    """Ducks flanking an arching plant hung with sumping bells."""
    pal = cv.pal
    span = hi - lo
    cx = lo + span * (0.5 + rng.uniform(-0.06, 0.06))
    scale = span * rng.uniform(0.4, 0.5)
    plant = cv.pen(cx, lo + span * rng.uniform(0.45, 0.55), scale, rng.uniform(-0.12, 0.12))
    plant.line(_bezier((0, 1.0), (0.05, 0.3), (-0.05, -0.3), (0, -0.8), 20), pal["green"], width=1.5)
    colours = [pal["pink"], pal["gold"], pal["cream"]]
    first = int(rng.integers(0, 2))  # which side the top bell hangs on
    for k in range(int(rng.integers(2, 4))):
        side = (-1, 1)[(k + first) % 2]
        y0 = -0.8 + 0.3 * k
        arch = _bezier((0, y0), (side * 0.25, y0 - 0.3), (side * 0.5, y0 - 0.2), (side * 0.55, y0 + 0.05), 14)
        plant.line(arch, pal["green"], width=1.1)
        plant.poly(_rotate(_leaf(0.3, 0.08), -math.pi / 2 - side * 0.5) + (0, y0 + 0.2),
                   fill=pal["green"], outline=pal["line"], width=0.6)
        bell_pen = cv.pen(*(np.array(plant.xy(arch[-1:])[0]) / cv.w), scale * 0.28,
                          rng.uniform(-0.3, 0.3))
        _sumping_flower(bell_pen, pal, colours[k % 3])
    n_ducks = int(rng.choice([1, 2], p=[0.35, 0.65]))
    duck_s = span * rng.uniform(0.16, 0.2)
    sides = [-1, 1] if n_ducks == 2 else [int(rng.choice([-1, 1]))]
    for side in sides:
        x = cx + side * span * rng.uniform(0.26, 0.32)
        y = lo + span * rng.uniform(0.72, 0.8)
        # Ducks face the plant: a duck on the left looks right (+x).
        pen = cv.pen(x, y, duck_s, rng.uniform(-0.15, 0.15), mirror=side > 0)
        _duck(pen, pal, walking=True, wing_col=pal["pink"] if rng.random() < 0.3 else None)


def _bebek_setaman(cv, rng, lo, hi):
    """Rows of small ducks walking one after another over a grassy line."""
    pal = cv.pal
    span = hi - lo
    rows = int(rng.integers(2, 4))
    per_row = int(rng.integers(3, 6))
    mirror = rng.random() < 0.5
    tilt = rng.uniform(-0.08, 0.08)
    duck_s = span / (per_row * 2.3) * rng.uniform(0.85, 1.0)
    duck_s = min(duck_s, span / (rows * 2.6))
    row_h = span / rows
    for r in range(rows):
        y = lo + row_h * (r + 0.55) + rng.uniform(-0.02, 0.02) * span
        x_off = rng.uniform(-0.03, 0.03) * span
        ground_y = y + duck_s * 0.8
        gp = cv.pen(0.0, 0.0, 1.0)
        gp.line([(lo, ground_y + tilt * 0.1), (hi, ground_y - tilt * 0.1)], pal["green"], width=1.2)
        for x in np.linspace(lo + 0.04, hi - 0.04, per_row * 3):
            gp.line([(x, ground_y), (x + 0.008, ground_y - duck_s * 0.3)], pal["green"], width=0.7)
        for k in range(per_row):
            x = lo + span * (k + 0.5) / per_row + x_off
            pen = cv.pen(x, y, duck_s, tilt + rng.uniform(-0.08, 0.08), mirror)
            _duck(pen, pal, walking=True)


def _ubur_ubur(cv, rng, lo, hi):
    """Jellyfish: scalloped domes trailing wavy tentacles."""
    pal = cv.pal
    centres, radius = _repeats(rng, lo, hi, [1, 2, 3, 4], [0.3, 0.3, 0.25, 0.15], 0.44)
    for cx, cy in centres:
        pen = cv.pen(cx, cy, radius, rng.uniform(-0.5, 0.5))
        # Tentacles first so the dome covers their roots.
        n_t = int(rng.integers(6, 10))
        phase = rng.uniform(0, TAU)
        for x0 in np.linspace(-0.5, 0.5, n_t):
            y = np.linspace(-0.15, 1.0 - 0.15 * abs(x0), 28)
            x = x0 * (1 + 0.3 * (y + 0.15)) + 0.07 * np.sin(y * 11 + phase + x0 * 5) * (0.3 + y)
            pen.line(np.stack([x, y], 1), pal["cream"], width=1.2)
        for x0 in (-0.15, 0.15):  # two frilly oral arms
            y = np.linspace(-0.2, 0.75, 22)
            centre = np.stack([x0 + 0.06 * np.sin(y * 8 + phase), y], 1)
            pen.poly(_ribbon(centre, 0.07 * (1 - (y + 0.2) / 1.0) + 0.02), fill=pal["pink"],
                     outline=pal["line"], width=0.6)
        dome_top = np.stack([0.62 * np.cos(np.linspace(math.pi, TAU, 20)),
                             -0.2 + 0.55 * np.sin(np.linspace(math.pi, TAU, 20))], 1)
        scallops = []
        for k in range(6):  # the dome's rim: six small scallops from right to left
            xc = 0.62 - (k + 0.5) * 1.24 / 6
            scallops.append(_arc(xc, -0.2, 1.24 / 12, 0.0, math.pi, 6))
        dome = np.vstack([dome_top] + scallops)
        pen.poly(dome, fill=pal["gold"], outline=pal["line"], width=0.9)
        for r in (0.25, 0.42):
            pen.line(_arc(0, -0.2, r, math.pi + 0.25, TAU - 0.25, 12), pal["ochre"], width=0.8)
        pen.dot((0, -0.45), 0.07, pal["cream"])


def _merak(cv, rng, lo, hi):
    """Peacock standing before a large fan of eye-spotted tail feathers."""
    pal = cv.pal
    span = hi - lo
    n = int(rng.choice([1, 2], p=[0.8, 0.2]))
    radius = span * (0.47 if n == 1 else 0.3) * rng.uniform(0.85, 1.05)
    for k in range(n):
        cx = lo + span * (0.5 if n == 1 else 0.27 + 0.46 * k) + rng.uniform(-0.04, 0.04) * span
        cy = lo + span * (0.58 if n == 1 else 0.55) + rng.uniform(-0.04, 0.04) * span
        pen = cv.pen(cx, cy, radius, rng.uniform(-0.25, 0.25), mirror=(k == 1) or rng.random() < 0.5)
        base = np.array([0.0, 0.45])
        spread = rng.uniform(1.2, 1.5)  # half-angle of the open tail
        angles = np.linspace(-math.pi / 2 - spread, -math.pi / 2 + spread, 11)
        fan = np.vstack([[base], [base + _polar(1.0, a) for a in np.linspace(angles[0], angles[-1], 30)]])
        pen.poly(fan, fill=pal["ground_dark"], outline=pal["gold"], width=1.2)
        for a in angles:
            pen.line([base, base + _polar(0.98, a)], pal["ochre"], width=0.6)
        # Two rings of eye-spots, the inner ring between the outer ones.
        for ring_r, offs, size in ((0.84, 0.0, 0.11), (0.55, 0.5, 0.085)):
            for i in range(len(angles) - (1 if offs else 0)):
                a = angles[i] + offs * (angles[1] - angles[0])
                p = base + _polar(ring_r, a)
                pen.poly(_ellipse(p[0], p[1], size * 1.25, size, a), fill=pal["gold"],
                         outline=pal["line"], width=0.6)
                pen.poly(_ellipse(p[0], p[1], size * 0.85, size * 0.7, a), fill=pal["green"])
                pen.circle(p, size * 0.42, fill=pal["navy"])
                pen.dot(p, size * 0.15, pal["cream"])
        # The bird: teardrop body, slim neck, crested head.
        body = _rotate(_leaf(0.55, 0.16), -math.pi / 2 - 0.15) + (0.0, 0.75)
        pen.poly(body, fill=pal["navy"], outline=pal["line"], width=0.9)
        neck = _bezier((0.02, 0.3), (0.0, 0.15), (0.08, 0.05), (0.12, -0.05), 10)
        pen.poly(_ribbon(neck, np.linspace(0.06, 0.035, 10)), fill=pal["navy"],
                 outline=pal["line"], width=0.7)
        pen.circle((0.13, -0.08), 0.06, fill=pal["navy"], outline=pal["line"], width=0.7)
        pen.poly([(0.18, -0.1), (0.28, -0.07), (0.18, -0.05)], fill=pal["gold"])
        for a in (-2.0, -1.6, -1.2):
            tip = np.array([0.13, -0.08]) + _polar(0.16, a)
            pen.line([(0.13, -0.12), tip], pal["gold"], width=0.6)
            pen.dot(tip, 0.025, pal["gold"])
        for x in (-0.04, 0.05):
            pen.line([(x, 0.9), (x, 1.0)], pal["gold"], width=0.8)


def _kucing_tidur(cv, rng, lo, hi):
    """Sleeping cat curled into a round loaf, tail wrapped around."""
    pal = cv.pal
    centres, radius = _repeats(rng, lo, hi, [1, 2, 3], [0.55, 0.3, 0.15], 0.43)
    for cx, cy in centres:
        pen = cv.pen(cx, cy, radius, rng.uniform(-0.7, 0.7), rng.random() < 0.5)
        fur = pal["gold"] if rng.random() < 0.6 else pal["cream"]
        stripe = pal["ochre"]
        pen.poly(_ellipse(-0.05, 0.05, 0.85, 0.68), fill=fur, outline=pal["line"], width=1.0)
        # Stripes follow the curl: concentric arcs on the back.
        for r in (0.35, 0.5, 0.65):
            pen.line(_arc(-0.1, 0.1, r, math.pi * 0.9, math.pi * 1.75, 14), stripe, width=1.3)
        # Tail: a thick tapering curl hugging the bottom of the body.
        t = np.linspace(0.0, 1.0, 30)
        ang = math.pi * 0.95 - t * math.pi * 1.05
        centre = np.stack([-0.05 + 0.8 * np.cos(ang), 0.05 + 0.62 * np.sin(ang)], 1)
        pen.poly(_ribbon(centre, 0.13 * (1 - 0.6 * t)), fill=fur, outline=pal["line"], width=0.9)
        for tt in (0.3, 0.5, 0.7):
            i = int(tt * 29)
            pen.dot(centre[i], 0.05, stripe)
        # Head tucked in at the front, resting on the tail.
        head = np.array([0.45, -0.05])
        for s in (-1, 1):
            c = -math.pi / 2 + s * 0.65
            ear = [head + _polar(0.25, c - 0.45), head + _polar(0.47, c), head + _polar(0.25, c + 0.45)]
            pen.poly(ear, fill=fur, outline=pal["line"], width=0.8)
        pen.circle(head, 0.3, fill=fur, outline=pal["line"], width=0.9)
        for s in (-1, 1):  # closed eyes: two downward arcs
            eye = _arc(head[0] + s * 0.12, head[1] - 0.02, 0.08, 0.2, math.pi - 0.2, 7)
            pen.line(eye, pal["dark"], width=0.9)
        pen.poly([head + (-0.04, 0.1), head + (0.04, 0.1), head + (0.0, 0.15)], fill=pal["pink"])
        for s in (-1, 1):
            for dy in (0.1, 0.16):
                pen.line([head + (s * 0.15, dy), head + (s * 0.4, dy + 0.03 * s)], pal["line"], width=0.5)


def _burung_hong(cv, rng, lo, hi):
    """Phoenix: a small crested bird with long flowing, curling tail plumes."""
    pal = cv.pal
    centres, radius = _repeats(rng, lo, hi, [1, 2], [0.75, 0.25], 0.46)
    colours = [pal["gold"], pal["pink"], pal["ochre"], pal["gold"], pal["green"]]
    for cx, cy in centres:
        pen = cv.pen(cx, cy, radius, rng.uniform(-0.6, 0.6), rng.random() < 0.5)
        # Plumes fan out from the rump to the lower right, each ending in a curl.
        n_p = int(rng.integers(3, 6))
        rump = np.array([-0.1, 0.0])
        for k in range(n_p):
            a = 0.25 + k * 1.1 / max(1, n_p - 1) + rng.uniform(-0.08, 0.08)
            length = rng.uniform(1.05, 1.35)
            end = rump + _polar(length, a)
            curve = _bezier(rump, rump + _polar(0.45 * length, a - 0.7),
                            rump + _polar(0.8 * length, a + 0.35), end, 24)
            tangent = curve[-1] - curve[-2]
            tangent /= np.hypot(*tangent)
            normal = np.array([-tangent[1], tangent[0]])
            rc = 0.13
            centre_c = end + normal * rc
            phi = math.atan2(-normal[1], -normal[0]) + np.linspace(0, 1.7 * math.pi, 14)
            rr = np.linspace(rc, rc * 0.45, 14)
            curl = np.stack([centre_c[0] + rr * np.cos(phi), centre_c[1] + rr * np.sin(phi)], 1)
            centre = np.vstack([curve, curl[1:]])
            t = np.linspace(0, 1, len(centre))
            pen.poly(_ribbon(centre, 0.075 * np.sin(np.pi * (0.08 + 0.84 * t)) ** 0.5 + 0.008),
                     fill=colours[k % len(colours)], outline=pal["line"], width=0.7)
            pen.line(centre[3:-4], pal["line"], width=0.5)
        # Wing raised above the back: fanned feathers.
        for k in range(5):
            a = -math.pi / 2 - 0.7 + k * 0.32
            feather = _rotate(_leaf(0.6 - k * 0.05, 0.09), a) + (-0.25, -0.15)
            pen.poly(feather, fill=pal["gold"] if k % 2 else pal["ochre"], outline=pal["line"], width=0.7)
        body = _ellipse(-0.35, -0.05, 0.32, 0.2, -0.25)
        pen.poly(body, fill=pal["gold"], outline=pal["line"], width=0.9)
        neck = _bezier((-0.55, -0.1), (-0.75, -0.25), (-0.7, -0.45), (-0.8, -0.55), 10)
        pen.poly(_ribbon(neck, np.linspace(0.08, 0.05, 10)), fill=pal["gold"], outline=pal["line"], width=0.7)
        head = np.array([-0.82, -0.58])
        pen.circle(head, 0.09, fill=pal["gold"], outline=pal["line"], width=0.8)
        pen.poly([head + (-0.06, -0.03), head + (-0.22, 0.02), head + (-0.06, 0.04)], fill=pal["red"])
        pen.dot(head + (-0.02, -0.02), 0.02, pal["dark"])
        for k in range(3):  # crest
            tip = head + _polar(0.2, -math.pi / 2 + 0.3 + 0.3 * k)
            pen.line([head, tip], pal["red"], width=0.8)
            pen.dot(tip, 0.03, pal["red"])


def _dragon(pen, pal, rng, flip):
    """One serpentine dragon, tail at x=-1, head near x=-0.1 facing +x."""
    x = np.linspace(-1.0, -0.3, 56)
    u = np.linspace(0.0, 1.0, len(x))
    # The wave ends at y=0 so both heads meet on the centre line.
    amp = rng.uniform(0.2, 0.28) * flip
    y = amp * np.sin((u - 1.0) * rng.uniform(2.4, 3.2) * math.pi) * np.linspace(0.6, 1.0, len(x))
    centre = np.stack([x, y], 1)
    half = 0.02 + 0.075 * u**0.5
    d = np.gradient(centre, axis=0)
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    normal = np.stack([-d[:, 1], d[:, 0]], 1)
    # Legs with three-toed feet, under the body so it overlaps their roots.
    for i in (18, 42):
        root = centre[i]
        knee = root + normal[i] * (half[i] + 0.08) + d[i] * 0.05
        foot = knee + d[i] * 0.08 + normal[i] * 0.02
        pen.line([root, knee, foot], pal["gold"], width=1.6)
        for da in (-0.6, 0.0, 0.6):
            pen.line([foot, foot + _rotate(d[i] * 0.04, da)[0]], pal["red"], width=0.8)
    # Dorsal spikes along the back edge.
    for i in range(3, len(x) - 3, 3):
        back = centre[i] - normal[i] * half[i]
        tip = centre[i] - normal[i] * (half[i] + 0.04 + 0.03 * u[i])
        pen.poly([back - d[i] * 0.025, tip, back + d[i] * 0.025], fill=pal["red"],
                 outline=pal["line"], width=0.5)
    pen.poly(_ribbon(centre, half), fill=pal["gold"], outline=pal["line"], width=0.9)
    # A cream belly band and a row of scales along the body.
    pen.poly(_ribbon(centre + normal * half[:, None] * 0.55, half * 0.3), fill=pal["cream"])
    for i in range(3, len(x) - 2, 2):
        a = math.atan2(d[i][1], d[i][0])
        c = centre[i] - normal[i] * half[i] * 0.25
        pen.line(_arc(c[0], c[1], half[i] * 0.45, a + 0.6 * math.pi, a + 1.4 * math.pi, 6),
                 pal["ochre"], width=0.6)
    # Head: snout with open jaws, horns, flaming mane, eye and a whisker.
    h = centre[-1] + d[-1] * 0.04

    def at(dx, dy, k=0.7):  # head parts are designed at 1/0.7 of their size
        return h + np.array([dx, dy]) * k

    for k in range(4):
        ang = math.pi * (0.75 + 0.17 * k)
        pen.poly(_rotate(_leaf(0.17, 0.035), ang) + h, fill=pal["red"], outline=pal["line"], width=0.5)
    pen.poly([at(-0.02, -0.16), at(0.32, -0.13), at(0.38, -0.03), at(0.1, 0.0)],
             fill=pal["gold"], outline=pal["line"], width=0.8)
    pen.poly([at(0.1, 0.04), at(0.32, 0.13), at(0.27, 0.17), at(0.0, 0.15)],
             fill=pal["gold"], outline=pal["line"], width=0.8)
    pen.circle(at(0.0, -0.02), 0.105, fill=pal["gold"], outline=pal["line"], width=0.8)
    pen.circle(at(0.07, -0.08), 0.025, fill=pal["cream"], outline=pal["dark"], width=0.6)
    for a in (-2.1, -2.5):
        pen.line([at(-0.02, -0.12), h + _polar(0.22, a)], pal["ochre"], width=1.1)
    pen.line(_bezier(at(0.36, -0.06), at(0.5, -0.18), at(0.42, -0.3), at(0.55, -0.36), 8),
             pal["line"], width=0.6)


def _naga_betarung(cv, rng, lo, hi):
    """Two serpentine dragons facing each other across a flaming pearl."""
    pal = cv.pal
    span = hi - lo
    radius = span * rng.uniform(0.44, 0.5)
    cx = lo + span * (0.5 + rng.uniform(-0.03, 0.03))
    cy = lo + span * (0.5 + rng.uniform(-0.08, 0.08))
    angle = rng.uniform(-0.35, 0.35)
    flip = 1 if rng.random() < 0.5 else -1
    # The second dragon mirrors the first, sometimes also upside down.
    flips = (flip, flip if rng.random() < 0.6 else -flip)
    for mirror, f in zip((False, True), flips):
        _dragon(cv.pen(cx, cy, radius, angle, mirror), pal, rng, f)
    pen = cv.pen(cx, cy, radius, angle)
    pen.circle((0.0, -0.2), 0.07, fill=pal["cream"], outline=pal["gold"], width=1.0)
    pen.line(_arc(0.0, -0.2, 0.04, 0.0, 4.5, 10), pal["red"], width=0.8)


def _kepiting(cv, rng, lo, hi):
    """Crab: wide oval shell, two raised pincers and four legs a side."""
    pal = cv.pal
    centres, radius = _repeats(rng, lo, hi, [1, 2, 3], [0.5, 0.3, 0.2], 0.44)
    for cx, cy in centres:
        pen = cv.pen(cx, cy, radius, rng.uniform(0, TAU))
        for s in (-1, 1):
            for k in range(4):
                # Legs fan out from the shell's side, each bent at the knee
                # and tapering to a point, like a crab's walking legs.
                a = math.radians(-10 + 22 * k)
                root = np.array([s * 0.45 * math.cos(a), 0.05 + 0.3 * math.sin(a)])
                knee = root + (s * 0.35 * math.cos(a * 0.6), 0.35 * math.sin(a * 0.6) - 0.12)
                foot = knee + (s * 0.12, 0.3)
                leg = np.vstack([_bezier(root, (root + knee) / 2, (root + knee) / 2, knee, 6),
                                 _bezier(knee, (knee + foot) / 2, (knee + foot) / 2, foot, 6)[1:]])
                pen.poly(_ribbon(leg, np.linspace(0.055, 0.012, len(leg))), fill=pal["ochre"],
                         outline=pal["line"], width=0.6)
            # Arm up to the claw.
            arm = _bezier((s * 0.3, -0.15), (s * 0.6, -0.25), (s * 0.7, -0.45), (s * 0.6, -0.6), 10)
            pen.poly(_ribbon(arm, np.linspace(0.07, 0.05, 10)), fill=pal["ochre"],
                     outline=pal["line"], width=0.6)
            # Pincer: a fat palm ending in two curved fingers with a gap between.
            claw = np.array([(0.0, 0.05), (0.18, -0.02), (0.22, -0.2), (0.14, -0.42), (0.06, -0.24),
                             (0.02, -0.2), (-0.04, -0.38), (-0.16, -0.2), (-0.15, -0.02)])
            claw = _rotate(claw * (s, 1.0), -s * 0.35) + (s * 0.6, -0.62)
            pen.poly(claw, fill=pal["gold"], outline=pal["line"], width=0.8)
            # Eyes on short stalks.
            pen.line([(s * 0.14, -0.25), (s * 0.18, -0.45)], pal["ochre"], width=1.2)
            pen.circle((s * 0.18, -0.47), 0.05, fill=pal["dark"], outline=pal["line"], width=0.6)
        pen.poly(_ellipse(0.0, 0.05, 0.55, 0.38), fill=pal["gold"], outline=pal["line"], width=1.0)
        # Shell markings.
        pen.line(_arc(0.0, 0.25, 0.35, math.pi * 1.15, math.pi * 1.85, 12), pal["ochre"], width=1.0)
        for x in (-0.2, 0.0, 0.2):
            pen.dot((x, 0.12), 0.05, pal["red"] if x == 0 else pal["ochre"])


def _seahorse(pen, pal):
    """A seahorse about 2 units tall, snout facing +x, tail curled at the bottom."""
    trunk = _bezier((0.0, -0.55), (0.5, -0.3), (0.45, 0.35), (0.0, 0.45), 24)
    # Tail spiral continuing from the trunk's end, curling back towards the belly.
    c = np.array([0.05, 0.68])
    th = np.linspace(-math.pi * 0.5 - 0.25, -math.pi * 0.5 - 0.25 - TAU * 0.95, 30)
    r = np.linspace(0.24, 0.06, len(th))
    tail = np.stack([c[0] - r * np.cos(th), c[1] + r * np.sin(th)], 1)
    centre = np.vstack([trunk, tail[1:]])
    t = np.linspace(0, 1, len(centre))
    width = np.interp(t, [0.0, 0.25, 0.45, 0.6, 1.0], [0.13, 0.2, 0.17, 0.1, 0.025])
    # Dorsal fin on the back (the -x side) of the trunk.
    fin_base = trunk[12] - (0.1, 0.0)
    fin = np.vstack([[fin_base], _arc(fin_base[0], fin_base[1], 0.3, math.pi * 0.6, math.pi * 1.3, 9)])
    pen.poly(fin, fill=pal["pink"], outline=pal["line"], width=0.7)
    for a in np.linspace(math.pi * 0.7, math.pi * 1.2, 4):
        pen.line([fin_base, fin_base + _polar(0.28, a)], pal["line"], width=0.5)
    pen.poly(_ribbon(centre, width), fill=pal["gold"], outline=pal["line"], width=0.9)
    # Body rings.
    for i in range(3, len(trunk) - 2, 3):
        d = centre[i + 1] - centre[i - 1]
        nrm = np.array([-d[1], d[0]]) / (np.hypot(*d) + 1e-9)
        across = nrm * width[i] * 0.9
        pen.line([centre[i] + across, centre[i] - across], pal["ochre"], width=0.7)
    # Head: tilted forward with a long tube snout and a small crown.
    head = np.array([0.02, -0.68])
    pen.circle(head, 0.16, fill=pal["gold"], outline=pal["line"], width=0.9)
    snout = [head + (0.08, -0.04), head + (0.45, 0.06), head + (0.46, 0.14), head + (0.1, 0.1)]
    pen.poly(snout, fill=pal["gold"], outline=pal["line"], width=0.8)
    pen.dot(head + (0.03, -0.03), 0.035, pal["dark"])
    for k in range(3):  # the coronet: three small spikes on the crown
        x = 0.07 * k
        pen.poly([head + (x - 0.1, -0.13), head + (x - 0.08, -0.28), head + (x - 0.03, -0.14)],
                 fill=pal["red"])


def _kuda_laut(cv, rng, lo, hi):
    """Seahorses, usually a pair facing each other."""
    pal = cv.pal
    span = hi - lo
    # Mostly the classic facing pair; sometimes three in a row.
    n = int(rng.choice([2, 3], p=[0.8, 0.2]))
    radius = span * (0.44 if n == 1 else 0.3 if n == 2 else 0.22) * rng.uniform(0.85, 1.1)
    for k in range(n):
        x = lo + span * ((k + 0.5) / n + rng.uniform(-0.04, 0.04))
        y = lo + span * (0.5 + rng.uniform(-0.08, 0.08))
        mirror = (k % 2 == 1) if n == 2 else rng.random() < 0.5
        pen = cv.pen(x, y, radius, rng.uniform(-0.35, 0.35), mirror)
        _seahorse(pen, pal)


def _pucuk_rebung(cv, rng, lo, hi):
    """Bamboo shoots: bands of tall triangles with nested line work."""
    pal = cv.pal
    bands = int(rng.choice([1, 2, 3], p=[0.3, 0.45, 0.25]))
    span = hi - lo
    gap = span * 0.04
    band_h = (span - gap * (bands + 1)) / bands
    count = int(rng.integers(4, 9)) if bands > 1 else int(rng.integers(4, 7))
    angle = rng.uniform(-0.06, 0.06)
    pen = cv.pen(0.5, 0.5, 1.0, angle)
    cell = (hi - lo) / count
    for b in range(bands):
        top = lo + gap + b * (band_h + gap) - 0.5
        bottom = top + band_h
        up = b % 2 == 0 or rng.random() < 0.5  # some bands point downwards
        for y in (top - gap * 0.5, bottom + gap * 0.5):
            pen.line([(lo - 0.5, y), (hi - 0.5, y)], pal["gold"], width=1.0)
        for k in range(count):
            x0 = lo - 0.5 + k * cell
            base_y, tip_y = (bottom, top) if up else (top, bottom)
            tri = [(x0 + cell * 0.04, base_y), (x0 + cell / 2, tip_y), (x0 + cell * 0.96, base_y)]
            pen.poly(tri, fill=pal["gold"], outline=pal["line"], width=0.9)
            # Nested triangle and a central rib with chevrons, like a shoot's sheaths.
            inner = [(x0 + cell * 0.22, base_y + (tip_y - base_y) * 0.05),
                     (x0 + cell / 2, base_y + (tip_y - base_y) * 0.72),
                     (x0 + cell * 0.78, base_y + (tip_y - base_y) * 0.05)]
            pen.poly(inner, fill=pal["ochre"], outline=pal["line"], width=0.7)
            for f in (0.2, 0.35, 0.5):
                y = base_y + (tip_y - base_y) * f
                dy = (tip_y - base_y) * 0.08
                pen.line([(x0 + cell * 0.38, y), (x0 + cell / 2, y + dy), (x0 + cell * 0.62, y)],
                         pal["cream"], width=0.6)
            pen.dot((x0 + cell, base_y), cell * 0.06, pal["cream"])


_MOTIFS = {
    "kembang-kenanga": _kembang_kenanga,
    "kembang-setaman": _kembang_setaman,
    "kembang-rukem": _kembang_rukem,
    "kembang-setangkai": _kembang_setangkai,
    "bebek-kembang-sumping": _bebek_kembang_sumping,
    "bebek-setaman": _bebek_setaman,
    "ubur-ubur": _ubur_ubur,
    "merak": _merak,
    "kucing-tidur": _kucing_tidur,
    "burung-hong": _burung_hong,
    "naga-betarung": _naga_betarung,
    "kepiting": _kepiting,
    "kuda-laut": _kuda_laut,
    "pucuk-rebung": _pucuk_rebung,
}
assert tuple(_MOTIFS) == MOTIF_SLUGS


# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------

def _rng_for(slug, seed):
    # crc32 rather than hash(): str hashes are salted per process, and the
    # same (slug, seed) must give the same picture in every process.
    return np.random.default_rng([zlib.crc32(slug.encode("utf-8")), int(seed) % 2**64])


def render_motif(slug: str, seed: int, size: int = 512) -> Image.Image:
    """Draw a size x size RGB Batik Cual sample of the motif `slug`.

    The same (slug, seed, size) always gives identical pixels; the same
    (slug, seed) gives the same composition at every size.
    """
    if slug not in _MOTIFS:
        raise ValueError(f"unknown motif slug {slug!r}; known slugs: {', '.join(MOTIF_SLUGS)}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
        raise ValueError(f"size must be an integer, got {size!r}")
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"size must be between {MIN_SIZE} and {MAX_SIZE}, got {size}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    size = int(size)
    rng = _rng_for(slug, seed)
    pal = _palette(rng)
    cv = _Canvas(size, pal, line_frac=rng.uniform(0.0035, 0.007))
    _decorate_ground(cv, rng)
    has_border = rng.random() < 0.75
    band = rng.uniform(0.05, 0.075) if has_border else 0.0
    lo = band + 0.025
    _MOTIFS[slug](cv, rng, lo, 1.0 - lo)
    # The border goes on last so it neatly hides anything that overflowed.
    if has_border:
        _draw_border(cv, rng, band)
    img = cv.img.resize((size, size), Image.LANCZOS)
    return _texture(img, rng)
