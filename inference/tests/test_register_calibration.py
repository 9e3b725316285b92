"""register_model calibrates "not a known motif" for a classifier: on --calibrate-on class folders,
else on the archive, else not at all (and says so); bad folders register nothing."""
import json
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from inference import registry
from inference.models import ModelVersion
from motifs.demo_art import render_motif

from .conftest import SHIPPED_CLASSIFIER

pytestmark = pytest.mark.django_db

CLASSES = json.loads((settings.BASE_DIR / "weights" / "manifest.json").read_text())["models"][0]["class_names"]
# Folder names that are not class names but name the same motif (a motif alias, a motif's name).
FOLDER_NAMES = {"merak": "Peacock", "kepiting": "Crab", "kuda-laut": "Kuda Laut"}


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def photo_folders(root: Path, per_class: int = 4, classes=CLASSES, names=FOLDER_NAMES, seed: int = 61000) -> Path:
    """``root/<class or alias>/`` with ``per_class`` drawn photos of each motif."""
    for slug in classes:
        folder = root / names.get(slug, slug)
        folder.mkdir(parents=True, exist_ok=True)
        for number in range(per_class):
            render_motif(slug, seed + number, 160).save(folder / f"photo-{number}.jpg")
    return root


def nothing_registered():
    assert not ModelVersion.objects.exists()
    assert not (Path(settings.MEDIA_ROOT) / "models").exists(), "no model file may stay in media"


def test_calibrate_on_class_folders_stores_a_calibration_with_its_figures(tmp_path):
    folder = photo_folders(tmp_path / "photos")
    output = run("register_model", str(SHIPPED_CLASSIFIER), "--kind", "classifier", "--calibrate-on", str(folder))
    version = ModelVersion.objects.get()
    calibration = version.calibration
    assert 0 < calibration["min_confidence"] <= 1 and 0 <= calibration["max_distance"] <= 2
    assert len(calibration["prototypes"]) == len(calibration["prototype_labels"]) > 0
    assert set(calibration["prototype_labels"]) == set(range(len(CLASSES)))  # every class has prototypes
    metrics = calibration["metrics"]
    assert metrics["n_train"] == metrics["n_heldout"] == 2 * len(CLASSES)  # each class's photos in halves
    assert 0 <= metrics["heldout_acceptance"] <= 1 and 0 <= metrics["ood_false_acceptance"] <= 1
    assert metrics["calibrated_on"] == f"folder {folder.resolve()}" and metrics["calibration_seed"] == 0
    assert '"not a known motif" calibrated on' in output and "28 photos for the prototypes" in output
    # The thresholds the site will use come from that calibration.
    from inference.engines.ood import OODCalibration

    assert OODCalibration.from_json(calibration).min_confidence == calibration["min_confidence"]


def test_the_halves_are_the_same_for_the_same_seed_and_split_every_class():
    photos = {"a": [Path(f"a/{n}.jpg") for n in range(5)], "b": [Path(f"b/{n}.jpg") for n in range(2)]}
    halves = registry.split_in_halves(photos, seed=3)
    assert halves == registry.split_in_halves(photos, seed=3)
    assert [len(halves["train"]["a"]), len(halves["val"]["a"]), len(halves["train"]["b"]), len(halves["val"]["b"])] == [3, 2, 1, 1]
    assert sorted(halves["train"]["a"] + halves["val"]["a"]) == sorted(photos["a"])
    others = [registry.split_in_halves(photos, seed=seed)["train"]["a"] for seed in range(6)]
    assert len({tuple(half) for half in others}) > 1  # the seed chooses


def test_calibrate_on_an_already_registered_version_without_calibration_fills_it_in(tmp_path):
    version = registry.model_version_register(path=SHIPPED_CLASSIFIER, kind="classifier").version
    assert version.calibration == {}
    folder = photo_folders(tmp_path / "photos", per_class=2)
    output = run("register_model", str(SHIPPED_CLASSIFIER), "--kind", "classifier", "--calibrate-on", str(folder))
    version.refresh_from_db()
    assert "already registered" in output and version.calibration["metrics"]["n_train"] == len(CLASSES)
    with pytest.raises(CommandError, match="already registered .* with a calibration"):
        run("register_model", str(SHIPPED_CLASSIFIER), "--kind", "classifier", "--calibrate-on", str(folder))


