"""How good a model is: a classifier on known photos and on strangers (:func:`evaluate_classifier`),
a generator against the archive, measured in the active classifier's embedding space
(:func:`evaluate_generator`).

Management commands (and training) call this; it runs models, so never from a web process.

A classifier is judged on photos of known motifs (top-1, top-5, macro and per-class figures)
and, through its own calibrated "not a known motif" rule, on how many correctly classified
photos it still accepts and how many photos of no known motif (strangers: a folder of them,
or the drawn non-batik photos of :mod:`inference.engines.strangers`) it wrongly accepts.

For a generator, what is measured (formulas in :mod:`inference.engines.metrics`):

* **frechet**: Fréchet distance between all generated and all real images of the generator's
  motifs (biased by the set sizes: compare runs with the same ``per_class`` on the same archive);
* **kid**: the mean over motifs of each motif's KID, generated against real images of that
  motif (unbiased, so meaningful with the dozen images a motif may have); ``kid_overall`` is
  the KID of all against all;
* **agreement**: share of samples conditioned on motif m that the classifier calls m;
* **diversity**: mean pairwise cosine distance within each motif's samples, averaged over
  motifs (within a motif, so a generator that collapses to one image per class scores 0 even
  though its classes differ), and ``diversity_real`` the same for the archive: the reference.

Features are the classifier's L2-normalised embeddings. The Fréchet distance and diversity
use them as they are; for KID they are scaled by √d, so the kernel's x·y/d is the cosine
similarity (its 1/d assumes coordinates of order 1, as in Inception features, and unit vectors
would leave the cubic kernel almost linear).

Real images are the archive's consented images of those motifs (AI-generated designs
excluded), fitted to the generator's resolution the way the training export does it, so
both sets reach the classifier at the same sharpness.
"""
from __future__ import annotations

import logging
import math
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.db import transaction
from django.utils import timezone

from .models import ModelKind, ModelVersion
from .runtime import active_version, ensure_offline, model_file

logger = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]  # progress(stage, done, total)

DEFAULT_PER_CLASS = 16
MIN_PER_CLASS, MAX_PER_CLASS = 2, 256
# Class i draws its samples from seeds seed + SEED_STRIDE·i + j (j < per_class ≤ 256), so no two
# classes share a latent and the samples of one class do not change when classes are added.
SEED_STRIDE = 1000
# Truncation trades diversity for fidelity; distribution metrics are measured without it (ψ = 1).
DEFAULT_TRUNCATION = 1.0
EMBED_BATCH = 64
KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000
ROUND = 6


class EvaluationError(Exception):
    """Nothing to measure with: no active classifier or generator, or no real images to compare."""


_TOO_FEW_REAL = "the archive has fewer than 2 readable consented images of the generator's motifs to compare with"


# --- pieces (also used by training) -------------------------------------------------------------


def generated_by_motif(
    generator, class_map: dict, *, per_class: int, seed: int, truncation: float, progress: Progress | None = None,
) -> dict[str, list]:
    """``per_class`` samples of each generator class that maps to a motif, as PIL images by motif slug."""
    from .engines.generator import MAX_COUNT

    jobs = [(index, class_map.get(name)) for index, name in enumerate(generator.class_names)]
    jobs = [(index, slug) for index, slug in jobs if slug]
    samples: dict[str, list] = defaultdict(list)
    done, total = 0, len(jobs) * per_class
    for index, slug in jobs:
        first = seed + SEED_STRIDE * index
        for start in range(0, per_class, MAX_COUNT):
            count = min(MAX_COUNT, per_class - start)
            result = generator.sample(index, seed=first + start, count=count, truncation=truncation)
            samples[slug].extend(result.images)
            done += count
            if progress:
                progress("generate", done, total)
    return dict(samples)


