"""Diffusion super-resolution: the refiner that draws the detail a generated motif lacks.

The generator draws at 64–128 px; prints and the gallery need 512 px and more. The upscaler
enlarges ``scale`` times (4 or 8) with a small conditional diffusion model, after SRDiff (Li et
al., 2022): it diffuses the *residual* between the sharp image and a bicubic enlargement of the
small one, so the network only has to learn the edges and fine texture that interpolation
cannot give, and its first denoising step already lands near a sharp image.

Speed: the UNet never sees the large image. The noisy residual is pixel-unshuffled by the
scale factor (each ``scale`` x ``scale`` block of pixels becomes channels) and concatenated
with the small image itself, so every convolution runs at the small image's size: a 512 px
result from a 64 px motif costs convolutions at 64 px.

Seamless tiles: with ``tile`` every convolution pads by wrapping around and the bicubic
enlargement reads across the borders from the opposite side; pixel (un)shuffling is local and
the noise is drawn per pixel, so nothing can open a seam.

Torch and diffusers are imported inside the functions, so importing this module is cheap.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from core.limits import MAX_ENGINE_SIDE

from ..errors import RefinerError
from .networks import NORM_GROUPS, TRAIN_TIMESTEPS
from .sampling import DiffusersDenoiser, _check_images, _check_seed, _check_steps, _check_strength, _to_uint8, denoising_steps

TASK = "super_resolution"
SCALES = (2, 4, 8)
DEFAULT_UPSCALER_CHANNELS = (64, 128, 192)
# The residual of a bicubic enlargement is small (standard deviation ~0.1 on a [-1, 1] scale on
# the demo archive); scaled up, the diffusion's unit-variance noise does not drown it at once.
RESIDUAL_SCALE = 4.0
DEFAULT_STEPS = 4  # DDIM steps from pure noise: the speed goal (≤ 3 s for 512 px on 2 cores) allows this many

StepCallback = Callable[[int, int], None]


def build_upscaler_unet(
    scale: int,
    channels: Sequence[int] = DEFAULT_UPSCALER_CHANNELS,
    layers_per_block: int = 1,
    sample_size: int = 32,              # the small image's side in training (the UNet is size-agnostic)
):
    """The x0-predicting UNet at the small image's size: in, the unshuffled noisy residual (3·s²
    channels) and the small image (3); out, the unshuffled clean residual. No attention: fully
    convolutional, so any size works and circular padding is all a seamless tile needs."""
    from diffusers import UNet2DModel

    channels = tuple(int(c) for c in channels)
    check_upscaler_architecture(scale, channels, layers_per_block)
    levels = len(channels)
    return UNet2DModel(
        sample_size=sample_size,
        in_channels=3 * scale * scale + 3,
        out_channels=3 * scale * scale,
        block_out_channels=channels,
        down_block_types=("DownBlock2D",) * levels,
        up_block_types=("UpBlock2D",) * levels,
        layers_per_block=layers_per_block,
        norm_num_groups=NORM_GROUPS,
        add_attention=False,
    )


def check_upscaler_architecture(scale: int, channels: tuple[int, ...], layers_per_block: int) -> None:
    if scale not in SCALES:
        raise RefinerError("bad_options", f"scale must be one of {SCALES}, got {scale}")
    if not channels or any(c <= 0 or c % NORM_GROUPS for c in channels):
        raise RefinerError("bad_options", f"channels must be positive multiples of {NORM_GROUPS}, got {channels}")
    if layers_per_block < 1:
        raise RefinerError("bad_options", "layers_per_block must be at least 1")


def build_upscaler_scheduler():
    """DDIM predicting the clean (scaled) residual; ``trailing`` spacing so the first of any
    number of steps is t = 999, and a cosine schedule, whose late steps keep more signal than
    the linear one (few steps are taken)."""
    from diffusers import DDIMScheduler

    return DDIMScheduler(
        num_train_timesteps=TRAIN_TIMESTEPS,
        beta_schedule="squaredcos_cap_v2",
        prediction_type="sample",
        clip_sample=True,
        clip_sample_range=2 * RESIDUAL_SCALE,   # a residual is at most 2 on the [-1, 1] scale
        set_alpha_to_one=True,
        timestep_spacing="trailing",
    )


def enlarge(small, scale: int, tile: bool = False):
    """Bicubic enlargement of [N, 3, h, w] (any float range) ``scale`` times. With ``tile`` the
    filter reads across the borders from the opposite side (a seamless tile stays seamless);
    otherwise the border pixels are repeated."""
    import torch.nn.functional as F

    pad = 2  # bicubic reaches two pixels out
    padded = F.pad(small, (pad,) * 4, mode="circular" if tile else "replicate")
    large = F.interpolate(padded, scale_factor=scale, mode="bicubic", align_corners=False)
    return large[..., pad * scale:-pad * scale, pad * scale:-pad * scale]


def model_input(noisy_residual, small, scale: int):
    import torch
    import torch.nn.functional as F

    return torch.cat([F.pixel_unshuffle(noisy_residual, scale), small], dim=1)


def predict_residual(unet, noisy_residual, small, timestep, scale: int):
    """The UNet's estimate of the clean scaled residual, at the large size."""
    import torch.nn.functional as F

    return F.pixel_shuffle(unet(model_input(noisy_residual, small, scale), timestep).sample, scale)


