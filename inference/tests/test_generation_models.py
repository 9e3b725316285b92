"""Generator models from the command line: an NVlabs pickle converted on registration, and
train_generator on a tiny archive (real training, a few steps)."""
import io
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from inference.models import ModelKind, ModelVersion
from motifs.demo_art import render_motif
from motifs.models import Motif
from stylegan2_ada.tests import nvlabs_format as nvlabs
from tests.factories import add_image

pytestmark = pytest.mark.django_db


@pytest.fixture
def conditional_pickle(tmp_path):
    G = nvlabs.generator_node(c_dim=2, num_fp16_res=0, conv_clamp=None, mapping_layers=2)
    D = nvlabs.discriminator_node(c_dim=2, num_fp16_res=0, conv_clamp=None)
    path = tmp_path / "study-network.pkl"
    nvlabs.write_network_pickle(path, G, D)
    return path


def test_an_nvlabs_pickle_is_converted_and_never_stored_as_a_pickle(conditional_pickle):
    out = StringIO()
    call_command("register_model", str(conditional_pickle), "--kind", "generator", "--class-names", "merak,kepiting",
                 "--activate", stdout=out)
    version = ModelVersion.objects.get(kind=ModelKind.GENERATOR)
    assert version.is_active and version.file_format == "safetensors" and version.path.endswith(".safetensors")
    assert version.class_map == {"merak": "merak", "kepiting": "kepiting"}
    assert "converted from the NVlabs pickle study-network.pkl" in version.notes


def test_a_conditional_pickle_needs_its_class_names(conditional_pickle):
    with pytest.raises(CommandError, match="class-names"):
        call_command("register_model", str(conditional_pickle), "--kind", "generator")
    assert not ModelVersion.objects.exists()


def test_a_pickle_that_runs_code_is_refused(tmp_path):
    import pickle

    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps(print))  # a global outside the allow-list
    with pytest.raises(CommandError):
        call_command("register_model", str(evil), "--kind", "generator", "--class-names", "merak")
    assert not ModelVersion.objects.exists()


def test_train_generator_trains_registers_and_reports(tmp_path, settings):
    settings.CUALIFY_DATA_DIR = tmp_path
    for slug in ("merak", "kepiting"):
        motif = Motif.objects.get(slug=slug)
        for seed in range(3):
            buffer = io.BytesIO()
            render_motif(slug, seed, 64).save(buffer, "PNG")
            add_image(motif, data=buffer.getvalue())
    out = StringIO()
    call_command("train_generator", "--kimg", "0.016", "--resolution", "32", "--batch", "4", "--activate",
                 stdout=out, stderr=StringIO(), verbosity=1)
    version = ModelVersion.objects.get(kind=ModelKind.GENERATOR, source="trained")
    assert version.is_active and sorted(version.class_names) == ["kepiting", "merak"]
    assert version.metrics["resolution"] == 32 and version.metrics["kimg"] >= 0.016
    assert "registered" in out.getvalue()
    # Before it trained it said what it knew of the time (nothing yet); the next run learns from this one.
    assert "time estimate: no earlier run here at 32 px, batch 4 on cpu" in out.getvalue()
    from inference.training import generator_time_estimate

    per_kimg = version.metrics["seconds_per_kimg"]
    assert f": {per_kimg:.0f} s per kimg)" in generator_time_estimate(kimg=10, resolution=32, batch=4, device="cpu")
    assert "no earlier run" in generator_time_estimate(kimg=10, resolution=64, batch=4, device="cpu")

    # Grown to 64 px with the projected discriminator in bf16, from the 32 px version's file.
    from inference.runtime import model_file

    out = StringIO()
    call_command("train_generator", "--kimg", "0.008", "--resolution", "64", "--batch", "4",
                 "--grow-from", str(model_file(version)), "--discriminator", "projected", "--bf16",
                 "--diversity", "1", stdout=out, stderr=StringIO(), verbosity=1)
    grown = ModelVersion.objects.filter(kind=ModelKind.GENERATOR, source="trained").latest("created")
    assert grown.pk != version.pk and not grown.is_active
    assert grown.metrics["resolution"] == 64 and grown.metrics["discriminator"] == "projected"
    assert grown.metrics["bf16"] is True and grown.metrics["grown_from"] == model_file(version).name
    assert "no earlier run here at 64 px, batch 4 on cpu" in out.getvalue()
    assert grown.metrics["diversity_weight"] == 1.0
    from stylegan2_ada.train import native_bf16

    # On a CPU without native bfloat16 the curator is told before the (much slower) run.
    assert ("warning: this CPU has no native bfloat16" in out.getvalue()) is not native_bf16("cpu")
    assert "no earlier run" in generator_time_estimate(kimg=10, resolution=64, batch=4, device="cpu")
    assert "s per kimg)" in generator_time_estimate(kimg=10, resolution=64, batch=4, device="cpu",
                                                    discriminator="projected", bf16=True)

    # By nearest latents, continuing the 32 px version's shipped file (its G_ema alone).
    out = StringIO()
    call_command("train_generator", "--kimg", "0.008", "--resolution", "32", "--batch", "4", "--objective", "imle",
                 "--resume", str(model_file(version)), stdout=out, stderr=StringIO(), verbosity=1)
    imle = ModelVersion.objects.filter(kind=ModelKind.GENERATOR, source="trained").latest("created")
    assert imle.metrics["objective"] == "imle" and imle.metrics["discriminator"] == "none"
    from stylegan2_ada.checkpoint import load_checkpoint

    continued = load_checkpoint(model_file(version), networks=("G_ema",)).kimg
    assert imle.metrics["kimg"] == round(continued + 0.008, 2)
    assert "no earlier run here at 32 px, batch 4 on cpu by nearest latents (IMLE)" in out.getvalue()
    assert "by nearest latents (IMLE): " in generator_time_estimate(kimg=10, resolution=32, batch=4, device="cpu",
                                                                    objective="imle")


