"""Image intake rules shared by every door (archive import, admin upload, classification
upload, generation reference, API, Flask-compatible service): sniff the content, bound bytes,
pixels, aspect ratio and short side (all from the header, before decoding), apply EXIF
orientation, convert to RGB and drop all metadata (EXIF, GPS, ICC comments) from the stored copy.

Pure functions on bytes; no Django, so the model engines and tests can use them too. The
configured limits, the translated messages and the HTTP status of each refusal are in
``core.intake``.
"""
from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from .limits import MAX_IMAGE_ASPECT, MIN_IMAGE_SIDE

# Formats we accept, by what Pillow detects from the bytes (never by the file name).
ACCEPTED_FORMATS = frozenset({"JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF", "MPO"})


class ImageRejected(ValueError):
    """An input that is not a usable image. ``code`` is stable for programs; the message is
    for people (callers translate it with ``core.intake.rejection_message``)."""

    def __init__(self, code: str, detail: str = ""):
        self.code = code
        self.detail = detail
        super().__init__(f"{code}: {detail}" if detail else code)


@dataclass(frozen=True)
class NormalizedImage:
    content: bytes          # the bytes to store (JPEG or PNG, no metadata)
    extension: str          # "jpg" or "png"
    width: int
    height: int
    sha256: str             # of ``content``: equal bytes mean a duplicate
    original_format: str    # what the input was, e.g. "PNG"


def open_checked(
    data: bytes, *, max_bytes: int, max_pixels: int, max_aspect: float = MAX_IMAGE_ASPECT, min_side: int = MIN_IMAGE_SIDE
) -> Image.Image:
    """Open ``data`` as an image after the cheap checks, fully decoded; raise ImageRejected.

    The aspect ratio and the short side are bounded as well as the pixel count: a 1 × 60000
    strip has few pixels, but every model scales its short side up (to 64 × 3,840,000)."""
    if not data:
        raise ImageRejected("empty", "the file is empty")
    if len(data) > max_bytes:
        raise ImageRejected("too_large", f"{len(data)} bytes > {max_bytes}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.format not in ACCEPTED_FORMATS:
                raise ImageRejected("unsupported_format", str(image.format))
            width, height = image.size
            # Checked from the header, before decoding: a bomb never reaches memory.
            if width * height > max_pixels:
                raise ImageRejected("too_many_pixels", f"{width}×{height} > {max_pixels} pixels")
            if width < 1 or height < 1:
                raise ImageRejected("not_an_image", "zero-sized image")
            if max(width, height) > max_aspect * min(width, height):
                raise ImageRejected("bad_aspect", f"{width}×{height} is longer than {max_aspect:g}:1")
            if min(width, height) < min_side:
                raise ImageRejected("too_small", f"{width}×{height}: the short side is under {min_side} px")
            image.seek(0)  # GIF / multi-page: the first frame
            image.load()
    except ImageRejected:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        if isinstance(exc, UnidentifiedImageError):
            raise ImageRejected("not_an_image", "no image format recognised in the content") from exc
        raise ImageRejected("too_many_pixels", str(exc)) from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        # Pillow reports truncated or corrupt data with these.
        raise ImageRejected("corrupt", str(exc)) from exc
    return image


def to_rgb(image: Image.Image) -> Image.Image:
    """EXIF orientation applied, then any mode (RGBA, LA, P, CMYK, I;16, 1, ...) as 8-bit RGB.

    Transparent areas are composited on white, the usual look of a cut-out photo.
    """
    image = ImageOps.exif_transpose(image)
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16/32-bit greyscale: scale to 8 bits instead of clipping.
        import numpy as np

        array = np.asarray(image, dtype=np.float64)
        top = array.max() or 1.0
        image = Image.fromarray((array * (255.0 / top)).clip(0, 255).astype("uint8"), "L")
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def normalize_image(
    data: bytes, *, max_bytes: int, max_pixels: int, max_aspect: float = MAX_IMAGE_ASPECT,
    min_side: int = MIN_IMAGE_SIDE, jpeg_quality: int = 92,
) -> NormalizedImage:
    """Validate ``data`` and return the RGB copy to store, without any metadata.

    Lossless inputs (PNG, GIF, BMP, TIFF, WebP lossless) stay lossless as PNG; photos
    become JPEG. Deterministic: the same input always gives the same bytes, so re-importing a
    file is recognised as a duplicate by its hash.
    """
    image = open_checked(data, max_bytes=max_bytes, max_pixels=max_pixels, max_aspect=max_aspect, min_side=min_side)
    original_format = image.format or "unknown"
    rgb = to_rgb(image)
    buffer = io.BytesIO()
    if original_format in ("JPEG", "MPO"):
        rgb.save(buffer, "JPEG", quality=jpeg_quality)
        extension = "jpg"
    else:
        rgb.save(buffer, "PNG", optimize=False)
        extension = "png"
    content = buffer.getvalue()
    return NormalizedImage(
        content=content,
        extension=extension,
        width=rgb.width,
        height=rgb.height,
        sha256=hashlib.sha256(content).hexdigest(),
        original_format=original_format,
    )
