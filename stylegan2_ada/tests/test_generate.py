import numpy as np
import pytest
import torch

from stylegan2_ada.generate import class_label, mix_styles, parse_seeds, seed_to_z, style_mix_grid, to_uint8
from stylegan2_ada.tests.helpers import tiny_generator

pytestmark = pytest.mark.nodb


def test_seed_lists_and_ranges():
    assert parse_seeds("0-3,7") == [0, 1, 2, 3, 7]
    with pytest.raises(ValueError, match="backwards"):
        parse_seeds("5-2")
    with pytest.raises(ValueError, match="not a seed"):
        parse_seeds("x")


def test_seed_draws_z_like_numpy_random_state():
    expected = np.random.RandomState(42).randn(1, 16).astype(np.float32)
    assert np.array_equal(seed_to_z(42, 16).numpy(), expected)


def test_eight_bit_conversion_rounds_like_the_study():
    images = torch.tensor([-1.0, -0.5, 0.0, 0.999, 1.0]).reshape(1, 1, 1, 5)
    assert to_uint8(images).ravel().tolist() == [0, 64, 128, 255, 255]


def test_class_labels_are_checked():
    G = tiny_generator(c_dim=3)
    assert class_label(G, 2).tolist() == [[0.0, 0.0, 1.0]]
    with pytest.raises(ValueError, match="unknown class index 3"):
        class_label(G, 3)
    with pytest.raises(ValueError, match="conditional"):
        class_label(G, None)
    with pytest.raises(ValueError, match="unconditional"):
        class_label(tiny_generator(), 0)


def test_style_mixing_layer_ranges():
    G = tiny_generator()
    rows = G.mapping(seed_to_z(0, 16), None)
    cols = G.mapping(seed_to_z(1, 16), None)
    mixed = mix_styles(rows, cols, range(2, 4))
    assert torch.equal(mixed[:, :2], rows[:, :2]) and torch.equal(mixed[:, 2:4], cols[:, 2:4])
    assert torch.equal(mixed[:, 4:], rows[:, 4:])
    with pytest.raises(ValueError, match="style layers must lie in 0..5"):
        mix_styles(rows, cols, [6])
    # all layers from the column seed reproduce the column image
    grid = style_mix_grid(G, [0], [1], range(G.num_ws))
    assert np.array_equal(grid[16:, 16:], grid[:16, 16:])
