"""A projected discriminator (Sauer et al., "Projected GANs Converge Faster", NeurIPS 2021).

Real and generated images go through a *frozen pretrained feature network* (a constructor
argument: ``"module:factory"``, e.g. ``inference.engines.backbones:efficientnet_lite0``); four of
its maps are mixed by fixed random 1x1 convolutions across channels (CCM) and, top-down, across
scales (CSM), and one small trained head per scale scores them. The paper's other parts are
here too: DiffAugment (colour, translation, cutout) on every image the discriminator sees,
spectral norm and BatchNorm in the heads, hinge loss (``train``), conditional heads by projection
onto a class embedding.

The feature network sits outside the module tree on purpose: its weights are never trained,
never saved in a checkpoint, and ``requires_grad_``/``train()`` on the discriminator cannot reach
them; gradients still flow through it to the images. The random mixing weights are buffers, so
they are saved and a resumed run sees the same projection.
"""

from __future__ import annotations

import importlib
import math

import torch
import torch.nn.functional as F
from torch.nn.utils.parametrizations import spectral_norm

DEFAULT_FEATURE_NETWORK = "inference.engines.backbones:efficientnet_lite0"
MIXED_CHANNELS = (64, 128, 256, 512)    # CCM outputs per scale, finest first (the paper's 64 × 2^i)


def load_feature_network(spec: str) -> torch.nn.Module:
    """``"package.module:factory"`` → the factory's network, frozen and in eval mode. It must
    have ``features(images)`` taking RGB in 0..1 and returning maps, finest first."""
    module_name, _, factory_name = spec.partition(":")
    if not module_name or not factory_name:
        raise ValueError(f"feature network must be 'module:factory', got {spec!r}")
    network = getattr(importlib.import_module(module_name), factory_name)()
    if not callable(getattr(network, "features", None)):
        raise ValueError(f"{spec} has no features(images) method")
    return network.eval().requires_grad_(False)


def diff_augment(images: torch.Tensor, translation: float = 0.125, cutout: float = 0.5) -> torch.Tensor:
    """DiffAugment (Zhao et al. 2020) on images in [-1, 1]: random brightness, saturation and
    contrast, a translation up to ``translation`` of the size (zero fill) and one cutout square of
    ``cutout`` of the size, each drawn per image. Differentiable, so G learns through it."""
    n, _, height, width = images.shape
    device, dtype = images.device, images.dtype
    x = images + (torch.rand(n, 1, 1, 1, device=device, dtype=dtype) - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (torch.rand(n, 1, 1, 1, device=device, dtype=dtype) * 2) + mean
    mean = x.mean(dim=[1, 2, 3], keepdim=True)
    x = (x - mean) * (torch.rand(n, 1, 1, 1, device=device, dtype=dtype) + 0.5) + mean

    # Translation: shift by whole pixels with zero fill, as a gather on a padded image.
    shift_y, shift_x = int(height * translation + 0.5), int(width * translation + 0.5)
    dy = torch.randint(-shift_y, shift_y + 1, (n, 1, 1), device=device)
    dx = torch.randint(-shift_x, shift_x + 1, (n, 1, 1), device=device)
    rows = (torch.arange(height, device=device).view(1, -1, 1) + dy + 1).clamp(0, height + 1)
    cols = (torch.arange(width, device=device).view(1, 1, -1) + dx + 1).clamp(0, width + 1)
    padded = F.pad(x, [1, 1, 1, 1])
    batch = torch.arange(n, device=device).view(-1, 1, 1)
    x = padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)

    # Cutout: one square per image set to zero (its centre anywhere, so it may hang off the edge).
    size_y, size_x = int(height * cutout + 0.5), int(width * cutout + 0.5)
    top = torch.randint(0, height, (n, 1, 1), device=device) - size_y // 2
    left = torch.randint(0, width, (n, 1, 1), device=device) - size_x // 2
    ys = torch.arange(height, device=device).view(1, -1, 1)
    xs = torch.arange(width, device=device).view(1, 1, -1)
    inside = (ys >= top) & (ys < top + size_y) & (xs >= left) & (xs < left + size_x)
    return x * (~inside).unsqueeze(1).to(dtype)


def _random_conv(channels_in: int, channels_out: int) -> torch.Tensor:
    # Kaiming-uniform as a trained 1x1 conv would start; fixed for the whole run.
    weight = torch.empty(channels_out, channels_in, 1, 1)
    torch.nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
    return weight


class _HeadBlock(torch.nn.Module):
    """4x4 stride-2 conv (spectral norm), BatchNorm, LeakyReLU 0.2: halves the map."""

    def __init__(self, channels_in: int, channels_out: int):
        super().__init__()
        self.conv = spectral_norm(torch.nn.Conv2d(channels_in, channels_out, 4, 2, 1, bias=False))
        self.norm = torch.nn.BatchNorm2d(channels_out)

    def forward(self, x):
        return F.leaky_relu(self.norm(self.conv(x)), 0.2)


