""""Not a known motif": reject photos that look like no motif in the archive.

Softmax confidence alone is weak for this (a network trained on 14 motifs still spreads its mass
over those 14 for a brick wall, often peaked). We combine it with distance in embedding space:
the cosine distance from the photo's embedding to the nearest *prototype of the predicted class*
(per-class spherical k-means centres of the training embeddings). A photo is recognised only when
both hold: confidence >= ``min_confidence`` and distance <= ``max_distance``.

Thresholds are chosen on held-out in-distribution images only: the pair is tied to one
quantile level so that about ``target_acceptance`` of the correctly classified held-out images
pass both tests. The out-of-distribution set is never used to choose; it only reports the
false-acceptance rate (next to what confidence alone or distance alone would give at the same
acceptance).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from core.limits import MAX_ENGINE_SIDE

from .classifier import Prediction

__all__ = [
    "Decision",
    "OODCalibration",
    "calibrate_from_folders",
    "decide",
    "fit_calibration",
    "nearest_prototype_distance",
    "spherical_kmeans",
    "synthetic_ood_images",
]

REASON_OK = "ok"
REASON_LOW_CONFIDENCE = "low_confidence"
REASON_FAR = "far_from_archive"
_JSON_DECIMALS = 5  # prototypes are unit vectors: 1e-5 is far below any threshold's resolution


@dataclass(frozen=True)
class OODCalibration:
    prototypes: np.ndarray  # (K, D) float32, L2-normalised
    prototype_labels: np.ndarray  # (K,) int class indices
    min_confidence: float  # top-1 softmax threshold
    max_distance: float  # cosine distance threshold to the predicted class's nearest prototype
    metrics: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "prototypes": np.round(self.prototypes.astype(np.float64), _JSON_DECIMALS).tolist(),
            "prototype_labels": [int(label) for label in self.prototype_labels],
            "min_confidence": float(self.min_confidence),
            "max_distance": float(self.max_distance),
            "metrics": self.metrics,
        }

    @classmethod
    def from_json(cls, data: dict) -> OODCalibration:
        prototypes = np.asarray(data["prototypes"], dtype=np.float32)
        return cls(
            prototypes=_normalise_rows(prototypes.reshape(len(prototypes), -1)),
            prototype_labels=np.asarray(data["prototype_labels"], dtype=np.int64),
            min_confidence=float(data["min_confidence"]),
            max_distance=float(data["max_distance"]),
            metrics=dict(data.get("metrics") or {}),
        )


@dataclass(frozen=True)
class Decision:
    recognised: bool
    class_index: int  # the top-1 guess, recognised or not (the page still shows closest guesses)
    confidence: float
    distance: float
    reason: str  # "ok" | "low_confidence" | "far_from_archive"


def _normalise_rows(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


def spherical_kmeans(vectors: np.ndarray, k: int, *, seed: int = 0, iterations: int = 25) -> np.ndarray:
    """k unit-norm centres of unit vectors (cosine k-means, k-means++ start). Deterministic per seed.

    With k >= len(vectors) the vectors themselves are the centres.
    """
    vectors = _normalise_rows(vectors)
    if k >= len(vectors):
        return vectors.copy()
    rng = np.random.default_rng(seed)
    centres = [vectors[rng.integers(len(vectors))]]
    for _ in range(1, k):
        distance = 1.0 - np.max(vectors @ np.stack(centres).T, axis=1)
        weights = np.clip(distance, 0.0, None) ** 2
        total = weights.sum()
        choice = rng.choice(len(vectors), p=weights / total) if total > 0 else rng.integers(len(vectors))
        centres.append(vectors[choice])
    centres = np.stack(centres)
    for _ in range(iterations):
        assignment = np.argmax(vectors @ centres.T, axis=1)
        updated = centres.copy()
        for index in range(k):
            members = vectors[assignment == index]
            if len(members):
                updated[index] = members.sum(axis=0)
        updated = _normalise_rows(updated)
        if np.allclose(updated, centres, atol=1e-7):
            break
        centres = updated
    return centres


def _build_prototypes(
    embeddings: np.ndarray, labels: np.ndarray, per_class: int | None, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    prototypes, prototype_labels = [], []
    for label in np.unique(labels):
        members = embeddings[labels == label]
        centres = members if per_class is None else spherical_kmeans(members, per_class, seed=seed + int(label))
        prototypes.append(_normalise_rows(centres))
        prototype_labels.extend([int(label)] * len(centres))
    return np.concatenate(prototypes), np.asarray(prototype_labels, dtype=np.int64)


def nearest_prototype_distance(
    prototypes: np.ndarray, prototype_labels: np.ndarray, embedding: np.ndarray, class_index: int
) -> float:
    """Cosine distance (1 - cosine similarity) to the nearest prototype of ``class_index``; 2.0 if it has none."""
    mine = prototypes[prototype_labels == class_index]
    if not len(mine):
        return 2.0
    unit = embedding / max(float(np.linalg.norm(embedding)), 1e-12)
    return float(1.0 - np.max(mine @ unit.astype(np.float32)))


def decide(calibration: OODCalibration, prediction: Prediction) -> Decision:
    """Recognised only when the top-1 confidence and the archive distance both pass. Pure."""
    class_index, confidence = prediction.top[0]
    distance = nearest_prototype_distance(
        calibration.prototypes, calibration.prototype_labels, prediction.embedding, class_index
    )
    if confidence < calibration.min_confidence:
        reason = REASON_LOW_CONFIDENCE
    elif distance > calibration.max_distance:
        reason = REASON_FAR
    else:
        reason = REASON_OK
    return Decision(
        recognised=reason == REASON_OK,
        class_index=int(class_index),
        confidence=float(confidence),
        distance=distance,
        reason=reason,
    )


def _scores(
    predictions: Sequence[Prediction], prototypes: np.ndarray, prototype_labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(top-1 class, confidence, distance) per prediction."""
    classes = np.asarray([p.top[0][0] for p in predictions], dtype=np.int64)
    confidences = np.asarray([p.top[0][1] for p in predictions], dtype=np.float64)
    distances = np.asarray(
        [
            nearest_prototype_distance(prototypes, prototype_labels, p.embedding, int(c))
            for p, c in zip(predictions, classes)
        ],
        dtype=np.float64,
    )
    return classes, confidences, distances


