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
from .runtime import ensure_offline, model_file

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
    validation split as held-out motifs, generated out-of-distribution images as strangers.
    (An export's folders are named by motif slug, as are the classes of a model trained on it.)"""
    from .engines.ood import calibrate_from_folders

    return calibrate_from_folders(engine, dataset_dir, seed=seed, ood_size=engine.imgsz * 2).to_json()


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


def evaluate_version(version: ModelVersion, folder: Path):
    from .engines.classifier import ClassifierEngine
    from .engines.training import evaluate_folder

    ensure_offline()
    engine = ClassifierEngine.load(model_file(version))
    return engine, evaluate_folder(engine, folder, class_index_for_folder(version.class_names, version.class_map))


def export_test_split(seed: int = 0) -> Path:
    """The archive's test split (stored splits, assigned and saved if missing) in a temp folder."""
    folder = Path(tempfile.mkdtemp(prefix="cualify-eval-"))
    export_dataset(folder / "dataset", seed=seed, overwrite=True)
    return folder / "dataset" / "test"


def train_classifier(
    *, epochs: int, imgsz: int, batch: int, seed: int, weights: Path | None = None, augment: int = 0,
    activate: bool = False, created_by=None, progress=None,
) -> TrainedClassifier:
    """Export the archive, train YOLO11-cls, evaluate on the test split, calibrate, register."""
    from .engines.classifier import ClassifierEngine
    from .engines.training import confusion_matrix_png, evaluate_folder, train_yolo_classifier

    ensure_offline()
    run_root = training_root() / timezone.now().strftime("classifier-%Y%m%d-%H%M%S")
    dataset = run_root / "dataset"
    export_dataset(dataset, seed=seed, augment_copies=augment)
    result = train_yolo_classifier(
        data_dir=dataset, run_dir=run_root / "run", epochs=epochs, imgsz=imgsz, batch=batch, seed=seed,
        weights=weights, progress=progress,
    )
    engine = ClassifierEngine.load(result.weights_path)
    evaluation = evaluate_folder(engine, dataset / "test", class_index_for_folder(engine.class_names))
    confusion = confusion_matrix_png(evaluation, run_root / "confusion_matrix.png")
    calibration = calibrate(engine, dataset, seed=seed)
    manifest = json.loads((dataset / "dataset.json").read_text())
    sha256 = registry.file_sha256(result.weights_path)
    plots = {"confusion matrix": _store_plot(confusion, sha256), "training curves": _store_plot(result.curves_png, sha256)}
    metrics = {**evaluation.to_json(), "epochs": result.epochs_run, "train_seconds": round(result.seconds, 1),
               "imgsz": imgsz, "batch": batch, "seed": seed, "augment": augment,
               "fine_tuned_from": str(weights) if weights else "yolo11n-cls.yaml"}
    registration = registry.model_version_register(
        path=result.weights_path, kind=ModelKind.CLASSIFIER, name=f"classifier {run_root.name}",
        source=ModelVersion.Source.TRAINED, metrics=metrics, training_data=manifest, calibration=calibration,
        plots=plots, created_by=created_by, activate=activate,
    )
    version = registration.version
    shutil.rmtree(dataset / "train", ignore_errors=True)  # the archive can re-export it
    return TrainedClassifier(version, registration.unmatched_classes, run_root)


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


def train_generator(
    *, kimg: float, resolution: int, batch: int, seed: int, resume: Path | None = None, activate: bool = False,
    created_by=None, progress: bool = True,
) -> TrainedModel:
    """Export the archive, train StyleGAN2-ADA, keep G_ema, measure class agreement, register."""
    from stylegan2_ada.checkpoint import load_checkpoint, save_checkpoint
    from stylegan2_ada.train import TrainingOptions, train

    run_root = training_root() / timezone.now().strftime("generator-%Y%m%d-%H%M%S")
    dataset = export_flat(run_root, size=resolution, seed=seed)
    result = train(TrainingOptions(
        data=str(dataset), outdir=str(run_root / "run"), resolution=resolution, kimg=kimg, batch_size=batch,
        seed=seed, resume=str(resume) if resume else None, progress=progress, snapshot_kimg=max(kimg / 4, 0.5),
    ))
    checkpoint = load_checkpoint(result.checkpoint, networks=("G_ema",))
    shipped = run_root / "generator.safetensors"
    save_checkpoint(shipped, G_ema=checkpoint.G_ema, class_names=checkpoint.class_names, kimg=result.kimg)
    metrics = {"kimg": round(result.kimg, 2), "resolution": resolution, "batch": batch, "seed": seed,
               "train_seconds": round(result.seconds, 1), "seconds_per_kimg": round(result.seconds_per_kimg, 1),
               "augment_p": round(result.augment_p, 3)}
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


def train_refiner(
    *, steps: int, resolution: int, batch: int, seed: int, resume: Path | None = None, activate: bool = False,
    created_by=None, progress: bool = True,
) -> TrainedModel:
    """Export the archive, train the diffusion refiner (resumable), register its folder."""
    from .engines.refiner import RefinerTrainingOptions
    from .engines.refiner import train_refiner as train_engine

    run_root = Path(resume) if resume else training_root() / timezone.now().strftime("refiner-%Y%m%d-%H%M%S")
    dataset = export_flat(run_root, size=resolution, seed=seed)
    result = train_engine(RefinerTrainingOptions(
        data=dataset, outdir=run_root / "run", resolution=resolution, steps=steps, batch=batch, seed=seed,
        resume=bool(resume), show_progress=progress,
    ))
    metrics = {"steps": result.steps, "resolution": resolution, "batch": batch, "seed": seed,
               "train_seconds": round(result.seconds, 1), "final_loss": round(result.final_loss, 5)}
    registration = registry.model_version_register(
        path=result.model_dir, kind=ModelKind.REFINER, name=f"refiner {run_root.name}", source=ModelVersion.Source.TRAINED,
        metrics=metrics, created_by=created_by, activate=activate,
    )
    return TrainedModel(registration.version, run_root)
