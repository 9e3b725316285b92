"""import_images / export_dataset on small generated folders, bad cases included."""
import json
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.utils import translation

from motifs.models import Motif, MotifImage
from tests.factories import MotifFactory, add_image, image_bytes

pytestmark = pytest.mark.django_db


def stored_files() -> set[str]:
    root = Path(settings.MEDIA_ROOT)
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def assert_rows_and_files_match():
    assert stored_files() == set(MotifImage.objects.values_list("file", flat=True))


def run(*args) -> str:
    out = StringIO()
    with translation.override("en"):
        call_command(*args, "--no-progress", stdout=out)
    return out.getvalue()


@pytest.fixture
def class_folders(tmp_path):
    root = tmp_path / "incoming"
    (root / "Kembang_Kenanga").mkdir(parents=True)
    (root / "merak").mkdir()
    (root / "tumpal-jawa").mkdir()
    (root / "Kembang_Kenanga" / "a.jpg").write_bytes(image_bytes((200, 0, 0), fmt="JPEG"))
    (root / "Kembang_Kenanga" / "b.png").write_bytes(image_bytes((0, 200, 0), mode="RGBA", fmt="PNG"))
    (root / "Kembang_Kenanga" / "b-again.png").write_bytes(image_bytes((0, 200, 0), mode="RGBA", fmt="PNG"))
    (root / "merak" / "c.webp").write_bytes(image_bytes((0, 0, 200), fmt="WEBP", lossless=True))
    (root / "merak" / "notes.txt").write_text("not an image")
    (root / "merak" / "empty.jpg").write_bytes(b"")
    (root / "merak" / "cut.jpg").write_bytes(image_bytes((9, 9, 9), fmt="JPEG", size=(300, 300))[:500])
    (root / "merak" / ".hidden.jpg").write_bytes(image_bytes((1, 1, 1)))
    (root / "tumpal-jawa" / "d.jpg").write_bytes(image_bytes((50, 50, 50), fmt="JPEG"))
    return root


def test_import_reports_imported_duplicates_and_every_rejection(class_folders):
    report = run("import_images", str(class_folders))
    assert "imported: 3" in report
    assert "duplicates: 1" in report and "Kembang_Kenanga/b" in report
    assert "rejected: 4" in report
    for name, why in [("notes.txt", "not an image"), ("empty.jpg", "empty"), ("cut.jpg", "damaged"), ("d.jpg", "unknown class folder")]:
        line = next(row for row in report.splitlines() if name in row)
        assert why in line
    assert "tumpal-jawa" in report
    assert MotifImage.objects.filter(motif__slug="kembang-kenanga").count() == 2
    assert MotifImage.objects.filter(motif__slug="merak").count() == 1
    assert_rows_and_files_match()
    # Running again imports nothing new: every good file is now a duplicate.
    again = run("import_images", str(class_folders))
    assert "imported: 0" in again and "duplicates: 4" in again
    assert_rows_and_files_match()


def test_create_missing_makes_a_draft_motif(class_folders):
    report = run("import_images", str(class_folders), "--create-missing")
    motif = Motif.objects.get(slug="tumpal-jawa")
    assert motif.status == Motif.Status.DRAFT and motif.images.count() == 1
    assert "draft motifs created: tumpal-jawa" in report


def test_ultralytics_layout_keeps_its_splits(tmp_path):
    for split, colour in [("train", 10), ("val", 20), ("test", 30)]:
        folder = tmp_path / split / "kepiting"
        folder.mkdir(parents=True)
        (folder / "x.png").write_bytes(image_bytes((colour, 0, 0)))
    run("import_images", str(tmp_path))
    assert sorted(MotifImage.objects.values_list("split", flat=True)) == ["test", "train", "val"]


def test_decompression_bomb_in_a_folder_is_rejected(tmp_path, settings):
    settings.CUALIFY_MAX_IMAGE_PIXELS = 100 * 100
    (tmp_path / "merak").mkdir()
    (tmp_path / "merak" / "big.png").write_bytes(image_bytes(size=(200, 200)))
    report = run("import_images", str(tmp_path))
    assert "too many pixels" in report and "imported: 0" in report
    assert_rows_and_files_match()


