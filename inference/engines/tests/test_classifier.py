import threading

import numpy as np
import pytest
from PIL import Image

from core.limits import MAX_ENGINE_SIDE
from inference.engines.classifier import ClassifierEngine, ClassifierLoadError, export_onnx, preprocess_images

from .conftest import TINY_CLASSES, TINY_IMGSZ

pytestmark = pytest.mark.nodb


# --- loading -------------------------------------------------------------------------------


def test_missing_file_is_a_clear_load_error(tmp_path):
    with pytest.raises(ClassifierLoadError, match="does not exist"):
        ClassifierEngine.load(tmp_path / "nope.pt")


def test_empty_file_is_a_clear_load_error(tmp_path):
    path = tmp_path / "empty.pt"
    path.write_bytes(b"")
    with pytest.raises(ClassifierLoadError, match="empty"):
        ClassifierEngine.load(path)


@pytest.mark.parametrize("name", ["garbage.pt", "garbage.onnx"])
def test_corrupt_file_is_a_clear_load_error(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ClassifierLoadError):
        ClassifierEngine.load(path)


def test_truncated_checkpoint_is_a_clear_load_error(tiny_model, tmp_path):
    path = tmp_path / "truncated.pt"
    path.write_bytes(tiny_model.weights.read_bytes()[:5000])
    with pytest.raises(ClassifierLoadError, match="truncated.pt"):
        ClassifierEngine.load(path)


def test_load_errors_carry_the_engine_codes(tmp_path):
    with pytest.raises(ClassifierLoadError) as missing:
        ClassifierEngine.load(tmp_path / "nowhere.pt")
    (tmp_path / "model.bin").write_bytes(b"not a model")
    with pytest.raises(ClassifierLoadError) as unknown:
        ClassifierEngine.load(tmp_path / "model.bin")
    assert (missing.value.code, unknown.value.code) == ("no_model", "bad_model")


