"""The diffusion refiner: a small ``diffusers`` UNet2DModel with a DDIM scheduler, SDEdit-style.

Refinement noises a generated image part of the way (``strength``: 0 keeps it, 1 starts
from pure noise), then denoises it with DDIM, so the result keeps the composition of the
GAN image and takes its texture from the archive the UNet was trained on.

One module per job:

- ``networks``: the UNet (:func:`build_unet`) and the DDIM noise schedule (:func:`build_scheduler`);
- ``sampling``: :class:`Refiner`, a loaded refiner, and its SDEdit :meth:`Refiner.refine`;
- ``seamless``: the wrap-around padding that keeps a seamless tile seamless;
- ``folders``: a refiner folder on disk (content hash :func:`folder_sha256`, atomic writing,
  copying what ships, reading one back);
- ``training``: :func:`train_refiner`, resumable snapshots, sample grids;
- ``quality``: :func:`quality_report` and :func:`evaluate_refiner`, whether refining beats the GAN.

Errors are :class:`~inference.engines.errors.RefinerError` with a code from
:data:`inference.engines.errors.CODES`. No Django import here; torch and diffusers are
imported lazily, so importing this package is cheap.
"""
from __future__ import annotations

from ..errors import RefinerError
from .folders import REFINER_FORMAT, copy_refiner_folder, folder_sha256, save_refiner_folder
from .networks import DEFAULT_CHANNELS, build_scheduler, build_unet, count_parameters
from .quality import QualityReport, VariantQuality, evaluate_refiner, quality_report
from .sampling import Refiner, denoising_steps
from .training import (
    RefinerTrainingOptions,
    RefinerTrainingResult,
    list_training_images,
    load_training_images,
    newest_snapshot,
    train_refiner,
)

__all__ = [
    "DEFAULT_CHANNELS",
    "REFINER_FORMAT",
    "QualityReport",
    "Refiner",
    "RefinerError",
    "RefinerTrainingOptions",
    "RefinerTrainingResult",
    "VariantQuality",
    "build_scheduler",
    "build_unet",
    "copy_refiner_folder",
    "count_parameters",
    "denoising_steps",
    "evaluate_refiner",
    "folder_sha256",
    "list_training_images",
    "load_training_images",
    "newest_snapshot",
    "quality_report",
    "save_refiner_folder",
    "train_refiner",
]
