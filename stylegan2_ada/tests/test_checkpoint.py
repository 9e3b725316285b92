import pytest
import torch

from stylegan2_ada.checkpoint import (
    CheckpointError,
    convert_network_pickle,
    load_checkpoint,
    load_generator,
    save_checkpoint,
)
from stylegan2_ada.tests import nvlabs_format as nvlabs
from stylegan2_ada.tests.helpers import labels, tiny_discriminator, tiny_generator

pytestmark = pytest.mark.nodb


def test_checkpoint_round_trip_keeps_images_and_metadata(tmp_path):
    G = tiny_generator(c_dim=2)
    D = tiny_discriminator(c_dim=2)
    path = save_checkpoint(tmp_path / "g.safetensors", G_ema=G, G=G, D=D, class_names=["Kembang", "Kuntul"],
                           kimg=12.5, metrics={"loss_G": 1.5}, augment={"p": 0.3})
    loaded = load_checkpoint(path)
    assert loaded.class_names == ("Kembang", "Kuntul")
    assert loaded.kimg == 12.5 and loaded.metrics == {"loss_G": 1.5} and loaded.augment == {"p": 0.3}
    z = torch.randn(2, 16)
    c = labels(2, [0, 1])
    assert torch.equal(G(z, c, noise_mode="const"), loaded.G_ema(z, c, noise_mode="const"))
    assert torch.equal(D(G(z, c), c), loaded.D(G(z, c), c))
    assert [p.name for p in tmp_path.iterdir()] == ["g.safetensors"]


def test_failed_save_leaves_no_partial_file(tmp_path):
    G = tiny_generator(c_dim=2)
    with pytest.raises(CheckpointError, match="2 classes"):
        save_checkpoint(tmp_path / "g.safetensors", G_ema=G, class_names=["only one"])
    G.init_kwargs["synthesis_kwargs"]["not_json"] = object()
    with pytest.raises(TypeError):
        save_checkpoint(tmp_path / "g.safetensors", G_ema=G, class_names=["a", "b"])
    assert list(tmp_path.iterdir()) == []


def test_convert_nvlabs_pickle_gives_identical_images(tmp_path):
    pkl = tmp_path / "network-snapshot-000100.pkl"
    nvlabs.write_network_pickle(pkl, nvlabs.generator_node(c_dim=3, num_fp16_res=2, conv_clamp=256),
                                nvlabs.discriminator_node(c_dim=3))
    out = convert_network_pickle(pkl, tmp_path / "converted.safetensors", class_names=["a", "b", "c"])
    from_pickle = load_generator(pkl)
    from_checkpoint = load_generator(out)
    assert from_pickle.source == "nvlabs-pickle" and from_checkpoint.source == "checkpoint"
    assert from_checkpoint.class_names == ("a", "b", "c")
    z = torch.randn(3, 16)
    c = labels(3, [0, 1, 2])
    assert torch.equal(from_pickle.G(z, c, truncation_psi=0.7, noise_mode="const"),
                       from_checkpoint.G(z, c, truncation_psi=0.7, noise_mode="const"))
    assert load_checkpoint(out).augment["p"] == pytest.approx(0.25)


def test_convert_requires_class_names_for_a_conditional_pickle(tmp_path):
    pkl = tmp_path / "cond.pkl"
    nvlabs.write_network_pickle(pkl, nvlabs.generator_node(c_dim=3))
    with pytest.raises(CheckpointError, match="--class-names"):
        convert_network_pickle(pkl, tmp_path / "x.safetensors")
    with pytest.raises(CheckpointError, match="3 classes but 2"):
        convert_network_pickle(pkl, tmp_path / "x.safetensors", class_names=["a", "b"])
    assert not (tmp_path / "x.safetensors").exists()


def test_loading_something_else_is_a_clear_error(tmp_path):
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="not a safetensors checkpoint"):
        load_checkpoint(junk)
    with pytest.raises(FileNotFoundError):
        load_generator(tmp_path / "missing.safetensors")
