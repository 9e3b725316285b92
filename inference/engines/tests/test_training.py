import json
import shutil

import numpy as np
import pytest
from PIL import Image

from inference.engines.__main__ import main
from inference.engines.training import (
    confusion_matrix_png,
    evaluate_folder,
    evaluate_predictions,
    list_images,
    train_yolo_classifier,
)

from .conftest import TINY_CLASSES, TINY_EPOCHS

pytestmark = pytest.mark.nodb


def test_training_reports_progress_once_per_epoch_and_leaves_weights_and_curves(tiny_model):
    calls = tiny_model.progress_calls
    assert [(epoch, epochs) for epoch, epochs, _ in calls] == [(e, TINY_EPOCHS) for e in range(1, TINY_EPOCHS + 1)]
    assert all("metrics/accuracy_top1" in metrics and "train/loss" in metrics for _, _, metrics in calls)
    result = tiny_model.result
    assert result.epochs_run == TINY_EPOCHS
    assert result.seconds > 0
    assert result.weights_path.is_file() and result.weights_path.stat().st_size < 10_000_000
    assert (result.run_dir / "results.csv").is_file()
    with Image.open(result.curves_png) as curves:
        assert curves.format == "PNG" and curves.width > 200


def test_training_refuses_a_folder_without_the_classification_layout(tmp_path):
    with pytest.raises(FileNotFoundError, match="train/"):
        train_yolo_classifier(data_dir=tmp_path, run_dir=tmp_path / "run", epochs=1, imgsz=32, batch=2, seed=0)


def test_training_refuses_missing_fine_tuning_weights(tiny_model, tmp_path):
    with pytest.raises(FileNotFoundError, match="weights"):
        train_yolo_classifier(
            data_dir=tiny_model.data_dir, run_dir=tmp_path / "run", epochs=1, imgsz=32, batch=2, seed=0,
            weights=tmp_path / "yolo11n-cls.pt",
        )


def test_metrics_by_hand():
    result = evaluate_predictions(
        true_labels=[0, 0, 0, 1, 1, 2],
        ranked_predictions=[[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 0, 2], [2, 1, 0], [2, 0, 1]],
        class_names=["a", "b", "c", "never-seen"],
    )
    assert result.n == 6
    assert result.top1 == pytest.approx(4 / 6)
    assert result.top5 == 1.0
    assert result.confusion == [[2, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 0], [0, 0, 0, 0]]
    assert result.per_class["a"] == pytest.approx({"precision": 1.0, "recall": 2 / 3, "f1": 0.8, "support": 3})
    assert result.per_class["c"] == pytest.approx({"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1})
    # Macro averages skip the class without images.
    assert result.macro_precision == pytest.approx(2 / 3)
    assert result.macro_recall == pytest.approx(13 / 18)
    assert result.macro_f1 == pytest.approx(59 / 90)
    assert json.loads(json.dumps(result.to_json()))["top1"] == pytest.approx(4 / 6)


def test_top5_misses_count():
    result = evaluate_predictions(
        true_labels=[5, 0], ranked_predictions=[[0, 1, 2, 3, 4, 5], [1, 2, 3, 4, 5, 0]], class_names="abcdef"
    )
    assert result.top1 == 0.0 and result.top5 == 0.0


def test_evaluate_folder_scores_a_known_mislabeled_image_and_skips_unknown_folders(tiny_engine, tiny_model, tmp_path):
    sources = [p for name in TINY_CLASSES for p in list_images(tiny_model.data_dir / "test" / name)]
    predicted = []
    for path in sources:
        with Image.open(path) as image:
            predicted.append(tiny_engine.predict([image.convert("RGB")])[0].top[0][0])
    # Every image filed under the class the model predicts, except the first one: filed one class off.
    truths = list(predicted)
    truths[0] = (predicted[0] + 1) % len(TINY_CLASSES)
    for index, (path, truth) in enumerate(zip(sources, truths)):
        folder = tmp_path / "eval" / TINY_CLASSES[truth]
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, folder / f"{index:03d}.png")
    unknown = tmp_path / "eval" / "not-a-motif"
    unknown.mkdir()
    for index in range(2):
        shutil.copyfile(sources[index], unknown / f"{index}.png")
    (tmp_path / "eval" / "README.txt").write_text("not an image folder")

    result = evaluate_folder(tiny_engine, tmp_path / "eval")

    expected_confusion = np.zeros((3, 3), dtype=int)
    for truth, guess in zip(truths, predicted):
        expected_confusion[truth, guess] += 1
    assert result.n == len(sources)
    assert result.top1 == pytest.approx((len(sources) - 1) / len(sources))
    assert result.top5 == 1.0
    assert result.confusion == expected_confusion.tolist()
    assert result.skipped == {"not-a-motif": 2}
    assert result.class_names == TINY_CLASSES
    assert sum(values["support"] for values in result.per_class.values()) == len(sources)
    png = confusion_matrix_png(result, tmp_path / "confusion.png")
    with Image.open(png) as image:
        assert image.format == "PNG"


def test_evaluate_folder_maps_folder_names_through_the_callable(tiny_engine, tiny_model):
    aliases = {name.upper(): index for index, name in enumerate(TINY_CLASSES)}
    renamed = evaluate_folder(tiny_engine, tiny_model.data_dir / "test", lambda folder: aliases.get(folder.upper()))
    plain = evaluate_folder(tiny_engine, tiny_model.data_dir / "test")
    assert renamed.n == plain.n == 12
    assert renamed.confusion == plain.confusion
    nothing = evaluate_folder(tiny_engine, tiny_model.data_dir / "test", lambda folder: None)
    assert nothing.n == 0 and nothing.skipped == {name: 4 for name in TINY_CLASSES}


def test_cli_evaluate_and_predict_print_json(tiny_model, capsys):
    folder = tiny_model.data_dir / "val"
    assert main(["evaluate", "--weights", str(tiny_model.weights), "--folder", str(folder), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert {"top1", "top5", "macro_precision", "macro_recall", "macro_f1", "n"} <= payload.keys()
    assert payload["n"] == 12

    images = list_images(tiny_model.data_dir / "val" / TINY_CLASSES[0])[:2]
    assert main(["predict", "--weights", str(tiny_model.weights), *map(str, images)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 2
    assert lines[0]["label"] in TINY_CLASSES and 0.0 <= lines[0]["confidence"] <= 1.0
    assert len(lines[0]["top5"]) == len(TINY_CLASSES)


def test_fine_tuning_from_weights_keeps_the_classes_and_reports_progress(tiny_model, tmp_path):
    calls = []
    result = train_yolo_classifier(
        data_dir=tiny_model.data_dir, run_dir=tmp_path / "fine-tune", epochs=1, imgsz=32, batch=8, seed=1,
        weights=tiny_model.weights, progress=lambda epoch, epochs, metrics: calls.append((epoch, epochs)),
    )
    from inference.engines.classifier import ClassifierEngine

    assert calls == [(1, 1)]
    assert result.run_dir == (tmp_path / "fine-tune").resolve()
    assert ClassifierEngine.load(result.weights_path).class_names == TINY_CLASSES