class _ScaleHead(torch.nn.Module):
    """One scale's discriminator: halve down to 4x4, then a 4x4 conv to ``cmap_dim`` features
    scored against the embedded class (or to one logit when unconditional)."""

    def __init__(self, channels_in: int, resolution: int, width: int, cmap_dim: int, c_dim: int):
        super().__init__()
        blocks, channels = [], channels_in
        while resolution > 4:
            blocks.append(_HeadBlock(channels, width))
            channels, resolution = width, resolution // 2
        self.blocks = torch.nn.Sequential(*blocks)
        self.cmap_dim = cmap_dim if c_dim else 0
        self.out = spectral_norm(torch.nn.Conv2d(channels, self.cmap_dim or 1, resolution, 1, 0))
        if c_dim:
            self.embed = spectral_norm(torch.nn.Linear(c_dim, cmap_dim, bias=False))

    def forward(self, x, c):
        x = self.out(self.blocks(x)).flatten(1)
        if self.cmap_dim:
            x = (x * self.embed(c)).sum(dim=1, keepdim=True) / math.sqrt(self.cmap_dim)
        return x


class ProjectedDiscriminator(torch.nn.Module):
    def __init__(
        self,
        c_dim,                                      # class label width, 0 = unconditional
        img_resolution,                             # input resolution (power of two)
        img_channels=3,                             # image channels (RGB only)
        feature_network=DEFAULT_FEATURE_NETWORK,    # "module:factory" of the frozen feature network
        feature_resolution=None,                    # the feature network's input size, None = img_resolution
        mixed_channels=MIXED_CHANNELS,              # CCM outputs per scale, finest first
        head_width=64,                              # channels inside each scale's head
        cmap_dim=64,                                # class embedding width of the heads
        diffaugment=True,                           # DiffAugment on every image
        seed=0,                                     # the random mixing weights' seed
    ):
        super().__init__()
        if img_channels != 3:
            raise ValueError("the projected discriminator reads RGB images")
        self.init_kwargs = dict(c_dim=c_dim, img_resolution=img_resolution, img_channels=img_channels,
                                feature_network=feature_network, feature_resolution=feature_resolution,
                                mixed_channels=list(mixed_channels), head_width=head_width, cmap_dim=cmap_dim,
                                diffaugment=diffaugment, seed=seed)
        self.c_dim = c_dim
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        self.feature_resolution = feature_resolution or img_resolution
        self.diffaugment = diffaugment
        object.__setattr__(self, "feature_network", load_feature_network(feature_network))
        with torch.no_grad():
            probe = self.feature_network.features(torch.zeros(1, 3, self.feature_resolution, self.feature_resolution))
        if len(probe) != len(mixed_channels):
            raise ValueError(f"the feature network gives {len(probe)} maps, mixed_channels has {len(mixed_channels)}")
        self.feature_shapes = [tuple(m.shape[1:]) for m in probe]
        generator = torch.Generator().manual_seed(seed)
        with torch.random.fork_rng():
            torch.manual_seed(int(torch.randint(0, 2 ** 31, (1,), generator=generator)))
            for index, ((channels, _, _), mixed) in enumerate(zip(self.feature_shapes, mixed_channels)):
                self.register_buffer(f"ccm{index}", _random_conv(channels, mixed))
                if index + 1 < len(mixed_channels):
                    self.register_buffer(f"csm{index}", _random_conv(mixed_channels[index + 1], mixed))
        self.heads = torch.nn.ModuleList(
            _ScaleHead(mixed, shape[1], head_width, cmap_dim, c_dim)
            for mixed, shape in zip(mixed_channels, self.feature_shapes))

    def _apply(self, fn, *args, **kwargs):
        # .to(device) / .float() reach the frozen feature network too, though it is no submodule.
        super()._apply(fn, *args, **kwargs)
        self.feature_network._apply(fn, *args, **kwargs)
        return self

    def project(self, img: torch.Tensor) -> list[torch.Tensor]:
        """Images in [-1, 1] → the mixed maps, finest first."""
        pixels = (img + 1) / 2
        if pixels.shape[-1] != self.feature_resolution:
            pixels = F.interpolate(pixels, size=(self.feature_resolution,) * 2, mode="bilinear", align_corners=False)
        maps = [F.conv2d(m, getattr(self, f"ccm{i}")) for i, m in enumerate(self.feature_network.features(pixels))]
        for index in range(len(maps) - 2, -1, -1):     # coarse to fine: add the coarser mixed map
            coarser = F.interpolate(maps[index + 1], size=maps[index].shape[-2:], mode="bilinear", align_corners=False)
            maps[index] = maps[index] + F.conv2d(coarser, getattr(self, f"csm{index}"))
        return maps

    def forward(self, img, c, force_fp32=False):
        if img.ndim != 4 or img.shape[1:] != (self.img_channels, self.img_resolution, self.img_resolution):
            raise ValueError(f"img must have shape [batch, {self.img_channels}, {self.img_resolution}, "
                             f"{self.img_resolution}], got {tuple(img.shape)}")
        if self.diffaugment and self.training:
            img = diff_augment(img)
        logits = [head(m, c) for head, m in zip(self.heads, self.project(img))]
        return torch.cat(logits, dim=1)     # [batch, scales]: one logit per scale
