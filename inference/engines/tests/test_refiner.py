"""The SDEdit refiner of earlier versions (no longer shipped; its folders still load): training
writes a loadable, resumable run; refinement is SDEdit and deterministic.

Tiny networks on a handful of 16 px demo renders keep this file fast. The refiner that ships,
super-resolution, is tested in test_upscaler.py."""
from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from inference.engines.refiner import (
    Refiner,
    RefinerError,
    RefinerTrainingOptions,
    denoising_steps,
    folder_sha256,
    list_training_images,
    quality_report,
    train_refiner,
)

pytestmark = [pytest.mark.nodb, pytest.mark.usefixtures("one_torch_thread")]

WEIGHTS = Path(__file__).resolve().parents[3] / "weights"
SHIPPED_GENERATOR = WEIGHTS / "generator-demo-64.safetensors"
TINY = {"resolution": 16, "channels": (8, 16), "batch": 2, "snapshot_every": 2, "sample_steps": 2,
        "num_threads": 1, "show_progress": False, "seed": 3}


@pytest.fixture(scope="module")
def demo_images(tmp_path_factory) -> Path:
    """Six renders: three in class folders one level down, three flat, one in a hidden folder (ignored)."""
    from motifs.demo_art import MOTIF_SLUGS, render_motif

    root = tmp_path_factory.mktemp("refiner-data")
    for index, slug in enumerate(MOTIF_SLUGS[:3]):
        (root / slug).mkdir()
        render_motif(slug, 40 + index, 32).save(root / slug / f"{index}.png")
        render_motif(slug, 50 + index, 40).save(root / f"flat-{index}.jpg")
    (root / ".cache").mkdir()
    render_motif(MOTIF_SLUGS[0], 1, 32).save(root / ".cache" / "skip.png")
    return root


@pytest.fixture(scope="module")
def tiny_run(demo_images, tmp_path_factory):
    outdir = tmp_path_factory.mktemp("refiner-run")
    calls = []
    result = train_refiner(RefinerTrainingOptions(data=demo_images, outdir=outdir, steps=2, **TINY),
                           progress=lambda step, steps, metrics: calls.append((step, steps, metrics)))
    return result, calls


@pytest.fixture(scope="module")
def tiny_refiner(tiny_run) -> Refiner:
    return Refiner.load(tiny_run[0].model_dir)


def _images(count=3, size=16, seed=0) -> np.ndarray:
    from motifs.demo_art import MOTIF_SLUGS, render_motif

    # render_motif draws 32 px at least; smaller test images are downscaled renders.
    return np.stack([
        np.asarray(render_motif(MOTIF_SLUGS[i], seed + i, max(size, 32)).resize((size, size)))
        for i in range(count)
    ])


def test_training_images_are_found_recursively_and_hidden_folders_are_skipped(demo_images):
    names = [path.relative_to(demo_images).as_posix() for path in list_training_images(demo_images)]
    assert len(names) == 6
    assert not any(name.startswith(".cache") for name in names)


def test_training_writes_a_loadable_model_folder_and_sample_grids(tiny_run):
    from PIL import Image

    result, calls = tiny_run
    assert result.steps == 2 and result.resumed_from is None and result.data_count == 6
    assert [(step, steps) for step, steps, _ in calls] == [(1, 2), (2, 2)]
    assert all(math.isfinite(metrics["loss"]) for _, _, metrics in calls)
    assert sorted(p.name for p in result.model_dir.iterdir()) == ["refiner.json", "scheduler", "unet"]
    assert (result.model_dir / "unet" / "diffusion_pytorch_model.safetensors").is_file()
    metadata = json.loads((result.model_dir / "refiner.json").read_text())
    assert metadata["resolution"] == 16 and metadata["training_steps"] == 2
    assert metadata["data_count"] == 6 and metadata["seed"] == 3
    with Image.open(result.samples_png) as grid:
        # rows: reals, reals refined at 0.5, samples from noise; one column per real (six here)
        assert grid.size == (6 * 16, 3 * 16)
    assert (result.outdir / "samples" / "samples-0000002.png").is_file()
    assert result.snapshot.name == "snapshot-0000002.pt"


