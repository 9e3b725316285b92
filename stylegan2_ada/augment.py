"""Adaptive discriminator augmentation (ADA, Karras et al. 2020) in plain PyTorch.

Every augmentation is applied to each image independently with probability ``p``;
geometric ones are combined into one affine matrix and applied with a single
differentiable resampling (reflection padding, so no black borders leak the
augmentation to the discriminator), colour ones into one 4x4 matrix on RGB.
``AdaController`` moves ``p`` so that the fraction of real images the discriminator
scores positive, E[sign(D(real))], approaches the target (0.6 in the paper).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

LUMA_AXIS = torch.tensor([1.0, 1.0, 1.0, 0.0]) / math.sqrt(3)


def _translate(tx, ty):
    m = _eye3(tx)
    m[:, 0, 2], m[:, 1, 2] = tx, ty
    return m


def _scale(sx, sy):
    m = _eye3(sx)
    m[:, 0, 0], m[:, 1, 1] = sx, sy
    return m


def _rotate(angle):
    m = _eye3(angle)
    m[:, 0, 0], m[:, 0, 1] = torch.cos(angle), -torch.sin(angle)
    m[:, 1, 0], m[:, 1, 1] = torch.sin(angle), torch.cos(angle)
    return m


def _eye3(like):
    return torch.eye(3, device=like.device).repeat(like.shape[0], 1, 1)


def _eye4(n, device):
    return torch.eye(4, device=device).repeat(n, 1, 1)


def _gate(values, p, identity):
    """Keep each sample's random value with probability p, else the identity value."""
    keep = torch.rand(values.shape, device=values.device) < p
    return torch.where(keep, values, torch.full_like(values, identity))


