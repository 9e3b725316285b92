import pytest
import torch

from stylegan2_ada.tests.helpers import tiny_generator

pytestmark = pytest.mark.nodb


def seam_to_interior_ratio(images: torch.Tensor) -> float:
    """Mean jump across the repeat's seams over the mean jump between interior neighbours."""
    size = images.shape[-1]
    repeat = images.repeat(1, 1, 3, 3)
    column_jumps = (repeat[..., :, 1:] - repeat[..., :, :-1]).abs()
    row_jumps = (repeat[..., 1:, :] - repeat[..., :-1, :]).abs()
    seams = [size - 1, 2 * size - 1]
    is_seam = torch.zeros(3 * size - 1, dtype=torch.bool)
    is_seam[seams] = True
    seam = torch.cat([column_jumps[..., :, is_seam].flatten(), row_jumps[..., is_seam, :].flatten()]).mean()
    interior = torch.cat([column_jumps[..., :, ~is_seam].flatten(), row_jumps[..., ~is_seam, :].flatten()]).mean()
    return float(seam / interior)


def test_tiled_synthesis_repeats_without_a_visible_seam():
    G = tiny_generator(resolution=32, seed=5)
    z = torch.randn(8, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        tiled = G(z, None, noise_mode="none", tile=True)
        plain = G(z, None, noise_mode="none")
    tiled_ratio = seam_to_interior_ratio(tiled)
    plain_ratio = seam_to_interior_ratio(plain)
    print(f"seam/interior jump ratio: tiled {tiled_ratio:.2f}, plain {plain_ratio:.2f}")
    assert tiled_ratio < 1.3
    assert plain_ratio > 1.5 * tiled_ratio


def test_tiled_image_is_exactly_periodic_under_a_circular_shift_of_its_content():
    # Wrapping every op makes synthesis commute with circular shifts of the 4x4 constant
    # (one constant pixel = resolution/4 output pixels), which a padded network cannot do.
    G = tiny_generator(resolution=16, seed=2)
    z = torch.randn(1, 16)
    image = G(z, None, noise_mode="none", tile=True)
    with torch.no_grad():
        G.synthesis.b4.const.copy_(torch.roll(G.synthesis.b4.const, shifts=1, dims=2))
    shifted = G(z, None, noise_mode="none", tile=True)
    assert torch.allclose(torch.roll(image, shifts=4, dims=3), shifted, atol=1e-5)
