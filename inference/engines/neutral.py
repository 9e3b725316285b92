"""A neutral feature space for judging generated images: the ImageNet EfficientNet-Lite0 as it
ships (frozen, never fine-tuned on the archive), pooled 1280-d features at 224 px.

The demo classifier's own embedding was trained on the very images it would judge, so a
generator can score well there by matching what that classifier learned to look at; ImageNet
features are the role Inception plays in FID: a space neither model was fitted to. Plain torch,
no Django; the weights come through ``backbones`` (the one loader, no network)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .backbones import EMBEDDING_DIM, IMAGE_SIZE

BATCH = 32
# The perceptual loss looks at 128 px: a quarter of the work of 224 px per projection step, and
# the generators it serves draw at 64–128 px.
PERCEPTUAL_SIZE = 128
DESCRIPTION = f"ImageNet EfficientNet-Lite0 (frozen), pooled {EMBEDDING_DIM}-d at {IMAGE_SIZE} px"


class NeutralFeatures:
    """``features(images)`` → float64 [N, 1280] for PIL images of any size (resized to 224 px,
    bicubic, as FID resizes to Inception's input)."""

    def __init__(self, network=None):
        from .backbones import efficientnet_lite0

        self.network = network if network is not None else efficientnet_lite0(pretrained=True)
        self.network.eval().requires_grad_(False)

    def features(self, images: Sequence, progress=None, size: int = IMAGE_SIZE) -> np.ndarray:
        """``size``: the side the images are resized to (the pooling takes any; 224 px is the
        network's own, larger keeps the detail a super-resolution refiner adds)."""
        import torch
        from PIL import Image

        parts = []
        for start in range(0, len(images), BATCH):
            batch = [image.convert("RGB").resize((size, size), Image.BICUBIC)
                     for image in images[start:start + BATCH]]
            pixels = torch.from_numpy(np.stack([np.asarray(image, dtype=np.float32) for image in batch]) / 255.0)
            with torch.no_grad():
                parts.append(self.network.embed(pixels.permute(0, 3, 1, 2).contiguous()).double().numpy())
            if progress:
                progress(min(start + BATCH, len(images)), len(images))
        return np.concatenate(parts) if parts else np.zeros((0, EMBEDDING_DIM))

    def perceptual(self, images, size: int = PERCEPTUAL_SIZE):
        """Differentiable features for a perceptual loss (projection of a reference): images
        [N, 3, H, W] in [-1, 1] (a generator's output) → [N, D], the stride-8 and stride-16 maps
        at ``size`` px, each unit-normalised per position and flattened, so a cosine distance
        compares layout and local texture rather than overall brightness. Gradients reach the
        images, never the frozen network."""
        import torch
        import torch.nn.functional as F

        pixels = F.interpolate((images + 1) / 2, size=(size, size), mode="bilinear", align_corners=False)
        maps = self.network.features(pixels.clamp(0, 1))[1:3]
        return torch.cat([F.normalize(m, dim=1).flatten(1) / m[0, 0].numel() ** 0.5 for m in maps], dim=1)