def test_interrupted_import_leaves_no_orphans_and_can_run_again(class_folders, monkeypatch):
    real_save = MotifImage.save
    calls = {"n": 0}

    def save_then_interrupt(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # Ctrl-C while the second image is being written
        return real_save(self, *args, **kwargs)

    monkeypatch.setattr(MotifImage, "save", save_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        run("import_images", str(class_folders))
    assert MotifImage.objects.count() == 1
    assert_rows_and_files_match()
    monkeypatch.setattr(MotifImage, "save", real_save)
    report = run("import_images", str(class_folders))
    assert "imported: 2" in report
    assert_rows_and_files_match()


def test_leftover_file_of_a_killed_run_is_replaced_not_duplicated(tmp_path):
    (tmp_path / "merak").mkdir()
    data = image_bytes((7, 7, 7))
    (tmp_path / "merak" / "a.png").write_bytes(data)
    run("import_images", str(tmp_path))
    image = MotifImage.objects.get()
    name = image.file.name
    MotifImage.objects.filter(pk=image.pk).delete()  # the row is gone ...
    (Path(settings.MEDIA_ROOT) / name).write_bytes(b"half-written")  # ... a stale file stays
    run("import_images", str(tmp_path))
    image = MotifImage.objects.get()
    assert image.file.name == name and image.file.read() != b"half-written"
    assert_rows_and_files_match()


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="is not a folder"):
        run("import_images", str(tmp_path / "nope"))


# --- export --------------------------------------------------------------------------------

@pytest.fixture
def archive():
    """Two motifs with 40 and 10 consented images, plus one image without consent."""
    big, small = MotifFactory(slug="zz-big"), MotifFactory(slug="zz-small")
    for _ in range(40):
        add_image(big)
    for _ in range(10):
        add_image(small)
    add_image(small, source=MotifImage.Source.VISITOR, training_consent=False)
    return big, small


def read_split(out: Path) -> dict[str, dict[str, set[str]]]:
    layout = {}
    for split in ("train", "val", "test"):
        layout[split] = {c.name: {f.name for f in c.iterdir()} for c in (out / split).iterdir()}
    return layout


def test_export_splits_90_7_3_without_leaks_and_saves_the_assignment(archive, tmp_path):
    out = tmp_path / "ds"
    run("export_dataset", str(out), "--seed", "3")
    layout = read_split(out)
    assert {s: len(layout[s]["zz-big"]) for s in layout} == {"train": 36, "val": 3, "test": 1}
    assert {s: len(layout[s]["zz-small"]) for s in layout} == {"train": 8, "val": 1, "test": 1}
    shas = {s: {f.split(".")[0] for c in layout[s].values() for f in c} for s in layout}
    assert not (shas["train"] & shas["val"] or shas["train"] & shas["test"] or shas["val"] & shas["test"])
    assert MotifImage.objects.filter(split="unassigned", training_consent=True).count() == 0
    no_consent = MotifImage.objects.get(training_consent=False)
    assert no_consent.sha256 not in set().union(*shas.values())
    manifest = json.loads((out / "dataset.json").read_text())
    assert set(manifest["splits"]["test"]) == shas["test"]
    # A second export (any seed) reuses the stored splits: same test set.
    run("export_dataset", str(tmp_path / "again"), "--seed", "99")
    assert read_split(tmp_path / "again")["test"] == layout["test"]


def test_a_stored_split_wins(archive, tmp_path):
    big, _ = archive
    chosen = list(big.images.all()[:5])
    MotifImage.objects.filter(pk__in=[i.pk for i in chosen]).update(split="test")
    run("export_dataset", str(tmp_path / "ds"))
    test_files = read_split(tmp_path / "ds")["test"]["zz-big"]
    assert {f"{i.sha256}.png" for i in chosen} <= test_files and len(test_files) == 5


def test_augmented_files_exist_only_in_the_training_split(archive, tmp_path):
    out = tmp_path / "ds"
    report = run("export_dataset", str(out), "--augment", "2")
    layout = read_split(out)
    augmented = {s: [f for c in layout[s].values() for f in c if "_aug" in f] for s in layout}
    assert len(augmented["train"]) == 2 * 44 and not augmented["val"] and not augmented["test"]
    assert "augmented training files: 88" in report
    assert not MotifImage.objects.filter(file__contains="_aug").exists()


def test_flat_export_writes_plain_class_folders(archive, tmp_path):
    out = tmp_path / "flat"
    run("export_dataset", str(out), "--flat", "--size", "32")
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["zz-big", "zz-small"]
    assert len(list((out / "zz-big").iterdir())) == 40
    assert MotifImage.objects.filter(split="unassigned").count() == 51  # flat assigns nothing


def test_too_small_class_is_named_and_nothing_is_written(tmp_path):
    add_image(MotifFactory(slug="zz-tiny"))
    out = tmp_path / "ds"
    with pytest.raises(CommandError, match=r"zz-tiny \(1 images\)"):
        run("export_dataset", str(out))
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".ds")]


def test_export_refuses_a_non_empty_folder(archive, tmp_path):
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "keep.txt").write_text("mine")
    with pytest.raises(CommandError, match="not empty"):
        run("export_dataset", str(tmp_path / "ds"))
    assert (tmp_path / "ds" / "keep.txt").read_text() == "mine"


@pytest.mark.parametrize("args,message", [(["--augment", "-1"], "--augment"), (["--flat", "--augment", "1"], "--flat"), (["--size", "3"], "--size")])
def test_bad_export_arguments(tmp_path, args, message):
    with pytest.raises(CommandError, match=message):
        run("export_dataset", str(tmp_path / "ds"), *args)
