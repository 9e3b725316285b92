"""Plain photos that are not batik: what "not a known motif" is judged against.

A visitor who points the camera at a wooden table, a marble floor, a brick wall, a lawn, a
screenshot or a dark room must not be told "this is Merak". These images are drawn here with
numpy and Pillow only (no downloads, no data set), deterministically, in the kinds of
``STRANGER_KINDS``: smooth colour gradients; natural textures (wood grain, marble, a plain
weave without any motif, brick, floor tiles, grass); noise (Gaussian, salt and pepper,
blurred, a dark under-exposed photo); screenshots of an app and of a web form with text in
Pillow's default font; and a plain outdoor scene (sky, hills and ground with blobs).

:func:`inference.engines.ood.synthetic_ood_images` is the calibration's own stranger set (it
includes other batik styles on purpose); these are the everyday photos a false acceptance is
measured on (``evaluate_classifier --synthetic-strangers N``). No Django here.
"""
from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from core.limits import MAX_ENGINE_SIDE

__all__ = ["STRANGER_KINDS", "non_batik_images", "stranger_kind"]

MIN_SIDE = 8
# Screenshots are laid out on a canvas at least this wide and scaled to the asked size, as a
# phone photo of a screen would be: a 32 px screenshot of 32 px of UI would be one button.
_SCREEN_CANVAS = 320


# --- helpers ------------------------------------------------------------------------------------


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    axis = (np.arange(size, dtype=np.float32) + 0.5) / size
    return np.meshgrid(axis, axis)  # x, y in (0, 1)


def _colour(rng: np.random.Generator, low: float = 0, high: float = 256) -> np.ndarray:
    return rng.uniform(low, high, size=3).astype(np.float32)