def _rate(mask: np.ndarray) -> float:
    return float(mask.mean()) if mask.size else 0.0


def fit_calibration(
    *,
    train_embeddings: np.ndarray,
    train_labels: Sequence[int],
    heldout_predictions: list[Prediction],
    heldout_labels: Sequence[int],
    ood_predictions: list[Prediction],
    target_acceptance: float = 0.95,
    prototypes_per_class: int | None = 4,
    seed: int = 0,
) -> OODCalibration:
    """Fit prototypes on the training embeddings and thresholds on the held-out images.

    ``prototypes_per_class``: k-means centres per class (None keeps every training embedding;
    4 keeps the stored JSON small (~0.7 MB for 14 classes) and rejected OOD images at least
    as well as every training embedding did on the demo set).
    The thresholds are the ``q`` quantile of the correct held-out confidences and the ``1 - q``
    quantile of their distances, with the largest ``q`` whose joint acceptance of correct
    held-out images still reaches ``target_acceptance``.
    """
    if not 0.0 < target_acceptance <= 1.0:
        raise ValueError("target_acceptance must be in (0, 1]")
    train_embeddings = np.asarray(train_embeddings, dtype=np.float32)
    train_labels = np.asarray(train_labels, dtype=np.int64)
    heldout_labels = np.asarray(heldout_labels, dtype=np.int64)
    if len(train_embeddings) != len(train_labels):
        raise ValueError("train_embeddings and train_labels differ in length")
    if len(heldout_predictions) != len(heldout_labels):
        raise ValueError("heldout_predictions and heldout_labels differ in length")
    prototypes, prototype_labels = _build_prototypes(train_embeddings, train_labels, prototypes_per_class, seed)

    classes, confidences, distances = _scores(heldout_predictions, prototypes, prototype_labels)
    correct = classes == heldout_labels
    if not correct.any():
        raise ValueError("no held-out image is classified correctly: nothing to calibrate on")
    good_confidence, good_distance = confidences[correct], distances[correct]

    def accepted(conf: np.ndarray, dist: np.ndarray, min_confidence: float, max_distance: float) -> np.ndarray:
        return (conf >= min_confidence) & (dist <= max_distance)

    # Scan q from strict to lax on a fine grid; joint acceptance only grows as q shrinks.
    chosen = (float(np.min(good_confidence)), float(np.max(good_distance)), 0.0)
    for q in np.linspace(1.0 - target_acceptance, 0.0, 201):
        min_confidence = float(np.quantile(good_confidence, q, method="lower"))
        max_distance = float(np.quantile(good_distance, 1.0 - q, method="higher"))
        if _rate(accepted(good_confidence, good_distance, min_confidence, max_distance)) >= target_acceptance:
            chosen = (min_confidence, max_distance, float(q))
            break
    min_confidence, max_distance, q = chosen

    ood_classes, ood_confidences, ood_distances = _scores(ood_predictions, prototypes, prototype_labels)
    heldout_accepted = accepted(confidences, distances, min_confidence, max_distance)
    ood_accepted = accepted(ood_confidences, ood_distances, min_confidence, max_distance)

    # The single-signal baselines at the same acceptance of correct held-out images.
    confidence_only = float(np.quantile(good_confidence, 1.0 - target_acceptance, method="lower"))
    distance_only = float(np.quantile(good_distance, target_acceptance, method="higher"))

    metrics = {
        "target_acceptance": float(target_acceptance),
        "quantile": q,
        "min_confidence": min_confidence,
        "max_distance": max_distance,
        "prototypes": int(len(prototypes)),
        "prototypes_per_class": prototypes_per_class,
        "n_train": int(len(train_embeddings)),
        "n_heldout": int(len(heldout_labels)),
        "n_heldout_correct": int(correct.sum()),
        "n_ood": int(len(ood_predictions)),
        "heldout_accuracy": _rate(correct),
        # Share of correctly classified held-out images that are accepted (the calibrated figure).
        "heldout_acceptance": _rate(heldout_accepted[correct]),
        # Share of all held-out images accepted, and how often an accepted answer is right.
        "heldout_acceptance_all": _rate(heldout_accepted),
        "heldout_accepted_accuracy": _rate(correct[heldout_accepted]) if heldout_accepted.any() else 0.0,
        "heldout_wrong_rejected": _rate(~heldout_accepted[~correct]) if (~correct).any() else None,
        "ood_false_acceptance": _rate(ood_accepted),
        "ood_false_acceptance_confidence_only": _rate(ood_confidences >= confidence_only),
        "ood_false_acceptance_distance_only": _rate(ood_distances <= distance_only),
        "confidence_only_threshold": confidence_only,
        "distance_only_threshold": distance_only,
        "ood_median_confidence": float(np.median(ood_confidences)) if len(ood_confidences) else None,
        "ood_median_distance": float(np.median(ood_distances)) if len(ood_distances) else None,
        "heldout_median_distance": float(np.median(good_distance)),
    }
    return OODCalibration(
        prototypes=prototypes,
        prototype_labels=prototype_labels,
        min_confidence=min_confidence,
        max_distance=max_distance,
        metrics=metrics,
    )


