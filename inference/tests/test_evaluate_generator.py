"""evaluate_generator: the shipped generator measured against a few archive images with the
shipped classifier; the figures are printed, stored on the version and shown in the admin."""
import io
import json
from io import StringIO

import pytest
from django.contrib import admin
from django.core.management import CommandError, call_command
from django.utils import translation

from inference.admin import ModelVersionAdmin
from inference.models import ModelVersion
from motifs.demo_art import render_motif
from motifs.models import Motif, MotifImage
from tests.factories import add_image

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("one_torch_thread")]

ARCHIVED = ("merak", "kepiting", "kuda-laut")  # motifs given real images; the other 11 have none


def png(slug: str, seed: int) -> bytes:
    buffer = io.BytesIO()
    render_motif(slug, seed, 96).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def archive():
    """3 consented demo renders of each of three motifs, and two images that must not count."""
    for slug in ARCHIVED:
        motif = Motif.objects.get(slug=slug)
        for seed in range(3):
            add_image(motif, data=png(slug, 50000 + seed), source=MotifImage.Source.SYNTHETIC_DEMO)
    merak = Motif.objects.get(slug="merak")
    add_image(merak, data=png("merak", 50010), training_consent=False)
    add_image(merak, data=png("merak", 50011), source=MotifImage.Source.GENERATED)


def run(*args) -> str:
    out = StringIO()
    call_command("evaluate_generator", *args, "--verbosity", "0", stdout=out)
    return out.getvalue()


def test_json_output_has_the_figures_and_they_are_stored_on_the_version(classifier, generator, archive):
    trained_metrics = {k: v for k, v in generator.metrics.items() if k != "evaluation"}  # the manifest ships one
    data = json.loads(run("--json", "--per-class", "4"))

    assert data["frechet"] >= 0 and 0 <= data["agreement"] <= 1
    assert data["kid"] is not None and data["kid_overall"] is not None
    assert 0 < data["diversity"] <= 2 and 0 < data["diversity_real"] <= 2
    assert data["n"] == {"generated": 14 * 4, "real": 9, "motifs": 14, "motifs_with_kid": 3}
    assert data["classifier_version"] == classifier.pk and data["generator_version"] == generator.pk
    assert (data["per_class"], data["seed"], data["truncation"]) == (4, 0, 1.0)
    per_motif = data["per_motif"]
    assert set(per_motif) == set(generator.class_map.values()) and len(per_motif) == 14
    for slug, row in per_motif.items():
        assert row["n_generated"] == 4 and 0 <= row["agreement"] <= 1
        assert (row["kid"] is None) == (slug not in ARCHIVED)
        assert row["n_real"] == (3 if slug in ARCHIVED else 0)
    # The mean KID is over the motifs that have one.
    assert data["kid"] == pytest.approx(sum(per_motif[s]["kid"] for s in ARCHIVED) / 3, abs=1e-5)
    # The figures the generator's goals are stated in, flat.
    assert data["agreement_min"] == min(row["agreement"] for row in per_motif.values())
    # "Classify this": the intended motif and accepted under the classifier's calibration.
    assert 0 < data["recognised"] <= data["agreement"]
    assert all(0 <= row["recognised"] <= row["agreement"] for row in per_motif.values())
    assert data["diversity_archive"] == data["diversity_real"] and data["resolution"] == 64
    assert (data["frechet_neutral"], data["frechet_neutral_floor"]) == (
        data["neutral"]["frechet"], data["neutral"]["floor"]["frechet"])
    # The neutral ImageNet space, beside the archive against itself.
    neutral = data["neutral"]
    assert "ImageNet EfficientNet-Lite0" in neutral["features"]
    assert neutral["frechet"] > 0 and neutral["floor"]["frechet"] >= 0 and neutral["floor"]["kid_overall"] is not None
    assert neutral["pairs"] == 3 * 6 and 0 <= neutral["near_duplicates"] <= 18
    for slug, row in neutral["per_motif"].items():
        archived = slug in ARCHIVED
        assert (row["near_duplicates"] is not None) == archived and (row["closest_real_pair"] is not None) == archived
        assert row["kid_floor"] is None  # 3 archive images: halves of 1 and 2 are too few for a KID
        assert 0 < row["diversity"] <= 2

    generator.refresh_from_db()
    assert generator.metrics["evaluation"] == data
    assert {k: v for k, v in generator.metrics.items() if k != "evaluation"} == trained_metrics