@pytest.mark.parametrize("args, message", [
    (["--kimg", "0"], "--kimg"), (["--batch", "1"], "--batch"), (["--resume", "/no/such.safetensors"], "--resume"),
    (["--grow-from", "/no/such.safetensors"], "--grow-from"),
    (["--grow-from", __file__, "--resume", __file__], "give one of them"),
    (["--diversity", "-1"], "--diversity"),
    (["--objective", "imle", "--discriminator", "projected"], "without a discriminator"),
])
def test_train_generator_refuses_bad_arguments(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("train_generator", *args)


def test_train_refiner_trains_measures_registers_and_resumes(tmp_path, settings, generator, classifier):
    settings.CUALIFY_DATA_DIR = tmp_path
    motif = Motif.objects.get(slug="merak")
    for seed in range(6):  # six: one of them is held out for the measurement
        buffer = io.BytesIO()
        render_motif("merak", seed, 128).save(buffer, "PNG")
        add_image(motif, data=buffer.getvalue())
    out = StringIO()
    call_command("train_refiner", "--steps", "2", "--scale", "2", "--batch", "2", "--eval-per-motif", "1",
                 "--activate", stdout=out, stderr=StringIO(), verbosity=0)
    version = ModelVersion.objects.get(kind=ModelKind.REFINER)
    assert version.is_active and version.file_format == "diffusers" and version.metrics["steps"] == 2
    metrics = version.metrics
    # The shipped generator draws 64 px: x2 makes 128 px, measured against Lanczos on both counts.
    assert metrics["task"] == "super_resolution" and metrics["scale"] == 2 and metrics["output_resolution"] == 128
    assert metrics["held_out_n"] == 1 and metrics["generated_n"] == len(generator.class_names)
    for name in ("perceptual_lanczos", "perceptual_refined", "psnr_lanczos", "psnr_refined", "frechet_lanczos",
                 "frechet_refined", "frechet_floor", "agreement_lanczos", "agreement_refined"):
        assert isinstance(metrics[name], float), name
    # Two steps of training cannot beat Lanczos: the form must not tick it.
    assert metrics["default_on"] is False
    run = out.getvalue().split("--resume ")[-1].strip().rstrip(")")
    call_command("train_refiner", "--steps", "3", "--scale", "2", "--batch", "2", "--no-evaluate", "--resume", run,
                 stdout=StringIO(), stderr=StringIO(), verbosity=0)
    assert ModelVersion.objects.filter(kind=ModelKind.REFINER).count() == 2
    resumed = ModelVersion.objects.get(kind=ModelKind.REFINER, metrics__steps=3)
    assert "perceptual_refined" not in resumed.metrics and resumed.metrics["default_on"] is False


def test_train_refiner_scales_the_active_generator_to_512_px(generator):
    from inference.training import refiner_scale_for

    assert generator.metrics["resolution"] == 64 and refiner_scale_for(generator) == 8
    generator.metrics = {**generator.metrics, "resolution": 128}
    assert refiner_scale_for(generator) == 4 and refiner_scale_for(None) == 4
