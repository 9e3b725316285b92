import pytest
import torch

from stylegan2_ada.project import project
from stylegan2_ada.tests.helpers import labels, tiny_generator

pytestmark = pytest.mark.nodb


def test_projection_moves_towards_the_target_and_uses_the_feature_function():
    G = tiny_generator(c_dim=2, resolution=16, seed=3)
    with torch.no_grad():
        target = G(torch.randn(1, 16, generator=torch.Generator().manual_seed(9)), labels(2, [1]),
                   noise_mode="const")
    calls = []

    def colour_features(images):
        calls.append(images.requires_grad)
        return images.mean(dim=[2, 3])

    result = project(G, target, class_index=1, steps=40, w_avg_samples=64, feature_fn=colour_features)
    assert result.ws.shape == (1, G.num_ws, 16)
    assert result.final_distance < 0.7 * result.initial_distance
    assert len(result.losses) == 40 and result.losses[-1] < result.losses[0]
    assert any(calls)  # called on synthesized images with gradients


def test_projection_rejects_a_target_of_the_wrong_size():
    G = tiny_generator(resolution=16)
    with pytest.raises(ValueError, match="target must have shape"):
        project(G, torch.zeros(1, 3, 32, 32), steps=1)
