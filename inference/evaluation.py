"""Generator quality against the archive, measured in the active classifier's embedding space.

Management commands (and training) call this; it runs models, so never from a web process.

What is measured (formulas in :mod:`inference.engines.metrics`):

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
                    stage: str = "classify") -> tuple[np.ndarray, list[str | None]]:
    """(embeddings [N, D], predicted motif slug or None per image) in batches."""
    embeddings, slugs = [], []
    for start in range(0, len(images), EMBED_BATCH):
        for prediction in engine.predict(list(images[start:start + EMBED_BATCH])):
            embeddings.append(prediction.embedding)
            slugs.append(version.motif_slug(prediction.top[0][0]))
        if progress:
            progress(stage, len(slugs), len(images))
    return np.stack(embeddings), slugs


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
    generated_features, predicted = classify_images(classifier, classifier_version, generated_images, progress,
                                                    "classify generated")
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
            "diversity": _round(metrics.mean_pairwise_distance(g)),
            "diversity_real": _round(metrics.mean_pairwise_distance(r)) if r_count >= 2 else None,
            "n_generated": g_count,
            "n_real": r_count,
        }
        g_start, r_start = g_start + g_count, r_start + r_count

    wanted = [slug for slug in order for _ in generated[slug]]
    result = {
        "frechet": _round(metrics.frechet_distance(generated_features, real_features)),
        "kid": _round(_mean(row["kid"] for row in per_motif.values())),
        "kid_overall": _round(metrics.kernel_inception_distance(
            generated_features * scale, real_features * scale, subsets=KID_SUBSETS, subset_size=KID_SUBSET_SIZE, seed=seed)),
        "agreement": _round(metrics.agreement(predicted, wanted)),
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
        "seconds": round(time.perf_counter() - started, 1),
    }
    with transaction.atomic():  # other keys of metrics may be written meanwhile: change only ours
        row = ModelVersion.objects.select_for_update().get(pk=version.pk)
        row.metrics = {**row.metrics, "evaluation": result}
        row.save(update_fields=["metrics"])
    version.metrics = row.metrics
    return result
