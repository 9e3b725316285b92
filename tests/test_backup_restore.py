"""Backup and restore, exercised end to end in every CI pass (SQLite and MariaDB): a small
archive with images, a visitor's classification and a generation job is backed up, the site is
wiped (flush + media folder), restored, and every row and file byte compared."""
import io
import json
import shutil
import tarfile
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.files.base import ContentFile
from django.core.management import CommandError, call_command
from django.db import connection

from core.backup import dumped_models
from inference.models import ClassificationRecord, Correction, GeneratedImage, GenerationJob
from motifs.models import MotifImage
from tests.factories import MotifFactory, OwnershipFactory, UserFactory, add_image, image_bytes

pytestmark = pytest.mark.django_db(transaction=True)


def build_site():
    """A few motifs with images, a registered user's classification (photo, heat map and a
    correction), an anonymous generation job (reference and two results, one promoted)."""
    motifs = [MotifFactory() for _ in range(3)]
    OwnershipFactory(motif=motifs[0])
    for motif in motifs:
        add_image(motif)
        add_image(motif)
    user = UserFactory(username="sari")
    UserFactory(username="kurator", curator=True)
    record = ClassificationRecord(user=user, sha256="0" * 64, width=64, height=64, status="done", motif=motifs[0],
                                  recognised=True, confidence=0.9,
                                  top=[{"label": "a", "slug": motifs[0].slug, "probability": 0.9}], timings={"inference_s": 0.01})
    record.image.save("photo.jpg", ContentFile(image_bytes((1, 2, 3), fmt="JPEG")), save=False)
    record.saliency.save("saliency.jpg", ContentFile(image_bytes((4, 5, 6), fmt="JPEG")), save=False)
    record.save()
    Correction.objects.create(record=record, kind="motif", motif=motifs[1], comment="ini kepiting")
    job = GenerationJob(mode="variation", seed=7, count=2, status="succeeded", session_key="s" * 32, progress=1.0,
                        model_versions={"generator": {"id": 1}}, timings={"total_s": 1.5})
    job.reference.save("reference.png", ContentFile(image_bytes((7, 8, 9))), save=False)
    job.save()
    for index in range(2):
        image = GeneratedImage(job=job, index=index, seed=7 + index, width=64, height=64, metadata={"seed": str(7 + index)})
        image.file.save("image.png", ContentFile(image_bytes((10 + index, 20, 30))), save=False)
        image.save()
    promoted = job.images.first()
    promoted.archive_image = add_image(motifs[2], source=MotifImage.Source.GENERATED)
    promoted.save()


