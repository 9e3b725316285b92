import pytest
import torch

from stylegan2_ada.augment import AdaController, AugmentPipe

pytestmark = pytest.mark.nodb


def smooth_images(n=8, size=16):
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    base = torch.stack([xs, ys, xs * ys])
    return base[None].repeat(n, 1, 1, 1) * torch.linspace(0.3, 1.0, n)[:, None, None, None]


def test_p_zero_is_the_identity():
    images = smooth_images()
    assert torch.equal(AugmentPipe()(images), images)


def test_full_probability_changes_images_and_keeps_shape():
    pipe = AugmentPipe()
    pipe.p.fill_(1.0)
    images = smooth_images()
    out = pipe(images)
    assert out.shape == images.shape
    assert (out - images).abs().mean() > 0.05


@pytest.mark.parametrize("name", ["xflip", "rotate90", "xint", "scale", "rotate", "aniso", "brightness",
                                  "contrast", "hue", "saturation"])
def test_each_augmentation_alone_does_something(name):
    torch.manual_seed(0)
    strengths = {key: 0.0 for key in AugmentPipe().strengths}
    strengths[name] = 1.0
    pipe = AugmentPipe(**strengths)
    pipe.p.fill_(1.0)
    images = smooth_images(n=16)
    assert not torch.allclose(pipe(images), images, atol=1e-4)


def test_flips_and_quarter_turns_are_exact_pixel_permutations():
    torch.manual_seed(1)
    pipe = AugmentPipe(**{key: 0.0 for key in AugmentPipe().strengths} | {"xflip": 1.0, "rotate90": 1.0})
    pipe.p.fill_(1.0)
    images = torch.randn(16, 3, 8, 8)
    out = pipe(images)
    for image, result in zip(images, out):
        candidates = [torch.rot90(variant, k, dims=(1, 2)) for variant in (image, image.flip(2)) for k in range(4)]
        assert any(torch.allclose(result, candidate, atol=1e-5) for candidate in candidates)


def test_augmentation_is_differentiable_to_second_order():
    pipe = AugmentPipe()
    pipe.p.fill_(0.8)
    images = smooth_images().requires_grad_(True)
    (gradient,) = torch.autograd.grad(pipe(images).square().sum(), images, create_graph=True)
    gradient.square().sum().backward()
    assert images.grad is not None and torch.isfinite(images.grad).all()


def test_controller_raises_p_when_d_overfits_and_lowers_it_otherwise():
    pipe = AugmentPipe()
    controller = AdaController(pipe, target=0.6, interval=2, speed_kimg=0.1)
    updates = [controller.accumulate(torch.ones(16, 1)) for _ in range(4)]
    assert updates[0] is None and updates[1].rt == 1.0
    raised = float(pipe.p)
    assert raised > 0
    for _ in range(2):
        update = controller.accumulate(-torch.ones(16, 1))
    assert update.p < raised
