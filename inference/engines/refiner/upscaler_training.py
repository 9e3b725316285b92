"""Training the super-resolution refiner on the archive's own full-size images.

Each step takes random crops of the archive's images, makes the small image a generator would
draw from each (:func:`degrade`: blur, bicubic or area down-sampling, noise, JPEG, on a crop
whose colours were shifted a little), and teaches the UNet the residual between the crop and
the small image's bicubic enlargement (:mod:`.upscaler`). Every tenth image (sorted by path) is
held out for :mod:`.upscaler_quality`. Snapshots, resuming, sample grids and EMA as in
:mod:`.training`. Torch is imported inside the functions.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..errors import RefinerError
from .folders import REFINER_FORMAT, save_png, save_refiner_folder
from .networks import TRAIN_TIMESTEPS, count_parameters
from .training import (
    MODEL_DIR,
    SAMPLES_DIR,
    SNAPSHOT_DIR,
    ProgressCallback,
    _augment,
    _Ema,
    _step_generator,
    list_training_images,
    load_square_images,
    newest_snapshot,
    optimizer_step,
    resume_or_refuse,
    save_snapshot,
)
from .upscaler import (
    DEFAULT_STEPS,
    DEFAULT_UPSCALER_CHANNELS,
    RESIDUAL_SCALE,
    TASK,
    Upscaler,
    build_upscaler_scheduler,
    build_upscaler_unet,
    check_upscaler_architecture,
    enlarge,
    predict_residual,
)

HELD_OUT_EVERY = 10  # every tenth image is kept for evaluation, never trained on


@dataclass(frozen=True)
class UpscalerTrainingOptions:
    data: Path                              # full-size images, flat or in class folders
    outdir: Path                            # run folder: snapshots/, samples/, model/
    scale: int = 8                          # enlargement factor: 512 // the generator's size
    resolution: int = 512                   # the full size: images are centre-cropped and resized to it
    crop: int | None = None                 # training crop side at full size, None = 32 x scale
    steps: int = 2000
    batch: int = 8
    lr: float = 2e-4                        # AdamW, after a linear warm-up
    warmup_steps: int = 100
    seed: int = 0
    resume: bool = False
    snapshot_every: int = 250
    num_threads: int | None = None
    channels: tuple[int, ...] = DEFAULT_UPSCALER_CHANNELS
    layers_per_block: int = 1
    ema_decay: float = 0.999
    sample_steps: int = DEFAULT_STEPS
    show_progress: bool = True
    device: str = "cpu"

    @property
    def crop_side(self) -> int:
        return self.crop if self.crop is not None else 32 * self.scale

    def check(self) -> None:
        for name in ("steps", "batch", "snapshot_every", "sample_steps"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise RefinerError("bad_options", f"{name} must be a positive integer, got {value!r}")
        if not self.lr > 0:
            raise RefinerError("bad_options", f"lr must be positive, got {self.lr}")
        if not 0 <= self.ema_decay < 1:
            raise RefinerError("bad_options", f"ema_decay must be in [0, 1), got {self.ema_decay}")
        check_upscaler_architecture(self.scale, tuple(self.channels), self.layers_per_block)
        multiple = self.scale * 2 ** (len(self.channels) - 1)
        if self.crop_side % multiple or not multiple <= self.crop_side <= self.resolution:
            raise RefinerError("bad_options", f"the crop ({self.crop_side} px) must be a multiple of {multiple} "
                                              f"and at most the resolution ({self.resolution} px)")
        if self.resolution % self.scale:
            raise RefinerError("bad_options", f"resolution {self.resolution} is not divisible by scale {self.scale}")

    def to_json(self) -> dict:
        values = asdict(self)
        values["data"], values["outdir"] = str(self.data), str(self.outdir)
        values["channels"] = list(self.channels)
        return values


@dataclass(frozen=True)
class UpscalerTrainingResult:
    outdir: Path
    model_dir: Path
    steps: int
    resumed_from: int | None
    seconds: float
    final_loss: float
    data_count: int                 # images trained on (the held-out ones not counted)
    held_out: int
    samples_png: Path
    snapshot: Path


def split_held_out(files: list[Path]) -> tuple[list[Path], list[Path]]:
    """(training files, held-out files): every HELD_OUT_EVERY-th file of the sorted list is held out."""
    held = [path for index, path in enumerate(files) if index % HELD_OUT_EVERY == HELD_OUT_EVERY // 2]
    kept = [path for index, path in enumerate(files) if index % HELD_OUT_EVERY != HELD_OUT_EVERY // 2]
    return kept, held


def load_full_size(files: list[Path], resolution: int) -> np.ndarray:
    """[N, R, R, 3] uint8, centre-cropped squares resized (Lanczos) to ``resolution``."""
    return load_square_images(files, resolution)


def _uniform(generator, low: float, high: float, shape=()):
    import torch

    return low + (high - low) * torch.rand(shape, generator=generator)


def _gaussian_blur(images, sigma: float):
    import torch
    import torch.nn.functional as F

    radius = max(1, int(np.ceil(3 * sigma)))
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-(offsets ** 2) / (2 * sigma ** 2))
    kernel = kernel / kernel.sum()
    channels = images.shape[1]
    padded = F.pad(images, (radius,) * 4, mode="reflect")
    horizontal = F.conv2d(padded, kernel.view(1, 1, 1, -1).repeat(channels, 1, 1, 1), groups=channels)
    return F.conv2d(horizontal, kernel.view(1, 1, -1, 1).repeat(channels, 1, 1, 1), groups=channels)


def _jpeg(image, quality: int):
    import io

    import torch
    from PIL import Image

    array = ((image.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).numpy()
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", quality=quality)
    decoded = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))
    return torch.from_numpy(decoded.copy()).permute(2, 0, 1).to(torch.float32) / 127.5 - 1


def degrade(large, scale: int, generator):
    """What a generator's image looks like beside the full-size one: [B, 3, H, W] in [-1, 1] →
    [B, 3, H / scale, W / scale], each image on its own draw: a Gaussian blur (half the
    images), bicubic or area down-sampling, Gaussian noise (half), JPEG (a quarter), then
    rounded to 8 bits as the generator's PNGs are."""
    import torch
    import torch.nn.functional as F

    out = []
    height, width = large.shape[-2] // scale, large.shape[-1] // scale
    for image in large:
        image = image.unsqueeze(0)
        if torch.rand((), generator=generator) < 0.5:
            image = _gaussian_blur(image, float(_uniform(generator, 0.3, 0.3 * scale)))
        mode = "area" if torch.rand((), generator=generator) < 0.3 else "bicubic"
        small = F.interpolate(image, size=(height, width), mode=mode,
                              **({"antialias": True, "align_corners": False} if mode == "bicubic" else {}))
        if torch.rand((), generator=generator) < 0.5:
            small = small + torch.randn(small.shape, generator=generator) * float(_uniform(generator, 0.0, 0.03))
        small = small.clamp(-1, 1)[0]
        if torch.rand((), generator=generator) < 0.25:
            small = _jpeg(small, int(_uniform(generator, 70, 96)))
        out.append(((small + 1) * 127.5).round() / 127.5 - 1)
    return torch.stack(out)


