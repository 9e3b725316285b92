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
- ``quality``: :func:`quality_report` and :func:`evaluate_refiner`, whether refining beats the GAN;
- ``upscaler``: :class:`Upscaler`, diffusion super-resolution ×2/×4/×8 (the refiner that ships);
  ``upscaler_training``: :func:`train_upscaler`; ``upscaler_quality``: :func:`evaluate_upscaler`,
  whether it beats Lanczos;
- :func:`load_refiner`: either kind of refiner folder, by what its ``refiner.json`` says.

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
from .upscaler import TASK as SUPER_RESOLUTION
from .upscaler import Upscaler
from .training import (
    RefinerTrainingOptions,
    RefinerTrainingResult,
    list_training_images,
    load_training_images,
    newest_snapshot,
    train_refiner,
)



def load_refiner(folder, device: str = "cpu"):
    """The refiner in ``folder``: an :class:`Upscaler` when its refiner.json says
    ``"task": "super_resolution"``, else the 64 px SDEdit :class:`Refiner` of earlier versions."""
    from pathlib import Path

    from .folders import read_refiner_folder

    folder = Path(folder)
    unet, scheduler_config, metadata = read_refiner_folder(folder, device)
    kind = Upscaler if metadata.get("task") == SUPER_RESOLUTION else Refiner
    return kind(unet, scheduler_config, metadata, folder=folder, device=device)


__all__ = [
    "SUPER_RESOLUTION",
    "Upscaler",
    "load_refiner",
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
