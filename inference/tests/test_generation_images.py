"""The Pillow-only image helpers: every output bounded, the same pixels as the plain two steps."""
import numpy as np
import pytest
from PIL import Image, ImageFilter

from core.limits import MAX_ENGINE_SIDE
from inference.engines.errors import GenerationError
from inference.generation.images import (
    fit_reference,
    print_tile,
    repeat_preview,
    resize_and_crop,
    resize_tile,
    upscale,
)

pytestmark = pytest.mark.nodb


def two_steps(image, scaled, crop, resample):
    return np.asarray(image.resize(scaled, resample).crop(crop), dtype=np.int16)


def centred(size, side, *, rounding):
    """(scaled size, crop) that fit_reference (rounding=True) or the classifier use."""
    width, height = size
    if rounding:
        scale = side / min(width, height)
        scaled = (max(side, round(width * scale)), max(side, round(height * scale)))
        left, top = (scaled[0] - side) // 2, (scaled[1] - side) // 2
    else:
        scaled = (side, int(side * height / width)) if width <= height else (int(side * width / height), side)
        left, top = int(round((scaled[0] - side) / 2.0)), int(round((scaled[1] - side) / 2.0))
    return scaled, (left, top, left + side, top + side)


@pytest.mark.parametrize("size", [(1, 60000), (60000, 1)])
def test_fitting_a_thin_strip_resizes_only_the_square_it_keeps(size, resize_sizes):
    fitted = fit_reference(Image.new("RGB", size, (10, 120, 240)), 64)
    assert fitted.size == (64, 64) and fitted.getpixel((32, 32)) == (10, 120, 240)
    assert resize_sizes == [(64, 64)]


def test_fitting_an_ordinary_photo_is_resize_then_crop_exactly():
    rng = np.random.default_rng(8)
    for _ in range(30):
        size = tuple(int(side) for side in rng.integers(8, 500, 2))
        image = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
        scaled, crop = centred(size, 64, rounding=True)
        expected = np.asarray(image.crop(crop)) if scaled == size else two_steps(image, scaled, crop,
                                                                                  Image.Resampling.LANCZOS)
        np.testing.assert_array_equal(np.asarray(fit_reference(image, 64)), expected)


@pytest.mark.parametrize(("resample", "rounding", "levels"), [
    (Image.Resampling.BILINEAR, False, 1),   # the classifier's rule
    (Image.Resampling.LANCZOS, True, 2),     # fit_reference's
])
def test_past_the_bound_the_cropped_region_alone_gives_the_two_steps_pixels(resample, rounding, levels, resize_sizes):
    """``max_side`` small enough forces the box path on images whose two steps are cheap to compare."""
    rng = np.random.default_rng(3)
    photo = Image.fromarray(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)).filter(ImageFilter.GaussianBlur(3))
    worst = 0
    for _ in range(40):
        width = int(rng.integers(4, 120))
        size = (width, int(width * rng.uniform(2, 40)))
        if rng.random() < 0.5:
            size = size[::-1]
        image = photo.resize(size, Image.Resampling.BICUBIC)
        side = int(rng.choice([16, 32, 64]))
        scaled, crop = centred(size, side, rounding=rounding)
        expected = two_steps(image, scaled, crop, resample)
        resize_sizes.clear()
        boxed = resize_and_crop(image, scaled, crop, resample, max_side=side)
        assert resize_sizes == [(side, side)]
        worst = max(worst, int(np.abs(np.asarray(boxed, dtype=np.int16) - expected).max()))
    assert worst <= levels


def test_upscale_and_repeat_previews_refuse_outputs_past_the_engine_bound(resize_sizes):
    tile = Image.new("RGB", (1024, 1024), (1, 2, 3))
    for call in (lambda: upscale(tile, 8), lambda: upscale(tile, 8, tile=True), lambda: repeat_preview(tile, 5),
                 lambda: resize_tile(tile, MAX_ENGINE_SIDE + 1)):
        with pytest.raises(GenerationError) as refused:
            call()
        assert refused.value.code == "too_large" and refused.value.details["max_side"] == MAX_ENGINE_SIDE
    assert resize_sizes == []  # refused before any pixel was made


@pytest.mark.parametrize(("tile_cm", "width_cm", "height_cm"), [(5, 20, 10), (7, 300, 1), (3, 1, 40), (2, 2, 2)])
def test_a_print_is_the_tile_repeated_from_the_corner_and_cut_at_the_edge(tile_cm, width_cm, height_cm):
    rng = np.random.default_rng(1)
    tile = Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    cloth = print_tile(tile, tile_cm, width_cm, height_cm, dpi=72)
    resized = np.asarray(resize_tile(tile, int(np.floor(tile_cm / 2.54 * 72 + 0.5))))
    side = resized.shape[0]
    reps = (-(-cloth.height // side), -(-cloth.width // side), 1)
    np.testing.assert_array_equal(np.asarray(cloth), np.tile(resized, reps)[:cloth.height, :cloth.width])
