"""The demo generator shipped in weights/ loads from our checkpoint format and draws images
of each motif class deterministically (plain torch, no Django)."""
from pathlib import Path

import numpy as np
import pytest
import torch

from stylegan2_ada.checkpoint import load_checkpoint

pytestmark = pytest.mark.nodb
WEIGHTS = Path(__file__).resolve().parents[2] / "weights" / "generator-demo-64.safetensors"
SLUGS = ("bebek-kembang-sumping", "bebek-setaman", "burung-hong", "kembang-kenanga", "kembang-rukem", "kembang-setaman",
         "kembang-setangkai", "kepiting", "kucing-tidur", "kuda-laut", "merak", "naga-betarung", "pucuk-rebung", "ubur-ubur")


@pytest.fixture(scope="module")
def checkpoint():
    assert WEIGHTS.exists(), "the demo generator is part of the repository"
    return load_checkpoint(WEIGHTS, networks=("G_ema",))


def synthesize(G, seed, class_index, **kwargs):
    z = torch.from_numpy(np.random.RandomState(seed).randn(1, G.z_dim)).float()
    c = torch.nn.functional.one_hot(torch.tensor([class_index]), G.c_dim).float()
    with torch.no_grad():
        return G(z, c, truncation_psi=0.7, noise_mode="const", **kwargs)


def test_shipped_generator_is_class_conditional_over_the_fourteen_motifs(checkpoint):
    assert checkpoint.class_names == SLUGS
    G = checkpoint.G_ema
    assert (G.img_resolution, G.img_channels, G.c_dim) == (64, 3, 14) and checkpoint.kimg >= 20


def test_same_seed_and_class_give_the_same_image_and_classes_differ(checkpoint):
    G = checkpoint.G_ema
    a, b = synthesize(G, 7, 10), synthesize(G, 7, 10)
    assert a.shape == (1, 3, 64, 64) and torch.equal(a, b)
    assert (synthesize(G, 7, 12) - a).abs().mean() > 0.02
    # Like NVlabs, the generator does not clamp; the 8-bit conversion does.
    assert torch.isfinite(a).all() and a.abs().max() < 4


def test_shipped_generator_tiles_seamlessly(checkpoint):
    image = synthesize(checkpoint.G_ema, 3, 3, tile=True)[0]
    seam = (image[:, :, 0] - image[:, :, -1]).abs().mean()
    interior = (image[:, :, 1:] - image[:, :, :-1]).abs().mean()
    assert seam < 2.0 * interior