class AugmentPipe(torch.nn.Module):
    def __init__(
        self,
        xflip=1.0,              # probability multiplier of horizontal flips
        rotate90=1.0,           # ... of 90-degree rotations
        xint=1.0,               # ... of integer translation
        scale=1.0,              # ... of isotropic scaling
        rotate=1.0,             # ... of arbitrary rotation
        aniso=1.0,              # ... of anisotropic scaling
        brightness=1.0,         # ... of brightness shifts
        contrast=1.0,           # ... of contrast scaling
        hue=1.0,                # ... of hue rotation
        saturation=1.0,         # ... of saturation scaling
        xint_max=0.125,         # largest integer translation, as a fraction of the size
        scale_std=0.2,          # log2 standard deviation of the scalings
        rotate_max=1.0,         # largest rotation, as a fraction of pi
        brightness_std=0.2,     # standard deviation of the brightness shift
        contrast_std=0.5,       # log2 standard deviation of the contrast scaling
        hue_max=1.0,            # largest hue rotation, as a fraction of pi
        saturation_std=1.0,     # log2 standard deviation of the saturation scaling
    ):
        super().__init__()
        self.strengths = dict(xflip=xflip, rotate90=rotate90, xint=xint, scale=scale, rotate=rotate, aniso=aniso,
                              brightness=brightness, contrast=contrast, hue=hue, saturation=saturation)
        self.xint_max = xint_max
        self.scale_std = scale_std
        self.rotate_max = rotate_max
        self.brightness_std = brightness_std
        self.contrast_std = contrast_std
        self.hue_max = hue_max
        self.saturation_std = saturation_std
        self.register_buffer("p", torch.zeros([]))

    def _geometry(self, n, device, p):
        """Inverse transform (output pixel -> input pixel) in [-1, 1] coordinates, [n, 3, 3]."""
        s = self.strengths
        zeros = torch.zeros(n, device=device)
        m = _eye3(zeros)
        if s["xflip"]:
            flip = torch.randint(0, 2, (n,), device=device).float()
            m = m @ _scale(1 - 2 * _gate(flip, p * s["xflip"], 0.0), torch.ones(n, device=device))
        if s["rotate90"]:
            quarter = torch.randint(0, 4, (n,), device=device).float()
            m = m @ _rotate(_gate(quarter, p * s["rotate90"], 0.0) * (math.pi / 2))
        if s["xint"]:
            shift = (torch.rand(n, 2, device=device) * 2 - 1) * self.xint_max
            keep = torch.rand(n, 1, device=device) < p * s["xint"]
            shift = torch.where(keep, shift, torch.zeros_like(shift))
            m = m @ _translate(shift[:, 0], shift[:, 1])
        if s["scale"]:
            factor = torch.exp2(torch.randn(n, device=device) * self.scale_std)
            factor = _gate(factor, p * s["scale"], 1.0)
            m = m @ _scale(factor, factor)
        # Rotation is split in two (before and after anisotropic scaling) so that the
        # total probability of some rotation stays p.
        p_rotate = 1 - math.sqrt(max(1 - p * s["rotate"], 0.0))
        if s["rotate"]:
            angle = (torch.rand(n, device=device) * 2 - 1) * math.pi * self.rotate_max
            m = m @ _rotate(_gate(angle, p_rotate, 0.0))
        if s["aniso"]:
            factor = torch.exp2(torch.randn(n, device=device) * self.scale_std)
            factor = _gate(factor, p * s["aniso"], 1.0)
            m = m @ _scale(factor, 1 / factor)
        if s["rotate"]:
            angle = (torch.rand(n, device=device) * 2 - 1) * math.pi * self.rotate_max
            m = m @ _rotate(_gate(angle, p_rotate, 0.0))
        return m

    def _colour(self, n, device, p):
        """Colour transform on homogeneous RGB, [n, 4, 4]."""
        s = self.strengths
        m = _eye4(n, device)
        if s["brightness"]:
            shift = _gate(torch.randn(n, device=device) * self.brightness_std, p * s["brightness"], 0.0)
            t = _eye4(n, device)
            t[:, :3, 3] = shift[:, None]
            m = t @ m
        if s["contrast"]:
            factor = _gate(torch.exp2(torch.randn(n, device=device) * self.contrast_std), p * s["contrast"], 1.0)
            t = _eye4(n, device)
            t[:, 0, 0] = t[:, 1, 1] = t[:, 2, 2] = factor
            m = t @ m
        axis = LUMA_AXIS.to(device)
        if s["hue"]:
            angle = _gate((torch.rand(n, device=device) * 2 - 1) * math.pi * self.hue_max, p * s["hue"], 0.0)
            m = _rotate_about_axis(axis[:3], angle) @ m
        if s["saturation"]:
            factor = _gate(torch.exp2(torch.randn(n, device=device) * self.saturation_std), p * s["saturation"], 1.0)
            outer = torch.outer(axis, axis)
            t = outer + (torch.eye(4, device=device) - outer) * factor[:, None, None]
            t[:, 3, 3] = 1
            m = t @ m
        return m

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        p = float(self.p)
        if p <= 0:
            return images
        # The transform matrices need float32 even inside a bfloat16 autocast region (training
        # in bf16): the augmentation is cheap next to the networks, so it runs wholly in float32.
        with torch.autocast(images.device.type, enabled=False):
            return self._augment(images.float(), p)

    def _augment(self, images: torch.Tensor, p: float) -> torch.Tensor:
        n, channels, height, width = images.shape
        device = images.device
        geometry = self._geometry(n, device, p)
        if not torch.allclose(geometry, _eye3(geometry[:, 0, 0])):
            grid = F.affine_grid(geometry[:, :2, :].to(images.dtype), list(images.shape), align_corners=False)
            images = F.grid_sample(images, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
        if channels == 3:
            colour = self._colour(n, device, p).to(images.dtype)
            flat = images.reshape(n, 3, -1)
            images = (colour[:, :3, :3] @ flat + colour[:, :3, 3:]).reshape(n, channels, height, width)
        return images


def _rotate_about_axis(axis, angle):
    """Rodrigues rotation by ``angle`` [n] about the unit ``axis`` [3], as [n, 4, 4]."""
    x, y, z = axis.tolist()
    cos, sin = torch.cos(angle), torch.sin(angle)
    k = torch.tensor([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]], device=angle.device)
    outer = torch.outer(axis, axis)
    r = (cos[:, None, None] * torch.eye(3, device=angle.device) + sin[:, None, None] * k
         + (1 - cos)[:, None, None] * outer)
    m = torch.eye(4, device=angle.device).repeat(angle.shape[0], 1, 1)
    m[:, :3, :3] = r
    return m


@dataclass(frozen=True)
class AdaUpdate:
    p: float            # augmentation probability after the update
    rt: float           # E[sign(D(real))] over the interval


class AdaController:
    """Adjusts ``pipe.p`` from the sign of the discriminator's outputs on real images."""

    def __init__(
        self,
        pipe,               # the AugmentPipe whose p is adjusted
        target=0.6,         # wanted E[sign(D(real))]
        interval=4,         # update every this many steps
        speed_kimg=100.0,   # images (in thousands) for p to move by 1
    ):
        self.pipe = pipe
        self.target = target
        self.interval = interval
        self.speed_kimg = speed_kimg
        self._sign_sum = 0.0
        self._count = 0
        self._steps = 0

    def accumulate(self, real_logits: torch.Tensor) -> AdaUpdate | None:
        self._sign_sum += float(torch.sign(real_logits.detach()).sum())
        self._count += real_logits.numel()
        self._steps += 1
        if self._steps < self.interval:
            return None
        rt = self._sign_sum / max(self._count, 1)
        adjust = math.copysign(1.0, rt - self.target) * self._count / (self.speed_kimg * 1000)
        new_p = min(max(float(self.pipe.p) + adjust, 0.0), 1.0)
        self.pipe.p.fill_(new_p)
        self._sign_sum, self._count, self._steps = 0.0, 0, 0
        return AdaUpdate(p=new_p, rt=rt)
