"""Screenshots for the README tour (``docs/tour/``), written only when
``CUALIFY_TOUR_SCREENSHOTS=1`` so that ordinary test runs leave the tree alone."""
import io
import os
from pathlib import Path

TOUR = Path(__file__).resolve().parents[2] / "docs" / "tour"


def taking_tour_shots() -> bool:
    return os.environ.get("CUALIFY_TOUR_SCREENSHOTS") == "1"


def save_tour_png(raw: bytes, name: str, *, colors: int = 128, dither: bool = True) -> Path:
    """A screenshot as ``docs/tour/<name>.png``: a palette PNG, optimised, to stay small (without
    dithering the textured demo cloth weighs far less)."""
    from PIL import Image

    picture = Image.open(io.BytesIO(raw)).convert("RGB")
    TOUR.mkdir(parents=True, exist_ok=True)
    target = TOUR / f"{name}.png"
    picture.quantize(colors=colors, method=Image.Quantize.MEDIANCUT,
                     dither=Image.Dither.FLOYDSTEINBERG if dither else Image.Dither.NONE).save(target, optimize=True)
    return target


def tour_shot(page, name: str, *, full_page: bool = True) -> Path | None:
    """Save ``page`` as ``docs/tour/<name>.png`` when tour screenshots are asked for."""
    if not taking_tour_shots():
        return None
    return save_tour_png(page.screenshot(full_page=full_page), name)
