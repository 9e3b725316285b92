"""Training the refiner's UNet: the data loader, resumable snapshots, sample grids, EMA weights.

:func:`train_refiner` writes a refiner folder under ``<outdir>/model`` with resumable
snapshots and sample grids beside it. Torch is imported inside the functions.
"""
from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from core.limits import MAX_ENGINE_SIDE

from ..errors import RefinerError
from .folders import REFINER_FORMAT, save_png, save_refiner_folder
from .networks import (
    DEFAULT_CHANNELS,
    TRAIN_TIMESTEPS,
    build_scheduler,
    build_unet,
    check_architecture,
    count_parameters,
)
from .sampling import Refiner

MODEL_DIR = "model"  # under a training outdir: the clean folder to register or ship
SNAPSHOT_DIR = "snapshots"
SAMPLES_DIR = "samples"
SNAPSHOTS_KEPT = 2  # older snapshots are deleted: each one holds the optimizer too
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"})

ProgressCallback = Callable[[int, int, dict], None]


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
    device: str = "cpu"                     # torch device to train on ("cpu", "cuda", "cuda:1")

    def check(self) -> None:
        for name in ("steps", "batch", "snapshot_every", "sample_steps"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise RefinerError("bad_options", f"{name} must be a positive integer, got {value!r}")
        if not self.lr > 0:
            raise RefinerError("bad_options", f"lr must be positive, got {self.lr}")
        if not 0 <= self.ema_decay < 1:
            raise RefinerError("bad_options", f"ema_decay must be in [0, 1), got {self.ema_decay}")
        if self.num_threads is not None and self.num_threads < 1:
            raise RefinerError("bad_options", "num_threads must be at least 1")
        check_architecture(self.resolution, tuple(self.channels), self.layers_per_block)

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
    """[N, R, R, 3] uint8: each image centre-cropped to a square and resized to ``resolution``
    (cropped first, so no image is ever scaled past its own size or ``resolution``)."""

    if not 1 <= resolution <= MAX_ENGINE_SIDE:
        raise RefinerError("bad_options", f"resolution must be 1..{MAX_ENGINE_SIDE} px, got {resolution}")
    files = list_training_images(folder)
    if not files:
        raise RefinerError("no_training_data", f"no images in {folder}")
    return load_square_images(files, resolution)


def load_square_images(files, resolution: int) -> np.ndarray:
    """[N, R, R, 3] uint8 of ``files``, each centre-cropped to a square and Lanczos-resized to ``resolution``."""
    from PIL import Image

    arrays = []
    for path in files:
        try:
            with Image.open(path) as opened:
                image = opened.convert("RGB")
        except (OSError, ValueError) as error:
            raise RefinerError("bad_image", f"cannot read {path}: {error}") from error
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


def _sample_grid(unet, scheduler_config: dict, reals: np.ndarray, resolution: int, steps: int, seed: int,
                 device: str = "cpu") -> np.ndarray:
    """Three rows: real images; the same refined at strength 0.5; samples from pure noise."""
    refiner = Refiner(unet, scheduler_config, {"resolution": resolution}, device=device)
    refined = refiner.refine(reals, 0.5, steps, seed)
    sampled = refiner.sample(len(reals), steps, seed + 1)
    rows = [np.concatenate(list(row), axis=1) for row in (reals, refined, sampled)]
    return np.concatenate(rows, axis=0)



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
        unet = unet.to(options.device)
        scheduler = build_scheduler()
        optimizer = torch.optim.AdamW(unet.parameters(), lr=options.lr, weight_decay=0.0)
        ema = _Ema(unet, options.ema_decay) if options.ema_decay > 0 else None

        resumed_from = resume_or_refuse(outdir, options.resume, unet, optimizer, ema, _config_key(unet))
        start_step = resumed_from or 0
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
                # Batches are drawn on the CPU (the same per-step generator on every device).
                loss = F.mse_loss(unet(noisy.to(options.device), timesteps.to(options.device)).sample,
                                  noise.to(options.device))
                step, recent = optimizer_step(loss, unet, optimizer, ema, step, recent, bar, progress, options.steps)
                if step % options.snapshot_every == 0 or step == options.steps:
                    snapshot = save_snapshot(outdir, step, unet, ema, optimizer, options, _config_key(unet))
                    averaged = ema.module if ema is not None else unet
                    grid = _sample_grid(averaged, scheduler.config, grid_reals, options.resolution,
                                        options.sample_steps, options.seed, options.device)
                    save_png(grid, outdir / SAMPLES_DIR / f"samples-{step:07d}.png")
                    unet.train()
        seconds = time.perf_counter() - started

        final = ema.module if ema is not None else unet
        if snapshot is None:  # resumed at or past options.steps: nothing new was trained
            snapshot = save_snapshot(outdir, step, unet, ema, optimizer, options, _config_key(unet))
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
        grid = _sample_grid(final, scheduler.config, grid_reals, options.resolution, options.sample_steps, options.seed,
                            options.device)
        samples_png = save_png(grid, outdir / "samples.png")
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


def resume_or_refuse(outdir: Path, resume: bool, unet, optimizer, ema, config_key: dict) -> int | None:
    """With ``resume``, load the newest snapshot in ``outdir`` into the UNet, optimizer and EMA and
    return its step (None when there is none); without, refuse a folder that holds snapshots."""
    import torch

    snapshot = newest_snapshot(outdir)
    if resume and snapshot is not None:
        # weights_only: a snapshot is data (tensors, numbers, dicts), never code.
        state = torch.load(snapshot, map_location="cpu", weights_only=True)
        if state.get("unet_config") != config_key:
            raise RefinerError("bad_snapshot", f"{snapshot.name} was trained with another UNet shape or resolution")
        unet.load_state_dict(state["unet"])
        optimizer.load_state_dict(state["optimizer"])
        if ema is not None:
            ema.module.load_state_dict(state["ema"] if state.get("ema") is not None else state["unet"])
        return int(state["step"])
    if snapshot is not None:
        # Training afresh beside an old run's snapshots would interleave the two runs, and the
        # newest-snapshot rule would later resume the wrong one.
        raise RefinerError("bad_options", f"{outdir} already holds snapshots: resume, or use another outdir")
    return None


def optimizer_step(loss, unet, optimizer, ema, step: int, recent: list[float], bar, progress, steps: int):
    """Back-propagate ``loss``, clip, step, update the EMA; report on the bar and ``progress``.
    Returns (the next step, the last 50 losses)."""
    import torch

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
        progress(step, steps, metrics)
    return step, recent


def save_snapshot(outdir: Path, step: int, unet, ema, optimizer, options, config_key: dict) -> Path:
    """Weights, EMA, optimizer and step, written atomically; only the newest SNAPSHOTS_KEPT stay."""
    import torch

    path = _snapshot_path(outdir, step)
    partial = path.with_name(f".{path.name}.partial")
    torch.save(
        {
            "step": step,
            "unet": unet.state_dict(),
            "ema": ema.module.state_dict() if ema is not None else None,
            "optimizer": optimizer.state_dict(),
            "unet_config": config_key,
            "options": json.dumps(options.to_json()),
        },
        partial,
    )
    partial.replace(path)  # atomic: a killed run never leaves a truncated newest snapshot
    older = sorted(p for p in path.parent.glob("snapshot-*.pt") if p != path)
    for stale in older[: max(0, len(older) - (SNAPSHOTS_KEPT - 1))]:
        stale.unlink(missing_ok=True)
    return path