def test_the_table_says_what_the_json_says_and_the_admin_shows_it(classifier, generator, archive):
    table = run("--per-class", "2", "--seed", "7")
    data = json.loads(run("--json", "--per-class", "2", "--seed", "7"))  # same seed: same figures

    neutral = data["neutral"]
    assert f"Fréchet {data['frechet']:.4f}" in table
    assert f"Fréchet {neutral['frechet']:.4f} ({neutral['floor']['frechet']:.4f})" in table
    assert f"near-duplicate pairs {neutral['near_duplicates']} of {neutral['pairs']}" in table
    assert f"agreement (the classifier calls a sample its motif)   {data['agreement']:.3f}" in table
    assert "kuda-laut" in table and "n generated 28, real 9" in table

    generator.refresh_from_db()
    model_admin = ModelVersionAdmin(ModelVersion, admin.site)
    with translation.override("en"):
        html = str(model_admin.metrics_table(generator))
    assert "Generator evaluation" in html and "merak" in html and f"{data['frechet']:.4f}" in html
    assert f"{neutral['frechet']:.4f} (archive against itself: {neutral['floor']['frechet']:.4f})" in html
    assert "near-duplicate pairs" in html
    assert "kimg" in html  # the training figures are still listed above it
    assert f"FD {data['frechet']:.3f}" in model_admin.headline_metrics(generator)


def test_without_an_active_classifier_it_is_a_clear_error(generator, archive):
    shipped = generator.metrics.get("evaluation")
    with pytest.raises(CommandError, match="no active classifier"):
        run("--json", "--per-class", "2")
    generator.refresh_from_db()
    assert generator.metrics.get("evaluation") == shipped


def test_an_archive_without_images_of_the_motifs_is_a_clear_error(classifier, generator):
    with pytest.raises(CommandError, match="fewer than 2 readable consented images"):
        run("--per-class", "2")


def test_without_a_generator_it_is_a_clear_error(classifier):
    with pytest.raises(CommandError, match="no active generator"):
        run()


@pytest.mark.parametrize("args,message", [
    (["--per-class", "1"], "--per-class must be between 2 and 256"),
    (["--per-class", "257"], "--per-class must be between 2 and 256"),
    (["--seed", "-1"], "--seed must be 0 or more"),
    (["--seed", str(2**32)], "seed must be 0..")],
)
def test_bad_arguments_are_refused(generator, args, message):
    with pytest.raises(CommandError, match=message):
        run(*args)


def test_an_unknown_or_non_generator_version_is_refused(classifier):
    with pytest.raises(CommandError, match="no generator version 9999"):
        run("--version", "9999")
    with pytest.raises(CommandError, match=f"no generator version {classifier.pk}"):
        run("--version", str(classifier.pk))


def test_the_admin_shows_the_shipped_figures_with_the_classifier_named_by_hash(generator):
    with translation.override("en"):
        html = str(ModelVersionAdmin(ModelVersion, admin.site).metrics_table(generator))
    shipped = generator.metrics["evaluation"]
    assert "Generator evaluation" in html and shipped["classifier_sha256"][:12] in html
    assert f"{shipped['frechet']:.4f}" in html and "bebek-setaman" in html


def test_a_generator_that_repeats_itself_is_caught_as_near_duplicates():
    """Neutral figures on hand-made sets: one motif's "samples" are one image four times (every
    pair a near-duplicate), another's are its archive images themselves (none, and a KID near
    the floor's)."""
    from inference.evaluation import neutral_evaluation

    real = {slug: [render_motif(slug, 60000 + seed, 64) for seed in range(6)] for slug in ("merak", "kepiting")}
    generated = {"merak": [render_motif("merak", 61000, 64)] * 4, "kepiting": list(real["kepiting"])}
    result = neutral_evaluation(["kepiting", "merak"], generated, real, seed=0)
    merak, kepiting = result["per_motif"]["merak"], result["per_motif"]["kepiting"]
    assert merak["near_duplicates"] == merak["pairs"] == 6 and merak["diversity"] == pytest.approx(0, abs=1e-6)
    assert kepiting["near_duplicates"] == 0 and kepiting["pairs"] == 15
    assert kepiting["diversity"] == pytest.approx(kepiting["diversity_real"])
    assert kepiting["kid"] < merak["kid"]
    assert result["near_duplicates"] == 6 and result["floor"]["kid"] is not None


def test_recognised_counts_answers_that_are_the_motif_and_accepted():
    from inference.engines.metrics import agreement
    from inference.evaluation import recognised_slugs

    predicted = ["merak", "merak", "kepiting", None]
    answered = recognised_slugs(predicted, [True, False, True, False])
    assert answered == ["merak", None, "kepiting", None]
    assert agreement(answered, ["merak"] * 4) == 0.25
    assert agreement(recognised_slugs(predicted, [True] * 4), ["merak", "kepiting", "kepiting", "merak"]) == 0.5
    with pytest.raises(ValueError):
        recognised_slugs(predicted, [True])
