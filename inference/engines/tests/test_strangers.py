"""The non-batik stranger photos: deterministic, the asked count, size and mode, every kind."""
import numpy as np
import pytest

from inference.engines.strangers import STRANGER_KINDS, non_batik_images, stranger_kind

pytestmark = pytest.mark.nodb


def pixels(image) -> np.ndarray:
    return np.asarray(image, dtype=np.int16)


def test_the_same_seed_draws_the_same_photos_and_another_seed_others():
    first, again = non_batik_images(len(STRANGER_KINDS), 48, seed=5), non_batik_images(len(STRANGER_KINDS), 48, seed=5)
    other = non_batik_images(len(STRANGER_KINDS), 48, seed=6)
    assert all(a.tobytes() == b.tobytes() for a, b in zip(first, again))
    assert all(a.tobytes() != b.tobytes() for a, b in zip(first, other))


def test_count_size_and_mode_are_as_asked():
    images = non_batik_images(17, 40, seed=0)
    assert len(images) == 17
    assert {image.size for image in images} == {(40, 40)} and {image.mode for image in images} == {"RGB"}
    assert non_batik_images(0, 40, seed=0) == []


def test_a_longer_list_starts_with_the_shorter_one_and_batches_give_the_same_photos():
    short, long = non_batik_images(3, 32, seed=2), non_batik_images(9, 32, seed=2)
    assert [image.tobytes() for image in short] == [image.tobytes() for image in long[:3]]
    batches = non_batik_images(4, 32, seed=2) + non_batik_images(5, 32, seed=2, first=4)
    assert [image.tobytes() for image in batches] == [image.tobytes() for image in long]


def test_kinds_cycle_and_name_every_drawing():
    assert len(set(STRANGER_KINDS)) == len(STRANGER_KINDS) >= 12
    for kind in ("gradient", "wood_grain", "marble", "plain_weave", "brick_wall", "grass", "gaussian_noise",
                 "salt_and_pepper", "blurred_noise", "dark_photo", "app_screenshot", "web_form_screenshot",
                 "sky_and_ground"):
        assert kind in STRANGER_KINDS
    assert [stranger_kind(i) for i in range(len(STRANGER_KINDS) + 2)] == [*STRANGER_KINDS, *STRANGER_KINDS[:2]]


def test_photos_are_not_trivially_alike_nor_flat():
    images = non_batik_images(2 * len(STRANGER_KINDS), 64, seed=1)
    arrays = [pixels(image) for image in images]
    for index, array in enumerate(arrays):
        assert array.std() > 2, f"{stranger_kind(index)} is a flat colour"
    # No two photos are the same or near copies of each other (mean absolute difference).
    for i in range(len(arrays)):
        for j in range(i + 1, len(arrays)):
            assert np.abs(arrays[i] - arrays[j]).mean() > 3, (stranger_kind(i), stranger_kind(j))


def test_a_dark_photo_is_dark_and_a_screenshot_has_text_like_detail():
    images = non_batik_images(len(STRANGER_KINDS), 128, seed=4)
    dark = pixels(images[STRANGER_KINDS.index("dark_photo")])
    assert np.median(dark) < 80
    screen = pixels(images[STRANGER_KINDS.index("app_screenshot")]).mean(axis=2)
    # Text and edges: many strong horizontal steps between neighbouring pixels.
    assert (np.abs(np.diff(screen, axis=1)) > 40).mean() > 0.01


@pytest.mark.parametrize("count,size,first", [(-1, 32, 0), (1, 4, 0), (1, 100_000, 0), (1, 32, -1)])
def test_bad_count_size_or_first_is_refused(count, size, first):
    with pytest.raises(ValueError):
        non_batik_images(count, size, seed=0, first=first)
