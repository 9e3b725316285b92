"""Pillow and numpy helpers for generated motifs: upscaling, seams, repeat previews, print
files, fitting a reference photo, and PNG metadata.

The web process uses them (repeat previews, print files) and so does the queue worker (the
generator upscales and fits references with them, the pipeline writes the PNGs), so this
module imports neither Django nor torch nor any engine module but the error types
(:mod:`inference.engines.errors`); refusals are :class:`GenerationError` with the engines' codes.

Every output is bounded by construction: upscales, repeat previews and fitted references by
``core.limits.MAX_ENGINE_SIDE`` pixels a side, print files by their megapixel limit.
:func:`resize_and_crop` (the reference fit here, the classifier's preprocessing) never scales a
thin strip to an enormous intermediate: past the bound it resizes only what the crop keeps.
"""
from __future__ import annotations

import io
import math
import operator
import struct
import zlib
from collections.abc import Iterable, Iterator

import numpy as np
from PIL import Image, PngImagePlugin

from core.limits import MAX_ENGINE_SIDE, PRINT_FABRIC_CM, PRINT_TILE_CM, UPSCALE_FACTORS, print_px

from ..engines.errors import GenerationError

__all__ = [
    "AI_METADATA",
    "IPTC_TRAINED_ALGORITHMIC_MEDIA",
    "MAX_PRINT_PIXELS",
    "MAX_REPEAT",
    "UPSCALE_METHOD",
    "XMP_KEY",
    "check_upscale",
    "finite_number",
    "fit_reference",
    "number_in_range",
    "png_bytes",
    "png_write",
    "print_tile",
    "read_png_metadata",
    "repeat_bands",
    "repeat_preview",
    "resize_and_crop",
    "resize_tile",
    "resized_tile_bands",
    "seam_error",
    "upscale",
    "validate_print",
    "whole_number",
]

UPSCALE_METHOD = "Pillow Lanczos"
MIN_DPI, MAX_DPI = 72, 1200
# 120 megapixels of RGB is 360 MB in memory: about 1 m x 80 cm of cloth at 300 dpi, or the
# largest cloth (3 x 3 m, 1255 MP at 300 dpi) at 90 dpi.
MAX_PRINT_PIXELS = 120_000_000
MAX_REPEAT = 8
# Rows of a print file composed and compressed at a time (a 300 cm cloth at 150 dpi: 13 MB a band).
BAND_ROWS = 256

IPTC_TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
# Written into every PNG by png_bytes; callers cannot switch them off.
AI_METADATA = {
    "ai_generated": "true",
    "DigitalSourceType": IPTC_TRAINED_ALGORITHMIC_MEDIA,
}
SOFTWARE = "Cualify"
XMP_KEY = "XML:com.adobe.xmp"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# --- number checks (shared with the generator's request validation) --------------------------


def whole_number(value, name: str, code: str, **details) -> int:
    if not isinstance(value, bool):
        try:
            return operator.index(value)
        except TypeError:
            pass
    raise GenerationError(code, f"{name} must be a whole number, got {value!r}", value=repr(value), **details)


def finite_number(value, name: str, code: str, **details) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not math.isfinite(number):
        raise GenerationError(code, f"{name} must be a finite number, got {value!r}", value=repr(value), **details)
    return number


def number_in_range(value, name: str, low, high, *, field: str, integer: bool = False, unit: str = ""):
    number = (whole_number if integer else finite_number)(value, name, "bad_range", field=field)
    if not low <= number <= high:
        raise GenerationError("bad_range", f"{name} must be {low:g}-{high:g}{unit}, got {number:g}{unit}",
                              field=field, value=number, min=low, max=high)
    return number


def check_upscale(factor) -> int:
    factor = whole_number(factor, "upscale", "bad_upscale")
    if factor not in UPSCALE_FACTORS:
        raise GenerationError("bad_upscale", f"upscale must be one of {UPSCALE_FACTORS}, got {factor}",
                              value=factor, choices=list(UPSCALE_FACTORS))
    return factor


def _check_side(side: int, what: str, max_side: int = MAX_ENGINE_SIDE) -> None:
    if side > max_side:
        raise GenerationError("too_large", f"{what} would be {side} px on a side, more than {max_side} px",
                              side=side, max_side=max_side)


# --- tiles -----------------------------------------------------------------------------------


def _rgb_array(image) -> np.ndarray:
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB") if image.mode not in ("RGB", "L") else image)
    return np.asarray(image)


