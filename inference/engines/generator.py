"""The motif generation engine: fusion, variation and reference projection on a StyleGAN2-ADA generator.

Pure PyTorch and Pillow, no Django. The queue worker loads one :class:`GeneratorEngine` per
process and calls a mode; every mode returns a :class:`GenerationResult` and rejects bad input
with :class:`GenerationError` (a stable ``code`` from :data:`ERROR_CODES` that the web
translates, an English message, and the offending values in ``detail``). The ``validate_*``
functions run the same checks without torch, and the image, print and PNG helpers need only
Pillow: importing this module does not import torch, so the web process may use them.

Rules every mode shares:

- **Seeds.** Image ``i`` of a request draws ``z = RandomState(seed + i).randn(1, z_dim)``
  (:func:`stylegan2_ada.generate.seed_to_z`, NVlabs-compatible), so image ``i`` of a run with
  seed ``s`` is image 0 of a run with seed ``s + i``: any single image can be re-made alone.
  Every image is synthesised on its own (a batch of one) for exactly that reason.
- **Truncation** ``truncation`` (psi, 0.1-1.0) pulls each w toward the mean w *of its own
  class* (estimated once per class from :data:`CLASS_MEAN_SAMPLES` fixed latents and cached on
  the engine), not toward the generator's global average, which sits between the motifs and
  would blur them together.
- **Noise** is always ``const``: the same inputs give the same pixels.
- **Tiles.** ``tile=True`` synthesises with every convolution wrapped around the borders, so the
  image repeats without a seam (:func:`seam_error` measures it); :func:`upscale` and
  :func:`print_tile` then wrap around the borders too.
- **Upscaling** by 1, 2, 4 or 8 is Pillow's Lanczos filter (:func:`upscale` returns the method
  name for the PNG metadata); it adds pixels, not detail.
- **Progress** callbacks are called as ``progress(stage, done, total)`` with stages
  ``"class_means"``, ``"synthesis"`` and ``"projection"``; an exception raised inside one stops
  the work (that is how a worker cancels a job).
"""
from __future__ import annotations

import io
import json
import math
import operator
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
from PIL import Image, PngImagePlugin

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = [
    "AI_METADATA",
    "CLASS_MEAN_SAMPLES",
    "ERROR_CODES",
    "IPTC_TRAINED_ALGORITHMIC_MEDIA",
    "MAX_PRINT_PIXELS",
    "UPSCALE_FACTORS",
    "UPSCALE_METHOD",
    "GenerationError",
    "GenerationResult",
    "GeneratorEngine",
    "GeneratorLoadError",
    "Projection",
    "coarse_layer_count",
    "fit_reference",
    "png_bytes",
    "print_tile",
    "read_png_metadata",
    "repeat_preview",
    "resize_tile",
    "seam_error",
    "upscale",
    "validate_common",
    "validate_fusion",
    "validate_print",
    "validate_variation",
]

Progress = Callable[[str, int, int], None]

MIN_COUNT, MAX_COUNT = 1, 8
MIN_FUSION_MOTIFS, MAX_FUSION_MOTIFS = 2, 4
MIN_TRUNCATION, MAX_TRUNCATION = 0.1, 1.0
SEED_LIMIT = 2**32  # numpy's RandomState takes seeds below 2**32
UPSCALE_FACTORS = (1, 2, 4, 8)
UPSCALE_METHOD = "Pillow Lanczos"
DEFAULT_TRUNCATION = 0.7
DEFAULT_DISTANCE = 0.3
# Enough latents that the mean image is within 0.6 of an 8-bit level (mean absolute) of a
# 16k-sample estimate; one batched mapping pass, ~0.02 s per class on one CPU core (64 px demo).
CLASS_MEAN_SAMPLES = 1024
CLASS_MEAN_SEED = 123456789  # RandomState seed of the latents behind every class mean
DEFAULT_PROJECTION_STEPS = 100  # ~8 s on one CPU core at 64 px
MAX_PROJECTION_STEPS = 1000
MIN_TILE_CM, MAX_TILE_CM = 1.0, 100.0
MIN_FABRIC_CM, MAX_FABRIC_CM = 1.0, 300.0
MIN_DPI, MAX_DPI = 72, 1200
# 120 megapixels of RGB is 360 MB in memory: about 1 m x 80 cm of cloth at 300 dpi, or the
# largest cloth (3 x 3 m, 1255 MP at 300 dpi) at 90 dpi.
MAX_PRINT_PIXELS = 120_000_000
MAX_REPEAT = 8
CM_PER_INCH = 2.54

IPTC_TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
# Written into every PNG by png_bytes; callers cannot switch them off.
AI_METADATA = {
    "ai_generated": "true",
    "DigitalSourceType": IPTC_TRAINED_ALGORITHMIC_MEDIA,
}
SOFTWARE = "Cualify"
XMP_KEY = "XML:com.adobe.xmp"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

