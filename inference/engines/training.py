"""Train a YOLO11-cls classifier with Ultralytics, evaluate it on a class-folder tree, draw plots.

Offline by construction: :func:`train_yolo_classifier` calls
:func:`~inference.engines.offline.ensure_offline` before importing Ultralytics,
builds the network from ``yolo11n-cls.yaml`` (a ``.pt`` name that is not on disk would make
Ultralytics download it) and passes only absolute paths.
"""
from __future__ import annotations

import csv
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .offline import ensure_offline

__all__ = [
    "EvaluationResult",
    "TrainResult",
    "confusion_matrix_png",
    "evaluate_folder",
    "evaluate_predictions",
    "history_curves_png",
    "list_images",
    "load_class_folders",
    "train_yolo_classifier",
    "training_curves_png",
]

DEFAULT_MODEL_YAML = "yolo11n-cls.yaml"
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"})

ProgressCallback = Callable[[int, int, dict], None]


@dataclass(frozen=True)
class TrainResult:
    weights_path: Path  # best.pt (optimizer stripped, fp16), ready to load
    run_dir: Path  # the Ultralytics run folder: results.csv, plots, weights/
    epochs_run: int  # fewer than asked when early stopping fired
    seconds: float
    curves_png: Path


def _absolute(path: str | Path) -> Path:
    return Path(path).expanduser().resolve()


def _check_data_dir(data_dir: Path) -> None:
    if not (data_dir / "train").is_dir():
        raise FileNotFoundError(f"{data_dir} has no train/ folder (Ultralytics classification layout)")
    if not any((data_dir / split).is_dir() for split in ("val", "test")):
        raise FileNotFoundError(f"{data_dir} needs a val/ or test/ folder beside train/")


def train_yolo_classifier(
    *,
    data_dir: str | Path,
    run_dir: str | Path,
    epochs: int,
    imgsz: int,
    batch: int,
    seed: int,
    weights: str | Path | None = None,
    workers: int = 0,
    progress: ProgressCallback | None = None,
    patience: int = 100,
    device: str = "cpu",
) -> TrainResult:
    """Train YOLO11-cls on ``data_dir`` (``train/``, ``val/``, ``test/``, each ``<class>/*``) on CPU.

    From ``yolo11n-cls.yaml`` (random init) unless ``weights`` names a ``.pt`` to fine-tune.
    ``run_dir`` is the run folder itself (created; an existing one is reused and overwritten).
    ``progress(epoch, epochs, metrics)`` is called once per finished epoch, epoch counted from 1.
    """
    data_dir, run_dir = _absolute(data_dir), _absolute(run_dir)
    _check_data_dir(data_dir)
    if weights is not None:
        weights = _absolute(weights)
        if not weights.is_file():
            raise FileNotFoundError(f"weights file {weights} does not exist")
    ensure_offline()
    from ultralytics import YOLO

    model = YOLO(str(weights) if weights is not None else DEFAULT_MODEL_YAML, task="classify")

    # Ultralytics fires on_fit_epoch_end once more after training (final validation of best.pt);
    # counting only epochs whose training pass ended keeps progress at one call per epoch.
    state = {"pending": False, "epochs_run": 0}

    def _on_train_epoch_end(trainer) -> None:
        state["pending"] = True

    def _on_fit_epoch_end(trainer) -> None:
        if not state["pending"]:
            return
        state["pending"] = False
        state["epochs_run"] = trainer.epoch + 1
        if progress is not None:
            metrics = {key: float(value) for key, value in (trainer.metrics or {}).items()}
            metrics.update(_loss_items(trainer))
            progress(trainer.epoch + 1, trainer.epochs, metrics)

    model.add_callback("on_train_epoch_end", _on_train_epoch_end)
    model.add_callback("on_fit_epoch_end", _on_fit_epoch_end)

    run_dir.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    model.train(
        data=str(data_dir),
        epochs=epochs,
        imgsz=imgsz,
        batch=batch,
        seed=seed,
        deterministic=True,
        workers=workers,
        device=device,
        project=str(run_dir.parent),
        name=run_dir.name,
        exist_ok=True,
        plots=True,
        amp=False,
        patience=patience,
        pretrained=weights is not None,
        verbose=False,
    )
    seconds = time.perf_counter() - started

    trainer = model.trainer
    save_dir = Path(trainer.save_dir)
    best = Path(trainer.best) if Path(trainer.best).is_file() else Path(trainer.last)
    curves = training_curves_png(save_dir / "results.csv", save_dir / "training_curves.png")
    return TrainResult(
        weights_path=best,
        run_dir=save_dir,
        epochs_run=state["epochs_run"],
        seconds=seconds,
        curves_png=curves,
    )