def _checked_tile(image: Image.Image, size, max_side: int) -> tuple[Image.Image, int]:
    """(the square tile in a mode that can be filtered, ``size`` as a checked whole number)."""
    if image.width != image.height:
        raise GenerationError("bad_image", f"a tile must be square, got {image.width} x {image.height} px")
    size = whole_number(size, "the tile size", "bad_range", field="size")
    if size < 1:
        raise GenerationError("bad_range", f"the tile size must be at least 1 px, got {size}", field="size")
    _check_side(size, "the resized tile", max_side)
    if image.mode not in ("RGB", "RGBA", "L"):
        image = image.convert("RGB")  # palette indices cannot be filtered
    return image, size


def _wrapped_source(image: Image.Image, size: int) -> tuple[Image.Image, int]:
    """(the tile padded on every side with its own opposite border, the pad): what a Lanczos
    resize to ``size`` px reads across the borders."""
    # Lanczos-3 reaches three source pixels out (more when shrinking), plus one for rounding.
    pad = int(math.ceil(3 * max(1.0, image.width / size))) + 1
    array = np.asarray(image)
    pad_width = ((pad, pad), (pad, pad)) + ((0, 0),) * (array.ndim - 2)
    return Image.fromarray(np.pad(array, pad_width, mode="wrap"), image.mode), pad


def resize_tile(image: Image.Image, size: int, *, wrap: bool = True, max_side: int = MAX_ENGINE_SIDE) -> Image.Image:
    """Lanczos-resize a square tile to ``size`` px (at most ``max_side``). With ``wrap`` the
    filter reads across the borders from the opposite side, so a seamless tile stays seamless."""
    image, size = _checked_tile(image, size, max_side)
    if not wrap:
        return image.resize((size, size), Image.Resampling.LANCZOS)
    padded, pad = _wrapped_source(image, size)
    return padded.resize((size, size), Image.Resampling.LANCZOS, box=(pad, pad, pad + image.width, pad + image.width))


def resized_tile_bands(image: Image.Image, size: int, *, band_rows: int = BAND_ROWS,
                       max_side: int = MAX_ENGINE_SIDE) -> Iterator[np.ndarray]:
    """``resize_tile(image, size)`` (wrapping) as bands of at most ``band_rows`` rows, top to
    bottom (uint8 arrays, rows x size x channels): only the source and one band are ever in
    memory. Each band is the source box of its rows resized (Pillow's ``box``, which samples
    the same positions as the whole resize, in single precision)."""
    image, size = _checked_tile(image, size, max_side)
    padded, pad = _wrapped_source(image, size)
    width = image.width
    scale = width / size
    for top in range(0, size, band_rows):
        rows = min(band_rows, size - top)
        box = (pad, pad + top * scale, pad + width, pad + (top + rows) * scale)
        yield np.asarray(padded.resize((size, rows), Image.Resampling.LANCZOS, box=box))


def upscale(image: Image.Image, factor: int, *, tile: bool = False) -> tuple[Image.Image, str]:
    """(image enlarged ``factor`` times, the method's name for the metadata): Lanczos, wrapping
    around the borders when ``tile`` (pass the job's tile flag, or the seam comes back);
    factor 1 returns the image itself and ``"none"``. ``too_large`` past MAX_ENGINE_SIDE px."""
    factor = check_upscale(factor)
    if factor == 1:
        return image, "none"
    _check_side(max(image.size) * factor, f"the image upscaled x{factor}")
    if tile:
        return resize_tile(image, image.width * factor, wrap=True), UPSCALE_METHOD
    return image.resize((image.width * factor, image.height * factor), Image.Resampling.LANCZOS), UPSCALE_METHOD


def seam_error(image) -> float:
    """How much the wrap-around edge stands out when the image is repeated.

    The mean absolute difference between the last and first column and between the last and
    first row (the pixels that meet when tiles are laid side by side), divided by the mean
    absolute difference between neighbouring pixels inside the image. About 1 or below for a
    seamless tile (the seam is as smooth as any other line); a visible seam gives clearly more
    (the shipped generator: ~0.8 with ``tile=True``, ~2 without, averaged over images).
    """
    array = _rgb_array(image).astype(np.float64)
    if array.ndim == 2:
        array = array[..., None]
    seam = np.concatenate([
        np.abs(array[:, -1] - array[:, 0]).ravel(),
        np.abs(array[-1] - array[0]).ravel(),
    ]).mean()
    interior = np.concatenate([
        np.abs(np.diff(array, axis=1)).ravel(),
        np.abs(np.diff(array, axis=0)).ravel(),
    ]).mean()
    if interior == 0:
        return 0.0 if seam == 0 else math.inf
    return float(seam / interior)


