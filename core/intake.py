"""The image intake rules as every door applies them: the configured limits, the refusal's
message in the visitor's language and its HTTP status. ``core.imaging`` holds the pure rules.

Site forms, the admin, the archive commands, the REST API and the Flask-compatible service
all call ``image_normalize`` and answer a refusal with ``rejection_message`` /
``rejection_status`` / ``rejection_detail``: one wording and one status per refusal.
"""
from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from .imaging import ImageRejected, NormalizedImage, normalize_image
from .limits import ImageLimits

REJECTION_MESSAGES = {
    "empty": _("The file is empty."),
    "too_large": _("The file is too large (at most %(max_size)s)."),
    "too_many_pixels": _("The image has too many pixels (at most %(max_megapixels)s megapixels)."),
    "bad_aspect": _("The image is too long and narrow: its long side may be at most %(max_aspect)s times its short side."),
    "too_small": _("The image is too small: its short side must be at least %(min_side)s pixels."),
    "unsupported_format": _("This image format is not supported; use JPEG, PNG, WebP, GIF, BMP or TIFF."),
    "not_an_image": _("The file is not an image."),
    "corrupt": _("The image is damaged or truncated."),
}
UNREADABLE = _("The image could not be read.")


def configured_limits() -> ImageLimits:
    return ImageLimits(
        max_bytes=settings.CUALIFY_MAX_IMAGE_BYTES, max_pixels=settings.CUALIFY_MAX_IMAGE_PIXELS,
        max_aspect=settings.CUALIFY_MAX_IMAGE_ASPECT, min_side=settings.CUALIFY_MIN_IMAGE_SIDE,
    )


def image_normalize(data: bytes) -> NormalizedImage:
    """The intake rules with the configured limits; raises ImageRejected."""
    limits = configured_limits()
    return normalize_image(data, max_bytes=limits.max_bytes, max_pixels=limits.max_pixels,
                           max_aspect=limits.max_aspect, min_side=limits.min_side)


def rejection_message(code_or_exc: str | ImageRejected) -> str:
    """The refusal in the active language, with the configured limit where it names one."""
    code = code_or_exc.code if isinstance(code_or_exc, ImageRejected) else code_or_exc
    limits = configured_limits()
    values = {"max_size": _size(limits.max_bytes), "max_megapixels": f"{limits.max_pixels / 1e6:g}",
              "max_aspect": f"{limits.max_aspect:g}", "min_side": limits.min_side}
    return str(REJECTION_MESSAGES.get(code, UNREADABLE)) % values


def _size(n_bytes: int) -> str:
    megabytes = n_bytes / 1024 / 1024
    return f"{megabytes:.3g} MB" if megabytes >= 1 else f"{n_bytes / 1024:.3g} KB"


def rejection_status(code_or_exc: str | ImageRejected) -> int:
    """413 for a file over the byte limit, else 400."""
    code = code_or_exc.code if isinstance(code_or_exc, ImageRejected) else code_or_exc
    return 413 if code == "too_large" else 400


def rejection_detail(exc: ImageRejected, *, field: str) -> dict:
    """The machine-readable part of a refusal for the API and the Flask-compatible service."""
    detail = {"code": exc.code, field: [rejection_message(exc)]}
    limits = configured_limits()
    extra = {"too_large": {"max_bytes": limits.max_bytes}, "too_many_pixels": {"max_pixels": limits.max_pixels},
             "bad_aspect": {"max_aspect": limits.max_aspect}, "too_small": {"min_side": limits.min_side}}
    return {**detail, **extra.get(exc.code, {})}
