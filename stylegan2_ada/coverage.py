"""Training by nearest latents: Implicit Maximum Likelihood Estimation (IMLE; Li and Malik,
"Implicit Maximum Likelihood Estimation", 2018), the generator objective behind
``train(objective="imle")``.

A GAN is free to draw one good image per class and ignore the rest of the data: on the small
archive the conditional generator did just that (the seeds of one motif were near copies). IMLE
turns the objective round: *every training image* asks for a generated sample close to it. Each
image keeps the latent of the nearest of many random samples of its class (``NearestLatents``,
searched again every so often because the generator moves), and the generator is pulled, image
by image, towards the data through a reconstruction loss (``ReconstructionLoss``). No sample
can be left without an image to answer to, so no motif collapses, and every step is a direct,
supervised gradient rather than a discriminator's verdict: far more learnt per image on a CPU.

The search is cheap: a 'skip' generator draws an image at every block, so the candidates are
only drawn up to ``search_resolution`` (the layout, a fraction of the work), and compared with
the training images reduced to that size.

The reconstruction loss is a pixel L1 plus a perceptual distance in a frozen pretrained network
given by name (``"module:factory"``, as for the projected discriminator): its maps at strides 4,
8 and 16, unit-normalised per position, compared by mean squared difference (the unweighted
form of LPIPS). The network is never trained or saved; gradients reach the images through it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from stylegan2_ada.projected import load_feature_network


class NearestLatents:
    """For each training image, the latent of the nearest generated sample found so far."""

    def __init__(self, count: int, z_dim: int, *, seed: int = 0):
        self.generator = torch.Generator().manual_seed(seed)
        self.z = torch.randn(count, z_dim, generator=self.generator)
        self.distance = torch.full((count,), float("inf"))
        self.searches = 0

    @torch.no_grad()
    def search(self, G, images: torch.Tensor, labels: torch.Tensor, *, candidates: int = 16,
               resolution: int = 32, batch: int = 64, device="cpu", progress=None) -> float:
        """Draw ``candidates`` fresh latents per image, keep the nearest of them and the image's
        current latent (re-measured: the generator has moved). ``images`` uint8 [N, 3, R, R],
        ``labels`` one-hot [N, C] (or [N, 0]). Returns the mean distance after the search."""
        targets_all = _reduce(images.to(torch.float32) / 127.5 - 1, resolution)
        count = len(images)
        per_image = candidates + 1
        chunk = max(1, batch // per_image)
        stop_at = resolution if resolution < G.img_resolution else None
        for start in range(0, count, chunk):
            index = torch.arange(start, min(start + chunk, count))
            fresh = torch.randn(len(index), candidates, G.z_dim, generator=self.generator)
            z = torch.cat([self.z[index, None], fresh], dim=1)                      # [n, M+1, z]
            c = labels[index, None].expand(-1, per_image, -1).reshape(len(index) * per_image, -1)
            drawn = G(z.reshape(-1, G.z_dim).to(device), c.to(device), noise_mode="const", stop_at=stop_at)
            drawn = _reduce(drawn.float().clamp(-1, 1).cpu(), resolution).reshape(len(index), per_image, -1)
            target = targets_all[index].reshape(len(index), 1, -1)
            distance = (drawn - target).square().mean(dim=2)                         # [n, M+1]
            best = distance.argmin(dim=1)
            self.z[index] = z[torch.arange(len(index)), best]
            self.distance[index] = distance[torch.arange(len(index)), best]
            if progress:
                progress(min(start + chunk, count), count)
        self.searches += 1
        return float(self.distance.mean())


def _reduce(images: torch.Tensor, resolution: int) -> torch.Tensor:
    if images.shape[-1] == resolution:
        return images
    if images.shape[-1] % resolution == 0:
        return F.avg_pool2d(images, images.shape[-1] // resolution)
    return F.interpolate(images, size=(resolution, resolution), mode="area")


class ReconstructionLoss(torch.nn.Module):
    """L1 in pixels plus the perceptual distance of a frozen feature network (see the module
    docstring). Images in [-1, 1]; returns one loss per image."""

    def __init__(self, feature_network: str | None, *, pixel_weight: float = 1.0, perceptual_weight: float = 1.0,
                 size: int | None = None):
        super().__init__()
        self.pixel_weight = pixel_weight
        self.perceptual_weight = perceptual_weight
        self.size = size
        # Kept in a list so it stays outside the module tree: never trained, moved or saved.
        self._features = [load_feature_network(feature_network)] if feature_network and perceptual_weight else []

    def to(self, *args, **kwargs):
        for network in self._features:
            network.to(*args, **kwargs)
        return super().to(*args, **kwargs)

    def _maps(self, images: torch.Tensor) -> list[torch.Tensor]:
        pixels = ((images + 1) / 2).clamp(0, 1)
        if self.size and pixels.shape[-1] != self.size:
            pixels = F.interpolate(pixels, size=(self.size, self.size), mode="bilinear", align_corners=False)
        return [F.normalize(m.float(), dim=1) for m in self._features[0].features(pixels)[:3]]

    def forward(self, images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        loss = self.pixel_weight * (images - targets).abs().mean(dim=[1, 2, 3])
        if self._features:
            with torch.no_grad():
                wanted = self._maps(targets)
            for made, target in zip(self._maps(images), wanted):
                loss = loss + self.perceptual_weight * (made - target).square().sum(dim=1).mean(dim=[1, 2])
        return loss
