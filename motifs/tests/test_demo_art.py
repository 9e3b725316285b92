"""Tests for motifs.demo_art, the procedural Batik Cual demo pictures.

Pure Pillow/numpy: no database, no Django settings needed.
"""
import numpy as np
import pytest
from PIL import Image

from motifs.demo_art import MOTIF_SLUGS, render_motif

pytestmark = pytest.mark.nodb

EXPECTED_SLUGS = (
    "kembang-kenanga",
    "kembang-setaman",
    "kembang-rukem",
    "kembang-setangkai",
    "bebek-kembang-sumping",
    "bebek-setaman",
    "ubur-ubur",
    "merak",
    "kucing-tidur",
    "burung-hong",
    "naga-betarung",
    "kepiting",
    "kuda-laut",
    "pucuk-rebung",
)


def _pixels(img):
    return np.asarray(img, dtype=np.float32)


def _ornament_mask(img):
    """Pixels clearly brighter than the (mostly maroon) ground."""
    g = _pixels(img).mean(axis=2)
    return g > np.median(g) + 25


# --- API and determinism ---------------------------------------------------

def test_slugs_are_the_fourteen_motifs_in_order():
    assert MOTIF_SLUGS == EXPECTED_SLUGS


@pytest.mark.parametrize("slug", ["kembang-kenanga", "merak", "pucuk-rebung"])
def test_same_arguments_give_identical_bytes(slug):
    assert render_motif(slug, 42, 96).tobytes() == render_motif(slug, 42, 96).tobytes()


def test_numpy_integer_seed_and_size_match_python_ints():
    a = render_motif("kepiting", np.int64(5), np.int32(64))
    assert a.tobytes() == render_motif("kepiting", 5, 64).tobytes()


def test_different_seeds_give_different_images():
    a = render_motif("ubur-ubur", 1, 64).tobytes()
    b = render_motif("ubur-ubur", 2, 64).tobytes()
    assert a != b


def test_different_slugs_with_same_seed_differ():
    a = render_motif("kuda-laut", 3, 64).tobytes()
    b = render_motif("kucing-tidur", 3, 64).tobytes()
    assert a != b


def test_negative_and_huge_seeds_are_accepted():
    for seed in (-1, 2**70):
        img = render_motif("merak", seed, 32)
        assert img.size == (32, 32)


@pytest.mark.parametrize("slug", EXPECTED_SLUGS)
@pytest.mark.parametrize("size", [64, 512])
def test_every_slug_renders_rgb_at_requested_size(slug, size):
    img = render_motif(slug, 0, size)
    assert isinstance(img, Image.Image)
    assert img.mode == "RGB"
    assert img.size == (size, size)
    # Not a blank cloth: some ornament stands out from the ground.
    assert _ornament_mask(img).mean() > 0.02


def test_default_size_is_512():
    assert render_motif("kepiting", 0).size == (512, 512)


@pytest.mark.parametrize("size", [32, 2048])
def test_size_limits_are_inclusive(size):
    assert render_motif("pucuk-rebung", 0, size).size == (size, size)


# --- bad input -------------------------------------------------------------

def test_unknown_slug_raises_and_names_slug_and_known_slugs():
    with pytest.raises(ValueError) as err:
        render_motif("kembang-mawar", 0, 64)
    msg = str(err.value)
    assert "kembang-mawar" in msg
    for slug in EXPECTED_SLUGS:
        assert slug in msg


@pytest.mark.parametrize("size", [0, 31, 2049, -64])
def test_size_out_of_range_raises(size):
    with pytest.raises(ValueError, match="size"):
        render_motif("merak", 0, size)


@pytest.mark.parametrize("size", [64.0, "64", None, True])
def test_non_integer_size_raises(size):
    with pytest.raises(ValueError, match="size"):
        render_motif("merak", 0, size)


@pytest.mark.parametrize("seed", [1.5, "7", None])
def test_non_integer_seed_raises(seed):
    with pytest.raises(ValueError, match="seed"):
        render_motif("merak", seed, 64)


# --- variation -------------------------------------------------------------

@pytest.mark.parametrize("slug", EXPECTED_SLUGS)
def test_two_seeds_of_one_motif_differ_meaningfully(slug):
    a, b = render_motif(slug, 0, 64), render_motif(slug, 1, 64)
    # Overall pixels (colour, layout, ground, border) ...
    assert np.abs(_pixels(a) - _pixels(b)).mean() > 8.0
    # ... and the layout of the ornament itself, not only a colour shift.
    assert (_ornament_mask(a) != _ornament_mask(b)).mean() > 0.05


@pytest.mark.parametrize("slug", ["kembang-setaman", "merak", "kuda-laut"])
def test_composition_does_not_depend_on_size(slug):
    # A thumbnail should show the same picture as the full-size render.
    small = _pixels(render_motif(slug, 4, 64))
    big = _pixels(render_motif(slug, 4, 256).resize((64, 64), Image.LANCZOS))
    other = _pixels(render_motif(slug, 5, 64))
    assert np.abs(small - big).mean() < 0.6 * np.abs(small - other).mean()