def _colour_shift(images, generator):
    """A slight per-image, per-channel gain and offset on half of the crops (the generator's colours drift)."""
    import torch

    count = len(images)
    gain = _uniform(generator, 0.95, 1.05, (count, 3, 1, 1))
    offset = _uniform(generator, -0.03, 0.03, (count, 3, 1, 1))
    apply = (torch.rand((count, 1, 1, 1), generator=generator) < 0.5).float()
    shifted = (images + 1) * gain - 1 + offset
    return (apply * shifted + (1 - apply) * images).clamp(-1, 1)


def training_batch(reals, scale: int, crop: int, batch: int, generator):
    """(full-size crops, their degraded small images), both [-1, 1] float."""
    import torch

    indices = torch.randint(0, len(reals), (batch,), generator=generator)
    side = reals.shape[-1]
    tops = torch.randint(0, side - crop + 1, (batch,), generator=generator).tolist()
    lefts = torch.randint(0, side - crop + 1, (batch,), generator=generator).tolist()
    crops = torch.stack([reals[i, :, t:t + crop, left:left + crop] for i, t, left in zip(indices.tolist(), tops, lefts)])
    large = _colour_shift(_augment(crops, generator).to(torch.float32) / 127.5 - 1, generator)
    return large, degrade(large, scale, generator)


def downsample_for_evaluation(images: np.ndarray, scale: int) -> np.ndarray:
    """The archive's own way to the generator's size: Lanczos, as ``export_dataset --size`` does."""
    from PIL import Image

    side = images.shape[1] // scale
    return np.stack([np.asarray(Image.fromarray(image).resize((side, side), Image.LANCZOS)) for image in images])


def lanczos_enlarge(images: np.ndarray, scale: int) -> np.ndarray:
    from PIL import Image

    return np.stack([np.asarray(Image.fromarray(image).resize((image.shape[1] * scale, image.shape[0] * scale),
                                                              Image.LANCZOS)) for image in images])


def _sample_grid(upscaler: Upscaler, held: np.ndarray, steps: int, seed: int) -> np.ndarray:
    """Three rows: Lanczos enlargement, the upscaler's, the original."""
    small = downsample_for_evaluation(held, upscaler.scale)
    rows = [lanczos_enlarge(small, upscaler.scale), upscaler.refine(small, 1.0, steps, seed), held]
    return np.concatenate([np.concatenate(list(row), axis=1) for row in rows], axis=0)


def _config_key(unet) -> dict:
    config = unet.config
    return {"in_channels": int(config.in_channels), "block_out_channels": [int(c) for c in config.block_out_channels],
            "layers_per_block": int(config.layers_per_block), "task": TASK}


