"""The super-resolution refiner: shapes, determinism, seamless tiles, a short training run that
resumes, the degradations, the rule that switches it on; and the shipped one against Lanczos."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from inference.engines.refiner import RefinerError, Upscaler, folder_sha256, load_refiner
from inference.engines.refiner.upscaler import build_upscaler_scheduler, build_upscaler_unet, enlarge
from inference.engines.refiner.upscaler_quality import AGREEMENT_TOLERANCE, decide, perceptual_distance, psnr
from inference.engines.refiner.upscaler_training import (
    UpscalerTrainingOptions,
    degrade,
    downsample_for_evaluation,
    lanczos_enlarge,
    split_held_out,
    train_upscaler,
)
from inference.generation.images import seam_error

pytestmark = [pytest.mark.nodb, pytest.mark.usefixtures("one_torch_thread")]

WEIGHTS = Path(__file__).resolve().parents[3] / "weights"
SHIPPED_UPSCALER = WEIGHTS / "refiner-sr-x8"
SHIPPED_GENERATOR = WEIGHTS / "generator-demo-64.safetensors"
TINY = {"scale": 4, "resolution": 64, "crop": 32, "channels": (8, 16), "batch": 2, "snapshot_every": 2,
        "sample_steps": 2, "num_threads": 1, "show_progress": False, "seed": 5}


def _renders(count: int, size: int, seed: int = 0) -> np.ndarray:
    from motifs.demo_art import MOTIF_SLUGS, render_motif

    return np.stack([np.asarray(render_motif(MOTIF_SLUGS[i % len(MOTIF_SLUGS)], seed + i, size).convert("RGB"))
                     for i in range(count)])


@pytest.fixture(scope="module")
def tiny_upscaler() -> Upscaler:
    import torch

    torch.manual_seed(0)
    unet = build_upscaler_unet(4, (8, 16)).eval()
    return Upscaler(unet, build_upscaler_scheduler().config, {"scale": 4, "default_steps": 2})


@pytest.fixture(scope="module")
def demo_folder(tmp_path_factory) -> Path:
    from PIL import Image

    root = tmp_path_factory.mktemp("upscaler-data")
    for index, image in enumerate(_renders(12, 64)):
        folder = root / f"class-{index % 2}"
        folder.mkdir(exist_ok=True)
        Image.fromarray(image).save(folder / f"{index:02d}.png")
    return root


def test_enlarges_by_its_scale_deterministically_for_a_seed(tiny_upscaler):
    small = _renders(2, 32)[:, :18, :22]         # not a multiple of the UNet's size step: padded, cropped
    first = tiny_upscaler.refine(small, 1.0, 2, seed=7)
    assert first.shape == (2, 72, 88, 3) and first.dtype == np.uint8
    assert np.array_equal(first, tiny_upscaler.refine(small, 1.0, 2, seed=7))
    assert not np.array_equal(first, tiny_upscaler.refine(small, 1.0, 2, seed=8))
    steps = []
    tiny_upscaler.refine(small, 1.0, 2, seed=7, callback=lambda i, n: steps.append((i, n)))
    assert steps == [(1, 2), (2, 2)]


def test_refuses_what_it_cannot_enlarge(tiny_upscaler):
    with pytest.raises(RefinerError, match="over 4096"):
        tiny_upscaler.refine(np.zeros((1, 1100, 1100, 3), np.uint8), 1.0, 1, 0)
    with pytest.raises(RefinerError, match="uint8"):
        tiny_upscaler.refine(np.zeros((1, 8, 8, 3), np.float32), 1.0, 1, 0)
    with pytest.raises(RefinerError, match="scale"):
        build_upscaler_unet(3)
    with pytest.raises(RefinerError, match="crop"):
        UpscalerTrainingOptions(data=Path("x"), outdir=Path("y"), scale=8, crop=100).check()


def test_the_bicubic_base_of_a_tile_wraps_around():
    import torch

    tile = torch.from_numpy(_tileable(16)).permute(2, 0, 1)[None].float()
    wrapped = enlarge(tile, 4, tile=True)[0].permute(1, 2, 0).round().clamp(0, 255).byte().numpy()
    clamped = enlarge(tile, 4, tile=False)[0].permute(1, 2, 0).round().clamp(0, 255).byte().numpy()
    assert seam_error(wrapped) <= 1.0 < seam_error(clamped)


def _tileable(side: int) -> np.ndarray:
    """A seamless tile: a sum of sines whose periods divide the side."""
    y, x = np.mgrid[0:side, 0:side] / side * 2 * np.pi
    channels = [np.sin(x * 2 + c) + np.cos(y * 3 - c) + np.sin((x + y) * 1) for c in range(3)]
    return ((np.stack(channels, axis=-1) + 3) / 6 * 255).astype(np.uint8)


def test_a_refined_tile_stays_seamless(tiny_upscaler):
    tile = _tileable(16)[None]
    plain = tiny_upscaler.refine(tile, 1.0, 2, seed=1)
    seamless = tiny_upscaler.refine(tile, 1.0, 2, seed=1, tile=True)
    assert seam_error(seamless[0]) <= 1.0 < seam_error(plain[0])


def test_degradations_give_eight_bit_small_images_of_the_right_size():
    import torch

    large = torch.from_numpy(_renders(4, 64)).permute(0, 3, 1, 2).float() / 127.5 - 1
    small = degrade(large, 4, torch.Generator().manual_seed(0))
    assert small.shape == (4, 3, 16, 16) and small.min() >= -1 and small.max() <= 1
    levels = (small + 1) * 127.5
    assert torch.allclose(levels, levels.round(), atol=1e-4)
    again = degrade(large, 4, torch.Generator().manual_seed(0))
    assert torch.equal(small, again)


def test_every_tenth_image_is_held_out():
    files = [Path(f"{index:03d}.png") for index in range(25)]
    kept, held = split_held_out(files)
    assert held == [Path("005.png"), Path("015.png")] and len(kept) == 23 and not set(kept) & set(held)


def test_two_steps_of_training_write_a_loadable_upscaler_and_resume(demo_folder, tmp_path):
    calls = []
    result = train_upscaler(UpscalerTrainingOptions(data=demo_folder, outdir=tmp_path, steps=2, **TINY),
                            progress=lambda step, steps, metrics: calls.append((step, steps)))
    assert calls == [(1, 2), (2, 2)] and result.steps == 2 and result.held_out == 1 and result.data_count == 11
    assert (tmp_path / "samples.png").is_file() and result.snapshot.is_file()
    metadata = json.loads((result.model_dir / "refiner.json").read_text())
    assert metadata["task"] == "super_resolution" and metadata["scale"] == 4 and metadata["training_steps"] == 2
    upscaler = load_refiner(result.model_dir)
    assert isinstance(upscaler, Upscaler) and upscaler.scale == 4
    assert upscaler.refine(_renders(1, 32)[:, :16, :16], 1.0, 2, 0).shape == (1, 64, 64, 3)

    resumed = train_upscaler(UpscalerTrainingOptions(data=demo_folder, outdir=tmp_path, steps=3, resume=True, **TINY))
    assert resumed.resumed_from == 2 and resumed.steps == 3
    with pytest.raises(RefinerError, match="already holds snapshots"):
        train_upscaler(UpscalerTrainingOptions(data=demo_folder, outdir=tmp_path, steps=3, **TINY))
    other = {**TINY, "channels": (16, 16)}
    with pytest.raises(RefinerError, match="another UNet"):
        train_upscaler(UpscalerTrainingOptions(data=demo_folder, outdir=tmp_path, steps=4, resume=True, **other))


def test_it_is_switched_on_only_when_it_beats_lanczos_and_keeps_the_motif():
    winning = dict(perceptual_lanczos=0.30, perceptual_refined=0.20, frechet_lanczos=50.0, frechet_refined=40.0,
                   agreement_lanczos=0.60, agreement_refined=0.60 - AGREEMENT_TOLERANCE)
    assert decide(**winning)
    assert not decide(**{**winning, "agreement_refined": 0.60 - AGREEMENT_TOLERANCE - 0.001})
    assert not decide(**{**winning, "perceptual_refined": 0.31})
    assert not decide(**{**winning, "frechet_refined": 50.0})


def test_psnr_and_the_perceptual_distance_rank_a_copy_above_a_blur():
    from inference.engines.neutral import NeutralFeatures

    original = _renders(2, 128)
    blurred = lanczos_enlarge(downsample_for_evaluation(original, 4), 4)
    neutral = NeutralFeatures()
    assert psnr(original, original) > 90 > psnr(blurred, original)
    assert perceptual_distance(neutral, original, original) < 1e-5 < perceptual_distance(neutral, blurred, original)


def test_the_shipped_upscaler_beats_lanczos_on_renders_it_never_saw_and_keeps_tiles_seamless():
    import torch

    from inference.engines.neutral import NeutralFeatures
    from stylegan2_ada.checkpoint import load_generator
    from stylegan2_ada.generate import class_label, seed_to_z, to_uint8

    entry = next(e for e in json.loads((WEIGHTS / "manifest.json").read_text())["models"] if e["kind"] == "refiner")
    assert entry["file"] == SHIPPED_UPSCALER.name and entry["sha256"] == folder_sha256(SHIPPED_UPSCALER)
    upscaler = load_refiner(SHIPPED_UPSCALER)
    assert isinstance(upscaler, Upscaler) and upscaler.scale == 8

    original = _renders(3, 512, seed=9000)   # seeds the demo archive does not use
    small = downsample_for_evaluation(original, 8)
    refined = upscaler.refine(small, 0.3, steps=upscaler.schedule_steps(0.3), seed=0)
    lanczos = lanczos_enlarge(small, 8)
    neutral = NeutralFeatures()
    assert perceptual_distance(neutral, refined, original) < perceptual_distance(neutral, lanczos, original)

    G = load_generator(SHIPPED_GENERATOR).G.eval()
    with torch.no_grad():
        tile = to_uint8(G(seed_to_z(3, G.z_dim), class_label(G, 2), noise_mode="const", tile=True))
    seamless = upscaler.refine(tile, 0.3, steps=upscaler.schedule_steps(0.3), seed=0, tile=True)
    # This 64 px tile is seamless (its edge as smooth as its inside); refined at 512 px it still is.
    assert seam_error(tile[0]) <= 1.0
    assert seamless.shape == (1, 512, 512, 3) and seam_error(seamless[0]) <= 1.0


def test_the_engine_command_line_trains_and_measures_an_upscaler(demo_folder, tmp_path, capsys):
    from inference.engines.__main__ import main

    assert main(["upscaler-train", "--data", str(demo_folder), "--outdir", str(tmp_path / "run"),
                 "--out", str(tmp_path / "model"), "--scale", "4", "--resolution", "64", "--crop", "32",
                 "--channels", "8,16", "--steps", "1", "--batch", "2", "--threads", "1", "--no-progress"]) == 0
    assert f"sha256={folder_sha256(tmp_path / 'model')}" in capsys.readouterr().out
    assert main(["upscaler-eval", "--refiner", str(tmp_path / "model"), "--generator", str(SHIPPED_GENERATOR),
                 "--classifier", str(WEIGHTS / "classifier-demo-yolo11n-cls.pt"), "--real", str(demo_folder),
                 "--seeds-per-class", "1", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["scale"] == 4 and metrics["held_out_n"] == 1 and metrics["generated_n"] == 14
    assert metrics["default_on"] is False  # one step of training does not beat Lanczos
    assert main(["upscaler-eval", "--refiner", str(demo_folder), "--generator", str(SHIPPED_GENERATOR),
                 "--classifier", "x", "--real", str(demo_folder)]) == 2