def _loss_items(trainer) -> dict[str, float]:
    loss = getattr(trainer, "tloss", None)
    if loss is None:
        return {}
    try:
        items = trainer.label_loss_items(loss, prefix="train")
    except Exception:  # a trainer without the helper: progress still reports the val metrics
        return {}
    return {key: float(value) for key, value in (items or {}).items()}


def training_curves_png(results_csv: str | Path, path: str | Path) -> Path:
    """Loss and accuracy per epoch from Ultralytics' ``results.csv``, drawn with matplotlib (Agg)."""
    results_csv = Path(results_csv)
    with open(results_csv, newline="", encoding="utf-8") as handle:
        rows = [{key.strip(): value for key, value in row.items()} for row in csv.DictReader(handle)]
    keys = rows[0].keys() if rows else ()
    columns = {key: [float(row[key]) for row in rows if row.get(key) not in (None, "")] for key in keys}
    return _curves_png(columns, path)


def history_curves_png(history: Sequence[dict], path: str | Path) -> Path:
    """The same plot from a fine-tuning history (one dict per epoch: train_loss, val_loss, val_accuracy)."""
    names = {"epoch": "epoch", "train_loss": "train/loss", "val_loss": "val/loss", "val_accuracy": "metrics/accuracy_top1"}
    columns = {plotted: [float(row[key]) for row in history if key in row] for key, plotted in names.items()}
    return _curves_png(columns, path)


def _curves_png(columns: dict[str, list[float]], path: str | Path) -> Path:
    path = Path(path)
    epochs = columns.get("epoch", [])

    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure  # no pyplot: no global state, safe in a worker thread

    figure = Figure(figsize=(10, 4), dpi=100)
    loss_axes, accuracy_axes = figure.subplots(1, 2)
    for key, label in (("train/loss", "train loss"), ("val/loss", "val loss")):
        if columns.get(key):
            loss_axes.plot(epochs[: len(columns[key])], columns[key], label=label)
    loss_axes.set(title="Loss", xlabel="epoch")
    for key, label in (("metrics/accuracy_top1", "top-1"), ("metrics/accuracy_top5", "top-5")):
        if columns.get(key):
            accuracy_axes.plot(epochs[: len(columns[key])], columns[key], label=label)
    accuracy_axes.set(title="Validation accuracy", xlabel="epoch", ylim=(0, 1.02))
    for axes in (loss_axes, accuracy_axes):
        axes.grid(alpha=0.3)
        if axes.lines:
            axes.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    return path


# --- evaluation ---------------------------------------------------------------------------


@dataclass(frozen=True)
class EvaluationResult:
    n: int  # images scored (in known classes)
    top1: float
    top5: float
    macro_precision: float
    macro_recall: float
    macro_f1: float
    per_class: dict[str, dict]  # class name -> precision, recall, f1, support
    confusion: list[list[int]]  # [true][predicted], engine class order
    class_names: tuple[str, ...]
    skipped: dict[str, int] = field(default_factory=dict)  # folder name -> images in folders no class matched

    def to_json(self) -> dict:
        return {
            "n": self.n,
            "top1": self.top1,
            "top5": self.top5,
            "macro_precision": self.macro_precision,
            "macro_recall": self.macro_recall,
            "macro_f1": self.macro_f1,
            "per_class": {name: dict(values) for name, values in self.per_class.items()},
            "confusion": [list(row) for row in self.confusion],
            "class_names": list(self.class_names),
            "skipped": dict(self.skipped),
        }


def _safe_ratio(numerator: float, denominator: float) -> float:
    return float(numerator) / float(denominator) if denominator else 0.0


