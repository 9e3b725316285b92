"""The projected discriminator on the real frozen ImageNet EfficientNet-Lite0, growing a
generator to a higher resolution, and short training runs with either discriminator."""
import pytest
import torch

from stylegan2_ada.checkpoint import load_checkpoint, save_checkpoint
from stylegan2_ada.projected import ProjectedDiscriminator, diff_augment, load_feature_network
from stylegan2_ada.tests.helpers import labels, tiny_generator
from stylegan2_ada.tests.test_train import tiny_options, write_dataset
from stylegan2_ada.train import Trainer, TrainingOptions, grow_generator

pytestmark = pytest.mark.nodb

LITE0 = "inference.engines.backbones:efficientnet_lite0"


@pytest.fixture(scope="module")
def projected():
    torch.manual_seed(0)
    return ProjectedDiscriminator(c_dim=3, img_resolution=64, feature_network=LITE0)


def test_one_logit_per_scale_with_heads_down_to_four_pixels(projected):
    assert [shape[1:] for shape in projected.feature_shapes] == [(16, 16), (8, 8), (4, 4), (2, 2)]
    assert [m.shape[1] for m in projected.project(torch.zeros(2, 3, 64, 64))] == [64, 128, 256, 512]
    logits = projected(torch.rand(4, 3, 64, 64) * 2 - 1, labels(3, [0, 1, 2, 0]))
    assert logits.shape == (4, 4) and torch.isfinite(logits).all()
    with pytest.raises(ValueError, match="img must have shape"):
        projected(torch.zeros(2, 3, 32, 32), labels(3, [0, 1]))


def test_features_stay_frozen_while_gradients_reach_the_images(projected):
    frozen = {name: tensor.clone() for name, tensor in projected.feature_network.state_dict().items()}
    projected.train().requires_grad_(True)      # what the trainer does; must not unfreeze the features
    assert not any(p.requires_grad for p in projected.feature_network.parameters())
    assert not projected.feature_network.training
    assert not any(name.startswith("feature_network") for name in projected.state_dict())
    assert all(not name.startswith("feature_network") for name, _ in projected.named_parameters())

    images = (torch.rand(4, 3, 64, 64) * 2 - 1).requires_grad_(True)
    optimiser = torch.optim.Adam(projected.parameters(), lr=0.01)
    projected(images, labels(3, [0, 1, 2, 0])).mean().backward()
    optimiser.step()
    assert images.grad is not None and images.grad.abs().sum() > 0
    assert all(p.grad is None for p in projected.feature_network.parameters())
    assert all(torch.equal(frozen[name], tensor) for name, tensor in projected.feature_network.state_dict().items())
    # The random mixing is fixed too: buffers, not parameters.
    assert "ccm0" in dict(projected.named_buffers()) and "ccm0" not in dict(projected.named_parameters())


def test_the_mixing_is_random_per_seed_and_saved_with_the_checkpoint(tmp_path, projected):
    again = ProjectedDiscriminator(c_dim=3, img_resolution=64, feature_network=LITE0)
    other = ProjectedDiscriminator(c_dim=3, img_resolution=64, feature_network=LITE0, seed=1)
    assert torch.equal(again.ccm0, projected.ccm0) and not torch.equal(other.ccm0, projected.ccm0)
    G = tiny_generator(c_dim=3, resolution=64)
    path = save_checkpoint(tmp_path / "p.safetensors", G_ema=G, G=G, D=other, class_names=["a", "b", "c"])
    loaded = load_checkpoint(path).D
    assert isinstance(loaded, ProjectedDiscriminator) and torch.equal(loaded.ccm0, other.ccm0)
    images = torch.rand(2, 3, 64, 64) * 2 - 1
    other.eval(), loaded.eval()
    assert torch.allclose(other(images, labels(3, [0, 1])), loaded(images, labels(3, [0, 1])))


def test_diff_augment_is_differentiable_and_changes_every_image():
    torch.manual_seed(0)
    images = torch.zeros(8, 3, 32, 32).uniform_(-1, 1).requires_grad_(True)
    augmented = diff_augment(images)
    assert augmented.shape == images.shape
    assert all(not torch.equal(augmented[i], images[i]) for i in range(8))
    assert (augmented == 0).flatten(1).any(dim=1).all()        # a cutout (or translation fill) in each
    augmented.sum().backward()
    assert images.grad.abs().sum() > 0


