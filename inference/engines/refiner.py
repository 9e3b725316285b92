"""The diffusion refiner: a small ``diffusers`` UNet2DModel with a DDIM scheduler, SDEdit-style.

Refinement noises a generated image part of the way (``strength``: 0 keeps it, 1 starts
from pure noise), then denoises it with DDIM, so the result keeps the composition of the
GAN image and takes its texture from the archive the UNet was trained on.

A refiner is a folder, the shape ``diffusers`` saves::

    unet/config.json, unet/diffusion_pytorch_model.safetensors
    scheduler/scheduler_config.json
    refiner.json        resolution, training steps, data count, seed (what the registry shows)

:func:`folder_sha256` is the content hash of such a folder (the registry stores folders by it).
:func:`train_refiner` writes one under ``<outdir>/model`` with resumable snapshots and sample
grids beside it; :func:`quality_report` compares the GAN's output with the refined output
(Fréchet and kernel distances to the archive in the classifier's embedding space, computed
by :mod:`inference.engines.metrics` as for the generator, and whether the classifier still
sees the motif that was asked for).

No Django import here; torch and diffusers are imported lazily so importing this module is cheap.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
import shutil
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

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
    "train_refiner",
]

REFINER_FORMAT = "cualify-refiner"
REFINER_JSON = "refiner.json"
UNET_DIR = "unet"
SCHEDULER_DIR = "scheduler"
MODEL_DIR = "model"  # under a training outdir: the clean folder to register or ship
SNAPSHOT_DIR = "snapshots"
SAMPLES_DIR = "samples"
SNAPSHOTS_KEPT = 2  # older snapshots are deleted: each one holds the optimizer too
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"})
# Channels per UNet level. Four levels take 64 px down to 8 px, where one self-attention
# block is cheap; 16 channels at full resolution keep a training step on one CPU core under a second.
DEFAULT_CHANNELS = (16, 32, 64, 96)
NORM_GROUPS = 8
TRAIN_TIMESTEPS = 1000

ProgressCallback = Callable[[int, int, dict], None]
StepCallback = Callable[[int, int], None]


class RefinerError(Exception):
    """A refiner cannot be loaded, trained or run as asked. ``code`` is stable; the message is for people.

    Codes: ``not_found``, ``invalid_model``, ``invalid_images``, ``invalid_strength``,
    ``invalid_steps``, ``invalid_seed``, ``invalid_options``, ``no_training_data``,
    ``unreadable_image``, ``resume_mismatch``.
    """

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


# ---------------------------------------------------------------------------------------------
# Networks


def build_unet(
    resolution: int = 64,                               # square input side in pixels
    channels: Sequence[int] = DEFAULT_CHANNELS,         # output channels of each level
    layers_per_block: int = 1,                          # ResNet blocks per level
    attention: bool = True,                             # self-attention at the lowest level
):
    """A small epsilon-predicting ``UNet2DModel`` (1.77 M parameters with the defaults)."""
    from diffusers import UNet2DModel

    channels = tuple(int(c) for c in channels)
    _check_architecture(resolution, channels, layers_per_block)
    levels = len(channels)
    down = ["DownBlock2D"] * levels
    up = ["UpBlock2D"] * levels
    if attention:
        down[-1] = "AttnDownBlock2D"
        up[0] = "AttnUpBlock2D"
    return UNet2DModel(
        sample_size=resolution,
        in_channels=3,
        out_channels=3,
        block_out_channels=channels,
        down_block_types=tuple(down),
        up_block_types=tuple(up),
        layers_per_block=layers_per_block,
        norm_num_groups=NORM_GROUPS,
        attention_head_dim=min(32, channels[-1]),
        add_attention=attention,  # the mid block's attention too
    )


def _check_architecture(resolution: int, channels: tuple[int, ...], layers_per_block: int) -> None:
    if not channels or any(c <= 0 or c % NORM_GROUPS for c in channels):
        raise RefinerError("invalid_options", f"channels must be positive multiples of {NORM_GROUPS}, got {channels}")
    if layers_per_block < 1:
        raise RefinerError("invalid_options", "layers_per_block must be at least 1")
    if resolution < 8 or resolution % (2 ** (len(channels) - 1)):
        raise RefinerError(
            "invalid_options",
            f"resolution {resolution} must be at least 8 and divisible by {2 ** (len(channels) - 1)} "
            f"for {len(channels)} levels",
        )


def build_scheduler():
    """DDIM over 1,000 training timesteps.

    ``trailing`` spacing makes the first of any number of inference steps t = 999, so
    strength 1 really starts from noise and a strength maps to a timestep without offset;
    clipping the predicted clean image keeps it in [-1, 1].
    """
    from diffusers import DDIMScheduler

    return DDIMScheduler(
        num_train_timesteps=TRAIN_TIMESTEPS,
        beta_schedule="linear",
        beta_start=0.0001,
        beta_end=0.02,
        prediction_type="epsilon",
        clip_sample=True,
        set_alpha_to_one=True,
        timestep_spacing="trailing",
    )


def count_parameters(module) -> int:
    return sum(p.numel() for p in module.parameters())


# ---------------------------------------------------------------------------------------------
# Folders


def folder_sha256(path: str | Path) -> str:
    """Content hash of a model folder: sha256 over its regular files in sorted relative-path order.

    For each file: the POSIX relative path (UTF-8), a NUL, the byte length in decimal, a NUL,
    then the bytes. The length keeps two different splits of the same bytes apart. File
    times and permissions do not count; so two copies of one folder hash the same.
    """
    root = Path(path)
    if not root.is_dir():
        raise RefinerError("not_found", f"model folder {root} does not exist")
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

    The weights are stored in float16, half the bytes; :meth:`Refiner.load` runs them in float32.
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


# ---------------------------------------------------------------------------------------------
# Inference


def _check_images(images) -> None:
    if not isinstance(images, np.ndarray):
        raise RefinerError("invalid_images", f"images must be a numpy array, got {type(images).__name__}")
    if images.dtype != np.uint8:
        raise RefinerError("invalid_images", f"images must be uint8, got {images.dtype}")
    if images.ndim != 4 or images.shape[-1] != 3:
        raise RefinerError("invalid_images", f"images must be shaped [N, H, W, 3], got {list(images.shape)}")
    if min(images.shape[:3]) < 1:
        raise RefinerError("invalid_images", f"images must not be empty, got {list(images.shape)}")


def _check_strength(strength) -> float:
    if isinstance(strength, bool) or not isinstance(strength, (int, float)) or not math.isfinite(strength):
        raise RefinerError("invalid_strength", f"strength must be a number in (0, 1], got {strength!r}")
    if not 0 < strength <= 1:
        raise RefinerError("invalid_strength", f"strength must be in (0, 1], got {strength}")
    return float(strength)


def _check_steps(steps) -> int:
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)):
        raise RefinerError("invalid_steps", f"steps must be an integer, got {steps!r}")
    if not 1 <= steps <= TRAIN_TIMESTEPS:
        raise RefinerError("invalid_steps", f"steps must be between 1 and {TRAIN_TIMESTEPS}, got {steps}")
    return int(steps)


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**63:
        raise RefinerError("invalid_seed", f"seed must be an integer in [0, 2^63), got {seed!r}")
    return int(seed)


def denoising_steps(steps: int, strength: float) -> int:
    """How many of ``steps`` DDIM steps run at ``strength``: steps × strength rounded half up, at least one."""
    return min(steps, max(1, math.floor(steps * strength + 0.5)))


def _resize_batch(images: np.ndarray, width: int, height: int) -> np.ndarray:
    from PIL import Image

    return np.stack([np.asarray(Image.fromarray(image).resize((width, height), Image.LANCZOS)) for image in images])


def _to_model_space(images: np.ndarray):
    import torch

    return torch.from_numpy(images).permute(0, 3, 1, 2).to(torch.float32) / 127.5 - 1


def _to_uint8(samples) -> np.ndarray:
    import torch

    return ((samples.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


class Refiner:
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
        if not folder.is_dir():
            raise RefinerError("not_found", f"refiner folder {folder} does not exist")
        for part in (UNET_DIR, SCHEDULER_DIR):
            if not (folder / part).is_dir():
                raise RefinerError("invalid_model", f"{folder.name} has no {part}/ folder")
        if device != "cpu" and not device.startswith("cuda"):
            raise RefinerError("invalid_model", f"unsupported device {device!r}")
        metadata = {}
        if (folder / REFINER_JSON).is_file():
            try:
                metadata = json.loads((folder / REFINER_JSON).read_text(encoding="utf-8"))
            except (OSError, ValueError) as error:
                raise RefinerError("invalid_model", f"{folder.name}/{REFINER_JSON} is unreadable: {error}") from error
        import torch
        from diffusers import DDIMScheduler, UNet2DModel

        try:
            # A local folder only: from_pretrained never goes to the network for an existing path.
            unet = UNet2DModel.from_pretrained(
                folder / UNET_DIR, use_safetensors=True, low_cpu_mem_usage=False, torch_dtype=torch.float32
            )
            scheduler = DDIMScheduler.from_pretrained(folder / SCHEDULER_DIR)
        except (OSError, ValueError, RuntimeError, KeyError, TypeError) as error:
            raise RefinerError("invalid_model", f"{folder.name} is not a loadable refiner: {error}") from error
        # torch_dtype above: float32 whatever was stored, as half precision is slow or missing
        # for some CPU kernels.
        if unet.config.in_channels != 3 or unet.config.out_channels != 3:
            raise RefinerError("invalid_model", f"{folder.name}: the UNet must map 3 channels to 3")
        unet = unet.to(device).eval().requires_grad_(False)
        return cls(unet, scheduler.config, metadata, folder=folder, device=device)

    def _denoiser(self, tile: bool):
        """The UNet, or for seamless tiles a copy whose convolutions pad by wrapping around.

        With circular padding every pixel of the edge sees the opposite edge as its neighbour,
        as it will when the tile is repeated, so refinement cannot open a seam. A copy rather
        than a switch on the shared UNet, because other threads may be refining plain images.
        """
        if not tile:
            return self.unet
        import copy

        import torch

        with self._lock:
            if self._circular is None:
                circular = copy.deepcopy(self.unet)
                for module in circular.modules():
                    if isinstance(module, torch.nn.Conv2d) and any(module.padding):
                        module.padding_mode = "circular"
                self._circular = circular
            return self._circular

    def _scheduler(self):
        from diffusers import DDIMScheduler

        # A fresh scheduler per call: set_timesteps mutates it, and calls may overlap.
        return DDIMScheduler.from_config(self.scheduler_config)

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
        """
        import torch

        _check_images(images)
        strength = _check_strength(strength)
        steps = _check_steps(steps)
        seed = _check_seed(seed)
        n_images, height, width, _ = images.shape
        resized = (height, width) != (self.resolution, self.resolution)
        batch = _resize_batch(images, self.resolution, self.resolution) if resized else images

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
        return _resize_batch(refined, width, height) if resized else refined

    def sample(self, count: int, steps: int, seed: int) -> np.ndarray:
        """``count`` images from pure noise (strength 1): what the UNet alone has learned."""
        noise_source = np.zeros((count, self.resolution, self.resolution, 3), np.uint8)
        return self.refine(noise_source, 1.0, steps, seed)

    def warm_up(self) -> None:
        """One tiny refinement: the first call pays allocator and kernel selection costs."""
        self.refine(np.zeros((1, self.resolution, self.resolution, 3), np.uint8), 0.1, 10, 0)