def repeat_preview(image: Image.Image, times: int = 3) -> Image.Image:
    """The tile repeated ``times`` x ``times`` (3 x 3 shows every seam once from each side);
    ``too_large`` past MAX_ENGINE_SIDE px a side."""
    times = number_in_range(times, "times", 1, MAX_REPEAT, field="times", integer=True)
    _check_side(max(image.size) * times, f"the tile repeated {times} times")
    array = np.asarray(image)
    reps = (times, times) + (1,) * (array.ndim - 2)
    return Image.fromarray(np.tile(array, reps), image.mode)


# --- print files -----------------------------------------------------------------------------


def _print_limit(max_megapixels) -> int:
    return MAX_PRINT_PIXELS if max_megapixels is None else int(float(max_megapixels) * 1_000_000)


def validate_print(*, tile_cm, fabric_width_cm, fabric_height_cm, dpi=300,
                   max_megapixels=None) -> tuple[int, int, int]:
    """Check a print request; returns (tile px, fabric width px, fabric height px).

    Sizes are ``round_half_up(cm / 2.54 * dpi)``; the fabric and the resized tile must each stay
    within ``max_megapixels`` (default :data:`MAX_PRINT_PIXELS`, 120 MP).
    """
    tile_cm = number_in_range(tile_cm, "the tile", PRINT_TILE_CM.low, PRINT_TILE_CM.high, field="tile_cm", unit=" cm")
    width_cm = number_in_range(fabric_width_cm, "the fabric width", PRINT_FABRIC_CM.low, PRINT_FABRIC_CM.high,
                               field="fabric_width_cm", unit=" cm")
    height_cm = number_in_range(fabric_height_cm, "the fabric height", PRINT_FABRIC_CM.low, PRINT_FABRIC_CM.high,
                                field="fabric_height_cm", unit=" cm")
    dpi = number_in_range(dpi, "dpi", MIN_DPI, MAX_DPI, field="dpi", integer=True)
    limit = _print_limit(max_megapixels)
    tile_px, width_px, height_px = (print_px(value, dpi) for value in (tile_cm, width_cm, height_cm))
    pixels = max(width_px * height_px, tile_px * tile_px)
    if pixels > limit:
        raise GenerationError(
            "too_large",
            f"a {width_cm:g} x {height_cm:g} cm print with {tile_cm:g} cm tiles at {dpi} dpi needs "
            f"{pixels / 1e6:.1f} megapixels, more than the limit of {limit / 1e6:g} megapixels: choose a smaller "
            "fabric or tile, or fewer dpi",
            pixels=pixels, max_pixels=limit, width_px=width_px, height_px=height_px, tile_px=tile_px)
    return tile_px, width_px, height_px


def repeat_bands(tile: np.ndarray, width: int, height: int, *, band_rows: int = BAND_ROWS) -> Iterator[np.ndarray]:
    """``tile`` repeated from the top-left corner over ``width`` x ``height`` px (the last row
    and column of tiles cut at the edge), as bands of at most ``band_rows`` rows: memory is the
    tile and one band, whatever the cloth."""
    tile_height, tile_width = tile.shape[:2]
    columns = np.arange(width) % tile_width
    for top in range(0, height, band_rows):
        yield tile[np.ix_(np.arange(top, min(top + band_rows, height)) % tile_height, columns)]


def print_tile(
    image: Image.Image,         # a square tile (seamless, from tile=True)
    tile_cm: float,             # printed size of one tile, 1..100 cm
    fabric_width_cm: float,     # 1..300 cm
    fabric_height_cm: float,    # 1..300 cm
    dpi: int = 300,             # 72..1200
    *,
    max_megapixels=None,        # pixel limit, None = MAX_PRINT_PIXELS (120 MP)
) -> Image.Image:
    """A print-ready cloth: the tile Lanczos-resized (wrapping, to keep it seamless) to ``tile_cm``
    at ``dpi`` and repeated from the top-left corner to fill the fabric; the last row and column
    of tiles are cut at the fabric's edge. ``info["dpi"]`` is set, so saving keeps the physical size.
    Both the resized tile and the cloth stay within the megapixel limit."""
    tile_px, width_px, height_px = validate_print(tile_cm=tile_cm, fabric_width_cm=fabric_width_cm,
                                                  fabric_height_cm=fabric_height_cm, dpi=dpi,
                                                  max_megapixels=max_megapixels)
    tile = resize_tile(image if image.mode in ("RGB", "L") else image.convert("RGB"), tile_px, wrap=True,
                       max_side=math.isqrt(_print_limit(max_megapixels)))
    cloth = Image.fromarray(np.concatenate(list(repeat_bands(np.asarray(tile), width_px, height_px))), tile.mode)
    cloth.info["dpi"] = (dpi, dpi)
    return cloth


