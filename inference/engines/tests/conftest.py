"""Engine fixtures: one tiny YOLO11-cls trained once per session on rendered demo motifs.

Nothing here touches the database."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from inference.engines.offline import configure_ultralytics_offline, default_config_dir

TINY_CLASSES = ("kepiting", "merak", "ubur-ubur")
TINY_IMAGE_SIZE = 64  # rendered pixels
TINY_IMGSZ = 32  # network input
TINY_EPOCHS = 3
# Enough steps (~70) for BatchNorm running statistics to settle: with fewer, features collapse to a constant.
SPLITS = {"train": range(0, 30), "val": range(100, 104), "test": range(200, 204)}


@dataclass(frozen=True)
class TinyModel:
    data_dir: Path
    result: object  # TrainResult
    progress_calls: tuple  # (epoch, epochs, metrics) as reported during training

    @property
    def weights(self) -> Path:
        return self.result.weights_path


def render_dataset(root: Path, classes=TINY_CLASSES, size=TINY_IMAGE_SIZE) -> Path:
    from motifs.demo_art import render_motif

    for split, seeds in SPLITS.items():
        for slug in classes:
            folder = root / split / slug
            folder.mkdir(parents=True, exist_ok=True)
            for seed in seeds:
                render_motif(slug, seed, size).save(folder / f"{slug}-{seed}.png")
    return root


@pytest.fixture(scope="session", autouse=True)
def _ultralytics_offline():
    configure_ultralytics_offline(default_config_dir())


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> TinyModel:
    from inference.engines.training import train_yolo_classifier

    root = tmp_path_factory.mktemp("tiny-cls")
    data_dir = render_dataset(root / "data")
    calls = []
    result = train_yolo_classifier(
        data_dir=data_dir,
        run_dir=root / "run",
        epochs=TINY_EPOCHS,
        imgsz=TINY_IMGSZ,
        batch=4,
        seed=0,
        progress=lambda epoch, epochs, metrics: calls.append((epoch, epochs, dict(metrics))),
    )
    return TinyModel(data_dir=data_dir, result=result, progress_calls=tuple(calls))


@pytest.fixture(scope="session")
def tiny_engine(tiny_model):
    from inference.engines.classifier import ClassifierEngine

    return ClassifierEngine.load(tiny_model.weights)


@pytest.fixture(scope="session")
def tiny_onnx(tiny_model, tmp_path_factory) -> Path:
    from inference.engines.classifier import export_onnx

    return export_onnx(tiny_model.weights, tmp_path_factory.mktemp("onnx") / "tiny.onnx")


@pytest.fixture(scope="session")
def motif_images():
    from motifs.demo_art import render_motif

    return [render_motif(slug, 300 + index, 80) for index, slug in enumerate(TINY_CLASSES * 2)]
