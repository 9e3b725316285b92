import numpy as np
import pytest
import torch
from PIL import Image

from stylegan2_ada.checkpoint import load_checkpoint
from stylegan2_ada.train import DatasetError, Trainer, TrainingOptions, load_image_folder

pytestmark = pytest.mark.nodb


def write_dataset(root, classes=("Kembang", "Ampak"), per_class=4, size=16, sizes=None):
    rng = np.random.default_rng(0)
    for index, name in enumerate(classes):
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(per_class):
            side = sizes[i % len(sizes)] if sizes else size
            pixels = rng.integers(0, 255, (side, side, 3), dtype=np.uint8)
            pixels[..., index % 3] = 255  # classes differ in colour
            Image.fromarray(pixels).save(folder / f"{i}.png")
    return root


def tiny_options(tmp_path, **overrides):
    options = dict(data=str(tmp_path / "data"), outdir=str(tmp_path / "run"), kimg=0.032, batch_size=4,
                   z_dim=16, w_dim=16, channel_base=128, channel_max=16, r1_interval=2, ada_interval=2,
                   ada_kimg=0.02, ada_target=0.0, snapshot_kimg=0.016, progress=False)
    options.update(overrides)
    return TrainingOptions(**options)


def test_class_order_is_sorted_folder_names(tmp_path):
    write_dataset(tmp_path / "data", classes=("Kuntul", "Ampak", "Kembang"), per_class=2)
    dataset = load_image_folder(tmp_path / "data")
    assert dataset.class_names == ("Ampak", "Kembang", "Kuntul")
    assert dataset.images.shape == (6, 3, 16, 16) and dataset.labels.tolist() == [0, 0, 1, 1, 2, 2]


def test_bad_datasets_are_rejected_clearly(tmp_path):
    write_dataset(tmp_path / "few", per_class=1)
    with pytest.raises(DatasetError, match="too few images"):
        load_image_folder(tmp_path / "few", min_images=8)
    write_dataset(tmp_path / "mixed", per_class=2, sizes=[16, 32])
    with pytest.raises(DatasetError, match="mixed image sizes"):
        load_image_folder(tmp_path / "mixed")
    assert load_image_folder(tmp_path / "mixed", resolution=16).images.shape[-1] == 16
    write_dataset(tmp_path / "odd", per_class=2, size=24)
    with pytest.raises(DatasetError, match="power of two"):
        load_image_folder(tmp_path / "odd")
    with pytest.raises(DatasetError, match="power of two"):
        load_image_folder(tmp_path / "odd", resolution=20)
    (tmp_path / "mixed" / "Empty").mkdir()
    with pytest.raises(DatasetError, match="holds no images"):
        load_image_folder(tmp_path / "mixed", resolution=16)


def test_a_few_training_steps_change_weights_move_p_and_resume(tmp_path):
    write_dataset(tmp_path / "data")
    options = tiny_options(tmp_path)
    trainer = Trainer(options)
    before = {k: v.clone() for k, v in trainer.G.state_dict().items()}
    result = trainer.run()
    after = trainer.G.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before if "weight" in k)
    assert result.kimg == pytest.approx(0.032)
    assert result.augment_p > 0  # target 0 forces ADA to raise p
    assert sorted(p.name for p in (tmp_path / "run").glob("*.png")) == ["fakes00000016.png", "fakes00000032.png"]

    saved = load_checkpoint(result.checkpoint)
    assert saved.class_names == ("Ampak", "Kembang") and saved.kimg == pytest.approx(0.032)
    assert saved.augment["p"] == pytest.approx(result.augment_p)

    resumed = Trainer(tiny_options(tmp_path, resume=str(result.checkpoint), kimg=0.016))
    assert float(resumed.augment.p) == pytest.approx(result.augment_p)
    assert torch.equal(resumed.G.synthesis.b4.const, trainer.G.synthesis.b4.const)
    second = resumed.run()
    assert second.kimg == pytest.approx(0.048)


def test_resume_refuses_a_different_class_list(tmp_path):
    write_dataset(tmp_path / "data")
    result = Trainer(tiny_options(tmp_path, kimg=0.008)).run()
    write_dataset(tmp_path / "other", classes=("Ampak", "Kembang", "Kuntul"))
    with pytest.raises(ValueError, match="trained on classes"):
        Trainer(tiny_options(tmp_path, data=str(tmp_path / "other"), resume=str(result.checkpoint)))


def test_a_folder_of_images_without_class_folders_trains_unconditionally(tmp_path):
    root = tmp_path / "data"
    write_dataset(tmp_path / "tmp", classes=("only",), per_class=4)
    (tmp_path / "tmp" / "only").rename(root)
    dataset = load_image_folder(root)
    assert dataset.class_names == () and dataset.c_dim == 0
    result = Trainer(tiny_options(tmp_path, kimg=0.008), dataset=dataset).run()
    assert load_checkpoint(result.checkpoint).G_ema.c_dim == 0


def test_the_run_estimates_its_own_time_after_its_first_steps(tmp_path, capsys):
    from stylegan2_ada.train import format_duration

    write_dataset(tmp_path / "data")
    result = Trainer(tiny_options(tmp_path, estimate_steps=2, progress=True)).run()  # 8 steps in all
    assert result.estimated_seconds > 0
    assert "time estimate: about" in capsys.readouterr().err
    assert Trainer(tiny_options(tmp_path, outdir=str(tmp_path / "short"), kimg=0.008)).run().estimated_seconds is None
    assert [format_duration(s) for s in (40, 720, 6060)] == ["40 s", "12 min", "1 h 41 min"]


def test_mode_seeking_term_rewards_pairs_that_differ():
    from stylegan2_ada.train import mode_seeking_loss

    z = torch.randn(4, 8)
    same = torch.zeros(4, 3, 8, 8)
    apart = torch.cat([torch.zeros(2, 3, 8, 8), torch.ones(2, 3, 8, 8)])
    assert mode_seeking_loss(same, z) > 1000 * mode_seeking_loss(apart, z)
    images = (torch.rand(4, 3, 8, 8) * 0.1).requires_grad_(True)
    mode_seeking_loss(images, z).backward()
    # A step down the term moves the two images of each pair further apart.
    difference = (images[:2] - images[2:]).detach()
    step = -images.grad
    assert ((step[:2] - step[2:]) * difference).sum() > 0

def test_training_with_the_diversity_term_pairs_labels(tmp_path):
    write_dataset(tmp_path / "data")
    trainer = Trainer(tiny_options(tmp_path, kimg=0.008, diversity_weight=1.0))
    loss, c = trainer._generator_step(lambda fake, c: fake.mean() * 0)
    half = len(c) // 2
    assert torch.equal(c[:half], c[half:]) and loss.item() > 0
    assert trainer.run().kimg == pytest.approx(0.008)
    with pytest.raises(ValueError, match="batch size must be even"):
        TrainingOptions(data="x", outdir="y", batch_size=3, diversity_weight=1.0)
    with pytest.raises(ValueError, match="0 or more"):
        TrainingOptions(data="x", outdir="y", diversity_weight=-1.0)