def site_state():
    """Every backed-up row (by model, in pk order), group permissions, and every media file's bytes."""
    rows = {m._meta.label: list(m._base_manager.order_by("pk").values()) for m in dumped_models()}
    rows["group permissions"] = {g.name: sorted(g.permissions.values_list("codename", flat=True)) for g in Group.objects.all()}
    root = Path(settings.MEDIA_ROOT)
    files = {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
    return rows, files


def wipe():
    call_command("flush", interactive=False, verbosity=0)
    shutil.rmtree(settings.MEDIA_ROOT)
    Path(settings.MEDIA_ROOT).mkdir()


def test_backup_wipe_restore_gives_back_every_row_and_file_byte(tmp_path, capsys):
    build_site()
    before_rows, before_files = site_state()
    assert len(before_files) == 12 and before_rows["inference.GeneratedImage"][0]["archive_image_id"]
    archive = tmp_path / "site.tar.gz"

    started = time.monotonic()
    call_command("backup", str(archive))
    backup_s = time.monotonic() - started
    assert archive.is_file() and not list(tmp_path.glob(".*partial"))
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
    assert manifest["database"]["rows"]["motifs.MotifImage"] == 7
    assert manifest["database"]["rows"]["inference.ClassificationRecord"] == 1
    assert manifest["media"]["count"] == 12 and manifest["media"]["missing"] == []

    wipe()
    assert not ClassificationRecord.objects.exists() and not any(Path(settings.MEDIA_ROOT).iterdir())
    started = time.monotonic()
    call_command("restore", str(archive))
    restore_s = time.monotonic() - started

    after_rows, after_files = site_state()
    for label, rows in before_rows.items():
        assert after_rows[label] == rows, label  # to the microsecond
    assert after_rows == before_rows
    assert after_files == before_files
    assert not [p for p in Path(settings.MEDIA_ROOT).iterdir() if p.name.startswith(".")]  # no staging left
    with capsys.disabled():
        print(f"\nbackup/restore round trip: {archive.stat().st_size / 1024:.1f} KiB, "
              f"{sum(len(v) for v in before_rows.values() if isinstance(v, list))} rows, {len(before_files)} files, "
              f"backup {backup_s:.2f} s, restore {restore_s:.2f} s")


def test_restore_refuses_a_site_with_content_unless_forced(tmp_path):
    build_site()
    archive = tmp_path / "site.tar.gz"
    call_command("backup", str(archive))
    with pytest.raises(CommandError, match="not empty"):
        call_command("restore", str(archive))
    before = site_state()
    # Changes made after the backup are replaced by it.
    ClassificationRecord.objects.all().delete()
    UserFactory(username="baru")
    (Path(settings.MEDIA_ROOT) / "stray.txt").write_text("not in the backup")
    call_command("restore", str(archive), "--force")
    assert site_state() == before


def rewrite(archive: Path, out: Path, change) -> Path:
    """A copy of ``archive`` with ``change(name, bytes) -> bytes | None`` applied to each member."""
    with tarfile.open(archive) as source, tarfile.open(out, "w:gz") as target:
        for member in source.getmembers():
            data = source.extractfile(member).read()
            data = change(member.name, data)
            if data is None:
                continue
            info = tarfile.TarInfo(member.name)
            info.size = len(data)
            target.addfile(info, io.BytesIO(data))
    return out


def test_a_failure_half_way_leaves_rows_and_media_as_they_were(tmp_path):
    build_site()
    archive = tmp_path / "site.tar.gz"
    call_command("backup", str(archive))

    def wrong_count(name, data):
        if name == "manifest.json":
            manifest = json.loads(data)
            manifest["database"]["rows"]["motifs.Motif"] += 1  # found only after the rows were replaced
            return json.dumps(manifest).encode()
        return data

    bad = rewrite(archive, tmp_path / "bad.tar.gz", wrong_count)
    ClassificationRecord.objects.update(confidence=0.5)  # differs from the backup
    before = site_state()
    with pytest.raises(CommandError, match="rows restored"):
        call_command("restore", str(bad), "--force")
    assert site_state() == before


@pytest.mark.parametrize("change,message", [
    (lambda name, data: data[:-1] + bytes([data[-1] ^ 1]) if name.startswith("media/uploads/classify") else data, "sha256"),
    (lambda name, data: None if name.startswith("media/uploads/generate/references") else data, "do not match"),
    (lambda name, data: b"[]" if name == "data.json" else data, "data.json"),
], ids=["changed-byte", "missing-file", "changed-data"])
def test_a_damaged_archive_is_refused_before_anything_changes(tmp_path, change, message):
    build_site()
    archive = tmp_path / "site.tar.gz"
    call_command("backup", str(archive))
    wipe()
    with pytest.raises(CommandError, match=message):
        call_command("restore", str(rewrite(archive, tmp_path / "bad.tar.gz", change)))
    assert not ClassificationRecord.objects.exists() and not any(Path(settings.MEDIA_ROOT).iterdir())


def test_an_archive_with_a_path_outside_the_media_folder_is_refused(tmp_path):
    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as tar:
        info = tarfile.TarInfo("media/../../escaped.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"bad"))
    with pytest.raises(CommandError, match="unsafe name"):
        call_command("restore", str(evil))
    assert not (Path(settings.MEDIA_ROOT).parent / "escaped.txt").exists()


@pytest.mark.skipif(connection.vendor != "mysql", reason="SQLite's snapshot is its lock: a writer waits for the backup")
def test_on_mariadb_the_backup_reads_one_snapshot_while_others_write():
    """Django runs MySQL at READ COMMITTED; the backup's transaction must still see one moment."""
    import threading

    from django.db import connections

    from core.backup import _snapshot

    UserFactory(username="before")

    def write():
        UserFactory(username="during")
        connections.close_all()

    with _snapshot():
        assert User.objects.count() == 1
        writer = threading.Thread(target=write)
        writer.start()
        writer.join()
        assert User.objects.count() == 1 and not User.objects.filter(username="during").exists()
    assert User.objects.count() == 2
