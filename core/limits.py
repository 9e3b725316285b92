"""Every bound and default of a generation or classification request, in one place.

The engines, ``check_request``, the site's forms, the REST API's serializers, the
Flask-compatible service and the commands all read these; form and serializer bounds are
derived from them (``Bound.field_kwargs``), so no door can drift from another. Pure Python:
no Django, no torch, so the engines and settings import it too.

The image limits that operators may change (bytes, pixels, aspect ratio, short side) are
settings; their defaults live here and ``core.imaging.configured_limits`` reads them.
"""
from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass


@dataclass(frozen=True)
class Bound:
    """A closed interval ``[low, high]`` of finite numbers."""

    low: float
    high: float

    def __contains__(self, value) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        return math.isfinite(value) and self.low <= value <= self.high

    def field_kwargs(self) -> dict:
        """``min_value``/``max_value`` for a Django form field or a DRF serializer field."""
        return {"min_value": self.low, "max_value": self.high}


# --- generation ------------------------------------------------------------------------------
MAX_SEED = 2**32 - 1             # seeds are uint32 (NumPy's and the NVlabs generator's)
COUNT = Bound(1, 8)              # images per job
TRUNCATION = Bound(0.1, 1.0)     # 1: no truncation; lower: closer to the class's mean
DISTANCE = Bound(0.0, 1.0)       # variation: how far from the motif (or the reference)
WEIGHT = Bound(0.1, 10.0)        # a motif's weight in a fusion
REFINE_STRENGTH = Bound(0.05, 0.9)
UPSCALE_FACTORS = (1, 2, 4, 8)
FUSION_MOTIFS = Bound(2, 4)      # how many motifs a fusion mixes
MAX_REQUEST_MOTIFS = 16          # motifs a request may name at all (the serializer's list length)
PROMPT_MAX_CHARS = 300
MOTIF_SLUG_MAX_CHARS = 80


def seed_bound(count: int) -> Bound:
    """Image *i* of a job uses seed + *i*: the last one must still be a valid seed."""
    return Bound(0, MAX_SEED - max(1, int(count)) + 1)


def prompt_problem(text) -> str:
    """'' when ``text`` may be a prompt, else the reason's code: ``empty`` (nothing, or no letter
    or digit), ``too_long`` (after NFKC normalisation and stripping, as the encoder reads it) or
    ``bad_characters`` (control characters such as NUL, which no database column should hold)."""
    if not isinstance(text, str):
        return "empty"
    stripped = unicodedata.normalize("NFKC", text).strip()
    if not any(ch.isalnum() for ch in stripped):
        return "empty"
    if len(stripped) > PROMPT_MAX_CHARS:
        return "too_long"
    if any(unicodedata.category(ch) in ("Cc", "Cs") and ch not in "\t\n\r" for ch in stripped):
        return "bad_characters"
    return ""


@dataclass(frozen=True)
class GenerationDefaults:
    count: int = 4
    truncation: float = 0.7
    distance: float = 0.5
    reference_distance: float = 0.3  # "use as reference": a closer variation of a result
    refine: bool = False
    refine_strength: float = 0.3
    tile: bool = True
    upscale: int = 1


GENERATION_DEFAULTS = GenerationDefaults()

# --- print files -----------------------------------------------------------------------------
# A print job makes two files: the seamless tile at its printed size at PRINT_DPI (what a print
# shop's RIP repeats itself), and the whole cloth at PRINT_FABRIC_DPI (for shops that want the
# fabric as one file). Each has its own megapixel limit (a setting; the defaults are here).
PRINT_DPI = 300
PRINT_FABRIC_DPI = 150
PRINT_TILE_CM = Bound(1.0, 100.0)
PRINT_FABRIC_CM = Bound(1.0, 300.0)
PRINT_MAX_MEGAPIXELS = 60.0          # default of CUALIFY_PRINT_MAX_MEGAPIXELS: the tile (65.5 cm at 300 dpi)
PRINT_FABRIC_MAX_MEGAPIXELS = 100.0  # default of CUALIFY_PRINT_FABRIC_MAX_MEGAPIXELS: 250 x 110 cm at 150 dpi is 95.9 MP
# The fabric limit may never be set below this cloth (a kain of 150 x 110 cm: 57.5 MP at 150 dpi).
PRINT_FABRIC_MUST_COVER_CM = (150.0, 110.0)
PRINT_KAIN_HEIGHT_CM = 110.0         # the width of a bolt of cloth, for the limit's example


def print_px(cm: float, dpi: int) -> int:
    """``cm`` at ``dpi`` in pixels, rounded half up (5 cm at 300 dpi = 590.55 -> 591 px), not
    Python's round-half-to-even."""
    return int(math.floor(cm / 2.54 * dpi + 0.5))


def print_max_square_cm(max_megapixels: float, dpi: int = PRINT_DPI) -> float:
    """The side of the largest square a print file of ``max_megapixels`` may cover, in cm (one decimal)."""
    side_px = math.sqrt(max_megapixels * 1_000_000)
    return math.floor(side_px / dpi * 2.54 * 10) / 10


def print_max_width_cm(max_megapixels: float, height_cm: float, dpi: int) -> float:
    """The widest cloth of ``height_cm`` a print file of ``max_megapixels`` may cover (whole cm,
    at most PRINT_FABRIC_CM.high)."""
    width_px = max_megapixels * 1_000_000 / print_px(height_cm, dpi)
    return min(PRINT_FABRIC_CM.high, float(math.floor(width_px / dpi * 2.54)))


def print_fabric_min_megapixels() -> float:
    """The least CUALIFY_PRINT_FABRIC_MAX_MEGAPIXELS may be: what PRINT_FABRIC_MUST_COVER_CM needs."""
    width_cm, height_cm = PRINT_FABRIC_MUST_COVER_CM
    return print_px(width_cm, PRINT_FABRIC_DPI) * print_px(height_cm, PRINT_FABRIC_DPI) / 1_000_000


# --- images (defaults of the settings of the same name) -------------------------------------
MAX_IMAGE_BYTES = 20 * 1024 * 1024       # CUALIFY_MAX_IMAGE_BYTES
MAX_IMAGE_PIXELS = 40_000_000            # CUALIFY_MAX_IMAGE_PIXELS
MAX_IMAGE_ASPECT = 20.0                  # CUALIFY_MAX_IMAGE_ASPECT: long side / short side
MIN_IMAGE_SIDE = 16                      # CUALIFY_MIN_IMAGE_SIDE: pixels of the short side


@dataclass(frozen=True)
class ImageLimits:
    max_bytes: int = MAX_IMAGE_BYTES
    max_pixels: int = MAX_IMAGE_PIXELS
    max_aspect: float = MAX_IMAGE_ASPECT
    min_side: int = MIN_IMAGE_SIDE


# --- model inputs ---------------------------------------------------------------------------
# The largest side an engine ever resizes an input to, whatever it was given: every resize in
# the engines goes through a size bounded by this, so no input can ask for unbounded memory.
MAX_ENGINE_SIDE = 4096