ERROR_CODES = (
    "bad_count",                # count is not 1..8
    "bad_seed",                 # seed + count - 1 is not within 0..2**32 - 1
    "bad_range",                # truncation, distance, steps, print size or repeat outside its range
    "bad_upscale",              # upscale is not 1, 2, 4 or 8
    "too_few_motifs",           # a fusion of fewer than two motifs
    "too_many_motifs",          # a fusion of more than four motifs
    "motif_not_generatable",    # a class index or name the generator does not have
    "bad_weights",              # not one weight per motif, a negative or non-finite one, or all zero
    "duplicate_motif",          # the same motif twice in one fusion
    "source_not_in_motifs",     # structure_from / detail_from is not one of the fused motifs
    "one_motif",                # a conditional generator needs a class for this mode
    "unconditional",            # fusion asked of a generator without classes
    "base_conflict",            # variation given both a base ws and a base seed
    "bad_latent",               # ws of the wrong shape, or not finite
    "bad_image",                # not a usable reference image, or a tile that is not square
    "too_large",                # the print would exceed its pixel limit
    "bad_metadata",             # PNG metadata keys or values that PNG cannot hold
    "not_png",                  # read_png_metadata was given something else
)


class GenerationError(ValueError):
    """Invalid generation input. ``code`` is one of :data:`ERROR_CODES`; ``detail`` holds the values
    (for ``bad_range`` and ``bad_weights``, ``detail["field"]`` / ``detail["reason"]`` say which)."""

    def __init__(self, code: str, message: str, **detail: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.detail = detail

    def __repr__(self) -> str:
        return f"GenerationError({self.code!r}, {self.message!r})"


class GeneratorLoadError(Exception):
    """The generator file is missing or not a network this engine can load."""


@dataclass(frozen=True)
class GenerationResult:
    images: tuple[Image.Image, ...]     # RGB, resolution * upscale pixels square
    seeds: tuple[int, ...]              # the seed of each image: seed + i
    parameters: dict                    # JSON-ready: mode, inputs, seed, count, truncation, tile, upscale, ...
    timings: dict = field(default_factory=dict)  # seconds per stage

    def png_metadata(self, index: int, extra: dict[str, str] | None = None) -> dict[str, str]:
        """Text chunks for image ``index``: mode, its seed, inputs and parameters (JSON), plus ``extra``
        (model versions, job id, ...). :func:`png_bytes` adds the AI-generated marker."""
        parameters = {key: value for key, value in self.parameters.items() if key != "inputs"}
        metadata = {
            "mode": str(self.parameters.get("mode", "")),
            "seed": str(self.seeds[index]),
            "inputs": json.dumps(self.parameters.get("inputs", {}), sort_keys=True, ensure_ascii=False),
            "parameters": json.dumps(parameters, sort_keys=True, ensure_ascii=False),
        }
        metadata.update(extra or {})
        return metadata


@dataclass(frozen=True)
class Projection:
    ws: torch.Tensor                # [1, num_ws, w_dim] on the CPU: pass as ``ws`` to variation()
    class_index: int | None         # the class it was projected with (chosen when not given)
    image: Image.Image              # the projected image
    target: Image.Image             # the reference as fitted to the model resolution
    initial_distance: float         # pixel MSE (in [-1, 1] units) of the start point to the target
    final_distance: float           # pixel MSE of the projected image to the target
    steps: int


# --- validation (pure, no torch) --------------------------------------------------------------


def _as_int(value, name: str, code: str, **detail) -> int:
    if not isinstance(value, bool):
        try:
            return operator.index(value)
        except TypeError:
            pass
    raise GenerationError(code, f"{name} must be a whole number, got {value!r}", value=repr(value), **detail)


def _as_float(value, name: str, code: str, **detail) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not math.isfinite(number):
        raise GenerationError(code, f"{name} must be a finite number, got {value!r}", value=repr(value), **detail)
    return number


def _in_range(value, name: str, low, high, *, field: str, integer: bool = False, unit: str = ""):
    number = (_as_int if integer else _as_float)(value, name, "bad_range", field=field)
    if not low <= number <= high:
        raise GenerationError("bad_range", f"{name} must be {low:g}-{high:g}{unit}, got {number:g}{unit}",
                              field=field, value=number, min=low, max=high)
    return number


def _check_class(value, num_classes: int, name: str = "class index") -> int:
    index = _as_int(value, name, "motif_not_generatable")
    if not 0 <= index < num_classes:
        raise GenerationError("motif_not_generatable", f"unknown {name} {index}: the generator has classes "
                              f"0..{num_classes - 1}", value=index, num_classes=num_classes)
    return index


def _check_seed(seed, count: int = 1) -> int:
    seed = _as_int(seed, "seed", "bad_seed")
    if not 0 <= seed <= SEED_LIMIT - count:
        raise GenerationError("bad_seed", f"seed must be 0..{SEED_LIMIT - count} for {count} images, got {seed}",
                              value=seed, min=0, max=SEED_LIMIT - count)
    return seed


def _check_upscale(factor) -> int:
    factor = _as_int(factor, "upscale", "bad_upscale")
    if factor not in UPSCALE_FACTORS:
        raise GenerationError("bad_upscale", f"upscale must be one of {UPSCALE_FACTORS}, got {factor}",
                              value=factor, choices=list(UPSCALE_FACTORS))
    return factor


def validate_common(*, seed, count, truncation, upscale=1) -> tuple[int, int, float, int]:
    """Check the parameters every mode takes; returns (seed, count, truncation, upscale) normalised."""
    count = _as_int(count, "count", "bad_count")
    if not MIN_COUNT <= count <= MAX_COUNT:
        raise GenerationError("bad_count", f"count must be {MIN_COUNT}..{MAX_COUNT}, got {count}",
                              value=count, min=MIN_COUNT, max=MAX_COUNT)
    seed = _check_seed(seed, count)
    truncation = _in_range(truncation, "truncation psi", MIN_TRUNCATION, MAX_TRUNCATION, field="truncation")
    return seed, count, truncation, _check_upscale(upscale)


def validate_fusion(
    classes,                    # 2..4 class indices, or (class index, weight) pairs
    *,
    weights=None,               # one weight per class (with plain indices), None = equal
    structure_from=None,        # a class among ``classes`` or None
    detail_from=None,           # a class among ``classes`` or None
    num_classes: int,           # the generator's class count (0 = unconditional)
) -> tuple[tuple[int, ...], tuple[float, ...], int | None, int | None]:
    """Check a fusion request; returns (classes, weights normalised to sum 1, structure_from, detail_from)."""
    if num_classes == 0:
        raise GenerationError("unconditional", "this generator has no motif classes: fusion needs a conditional one")
    items = list(classes)
    if items and all(isinstance(item, (tuple, list)) for item in items):
        if weights is not None:
            raise GenerationError("bad_weights", "give weights either in (class, weight) pairs or as weights=, "
                                  "not both", reason="given_twice")
        if any(len(item) != 2 for item in items):
            raise GenerationError("bad_weights", "each pair must be (class index, weight)", reason="not_a_pair")
        weights = [weight for _, weight in items]
        items = [index for index, _ in items]
    if len(items) < MIN_FUSION_MOTIFS:
        raise GenerationError("too_few_motifs", f"a fusion takes at least {MIN_FUSION_MOTIFS} motifs, got {len(items)}",
                              value=len(items), min=MIN_FUSION_MOTIFS)
    if len(items) > MAX_FUSION_MOTIFS:
        raise GenerationError("too_many_motifs", f"a fusion takes at most {MAX_FUSION_MOTIFS} motifs, got {len(items)}",
                              value=len(items), max=MAX_FUSION_MOTIFS)
    indices = tuple(_check_class(item, num_classes, "motif class") for item in items)
    if len(set(indices)) != len(indices):
        raise GenerationError("duplicate_motif", "each motif may appear only once in a fusion", classes=list(indices))
    weights = (1.0,) * len(indices) if weights is None else tuple(weights)
    if len(weights) != len(indices):
        raise GenerationError("bad_weights", f"give one weight per motif: {len(indices)} motifs, "
                              f"{len(weights)} weights", reason="count_mismatch", motifs=len(indices),
                              weights=len(weights))
    weights = tuple(_as_float(weight, "weight", "bad_weights", reason="not_a_number") for weight in weights)
    if any(weight < 0 for weight in weights):
        raise GenerationError("bad_weights", "weights must not be negative", reason="negative", weights=list(weights))
    total = math.fsum(weights)
    if total <= 0:
        raise GenerationError("bad_weights", "at least one weight must be above zero", reason="all_zero",
                              weights=list(weights))
    sources = []
    for name, source in (("structure_from", structure_from), ("detail_from", detail_from)):
        if source is not None:
            source = _check_class(source, num_classes, name)
            if source not in indices:
                raise GenerationError("source_not_in_motifs", f"{name} must be one of the fused motifs "
                                      f"{list(indices)}, got {source}", field=name, value=source, classes=list(indices))
        sources.append(source)
    return indices, tuple(weight / total for weight in weights), sources[0], sources[1]


def validate_variation(*, distance) -> float:
    return _in_range(distance, "distance", 0.0, 1.0, field="distance")


def coarse_layer_count(num_ws: int) -> int:
    """How many of the first ws are "structure" in a fusion; the rest are "detail".

    All but the last six (at least one of each): detail is the top two octaves, i.e. the second
    convolution at a quarter of the resolution, the half- and full-resolution blocks and the
    final toRGB. For the shipped 64 px generator (10 ws) that is ws 0-3 (the 4 and 8 px blocks
    and the first 16 px convolution: layout, silhouettes, where the motifs sit) against ws 4-9
    (ornament, line work, texture, colour), the same cut as NVlabs' "coarse" styles. Measured
    on it (10 motif pairs x 3 seeds, structure from A and detail from B): the result's 8 x 8
    px layout is nearer A's in 90 % of cases and its colour statistics nearer B's in 60 %;
    splitting at half the ws (5) keeps the layout (97 %) but leaves B's colour in only 47 %:
    "detail from" would barely show. Colour is never purely "detail": each coarse block's
    toRGB reads the next w too.
    """
    return max(1, min(num_ws - 1, num_ws - 6))


# --- image helpers (pure) ---------------------------------------------------------------------


def _rgb_array(image) -> np.ndarray:
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB") if image.mode not in ("RGB", "L") else image)
    return np.asarray(image)


def resize_tile(image: Image.Image, size: int, *, wrap: bool = True) -> Image.Image:
    """Lanczos-resize a square tile to ``size`` px. With ``wrap`` the filter reads across the
    borders from the opposite side, so a seamless tile stays seamless."""
    if image.width != image.height:
        raise GenerationError("bad_image", f"a tile must be square, got {image.width} x {image.height} px")
    if image.mode not in ("RGB", "RGBA", "L"):
        image = image.convert("RGB")  # palette indices cannot be filtered
    if not wrap:
        return image.resize((size, size), Image.Resampling.LANCZOS)
    width = image.width
    # Lanczos-3 reaches three source pixels out (more when shrinking), plus one for rounding.
    pad = int(math.ceil(3 * max(1.0, width / size))) + 1
    array = np.asarray(image)
    pad_width = ((pad, pad), (pad, pad)) + ((0, 0),) * (array.ndim - 2)
    padded = Image.fromarray(np.pad(array, pad_width, mode="wrap"), image.mode)
    return padded.resize((size, size), Image.Resampling.LANCZOS, box=(pad, pad, pad + width, pad + width))


def upscale(image: Image.Image, factor: int, *, tile: bool = False) -> tuple[Image.Image, str]:
    """(image enlarged ``factor`` times, the method's name for the metadata): Lanczos, wrapping
    around the borders when ``tile`` (pass the job's tile flag, or the seam comes back);
    factor 1 returns the image itself and ``"none"``."""
    factor = _check_upscale(factor)
    if factor == 1:
        return image, "none"
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
    """The tile repeated ``times`` x ``times`` (3 x 3 shows every seam once from each side)."""
    times = _in_range(times, "times", 1, MAX_REPEAT, field="times", integer=True)
    array = np.asarray(image)
    reps = (times, times) + (1,) * (array.ndim - 2)
    return Image.fromarray(np.tile(array, reps), image.mode)


def _cm_to_px(cm: float, dpi: int) -> int:
    # Round half up, not Python's round-half-to-even: 5 cm at 300 dpi = 590.55 -> 591 px.
    return int(math.floor(cm / CM_PER_INCH * dpi + 0.5))


def validate_print(*, tile_cm, fabric_width_cm, fabric_height_cm, dpi=300,
                   max_megapixels=None) -> tuple[int, int, int]:
    """Check a print request; returns (tile px, fabric width px, fabric height px).

    Sizes are ``round_half_up(cm / 2.54 * dpi)``; the fabric and the resized tile must each stay
    within ``max_megapixels`` (default :data:`MAX_PRINT_PIXELS`, 120 MP).
    """
    tile_cm = _in_range(tile_cm, "the tile", MIN_TILE_CM, MAX_TILE_CM, field="tile_cm", unit=" cm")
    width_cm = _in_range(fabric_width_cm, "the fabric width", MIN_FABRIC_CM, MAX_FABRIC_CM,
                         field="fabric_width_cm", unit=" cm")
    height_cm = _in_range(fabric_height_cm, "the fabric height", MIN_FABRIC_CM, MAX_FABRIC_CM,
                          field="fabric_height_cm", unit=" cm")
    dpi = _in_range(dpi, "dpi", MIN_DPI, MAX_DPI, field="dpi", integer=True)
    limit = MAX_PRINT_PIXELS if max_megapixels is None else int(float(max_megapixels) * 1_000_000)
    tile_px, width_px, height_px = (_cm_to_px(value, dpi) for value in (tile_cm, width_cm, height_cm))
    pixels = max(width_px * height_px, tile_px * tile_px)
    if pixels > limit:
        raise GenerationError(
            "too_large",
            f"a {width_cm:g} x {height_cm:g} cm print with {tile_cm:g} cm tiles at {dpi} dpi needs "
            f"{pixels / 1e6:.1f} megapixels, more than the limit of {limit / 1e6:g} megapixels: choose a smaller "
            "fabric or tile, or fewer dpi",
            pixels=pixels, max_pixels=limit, width_px=width_px, height_px=height_px, tile_px=tile_px)
    return tile_px, width_px, height_px


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
    of tiles are cut at the fabric's edge. ``info["dpi"]`` is set, so saving keeps the physical size."""
    tile_px, width_px, height_px = validate_print(tile_cm=tile_cm, fabric_width_cm=fabric_width_cm,
                                                  fabric_height_cm=fabric_height_cm, dpi=dpi,
                                                  max_megapixels=max_megapixels)
    tile = resize_tile(image if image.mode in ("RGB", "L") else image.convert("RGB"), tile_px, wrap=True)
    array = np.asarray(tile)
    reps = (-(-height_px // tile_px), -(-width_px // tile_px)) + (1,) * (array.ndim - 2)
    cloth = Image.fromarray(np.ascontiguousarray(np.tile(array, reps)[:height_px, :width_px]), tile.mode)
    cloth.info["dpi"] = (dpi, dpi)
    return cloth


def fit_reference(image: Image.Image, resolution: int) -> Image.Image:
    """RGB, shorter side Lanczos-resized to ``resolution``, centre-cropped to a square."""
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
    size = (max(resolution, round(width * scale)), max(resolution, round(height * scale)))
    resized = rgb.resize(size, Image.Resampling.LANCZOS) if size != (width, height) else rgb
    left = (resized.width - resolution) // 2
    top = (resized.height - resolution) // 2
    return resized.crop((left, top, left + resolution, top + resolution))


# --- PNG metadata (pure) ----------------------------------------------------------------------


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


def read_png_metadata(data: bytes) -> dict[str, str]:
    """All text chunks (tEXt, zTXt, iTXt) of a PNG, keyed by keyword."""
    # Checked before Pillow sees the bytes: Ultralytics patches Image.open to install a HEIF
    # plugin when Pillow cannot identify a file.
    if not isinstance(data, (bytes, bytearray, memoryview)) or bytes(data[:8]) != PNG_SIGNATURE:
        raise GenerationError("not_png", "not a PNG file")
    try:
        with Image.open(io.BytesIO(bytes(data)), formats=["PNG"]) as image:
            image.load()
            return {str(key): str(value) for key, value in image.text.items()}
    except (OSError, ValueError, SyntaxError) as error:
        raise GenerationError("not_png", f"not a readable PNG: {error}") from error


# --- the engine -------------------------------------------------------------------------------


class GeneratorEngine:
    """Generate motifs with one StyleGAN2-ADA generator.

    Thread-safe: one lock serialises the work on the network and the class-mean cache (a CPU
    is saturated by one synthesis anyway). Load once per worker process and keep it.
    """

    def __init__(
        self,
        G,                          # a stylegan2_ada Generator, eval mode
        *,
        class_names=(),             # label index -> motif slug
        path: Path | None = None,   # where it was loaded from
        source: str = "",           # 'checkpoint' or 'nvlabs-pickle'
        device: str = "cpu",
    ) -> None:
        self.G = G
        self.class_names = tuple(class_names)
        self.path = path
        self.source = source
        self.device = device
        self._class_means: dict[int | None, torch.Tensor] = {}
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        name = self.path.name if self.path else "in memory"
        return f"GeneratorEngine({name!r}, resolution={self.resolution}, classes={self.num_classes})"

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> GeneratorEngine:
        from stylegan2_ada.checkpoint import CheckpointError, load_generator
        from stylegan2_ada.legacy import NetworkPickleError

        path = Path(path).expanduser().resolve()
        try:
            loaded = load_generator(path, device=device)
        except (FileNotFoundError, CheckpointError, NetworkPickleError) as error:
            raise GeneratorLoadError(str(error)) from error
        G = loaded.G.to(device).eval().requires_grad_(False)
        return cls(G, class_names=loaded.class_names, path=path, source=loaded.source, device=device)

    def warm_up(self) -> None:
        """Estimate every class mean and run one synthesis, so the first job is not the slow one."""
        import torch

        classes = list(range(self.num_classes)) or [None]
        with self._lock, torch.no_grad():
            means = self._class_means_for(classes)
            self.G.synthesis(means[0], noise_mode="const")

    # --- facts -------------------------------------------------------------------------------

    @property
    def resolution(self) -> int:
        return int(self.G.img_resolution)

    @property
    def num_classes(self) -> int:
        return int(self.G.c_dim)

    @property
    def num_ws(self) -> int:
        return int(self.G.num_ws)

    @property
    def lock(self) -> threading.RLock:
        return self._lock

    def class_index(self, name_or_index) -> int:
        """A class index from a motif slug (as in ``class_names``) or an index."""
        if isinstance(name_or_index, str):
            if name_or_index not in self.class_names:
                raise GenerationError("motif_not_generatable", f"the generator has no motif {name_or_index!r}",
                                      value=name_or_index)
            return self.class_names.index(name_or_index)
        return _check_class(name_or_index, self.num_classes)

    def _name(self, class_index: int | None) -> str | None:
        if class_index is None or class_index >= len(self.class_names):
            return None
        return self.class_names[class_index]

    def _class_or_none(self, class_index) -> int | None:
        if self.num_classes == 0:
            if class_index is not None:
                raise GenerationError("motif_not_generatable", "this generator has no motif classes: pass no class")
            return None
        if class_index is None:
            raise GenerationError("one_motif", "this generator is class-conditional: choose a motif")
        return _check_class(class_index, self.num_classes)

    # --- latents -----------------------------------------------------------------------------

    def _label(self, class_index: int | None, batch: int = 1):
        from stylegan2_ada.generate import class_label

        return class_label(self.G, class_index, batch=batch).to(self.device)

    def _z(self, seed: int):
        from stylegan2_ada.generate import seed_to_z

        return seed_to_z(seed, self.G.z_dim).to(self.device)

    def class_mean_w(self, class_index: int | None, progress: Progress | None = None):
        """The mean w of a class ([1, num_ws, w_dim]), the centre truncation pulls toward; cached."""
        return self._class_means_for([class_index], progress)[0]

    def _class_means_for(self, indices, progress: Progress | None = None) -> list:
        import torch

        with self._lock:
            missing = [index for index in dict.fromkeys(indices) if index not in self._class_means]
            if missing:
                z = torch.from_numpy(np.random.RandomState(CLASS_MEAN_SEED).randn(CLASS_MEAN_SAMPLES, self.G.z_dim))
                z = z.to(self.device, torch.float32)
                for done, index in enumerate(missing):
                    with torch.no_grad():
                        ws = self.G.mapping(z, self._label(index, CLASS_MEAN_SAMPLES))
                    self._class_means[index] = ws.mean(dim=0, keepdim=True)
                    if progress is not None:
                        progress("class_means", done + 1, len(missing))
            return [self._class_means[index] for index in indices]

    def _w(self, z, class_index: int | None, truncation: float):
        """The truncated ws of one latent for one class: lerp(class mean, ws, psi); psi 1 gives ws exactly."""
        import torch

        with torch.no_grad():
            ws = self.G.mapping(z, self._label(class_index))
        return torch.lerp(self._class_means[class_index], ws, truncation)

    def _prepare_latent(self, ws):
        import torch

        tensor = torch.as_tensor(ws, dtype=torch.float32).detach().to(self.device)
        shape = list(tensor.shape)
        if tensor.ndim == 1:
            tensor = tensor[None]
        if tensor.ndim == 2 and tensor.shape[0] == 1 and tensor.shape[1] == self.G.w_dim:
            tensor = tensor[:, None].repeat(1, self.num_ws, 1)
        elif tensor.ndim == 2 and tensor.shape[0] == self.num_ws:
            tensor = tensor[None]
        if tuple(tensor.shape) != (1, self.num_ws, self.G.w_dim) or not torch.isfinite(tensor).all():
            raise GenerationError("bad_latent", f"ws must have shape [1, {self.num_ws}, {self.G.w_dim}] "
                                  f"(or [{self.G.w_dim}]) and be finite, got {shape}", shape=shape)
        return tensor

    # --- rendering ---------------------------------------------------------------------------

    def _render(self, ws_for_seed, *, seeds, tile: bool, factor: int, progress: Progress | None):
        """Synthesise one image per seed (a batch of one: image i never depends on the others)."""
        import torch

        from stylegan2_ada.generate import to_uint8

        images = []
        for done, seed in enumerate(seeds):
            ws = ws_for_seed(seed)
            with torch.no_grad():
                pixels = to_uint8(self.G.synthesis(ws, noise_mode="const", tile=tile))[0]
            image = Image.fromarray(pixels if pixels.shape[-1] == 3 else pixels[..., 0])
            images.append(upscale(image, factor, tile=tile)[0])
            if progress is not None:
                progress("synthesis", done + 1, len(seeds))
        return tuple(images)

    def _run(self, ws_for_seed, *, classes, mode, inputs, seed, count, truncation, tile, factor, progress):
        timings = {}
        started = time.perf_counter()
        with self._lock:
            self._class_means_for(classes, progress)
            timings["class_means"] = time.perf_counter() - started
            seeds = tuple(range(seed, seed + count))
            synthesis_started = time.perf_counter()
            images = self._render(ws_for_seed, seeds=seeds, tile=bool(tile), factor=factor, progress=progress)
            timings["synthesis"] = time.perf_counter() - synthesis_started
        timings["total"] = time.perf_counter() - started
        parameters = {
            "mode": mode,
            "inputs": inputs,
            "seed": seed,
            "count": count,
            "truncation": truncation,
            "tile": bool(tile),
            "upscale": factor,
            "upscale_method": UPSCALE_METHOD if factor > 1 else "none",
            "noise_mode": "const",
            "resolution": self.resolution,
            "size": self.resolution * factor,
            "generator": self.path.name if self.path else "",
        }
        return GenerationResult(images=images, seeds=seeds, parameters=parameters, timings=timings)

    # --- modes -------------------------------------------------------------------------------

    def sample(
        self,
        class_index=None,           # motif class (required by a conditional generator)
        *,
        seed,                       # image i draws z from seed + i
        count=1,                    # images, 1..8
        truncation=DEFAULT_TRUNCATION,  # psi 0.1..1.0, toward the class's mean w
        tile=False,                 # seamless tiles
        upscale=1,                  # 1, 2, 4 or 8 (Lanczos)
        progress=None,              # progress(stage, done, total)
    ) -> GenerationResult:
        """Plain samples of one motif: what a fusion with weights (1, 0, ...) or a variation at
        distance 1 reduces to."""
        seed, count, truncation, factor = validate_common(seed=seed, count=count, truncation=truncation,
                                                          upscale=upscale)
        class_index = self._class_or_none(class_index)
        return self._run(
            lambda s: self._w(self._z(s), class_index, truncation),
            classes=[class_index], mode="sample",
            inputs={"class_index": class_index, "motif": self._name(class_index)},
            seed=seed, count=count, truncation=truncation, tile=tile, factor=factor, progress=progress,
        )

    def fusion(
        self,
        classes,                    # 2..4 class indices, or (class index, weight) pairs
        *,
        weights=None,               # with plain indices: one weight >= 0 each (normalised), None = equal
        structure_from=None,        # a class among ``classes`` for the coarse layers, None = the blend
        detail_from=None,           # a class among ``classes`` for the fine layers, None = the blend
        seed,                       # image i draws z from seed + i
        count=1,                    # images, 1..8
        truncation=DEFAULT_TRUNCATION,  # psi 0.1..1.0, toward each class's mean w
        tile=False,                 # seamless tiles
        upscale=1,                  # 1, 2, 4 or 8 (Lanczos)
        progress=None,              # progress(stage, done, total)
    ) -> GenerationResult:
        """Blend motifs in W and, optionally, take structure from one and detail from another.

        For each image the same z is mapped once with each motif's label; the ws are truncated
        toward their own class means and averaged with the normalised weights (the same as
        truncating the blend toward the equally blended means). ``structure_from`` replaces the
        first :func:`coarse_layer_count` ws with that motif's own (unblended) ws and
        ``detail_from`` the remaining ones: "structure from merak, detail from kepiting" keeps
        the peacock's layout and leans toward the crab's ornament and colours (how strongly
        depends on the model; see :func:`coarse_layer_count`). Weights (1, 0) reproduce the
        first motif's :meth:`sample` exactly.
        """
        seed, count, truncation, factor = validate_common(seed=seed, count=count, truncation=truncation,
                                                          upscale=upscale)
        indices, shares, structure_from, detail_from = validate_fusion(
            classes, weights=weights, structure_from=structure_from, detail_from=detail_from,
            num_classes=self.num_classes)
        split = coarse_layer_count(self.num_ws)

        def ws_for_seed(s):
            z = self._z(s)
            per_class = {index: self._w(z, index, truncation) for index in indices}
            blended = sum(share * per_class[index] for index, share in zip(indices, shares))
            if structure_from is not None:
                blended[:, :split] = per_class[structure_from][:, :split]
            if detail_from is not None:
                blended[:, split:] = per_class[detail_from][:, split:]
            return blended

        inputs = {
            "classes": list(indices),
            "motifs": [self._name(index) for index in indices],
            "weights": [round(share, 6) for share in shares],
            "structure_from": structure_from,
            "detail_from": detail_from,
            "coarse_layers": f"0-{split - 1}",
            "fine_layers": f"{split}-{self.num_ws - 1}",
        }
        return self._run(ws_for_seed, classes=list(indices), mode="fusion", inputs=inputs, seed=seed, count=count,
                         truncation=truncation, tile=tile, factor=factor, progress=progress)

    def variation(
        self,
        class_index=None,           # motif class: the base, and the class the steps go toward
        *,
        ws=None,                    # a base ws instead (e.g. from project_reference)
        base_seed=None,             # vary this sample of the class instead of the class's mean
        distance=DEFAULT_DISTANCE,  # 0..1: 0 = the base itself, 1 = an ordinary sample of the class
        seed,                       # image i steps toward the sample of seed + i
        count=1,                    # images, 1..8
        truncation=DEFAULT_TRUNCATION,  # psi 0.1..1.0, applied to the samples stepped toward
        tile=False,                 # seamless tiles
        upscale=1,                  # 1, 2, 4 or 8 (Lanczos)
        progress=None,              # progress(stage, done, total)
    ) -> GenerationResult:
        """Images near a base: ``w_i = lerp(w_base, w_seed_i, distance)``.

        ``w_seed_i`` is the ordinary truncated sample of seed + i (``lerp(class mean w, w,
        truncation)``); ``w_base`` is the given ``ws``, the class sample of ``base_seed``, or
        else the class's mean w (the motif's most typical form; then a variation is truncation
        toward the class mean by ``truncation * distance``).

        Why a straight step in W rather than, say, slerp in z: W is where the generator is
        close to linear (truncation itself is this lerp, and perceptual path length is
        measured there), a projected reference exists only as ws (it has no z), and the ends
        are exact: distance 0 returns the base bit for bit, distance 1 the sample of seed + i,
        and in between the pixel difference from the base grows steadily with the distance
        (on the shipped generator, 1.1 / 2.7 / 5.1 / 7.2 / 9.2 mean 8-bit levels at 0.1 /
        0.25 / 0.5 / 0.75 / 1).
        """
        import torch

        seed, count, truncation, factor = validate_common(seed=seed, count=count, truncation=truncation,
                                                          upscale=upscale)
        distance = validate_variation(distance=distance)
        class_index = self._class_or_none(class_index)
        if ws is not None and base_seed is not None:
            raise GenerationError("base_conflict", "give either a base ws or a base seed, not both")
        base_seed = _check_seed(base_seed) if base_seed is not None else None
        base_ws = self._prepare_latent(ws) if ws is not None else None

        def ws_for_seed(s):
            if base_ws is not None:
                base = base_ws
            elif base_seed is not None:
                base = self._w(self._z(base_seed), class_index, truncation)  # one mapping pass: cheap
            else:
                base = self._class_means[class_index]
            return torch.lerp(base, self._w(self._z(s), class_index, truncation), distance)

        inputs = {
            "class_index": class_index,
            "motif": self._name(class_index),
            "base": "ws" if ws is not None else ("seed" if base_seed is not None else "class_mean"),
            "base_seed": base_seed,
            "distance": distance,
        }
        return self._run(ws_for_seed, classes=[class_index], mode="variation", inputs=inputs, seed=seed,
                         count=count, truncation=truncation, tile=tile, factor=factor, progress=progress)

    def project_reference(
        self,
        image: Image.Image,         # the reference (any size; fitted to the model resolution)
        *,
        class_index=None,           # the motif to project with; None = nearest class-mean image
        steps=DEFAULT_PROJECTION_STEPS,  # optimisation steps, 1..1000
        callback=None,              # callback(step, steps) after each step
        **options,                  # feature_fn, per_layer, seed, progress: see projection()
    ):
        """The ws ([1, num_ws, w_dim], CPU) whose image resembles the reference; pass them as
        ``ws`` to :meth:`variation` with the same ``class_index``. :meth:`projection` returns
        the chosen class, the image and the distances as well."""
        return self.projection(image, class_index=class_index, steps=steps, callback=callback, **options).ws

    def projection(
        self,
        image: Image.Image,         # the reference (any size; fitted to the model resolution)
        *,
        class_index=None,           # the motif to project with; None = nearest class-mean image
        steps=DEFAULT_PROJECTION_STEPS,  # optimisation steps, 1..1000
        feature_fn=None,            # optional differentiable images -> [N, D] features
        per_layer=False,            # one w per layer (W+): closer fit, less editable
        seed=0,                     # projection noise and statistics
        callback=None,              # callback(step, steps) after each step
        progress=None,              # progress("projection", step, steps)
    ) -> Projection:
        """Find ws whose image resembles the reference (pixel and multi-scale MSE, optionally a
        feature distance, see :func:`stylegan2_ada.project.project`)."""
        import torch

        from stylegan2_ada.generate import to_uint8
        from stylegan2_ada.project import image_to_tensor, project

        steps = _in_range(steps, "projection steps", 1, MAX_PROJECTION_STEPS, field="steps", integer=True)
        target_image = fit_reference(image, self.resolution)
        target = image_to_tensor(target_image).to(self.device)
        with self._lock:
            if self.num_classes == 0 or class_index is not None:
                class_index = self._class_or_none(class_index)
            else:
                class_index = self._nearest_class(target, progress)

            def on_step(step, _loss):
                if callback is not None:
                    callback(step + 1, steps)
                if progress is not None:
                    progress("projection", step + 1, steps)

            result = project(self.G, target, class_index=class_index, steps=steps, feature_fn=feature_fn,
                             per_layer=per_layer, seed=seed, callback=on_step)
            with torch.no_grad():
                pixels = to_uint8(result.image)[0]
        return Projection(
            ws=result.ws.detach().cpu(),
            class_index=class_index,
            image=Image.fromarray(pixels if pixels.shape[-1] == 3 else pixels[..., 0]),
            target=target_image,
            initial_distance=result.initial_distance,
            final_distance=result.final_distance,
            steps=steps,
        )

    def _nearest_class(self, target, progress: Progress | None) -> int:
        """The class whose mean-w image is closest to the target in pixel MSE."""
        import torch

        means = self._class_means_for(list(range(self.num_classes)), progress)
        with torch.no_grad():
            images = self.G.synthesis(torch.cat(means), noise_mode="const")
            errors = (images - target).square().mean(dim=(1, 2, 3))
        return int(errors.argmin())
