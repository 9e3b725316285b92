import numpy as np
import pytest
from PIL import Image

from inference.engines.classifier import ClassifierEngine
from core.limits import MAX_ENGINE_SIDE
from inference.engines.saliency import class_activation_map, heat_colours, map_size, overlay

pytestmark = pytest.mark.nodb


def test_class_activation_map_is_in_unit_range_at_the_image_size(tiny_engine, motif_images):
    image = motif_images[0].resize((90, 60))
    class_index = tiny_engine.predict([image])[0].top[0][0]
    heat = class_activation_map(tiny_engine, image, class_index)
    assert heat.shape == (60, 90)
    assert heat.dtype == np.float32
    assert 0.0 <= heat.min() and heat.max() <= 1.0
    # The centre crop keeps columns 15..74 of a 90x60 photo: the model never saw the rest.
    assert not heat[:, :15].any() and not heat[:, 75:].any()


def test_class_activation_map_refuses_an_unknown_class(tiny_engine, motif_images):
    with pytest.raises(ValueError, match="out of range"):
        class_activation_map(tiny_engine, motif_images[0], 99)


def test_onnx_engine_uses_its_pt_sibling_or_returns_none(tiny_model, tiny_onnx, motif_images, tmp_path):
    lone = tmp_path / "lone.onnx"
    lone.write_bytes(tiny_onnx.read_bytes())
    assert class_activation_map(ClassifierEngine.load(lone), motif_images[0], 0) is None

    paired = tmp_path / "paired.onnx"
    paired.write_bytes(tiny_onnx.read_bytes())
    (tmp_path / "paired.pt").write_bytes(tiny_model.weights.read_bytes())
    heat = class_activation_map(ClassifierEngine.load(paired), motif_images[0], 0)
    assert heat.shape == motif_images[0].size[::-1]


def test_overlay_blends_a_coloured_map_over_the_photo_without_touching_it():
    photo = Image.new("RGB", (40, 30), (100, 100, 100))
    heat = np.zeros((30, 40), dtype=np.float32)
    heat[:, 20:] = 1.0
    before = np.asarray(photo).copy()
    blended = overlay(photo, heat, alpha=0.5)
    assert blended.size == (40, 30) and blended.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(photo), before)
    left, right = np.asarray(blended)[15, 5], np.asarray(blended)[15, 35]
    assert left[2] > left[0]  # cold: blue
    assert right[0] > right[2]  # hot: red
    assert overlay(photo, np.zeros((3, 4)), alpha=0.0).tobytes() == photo.tobytes()


def test_heat_maps_and_overlays_of_a_huge_photo_stay_within_the_engine_bound(tiny_engine, resize_sizes):
    strip = Image.new("RGB", (1, 60000), (90, 120, 30))
    heat = class_activation_map(tiny_engine, strip, 0)
    assert heat.shape == (MAX_ENGINE_SIDE, 1)  # 1 x 60000 scaled to fit 4096 px, at least 1 px wide
    wide = Image.new("RGB", (5000, 100), (90, 120, 30))
    blended = overlay(wide, np.zeros((100, 5000), dtype=np.float32))
    assert blended.size == map_size(5000, 100) == (MAX_ENGINE_SIDE, 82)
    assert all(max(side) <= MAX_ENGINE_SIDE for side in resize_sizes), resize_sizes
    assert map_size(640, 480) == (640, 480)


def test_heat_colours_run_from_blue_to_red():
    ramp = heat_colours(np.array([[0.0, 0.5, 1.0]]))
    assert ramp.shape == (1, 3, 3) and ramp.dtype == np.uint8
    assert ramp[0, 0, 2] > ramp[0, 0, 0] and ramp[0, 2, 0] > ramp[0, 2, 2]


def test_class_activation_map_refuses_an_unknown_layer(tiny_engine, motif_images):
    with pytest.raises(ValueError, match="layer"):
        class_activation_map(tiny_engine, motif_images[0], 0, layer=99)
    head_conv = len(tiny_engine.torch_module.layers)
    assert class_activation_map(tiny_engine, motif_images[0], 0, layer=head_conv).shape == (80, 80)
