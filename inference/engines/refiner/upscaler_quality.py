"""Does the super-resolution refiner earn its place? Measured against Lanczos, two ways.

1. **Held-out archive images** (never trained on: :func:`.upscaler_training.split_held_out`):
   down-sampled to the generator's size as the archive export does, enlarged back with Lanczos
   and with the upscaler, and compared with the original: a perceptual distance in the frozen
   ImageNet EfficientNet-Lite0 feature space (1 - the mean cosine of its stride-8 and stride-16
   feature maps per position, at the full size) and PSNR.
2. **Generated motifs** at the generator's size, enlarged both ways: the neutral Fréchet distance
   (pooled Lite0 features at the full size) to the archive, the archive-against-itself floor
   beside it, and the share the classifier names as the motif that was asked for.

The refiner is on by default only if it wins on the perceptual distance **and** the Fréchet
distance without lowering agreement by more than :data:`AGREEMENT_TOLERANCE`.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..errors import RefinerError
from .folders import save_png
from .quality import generate_per_class
from .training import list_training_images
from .upscaler import Upscaler
from .upscaler_training import downsample_for_evaluation, lanczos_enlarge, load_full_size, split_held_out

AGREEMENT_TOLERANCE = 0.02
RULE = ("on by default only if it beats Lanczos on the held-out perceptual distance and on the neutral "
        f"Fréchet distance of generated motifs, with class agreement at most {AGREEMENT_TOLERANCE} lower")


@dataclass(frozen=True)
class UpscalerQuality:
    scale: int
    strength: float
    refine_steps: int               # DDIM steps over the whole range at that strength
    held_out_n: int
    perceptual_lanczos: float       # lower is better
    perceptual_refined: float
    psnr_lanczos: float             # dB, higher is better
    psnr_refined: float
    generated_n: int
    frechet_lanczos: float          # neutral, to the archive at the full size
    frechet_refined: float
    frechet_floor: float            # the archive's two halves against each other
    agreement_lanczos: float
    agreement_refined: float
    seconds_per_image: float        # refinement alone, batches of 8, this machine
    default_on: bool
    rule: str = RULE

    def to_metrics(self) -> dict:
        """Flat, rounded: what a refiner version stores (and the admin shows)."""
        return {key: (round(value, 4) if isinstance(value, float) else value) for key, value in asdict(self).items()}


def decide(*, perceptual_lanczos: float, perceptual_refined: float, frechet_lanczos: float, frechet_refined: float,
           agreement_lanczos: float, agreement_refined: float) -> bool:
    """The rule of :data:`RULE`: pure, so a test can hold it to its words."""
    return (perceptual_refined < perceptual_lanczos and frechet_refined < frechet_lanczos
            and agreement_refined >= agreement_lanczos - AGREEMENT_TOLERANCE)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Mean over images of the PSNR (dB) between uint8 arrays [N, H, W, 3]."""
    errors = ((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean(axis=(1, 2, 3))
    return float(np.mean(10 * np.log10(255.0 ** 2 / np.maximum(errors, 1e-10))))


def perceptual_distance(neutral, a: np.ndarray, b: np.ndarray, batch: int = 8) -> float:
    """Mean over images of 1 - the mean per-position cosine of Lite0's stride-8 and -16 maps, at full size."""
    import torch

    def tensor(images):
        return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 127.5 - 1

    distances = []
    size = a.shape[1]
    with torch.no_grad():
        for start in range(0, len(a), batch):
            fa = neutral.perceptual(tensor(a[start:start + batch]), size=size)
            fb = neutral.perceptual(tensor(b[start:start + batch]), size=size)
            distances.extend((1 - (fa * fb).sum(dim=1) / 2).tolist())  # two maps, each a mean cosine
    return float(np.mean(distances))


def evaluate_upscaler(
    *,
    upscaler: Upscaler,
    generator_path: str | Path,
    classifier_path: str | Path,
    real_folder: str | Path,            # the archive at full size (flat or class folders)
    seeds_per_class: int = 8,
    strength: float = 1.0,
    steps: int | None = None,           # None: the upscaler's schedule for ``strength``
    truncation_psi: float = 1.0,
    seed: int = 0,
    neutral=None,                       # a NeutralFeatures; None loads the shipped Lite0
    grid_path: str | Path | None = None,  # Lanczos row over refined row, one column per class
    progress: Callable[[str], None] | None = None,
) -> UpscalerQuality:
    from PIL import Image

    from stylegan2_ada.checkpoint import load_generator

    from ..classifier import ClassifierEngine
    from ..metrics import frechet_distance
    from ..neutral import NeutralFeatures

    say = progress or (lambda message: None)
    neutral = neutral or NeutralFeatures()
    scale = upscaler.scale
    steps = steps if steps is not None else upscaler.schedule_steps(strength)
    loaded = load_generator(generator_path)
    G = loaded.G.eval()
    if not loaded.class_names:
        raise RefinerError("bad_options", "the evaluation needs a conditional generator with class names")
    classifier = ClassifierEngine.load(classifier_path)
    missing = [name for name in loaded.class_names if name not in classifier.class_names]
    if missing:
        raise RefinerError("bad_options", f"the classifier does not know the generator's classes {missing}")
    full = G.img_resolution * scale

    def refine_all(small: np.ndarray, timings: list | None = None) -> np.ndarray:
        parts = []
        for start in range(0, len(small), 8):
            began = time.perf_counter()
            parts.append(upscaler.refine(small[start:start + 8], strength, steps, seed + start))
            if timings is not None:
                timings.append((time.perf_counter() - began, len(parts[-1])))
        return np.concatenate(parts)

    say("held-out archive images")
    files = list_training_images(real_folder)
    _, held_files = split_held_out(files)
    if not held_files:
        raise RefinerError("no_training_data", f"{real_folder} holds too few images to hold any out")
    held = load_full_size(held_files, full)
    small = downsample_for_evaluation(held, scale)
    lanczos, refined = lanczos_enlarge(small, scale), refine_all(small)
    perceptual = (perceptual_distance(neutral, lanczos, held), perceptual_distance(neutral, refined, held))
    peak = (psnr(lanczos, held), psnr(refined, held))

    say("generated motifs")
    generated, requested = generate_per_class(G, loaded.class_names, classifier.class_names, seeds_per_class,
                                              truncation_psi)
    timings: list = []
    generated_lanczos, generated_refined = lanczos_enlarge(generated, scale), refine_all(generated, timings)

    say("neutral features")
    archive = load_full_size(files, full)

    def features(batch: np.ndarray) -> np.ndarray:
        return neutral.features([Image.fromarray(image) for image in batch], size=full)

    real_features = features(archive)
    halves = real_features[0::2], real_features[1::2]
    frechet = (frechet_distance(real_features, features(generated_lanczos)),
               frechet_distance(real_features, features(generated_refined)))

    def agreement(batch: np.ndarray) -> float:
        pil = [Image.fromarray(image) for image in batch]
        predicted = [p.top[0][0] for i in range(0, len(pil), 64) for p in classifier.predict(pil[i:i + 64])]
        return float(np.mean(np.asarray(predicted) == np.asarray(requested)))

    agreements = agreement(generated_lanczos), agreement(generated_refined)
    if grid_path is not None:
        picks = np.arange(0, len(generated), seeds_per_class)[:8]
        rows = [np.concatenate(list(row[picks]), axis=1) for row in (generated_lanczos, generated_refined)]
        save_png(np.concatenate(rows, axis=0), Path(grid_path))
    seconds = sum(t for t, _ in timings) / max(1, sum(n for _, n in timings))
    return UpscalerQuality(
        scale=scale, strength=float(strength), refine_steps=int(steps), held_out_n=len(held),
        perceptual_lanczos=perceptual[0], perceptual_refined=perceptual[1],
        psnr_lanczos=peak[0], psnr_refined=peak[1], generated_n=len(generated),
        frechet_lanczos=frechet[0], frechet_refined=frechet[1], frechet_floor=frechet_distance(*halves),
        agreement_lanczos=agreements[0], agreement_refined=agreements[1], seconds_per_image=seconds,
        default_on=decide(perceptual_lanczos=perceptual[0], perceptual_refined=perceptual[1],
                          frechet_lanczos=frechet[0], frechet_refined=frechet[1],
                          agreement_lanczos=agreements[0], agreement_refined=agreements[1]),
    )