# --- reference photos ------------------------------------------------------------------------


def resize_and_crop(image: Image.Image, scaled: tuple[int, int], crop: tuple[int, int, int, int], resample,
                    *, max_side: int = MAX_ENGINE_SIDE) -> Image.Image:
    """``image.resize(scaled, resample).crop(crop)`` without ever resizing to more than
    ``max_side`` px a side.

    While ``scaled`` fits within ``max_side``, it is exactly those two steps (the classifier's
    preprocessing must match Ultralytics' pixel for pixel). Past it, as for a strip far longer
    than wide (1 x 60000 px with its short side scaled to 64 would be 64 x 3,840,000 px first),
    only the cropped region is resized: Pillow's ``box``, the crop mapped back into the
    source's pixels, samples the same positions, so the pixels are those of the two steps
    within a level or two (Pillow holds the box in single precision).
    """
    left, top, right, bottom = crop
    if not (0 < right - left <= max_side and 0 < bottom - top <= max_side):
        raise ValueError(f"the crop {crop} must be 1..{max_side} px a side")
    if tuple(scaled) == image.size:
        return image.crop(crop)
    if max(scaled) <= max_side:
        return image.resize(tuple(scaled), resample).crop(crop)
    width, height = image.size
    x_scale, y_scale = width / scaled[0], height / scaled[1]
    box = (max(0.0, left * x_scale), max(0.0, top * y_scale),
           min(float(width), right * x_scale), min(float(height), bottom * y_scale))
    return image.resize((right - left, bottom - top), resample, box=box)


def fit_reference(image: Image.Image, resolution: int) -> Image.Image:
    """RGB, shorter side Lanczos-resized to ``resolution``, centre-cropped to a square; never
    through an image of more than MAX_ENGINE_SIDE px a side (see :func:`resize_and_crop`)."""
    if not isinstance(image, Image.Image):
        raise GenerationError("bad_image", f"the reference must be a PIL image, got {type(image).__name__}")
    try:
        rgb = image.convert("RGB")
    except (OSError, ValueError) as error:
        raise GenerationError("bad_image", f"the reference image cannot be read: {error}") from error
    width, height = rgb.size
    if width < 1 or height < 1:
        raise GenerationError("bad_image", "the reference image is empty")
    scale = resolution / min(width, height)
    scaled = (max(resolution, round(width * scale)), max(resolution, round(height * scale)))
    left = (scaled[0] - resolution) // 2
    top = (scaled[1] - resolution) // 2
    return resize_and_crop(rgb, scaled, (left, top, left + resolution, top + resolution), Image.Resampling.LANCZOS)


# --- PNG metadata ----------------------------------------------------------------------------


def _xmp_packet() -> str:
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"'
        ' xmlns:xmp="http://ns.adobe.com/xap/1.0/">'
        f"<Iptc4xmpExt:DigitalSourceType>{IPTC_TRAINED_ALGORITHMIC_MEDIA}</Iptc4xmpExt:DigitalSourceType>"
        f"<xmp:CreatorTool>{SOFTWARE}</xmp:CreatorTool>"
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
        '<?xpacket end="r"?>'
    )


def _check_key(key) -> str:
    # PNG keywords: 1-79 printable Latin-1 characters, no leading, trailing or double spaces.
    if (not isinstance(key, str) or not 1 <= len(key) <= 79 or key != key.strip() or "  " in key
            or any(not (32 <= ord(char) <= 126 or 161 <= ord(char) <= 255) for char in key)):
        raise GenerationError("bad_metadata", f"PNG metadata key {key!r} must be 1-79 printable Latin-1 "
                              "characters without outer or double spaces")
    return key


