"""EfficientNet-Lite0 with the ImageNet weights of the pinned package: loaded strictly and safely,
the shapes a classifier head and a projected discriminator read, any input size, ONNX parity."""
import pickle

import numpy as np
import pytest
import torch

from inference.engines import backbones
from inference.engines.errors import ClassifierLoadError

pytestmark = [pytest.mark.nodb, pytest.mark.usefixtures("one_torch_thread")]


@pytest.fixture(scope="module")
def network():
    return backbones.efficientnet_lite0()


def test_the_weights_come_from_the_pinned_package_and_load_strictly(network):
    path = backbones.imagenet_weights_path()
    assert path.name == backbones.WEIGHTS_FILE and path.stat().st_size > 10_000_000
    state = backbones.load_state_dict(path)
    assert set(state) == set(network.state_dict())  # strict: nothing missing, nothing left over
    assert all(torch.equal(state[k], v) for k, v in network.state_dict().items())
    assert sum(v.numel() for v in network.parameters()) == 4_652_008  # ~4.7 M: EfficientNet-Lite0


@pytest.mark.parametrize("size", [224, 128, 97])
def test_features_at_four_strides_and_a_pooled_embedding_for_any_size(network, size):
    images = torch.rand(2, 3, size, size)
    with torch.inference_mode():
        maps = network.features(images)
        embedding = network.embed(images)
    assert [m.shape[1] for m in maps] == list(backbones.FEATURE_CHANNELS)
    assert [m.shape[-1] for m in maps] == [-(-size // stride) for stride in (4, 8, 16, 32)]
    assert embedding.shape == (2, backbones.EMBEDDING_DIM) and torch.isfinite(embedding).all()


def test_the_pretrained_features_tell_textures_apart_better_than_random_weights(network):
    """Stripes and checks, each in several colours and offsets: with the ImageNet weights a
    stripe is nearer every other stripe than any check, which random weights do not give."""
    def pattern(kind, shift, colour):
        y, x = np.mgrid[0:128, 0:128]
        on = ((x + shift) // 8) % 2 if kind == "stripes" else (((x + shift) // 8 + y // 8) % 2)
        image = np.where(on[..., None], np.array(colour, np.float32), 1.0 - np.array(colour, np.float32))
        return torch.from_numpy(image).permute(2, 0, 1)

    colours = [(0.9, 0.1, 0.1), (0.1, 0.6, 0.2), (0.2, 0.2, 0.9)]
    batch = torch.stack([pattern(kind, shift, c) for kind in ("stripes", "checks") for shift, c in zip((0, 3, 5), colours)])

    def separated(model) -> bool:
        with torch.inference_mode():
            e = torch.nn.functional.normalize(model.embed(batch), dim=1)
        similarity = e @ e.T
        same = similarity[:3, :3][~torch.eye(3, dtype=bool)].min()
        across = similarity[:3, 3:].max()
        return bool(same > across)

    assert separated(network)
    torch.manual_seed(0)
    assert not separated(backbones.efficientnet_lite0(pretrained=False))


def test_a_file_that_is_not_a_plain_state_dict_is_refused_without_running_it(tmp_path):
    class Payload:
        def __reduce__(self):
            return (print, ("this must never run",))

    evil = tmp_path / "evil.pth"
    evil.write_bytes(pickle.dumps({"weight": Payload()}))
    with pytest.raises(ClassifierLoadError) as caught:
        backbones.efficientnet_lite0(path=evil)
    assert caught.value.code == "bad_model"
    wrong = tmp_path / "wrong.pth"
    torch.save({"_conv_stem.weight": torch.zeros(1)}, wrong)
    with pytest.raises(ClassifierLoadError) as caught:
        backbones.efficientnet_lite0(path=wrong)
    assert caught.value.code == "bad_model" and "do not fit" in caught.value.message
    with pytest.raises(ClassifierLoadError) as caught:
        backbones.efficientnet_lite0(path=tmp_path / "missing.pth")
    assert caught.value.code == "no_model"


def test_onnx_export_of_the_embedding_gives_the_same_vectors(network, tmp_path):
    import onnxruntime

    class Embed(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.network = network

        def forward(self, images):
            return self.network.embed(images)

    images = torch.rand(3, 3, 160, 160)
    path = tmp_path / "lite0.onnx"
    torch.onnx.export(Embed().eval(), (images[:1],), str(path), input_names=["images"], output_names=["embedding"],
                      dynamic_axes={"images": {0: "batch"}, "embedding": {0: "batch"}}, dynamo=False)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    served = session.run(None, {"images": images.numpy()})[0]
    with torch.inference_mode():
        expected = network.embed(images).numpy()
    assert np.abs(served - expected).max() < 1e-3