# --- distinguishability ----------------------------------------------------

def _hog(mag, bins, cells):
    n = mag.shape[0] // cells
    h = np.stack([
        np.bincount(bins[i * n:(i + 1) * n, j * n:(j + 1) * n].ravel(),
                    mag[i * n:(i + 1) * n, j * n:(j + 1) * n].ravel(), minlength=8)
        for i in range(cells) for j in range(cells)
    ]).ravel()
    return h / (np.linalg.norm(h) + 1e-6)


def _features(img):
    """Small hand-made descriptor of a 64 px image.

    Gradient-orientation histograms (shape), a coarse map of where the
    ornament is (layout), a radial/angular spectrum (translation invariant
    texture/shape scale) and the hue mix of the ornament pixels.  Each group
    is scaled so that it weighs the same whatever its length.
    """
    a = _pixels(img) / 255.0
    g = a.mean(axis=2)
    n = g.shape[0]
    gy, gx = np.gradient(g)
    mag = np.hypot(gx, gy)
    bins = np.minimum((np.mod(np.arctan2(gy, gx), np.pi) / np.pi * 8).astype(int), 7)
    mask = g > np.median(g) + 0.1
    spec = np.log1p(np.abs(np.fft.fft2(g - g.mean())))
    fy, fx = np.meshgrid(np.fft.fftfreq(n), np.fft.fftfreq(n), indexing="ij")
    rb = np.minimum((np.hypot(fx, fy) / 0.5 * 12).astype(int), 11).ravel()
    ab = np.minimum((np.mod(np.arctan2(fy, fx), np.pi) / np.pi * 8).astype(int), 7).ravel()
    spec_r = np.bincount(rb, spec.ravel(), 12) / np.bincount(rb, None, 12)
    spec_a = np.bincount(ab, spec.ravel(), 8) / np.bincount(ab, None, 8)
    hue = np.mod(np.arctan2(np.sqrt(3) * (a[..., 1] - a[..., 2]),
                            2 * a[..., 0] - a[..., 1] - a[..., 2]), 2 * np.pi)
    hue_bins = np.minimum((hue / (2 * np.pi) * 8).astype(int), 7)
    sat = a.max(axis=2) - a.min(axis=2)
    hue_hist = np.bincount(hue_bins[mask], sat[mask], 8) / (mask.sum() + 1)
    groups = [
        _hog(mag, bins, 4),
        _hog(mag, bins, 2),
        mask.reshape(8, n // 8, 8, n // 8).mean(axis=(1, 3)).ravel(),
        spec_r,
        spec_a,
        hue_hist,
    ]
    return np.concatenate([f / np.sqrt(len(f)) for f in groups])


def _nearest_centroid_accuracy(train, test):
    """train/test: lists of (label, feature vector)."""
    labels = sorted({y for y, _ in train})
    x_train = np.array([x for _, x in train])
    y_train = np.array([y for y, _ in train])
    centroids = np.array([x_train[y_train == y].mean(axis=0) for y in labels])
    # Standardise by the pooled within-class spread, so that noisy features count less.
    spread = (x_train - centroids[np.searchsorted(labels, y_train)]).std(axis=0) + 1e-3
    hits = 0
    for y, x in test:
        d = (((centroids - x) / spread) ** 2).sum(axis=1)
        hits += labels[int(np.argmin(d))] == y
    return hits / len(test)


TRAIN_SEEDS = range(10)
TEST_SEEDS = range(1000, 1006)  # held out: never seen while fitting the centroids


def test_motifs_are_distinguishable_by_a_nearest_centroid_classifier():
    train = [(s, _features(render_motif(s, k, 64))) for s in EXPECTED_SLUGS for k in TRAIN_SEEDS]
    test = [(s, _features(render_motif(s, k, 64))) for s in EXPECTED_SLUGS for k in TEST_SEEDS]
    accuracy = _nearest_centroid_accuracy(train, test)
    # Chance is 1/14 = 7%.
    print(f"nearest-centroid held-out accuracy: {accuracy:.1%}")
    assert accuracy >= 0.5, f"held-out accuracy {accuracy:.0%}"


def test_classifier_check_is_not_vacuous():
    # Control: the same check on 14 made-up classes that are all one motif
    # must stay near chance, so a high score above really comes from the art.
    slug = "kembang-kenanga"
    n = len(EXPECTED_SLUGS)
    feats = [_features(render_motif(slug, k, 64)) for k in range(n * 10)]
    train = [(k % n, f) for k, f in enumerate(feats[: n * 6])]
    test = [(k % n, f) for k, f in enumerate(feats[n * 6:])]
    assert _nearest_centroid_accuracy(train, test) < 0.3
