"""Refinement itself: SDEdit with a DDIM schedule over a loaded refiner's UNet.

Refinement noises a generated image part of the way (``strength``: 0 keeps it, 1 starts from
pure noise), then denoises it with DDIM, so the result keeps the composition of the GAN image
and takes its texture from the archive the UNet was trained on.

Torch and diffusers are imported inside the functions, so importing this module is cheap.
"""
from __future__ import annotations

import math
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from core.limits import MAX_ENGINE_SIDE

from ..errors import RefinerError
from .folders import read_refiner_folder
from .networks import TRAIN_TIMESTEPS
from .seamless import circular_copy

StepCallback = Callable[[int, int], None]
REFINE_STEPS = 10  # denoising steps of an SDEdit refinement, whatever its strength


def _check_images(images) -> None:
    if not isinstance(images, np.ndarray):
        raise RefinerError("bad_images", f"images must be a numpy array, got {type(images).__name__}")
    if images.dtype != np.uint8:
        raise RefinerError("bad_images", f"images must be uint8, got {images.dtype}")
    if images.ndim != 4 or images.shape[-1] != 3:
        raise RefinerError("bad_images", f"images must be shaped [N, H, W, 3], got {list(images.shape)}")
    if min(images.shape[:3]) < 1:
        raise RefinerError("bad_images", f"images must not be empty, got {list(images.shape)}")
    if max(images.shape[1:3]) > MAX_ENGINE_SIDE:
        raise RefinerError("bad_images",
                           f"images must be at most {MAX_ENGINE_SIDE} px a side, got {list(images.shape)}")


def _check_strength(strength) -> float:
    if isinstance(strength, bool) or not isinstance(strength, (int, float)) or not math.isfinite(strength):
        raise RefinerError("bad_strength", f"strength must be a number in (0, 1], got {strength!r}")
    if not 0 < strength <= 1:
        raise RefinerError("bad_strength", f"strength must be in (0, 1], got {strength}")
    return float(strength)


def _check_steps(steps) -> int:
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)):
        raise RefinerError("bad_steps", f"steps must be an integer, got {steps!r}")
    if not 1 <= steps <= TRAIN_TIMESTEPS:
        raise RefinerError("bad_steps", f"steps must be between 1 and {TRAIN_TIMESTEPS}, got {steps}")
    return int(steps)


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**63:
        raise RefinerError("bad_seed", f"seed must be an integer in [0, 2^63), got {seed!r}")
    return int(seed)


def denoising_steps(steps: int, strength: float) -> int:
    """How many of ``steps`` DDIM steps run at ``strength``: steps × strength rounded half up, at least one."""
    return min(steps, max(1, math.floor(steps * strength + 0.5)))


def resize_batch(images: np.ndarray, width: int, height: int) -> np.ndarray:
    """Each [H, W, 3] uint8 image Lanczos-resized to ``width`` x ``height`` (at most MAX_ENGINE_SIDE)."""
    from PIL import Image

    if not (1 <= width <= MAX_ENGINE_SIDE and 1 <= height <= MAX_ENGINE_SIDE):
        raise ValueError(f"cannot resize to {width} x {height}: sides must be 1..{MAX_ENGINE_SIDE}")
    return np.stack([np.asarray(Image.fromarray(image).resize((width, height), Image.LANCZOS)) for image in images])


def _to_model_space(images: np.ndarray):
    import torch

    return torch.from_numpy(images).permute(0, 3, 1, 2).to(torch.float32) / 127.5 - 1


