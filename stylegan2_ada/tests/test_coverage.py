"""Training by nearest latents (IMLE): the cheap layout preview, the search, the reconstruction
loss on the real frozen EfficientNet-Lite0, and short training runs that grow and resume."""
import pytest
import torch

from stylegan2_ada.coverage import NearestLatents, ReconstructionLoss
from stylegan2_ada.tests.helpers import labels, tiny_generator
from stylegan2_ada.tests.test_train import tiny_options, write_dataset
from stylegan2_ada.train import Trainer, TrainingOptions

pytestmark = pytest.mark.nodb

LITE0 = "inference.engines.backbones:efficientnet_lite0"


def test_the_preview_is_the_image_of_the_lower_blocks():
    G = tiny_generator(c_dim=2, resolution=32)
    z, c = torch.randn(3, G.z_dim), labels(2, [0, 1, 1])
    with torch.no_grad():
        preview = G(z, c, noise_mode="const", stop_at=8)
        full = G(z, c, noise_mode="const")
        same = G(z, c, noise_mode="const", stop_at=32)
    assert preview.shape == (3, 3, 8, 8) and torch.equal(full, same)
    # With the upper blocks drawing nothing of their own, the full image is the preview up-sampled.
    for res in (16, 32):
        torch.nn.init.zeros_(getattr(G.synthesis, f"b{res}").torgb.weight)
        torch.nn.init.zeros_(getattr(G.synthesis, f"b{res}").torgb.bias)
    with torch.no_grad():
        preview = G(z, c, noise_mode="const", stop_at=8)
        full = G(z, c, noise_mode="const")
    up = G.synthesis.b16.resample_filter
    from stylegan2_ada.networks import upsample2d
    assert torch.allclose(upsample2d(upsample2d(preview, up), up), full, atol=1e-5)
    with pytest.raises(ValueError, match="cannot stop at 12 px"):
        G(z, c, stop_at=12)


def test_the_search_keeps_the_nearest_latent_and_never_gets_worse():
    G = tiny_generator(c_dim=2, resolution=16)
    with torch.no_grad():
        wanted_z = torch.randn(4, G.z_dim)
        c = labels(2, [0, 0, 1, 1])
        targets = ((G(wanted_z, c, noise_mode="const") + 1) * 127.5).clamp(0, 255).to(torch.uint8)
    nearest = NearestLatents(4, G.z_dim, seed=0)
    first = nearest.search(G, targets, c, candidates=4, resolution=8)
    distances = nearest.distance.clone()
    second = nearest.search(G, targets, c, candidates=4, resolution=8)
    assert second <= first and (nearest.distance <= distances + 1e-6).all()
    # An image the generator drew itself is found again once its own latent is among the candidates.
    nearest.z[0] = wanted_z[0]
    nearest.search(G, targets, c, candidates=1, resolution=16)
    assert torch.equal(nearest.z[0], wanted_z[0])
    # (The tiny generator draws beyond [-1, 1]; only the clipped pixels differ from the target.)
    with torch.no_grad():
        clipped = G(wanted_z[:1], c[:1], noise_mode="const").clamp(-1, 1)
    assert nearest.distance[0] == pytest.approx(float((clipped - (targets[:1] / 127.5 - 1)).square().mean()), abs=1e-4)


def test_the_reconstruction_loss_trains_nothing_of_the_feature_network():
    loss_of = ReconstructionLoss(LITE0)
    network = loss_of._features[0]
    assert not any(p.requires_grad for p in network.parameters())
    assert not list(loss_of.parameters()) and not loss_of.state_dict()
    images = torch.rand(2, 3, 64, 64, requires_grad=True)
    targets = torch.rand(2, 3, 64, 64) * 2 - 1
    loss = loss_of(images * 2 - 1, targets)
    assert loss.shape == (2,) and (loss > 0).all()
    loss.sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0
    assert all(p.grad is None for p in network.parameters())
    assert float(loss_of(targets, targets).max()) < 1e-6


def test_two_steps_of_imle_grown_then_resumed(tmp_path):
    write_dataset(tmp_path / "data", size=32)
    small = Trainer(tiny_options(tmp_path, outdir=str(tmp_path / "small"), resolution=16, kimg=0.008)).run()
    options = tiny_options(tmp_path, resolution=32, kimg=0.008, objective="imle", imle_candidates=3,
                           imle_search_resolution=8, grow_from=str(small.checkpoint), snapshot_kimg=1.0,
                           feature_network=LITE0)
    trainer = Trainer(options)
    assert trainer.D is None
    before = {k: v.clone() for k, v in trainer.G.state_dict().items()}
    result = trainer.run()
    assert result.kimg == pytest.approx(0.008) and torch.isfinite(torch.tensor(result.losses["loss_G"]))
    assert trainer.nearest.searches == 1 and torch.isfinite(trainer.nearest.distance).all()
    assert any(not torch.equal(before[k], v) for k, v in trainer.G.state_dict().items() if "weight" in k)

    resumed = Trainer(tiny_options(tmp_path, resolution=32, kimg=0.004, objective="imle", imle_candidates=2,
                                   imle_search_resolution=8, perceptual_weight=0.0, resume=str(result.checkpoint),
                                   outdir=str(tmp_path / "resumed")))
    assert resumed.run().kimg == pytest.approx(0.012) and resumed.nearest.searches == 1
    # A GAN cannot resume from an IMLE run: it has no discriminator to continue.
    with pytest.raises(ValueError, match="no G and D"):
        Trainer(tiny_options(tmp_path, resolution=32, resume=str(result.checkpoint)))


def test_bad_imle_options_are_refused():
    with pytest.raises(ValueError, match="objective must be one of"):
        TrainingOptions(data="x", outdir="y", objective="vae")
    with pytest.raises(ValueError, match="at least one candidate"):
        TrainingOptions(data="x", outdir="y", objective="imle", imle_candidates=0)
