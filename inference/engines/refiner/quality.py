"""Is refinement better than the GAN alone? The quality report and the evaluation that feeds it.

:func:`quality_report` compares the GAN's output with the refined output (Fréchet and kernel
distances to the archive in the classifier's embedding space, computed by
:mod:`inference.engines.metrics` as for the generator, and whether the classifier still sees
the motif that was asked for); :func:`evaluate_refiner` generates, refines, embeds and
classifies the images it needs.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..errors import RefinerError
from .folders import save_png
from .sampling import Refiner, resize_batch
from .training import load_training_images


def _distances(real: np.ndarray, generated: np.ndarray) -> tuple[float, float]:
    """(Fréchet, KID) to the real rows, as ``evaluate_generator`` measures them (one set of rules).

    The kernel's 1/d assumes coordinates of order 1, so the unit-length embeddings are scaled
    by √d first (x·y/d is then the cosine), like the generator's evaluation does.
    """
    from ..metrics import frechet_distance, kernel_inception_distance

    scale = math.sqrt(real.shape[1])
    return frechet_distance(real, generated), kernel_inception_distance(real * scale, generated * scale)


@dataclass(frozen=True)
class VariantQuality:
    name: str                       # "gan" or "refined@0.30"
    strength: float | None          # None for the GAN's own output
    n: int
    frechet: float                  # to the real images, classifier embeddings (lower is better)
    kernel: float                   # KID to the real images, embeddings × √d (lower is better)
    class_agreement: float          # share classified as the class the GAN was asked for
    pixel_change: float | None = None  # mean |refined - GAN| in 0..255, None for the GAN itself

    def to_json(self) -> dict:
        # Six significant digits, not decimals: the figures differ in the third or fourth.
        values = asdict(self)
        return {key: float(f"{value:.6g}") if isinstance(value, float) else value for key, value in values.items()}


@dataclass(frozen=True)
class QualityReport:
    real_n: int
    gan: VariantQuality
    refined: tuple[VariantQuality, ...]
    improving_strengths: tuple[float, ...]  # strengths better than the GAN on every criterion
    best_strength: float | None             # the improving strength with the lowest Fréchet distance
    default_on: bool                        # refinement helps: ship it switched on at best_strength
    rule: str = field(default="")           # the decision rule, in words

    def to_json(self) -> dict:
        return {
            "real_n": self.real_n,
            "gan": self.gan.to_json(),
            "refined": [variant.to_json() for variant in self.refined],
            "improving_strengths": list(self.improving_strengths),
            "best_strength": self.best_strength,
            "default_on": self.default_on,
            "rule": self.rule,
        }


def quality_report(
    *,
    real_embeddings: np.ndarray,                            # [R, D] of archive images
    requested: Sequence[int],                               # [G] class the GAN was asked for, classifier index
    gan_embeddings: np.ndarray,                             # [G, D] of the GAN's images
    gan_predicted: Sequence[int],                           # [G] classifier top-1 on them
    refined: Mapping[float, tuple[np.ndarray, Sequence[int]]],  # strength -> (embeddings, top-1) of refined images
    pixel_change: Mapping[float, float] | None = None,      # strength -> mean absolute pixel change
    agreement_tolerance: float = 0.0,                       # how much class agreement may drop and still count
) -> QualityReport:
    """Is refinement better than the GAN alone? Pure: embeddings and predictions in, a report out.

    A strength improves when, compared with the GAN's own images, it lowers the Fréchet
    distance **and** the KID to the archive **and** keeps the class agreement
    (within ``agreement_tolerance``): looking more like the archive is worthless if the motif
    that was asked for is lost. ``default_on`` is true when some strength improves.
    """
    requested = np.asarray(requested)
    real = np.asarray(real_embeddings, np.float64)

    def variant(name, strength, embeddings, predicted, change=None):
        predicted = np.asarray(predicted)
        if len(predicted) != len(requested) or len(embeddings) != len(requested):
            raise ValueError(
                f"{name}: {len(embeddings)} embeddings and {len(predicted)} predictions for {len(requested)} requests"
            )
        frechet, kernel = _distances(real, np.asarray(embeddings, np.float64))
        return VariantQuality(
            name=name,
            strength=strength,
            n=len(embeddings),
            frechet=frechet,
            kernel=kernel,
            class_agreement=float(np.mean(predicted == requested)),
            pixel_change=change,
        )

    gan = variant("gan", None, gan_embeddings, gan_predicted)
    variants = []
    for strength in sorted(refined):
        embeddings, predicted = refined[strength]
        change = (pixel_change or {}).get(strength)
        variants.append(variant(f"refined@{strength:.2f}", float(strength), embeddings, predicted,
                                None if change is None else float(change)))
    improving = [
        v for v in variants
        if v.frechet < gan.frechet and v.kernel < gan.kernel
        and v.class_agreement >= gan.class_agreement - agreement_tolerance
    ]
    best = min(improving, key=lambda v: v.frechet) if improving else None
    rule = (
        "on by default only if some strength lowers both the Fréchet distance and the KID to the "
        f"archive and keeps the class agreement within {agreement_tolerance:.3f} of the GAN's"
    )
    return QualityReport(
        real_n=len(real),
        gan=gan,
        refined=tuple(variants),
        improving_strengths=tuple(v.strength for v in improving),
        best_strength=best.strength if best else None,
        default_on=best is not None,
        rule=rule,
    )


def generate_per_class(G, class_names, classifier_classes, seeds_per_class: int,
                       truncation_psi: float) -> tuple[np.ndarray, list[int]]:
    """([N, H, W, 3] uint8, the classifier index asked for each): ``seeds_per_class`` images per
    class, seeds 0.., const noise, in class order."""
    import torch

    from stylegan2_ada.generate import class_label, seed_to_z, to_uint8

    images, requested = [], []
    with torch.no_grad():
        for class_index, name in enumerate(class_names):
            label = class_label(G, class_index)
            for seed in range(seeds_per_class):
                image = G(seed_to_z(seed, G.z_dim), label, truncation_psi=truncation_psi, noise_mode="const")
                images.append(to_uint8(image)[0])
                requested.append(list(classifier_classes).index(name))
    return np.stack(images), requested


def evaluate_refiner(
    *,
    refiner: Refiner,
    generator_path: str | Path,             # a stylegan2_ada checkpoint, conditional
    classifier_path: str | Path,            # .pt or .onnx; its embed() gives the features
    real_folder: str | Path,                # archive images (flat or class folders)
    seeds_per_class: int = 20,
    strengths: Sequence[float] = (0.1, 0.2, 0.3, 0.5),
    steps: int = 10,                        # what the generation service runs
    truncation_psi: float = 0.7,
    seed: int = 0,                          # refinement noise seed
    chunk: int = 32,                        # images refined per call, to bound memory
    grid_path: str | Path | None = None,    # write a comparison grid (GAN row, then one per strength)
    progress: Callable[[str], None] | None = None,
) -> QualityReport:
    """Generate ``seeds_per_class`` images per class (seeds 0.., const noise), refine them at each
    strength, embed and classify everything with the classifier, and compare with :func:`quality_report`.

    Real images are used at the refiner's resolution, like the generated ones, so resizing
    affects both sides alike.
    """
    from PIL import Image

    from stylegan2_ada.checkpoint import load_generator

    from ..classifier import ClassifierEngine

    say = progress or (lambda message: None)
    loaded = load_generator(generator_path)
    G = loaded.G.eval()
    classifier = ClassifierEngine.load(classifier_path)
    if not loaded.class_names:
        raise RefinerError("bad_options", "evaluate_refiner needs a conditional generator with class names")
    missing = [name for name in loaded.class_names if name not in classifier.class_names]
    if missing:
        raise RefinerError("bad_options", f"the classifier does not know the generator's classes {missing}")

    say("generating")
    gan, requested = generate_per_class(G, loaded.class_names, classifier.class_names, seeds_per_class, truncation_psi)
    if gan.shape[1] != refiner.resolution:
        gan_for_metrics = resize_batch(gan, refiner.resolution, refiner.resolution)
    else:
        gan_for_metrics = gan

    def embed_and_classify(batch: np.ndarray) -> tuple[np.ndarray, list[int]]:
        pil = [Image.fromarray(image) for image in batch]
        embeddings = np.concatenate([classifier.embed(pil[i:i + 64]) for i in range(0, len(pil), 64)])
        predicted = [p.top[0][0] for i in range(0, len(pil), 64) for p in classifier.predict(pil[i:i + 64])]
        return embeddings, predicted

    say("embedding the archive")
    real = load_training_images(real_folder, refiner.resolution)
    real_embeddings, _ = embed_and_classify(real)
    gan_embeddings, gan_predicted = embed_and_classify(gan_for_metrics)
    refined, changes, rows = {}, {}, [gan_for_metrics]
    for strength in strengths:
        say(f"refining at strength {strength}")
        out = np.concatenate([
            refiner.refine(gan_for_metrics[i:i + chunk], strength, steps, seed + i)
            for i in range(0, len(gan_for_metrics), chunk)
        ])
        refined[float(strength)] = embed_and_classify(out)
        changes[float(strength)] = float(np.abs(out.astype(np.int16) - gan_for_metrics.astype(np.int16)).mean())
        rows.append(out)
    if grid_path is not None:
        # One column per class (its first seed), one row per variant.
        picks = np.arange(0, len(gan_for_metrics), seeds_per_class)
        grid = np.concatenate([np.concatenate(list(row[picks]), axis=1) for row in rows], axis=0)
        save_png(grid, Path(grid_path))
    return quality_report(
        real_embeddings=real_embeddings,
        requested=requested,
        gan_embeddings=gan_embeddings,
        gan_predicted=gan_predicted,
        refined=refined,
        pixel_change=changes,
    )