def test_unknown_suffix_is_refused(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(b"x")
    with pytest.raises(ClassifierLoadError, match=r"\.pt, \.safetensors or \.onnx"):
        ClassifierEngine.load(path)


def test_detection_model_is_refused_as_not_a_classifier(tmp_path):
    import torch
    from ultralytics.nn.tasks import DetectionModel

    detector = DetectionModel("yolo11n.yaml", nc=2, verbose=False)
    path = tmp_path / "detector.pt"
    torch.save({"model": detector, "train_args": {"imgsz": 64}}, path)
    with pytest.raises(ClassifierLoadError, match="not an image classifier"):
        ClassifierEngine.load(path)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_onnx_without_our_metadata_is_refused(tmp_path):
    import torch

    path = tmp_path / "plain.onnx"
    torch.onnx.export(torch.nn.Linear(3, 2), (torch.zeros(1, 3),), str(path), dynamo=False)
    with pytest.raises(ClassifierLoadError, match="export_onnx"):
        ClassifierEngine.load(path)


def test_loaded_engine_describes_itself(tiny_engine, tiny_model):
    assert tiny_engine.kind == "pt"
    assert tiny_engine.class_names == TINY_CLASSES
    assert tiny_engine.imgsz == TINY_IMGSZ
    assert tiny_engine.path == tiny_model.weights.resolve()
    assert tiny_engine.embedding_dim == 1280


# --- preprocessing -------------------------------------------------------------------------


def test_preprocess_gives_nchw_float32_in_unit_range_and_is_deterministic(tiny_engine, motif_images):
    first = tiny_engine.preprocess(motif_images)
    second = tiny_engine.preprocess(motif_images)
    assert first.shape == (len(motif_images), 3, TINY_IMGSZ, TINY_IMGSZ)
    assert first.dtype == np.float32
    assert 0.0 <= first.min() and first.max() <= 1.0
    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize("size", [(97, 61), (61, 97), (200, 200), (20, 33)])
def test_preprocess_matches_the_ultralytics_classify_eval_transform(size):
    from ultralytics.data.augment import classify_transforms

    rng = np.random.default_rng(sum(size))
    image = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    ours = preprocess_images([image], 48)[0]
    theirs = classify_transforms(48)(image).numpy()
    np.testing.assert_allclose(ours, theirs, atol=1e-6)


@pytest.mark.parametrize("size", [(1, 60000), (60000, 1)])
def test_preprocess_of_a_thin_strip_resizes_only_the_square_it_keeps(size, resize_sizes):
    # Scaling the short side first would make 64 x 3,840,000 px (about 1 GB of intermediates).
    strip = Image.new("RGB", size, (200, 40, 10))
    batch = preprocess_images([strip], 64)
    assert batch.shape == (1, 3, 64, 64)
    np.testing.assert_allclose(batch[0, :, 32, 32], np.array([200, 40, 10]) / 255.0)
    assert resize_sizes and all(max(side) <= MAX_ENGINE_SIDE for side in resize_sizes), resize_sizes


def test_preprocess_of_ordinary_photos_is_resize_then_centre_crop_exactly():
    rng = np.random.default_rng(4)
    for _ in range(40):
        width, height = (int(side) for side in rng.integers(16, 400, 2))
        imgsz = int(rng.choice([16, 32, 64, 224]))
        image = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
        # The rule written out as two steps (the module docstring's steps 2 and 3).
        scaled = (imgsz, int(imgsz * height / width)) if width <= height else (int(imgsz * width / height), imgsz)
        resized = image.resize(scaled, Image.Resampling.BILINEAR) if scaled != image.size else image
        left, top = int(round((scaled[0] - imgsz) / 2.0)), int(round((scaled[1] - imgsz) / 2.0))
        expected = np.asarray(resized.crop((left, top, left + imgsz, top + imgsz)), np.float32).transpose(2, 0, 1)
        np.testing.assert_array_equal(preprocess_images([image], imgsz)[0], expected / 255.0)


def test_preprocess_refuses_arrays():
    with pytest.raises(TypeError, match="PIL"):
        preprocess_images([np.zeros((8, 8, 3), dtype=np.uint8)], 8)


def test_preprocess_accepts_grey_and_rgba_images():
    grey = Image.new("L", (40, 30), 128)
    rgba = Image.new("RGBA", (30, 40), (255, 0, 0, 10))
    batch = preprocess_images([grey, rgba], 16)
    assert batch.shape == (2, 3, 16, 16)
    np.testing.assert_allclose(batch[0], 128 / 255.0)
    np.testing.assert_allclose(batch[1][0], 1.0)


# --- prediction ----------------------------------------------------------------------------


def test_predict_gives_probabilities_embeddings_top5_and_timings(tiny_engine, motif_images):
    predictions = tiny_engine.predict(motif_images)
    assert len(predictions) == len(motif_images)
    for prediction in predictions:
        assert prediction.probabilities.shape == (len(TINY_CLASSES),)
        assert prediction.probabilities.dtype == np.float32
        assert prediction.probabilities.sum() == pytest.approx(1.0, abs=1e-6)
        assert prediction.embedding.shape == (1280,)
        assert np.linalg.norm(prediction.embedding) == pytest.approx(1.0, abs=1e-5)
        assert len(prediction.top) == len(TINY_CLASSES)  # fewer than five classes
        assert [p for _, p in prediction.top] == sorted((p for _, p in prediction.top), reverse=True)
        assert prediction.top[0][0] == int(np.argmax(prediction.probabilities))
        assert prediction.preprocess_s >= 0 and prediction.inference_s > 0
    assert tiny_engine.predict([]) == []


def test_embed_equals_the_embeddings_of_predict(tiny_engine, motif_images):
    embeddings = tiny_engine.embed(motif_images)
    assert embeddings.shape == (len(motif_images), 1280)
    expected = np.stack([p.embedding for p in tiny_engine.predict(motif_images)])
    np.testing.assert_allclose(embeddings, expected, atol=1e-6)
    assert tiny_engine.embed([]).shape == (0, 1280)


def test_probabilities_match_ultralytics_own_predict(tiny_engine, tiny_model, motif_images):
    from ultralytics import YOLO

    results = YOLO(str(tiny_model.weights)).predict(motif_images, imgsz=TINY_IMGSZ, device="cpu", verbose=False)
    ours = tiny_engine.predict(motif_images)
    for result, prediction in zip(results, ours):
        np.testing.assert_allclose(result.probs.data.numpy(), prediction.probabilities, atol=1e-5)


def test_concurrent_predictions_equal_sequential_ones(tiny_engine, motif_images):
    tiny_engine.warm_up()
    expected = [p.probabilities for p in tiny_engine.predict(motif_images)]
    results = [None] * 4

    def work(slot):
        results[slot] = [p.probabilities for p in tiny_engine.predict(motif_images)]

    threads = [threading.Thread(target=work, args=(slot,)) for slot in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for result in results:
        np.testing.assert_allclose(np.stack(result), np.stack(expected), atol=1e-6)


# --- ONNX ----------------------------------------------------------------------------------


def test_onnx_export_keeps_names_size_and_matches_pytorch(tiny_engine, tiny_onnx, motif_images):
    onnx_engine = ClassifierEngine.load(tiny_onnx)
    assert onnx_engine.kind == "onnx"
    assert onnx_engine.class_names == tiny_engine.class_names
    assert onnx_engine.imgsz == tiny_engine.imgsz
    assert not list(tiny_onnx.parent.glob(".*partial"))
    onnx_engine.warm_up()
    ours, theirs = tiny_engine.predict(motif_images), onnx_engine.predict(motif_images)
    for torch_prediction, onnx_prediction in zip(ours, theirs):
        assert onnx_prediction.top[0][0] == torch_prediction.top[0][0]
        np.testing.assert_allclose(onnx_prediction.probabilities, torch_prediction.probabilities, atol=1e-4)
        np.testing.assert_allclose(onnx_prediction.embedding, torch_prediction.embedding, atol=1e-4)
    np.testing.assert_allclose(onnx_engine.embed(motif_images), tiny_engine.embed(motif_images), atol=1e-4)


def test_onnx_export_refuses_an_onnx_source(tiny_onnx, tmp_path):
    with pytest.raises(ClassifierLoadError, match="needs a .pt"):
        export_onnx(tiny_onnx, tmp_path / "again.onnx")