def _padded_side(side: int, multiple: int) -> int:
    return -(-side // multiple) * multiple


class Upscaler(DiffusersDenoiser):
    """A loaded super-resolution refiner folder. :meth:`refine` is safe to call from several threads."""

    task = TASK

    def __init__(self, unet, scheduler_config: dict, metadata: dict, *, folder: Path | None = None,
                 device: str = "cpu"):
        self.unet = unet
        self.scheduler_config = dict(scheduler_config)
        self.metadata = dict(metadata)
        self.folder = folder
        self.device = device
        self.scale = int(metadata.get("scale") or 4)
        if self.scale not in SCALES:
            raise RefinerError("bad_model", f"scale {self.scale} is not one of {SCALES}")
        self.resolution = int(metadata.get("resolution") or 0)  # the small side it was trained for (informative)
        self.default_steps = int(metadata.get("default_steps") or DEFAULT_STEPS)
        self.levels = len(unet.config.block_out_channels)
        self._circular = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Upscaler(x{self.scale}, training_steps={self.metadata.get('training_steps')}, folder={self.folder})"

    def schedule_steps(self, strength: float) -> int:
        """DDIM steps over the whole range such that refining from ``strength`` denoises
        ``default_steps`` times (the speed the model was measured at)."""
        return max(self.default_steps, round(self.default_steps / max(strength, 1e-6)))

    def output_side(self, side: int) -> int:
        return side * self.scale

    def refine(
        self,
        images: np.ndarray,                 # [N, h, w, 3] uint8, the generator's output
        strength: float = 1.0,              # (0, 1]: 1 draws the whole residual from noise
        steps: int | None = None,           # DDIM steps for the whole range (None: default_steps)
        seed: int = 0,
        callback: StepCallback | None = None,
        tile: bool = False,
    ) -> np.ndarray:
        """[N, h·scale, w·scale, 3] uint8: each image enlarged, its detail drawn by the diffusion model.

        Sampling starts at the timestep of ``strength`` from a zero residual noised there (so a
        lower strength keeps closer to the bicubic enlargement) and takes the remaining
        :func:`~.sampling.denoising_steps`; one generator seeded with ``seed`` draws all noise, and
        DDIM with eta 0 adds none afterwards: the same inputs and seed give the same pixels.
        """
        import torch
        import torch.nn.functional as F

        _check_images(images)
        strength = _check_strength(strength)
        steps = _check_steps(self.default_steps if steps is None else steps)
        seed = _check_seed(seed)
        n_images, height, width, _ = images.shape
        if max(height, width) * self.scale > MAX_ENGINE_SIDE:
            raise RefinerError("bad_images", f"{width} x {height} px enlarged x{self.scale} would be over "
                                             f"{MAX_ENGINE_SIDE} px a side")
        small = torch.from_numpy(np.array(images)).permute(0, 3, 1, 2).to(torch.float32) / 127.5 - 1  # a copy: PIL arrays are read-only
        # The UNet halves the size levels - 1 times: pad to a multiple (wrapping for tiles), crop after.
        multiple = 2 ** (self.levels - 1)
        pad_h, pad_w = _padded_side(height, multiple) - height, _padded_side(width, multiple) - width
        if pad_h or pad_w:
            small = F.pad(small, (0, pad_w, 0, pad_h), mode="circular" if tile else "replicate")
        base = enlarge(small, self.scale, tile)

        scheduler = self._scheduler()
        scheduler.set_timesteps(steps)
        count = denoising_steps(steps, strength)
        timesteps = scheduler.timesteps[len(scheduler.timesteps) - count:]
        generator = torch.Generator(device="cpu").manual_seed(seed)
        noise = torch.randn(base.shape, generator=generator, dtype=torch.float32)
        sample = scheduler.add_noise(torch.zeros_like(base), noise, timesteps[:1].repeat(n_images))
        unet = self._denoiser(tile)
        small, sample = small.to(self.device), sample.to(self.device)
        with torch.inference_mode():
            for index, timestep in enumerate(timesteps):
                predicted = predict_residual(unet, sample, small, timestep.to(self.device), self.scale)
                sample = scheduler.step(predicted, timestep, sample, eta=0.0).prev_sample
                if callback is not None:
                    callback(index + 1, count)
        large = base.to(self.device) + sample / RESIDUAL_SCALE
        large = large[..., :height * self.scale, :width * self.scale]
        return _to_uint8(large)

    def warm_up(self) -> None:
        self.refine(np.zeros((1, 16, 16, 3), np.uint8), 1.0, 1, 0)