def png_bytes(image: Image.Image, metadata: dict[str, str], *, dpi: int | None = None) -> bytes:
    """Encode ``image`` as PNG with ``metadata`` as text chunks (tEXt, or iTXt for text beyond Latin-1).

    Always added, and not overridable: ``ai_generated: true``, ``DigitalSourceType`` (the IPTC
    ``trainedAlgorithmicMedia`` term, as its full URI) and the same in an XMP packet
    (``XML:com.adobe.xmp``), which is where image tools and platforms look for it; ``Software``
    defaults to "Cualify". ``dpi`` writes a pHYs chunk (the physical size, for prints). The same
    input gives the same bytes.
    """
    if not isinstance(metadata, dict):
        raise GenerationError("bad_metadata", "PNG metadata must be a dict of strings")
    text = {"Software": SOFTWARE}
    for key, value in metadata.items():
        if not isinstance(value, str):
            raise GenerationError("bad_metadata", f"PNG metadata value of {key!r} must be a string, "
                                  f"got {type(value).__name__}")
        text[_check_key(key)] = value
    text.update(AI_METADATA)
    info = PngImagePlugin.PngInfo()
    for key, value in text.items():
        info.add_text(key, value)
    info.add_itxt(XMP_KEY, _xmp_packet())
    options = {"pnginfo": info}
    if dpi is not None:
        options["dpi"] = (dpi, dpi)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **options)
    return buffer.getvalue()


def _png_chunks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    position = len(PNG_SIGNATURE)
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        yield kind, data[position + 8:position + 8 + length]
        position += 12 + length


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_write(out, size: tuple[int, int], bands: Iterable[np.ndarray], metadata: dict[str, str], *,
              dpi: int | None = None, compress_level: int = 6) -> int:
    """Write an RGB PNG of ``size`` (width, height) px to the binary file ``out`` from ``bands``
    (uint8 arrays of rows x width x 3, top to bottom, adding up to the height), with the chunks
    ``png_bytes`` writes besides the pixels (the text, the AI-generated markers, XMP, pHYs) —
    taken from what ``png_bytes`` writes, so the two cannot differ. Memory is one band and zlib's
    window whatever the size: what makes a fabric-sized file in a worker. Every row is filtered
    "Up" (its difference from the row above), cheap in numpy and good on smooth repeats.
    Returns the number of bytes written."""
    width, height = (whole_number(side, "the PNG size", "bad_range", field="size") for side in size)
    if width < 1 or height < 1:
        raise GenerationError("bad_range", f"a PNG must be at least 1 x 1 px, got {width} x {height}", field="size")
    header = png_bytes(Image.new("RGB", (1, 1)), metadata, dpi=dpi)
    parts = [PNG_SIGNATURE, _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))]
    parts += [_png_chunk(kind, data) for kind, data in _png_chunks(header) if kind not in (b"IHDR", b"IDAT", b"IEND")]
    written = sum(out.write(part) for part in parts)
    compressor = zlib.compressobj(compress_level)
    above = np.zeros((1, width * 3), np.uint8)
    rows = 0
    for band in bands:
        band = np.asarray(band)
        if band.dtype != np.uint8 or band.ndim != 3 or band.shape[1:] != (width, 3) or rows + len(band) > height:
            raise GenerationError("bad_image", f"a band of {band.shape} {band.dtype} does not fit a {width} x {height} "
                                  f"RGB PNG after {rows} rows")
        flat = band.reshape(len(band), width * 3)
        filtered = np.empty((len(band), 1 + width * 3), np.uint8)
        filtered[:, 0] = 2  # PNG filter type "Up"
        np.subtract(flat, np.concatenate([above, flat[:-1]]), out=filtered[:, 1:])  # uint8: modulo 256
        above = flat[-1:].copy()
        rows += len(band)
        compressed = compressor.compress(filtered.data)
        if compressed:
            written += out.write(_png_chunk(b"IDAT", compressed))
    if rows != height:
        raise GenerationError("bad_image", f"the bands gave {rows} rows for a {height} px high PNG")
    written += out.write(_png_chunk(b"IDAT", compressor.flush()))
    return written + out.write(_png_chunk(b"IEND", b""))


def read_png_metadata(data: bytes) -> dict[str, str]:
    """All text chunks (tEXt, zTXt, iTXt) of a PNG, keyed by keyword."""
    # Checked before Pillow sees the bytes: Ultralytics patches Image.open to install a HEIF
    # plugin when Pillow cannot identify a file.
    if not isinstance(data, (bytes, bytearray, memoryview)) or bytes(data[:8]) != PNG_SIGNATURE:
        raise GenerationError("bad_png", "not a PNG file")
    try:
        with Image.open(io.BytesIO(bytes(data)), formats=["PNG"]) as image:
            image.load()
            return {str(key): str(value) for key, value in image.text.items()}
    except (OSError, ValueError, SyntaxError) as error:
        raise GenerationError("bad_png", f"not a readable PNG: {error}") from error