def _one_class(root):
    photo_folders(root, classes=["merak"])


def _unknown_folders(root):
    photo_folders(root, per_class=2)
    photo_folders(root, per_class=2, classes=["merak"], names={"merak": "tumpal-jawa"})


def _no_known_folder(root):
    photo_folders(root, per_class=2, classes=["merak", "kepiting"], names={"merak": "ceplok", "kepiting": "parang"})


def _some_classes(root):
    photo_folders(root, per_class=2, classes=CLASSES[:5])


def _one_photo(root):
    photo_folders(root, per_class=2)
    for extra in (root / "Peacock").iterdir():
        extra.unlink()
        break


def _unreadable_photo(root):
    photo_folders(root, per_class=2)
    (root / "Crab" / "broken.jpg").write_bytes(b"not a jpeg at all")


@pytest.mark.parametrize("make,message", [
    (None, "is not a folder"),
    (lambda root: root.mkdir(), "holds no class folders"),
    (_one_class, r"holds one class \(merak\)"),
    (_no_known_folder, r"no folder of .* matches a class of the model \(ceplok, parang\)"),
    (_unknown_folders, "these folders match no class of the model: tumpal-jawa"),
    (_some_classes, "only some classes of the model; no photos of: kembang-setaman, kembang-setangkai"),
    (_one_photo, r"at least 2 photos .* too few in: merak \(1\)"),
    (_unreadable_photo, "not readable as an image: Crab/broken.jpg"),
], ids=["missing", "empty", "one-class", "no-class-matches", "unknown-folder", "some-classes", "one-photo", "unreadable"])
def test_a_bad_calibration_folder_is_a_clear_error_and_registers_nothing(tmp_path, make, message):
    root = tmp_path / "photos"
    if make is not None:
        make(root)
    with pytest.raises(CommandError, match=message):
        run("register_model", str(SHIPPED_CLASSIFIER), "--kind", "classifier", "--calibrate-on", str(root))
    nothing_registered()


def test_calibrate_on_is_for_classifiers_only(tmp_path):
    with pytest.raises(CommandError, match="classifiers only"):
        run("register_model", str(settings.BASE_DIR / "weights" / "generator-demo-64.safetensors"), "--kind", "generator",
            "--calibrate-on", str(photo_folders(tmp_path / "photos", per_class=1, classes=CLASSES[:2])))
    nothing_registered()


def test_without_data_the_version_is_registered_with_the_rule_off_and_says_so():
    output = run("register_model", str(SHIPPED_CLASSIFIER), "--kind", "classifier")
    version = ModelVersion.objects.get()
    assert version.calibration == {}
    assert '"not a known motif" is off for this version (no calibration)' in output
    assert "--calibrate-on" in output
    assert '"not a known motif" is off' in run("register_model", str(SHIPPED_CLASSIFIER), "--kind", "classifier")


def test_without_a_folder_the_archive_train_and_val_splits_calibrate_it():
    call_command("make_demo_dataset", count=3, size=96, no_progress=True, verbosity=0)
    output = run("register_model", str(SHIPPED_CLASSIFIER), "--kind", "classifier")
    calibration = ModelVersion.objects.get().calibration
    assert calibration["metrics"]["calibrated_on"] == "the archive's train and val splits"
    assert calibration["metrics"]["n_train"] == calibration["metrics"]["n_heldout"] == len(CLASSES)  # 3 = 1/1/1
    assert "calibrated on the archive" in output


def test_the_shipped_models_keep_their_own_calibration():
    registry.shipped_models_register(kinds=("classifier",))
    shipped = json.loads((SHIPPED_CLASSIFIER.parent / "classifier-demo-yolo11n-cls.calibration.json").read_text())
    assert ModelVersion.objects.get().calibration == shipped
