"""The neutral ImageNet feature space: plain features for judging generators, differentiable
ones for the projection's perceptual loss."""
import numpy as np
import pytest
import torch

from inference.engines.neutral import NeutralFeatures
from motifs.demo_art import render_motif

pytestmark = [pytest.mark.nodb, pytest.mark.usefixtures("one_torch_thread")]


@pytest.fixture(scope="module")
def neutral():
    return NeutralFeatures()


def test_features_are_1280_d_rows_that_tell_motifs_apart(neutral):
    images = [render_motif("merak", 1, 64), render_motif("merak", 2, 64), render_motif("pucuk-rebung", 1, 64)]
    rows = neutral.features(images)
    assert rows.shape == (3, 1280) and rows.dtype == np.float64 and np.isfinite(rows).all()
    unit = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    assert unit[0] @ unit[1] > unit[0] @ unit[2]  # two peacocks are closer than a peacock and bamboo shoots
    assert neutral.features([]).shape == (0, 1280)


def test_the_perceptual_features_pass_gradients_to_the_image_and_never_train_the_network(neutral):
    image = (torch.rand(1, 3, 64, 64) * 2 - 1).requires_grad_(True)
    features = neutral.perceptual(image)
    assert features.shape[0] == 1 and features.norm().item() == pytest.approx(2 ** 0.5, rel=1e-4)
    features.sum().backward()
    assert image.grad is not None and image.grad.abs().sum() > 0
    assert all(parameter.grad is None and not parameter.requires_grad for parameter in neutral.network.parameters())