def train_upscaler(options: UpscalerTrainingOptions,
                   progress: ProgressCallback | None = None) -> UpscalerTrainingResult:
    """Train the upscaler's UNet (x0 of the scaled residual, MSE). Writes snapshots every
    ``snapshot_every`` steps (the last two kept) with a sample grid, and at the end
    ``outdir/model`` (EMA weights) and ``outdir/samples.png``; ``resume`` continues from the
    newest snapshot. ``progress(step, steps, metrics)`` after every step."""
    import torch
    import torch.nn.functional as F
    from tqdm import tqdm

    options.check()
    outdir = Path(options.outdir)
    previous_threads = torch.get_num_threads()
    if options.num_threads:
        torch.set_num_threads(options.num_threads)
    try:
        files = list_training_images(options.data)
        if len(files) < 2:
            raise RefinerError("no_training_data", f"{options.data} holds {len(files)} images, at least 2 are needed")
        train_files, held_files = split_held_out(files)
        data = load_full_size(train_files, options.resolution)
        held = load_full_size(held_files[:3] or train_files[:1], options.resolution)
        reals = torch.from_numpy(data).permute(0, 3, 1, 2).contiguous()
        torch.manual_seed(options.seed)
        unet = build_upscaler_unet(options.scale, options.channels, options.layers_per_block,
                                   sample_size=options.crop_side // options.scale).to(options.device)
        scheduler = build_upscaler_scheduler()
        optimizer = torch.optim.AdamW(unet.parameters(), lr=options.lr, weight_decay=0.0)
        ema = _Ema(unet, options.ema_decay) if options.ema_decay > 0 else None

        resumed_from = resume_or_refuse(outdir, options.resume, unet, optimizer, ema, _config_key(unet))
        start_step = resumed_from or 0
        (outdir / SNAPSHOT_DIR).mkdir(parents=True, exist_ok=True)

        alphas = scheduler.alphas_cumprod
        metadata_base = {"format": REFINER_FORMAT, "version": 2, "task": TASK, "scale": options.scale,
                         "resolution": options.resolution // options.scale, "output_resolution": options.resolution,
                         "default_steps": options.sample_steps}
        recent: list[float] = []
        snapshot = newest_snapshot(outdir)
        started = time.perf_counter()
        unet.train()
        step = start_step
        bar = tqdm(total=options.steps, initial=start_step, unit="step", desc="upscaler",
                   disable=not options.show_progress)
        with bar:
            while step < options.steps:
                generator = _step_generator(options.seed, step)
                large, small = training_batch(reals, options.scale, options.crop_side, options.batch, generator)
                residual = (large - enlarge(small, options.scale)) * RESIDUAL_SCALE
                noise = torch.randn(residual.shape, generator=generator)
                timesteps = torch.randint(0, TRAIN_TIMESTEPS, (options.batch,), generator=generator)
                alpha = alphas[timesteps].view(-1, 1, 1, 1)
                noisy = alpha.sqrt() * residual + (1 - alpha).sqrt() * noise
                for group in optimizer.param_groups:
                    group["lr"] = options.lr * min(1.0, (step + 1) / max(options.warmup_steps, 1))
                predicted = predict_residual(unet, noisy.to(options.device), small.to(options.device),
                                             timesteps.to(options.device), options.scale)
                loss = F.mse_loss(predicted, residual.to(options.device))
                step, recent = optimizer_step(loss, unet, optimizer, ema, step, recent, bar, progress, options.steps)
                if step % options.snapshot_every == 0 or step == options.steps:
                    snapshot = save_snapshot(outdir, step, unet, ema, optimizer, options, _config_key(unet))
                    averaged = ema.module if ema is not None else unet
                    upscaler = Upscaler(averaged, scheduler.config, metadata_base, device=options.device)
                    save_png(_sample_grid(upscaler, held, options.sample_steps, options.seed),
                             outdir / SAMPLES_DIR / f"samples-{step:07d}.png")
                    unet.train()
        seconds = time.perf_counter() - started
        final = ema.module if ema is not None else unet
        if snapshot is None:
            snapshot = save_snapshot(outdir, step, unet, ema, optimizer, options, _config_key(unet))
        metadata = {
            **metadata_base,
            "training_steps": step,
            "data_count": len(train_files),
            "held_out": len(held_files),
            "held_out_rule": f"every {HELD_OUT_EVERY}th image of the sorted file list, from the "
                             f"{HELD_OUT_EVERY // 2 + 1}th",
            "data": Path(options.data).name,
            "seed": options.seed,
            "batch": options.batch,
            "crop": options.crop_side,
            "lr": options.lr,
            "ema_decay": options.ema_decay,
            "parameters": count_parameters(final),
            "final_loss": round(sum(recent) / len(recent), 5) if recent else None,
        }
        model_dir = save_refiner_folder(outdir / MODEL_DIR, final, scheduler, metadata)
        upscaler = Upscaler(final, scheduler.config, metadata, device=options.device)
        samples_png = save_png(_sample_grid(upscaler, held, options.sample_steps, options.seed), outdir / "samples.png")
        return UpscalerTrainingResult(
            outdir=outdir, model_dir=model_dir, steps=step, resumed_from=resumed_from, seconds=seconds,
            final_loss=metadata["final_loss"] if recent else float("nan"), data_count=len(train_files),
            held_out=len(held_files), samples_png=samples_png, snapshot=snapshot,
        )
    finally:
        torch.set_num_threads(previous_threads)

