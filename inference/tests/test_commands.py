"""train_classifier, evaluate_classifier and classify, on real (tiny or shipped) models."""
import json
from io import StringIO

import pytest
from PIL import Image
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command

from inference.models import ClassificationRecord, ModelVersion
from motifs.demo_art import render_motif

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.fixture
def demo_archive():
    call_command("make_demo_dataset", count=3, size=96, no_progress=True, verbosity=0)


@pytest.mark.parametrize("arch,extra,suffix", [
    ("efficientnet-lite0", ["--imgsz", "64"], ".safetensors"),
    ("yolo11n-cls", ["--imgsz", "32", "--batch", "16"], ".pt"),
])
def test_train_classifier_on_a_tiny_set_registers_a_version_with_metrics_plots_and_calibration(arch, extra, suffix):
    call_command("make_demo_dataset", count=4, size=96, no_progress=True, verbosity=0)
    output = run("train_classifier", "--arch", arch, "--epochs", "1", *extra, "--activate", "--verbosity", "0")
    version = ModelVersion.objects.get()
    assert version.is_active and version.source == "trained" and len(version.class_names) == 14
    assert version.path.endswith(suffix) and version.metrics["arch"] == arch and version.metrics["device"] == "cpu"
    for key in ("top1", "top5", "macro_precision", "macro_recall", "macro_f1", "n", "per_class", "confusion", "train_seconds"):
        assert key in version.metrics, key
    assert version.metrics["n"] == 14 and len(version.metrics["confusion"]) == 14
    assert set(version.plots) == {"confusion matrix", "training curves"}
    assert all(default_storage.exists(path) for path in version.plots.values())
    assert 0 < version.calibration["min_confidence"] <= 1 and version.calibration["metrics"]["n_ood"] > 0
    assert version.training_data["classes"] == sorted(version.class_names)
    # Served through ONNX Runtime: the export made at registration, beside the trained file.
    assert version.serving_path.endswith(".onnx") and default_storage.exists(version.serving_path)
    assert "test split: n=14" in output and "min)" in output


@pytest.mark.parametrize("args,message", [
    (["--epochs", "0"], "--epochs"), (["--imgsz", "50"], "--imgsz"), (["--batch", "0"], "--batch"),
    (["--arch", "yolo11n-cls", "--weights", "/nonexistent.pt"], "--weights"),
    (["--arch", "resnet50"], "unknown --arch 'resnet50'"),
    (["--weights", "/nonexistent.pt"], "--weights is a YOLO11-cls .pt"),
])
def test_train_classifier_arguments_are_checked(args, message):
    with pytest.raises(CommandError, match=message):
        run("train_classifier", *args)
    assert not ModelVersion.objects.exists()


def test_a_class_with_too_few_training_photos_is_a_clear_error_and_registers_nothing():
    call_command("make_demo_dataset", count=3, size=96, no_progress=True, verbosity=0)  # one training photo each
    with pytest.raises(CommandError, match="at least two training photos"):
        run("train_classifier", "--epochs", "1", "--imgsz", "64", "--verbosity", "0")
    assert not ModelVersion.objects.exists()


def test_train_classifier_on_an_archive_without_images_is_a_clear_error():
    with pytest.raises(CommandError, match="no images with training consent"):
        run("train_classifier", "--epochs", "1", "--imgsz", "32")


def test_evaluate_classifier_on_a_folder_prints_json(classifier, tmp_path):
    for slug in ("merak", "kepiting", "kuda-laut"):
        (tmp_path / slug).mkdir()
        for seed in (40001, 40002):
            render_motif(slug, seed, 256).save(tmp_path / slug / f"{seed}.jpg")
    (tmp_path / "tumpal-jawa").mkdir()
    render_motif("merak", 1, 64).save(tmp_path / "tumpal-jawa" / "x.jpg")
    data = json.loads(run("evaluate_classifier", "--folder", str(tmp_path), "--json"))
    assert data["n"] == 6 and data["version"] == classifier.pk
    assert data["top1"] >= 0.8 and data["top5"] == 1.0
    for key in ("macro_precision", "macro_recall", "macro_f1"):
        assert 0 <= data[key] <= 1
    assert data["skipped"] == {"tumpal-jawa": 1}


def test_evaluate_classifier_defaults_to_the_archive_test_split(classifier, demo_archive):
    output = run("evaluate_classifier")
    assert "n=14" in output and "kepiting" in output


def test_evaluate_without_an_active_classifier():
    with pytest.raises(CommandError, match="no active classifier"):
        run("evaluate_classifier")


def test_classify_command_prints_one_json_line_per_image(classifier, tmp_path):
    render_motif("ubur-ubur", 41000, 512).save(tmp_path / "a.jpg")
    render_motif("pucuk-rebung", 41001, 512).save(tmp_path / "b.png")
    (tmp_path / "c.jpg").write_bytes(b"not an image")
    Image.new("RGB", (256, 256), (128, 128, 128)).save(tmp_path / "d.png")  # plain grey: no motif
    lines = [json.loads(line) for line in run("classify", str(tmp_path)).splitlines()]
    assert [line["file"].rsplit("/", 1)[-1] for line in lines] == ["a.jpg", "b.png", "c.jpg", "d.png"]
    assert lines[0]["motif"] == "ubur-ubur" and lines[1]["motif"] == "pucuk-rebung"
    assert lines[0]["reason"] == "ok" and lines[0]["recognised"] and lines[0]["label"]
    assert 0 < lines[0]["confidence"] <= 1 and len(lines[0]["top"]) == 5 and "inference_s" in lines[0]["timings"]
    assert lines[2]["error"] == "not_an_image"
    # Not recognised: the answer does not contradict itself (as in the API), the guesses remain.
    grey = lines[3]
    assert not grey["recognised"] and grey["reason"] in ("low_confidence", "far_from_archive")
    assert grey["label"] is None and grey["motif"] is None and grey["confidence"] is None and len(grey["top"]) == 5
    assert not ClassificationRecord.objects.exists()


def test_classify_command_without_a_model_says_unavailable(tmp_path):
    render_motif("merak", 1, 64).save(tmp_path / "a.jpg")
    with pytest.raises(CommandError, match="unavailable: no_active_classifier"):
        run("classify", str(tmp_path))


def test_training_says_at_once_when_the_asked_device_is_not_there(settings):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    settings.CUALIFY_DEVICE = "cuda"
    for command in ("train_classifier", "train_generator", "train_refiner"):
        with pytest.raises(CommandError, match="CUALIFY_DEVICE=cuda, but torch sees no CUDA device"):
            run(command)
    assert not ModelVersion.objects.exists()