def classify_images(engine, version: ModelVersion, images: Sequence, progress: Progress | None = None,
                    stage: str = "classify") -> tuple[np.ndarray, list[str | None], list[bool]]:
    """(embeddings [N, D], predicted motif slug or None per image, whether each answer is
    accepted as a known motif under the version's calibration — what "Classify this" shows) in
    batches."""
    calibration = calibration_of(version)
    embeddings, slugs, accepted = [], [], []
    for start in range(0, len(images), EMBED_BATCH):
        predictions = engine.predict(list(images[start:start + EMBED_BATCH]))
        for prediction in predictions:
            embeddings.append(prediction.embedding)
            slugs.append(version.motif_slug(prediction.top[0][0]))
        accepted += accepted_as_known(calibration, predictions)
        if progress:
            progress(stage, len(slugs), len(images))
    return np.stack(embeddings), slugs, accepted


def embed_images(engine, images: Sequence, progress: Progress | None = None, stage: str = "embed") -> np.ndarray:
    parts = []
    for start in range(0, len(images), EMBED_BATCH):
        parts.append(engine.embed(list(images[start:start + EMBED_BATCH])))
        if progress:
            progress(stage, min(start + EMBED_BATCH, len(images)), len(images))
    return np.concatenate(parts) if parts else np.zeros((0, engine.embedding_dim), np.float32)


def _real_rows(slugs):
    """The archive's consented images of ``slugs``, AI-generated designs excluded."""
    from motifs.models import MotifImage

    return (MotifImage.objects.filter(training_consent=True, motif__slug__in=list(slugs))
            .exclude(source=MotifImage.Source.GENERATED).select_related("motif").order_by("motif__slug", "id"))


def _real_images_by_motif(slugs, size: int, progress: Progress | None = None) -> dict[str, list]:
    """:func:`_real_rows` as PIL images fitted to ``size`` (as the training export fits them), by slug."""
    from PIL import Image

    from motifs.dataset import square_resize

    rows = list(_real_rows(slugs))
    images: dict[str, list] = defaultdict(list)
    for done, row in enumerate(rows, start=1):
        try:
            with row.file.open("rb") as handle:
                picture = Image.open(handle).convert("RGB")
        except (OSError, ValueError):  # a file lost from storage must not stop the evaluation
            logger.warning("skipped unreadable archive image %s (%s)", row.pk, row.file.name)
            continue
        images[row.motif.slug].append(square_resize(picture, size))
        if progress:
            progress("real images", done, len(rows))
    return dict(images)


# --- the evaluation -----------------------------------------------------------------------------


def recognised_slugs(predicted: Sequence[str | None], accepted: Sequence[bool]) -> list[str | None]:
    """What "Classify this" answers: the predicted motif where the calibration accepts it, else
    None ("not a known motif"); ``metrics.agreement`` of these is the recognised share."""
    return [slug if ok else None for slug, ok in zip(predicted, accepted, strict=True)]


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), ROUND)


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def _check(version: ModelVersion | None, per_class: int, seed: int, truncation: float) -> ModelVersion:
    from .engines.generator import MAX_TRUNCATION, MIN_TRUNCATION, SEED_LIMIT

    if version is None:
        version = active_version(ModelKind.GENERATOR)
        if version is None:
            raise EvaluationError("no active generator: register one (manage.py bootstrap) or activate one in the admin")
    elif version.kind != ModelKind.GENERATOR:
        raise EvaluationError(f"{version} is a {version.get_kind_display().lower()}, not a generator")
    if not MIN_PER_CLASS <= per_class <= MAX_PER_CLASS:
        raise EvaluationError(f"per_class must be {MIN_PER_CLASS}..{MAX_PER_CLASS}, got {per_class}")
    last_seed = seed + SEED_STRIDE * max(len(version.class_names) - 1, 0) + per_class - 1
    if seed < 0 or last_seed >= SEED_LIMIT:
        raise EvaluationError(f"seed must be 0..{SEED_LIMIT - 1 - (last_seed - seed)} for this generator, got {seed}")
    if not MIN_TRUNCATION <= truncation <= MAX_TRUNCATION or not math.isfinite(truncation):
        raise EvaluationError(f"truncation must be {MIN_TRUNCATION}..{MAX_TRUNCATION}, got {truncation}")
    return version