def _to_uint8(samples) -> np.ndarray:
    import torch

    return ((samples.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


class DiffusersDenoiser:
    """What both refiners share: the UNet (or its wrap-around copy for tiles) and a fresh DDIM
    scheduler per call. Needs ``unet``, ``scheduler_config``, ``_circular`` and ``_lock``."""

    def _denoiser(self, tile: bool):
        """The UNet, or for seamless tiles its copy that pads by wrapping around
        (:func:`.seamless.circular_copy`), built once on the first tile request."""
        if not tile:
            return self.unet
        with self._lock:
            if self._circular is None:
                self._circular = circular_copy(self.unet)
            return self._circular

    def _scheduler(self):
        from diffusers import DDIMScheduler

        # A fresh scheduler per call: set_timesteps mutates it, and calls may overlap.
        return DDIMScheduler.from_config(self.scheduler_config)


class Refiner(DiffusersDenoiser):
    """A loaded refiner folder; :meth:`refine` is safe to call from several threads (no shared state changes).

    Build one with :meth:`load`; the constructor takes a UNet as it is (training wraps its
    live network in one to draw sample grids, so it must not switch that network to eval).
    """

    def __init__(
        self,
        unet,                               # a diffusers UNet2DModel
        scheduler_config: dict,             # DDIMScheduler config; a fresh scheduler is built per call
        metadata: dict,                     # refiner.json
        *,
        folder: Path | None = None,
        device: str = "cpu",
    ):
        self.unet = unet
        self.scheduler_config = dict(scheduler_config)
        self.metadata = dict(metadata)
        self.folder = folder
        self.device = device
        self.resolution = int(metadata.get("resolution") or unet.config.sample_size)
        self._circular = None  # the UNet with wrap-around padding, built on the first tile request
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        trained = self.metadata.get("training_steps")
        return f"Refiner(resolution={self.resolution}, training_steps={trained}, folder={self.folder})"

    @classmethod
    def load(cls, folder: str | Path, device: str = "cpu") -> Refiner:
        """Load a folder written by :func:`train_refiner` (or any unet/ + scheduler/ pair of that shape)."""
        folder = Path(folder)
        unet, scheduler_config, metadata = read_refiner_folder(folder, device)
        return cls(unet, scheduler_config, metadata, folder=folder, device=device)

    def schedule_steps(self, strength: float) -> int:
        """DDIM steps over the whole range such that refining from ``strength`` denoises
        REFINE_STEPS times (SDEdit starts part-way down the schedule)."""
        return max(REFINE_STEPS, round(REFINE_STEPS / strength))

    def output_side(self, side: int) -> int:
        return side

    def refine(
        self,
        images: np.ndarray,                 # [N, H, W, 3] uint8
        strength: float,                    # (0, 1]: how far to noise before denoising
        steps: int,                         # DDIM steps for the whole 0..1 range
        seed: int,                          # seeds the added noise
        callback: StepCallback | None = None,  # callback(i, n) after each denoising step, i from 1
        tile: bool = False,                 # the images are seamless tiles: keep them seamless
    ) -> np.ndarray:
        """SDEdit: noise ``images`` to ``strength`` and denoise them; the same shape and dtype come back.

        The DDIM schedule has ``steps`` steps over the whole range; refinement starts at the
        step matching ``strength`` and runs the remaining :func:`denoising_steps` (steps × strength,
        at least one), so strength 0.3 with 20 steps starts near t = 300 and denoises 6 times.
        Images of another size than the model's resolution are resized to it (Lanczos), refined,
        and resized back to their own size, so detail finer than the model's resolution is lost.
        One torch.Generator seeded with ``seed`` draws the noise of the whole batch; DDIM with
        eta 0 adds none after that, so the same inputs and seed give the same pixels (on one device).
        With ``tile`` the UNet pads by wrapping around (see :meth:`_denoiser`), so a seamless
        tile stays seamless; the resizing is not wrap-aware, so give tiles at the model's resolution.
        Images with a side over ``core.limits.MAX_ENGINE_SIDE`` are refused (``bad_images``).
        """
        import torch

        _check_images(images)
        strength = _check_strength(strength)
        steps = _check_steps(steps)
        seed = _check_seed(seed)
        n_images, height, width, _ = images.shape
        resized = (height, width) != (self.resolution, self.resolution)
        batch = resize_batch(images, self.resolution, self.resolution) if resized else images

        scheduler = self._scheduler()
        scheduler.set_timesteps(steps)
        count = denoising_steps(steps, strength)
        timesteps = scheduler.timesteps[len(scheduler.timesteps) - count:]

        generator = torch.Generator(device="cpu").manual_seed(seed)
        clean = _to_model_space(np.ascontiguousarray(batch))
        noise = torch.randn(clean.shape, generator=generator, dtype=torch.float32)
        start = timesteps[:1].repeat(n_images)
        sample = scheduler.add_noise(clean, noise, start).to(self.device)
        unet = self._denoiser(tile)
        with torch.inference_mode():
            for index, timestep in enumerate(timesteps):
                epsilon = unet(sample, timestep.to(self.device)).sample
                sample = scheduler.step(epsilon, timestep, sample, eta=0.0).prev_sample
                if callback is not None:
                    callback(index + 1, count)
        refined = _to_uint8(sample)
        return resize_batch(refined, width, height) if resized else refined

    def sample(self, count: int, steps: int, seed: int) -> np.ndarray:
        """``count`` images from pure noise (strength 1): what the UNet alone has learned."""
        noise_source = np.zeros((count, self.resolution, self.resolution, 3), np.uint8)
        return self.refine(noise_source, 1.0, steps, seed)

    def warm_up(self) -> None:
        """One tiny refinement: the first call pays allocator and kernel selection costs."""
        self.refine(np.zeros((1, self.resolution, self.resolution, 3), np.uint8), 0.1, 10, 0)