# ---------------------------------------------------------------------------------------------
# Training


@dataclass(frozen=True)
class RefinerTrainingOptions:
    data: Path                              # images, flat or in class sub-folders (searched recursively)
    outdir: Path                            # run folder: snapshots/, samples/, model/
    resolution: int = 64                    # centre-cropped and resized to this on load
    steps: int = 3000                       # total optimizer steps (a resumed run counts from its snapshot)
    batch: int = 16
    lr: float = 5e-4                        # AdamW, after a linear warm-up
    warmup_steps: int = 100
    seed: int = 0
    resume: bool = False                    # continue from the newest snapshot in outdir/snapshots, if any
    snapshot_every: int = 250               # steps between snapshots (and sample grids)
    num_threads: int | None = None          # torch intra-op threads while training; None leaves it
    channels: tuple[int, ...] = DEFAULT_CHANNELS
    layers_per_block: int = 1
    attention: bool = True
    ema_decay: float = 0.999                # 0 disables the EMA (the raw weights are saved)
    sample_steps: int = 20                  # DDIM steps for the sample grids
    show_progress: bool = True              # the tqdm bar on stderr

    def check(self) -> None:
        for name in ("steps", "batch", "snapshot_every", "sample_steps"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise RefinerError("invalid_options", f"{name} must be a positive integer, got {value!r}")
        if not self.lr > 0:
            raise RefinerError("invalid_options", f"lr must be positive, got {self.lr}")
        if not 0 <= self.ema_decay < 1:
            raise RefinerError("invalid_options", f"ema_decay must be in [0, 1), got {self.ema_decay}")
        if self.num_threads is not None and self.num_threads < 1:
            raise RefinerError("invalid_options", "num_threads must be at least 1")
        _check_architecture(self.resolution, tuple(self.channels), self.layers_per_block)

    def to_json(self) -> dict:
        values = asdict(self)
        values["data"], values["outdir"] = str(self.data), str(self.outdir)
        values["channels"] = list(self.channels)
        return values


@dataclass(frozen=True)
class RefinerTrainingResult:
    outdir: Path                    # the run folder
    model_dir: Path                 # outdir/model: unet/, scheduler/, refiner.json — load or register this
    steps: int                      # optimizer steps done in all, resumed ones included
    resumed_from: int | None        # the snapshot's step when resumed
    seconds: float                  # wall time of this call's training
    final_loss: float               # mean loss of the last (up to) 50 steps of this call
    data_count: int
    samples_png: Path               # the final sample grid
    snapshot: Path                  # the newest snapshot


def list_training_images(folder: str | Path) -> list[Path]:
    """Image files under ``folder`` at any depth, hidden folders skipped, sorted by relative path."""
    root = Path(folder)
    if not root.is_dir():
        raise RefinerError("no_training_data", f"data folder {root} does not exist")
    found = []
    for path in root.rglob("*"):
        relative = path.relative_to(root)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
            found.append(path)
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def load_training_images(folder: str | Path, resolution: int) -> np.ndarray:
    """[N, R, R, 3] uint8: each image centre-cropped to a square and resized to ``resolution``."""
    from PIL import Image

    files = list_training_images(folder)
    if not files:
        raise RefinerError("no_training_data", f"no images in {folder}")
    arrays = []
    for path in files:
        try:
            with Image.open(path) as opened:
                image = opened.convert("RGB")
        except (OSError, ValueError) as error:
            raise RefinerError("unreadable_image", f"cannot read {path}: {error}") from error
        side = min(image.size)
        left, top = (image.width - side) // 2, (image.height - side) // 2
        image = image.crop((left, top, left + side, top + side))
        if image.size != (resolution, resolution):
            image = image.resize((resolution, resolution), Image.LANCZOS)
        arrays.append(np.asarray(image, dtype=np.uint8))
    return np.stack(arrays)


def _step_generator(seed: int, step: int):
    import torch

    # Every step draws from its own seed, so a resumed run sees exactly the batches,
    # augmentations, timesteps and noise the uninterrupted run would have.
    return torch.Generator().manual_seed((seed * 1_000_003 + step) % 2**63)


def _augment(images, generator):
    """The dihedral group of the square: a random horizontal flip and a random multiple of 90°."""
    import torch

    flips = torch.randint(0, 2, (len(images),), generator=generator)
    turns = torch.randint(0, 4, (len(images),), generator=generator)
    out = []
    for image, flip, turn in zip(images, flips.tolist(), turns.tolist()):
        if flip:
            image = image.flip(-1)
        out.append(torch.rot90(image, turn, dims=(-2, -1)))
    return torch.stack(out)


def _snapshot_path(outdir: Path, step: int) -> Path:
    return outdir / SNAPSHOT_DIR / f"snapshot-{step:07d}.pt"


def newest_snapshot(outdir: str | Path) -> Path | None:
    folder = Path(outdir) / SNAPSHOT_DIR
    if not folder.is_dir():
        return None
    found = [(int(m[1]), p) for p in folder.glob("snapshot-*.pt") if (m := re.fullmatch(r"snapshot-(\d+)\.pt", p.name))]
    return max(found)[1] if found else None


def _sample_grid(unet, scheduler_config: dict, reals: np.ndarray, resolution: int, steps: int, seed: int) -> np.ndarray:
    """Three rows: real images; the same refined at strength 0.5; samples from pure noise."""
    refiner = Refiner(unet, scheduler_config, {"resolution": resolution})
    refined = refiner.refine(reals, 0.5, steps, seed)
    sampled = refiner.sample(len(reals), steps, seed + 1)
    rows = [np.concatenate(list(row), axis=1) for row in (reals, refined, sampled)]
    return np.concatenate(rows, axis=0)


def _save_png(array: np.ndarray, path: Path) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


class _Ema:
    """Exponential moving average of the parameters, with the usual (1 + s) / (10 + s) warm-up."""

    def __init__(self, module, decay: float):
        import copy

        self.decay = decay
        self.module = copy.deepcopy(module).eval().requires_grad_(False)

    def update(self, module, step: int) -> None:
        import torch

        decay = min(self.decay, (1 + step) / (10 + step))
        with torch.no_grad():
            for averaged, current in zip(self.module.parameters(), module.parameters()):
                averaged.lerp_(current, 1 - decay)
            for averaged, current in zip(self.module.buffers(), module.buffers()):
                averaged.copy_(current)


def train_refiner(options: RefinerTrainingOptions, progress: ProgressCallback | None = None) -> RefinerTrainingResult:
    """Train the refiner's UNet (epsilon prediction, MSE) on ``options.data``; CPU is enough at 64 px.

    Writes ``outdir/snapshots/snapshot-NNNNNNN.pt`` every ``snapshot_every`` steps (weights,
    EMA, AdamW state, step; the last two kept), ``outdir/samples/samples-NNNNNNN.png`` beside
    each, and at the end ``outdir/model`` (the refiner folder, EMA weights) and
    ``outdir/samples.png``. With ``resume`` it continues from the newest snapshot up to
    ``options.steps`` in all. ``progress(step, steps, metrics)`` after every step.
    """
    import torch
    import torch.nn.functional as F
    from tqdm import tqdm

    options.check()
    outdir = Path(options.outdir)
    previous_threads = torch.get_num_threads()
    if options.num_threads:
        torch.set_num_threads(options.num_threads)
    try:
        data = load_training_images(options.data, options.resolution)
        reals = torch.from_numpy(data).permute(0, 3, 1, 2).contiguous()
        torch.manual_seed(options.seed)  # the UNet's initial weights
        unet = build_unet(options.resolution, options.channels, options.layers_per_block, options.attention)
        scheduler = build_scheduler()
        optimizer = torch.optim.AdamW(unet.parameters(), lr=options.lr, weight_decay=0.0)
        ema = _Ema(unet, options.ema_decay) if options.ema_decay > 0 else None

        start_step, resumed_from = 0, None
        if options.resume and (snapshot := newest_snapshot(outdir)) is not None:
            # weights_only: a snapshot is data (tensors, numbers, dicts), never code.
            state = torch.load(snapshot, map_location="cpu", weights_only=True)
            if state.get("unet_config") != _config_key(unet):
                raise RefinerError(
                    "resume_mismatch", f"{snapshot.name} was trained with another UNet shape or resolution"
                )
            unet.load_state_dict(state["unet"])
            optimizer.load_state_dict(state["optimizer"])
            if ema is not None:
                ema.module.load_state_dict(state["ema"] if state.get("ema") is not None else state["unet"])
            start_step = resumed_from = int(state["step"])
        elif newest_snapshot(outdir) is not None:
            # Training afresh beside an old run's snapshots would interleave the two runs, and the
            # newest-snapshot rule would later resume the wrong one.
            raise RefinerError("invalid_options", f"{outdir} already holds snapshots: resume, or use another outdir")
        (outdir / SNAPSHOT_DIR).mkdir(parents=True, exist_ok=True)

        grid_reals = data[np.linspace(0, len(data) - 1, min(8, len(data))).astype(int)]
        alphas = scheduler.alphas_cumprod
        recent: list[float] = []
        snapshot = newest_snapshot(outdir)
        started = time.perf_counter()
        unet.train()
        step = start_step
        bar = tqdm(total=options.steps, initial=start_step, unit="step", desc="refiner",
                   disable=not options.show_progress)
        with bar:
            while step < options.steps:
                generator = _step_generator(options.seed, step)
                indices = torch.randint(0, len(reals), (options.batch,), generator=generator)
                clean = _augment(reals[indices], generator).to(torch.float32) / 127.5 - 1
                noise = torch.randn(clean.shape, generator=generator)
                timesteps = torch.randint(0, TRAIN_TIMESTEPS, (options.batch,), generator=generator)
                root_alpha = alphas[timesteps].sqrt().view(-1, 1, 1, 1)
                noisy = root_alpha * clean + (1 - alphas[timesteps]).sqrt().view(-1, 1, 1, 1) * noise

                for group in optimizer.param_groups:
                    group["lr"] = options.lr * min(1.0, (step + 1) / max(options.warmup_steps, 1))
                loss = F.mse_loss(unet(noisy, timesteps).sample, noise)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
                optimizer.step()
                if ema is not None:
                    ema.update(unet, step)
                step += 1

                recent = (recent + [loss.item()])[-50:]
                metrics = {"loss": recent[-1], "loss_mean50": sum(recent) / len(recent)}
                bar.update(1)
                bar.set_postfix(loss=f"{metrics['loss_mean50']:.4f}")
                if progress is not None:
                    progress(step, options.steps, metrics)
                if step % options.snapshot_every == 0 or step == options.steps:
                    snapshot = _save_snapshot(outdir, step, unet, ema, optimizer, options)
                    averaged = ema.module if ema is not None else unet
                    grid = _sample_grid(averaged, scheduler.config, grid_reals, options.resolution,
                                        options.sample_steps, options.seed)
                    _save_png(grid, outdir / SAMPLES_DIR / f"samples-{step:07d}.png")
                    unet.train()
        seconds = time.perf_counter() - started

        final = ema.module if ema is not None else unet
        if snapshot is None:  # resumed at or past options.steps: nothing new was trained
            snapshot = _save_snapshot(outdir, step, unet, ema, optimizer, options)
        metadata = {
            "format": REFINER_FORMAT,
            "version": 1,
            "resolution": options.resolution,
            "training_steps": step,
            "data_count": int(len(data)),
            "data": Path(options.data).name,
            "seed": options.seed,
            "batch": options.batch,
            "lr": options.lr,
            "ema_decay": options.ema_decay,
            "parameters": count_parameters(final),
            "final_loss": round(sum(recent) / len(recent), 5) if recent else None,
        }
        model_dir = save_refiner_folder(outdir / MODEL_DIR, final, scheduler, metadata)
        grid = _sample_grid(final, scheduler.config, grid_reals, options.resolution, options.sample_steps, options.seed)
        samples_png = _save_png(grid, outdir / "samples.png")
        return RefinerTrainingResult(
            outdir=outdir,
            model_dir=model_dir,
            steps=step,
            resumed_from=resumed_from,
            seconds=seconds,
            final_loss=metadata["final_loss"] if recent else float("nan"),
            data_count=int(len(data)),
            samples_png=samples_png,
            snapshot=snapshot,
        )
    finally:
        torch.set_num_threads(previous_threads)


def _config_key(unet) -> dict:
    config = unet.config
    return {
        "sample_size": int(config.sample_size),
        "block_out_channels": [int(c) for c in config.block_out_channels],
        "layers_per_block": int(config.layers_per_block),
        "down_block_types": list(config.down_block_types),
    }


def _save_snapshot(outdir: Path, step: int, unet, ema, optimizer, options: RefinerTrainingOptions) -> Path:
    import torch

    path = _snapshot_path(outdir, step)
    partial = path.with_name(f".{path.name}.partial")
    torch.save(
        {
            "step": step,
            "unet": unet.state_dict(),
            "ema": ema.module.state_dict() if ema is not None else None,
            "optimizer": optimizer.state_dict(),
            "unet_config": _config_key(unet),
            "options": json.dumps(options.to_json()),
        },
        partial,
    )
    partial.replace(path)  # atomic: a killed run never leaves a truncated newest snapshot
    older = sorted(p for p in path.parent.glob("snapshot-*.pt") if p != path)
    for stale in older[: max(0, len(older) - (SNAPSHOTS_KEPT - 1))]:
        stale.unlink(missing_ok=True)
    return path


# ---------------------------------------------------------------------------------------------
# Quality


def _distances(real: np.ndarray, generated: np.ndarray) -> tuple[float, float]:
    """(Fréchet, KID) to the real rows, as ``evaluate_generator`` measures them (one set of rules).

    The kernel's 1/d assumes coordinates of order 1, so the unit-length embeddings are scaled
    by √d first (x·y/d is then the cosine), like the generator's evaluation does.
    """
    from .metrics import frechet_distance, kernel_inception_distance

    scale = math.sqrt(real.shape[1])
    return frechet_distance(real, generated), kernel_inception_distance(real * scale, generated * scale)


@dataclass(frozen=True)
class VariantQuality:
    name: str                       # "gan" or "refined@0.30"
    strength: float | None          # None for the GAN's own output
    n: int
    frechet: float                  # to the real images, classifier embeddings (lower is better)
    kernel: float                   # KID to the real images, embeddings × √d (lower is better)
    class_agreement: float          # share classified as the class the GAN was asked for
    pixel_change: float | None = None  # mean |refined - GAN| in 0..255, None for the GAN itself

    def to_json(self) -> dict:
        # Six significant digits, not decimals: the figures differ in the third or fourth.
        values = asdict(self)
        return {key: float(f"{value:.6g}") if isinstance(value, float) else value for key, value in values.items()}


@dataclass(frozen=True)
class QualityReport:
    real_n: int
    gan: VariantQuality
    refined: tuple[VariantQuality, ...]
    improving_strengths: tuple[float, ...]  # strengths better than the GAN on every criterion
    best_strength: float | None             # the improving strength with the lowest Fréchet distance
    default_on: bool                        # refinement helps: ship it switched on at best_strength
    rule: str = field(default="")           # the decision rule, in words

    def to_json(self) -> dict:
        return {
            "real_n": self.real_n,
            "gan": self.gan.to_json(),
            "refined": [variant.to_json() for variant in self.refined],
            "improving_strengths": list(self.improving_strengths),
            "best_strength": self.best_strength,
            "default_on": self.default_on,
            "rule": self.rule,
        }


def quality_report(
    *,
    real_embeddings: np.ndarray,                            # [R, D] of archive images
    requested: Sequence[int],                               # [G] class the GAN was asked for, classifier index
    gan_embeddings: np.ndarray,                             # [G, D] of the GAN's images
    gan_predicted: Sequence[int],                           # [G] classifier top-1 on them
    refined: Mapping[float, tuple[np.ndarray, Sequence[int]]],  # strength -> (embeddings, top-1) of refined images
    pixel_change: Mapping[float, float] | None = None,      # strength -> mean absolute pixel change
    agreement_tolerance: float = 0.0,                       # how much class agreement may drop and still count
) -> QualityReport:
    """Is refinement better than the GAN alone? Pure: embeddings and predictions in, a report out.

    A strength improves when, compared with the GAN's own images, it lowers the Fréchet
    distance **and** the KID to the archive **and** keeps the class agreement
    (within ``agreement_tolerance``): looking more like the archive is worthless if the motif
    that was asked for is lost. ``default_on`` is true when some strength improves.
    """
    requested = np.asarray(requested)
    real = np.asarray(real_embeddings, np.float64)

    def variant(name, strength, embeddings, predicted, change=None):
        predicted = np.asarray(predicted)
        if len(predicted) != len(requested) or len(embeddings) != len(requested):
            raise ValueError(
                f"{name}: {len(embeddings)} embeddings and {len(predicted)} predictions for {len(requested)} requests"
            )
        frechet, kernel = _distances(real, np.asarray(embeddings, np.float64))
        return VariantQuality(
            name=name,
            strength=strength,
            n=len(embeddings),
            frechet=frechet,
            kernel=kernel,
            class_agreement=float(np.mean(predicted == requested)),
            pixel_change=change,
        )

    gan = variant("gan", None, gan_embeddings, gan_predicted)
    variants = []
    for strength in sorted(refined):
        embeddings, predicted = refined[strength]
        change = (pixel_change or {}).get(strength)
        variants.append(variant(f"refined@{strength:.2f}", float(strength), embeddings, predicted,
                                None if change is None else float(change)))
    improving = [
        v for v in variants
        if v.frechet < gan.frechet and v.kernel < gan.kernel
        and v.class_agreement >= gan.class_agreement - agreement_tolerance
    ]
    best = min(improving, key=lambda v: v.frechet) if improving else None
    rule = (
        "on by default only if some strength lowers both the Fréchet distance and the KID to the "
        f"archive and keeps the class agreement within {agreement_tolerance:.3f} of the GAN's"
    )
    return QualityReport(
        real_n=len(real),
        gan=gan,
        refined=tuple(variants),
        improving_strengths=tuple(v.strength for v in improving),
        best_strength=best.strength if best else None,
        default_on=best is not None,
        rule=rule,
    )


def evaluate_refiner(
    *,
    refiner: Refiner,
    generator_path: str | Path,             # a stylegan2_ada checkpoint, conditional
    classifier_path: str | Path,            # .pt or .onnx; its embed() gives the features
    real_folder: str | Path,                # archive images (flat or class folders)
    seeds_per_class: int = 20,
    strengths: Sequence[float] = (0.1, 0.2, 0.3, 0.5),
    steps: int = 10,                        # what the generation service runs
    truncation_psi: float = 0.7,
    seed: int = 0,                          # refinement noise seed
    chunk: int = 32,                        # images refined per call, to bound memory
    grid_path: str | Path | None = None,    # write a comparison grid (GAN row, then one per strength)
    progress: Callable[[str], None] | None = None,
) -> QualityReport:
    """Generate ``seeds_per_class`` images per class (seeds 0.., const noise), refine them at each
    strength, embed and classify everything with the classifier, and compare with :func:`quality_report`.

    Real images are used at the refiner's resolution, like the generated ones, so resizing
    affects both sides alike.
    """
    import torch
    from PIL import Image

    from stylegan2_ada.checkpoint import load_generator
    from stylegan2_ada.generate import class_label, seed_to_z, to_uint8

    from .classifier import ClassifierEngine

    say = progress or (lambda message: None)
    loaded = load_generator(generator_path)
    G = loaded.G.eval()
    classifier = ClassifierEngine.load(classifier_path)
    if not loaded.class_names:
        raise RefinerError("invalid_options", "evaluate_refiner needs a conditional generator with class names")
    missing = [name for name in loaded.class_names if name not in classifier.class_names]
    if missing:
        raise RefinerError("invalid_options", f"the classifier does not know the generator's classes {missing}")

    say("generating")
    images, requested = [], []
    with torch.no_grad():
        for class_index, name in enumerate(loaded.class_names):
            label = class_label(G, class_index)
            for s in range(seeds_per_class):
                image = G(seed_to_z(s, G.z_dim), label, truncation_psi=truncation_psi, noise_mode="const")
                images.append(to_uint8(image)[0])
                requested.append(classifier.class_names.index(name))
    gan = np.stack(images)
    if gan.shape[1] != refiner.resolution:
        gan_for_metrics = _resize_batch(gan, refiner.resolution, refiner.resolution)
    else:
        gan_for_metrics = gan

    def embed_and_classify(batch: np.ndarray) -> tuple[np.ndarray, list[int]]:
        pil = [Image.fromarray(image) for image in batch]
        embeddings = np.concatenate([classifier.embed(pil[i:i + 64]) for i in range(0, len(pil), 64)])
        predicted = [p.top[0][0] for i in range(0, len(pil), 64) for p in classifier.predict(pil[i:i + 64])]
        return embeddings, predicted

    say("embedding the archive")
    real = load_training_images(real_folder, refiner.resolution)
    real_embeddings, _ = embed_and_classify(real)
    gan_embeddings, gan_predicted = embed_and_classify(gan_for_metrics)
    refined, changes, rows = {}, {}, [gan_for_metrics]
    for strength in strengths:
        say(f"refining at strength {strength}")
        out = np.concatenate([
            refiner.refine(gan_for_metrics[i:i + chunk], strength, steps, seed + i)
            for i in range(0, len(gan_for_metrics), chunk)
        ])
        refined[float(strength)] = embed_and_classify(out)
        changes[float(strength)] = float(np.abs(out.astype(np.int16) - gan_for_metrics.astype(np.int16)).mean())
        rows.append(out)
    if grid_path is not None:
        # One column per class (its first seed), one row per variant.
        picks = np.arange(0, len(gan_for_metrics), seeds_per_class)
        grid = np.concatenate([np.concatenate(list(row[picks]), axis=1) for row in rows], axis=0)
        _save_png(grid, Path(grid_path))
    return quality_report(
        real_embeddings=real_embeddings,
        requested=requested,
        gan_embeddings=gan_embeddings,
        gan_predicted=gan_predicted,
        refined=refined,
        pixel_change=changes,
    )
