import pytest
import torch

from stylegan2_ada.networks import Discriminator, Generator
from stylegan2_ada.tests.helpers import labels, tiny_discriminator, tiny_generator

pytestmark = pytest.mark.nodb


def test_generator_and_discriminator_shapes():
    G = tiny_generator(c_dim=3, resolution=32)
    D = tiny_discriminator(c_dim=3, resolution=32)
    img = G(torch.randn(4, 16), labels(3, [0, 1, 2, 0]), noise_mode="const")
    assert img.shape == (4, 3, 32, 32)
    assert G.num_ws == 2 * 4  # one conv at 4x4, two per later block, and the last toRGB
    assert D(img, labels(3, [0, 1, 2, 0])).shape == (4, 1)


def test_parameter_names_follow_the_nvlabs_layout():
    G = tiny_generator(c_dim=3)
    D = tiny_discriminator(c_dim=3)
    g_names = set(G.state_dict())
    for name in ["mapping.fc0.weight", "mapping.embed.weight", "mapping.w_avg", "synthesis.b4.const",
                 "synthesis.b4.conv1.affine.weight", "synthesis.b8.conv0.weight",
                 "synthesis.b8.conv0.noise_const", "synthesis.b8.conv0.noise_strength",
                 "synthesis.b16.torgb.weight", "synthesis.b16.resample_filter"]:
        assert name in g_names
    d_names = set(D.state_dict())
    for name in ["b16.fromrgb.weight", "b16.skip.weight", "b8.conv1.weight", "b4.conv.weight", "b4.fc.weight",
                 "b4.out.weight", "mapping.embed.weight"]:
        assert name in d_names
    assert tuple(G.state_dict()["synthesis.b4.const"].shape) == (32, 4, 4)


def test_same_seed_gives_the_same_image_with_const_noise():
    G = tiny_generator()
    z = torch.randn(2, 16, generator=torch.Generator().manual_seed(3))
    assert torch.equal(G(z, None, noise_mode="const"), G(z, None, noise_mode="const"))
    for module in G.modules():
        if hasattr(module, "noise_strength"):
            module.noise_strength.data.fill_(0.5)
    random_a = G(z, None, noise_mode="random")
    random_b = G(z, None, noise_mode="random")
    assert not torch.equal(random_a, random_b)


def test_fused_and_unfused_modulation_agree():
    G = tiny_generator()
    z = torch.randn(3, 16)
    fused = G(z, None, noise_mode="const", fused_modconv=True)
    unfused = G(z, None, noise_mode="const", fused_modconv=False)
    assert (fused - unfused).abs().max() < 1e-4


def test_truncation_with_psi_zero_gives_the_w_avg_image():
    G = tiny_generator(c_dim=2)
    G.mapping.w_avg.copy_(torch.randn(16))
    images = G(torch.randn(3, 16), labels(2, [0, 1, 1]), truncation_psi=0.0, noise_mode="const")
    ws_avg = G.mapping.w_avg.reshape(1, 1, -1).repeat(1, G.num_ws, 1)
    expected = G.synthesis(ws_avg, noise_mode="const")
    assert torch.allclose(images, expected.expand_as(images), atol=1e-5)


def test_truncation_cutoff_only_touches_the_first_layers():
    G = tiny_generator()
    G.mapping.w_avg.copy_(torch.randn(16))
    z = torch.randn(1, 16)
    ws = G.mapping(z, None)
    cut = G.mapping(z, None, truncation_psi=0.0, truncation_cutoff=2)
    assert torch.allclose(cut[:, :2], G.mapping.w_avg.expand(1, 2, 16))
    assert torch.equal(cut[:, 2:], ws[:, 2:])


def test_w_avg_is_tracked_in_training_mode_only():
    G = tiny_generator()
    G.mapping(torch.randn(4, 16), None)
    assert torch.count_nonzero(G.mapping.w_avg) == 0
    G.train()
    G.mapping(torch.randn(4, 16), None)
    assert torch.count_nonzero(G.mapping.w_avg) > 0


def test_noise_mode_none_differs_from_const_when_noise_is_strong():
    G = tiny_generator()
    for module in G.modules():
        if hasattr(module, "noise_strength"):
            module.noise_strength.data.fill_(1.0)
    z = torch.randn(1, 16)
    assert not torch.allclose(G(z, None, noise_mode="none"), G(z, None, noise_mode="const"))
    with pytest.raises(ValueError, match="noise_mode"):
        G(z, None, noise_mode="loud")


def test_conv_clamp_bounds_the_output():
    G = tiny_generator(conv_clamp=0.05)
    img = G(torch.randn(2, 16), None, noise_mode="const")
    # the last toRGB is clamped and every earlier contribution too; after FIR up-sampling
    # (gain 4 spread over taps summing to 1) the bound per block stays 0.05
    assert img.abs().max() <= 0.05 * 4 + 1e-6


def test_bad_inputs_are_rejected_with_clear_errors():
    G = tiny_generator(c_dim=2)
    with pytest.raises(ValueError, match="z must have shape"):
        G(torch.randn(1, 15), labels(2, [0]))
    with pytest.raises(ValueError, match="c must have shape"):
        G(torch.randn(1, 16), torch.zeros(1, 3))
    with pytest.raises(ValueError, match="power of two"):
        Generator(z_dim=8, c_dim=0, w_dim=8, img_resolution=24, img_channels=3)
    with pytest.raises(ValueError, match="power of two"):
        Discriminator(c_dim=0, img_resolution=48, img_channels=3)


def test_fp16_blocks_run_in_fp32_on_cpu():
    G = tiny_generator(num_fp16_res=2)
    assert G.synthesis.b16.use_fp16 and G.synthesis.b8.use_fp16 and not G.synthesis.b4.use_fp16
    img = G(torch.randn(1, 16), None, noise_mode="const")
    assert img.dtype == torch.float32 and torch.isfinite(img).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="float16 blocks run only on a CUDA device")
def test_fp16_blocks_on_gpu_stay_close_to_fp32():
    G = tiny_generator(num_fp16_res=2, conv_clamp=256).cuda()
    z = torch.randn(2, 16, device="cuda")
    half = G(z, None, noise_mode="const")
    full = G(z, None, noise_mode="const", force_fp32=True)
    assert (half - full).abs().max() < 0.05


def test_style_mixing_takes_each_layer_from_the_chosen_latent():
    G = tiny_generator()
    ws_a = G.mapping(torch.randn(1, 16), None)
    ws_b = G.mapping(torch.randn(1, 16), None)
    mixed = ws_a.clone()
    mixed[:, 4:] = ws_b[:, 4:]
    img_a = G.synthesis(ws_a, noise_mode="const")
    img_mixed = G.synthesis(mixed, noise_mode="const")
    assert not torch.allclose(img_a, img_mixed)
    with pytest.raises(ValueError, match="ws must have shape"):
        G.synthesis(ws_a[:, :3], noise_mode="const")


def test_discriminator_gradients_flow_to_the_image():
    D = tiny_discriminator()
    img = torch.randn(4, 3, 16, 16, requires_grad=True)
    D(img, None).sum().backward()
    assert img.grad.abs().sum() > 0
