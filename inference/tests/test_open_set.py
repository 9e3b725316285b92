"""evaluate_classifier's open-set figures: how many strangers a version accepts as a known motif
(false acceptance) and how many correct photos it still accepts, by its own calibration."""
import json
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from inference import registry
from inference.engines.classifier import Prediction
from inference.engines.ood import OODCalibration
from inference.engines.strangers import STRANGER_KINDS, non_batik_images
from inference.evaluation import accepted_as_known, known_photo_acceptance, stranger_acceptance
from motifs.demo_art import render_motif

from .conftest import SHIPPED_CLASSIFIER

REAL_DEV = Path("/work/shared/data/real-batik-dev")


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def prediction(probabilities, embedding):
    probabilities = np.asarray(probabilities, dtype=np.float32)
    order = np.argsort(-probabilities)
    return Prediction(probabilities=probabilities, embedding=np.asarray(embedding, dtype=np.float32),
                      top=tuple((int(i), float(probabilities[i])) for i in order), preprocess_s=0.0, inference_s=0.0)


# --- the pure figures ---------------------------------------------------------------------------

@pytest.mark.nodb
def test_acceptance_follows_both_thresholds_and_everything_passes_without_a_calibration():
    calibration = OODCalibration(prototypes=np.eye(2, dtype=np.float32), prototype_labels=np.array([0, 1]),
                                 min_confidence=0.8, max_distance=0.2)
    near_and_sure = prediction([0.9, 0.1], [1.0, 0.1])
    near_but_unsure = prediction([0.6, 0.4], [1.0, 0.0])
    sure_but_far = prediction([0.95, 0.05], [0.2, 1.0])
    predictions = [near_and_sure, near_but_unsure, sure_but_far]
    assert accepted_as_known(calibration, predictions) == [True, False, False]
    assert accepted_as_known(None, predictions) == [True, True, True]


@pytest.mark.nodb
def test_known_photo_acceptance_counts_correct_photos_accepted():
    figures = known_photo_acceptance(accepted=[True, True, False, False, True], predicted=[0, 1, 1, 2, 2],
                                     truth=[0, 1, 1, 0, 0])
    assert figures["n"] == 5 and figures["n_correct"] == 3 and figures["n_correct_accepted"] == 2
    assert figures["correct_acceptance"] == pytest.approx(2 / 3, abs=1e-6)
    assert figures["acceptance"] == pytest.approx(3 / 5)
    assert figures["accepted_accuracy"] == pytest.approx(2 / 3, abs=1e-6)
    assert figures["wrong_rejected"] == pytest.approx(1 / 2)
    assert known_photo_acceptance([], [], [])["correct_acceptance"] is None


@pytest.mark.nodb
def test_stranger_acceptance_is_the_false_acceptance_overall_and_per_group():
    figures = stranger_acceptance([True, False, False, True, False], ["walls", "walls", ".", "screens", "screens"])
    assert (figures["n"], figures["n_accepted"], figures["false_acceptance"]) == (5, 2, 0.4)
    assert figures["by_group"] == {".": {"n": 1, "n_accepted": 0, "false_acceptance": 0.0},
                                   "screens": {"n": 2, "n_accepted": 1, "false_acceptance": 0.5},
                                   "walls": {"n": 2, "n_accepted": 1, "false_acceptance": 0.5}}


# --- the command, on the shipped classifier -----------------------------------------------------

def stranger_folder(root: Path) -> Path:
    """Strangers directly in ``root`` and in two subfolders."""
    (root / "screens").mkdir(parents=True)
    (root / "walls" / "deeper").mkdir(parents=True)
    images = non_batik_images(len(STRANGER_KINDS), 160, seed=9)
    for index, image in enumerate(images):
        folder = root if index < 4 else root / "screens" if index < 9 else root / "walls" / "deeper"
        image.save(folder / f"stranger-{index}.png")
    (root / "notes.txt").write_text("not an image")
    return root


def known_folder(root: Path) -> Path:
    for slug in ("merak", "kepiting", "ubur-ubur"):
        (root / slug).mkdir(parents=True)
        for seed in (62001, 62002):
            render_motif(slug, seed, 192).save(root / slug / f"{seed}.jpg")
    return root


