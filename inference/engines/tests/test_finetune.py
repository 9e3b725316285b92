"""Fine-tuning EfficientNet-Lite0: a tiny real run learns, its file loads safely into the engine,
the ONNX export agrees with it, Grad-CAM works on both, and bad training sets are refused."""
import json

import numpy as np
import pytest
import torch

from inference.engines import finetune
from inference.engines.classifier import ClassifierEngine, export_onnx
from inference.engines.errors import ClassifierLoadError
from inference.engines.saliency import class_activation_map

from .conftest import TINY_CLASSES, render_dataset

pytestmark = [pytest.mark.nodb, pytest.mark.usefixtures("one_torch_thread")]

# Small enough for CI (about 20 s on one core), large enough to learn three rendered motifs.
TINY_RECIPE = finetune.FineTuneOptions(imgsz=96, views=2, head_iterations=50, epochs=1, batch=16, seed=0)


@pytest.fixture(scope="module")
def tiny_lite(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny-lite")
    data = render_dataset(root / "data", size=128)
    calls = []
    result = finetune.train_from_folders(data, root / "tiny.safetensors", options=TINY_RECIPE,
                                         progress=lambda *call: calls.append(call))
    return root / "tiny.safetensors", data, result, calls


def test_a_tiny_fine_tune_learns_and_reports_each_step(tiny_lite):
    path, data, result, calls = tiny_lite
    assert result.class_names == tuple(sorted(TINY_CLASSES))
    # Two passes of views, the head stage, one top-block epoch: one call each, counted to the total.
    assert [call[0] for call in calls] == [1, 2, 3, 4] and all(call[1] == 4 for call in calls)
    assert [call[2]["phase"] for call in calls] == ["views", "views", "train", "train"]
    assert [row["stage"] for row in result.history] == [1, 2]
    assert result.best_val_accuracy >= 2 / 3  # 12 held-out renders of 3 motifs; chance is 1/3
    engine = ClassifierEngine.load(path)
    assert engine.kind == "safetensors" and engine.arch == "efficientnet-lite0" and engine.imgsz == 96
    from inference.engines.training import evaluate_folder

    assert evaluate_folder(engine, data / "test").top1 >= 2 / 3


def test_the_file_is_safetensors_with_its_metadata_and_refuses_misfits(tiny_lite, tmp_path):
    path, *_ = tiny_lite
    metadata = finetune.read_metadata(path)
    assert metadata["kind"] == finetune.FILE_KIND and metadata["arch"] == "efficientnet-lite0"
    assert json.loads(metadata["names"]) == sorted(TINY_CLASSES) and metadata["imgsz"] == "96"
    from safetensors.torch import save_file

    stranger = tmp_path / "other.safetensors"
    save_file({"x": torch.zeros(2)}, str(stranger), metadata={"kind": "something-else"})
    with pytest.raises(ClassifierLoadError, match="not a Cualify EfficientNet-Lite0"):
        ClassifierEngine.load(stranger)
    misfit = tmp_path / "misfit.safetensors"
    save_file({"head.weight": torch.zeros(3, 1280)}, str(misfit), metadata=dict(metadata))
    with pytest.raises(ClassifierLoadError, match="does not fit"):
        ClassifierEngine.load(misfit)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x00" * 64)
    with pytest.raises(ClassifierLoadError, match="not a readable safetensors"):
        ClassifierEngine.load(garbage)


def test_the_onnx_export_gives_the_same_probabilities_and_embeddings(tiny_lite, tmp_path):
    from PIL import Image

    path, data, *_ = tiny_lite
    onnx_path = export_onnx(path, tmp_path / "tiny.onnx")
    torch_engine, onnx_engine = ClassifierEngine.load(path), ClassifierEngine.load(onnx_path, threads=1)
    assert onnx_engine.arch == "efficientnet-lite0" and onnx_engine.class_names == torch_engine.class_names
    assert onnx_engine.imgsz == 96 and onnx_engine.embedding_dim == torch_engine.embedding_dim == 1280
    images = [Image.open(p).convert("RGB") for p in sorted((data / "test").rglob("*.png"))[:6]]
    for a, b in zip(torch_engine.predict(images), onnx_engine.predict(images)):
        assert a.top[0][0] == b.top[0][0]
        assert np.abs(a.probabilities - b.probabilities).max() < 1e-4
        assert np.abs(a.embedding - b.embedding).max() < 1e-4


def test_grad_cam_works_on_the_safetensors_and_through_its_onnx_sibling(tiny_lite, tmp_path):
    import shutil

    from PIL import Image

    path, data, *_ = tiny_lite
    image = Image.open(next((data / "test").rglob("*.png"))).convert("RGB")
    engine = ClassifierEngine.load(path)
    heat = class_activation_map(engine, image, 0)
    assert heat.shape == (image.height, image.width) and 0.0 <= heat.min() and heat.max() <= 1.0
    sibling = tmp_path / "served.safetensors"
    shutil.copyfile(path, sibling)
    onnx_engine = ClassifierEngine.load(export_onnx(sibling, tmp_path / "served.onnx"), threads=1)
    assert np.allclose(class_activation_map(onnx_engine, image, 0), heat, atol=1e-5)


@pytest.mark.parametrize("labels,message", [
    ([0, 0, 0], "at least two classes"),
    ([0, 0, 1], "at least two training photos; too few in: b"),
])
def test_a_training_set_that_cannot_train_a_classifier_is_refused(labels, message):
    names = ("a",) if max(labels) == 0 else ("a", "b")
    with pytest.raises(ValueError, match=message):
        finetune.check_training_set(names, labels)


@pytest.mark.parametrize("field,value", [("imgsz", 50), ("views", 0), ("epochs", -1), ("unfreeze_from", 17)])
def test_recipe_bounds_are_checked(field, value):
    with pytest.raises(ValueError, match=field):
        finetune.FineTuneOptions(**{field: value})


def test_leave_one_class_out_and_few_shot_run_on_a_tiny_set(tmp_path):
    from inference.engines.strangers import non_batik_images

    data = render_dataset(tmp_path / "data", size=128)
    names, images, labels = finetune.read_class_folders(data / "train")
    _, test_images, test_labels = finetune.read_class_folders(data / "test", names)
    recipe = finetune.FineTuneOptions(imgsz=96, views=1, head_iterations=50, epochs=0, batch=16, seed=0)
    few = images[::3], labels[::3]  # 10 per class: the loops, not the figures, are under test here
    rows = finetune.leave_one_class_out(images=few[0], labels=few[1], test_images=test_images, test_labels=test_labels,
                                        class_names=names, strangers=non_batik_images(4, 96, seed=0), options=recipe,
                                        workdir=tmp_path / "loco")
    assert [row["left_out"] for row in rows] == list(names)
    for row in rows:
        for key in ("known_top1", "correct_accepted", "left_out_accepted", "strangers_accepted"):
            assert 0.0 <= row[key] <= 1.0, (key, row)
        assert 0 < row["thresholds"]["min_confidence"] <= 1
    assert not list((tmp_path / "loco").iterdir())  # the models of the loop are not kept
    table = finetune.few_shot_table(images=images, labels=labels, test_images=test_images, test_labels=test_labels,
                                    class_names=names, shots=(3,), subsets=2, options=recipe)
    assert set(table) == {3} and len(table[3]["runs"]) == 2
    assert 0.0 <= table[3]["min"] <= table[3]["mean"] <= 1.0


def test_the_texture_descriptor_reads_what_occurs_together_not_where():
    torch.manual_seed(0)
    maps = torch.rand(2, 8, 6, 6)
    descriptor = finetune.texture_descriptor(maps)
    assert descriptor.shape == (2, 8 * 9 // 2)
    assert torch.allclose(descriptor.norm(dim=1), torch.ones(2))
    shuffled = maps.flatten(2)[:, :, torch.randperm(36)].reshape(2, 8, 6, 6)  # same parts, other places
    assert torch.allclose(finetune.texture_descriptor(shuffled), descriptor, atol=1e-6)
    other = maps.clone()
    other[:, 1] = other[:, 1].flip(-1)  # channel 1 moved against channel 0: they co-occur differently
    assert not torch.allclose(finetune.texture_descriptor(other), descriptor, atol=1e-3)


def test_the_head_reads_the_texture_and_a_file_without_it_still_loads(tiny_lite, tmp_path):
    path, data, *_ = tiny_lite
    model, names, imgsz = finetune.load_lite_classifier(path)
    assert model.texture and model.head.in_features == 1280 + finetune.TEXTURE_DIM
    assert finetune.read_metadata(path)["texture"] == "1"
    assert float(model.feature_std.min()) > 0 and float(model.feature_mean.abs().max()) > 0  # fitted, stored
    # A pooled-only head (the texture option off) round-trips through the same file format.
    plain = finetune.LiteClassifier(len(names), texture=False).eval()
    plain_path = finetune.save_lite_classifier(plain, tmp_path / "plain.safetensors", class_names=names, imgsz=imgsz)
    loaded, *_ = finetune.load_lite_classifier(plain_path)
    assert not loaded.texture and loaded.head.in_features == 1280
    images = torch.rand(2, 3, 64, 64)
    assert torch.allclose(loaded(images)[0], plain(images)[0], atol=1e-6)
    # Files written before the head read standardised features have neither buffer nor flag.
    from safetensors.torch import load_file, save_file

    metadata = {k: v for k, v in finetune.read_metadata(plain_path).items() if k != "texture"}
    state = {k: v for k, v in load_file(str(plain_path)).items() if not k.startswith("feature_")}
    save_file(state, str(tmp_path / "older.safetensors"), metadata=metadata)
    older, *_ = finetune.load_lite_classifier(tmp_path / "older.safetensors")
    assert not older.texture and torch.allclose(older(images)[0], plain(images)[0], atol=1e-6)