# --- synthetic out-of-distribution images ---------------------------------------------------


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    axis = np.arange(size, dtype=np.float32) / size
    return np.meshgrid(axis, axis)  # x, y in [0, 1)


def _random_colour(rng: np.random.Generator, low: int = 0, high: int = 256) -> np.ndarray:
    return rng.integers(low, high, size=3).astype(np.float32)


def _blend(colour_a: np.ndarray, colour_b: np.ndarray, t: np.ndarray) -> np.ndarray:
    return colour_a * (1.0 - t[..., None]) + colour_b * t[..., None]


def _smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Value noise in [0, 1]: a coarse random grid bilinearly upsampled."""
    from PIL import Image

    coarse = (rng.random((cells, cells)) * 255).astype(np.uint8)
    return np.asarray(Image.fromarray(coarse).resize((size, size), Image.Resampling.BILINEAR), dtype=np.float32) / 255


def _parang(rng, size):
    x, y = _grid(size)
    period = rng.uniform(0.12, 0.25)
    wave = rng.uniform(0.02, 0.05) * np.sin((x - y) * 2 * math.pi / rng.uniform(0.08, 0.16))
    band = np.mod((x + y + wave) / period, 1.0)
    background, stripe, edge = _random_colour(rng, 150, 256), _random_colour(rng, 0, 110), _random_colour(rng)
    image = _blend(background, stripe, (band < 0.45).astype(np.float32))
    return np.where(((band > 0.45) & (band < 0.52))[..., None], edge, image)


def _kawung(rng, size):
    x, y = _grid(size)
    cells = rng.integers(3, 7)
    u, v = np.mod(x * cells, 1.0) - 0.5, np.mod(y * cells, 1.0) - 0.5
    radius = rng.uniform(0.18, 0.26)
    petals = np.zeros_like(x, dtype=bool)
    for cx, cy, rx, ry in ((0.25, 0.0, radius, radius * 0.6), (-0.25, 0.0, radius, radius * 0.6),
                           (0.0, 0.25, radius * 0.6, radius), (0.0, -0.25, radius * 0.6, radius)):
        petals |= ((u - cx) / rx) ** 2 + ((v - cy) / ry) ** 2 <= 1.0
    centre = u**2 + v**2 <= (radius * 0.25) ** 2
    background, petal, dot = _random_colour(rng, 160, 256), _random_colour(rng, 0, 140), _random_colour(rng)
    image = _blend(background, petal, petals.astype(np.float32))
    return np.where(centre[..., None], dot, image)


def _mega_mendung(rng, size):
    x, y = _grid(size)
    deep = np.array([rng.uniform(0, 40), rng.uniform(20, 80), rng.uniform(110, 200)], dtype=np.float32)
    light = np.array([rng.uniform(150, 230), rng.uniform(200, 250), 255.0], dtype=np.float32)
    image = np.zeros((size, size, 3), dtype=np.float32) + light
    for _ in range(rng.integers(3, 6)):
        cx, cy = rng.uniform(0, 1, size=2)
        distance = np.hypot(x - cx, (y - cy) * 1.8) + 0.04 * np.sin(x * rng.uniform(15, 30))
        rings = np.mod(distance / rng.uniform(0.03, 0.05), 1.0)
        inside = distance < rng.uniform(0.25, 0.45)
        shade = np.clip(distance / 0.45, 0, 1)
        cloud = _blend(deep, light, shade)
        image = np.where((inside & (rings < 0.7))[..., None], cloud, image)
    return image


def _sky_and_ground(rng, size):
    x, y = _grid(size)
    horizon = rng.uniform(0.35, 0.7) + 0.05 * np.sin(x * rng.uniform(3, 9))
    sky = _blend(np.array([rng.uniform(60, 120), rng.uniform(120, 180), 235.0], dtype=np.float32),
                 np.array([220.0, 230.0, 245.0], dtype=np.float32), y / np.maximum(horizon, 1e-3))
    ground_colour = _random_colour(rng, 40, 160) * np.array([0.8, 1.0, 0.6], dtype=np.float32)
    ground = ground_colour * (0.7 + 0.6 * _smooth_noise(rng, size, 24))[..., None]
    image = np.where((y < horizon)[..., None], sky, ground)
    return image + rng.normal(0, 6, image.shape)


def _wood_grain(rng, size):
    x, y = _grid(size)
    warp = _smooth_noise(rng, size, 6) * rng.uniform(2, 6)
    rings = 0.5 + 0.5 * np.sin((np.hypot(x - rng.uniform(-1, 2), (y - rng.uniform(-1, 2)) * 0.15) * 40 + warp) * 2)
    dark = np.array([rng.uniform(70, 110), rng.uniform(40, 65), rng.uniform(15, 35)], dtype=np.float32)
    light = np.array([rng.uniform(170, 220), rng.uniform(120, 160), rng.uniform(70, 110)], dtype=np.float32)
    return _blend(dark, light, rings ** 1.5) + rng.normal(0, 5, (size, size, 3))


def _brick_wall(rng, size):
    x, y = _grid(size)
    rows = rng.integers(5, 12)
    row = np.floor(y * rows)
    offset = np.where(np.mod(row, 2) == 0, 0.0, 0.5)
    columns = rows / 2
    u, v = np.mod(x * columns + offset, 1.0), np.mod(y * rows, 1.0)
    mortar = (u < 0.05) | (v < 0.1)
    brick = np.array([rng.uniform(130, 190), rng.uniform(50, 90), rng.uniform(30, 60)], dtype=np.float32)
    shade = 0.8 + 0.4 * _smooth_noise(rng, size, rows * 3)
    image = brick * shade[..., None]
    return np.where(mortar[..., None], np.float32(rng.uniform(170, 215)), image) + rng.normal(0, 8, (size, size, 3))


def _grass(rng, size):
    from PIL import Image, ImageDraw

    base = tuple(int(c) for c in (rng.uniform(20, 60), rng.uniform(60, 110), rng.uniform(10, 40)))
    canvas = Image.new("RGB", (size, size), base)
    draw = ImageDraw.Draw(canvas)
    for _ in range(size * 3):
        x0, y0 = rng.uniform(0, size, size=2)
        length = rng.uniform(0.05, 0.2) * size
        lean = rng.uniform(-0.4, 0.4) * length
        green = (int(rng.uniform(30, 120)), int(rng.uniform(110, 210)), int(rng.uniform(20, 80)))
        draw.line([(x0, y0), (x0 + lean, y0 - length)], fill=green, width=max(1, size // 96))
    return np.asarray(canvas, dtype=np.float32)


def _skin_blobs(rng, size):
    x, y = _grid(size)
    image = np.zeros((size, size, 3), dtype=np.float32) + _random_colour(rng, 30, 230)
    for _ in range(rng.integers(1, 4)):
        cx, cy = rng.uniform(0.2, 0.8, size=2)
        rx, ry = rng.uniform(0.12, 0.35, size=2)
        weight = np.exp(-(((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2) * 2.0)
        tone = np.array([rng.uniform(170, 240), rng.uniform(120, 190), rng.uniform(90, 160)], dtype=np.float32)
        image = _blend(image, tone, np.clip(weight * 1.6, 0, 1))
    return image + rng.normal(0, 4, image.shape)


def _noise(rng, size):
    if rng.random() < 0.5:
        return rng.uniform(0, 255, (size, size, 3))
    cells = int(rng.integers(4, 32))
    return np.stack([_smooth_noise(rng, size, cells) for _ in range(3)], axis=-1) * 255


def _checkerboard(rng, size):
    x, y = _grid(size)
    angle = rng.uniform(0, math.pi / 2)
    u, v = x * math.cos(angle) - y * math.sin(angle), x * math.sin(angle) + y * math.cos(angle)
    cells = rng.integers(2, 12)
    checks = (np.floor(u * cells) + np.floor(v * cells)) % 2
    return _blend(_random_colour(rng), _random_colour(rng), checks.astype(np.float32))


def _stripes(rng, size):
    x, y = _grid(size)
    angle = rng.uniform(0, math.pi)
    position = x * math.cos(angle) + y * math.sin(angle)
    colours = [_random_colour(rng) for _ in range(int(rng.integers(2, 5)))]
    band = np.floor(np.mod(position * rng.uniform(4, 20), len(colours))).astype(np.int64)
    return np.stack(colours)[band]


def _text_marks(rng, size):
    from PIL import Image, ImageDraw

    paper = tuple(int(c) for c in rng.uniform(200, 255, size=3))
    ink = tuple(int(c) for c in rng.uniform(0, 90, size=3))
    canvas = Image.new("RGB", (size, size), paper)
    draw = ImageDraw.Draw(canvas)
    line_height = max(4, int(size * rng.uniform(0.05, 0.09)))
    margin = size // 10
    for top in range(margin, size - margin, line_height + line_height // 2):
        x = margin + int(rng.integers(0, line_height))
        while x < size - margin:
            width = int(line_height * rng.uniform(0.3, 0.7))
            kind = rng.integers(3)
            if kind == 0:
                draw.rectangle([x, top, x + width, top + line_height], outline=ink, width=max(1, size // 128))
            elif kind == 1:
                draw.ellipse([x, top, x + width, top + line_height], outline=ink, width=max(1, size // 128))
            else:
                draw.line([(x, top + line_height), (x + width, top)], fill=ink, width=max(1, size // 128))
            x += width + int(line_height * rng.uniform(0.1, 0.3))
            if rng.random() < 0.15:
                x += line_height  # a word gap
    return np.asarray(canvas, dtype=np.float32)


_OOD_GENERATORS = (
    _parang,
    _kawung,
    _mega_mendung,
    _sky_and_ground,
    _wood_grain,
    _brick_wall,
    _grass,
    _skin_blobs,
    _noise,
    _checkerboard,
    _stripes,
    _text_marks,
)
OOD_KINDS = tuple(generator.__name__.lstrip("_") for generator in _OOD_GENERATORS)


def synthetic_ood_images(count: int, size: int, seed: int) -> list:
    """``count`` deterministic RGB images that are no Batik Cual motif, cycling through the kinds
    in ``OOD_KINDS``: other batik styles (parang, kawung, mega mendung), photo-like scenes and
    textures (sky and ground, wood, brick, grass, skin tones), noise, checkerboards, stripes and
    text-like marks, in varied colours. Image ``i`` depends only on ``(seed, i, size)``."""
    from PIL import Image

    if count < 0 or not 8 <= size <= MAX_ENGINE_SIDE:
        raise ValueError(f"count must be >= 0 and size 8..{MAX_ENGINE_SIDE}")
    images = []
    for index in range(count):
        rng = np.random.default_rng([seed, index])
        generator = _OOD_GENERATORS[index % len(_OOD_GENERATORS)]
        pixels = np.clip(generator(rng, size), 0, 255).astype(np.uint8)
        images.append(Image.fromarray(pixels))
    return images


def calibrate_from_folders(
    engine,
    data_dir,
    *,
    heldout_split: str = "val",
    ood_count: int = 120,
    ood_size: int = 256,
    seed: int = 0,
    target_acceptance: float = 0.95,
    prototypes_per_class: int | None = 4,
    batch_size: int = 32,
) -> OODCalibration:
    """Fit on an Ultralytics classification folder: prototypes from ``train/``, thresholds from
    ``heldout_split``, false acceptance on ``ood_count`` synthetic images (``seed``)."""
    from pathlib import Path

    from .training import load_class_folders

    def predict_all(images):
        return engine.predict_all(images, batch_size)

    data_dir = Path(data_dir)
    train_images, train_labels = load_class_folders(data_dir / "train", engine.class_names)
    heldout_images, heldout_labels = load_class_folders(data_dir / heldout_split, engine.class_names)
    if not train_images or not heldout_images:
        raise ValueError(f"{data_dir} needs images in train/ and {heldout_split}/ under the engine's class names")
    train_embeddings = engine.embed_all(train_images, batch_size)
    ood_predictions = predict_all(synthetic_ood_images(ood_count, ood_size, seed))
    calibration = fit_calibration(
        train_embeddings=train_embeddings,
        train_labels=train_labels,
        heldout_predictions=predict_all(heldout_images),
        heldout_labels=heldout_labels,
        ood_predictions=ood_predictions,
        target_acceptance=target_acceptance,
        prototypes_per_class=prototypes_per_class,
        seed=seed,
    )
    by_kind: dict[str, list[bool]] = {}
    for index, prediction in enumerate(ood_predictions):
        by_kind.setdefault(OOD_KINDS[index % len(OOD_KINDS)], []).append(decide(calibration, prediction).recognised)
    extra = {
        "heldout_split": heldout_split,
        "ood_size": ood_size,
        "ood_seed": seed,
        "ood_false_acceptance_by_kind": {kind: float(np.mean(flags)) for kind, flags in by_kind.items()},
    }
    return replace(calibration, metrics={**calibration.metrics, **extra})