@pytest.mark.django_db
def test_open_set_reports_the_false_acceptance_on_a_folder_of_strangers(classifier, tmp_path):
    strangers = stranger_folder(tmp_path / "strangers")
    data = json.loads(run("evaluate_classifier", "--folder", str(known_folder(tmp_path / "known")),
                          "--open-set", str(strangers), "--json"))
    open_set = data["open_set"]
    assert open_set["calibrated"] is True and open_set["note"] is None
    assert 0 < open_set["min_confidence"] <= 1 and open_set["max_distance"] >= 0
    folder = open_set["strangers"]["folder"]
    assert folder["n"] == len(STRANGER_KINDS) and folder["unreadable"] == 0
    assert set(folder["by_group"]) == {".", "screens", "walls"}
    assert [folder["by_group"][g]["n"] for g in (".", "screens", "walls")] == [4, 5, len(STRANGER_KINDS) - 9]
    assert 0 <= folder["false_acceptance"] <= 1 and open_set["false_acceptance"] == folder["false_acceptance"]
    # The usual report stands beside it, with the acceptance of correct photos.
    assert data["n"] == 6 and data["top1"] >= 0.8 and 0 <= data["macro_f1"] <= 1
    known = open_set["known"]
    assert known["n"] == 6 and 0 < known["n_correct"] <= 6 and 0 <= known["correct_acceptance"] <= 1
    assert known["n_correct_accepted"] <= known["n_correct"]


@pytest.mark.django_db
def test_synthetic_strangers_are_reported_by_kind(classifier, tmp_path):
    output = run("evaluate_classifier", "--folder", str(known_folder(tmp_path / "known")), "--synthetic-strangers",
                 str(len(STRANGER_KINDS)))
    assert "strangers accepted as a known motif (false acceptance):" in output
    assert "drawn non-batik photos" in output and "app_screenshot" in output and "correct photos accepted:" in output
    assert "n=6 top1=" in output


@pytest.mark.django_db
def test_strangers_alone_on_an_empty_archive_still_give_the_false_acceptance(classifier):
    data = json.loads(run("evaluate_classifier", "--synthetic-strangers", "14", "--json"))
    synthetic = data["open_set"]["strangers"]["synthetic"]
    assert synthetic["n"] == 14 and set(synthetic["by_group"]) == set(STRANGER_KINDS)
    assert 0 <= synthetic["false_acceptance"] <= 1
    assert data["folder"] is None and data["open_set"]["known"] is None and "no photos of known motifs" in data["note"]


@pytest.mark.django_db
def test_without_a_calibration_the_rule_is_off_and_everything_is_accepted(tmp_path):
    version = registry.model_version_register(path=SHIPPED_CLASSIFIER, kind="classifier", activate=True).version
    assert version.calibration == {}
    strangers = stranger_folder(tmp_path / "strangers")
    data = json.loads(run("evaluate_classifier", "--folder", str(known_folder(tmp_path / "known")),
                          "--open-set", str(strangers), "--json"))
    open_set = data["open_set"]
    assert open_set["calibrated"] is False and "is off for this version" in open_set["note"]
    assert open_set["false_acceptance"] == 1.0 and open_set["known"]["acceptance"] == 1.0
    assert open_set["min_confidence"] is None
    output = run("evaluate_classifier", "--open-set", str(strangers), "--folder", str(tmp_path / "known"))
    assert '"not a known motif" is off for this version (no calibration)' in output and "acceptance 1.0" in output


@pytest.mark.django_db
@pytest.mark.parametrize("args,message", [
    (["--open-set", "/nonexistent"], "--open-set: /nonexistent is not a folder"),
    (["--synthetic-strangers", "-1"], "--synthetic-strangers must be"),
])
def test_bad_open_set_arguments(classifier, args, message):
    with pytest.raises(CommandError, match=message):
        run("evaluate_classifier", *args)


@pytest.mark.django_db
def test_a_folder_without_images_is_a_clear_error(classifier, tmp_path):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(CommandError, match="holds no image"):
        run("evaluate_classifier", "--open-set", str(tmp_path / "empty"), "--folder", str(tmp_path))


@pytest.mark.django_db
@pytest.mark.skipif(not REAL_DEV.is_dir(), reason="the real photo dev set is not on this machine")
def test_real_batik_of_other_styles_are_strangers_to_the_demo_classifier(classifier):
    """Real photos of Javanese batik (ceplok, kawung, ...) are no Batik Cual motif of the demo model."""
    data = json.loads(run("evaluate_classifier", "--open-set", str(REAL_DEV), "--json"))
    folder = data["open_set"]["strangers"]["folder"]
    assert folder["n"] >= 100 and set(folder["by_group"]) >= {"ceplok", "kawung", "parang"}
    assert 0 <= folder["false_acceptance"] <= 1