def _mix(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Per-pixel blend of two colours (or images) by ``t`` in [0, 1]."""
    t = np.clip(t, 0.0, 1.0)[..., None]
    return a * (1.0 - t) + b * t


def _value_noise(rng: np.random.Generator, size: int, cells_x: int, cells_y: int | None = None) -> np.ndarray:
    """Smooth noise in [0, 1]: a coarse random grid, bicubically upsampled."""
    coarse = (rng.random((cells_y or cells_x, cells_x)) * 255).astype(np.uint8)
    smooth = Image.fromarray(coarse).resize((size, size), Image.Resampling.BICUBIC)
    return np.asarray(smooth, dtype=np.float32) / 255.0


def _fractal_noise(rng: np.random.Generator, size: int, base_cells: int = 3, octaves: int = 5) -> np.ndarray:
    """Value noise summed over octaves (each twice as fine, half as strong), scaled to [0, 1]."""
    total, weight, cells = np.zeros((size, size), np.float32), 1.0, base_cells
    for _ in range(octaves):
        total += weight * _value_noise(rng, size, min(cells, size))
        weight, cells = weight / 2, cells * 2
    low, high = float(total.min()), float(total.max())
    return (total - low) / max(high - low, 1e-6)


def _grain(rng: np.random.Generator, size: int, sigma: float) -> np.ndarray:
    """Camera sensor grain: mostly luminance, a little colour."""
    luma = rng.normal(0.0, sigma, (size, size, 1))
    return luma + rng.normal(0.0, sigma / 3, (size, size, 3))


def _vignette(size: int, strength: float) -> np.ndarray:
    x, y = _grid(size)
    return (1.0 - strength * ((x - 0.5) ** 2 + (y - 0.5) ** 2) * 2.0)[..., None]


def _rotated(x: np.ndarray, y: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
    c, s = math.cos(angle), math.sin(angle)
    return (x - 0.5) * c - (y - 0.5) * s + 0.5, (x - 0.5) * s + (y - 0.5) * c + 0.5


def _font(pixels: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Pillow's own default font (built in: nothing read from the system), at ``pixels`` when
    this Pillow can scale it, else its fixed bitmap size."""
    try:
        return ImageFont.load_default(size=pixels)
    except (TypeError, ImportError, OSError):  # an old Pillow or one without FreeType
        return ImageFont.load_default()


_WORDS = (
    "home", "search", "settings", "profile", "upload", "photos", "share", "cancel", "save", "next",
    "account", "email", "password", "login", "sign", "up", "order", "cart", "total", "price", "date",
    "name", "address", "city", "notes", "help", "menu", "today", "weather", "news", "music", "video",
    "lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit", "sed", "do",
)


def _words(rng: np.random.Generator, low: int, high: int) -> str:
    count = int(rng.integers(low, high + 1))
    return " ".join(_WORDS[int(i)] for i in rng.integers(0, len(_WORDS), count)).capitalize()


# --- gradients, textures, noise -------------------------------------------------------------------


def _gradient(rng, size):
    x, y = _grid(size)
    if rng.random() < 0.5:
        u, _ = _rotated(x, y, rng.uniform(0, 2 * math.pi))
        t = u
    else:
        cx, cy = rng.uniform(0.1, 0.9, size=2)
        t = np.hypot(x - cx, y - cy) / rng.uniform(0.5, 1.2)
    stops = [_colour(rng) for _ in range(int(rng.integers(2, 4)))]
    t = np.clip(t, 0, 1) * (len(stops) - 1)
    index = np.minimum(t.astype(np.int64), len(stops) - 2)
    stops = np.stack(stops)
    image = _mix(stops[index], stops[index + 1], t - index)
    return image + _grain(rng, size, rng.uniform(0.5, 3))


def _wood_grain(rng, size):
    x, y = _grid(size)
    u, v = _rotated(x, y, rng.uniform(-0.3, 0.3) + (math.pi / 2 if rng.random() < 0.5 else 0))
    turbulence = _fractal_noise(rng, size, 2, 4)
    # Rings of a log cut along its length: distance to an axis far off one side, squeezed.
    centre = rng.uniform(-1.5, 2.5)
    distance = np.hypot((u - centre) * 1.0, (v - rng.uniform(-3, 4)) * 0.08)
    rings = np.mod(distance * rng.uniform(10, 24) + turbulence * rng.uniform(1.5, 4), 1.0)
    # Fine fibres along the grain (the rings run along v).
    streaks = 0.5 + 0.5 * np.sin(u * rng.uniform(150, 300) + turbulence * 20)
    dark = np.array([rng.uniform(70, 120), rng.uniform(40, 70), rng.uniform(15, 40)], np.float32)
    light = np.array([rng.uniform(170, 225), rng.uniform(115, 165), rng.uniform(60, 110)], np.float32)
    image = _mix(light, dark, rings ** 2.5 * 0.8 + streaks * 0.25)
    return image * _vignette(size, 0.25) + _grain(rng, size, 3)


def _marble(rng, size):
    x, y = _grid(size)
    u, v = _rotated(x, y, rng.uniform(0, math.pi))
    turbulence = _fractal_noise(rng, size, 3, 6)
    veins = np.abs(np.sin((u * rng.uniform(2, 6) + turbulence * rng.uniform(3, 7)) * math.pi)) ** rng.uniform(0.3, 0.8)
    if rng.random() < 0.7:  # white Carrara, grey veins
        stone, vein = _colour(rng, 215, 250), _colour(rng, 90, 150)
    else:  # dark green or black with pale veins
        stone, vein = _colour(rng, 10, 60), _colour(rng, 150, 220)
    cloud = _fractal_noise(rng, size, 2, 4)[..., None] * 20 - 10
    return _mix(vein, stone, veins) + cloud + _grain(rng, size, 1.5)


def _plain_weave(rng, size):
    """Cloth with no motif: over-under threads of one colour, seen close up."""
    x, y = _grid(size)
    threads = rng.uniform(12, 40)
    u, v = _rotated(x, y, rng.uniform(-0.2, 0.2))
    wobble = (_value_noise(rng, size, 6) - 0.5) * 0.4
    column, row = u * threads + wobble, v * threads + wobble.T
    warp_on_top = (np.floor(column) + np.floor(row)) % 2 == 0
    across_warp, across_weft = np.mod(column, 1.0), np.mod(row, 1.0)
    # A thread is round: brightest along its middle.
    shade = np.where(warp_on_top, np.sin(across_warp * math.pi), np.sin(across_weft * math.pi)) ** 0.6
    warp = _colour(rng, 40, 230)
    weft = warp * rng.uniform(0.8, 1.1) if rng.random() < 0.7 else _colour(rng, 40, 230)
    base = np.where(warp_on_top[..., None], warp, weft)
    slub = (_value_noise(rng, size, 3, max(8, size // 2)) - 0.5)[..., None] * 25  # uneven yarn
    return base * (0.55 + 0.45 * shade)[..., None] + slub + _grain(rng, size, 3)


def _brick_wall(rng, size):
    x, y = _grid(size)
    rows = int(rng.integers(5, 13))
    row = np.floor(y * rows)
    columns = rows / rng.uniform(1.6, 2.4)
    u = x * columns + np.where(row % 2 == 0, 0.0, 0.5)
    brick_id = row * 1000 + np.floor(u)
    mortar = (np.mod(u, 1.0) < 0.06) | (np.mod(y * rows, 1.0) < 0.12)
    base = np.array([rng.uniform(120, 190), rng.uniform(45, 90), rng.uniform(25, 60)], np.float32)
    # Each brick its own shade: a hash of its id, not a random draw per pixel.
    per_brick = (np.sin(brick_id * 12.9898 + rng.uniform(0, 100)) * 43758.5453) % 1.0
    image = base * (0.75 + 0.35 * per_brick)[..., None] * (0.85 + 0.3 * _fractal_noise(rng, size, 8, 3))[..., None]
    grout = np.float32(rng.uniform(150, 210))
    return np.where(mortar[..., None], grout, image) * _vignette(size, 0.3) + _grain(rng, size, 6)


def _floor_tiles(rng, size):
    x, y = _grid(size)
    tiles = rng.uniform(2.5, 8)
    u, v = _rotated(x, y, rng.choice([0.0, math.pi / 4]) + rng.uniform(-0.05, 0.05))
    grout = (np.mod(u * tiles, 1.0) < 0.04) | (np.mod(v * tiles, 1.0) < 0.04)
    tile_id = np.floor(u * tiles) * 97 + np.floor(v * tiles)
    per_tile = ((np.sin(tile_id * 78.233 + rng.uniform(0, 100)) * 43758.5453) % 1.0)[..., None]
    colour = _colour(rng, 120, 245)
    image = colour * (0.92 + 0.1 * per_tile)
    # A window's reflection: one soft bright patch across the floor.
    cx, cy = rng.uniform(0.2, 0.8, size=2)
    glare = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / rng.uniform(0.02, 0.08))[..., None] * 50
    return np.where(grout[..., None], colour * 0.55, image) + glare + _grain(rng, size, 2.5)


def _grass(rng, size):
    base = np.array([rng.uniform(20, 50), rng.uniform(55, 100), rng.uniform(10, 35)], np.float32)
    shade = 0.7 + 0.6 * _fractal_noise(rng, size, 3, 4)
    canvas = Image.fromarray(np.clip(base * shade[..., None], 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    width = max(1, size // 110)
    for _ in range(int(size * 4)):
        x0, y0 = rng.uniform(0, size), rng.uniform(0, size * 1.1)
        length = rng.uniform(0.04, 0.16) * size
        lean = rng.uniform(-0.35, 0.35) * length
        green = (int(rng.uniform(30, 130)), int(rng.uniform(100, 210)), int(rng.uniform(15, 70)))
        draw.line([(x0, y0), (x0 + lean / 2, y0 - length / 2), (x0 + lean, y0 - length)], fill=green, width=width)
    return np.asarray(canvas, np.float32) + _grain(rng, size, 3)


def _gaussian_noise(rng, size):
    mean = _colour(rng, 40, 220)
    return mean + rng.normal(0.0, rng.uniform(20, 80), (size, size, 3))


def _salt_and_pepper(rng, size):
    x, y = _grid(size)
    image = _mix(_colour(rng, 60, 200), _colour(rng, 60, 200), x * rng.uniform(0.3, 1) + y * rng.uniform(0, 0.7))
    density = rng.uniform(0.03, 0.3)
    draw = rng.random((size, size))
    image = np.where((draw < density / 2)[..., None], 0.0, image)
    return np.where((draw > 1 - density / 2)[..., None], 255.0, image)


def _blurred_noise(rng, size):
    noise = Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))
    blurred = noise.filter(ImageFilter.GaussianBlur(radius=max(0.5, size * rng.uniform(0.005, 0.04))))
    pixels = np.asarray(blurred, np.float32)
    # Blur pulls every pixel toward grey: stretch the contrast back.
    return (pixels - pixels.mean()) * rng.uniform(2, 5) + _colour(rng, 60, 200)


def _dark_photo(rng, size):
    """A photo taken in a dark room: a dim scene under heavy sensor noise, maybe one lamp."""
    x, y = _grid(size)
    scene = _mix(_colour(rng, 0, 50), _colour(rng, 0, 50), _fractal_noise(rng, size, 2, 3))
    if rng.random() < 0.6:
        cx, cy = rng.uniform(0.1, 0.9, size=2)
        lamp = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / rng.uniform(0.002, 0.02))
        scene = scene + lamp[..., None] * np.array([255, rng.uniform(180, 240), rng.uniform(80, 170)], np.float32)
    gain = rng.uniform(8, 20)
    return scene + rng.normal(0.0, gain, (size, size, 1)) + rng.normal(0.0, gain / 2, (size, size, 3))


# --- screenshots ------------------------------------------------------------------------------------


def _theme(rng):
    dark = rng.random() < 0.3
    background = tuple(int(c) for c in (_colour(rng, 20, 45) if dark else _colour(rng, 238, 256)))
    text = (225, 225, 225) if dark else tuple(int(c) for c in _colour(rng, 20, 70))
    accent = tuple(int(c) for c in _colour(rng, 30, 220))
    panel = tuple(int(c) for c in (_colour(rng, 40, 70) if dark else _colour(rng, 220, 240)))
    return background, text, accent, panel


def _to_size(canvas: Image.Image, size: int) -> np.ndarray:
    if canvas.width != size:
        canvas = canvas.resize((size, size), Image.Resampling.LANCZOS)
    return np.asarray(canvas, np.float32)


def _screen(rng, size, font_units: tuple[float, float]):
    """A blank screenshot canvas in a random theme: (canvas, draw, side, unit, (text, accent,
    panel) colours, (font, small font)); a unit is 1/40 of the side."""
    side = max(size, _SCREEN_CANVAS)
    background, text, accent, panel = _theme(rng)
    canvas = Image.new("RGB", (side, side), background)
    unit = side / 40
    fonts = _font(max(8, int(unit * font_units[0]))), _font(max(7, int(unit * font_units[1])))
    return canvas, ImageDraw.Draw(canvas), side, unit, (text, accent, panel), fonts


def _app_screenshot(rng, size):
    """A phone or desktop app: top bar with a title, a side menu, cards of text, buttons."""
    canvas, draw, side, unit, (text, accent, panel), (font, small) = _screen(rng, size, (1.6, 1.2))
    bar = int(unit * 3.5)
    draw.rectangle([0, 0, side, bar], fill=accent)
    draw.text((unit * 4, bar * 0.25), _words(rng, 1, 3), fill=(255, 255, 255), font=font)
    draw.ellipse([side - unit * 3.2, unit * 0.7, side - unit * 1.2, unit * 2.7], fill=(255, 255, 255))
    menu = int(side * rng.uniform(0.2, 0.3)) if rng.random() < 0.6 else 0
    if menu:
        draw.rectangle([0, bar, menu, side], fill=panel)
        for line in range(int(rng.integers(5, 10))):
            draw.text((unit, bar + unit * (1.5 + line * 2.6)), _words(rng, 1, 2), fill=text, font=small)
    top = bar + unit
    while top < side - unit * 6:
        height = unit * rng.uniform(5, 10)
        left, right = menu + unit, side - unit
        draw.rounded_rectangle([left, top, right, top + height], radius=unit * 0.6, fill=panel,
                               outline=tuple(max(0, c - 25) for c in panel))
        draw.text((left + unit, top + unit * 0.6), _words(rng, 2, 4), fill=text, font=font)
        lines = int((height - unit * 3) // (unit * 1.6))
        for line in range(max(0, lines)):
            draw.text((left + unit, top + unit * (2.6 + line * 1.6)), _words(rng, 3, 8), fill=text, font=small)
        if rng.random() < 0.5:  # a button in the card's corner
            bx = right - unit * 9
            draw.rounded_rectangle([bx, top + height - unit * 2.6, right - unit, top + height - unit * 0.6],
                                   radius=unit, fill=accent)
            draw.text((bx + unit, top + height - unit * 2.4), _words(rng, 1, 1), fill=(255, 255, 255), font=small)
        top += height + unit
    return _to_size(canvas, size)


def _web_form_screenshot(rng, size):
    """A web page with a form: browser chrome, a heading, labelled fields, a checkbox, a button."""
    canvas, draw, side, unit, (text, accent, panel), (font, small) = _screen(rng, size, (1.5, 1.15))
    chrome = tuple(int(c) for c in _colour(rng, 200, 235))
    draw.rectangle([0, 0, side, unit * 5], fill=chrome)
    for dot, colour in enumerate(((236, 95, 90), (245, 190, 80), (98, 197, 85))):
        draw.ellipse([unit * (1 + dot * 1.6), unit * 0.8, unit * (2.1 + dot * 1.6), unit * 1.9], fill=colour)
    draw.rounded_rectangle([unit * 6, unit * 2.4, side - unit * 2, unit * 4.4], radius=unit, fill=(255, 255, 255))
    draw.text((unit * 7, unit * 2.6), "https://" + _words(rng, 1, 1).lower() + ".example/" + _words(rng, 1, 1).lower(),
              fill=(90, 90, 90), font=small)
    left = unit * rng.uniform(3, 8)
    width = side - 2 * left
    draw.text((left, unit * 7), _words(rng, 2, 3), fill=text, font=_font(max(9, int(unit * 2.2))))
    top = unit * 11
    for _ in range(int(rng.integers(3, 6))):
        if top > side - unit * 9:
            break
        draw.text((left, top), _words(rng, 1, 2) + ":", fill=text, font=small)
        draw.rectangle([left, top + unit * 1.7, left + width, top + unit * 4], fill=(255, 255, 255),
                       outline=tuple(int(c) for c in _colour(rng, 140, 190)), width=max(1, int(unit / 6)))
        if rng.random() < 0.5:  # a field already filled in
            draw.text((left + unit * 0.6, top + unit * 2.1), _words(rng, 1, 3).lower(), fill=(40, 40, 40), font=small)
        top += unit * 5.5
    draw.rectangle([left, top, left + unit * 1.4, top + unit * 1.4], outline=text, width=max(1, int(unit / 6)))
    draw.text((left + unit * 2.2, top), _words(rng, 3, 6), fill=text, font=small)
    top += unit * 3
    draw.rounded_rectangle([left, top, left + unit * 12, top + unit * 3], radius=unit * 0.5, fill=accent)
    draw.text((left + unit * 1.5, top + unit * 0.7), _words(rng, 1, 2), fill=(255, 255, 255), font=font)
    return _to_size(canvas, size)


# --- scenes ---------------------------------------------------------------------------------------


def _sky_and_ground(rng, size):
    """An outdoor photo without cloth: sky, a line of hills, ground, a few soft blobs."""
    x, y = _grid(size)
    horizon = rng.uniform(0.35, 0.65)
    hills = horizon + sum(rng.uniform(0.01, 0.05) * np.sin(x * rng.uniform(2, 12) + rng.uniform(0, 6)) for _ in range(3))
    zenith = np.array([rng.uniform(30, 110), rng.uniform(90, 170), rng.uniform(190, 250)], np.float32)
    haze = np.array([rng.uniform(200, 240), rng.uniform(210, 240), rng.uniform(220, 250)], np.float32)
    sky = _mix(zenith, haze, y / max(horizon, 1e-3))
    ground_colour = np.array([rng.uniform(50, 130), rng.uniform(80, 150), rng.uniform(30, 80)], np.float32)
    if rng.random() < 0.3:  # sand or a dry field instead of green
        ground_colour = np.array([rng.uniform(150, 210), rng.uniform(130, 180), rng.uniform(80, 120)], np.float32)
    depth = np.clip((y - hills) / max(1 - horizon, 1e-3), 0, 1)
    ground = ground_colour * (0.55 + 0.3 * depth + 0.3 * _fractal_noise(rng, size, 6, 4))[..., None]
    image = np.where((y < hills)[..., None], sky, ground)
    for _ in range(int(rng.integers(2, 6))):  # clouds above, bushes or rocks below
        cx, cy = rng.uniform(0.05, 0.95), rng.uniform(0.05, 0.95)
        rx, ry = rng.uniform(0.04, 0.18), rng.uniform(0.03, 0.1)
        weight = np.exp(-(((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2))
        above = cy < horizon
        colour = _colour(rng, 225, 255) if above else ground_colour * rng.uniform(0.3, 0.7)
        image = _mix(image, colour, weight * (0.8 if above else 1.0))
    if rng.random() < 0.4:  # the sun
        cx, cy = rng.uniform(0.1, 0.9), rng.uniform(0.05, horizon * 0.7)
        sun = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / 0.002)
        image = _mix(image, np.array([255, 250, 225], np.float32), sun)
    return image + _grain(rng, size, 3)


_DRAWERS = (
    _gradient,
    _wood_grain,
    _marble,
    _plain_weave,
    _brick_wall,
    _floor_tiles,
    _grass,
    _gaussian_noise,
    _salt_and_pepper,
    _blurred_noise,
    _dark_photo,
    _app_screenshot,
    _web_form_screenshot,
    _sky_and_ground,
)
STRANGER_KINDS = tuple(drawer.__name__.lstrip("_") for drawer in _DRAWERS)


def stranger_kind(index: int) -> str:
    """The kind of image ``index`` of :func:`non_batik_images` (the kinds cycle)."""
    return STRANGER_KINDS[index % len(STRANGER_KINDS)]


def non_batik_images(count: int, size: int, seed: int, *, first: int = 0) -> list[Image.Image]:
    """``count`` RGB ``size`` x ``size`` photos that show no batik, cycling through
    ``STRANGER_KINDS`` (image ``i`` is of kind ``stranger_kind(i)``). Image ``i`` depends only on
    ``(seed, i, size)``, so a longer list starts with the shorter one, and ``first`` gives images
    ``first``, ``first + 1``, ... of that same list (a long run drawn a batch at a time)."""
    if count < 0 or first < 0:
        raise ValueError(f"count and first must be >= 0, got {count} and {first}")
    if not MIN_SIDE <= size <= MAX_ENGINE_SIDE:
        raise ValueError(f"size must be {MIN_SIDE}..{MAX_ENGINE_SIDE}, got {size}")
    images = []
    for index in range(first, first + count):
        rng = np.random.default_rng([seed, index, 11])  # 11: not the streams synthetic_ood_images draws
        pixels = _DRAWERS[index % len(_DRAWERS)](rng, size)
        images.append(Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB"))
    return images