def test_resume_continues_the_step_count_and_matches_an_uninterrupted_run(tiny_run, demo_images, tmp_path):
    import torch

    first, _ = tiny_run
    resumed_dir = tmp_path / "resumed"
    shutil.copytree(first.outdir, resumed_dir)
    calls = []
    resumed = train_refiner(
        RefinerTrainingOptions(data=demo_images, outdir=resumed_dir, steps=3, resume=True, **TINY),
        progress=lambda step, steps, metrics: calls.append(step),
    )
    assert resumed.resumed_from == 2 and resumed.steps == 3 and calls == [3]
    assert json.loads((resumed.model_dir / "refiner.json").read_text())["training_steps"] == 3

    straight = train_refiner(RefinerTrainingOptions(data=demo_images, outdir=tmp_path / "straight", steps=3, **TINY))
    a = torch.load(resumed.snapshot, weights_only=True)
    b = torch.load(straight.snapshot, weights_only=True)
    for key in ("unet", "ema"):
        for name, tensor in a[key].items():
            torch.testing.assert_close(tensor, b[key][name], msg=f"{key}.{name} differs after resuming")


def test_resume_refuses_a_snapshot_of_another_network_shape(tiny_run, demo_images, tmp_path):
    shutil.copytree(tiny_run[0].outdir, tmp_path / "run")
    options = {**TINY, "channels": (8, 8), "resume": True}
    with pytest.raises(RefinerError) as caught:
        train_refiner(RefinerTrainingOptions(data=demo_images, outdir=tmp_path / "run", steps=3, **options))
    assert caught.value.code == "bad_snapshot"


def test_training_afresh_into_a_run_with_snapshots_is_refused(tiny_run, demo_images, tmp_path):
    shutil.copytree(tiny_run[0].outdir, tmp_path / "run")
    with pytest.raises(RefinerError) as caught:
        train_refiner(RefinerTrainingOptions(data=demo_images, outdir=tmp_path / "run", steps=3, **TINY))
    assert caught.value.code == "bad_options"


def test_training_without_images_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(RefinerError) as caught:
        train_refiner(RefinerTrainingOptions(data=tmp_path / "empty", outdir=tmp_path / "out", steps=1, **TINY))
    assert caught.value.code == "no_training_data"


def test_refine_is_deterministic_for_a_seed_and_keeps_shape_and_dtype(tiny_refiner):
    images = _images()
    a = tiny_refiner.refine(images, 0.4, 5, seed=7)
    b = tiny_refiner.refine(images, 0.4, 5, seed=7)
    c = tiny_refiner.refine(images, 0.4, 5, seed=8)
    assert a.shape == images.shape and a.dtype == np.uint8
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def _mean_change(refiner, images, strengths, steps=10):
    return [np.abs(refiner.refine(images, s, steps, seed=1).astype(float) - images).mean() for s in strengths]


def test_higher_strength_changes_the_image_more(tiny_refiner):
    # Barely trained, the tiny UNet's output is arbitrary past mid strength; the shipped
    # refiner below checks the whole range.
    low, high = _mean_change(tiny_refiner, _images(count=4, seed=20), (0.05, 0.5))
    assert low < high


def test_images_of_another_size_come_back_at_their_own_size(tiny_refiner):
    images = np.ascontiguousarray(_images(count=2, size=32)[:, :20, :24])  # 20 x 24: not square, not 16 px
    out = tiny_refiner.refine(images, 0.3, 4, seed=0)
    assert out.shape == (2, 20, 24, 3) and out.dtype == np.uint8


def test_tile_refinement_pads_by_wrapping_so_a_shifted_tile_refines_to_the_shifted_result(tiny_refiner):
    import torch

    # Shift-equivariance of the circular UNet is what keeps a tile seamless: the wrap-around
    # seam is treated like any interior pixel. Shifts by a multiple of the 2x downsampling.
    x = torch.from_numpy(_images(count=1)).permute(0, 3, 1, 2).float() / 127.5 - 1
    t = torch.tensor(300)
    with torch.no_grad():
        out = tiny_refiner._denoiser(tile=True)(x, t).sample
        shifted = tiny_refiner._denoiser(tile=True)(torch.roll(x, (4, 6), dims=(2, 3)), t).sample
        plain = tiny_refiner._denoiser(tile=False)(torch.roll(x, (4, 6), dims=(2, 3)), t).sample
    torch.testing.assert_close(shifted, torch.roll(out, (4, 6), dims=(2, 3)), atol=1e-4, rtol=1e-4)
    assert not torch.allclose(plain, torch.roll(out, (4, 6), dims=(2, 3)), atol=1e-3)

    images = _images()
    tiled = tiny_refiner.refine(images, 0.4, 5, seed=7, tile=True)
    assert tiled.shape == images.shape and not np.array_equal(tiled, tiny_refiner.refine(images, 0.4, 5, seed=7))


