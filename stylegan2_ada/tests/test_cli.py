import numpy as np
import pytest
import torch
from PIL import Image

from stylegan2_ada.__main__ import main
from stylegan2_ada.checkpoint import load_generator
from stylegan2_ada.tests import nvlabs_format as nvlabs
from stylegan2_ada.tests.test_train import write_dataset

pytestmark = pytest.mark.nodb


@pytest.fixture
def conditional_pickle(tmp_path):
    path = tmp_path / "network-snapshot.pkl"
    nvlabs.write_network_pickle(path, nvlabs.generator_node(c_dim=3, num_fp16_res=2, conv_clamp=256),
                                nvlabs.discriminator_node(c_dim=3))
    return path


def test_generate_from_pickle_and_converted_checkpoint_writes_the_same_pngs(tmp_path, conditional_pickle):
    converted = tmp_path / "g.safetensors"
    assert main(["convert", "--network", str(conditional_pickle), "--output", str(converted),
                 "--class-names", "Ampak,Kembang,Kuntul"]) == 0
    for name, network in (("pkl", conditional_pickle), ("ours", converted)):
        assert main(["generate", "--network", str(network), "--seeds", "0-3", "--class", "1", "--trunc", "0.7",
                     "--noise-mode", "const", "--outdir", str(tmp_path / name)]) == 0
    names = sorted(p.name for p in (tmp_path / "pkl").iterdir())
    assert names == ["seed0000.png", "seed0001.png", "seed0002.png", "seed0003.png"]
    for name in names:
        assert np.array_equal(np.asarray(Image.open(tmp_path / "pkl" / name)),
                              np.asarray(Image.open(tmp_path / "ours" / name)))


def test_generated_png_follows_the_study_seed_and_8bit_conventions(tmp_path, conditional_pickle):
    assert main(["generate", "--network", str(conditional_pickle), "--seeds", "5", "--class", "2",
                 "--outdir", str(tmp_path), "--tile"]) == 0
    G = load_generator(conditional_pickle).G
    z = torch.from_numpy(np.random.RandomState(5).randn(1, G.z_dim))
    c = torch.zeros(1, 3)
    c[0, 2] = 1
    image = G(z, c, noise_mode="const", tile=True)
    expected = (image.permute(0, 2, 3, 1) * 127.5 + 128).clamp(0, 255).to(torch.uint8)[0].numpy()
    assert np.array_equal(np.asarray(Image.open(tmp_path / "seed0005.png")), expected)


def test_class_names_work_for_our_checkpoints_and_bad_classes_fail_cleanly(tmp_path, conditional_pickle, capsys):
    converted = tmp_path / "g.safetensors"
    main(["convert", "--network", str(conditional_pickle), "--output", str(converted),
          "--class-names", "Ampak,Kembang,Kuntul"])
    assert main(["generate", "--network", str(converted), "--seeds", "0", "--class", "Kuntul",
                 "--outdir", str(tmp_path / "named")]) == 0
    assert main(["generate", "--network", str(converted), "--seeds", "0", "--class", "7",
                 "--outdir", str(tmp_path / "bad")]) == 2
    assert "unknown class index 7" in capsys.readouterr().err
    assert main(["generate", "--network", str(tmp_path / "missing.pkl"), "--seeds", "0",
                 "--outdir", str(tmp_path / "bad")]) == 2


def test_style_mix_and_project_commands(tmp_path, conditional_pickle):
    assert main(["style-mix", "--network", str(conditional_pickle), "--rows", "0,1", "--cols", "2-4",
                 "--class", "0", "--outdir", str(tmp_path / "mix")]) == 0
    assert Image.open(tmp_path / "mix" / "grid.png").size == (4 * 32, 3 * 32)
    Image.fromarray(np.full((40, 50, 3), 180, np.uint8)).save(tmp_path / "motif.png")
    assert main(["project", "--network", str(conditional_pickle), "--target", str(tmp_path / "motif.png"),
                 "--class", "0", "--steps", "5", "--outdir", str(tmp_path / "proj")]) == 0
    assert np.load(tmp_path / "proj" / "projected_w.npy").shape[0] == 1
    assert (tmp_path / "proj" / "proj.png").exists()


def test_train_command_runs_on_a_tiny_folder(tmp_path, capsys):
    write_dataset(tmp_path / "data")
    assert main(["train", "--data", str(tmp_path / "data"), "--outdir", str(tmp_path / "run"), "--kimg", "0.008",
                 "--batch", "4", "--z-dim", "16", "--w-dim", "16", "--cbase", "128", "--cmax", "16",
                 "--snap", "1"]) == 0
    assert "s/kimg" in capsys.readouterr().out
    assert main(["train", "--data", str(tmp_path / "data"), "--outdir", str(tmp_path / "run"),
                 "--resolution", "48"]) == 2
