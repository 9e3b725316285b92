"""Refiner folders on disk: their content hash, writing one atomically, copying what ships,
and reading one back (the parts :meth:`Refiner.load <.sampling.Refiner.load>` builds a refiner from).

A refiner is a folder, the shape ``diffusers`` saves::

    unet/config.json, unet/diffusion_pytorch_model.safetensors
    scheduler/scheduler_config.json
    refiner.json        resolution, training steps, data count, seed (what the registry shows)
"""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np

from core.limits import MAX_ENGINE_SIDE

from ..errors import RefinerError

REFINER_FORMAT = "cualify-refiner"
REFINER_JSON = "refiner.json"
UNET_DIR = "unet"
SCHEDULER_DIR = "scheduler"


def folder_sha256(path: str | Path) -> str:
    """Content hash of a model folder: sha256 over its regular files in sorted relative-path order.

    For each file: the POSIX relative path (UTF-8), a NUL, the byte length in decimal, a NUL,
    then the bytes. The length keeps two different splits of the same bytes apart. File
    times and permissions do not count; so two copies of one folder hash the same.
    """
    root = Path(path)
    if not root.is_dir():
        raise RefinerError("no_model", f"model folder {root} does not exist")
    files = sorted((p for p in root.rglob("*") if p.is_file()), key=lambda p: p.relative_to(root).as_posix())
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.relative_to(root).as_posix().encode("utf-8") + b"\0")
        digest.update(str(file.stat().st_size).encode("ascii") + b"\0")
        with open(file, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def save_refiner_folder(folder: Path, unet, scheduler, metadata: dict) -> Path:
    """Write unet/, scheduler/ and refiner.json; into a sibling first, so a reader never sees half a folder.

    The weights are stored in float16, half the bytes; :func:`read_refiner_folder` loads them in float32.
    """
    import copy

    folder = Path(folder)
    partial = folder.with_name(f".{folder.name}.partial")
    if partial.exists():
        shutil.rmtree(partial)
    partial.mkdir(parents=True)
    copy.deepcopy(unet).half().save_pretrained(partial / UNET_DIR, safe_serialization=True)
    scheduler.save_pretrained(partial / SCHEDULER_DIR)
    (partial / REFINER_JSON).write_text(json.dumps(metadata, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    if folder.exists():
        shutil.rmtree(folder)
    partial.rename(folder)
    return folder


def copy_refiner_folder(source: str | Path, destination: str | Path) -> Path:
    """Copy only the model (unet/, scheduler/, refiner.json): what ships in weights/."""
    source, destination = Path(source), Path(destination)
    if destination.exists():
        shutil.rmtree(destination)
    destination.mkdir(parents=True)
    shutil.copytree(source / UNET_DIR, destination / UNET_DIR)
    shutil.copytree(source / SCHEDULER_DIR, destination / SCHEDULER_DIR)
    shutil.copyfile(source / REFINER_JSON, destination / REFINER_JSON)
    return destination


def read_refiner_folder(folder: Path, device: str = "cpu") -> tuple[object, dict, dict]:
    """(UNet in eval mode on ``device``, scheduler config, refiner.json) of a refiner folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise RefinerError("no_model", f"refiner folder {folder} does not exist")
    for part in (UNET_DIR, SCHEDULER_DIR):
        if not (folder / part).is_dir():
            raise RefinerError("bad_model", f"{folder.name} has no {part}/ folder")
    if device != "cpu" and not device.startswith("cuda"):
        raise RefinerError("bad_device", f"unsupported device {device!r}")
    metadata = {}
    if (folder / REFINER_JSON).is_file():
        try:
            metadata = json.loads((folder / REFINER_JSON).read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise RefinerError("bad_model", f"{folder.name}/{REFINER_JSON} is unreadable: {error}") from error
    import torch
    from diffusers import DDIMScheduler, UNet2DModel

    try:
        # A local folder only: from_pretrained never goes to the network for an existing path.
        unet = UNet2DModel.from_pretrained(
            folder / UNET_DIR, use_safetensors=True, low_cpu_mem_usage=False, torch_dtype=torch.float32
        )
        scheduler = DDIMScheduler.from_pretrained(folder / SCHEDULER_DIR)
    except (OSError, ValueError, RuntimeError, KeyError, TypeError) as error:
        raise RefinerError("bad_model", f"{folder.name} is not a loadable refiner: {error}") from error
    # torch_dtype above: float32 whatever was stored, as half precision is slow or missing
    # for some CPU kernels.
    if metadata.get("task") == "super_resolution":
        scale = int(metadata.get("scale") or 0)
        if (unet.config.in_channels, unet.config.out_channels) != (3 * scale * scale + 3, 3 * scale * scale):
            raise RefinerError("bad_model", f"{folder.name}: the UNet's channels do not fit a x{scale} upscaler")
    elif unet.config.in_channels != 3 or unet.config.out_channels != 3:
        raise RefinerError("bad_model", f"{folder.name}: the UNet must map 3 channels to 3")
    resolution = int(metadata.get("resolution") or unet.config.sample_size)
    if not 1 <= resolution <= MAX_ENGINE_SIDE:
        raise RefinerError("bad_model", f"{folder.name}: resolution {resolution} is not 1..{MAX_ENGINE_SIDE} px")
    unet = unet.to(device).eval().requires_grad_(False)
    return unet, scheduler.config, metadata


def save_png(array: np.ndarray, path: Path) -> Path:
    """A uint8 image array as a PNG (sample and comparison grids), creating the folder."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path