def test_callback_reports_each_denoising_step(tiny_refiner):
    seen = []
    tiny_refiner.refine(_images(count=1), 0.3, 20, seed=0, callback=lambda i, n: seen.append((i, n)))
    assert denoising_steps(20, 0.3) == 6
    assert seen == [(i, 6) for i in range(1, 7)]


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"strength": 0.0}, "bad_strength"),
        ({"strength": 1.5}, "bad_strength"),
        ({"strength": float("nan")}, "bad_strength"),
        ({"strength": "0.5"}, "bad_strength"),
        ({"steps": 0}, "bad_steps"),
        ({"steps": 2.5}, "bad_steps"),
        ({"seed": -1}, "bad_seed"),
        ({"images": np.zeros((1, 16, 16, 3), np.float32)}, "bad_images"),
        ({"images": np.zeros((16, 16, 3), np.uint8)}, "bad_images"),
        ({"images": np.zeros((1, 16, 16, 4), np.uint8)}, "bad_images"),
        ({"images": np.zeros((0, 16, 16, 3), np.uint8)}, "bad_images"),
        ({"images": [[0]]}, "bad_images"),
        ({"images": np.zeros((1, 4097, 1, 3), np.uint8)}, "bad_images"),  # past MAX_ENGINE_SIDE
    ],
)
def test_bad_refine_arguments_raise_stable_codes(tiny_refiner, change, code):
    arguments = {"images": np.zeros((1, 16, 16, 3), np.uint8), "strength": 0.5, "steps": 4, "seed": 0, **change}
    with pytest.raises(RefinerError) as caught:
        tiny_refiner.refine(**arguments)
    assert caught.value.code == code


def test_loading_a_missing_or_incomplete_folder_raises_stable_codes(tmp_path):
    with pytest.raises(RefinerError) as missing:
        Refiner.load(tmp_path / "nowhere")
    (tmp_path / "half" / "scheduler").mkdir(parents=True)
    with pytest.raises(RefinerError) as incomplete:
        Refiner.load(tmp_path / "half")
    assert (missing.value.code, incomplete.value.code) == ("no_model", "bad_model")


def test_folder_hash_follows_content_not_location(tiny_run, tmp_path):
    model_dir = tiny_run[0].model_dir
    copy = shutil.copytree(model_dir, tmp_path / "copy")
    assert folder_sha256(copy) == folder_sha256(model_dir)
    (copy / "refiner.json").write_text((copy / "refiner.json").read_text() + " ")
    assert folder_sha256(copy) != folder_sha256(model_dir)


def test_quality_report_turns_refinement_on_only_when_it_helps_and_keeps_the_class():
    rng = np.random.default_rng(1)
    real = rng.normal(size=(300, 6))
    requested = np.repeat(np.arange(3), 100)
    wrong = (requested + 1) % 3
    gan = rng.normal(0.6, 1, (300, 6))
    closer = rng.normal(0.1, 1, (300, 6))
    report = quality_report(
        real_embeddings=real, requested=requested, gan_embeddings=gan, gan_predicted=requested,
        refined={0.3: (closer, requested), 0.6: (closer, wrong)}, pixel_change={0.3: 4.0, 0.6: 9.0},
    )
    assert report.default_on and report.best_strength == 0.3 and report.improving_strengths == (0.3,)
    assert report.gan.class_agreement == 1.0 and report.refined[1].class_agreement == 0.0
    assert json.loads(json.dumps(report.to_json()))["refined"][0]["pixel_change"] == 4.0

    worse = quality_report(
        real_embeddings=real, requested=requested, gan_embeddings=closer, gan_predicted=requested,
        refined={0.3: (gan, requested)},
    )
    assert not worse.default_on and worse.best_strength is None


def test_an_sdedit_refiner_folder_still_loads_as_one(tiny_run):
    """The 64 px SDEdit refiner no longer ships, but folders of that kind (registry rows of
    earlier sites) load as what they are, and refine at their own size."""
    from inference.engines.refiner import Upscaler, load_refiner

    refiner = load_refiner(tiny_run[0].model_dir)
    assert isinstance(refiner, Refiner) and not isinstance(refiner, Upscaler)
    assert refiner.output_side(16) == 16 and refiner.schedule_steps(0.5) == 20
    assert refiner.refine(_images(1), 0.5, 4, seed=0).shape == (1, 16, 16, 3)