def _halves(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(count)
    return np.sort(order[: count // 2]), np.sort(order[count // 2:])


def _kid(a: np.ndarray, b: np.ndarray, seed: int) -> float | None:
    from .engines import metrics

    if len(a) < 2 or len(b) < 2:
        return None
    return metrics.kernel_inception_distance(a, b, subsets=KID_SUBSETS, subset_size=KID_SUBSET_SIZE, seed=seed)


def neutral_evaluation(order: Sequence[str], generated: dict[str, list], real: dict[str, list], *, seed: int,
                       progress: Progress | None = None, features=None) -> dict:
    """The generator's figures in the neutral ImageNet space (:mod:`inference.engines.neutral`),
    each beside the archive measured against itself (its *floor*: each motif's archive images
    split in two random halves, one half against the other), per-motif diversity beside the
    archive's, and near-duplicates: pairs of one motif's samples closer than the closest pair of
    that motif's archive images. The Fréchet floor uses half-size sets, so it is biased upwards
    (the generator's figure, on full sets, less so): read it as "about this much or less"; KID
    is unbiased and compares directly."""
    from .engines import metrics
    from .engines.neutral import DESCRIPTION, NeutralFeatures

    features = features or NeutralFeatures()
    all_generated = [image for slug in order for image in generated[slug]]
    all_real = [image for slug in order for image in real.get(slug, [])]
    g_all = features.features(all_generated, progress and (lambda done, total: progress("neutral generated", done, total)))
    r_all = features.features(all_real, progress and (lambda done, total: progress("neutral real", done, total)))

    per_motif, halves_a, halves_b, g_start, r_start = {}, [], [], 0, 0
    for slug in order:
        g = g_all[g_start:g_start + len(generated[slug])]
        r = r_all[r_start:r_start + len(real.get(slug, []))]
        g_start, r_start = g_start + len(g), r_start + len(r)
        a, b = _halves(len(r), seed)
        halves_a.append(r[a])
        halves_b.append(r[b])
        closest = metrics.closest_pair_distance(r) if len(r) >= 2 else None
        per_motif[slug] = {
            "kid": _round(_kid(g, r, seed)),
            "kid_floor": _round(_kid(r[a], r[b], seed)),
            "diversity": _round(metrics.mean_pairwise_distance(g)) if len(g) >= 2 else None,
            "diversity_real": _round(metrics.mean_pairwise_distance(r)) if len(r) >= 2 else None,
            "closest_real_pair": _round(closest),
            "near_duplicates": metrics.pairs_closer_than(g, closest) if closest is not None and len(g) >= 2 else None,
            "pairs": len(g) * (len(g) - 1) // 2,
        }
    half_a, half_b = np.concatenate(halves_a), np.concatenate(halves_b)
    counted = [row["near_duplicates"] for row in per_motif.values() if row["near_duplicates"] is not None]
    return {
        "features": DESCRIPTION,
        "frechet": _round(metrics.frechet_distance(g_all, r_all)),
        "kid": _round(_mean(row["kid"] for row in per_motif.values())),
        "kid_overall": _round(_kid(g_all, r_all, seed)),
        "floor": {
            "frechet": _round(metrics.frechet_distance(half_a, half_b)) if min(len(half_a), len(half_b)) >= 2 else None,
            "kid": _round(_mean(row["kid_floor"] for row in per_motif.values())),
            "kid_overall": _round(_kid(half_a, half_b, seed)),
        },
        "diversity": _round(_mean(row["diversity"] for row in per_motif.values())),
        "diversity_real": _round(_mean(row["diversity_real"] for row in per_motif.values())),
        "near_duplicates": sum(counted) if counted else None,
        "pairs": sum(row["pairs"] for row in per_motif.values() if row["near_duplicates"] is not None),
        "per_motif": per_motif,
    }


def evaluate_generator(
    version: ModelVersion | None = None,  # a generator version; None = the active one
    *,
    per_class: int = DEFAULT_PER_CLASS,   # samples per generator class (2..256)
    seed: int = 0,                         # class i uses seeds seed + 1000·i + j
    truncation: float = DEFAULT_TRUNCATION,
    progress: Progress | None = None,
) -> dict:
    """Measure a generator against the archive (see the module docstring), store the result as
    ``version.metrics["evaluation"]`` and return it. Raises EvaluationError when there is no
    active classifier, no generator, no class mapped to a motif, or fewer than 2 real images."""
    from .engines import metrics

    version = _check(version, per_class, seed, truncation)
    classifier_version = active_version(ModelKind.CLASSIFIER)
    if classifier_version is None:
        raise EvaluationError("no active classifier: the metrics are measured in its embedding space; "
                              "register one (manage.py bootstrap) or activate one in the admin")
    slugs = {version.class_map.get(name) for name in version.class_names} - {None, ""}
    if not slugs:
        raise EvaluationError(f"none of the classes of {version} maps to a motif of the archive")
    if _real_rows(slugs).count() < 2:  # said before minutes of sampling, not after
        raise EvaluationError(_TOO_FEW_REAL)
    started = time.perf_counter()

    ensure_offline()
    from .engines.classifier import ClassifierEngine
    from .engines.generator import GeneratorEngine

    # Loaded here rather than through runtime.get_model: that is the workers' cache, and it
    # announces a worker heartbeat this command must not fake.
    classifier = ClassifierEngine.load(model_file(classifier_version))
    generator = GeneratorEngine.load(model_file(version))
    generated = generated_by_motif(generator, version.class_map, per_class=per_class, seed=seed,
                                   truncation=truncation, progress=progress)
    real = _real_images_by_motif(generated, generator.resolution, progress)
    if sum(len(images) for images in real.values()) < 2:
        raise EvaluationError(_TOO_FEW_REAL)

    order = sorted(generated)
    generated_images = [image for slug in order for image in generated[slug]]
    real_images = [image for slug in order for image in real.get(slug, [])]
    generated_features, predicted, accepted = classify_images(classifier, classifier_version, generated_images,
                                                              progress, "classify generated")
    answered = recognised_slugs(predicted, accepted)
    real_features = embed_images(classifier, real_images, progress, "embed real")
    scale = math.sqrt(generated_features.shape[1])  # KID's x·y/d becomes the cosine similarity

    per_motif, g_start, r_start = {}, 0, 0
    for slug in order:
        g_count, r_count = len(generated[slug]), len(real.get(slug, []))
        g = generated_features[g_start:g_start + g_count]
        r = real_features[r_start:r_start + r_count]
        per_motif[slug] = {
            "kid": _round(metrics.kernel_inception_distance(g * scale, r * scale, subsets=KID_SUBSETS,
                                                            subset_size=KID_SUBSET_SIZE, seed=seed))
            if r_count >= 2 else None,
            "agreement": _round(metrics.agreement(predicted[g_start:g_start + g_count], [slug] * g_count)),
            "recognised": _round(metrics.agreement(answered[g_start:g_start + g_count], [slug] * g_count)),
            "diversity": _round(metrics.mean_pairwise_distance(g)),
            "diversity_real": _round(metrics.mean_pairwise_distance(r)) if r_count >= 2 else None,
            "n_generated": g_count,
            "n_real": r_count,
        }
        g_start, r_start = g_start + g_count, r_start + r_count

    neutral = neutral_evaluation(order, generated, real, seed=seed, progress=progress)

    wanted = [slug for slug in order for _ in generated[slug]]
    result = {
        "frechet": _round(metrics.frechet_distance(generated_features, real_features)),
        "kid": _round(_mean(row["kid"] for row in per_motif.values())),
        "kid_overall": _round(metrics.kernel_inception_distance(
            generated_features * scale, real_features * scale, subsets=KID_SUBSETS, subset_size=KID_SUBSET_SIZE, seed=seed)),
        "agreement": _round(metrics.agreement(predicted, wanted)),
        # "Classify this" on a result: the intended motif, and not "not a known motif".
        "recognised": _round(metrics.agreement(answered, wanted)),
        "diversity": _round(_mean(row["diversity"] for row in per_motif.values())),
        "diversity_real": _round(_mean(row["diversity_real"] for row in per_motif.values())),
        "n": {"generated": len(generated_images), "real": len(real_images), "motifs": len(order),
              "motifs_with_kid": sum(row["kid"] is not None for row in per_motif.values())},
        "per_motif": per_motif,
        "date": timezone.now().isoformat(timespec="seconds"),
        "generator_version": version.pk,
        "classifier_version": classifier_version.pk,
        "classifier_sha256": classifier_version.sha256,
        "per_class": per_class,
        "seed": seed,
        "truncation": truncation,
        "features": f"classifier embedding, d={generated_features.shape[1]} (unit length; ×√d for KID)",
        "neutral": neutral,
        # The figures the generator's goals are stated in, flat (the same values as above).
        "agreement_min": _round(min(row["agreement"] for row in per_motif.values())),
        "diversity_archive": _round(_mean(row["diversity_real"] for row in per_motif.values())),
        "frechet_neutral": neutral["frechet"],
        "frechet_neutral_floor": neutral["floor"]["frechet"],
        "resolution": generator.resolution,
        "seconds": round(time.perf_counter() - started, 1),
    }
    with transaction.atomic():  # other keys of metrics may be written meanwhile: change only ours
        row = ModelVersion.objects.select_for_update().get(pk=version.pk)
        row.metrics = {**row.metrics, "evaluation": result}
        row.save(update_fields=["metrics"])
    version.metrics = row.metrics
    return result


# --- classifier: known photos and strangers ("not a known motif") -------------------------------

OPEN_SET_OFF = ('"not a known motif" is off for this version (no calibration): every photo is answered as its '
                "closest motif, so every photo is accepted (acceptance 1.0)")
TOP_LEVEL = "."  # the group of stranger photos lying directly in the folder, not in a subfolder
MAX_SYNTHETIC_STRANGERS = 10_000
PREDICT_BATCH = 32


@dataclass(frozen=True)
class ClassifierEvaluation:
    """``evaluate_classifier``'s answer: the usual figures on known photos (``known``: None when
    none were evaluated) and the open-set figures (``open_set``)."""

    version_id: int
    folder: str | None
    known: object | None  # engines.training.EvaluationResult
    open_set: dict

    def to_json(self) -> dict:
        return {"version": self.version_id, "folder": self.folder, **(self.known.to_json() if self.known else {}),
                "open_set": self.open_set}


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, ROUND) if whole else None


def accepted_as_known(calibration, predictions: Sequence) -> list[bool]:
    """Whether each prediction is answered as a known motif under ``calibration`` (an
    ``engines.ood.OODCalibration``; None — no calibration — accepts every photo). Pure."""
    if calibration is None:
        return [True] * len(predictions)
    from .engines.ood import decide

    return [decide(calibration, prediction).recognised for prediction in predictions]


def known_photo_acceptance(accepted: Sequence[bool], predicted: Sequence[int], truth: Sequence[int]) -> dict:
    """On photos of known motifs: the share of *correctly classified* photos that are accepted
    (what the calibration aims at), of all photos accepted, how often an accepted answer is
    right, and the share of wrong answers the rule turns into "not a known motif". Pure."""
    correct = [p == t for p, t in zip(predicted, truth, strict=True)]
    n_correct = sum(correct)
    n_correct_accepted = sum(a and c for a, c in zip(accepted, correct))
    n_accepted = sum(accepted)
    n_wrong = len(correct) - n_correct
    return {
        "n": len(correct),
        "n_correct": n_correct,
        "n_accepted": n_accepted,
        "n_correct_accepted": n_correct_accepted,
        "correct_acceptance": _share(n_correct_accepted, n_correct),
        "acceptance": _share(n_accepted, len(correct)),
        "accepted_accuracy": _share(n_correct_accepted, n_accepted),
        "wrong_rejected": _share(sum(not a and not c for a, c in zip(accepted, correct)), n_wrong),
    }


def stranger_acceptance(accepted: Sequence[bool], groups: Sequence[str]) -> dict:
    """On photos that show no known motif: the false acceptance (share answered as a known
    motif), overall and per group (a subfolder, or a drawn kind). Pure."""
    by_group: dict[str, list[bool]] = defaultdict(list)
    for flag, group in zip(accepted, groups, strict=True):
        by_group[group].append(flag)
    return {
        "n": len(accepted),
        "n_accepted": sum(accepted),
        "false_acceptance": _share(sum(accepted), len(accepted)),
        "by_group": {group: {"n": len(flags), "n_accepted": sum(flags), "false_acceptance": _share(sum(flags), len(flags))}
                     for group, flags in sorted(by_group.items())},
    }


def calibration_of(version: ModelVersion):
    """The version's ``OODCalibration``, or None when it has none ("not a known motif" is off)."""
    stored = ModelVersion.objects.filter(pk=version.pk).values_list("calibration", flat=True).first()
    if not stored:
        return None
    from .engines.ood import OODCalibration

    return OODCalibration.from_json(stored)


def _image_files(folder, *, recursive: bool) -> list:
    from .engines.training import IMAGE_SUFFIXES

    folder = Path(folder)
    files = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in files if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def _predict_files(engine, paths: Sequence, progress: Progress | None, stage: str) -> tuple[list, list, list]:
    """(predictions, indices of the paths they belong to, unreadable paths), reading
    ``PREDICT_BATCH`` files at a time: a folder of large photos never sits in memory whole."""
    from PIL import Image

    predictions, kept, unreadable = [], [], []
    for start in range(0, len(paths), PREDICT_BATCH):
        images, indices = [], []
        for index in range(start, min(start + PREDICT_BATCH, len(paths))):
            try:
                with Image.open(paths[index]) as image:
                    images.append(image.convert("RGB"))
            except (OSError, ValueError, Image.DecompressionBombError):
                unreadable.append(paths[index])
                continue
            indices.append(index)
        if images:
            predictions.extend(engine.predict(images))
            kept.extend(indices)
        if progress:
            progress(stage, min(start + PREDICT_BATCH, len(paths)), len(paths))
    return predictions, kept, unreadable


def _ranked(prediction) -> list[int]:
    return np.argsort(-prediction.probabilities, kind="stable").tolist()


def evaluate_classifier(
    version: ModelVersion,
    *,
    folder=None,                    # class folders of known motifs (names matched to the version's classes)
    strangers_folder=None,          # photos that show no known motif, directly in it or in subfolders
    synthetic_strangers: int = 0,   # and this many drawn non-batik photos (engines.strangers)
    seed: int = 0,                  # of the drawn strangers
    progress: Progress | None = None,
) -> ClassifierEvaluation:
    """Top-1/top-5, macro and per-class figures on ``folder`` and, with the version's own
    "not a known motif" rule (``engines.ood.decide`` with its stored calibration), the share of
    correctly classified photos it accepts and the share of strangers it accepts (the false
    acceptance). Without a calibration the rule is off and every photo is accepted. Raises
    EvaluationError when a folder holds no image or ``synthetic_strangers`` is out of range."""
    from .engines.classifier import ClassifierEngine
    from .engines.training import evaluate_predictions
    from .training import class_index_for_folder

    if not 0 <= synthetic_strangers <= MAX_SYNTHETIC_STRANGERS:
        raise EvaluationError(f"synthetic strangers must be 0..{MAX_SYNTHETIC_STRANGERS}, got {synthetic_strangers}")
    for given in (folder, strangers_folder):
        if given is not None and not Path(given).is_dir():
            raise EvaluationError(f"{given} is not a folder")
    known_files, labels, skipped = [], [], {}
    if folder is not None:
        lookup = class_index_for_folder(version.class_names, version.class_map)
        for class_folder in sorted(p for p in Path(folder).iterdir() if p.is_dir()):
            files = _image_files(class_folder, recursive=False)
            label = lookup(class_folder.name)
            if label is None:
                if files:
                    skipped[class_folder.name] = len(files)
                continue
            known_files += files
            labels += [label] * len(files)
    stranger_files = _image_files(strangers_folder, recursive=True) if strangers_folder is not None else []
    if strangers_folder is not None and not stranger_files:
        raise EvaluationError(f"{strangers_folder} holds no image (.jpg, .png, .webp, ...)")

    ensure_offline()
    engine = ClassifierEngine.load(model_file(version))
    calibration = calibration_of(version)
    open_set: dict = {
        "calibrated": calibration is not None,
        "note": None if calibration is not None else OPEN_SET_OFF,
        "min_confidence": float(calibration.min_confidence) if calibration is not None else None,
        "max_distance": float(calibration.max_distance) if calibration is not None else None,
        "known": None,
        "strangers": {},
    }
    known = None
    if folder is not None:
        predictions, kept, unreadable = _predict_files(engine, known_files, progress, "known photos")
        truth = [labels[index] for index in kept]
        known = evaluate_predictions(true_labels=truth, ranked_predictions=[_ranked(p) for p in predictions],
                                     class_names=engine.class_names, skipped=skipped)
        open_set["known"] = {**known_photo_acceptance(accepted_as_known(calibration, predictions),
                                                      [p.top[0][0] for p in predictions], truth),
                             "unreadable": len(unreadable)}
    if strangers_folder is not None:
        predictions, kept, unreadable = _predict_files(engine, stranger_files, progress, "strangers")
        parts_of = [stranger_files[i].relative_to(strangers_folder).parts for i in kept]
        groups = [parts[0] if len(parts) > 1 else TOP_LEVEL for parts in parts_of]
        open_set["strangers"]["folder"] = {"source": str(strangers_folder), "unreadable": len(unreadable),
                                           **stranger_acceptance(accepted_as_known(calibration, predictions), groups)}
    if synthetic_strangers:
        from .engines.strangers import non_batik_images, stranger_kind

        predictions = []
        for start in range(0, synthetic_strangers, PREDICT_BATCH):  # drawn a batch at a time
            count = min(PREDICT_BATCH, synthetic_strangers - start)
            predictions += engine.predict(non_batik_images(count, engine.imgsz * 2, seed, first=start))
            if progress:
                progress("drawn strangers", start + count, synthetic_strangers)
        open_set["strangers"]["synthetic"] = {
            "source": f"{synthetic_strangers} drawn non-batik photos, seed {seed}, {engine.imgsz * 2} px",
            **stranger_acceptance(accepted_as_known(calibration, predictions),
                                  [stranger_kind(i) for i in range(synthetic_strangers)]),
        }
    parts = list(open_set["strangers"].values())
    if parts:
        n, n_accepted = sum(p["n"] for p in parts), sum(p["n_accepted"] for p in parts)
        open_set["false_acceptance"] = _share(n_accepted, n)
    return ClassifierEvaluation(version.pk, str(folder) if folder is not None else None, known, open_set)