def test_a_bad_feature_network_spec_is_a_clear_error():
    with pytest.raises(ValueError, match="module:factory"):
        load_feature_network("inference.engines.backbones")
    with pytest.raises(ValueError, match="no features"):
        load_feature_network("torch.nn:Identity")


def test_a_grown_generator_starts_as_the_old_one_upsampled():
    small = tiny_generator(c_dim=2, resolution=16, seed=3)
    big = tiny_generator(c_dim=2, resolution=32, seed=4)
    copied = grow_generator(big, small)
    assert "mapping.fc0.weight" in copied and "synthesis.b16.conv1.weight" in copied
    assert not any(name.startswith("synthesis.b32") for name in copied)
    z, c = torch.randn(3, small.z_dim), labels(2, [0, 1, 1])
    with torch.no_grad():
        old = small(z, c, noise_mode="const")
        new = big(z, c, noise_mode="const")
    # The toRGB of the new block is zero: the 32 px image is the 16 px one up-sampled (a 2x2
    # average of it gives the 16 px image back up to the FIR filter's blur).
    assert torch.nn.functional.avg_pool2d(new, 2).sub(old).abs().mean() < 0.1 * old.abs().mean()
    with pytest.raises(ValueError, match="higher resolution"):
        grow_generator(small, big)


@pytest.mark.parametrize("discriminator", ["projected", "stylegan2"])
def test_two_steps_of_training_grown_in_bf16_then_resume(tmp_path, discriminator):
    write_dataset(tmp_path / "data", size=32)
    small = Trainer(tiny_options(tmp_path, outdir=str(tmp_path / "small"), resolution=16, kimg=0.008)).run()
    options = tiny_options(tmp_path, resolution=32, kimg=0.008, discriminator=discriminator, bf16=True,
                           grow_from=str(small.checkpoint), snapshot_kimg=1.0)
    trainer = Trainer(options)
    before = {k: v.clone() for k, v in trainer.G.state_dict().items()}
    features_before = None
    if discriminator == "projected":
        features_before = {k: v.clone() for k, v in trainer.D.feature_network.state_dict().items()}
    result = trainer.run()
    assert result.kimg == pytest.approx(0.008) and all(map(torch.isfinite, torch.tensor(list(result.losses.values()))))
    assert any(not torch.equal(before[k], v) for k, v in trainer.G.state_dict().items() if "weight" in k)
    if features_before is not None:
        assert all(torch.equal(features_before[k], v) for k, v in trainer.D.feature_network.state_dict().items())

    resumed = Trainer(tiny_options(tmp_path, resolution=32, kimg=0.004, discriminator=discriminator,
                                   resume=str(result.checkpoint), outdir=str(tmp_path / "resumed")))
    assert type(resumed.D) is type(trainer.D)
    assert resumed.run().kimg == pytest.approx(0.012)
    other = "stylegan2" if discriminator == "projected" else "projected"
    with pytest.raises(ValueError, match="another discriminator"):
        Trainer(tiny_options(tmp_path, resolution=32, discriminator=other, resume=str(result.checkpoint)))


def test_the_wall_time_limit_stops_with_a_snapshot(tmp_path):
    write_dataset(tmp_path / "data")
    result = Trainer(tiny_options(tmp_path, kimg=100.0, minutes=0.002)).run()
    assert 0 < result.kimg < 1 and result.checkpoint.is_file()


def test_unknown_discriminator_is_refused():
    with pytest.raises(ValueError, match="discriminator must be one of"):
        TrainingOptions(data="x", outdir="y", discriminator="patchgan")


def test_ada_runs_in_float32_inside_a_bf16_autocast_region():
    from stylegan2_ada.augment import AugmentPipe

    pipe = AugmentPipe()
    pipe.p.fill_(1.0)
    images = torch.rand(4, 3, 16, 16) * 2 - 1
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = pipe(images.to(torch.bfloat16))
    assert out.dtype == torch.float32 and out.shape == images.shape and torch.isfinite(out).all()