def evaluate_predictions(
    *,
    true_labels: Sequence[int],
    ranked_predictions: Sequence[Sequence[int]],
    class_names: Sequence[str],
    skipped: dict[str, int] | None = None,
) -> EvaluationResult:
    """Metrics from true labels and each image's ranked class indices (best first). Pure.

    Macro averages run over the classes that have test images (support > 0), so a class with no
    images in the folder neither helps nor hurts; a class never predicted has precision 0.
    """
    n_classes = len(class_names)
    confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
    top5_hits = 0
    for truth, ranked in zip(true_labels, ranked_predictions, strict=True):
        confusion[truth, ranked[0]] += 1
        top5_hits += int(truth in list(ranked[:5]))
    n = int(confusion.sum())
    per_class: dict[str, dict] = {}
    present = []
    for index, name in enumerate(class_names):
        true_positive = int(confusion[index, index])
        support = int(confusion[index].sum())
        predicted = int(confusion[:, index].sum())
        precision = _safe_ratio(true_positive, predicted)
        recall = _safe_ratio(true_positive, support)
        f1 = _safe_ratio(2 * precision * recall, precision + recall)
        per_class[name] = {"precision": precision, "recall": recall, "f1": f1, "support": support}
        if support:
            present.append(per_class[name])

    def _macro(key: str) -> float:
        return float(np.mean([values[key] for values in present])) if present else 0.0

    return EvaluationResult(
        n=n,
        top1=_safe_ratio(np.trace(confusion), n),
        top5=_safe_ratio(top5_hits, n),
        macro_precision=_macro("precision"),
        macro_recall=_macro("recall"),
        macro_f1=_macro("f1"),
        per_class=per_class,
        confusion=confusion.tolist(),
        class_names=tuple(class_names),
        skipped=dict(skipped or {}),
    )


def list_images(folder: str | Path) -> list[Path]:
    """Image files directly in ``folder`` (by suffix), sorted for reproducible runs."""
    folder = Path(folder)
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def load_class_folders(
    folder: str | Path, class_names: Sequence[str]
) -> tuple[list, list[int]]:
    """(RGB PIL images, class indices) from ``folder/<class name>/``; other folders are ignored."""
    from PIL import Image

    images, labels = [], []
    for index, name in enumerate(class_names):
        class_folder = Path(folder) / name
        if not class_folder.is_dir():
            continue
        for path in list_images(class_folder):
            with Image.open(path) as image:
                images.append(image.convert("RGB"))
            labels.append(index)
    return images, labels


def evaluate_folder(
    engine,
    folder: str | Path,
    class_names_for_folder: Callable[[str], int | None] | None = None,
    *,
    batch_size: int = 32,
) -> EvaluationResult:
    """Classify every image under ``folder/<class folder>/`` and score it.

    ``class_names_for_folder(folder_name)`` maps a folder to an engine class index (default: the
    folder name equals a class name). Images in folders that map to nothing are not scored;
    their counts are reported in ``result.skipped``.
    """
    from PIL import Image

    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder")
    if class_names_for_folder is None:
        index_of = {name: index for index, name in enumerate(engine.class_names)}
        class_names_for_folder = index_of.get

    true_labels: list[int] = []
    ranked: list[list[int]] = []
    skipped: dict[str, int] = {}
    for class_folder in sorted(p for p in folder.iterdir() if p.is_dir()):
        files = list_images(class_folder)
        label = class_names_for_folder(class_folder.name)
        if label is None:
            if files:
                skipped[class_folder.name] = len(files)
            continue
        for start in range(0, len(files), batch_size):
            images = []
            for path in files[start : start + batch_size]:
                with Image.open(path) as image:
                    images.append(image.convert("RGB"))
            for prediction in engine.predict(images):
                true_labels.append(int(label))
                ranked.append(np.argsort(-prediction.probabilities, kind="stable").tolist())
    return evaluate_predictions(
        true_labels=true_labels, ranked_predictions=ranked, class_names=engine.class_names, skipped=skipped
    )


def confusion_matrix_png(result: EvaluationResult, path: str | Path) -> Path:
    """The confusion matrix (rows: true class, columns: predicted), counts written in the cells."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    path = Path(path)
    matrix = np.asarray(result.confusion, dtype=float)
    n_classes = len(result.class_names)
    side = max(5.0, 0.45 * n_classes + 2.5)
    figure = Figure(figsize=(side + 1.0, side), dpi=100)
    axes = figure.subplots()
    image = axes.imshow(matrix, cmap="Blues", vmin=0, vmax=max(1.0, matrix.max()))
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    ticks = np.arange(n_classes)
    axes.set_xticks(ticks, labels=result.class_names, rotation=90, fontsize=8)
    axes.set_yticks(ticks, labels=result.class_names, fontsize=8)
    axes.set(xlabel="predicted", ylabel="true", title=f"Confusion matrix (n={result.n}, top-1 {result.top1:.3f})")
    threshold = matrix.max() / 2.0 if matrix.size else 0.0
    for row in range(n_classes):
        for column in range(n_classes):
            count = int(matrix[row, column])
            if count:
                axes.text(
                    column,
                    row,
                    str(count),
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if matrix[row, column] > threshold else "black",
                )
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    return path
