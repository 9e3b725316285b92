"""Find a latent w whose image resembles a reference image ("a variation of my own motif").

No downloaded perceptual network: the loss is pixel MSE plus MSE at coarser scales
(average-pooled pyramids weigh overall layout over fine texture), plus, optionally, a
cosine distance between features from a function the caller passes in (the generation
code passes the motif classifier's ``embed``; this package imports no classifier).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from stylegan2_ada.generate import class_label

FeatureFunction = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class ProjectionResult:
    ws: torch.Tensor                # [1, num_ws, w_dim], ready for G.synthesis
    image: torch.Tensor             # [1, C, H, W] in [-1, 1]
    losses: tuple[float, ...]       # total loss per step
    initial_distance: float         # pixel MSE of the w_avg image to the target
    final_distance: float           # pixel MSE of the projected image to the target


def image_to_tensor(image) -> torch.Tensor:
    """PIL image or HWC uint8 array -> [1, C, H, W] float in [-1, 1]."""
    array = np.asarray(image.convert("RGB") if hasattr(image, "convert") else image, dtype=np.float32)
    return torch.from_numpy(array).permute(2, 0, 1)[None] / 127.5 - 1


def _pyramid_loss(image, target, levels):
    loss = 0.0
    for _ in range(levels):
        image, target = F.avg_pool2d(image, 2), F.avg_pool2d(target, 2)
        loss = loss + F.mse_loss(image, target)
    return loss


def project(
    G,                          # a Generator (kept frozen)
    target,                     # [1, C, H, W] in [-1, 1] at G's resolution
    *,
    class_index=None,           # class for a conditional generator
    steps=200,                  # optimisation steps
    learning_rate=0.05,         # peak Adam learning rate
    w_avg_samples=512,          # samples to estimate the mean and spread of w
    pixel_weight=1.0,           # weight of the pixel MSE
    multiscale_weight=1.0,      # weight of the coarser-scale MSE
    feature_fn=None,            # optional images -> [N, D] features, differentiable
    feature_weight=1.0,         # weight of the feature cosine distance
    per_layer=False,            # optimise one w per layer (W+) instead of one shared w
    noise_mode="const",         # synthesis noise during and after projection
    seed=0,                     # for the w statistics and the exploration noise
    callback=None,              # called as callback(step, loss) after each step
) -> ProjectionResult:
    if target.ndim != 4 or tuple(target.shape[1:]) != (G.img_channels, G.img_resolution, G.img_resolution):
        raise ValueError(f"target must have shape [1, {G.img_channels}, {G.img_resolution}, {G.img_resolution}], "
                         f"got {tuple(target.shape)}")
    device = next(G.parameters()).device
    target = target.to(device, torch.float32)
    generator = torch.Generator(device="cpu").manual_seed(seed)
    G = G.eval().requires_grad_(False)

    with torch.no_grad():
        z = torch.randn(w_avg_samples, G.z_dim, generator=generator).to(device)
        label = class_label(G, class_index, batch=w_avg_samples).to(device)
        samples = G.mapping(z, label)[:, :1, :]
        w_avg = samples.mean(dim=0, keepdim=True)
        w_std = float((samples - w_avg).square().sum() / w_avg_samples) ** 0.5
        target_features = feature_fn(target).detach() if feature_fn is not None else None

    start = w_avg.repeat(1, G.num_ws if per_layer else 1, 1)
    w_opt = start.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([w_opt], lr=learning_rate, betas=(0.9, 0.999))
    levels = max(int(math.log2(G.img_resolution)) - 3, 0)

    def synthesize(w):
        ws = w if per_layer else w.repeat(1, G.num_ws, 1)
        return G.synthesis(ws, noise_mode=noise_mode)

    with torch.no_grad():
        initial_distance = float(F.mse_loss(synthesize(start), target))

    losses = []
    for step in range(steps):
        t = step / max(steps, 1)
        # Cosine ramp-down with a short ramp-up; exploration noise on w fades out by 3/4.
        ramp_down = 0.5 - 0.5 * math.cos(math.pi * min(1.0, (1 - t) / 0.25))
        ramp_up = min(1.0, (step + 1) / max(steps * 0.05, 1))
        lr = learning_rate * ramp_down * ramp_up
        for group in optimizer.param_groups:
            group["lr"] = lr
        noise_scale = w_std * 0.05 * max(0.0, 1 - t / 0.75) ** 2
        noise = torch.randn(w_opt.shape, generator=generator).to(device) * noise_scale
        image = synthesize(w_opt + noise)
        loss = pixel_weight * F.mse_loss(image, target)
        if multiscale_weight and levels:
            loss = loss + multiscale_weight * _pyramid_loss(image, target, levels)
        if feature_fn is not None:
            features = feature_fn(image)
            loss = loss + feature_weight * (1 - F.cosine_similarity(features, target_features, dim=-1)).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if callback is not None:
            callback(step, losses[-1])

    with torch.no_grad():
        ws = w_opt.detach() if per_layer else w_opt.detach().repeat(1, G.num_ws, 1)
        image = G.synthesis(ws, noise_mode=noise_mode)
        final_distance = float(F.mse_loss(image, target))
    return ProjectionResult(ws=ws, image=image, losses=tuple(losses), initial_distance=initial_distance,
                            final_distance=final_distance)
