"""Backup and restore of a whole Cualify site: one ``.tar.gz`` with

- ``data.json``: every row, as Django's ``dumpdata`` JSON with natural foreign keys (content
  types, permissions and users by name; times to the microsecond), so a backup of SQLite
  restores into MariaDB and back (``loaddata`` reads it);
- ``media/...``: every media file (archive images, visitors' uploads, results, models);
- ``manifest.json``: format and version, the applied migrations, row counts per model and the
  size and sha256 of ``data.json`` and of every media file.

The backup reads the database inside one transaction (on MySQL/MariaDB a consistent snapshot at
REPEATABLE READ) and copies the media while it is open, so rows and files belong together. It is
written under a temporary name beside the target and renamed only when complete.

A restore first unpacks into a hidden staging folder inside ``MEDIA_ROOT`` and checks every
file against the manifest; only then, in one transaction, it replaces the rows and swaps the
staged media in. Any failure rolls the rows back and puts the old media back: nothing is left
half-done. Content types, permissions and the queue's schedules stay as ``migrate`` made
them; sessions, queued tasks and log-in failure counters are not backed up and are emptied.
"""
from __future__ import annotations

import datetime
import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from django.apps import apps
from django.conf import settings
from django.core import serializers
from django.core.files.storage import FileSystemStorage, default_storage
from django.core.management import call_command
from django.core.management.color import no_style
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models, transaction
from django.utils import timezone

FORMAT = "cualify-backup"
VERSION = 1
DATA = "data.json"
MANIFEST = "manifest.json"
MEDIA = "media/"
# Not backed up: rebuilt by migrate (content types, permissions) or transient (sessions, the
# queue, its schedules — post_migrate makes them — and log-in failure counters).
NOT_DUMPED = ("contenttypes", "auth.permission", "sessions", "django_q", "axes")
# Left as they are by a restore: made by migrate, and what natural keys point at.
KEPT = ("contenttypes", "auth.permission", "django_q.schedule")
# Rows only people or the site make. A database without any (just migrated: the seeded
# catalogue, groups and schedules) counts as empty.
CONTENT = ("auth.user", "admin.logentry", "motifs.motifimage", "inference.modelversion",
           "inference.classificationrecord", "inference.generationjob")
CHUNK = 1024 * 1024


class BackupError(Exception):
    """A backup that cannot be written, or an archive that must not be restored."""


@dataclass(frozen=True)
class Summary:
    path: Path
    bytes: int
    rows: int
    files: int
    seconds: float
    missing: tuple[str, ...] = ()


def _matches(model, names) -> bool:
    return model._meta.app_label in names or model._meta.label_lower in names


def _installed(names) -> list[str]:
    """The entries of ``names`` (app labels, or app.model) that exist here."""
    found = []
    for name in names:
        app_label, _, model = name.partition(".")
        try:
            apps.get_model(app_label, model) if model else apps.get_app_config(app_label)
        except LookupError:
            continue
        found.append(name)
    return found


def dumped_models() -> list[type[models.Model]]:
    return [m for m in apps.get_models() if m._meta.managed and not m._meta.proxy and not _matches(m, NOT_DUMPED)]


def _media_root() -> Path:
    if not isinstance(default_storage, FileSystemStorage):
        raise BackupError("media are not on the local file system: back up the object storage with its own tools")
    return Path(settings.MEDIA_ROOT).resolve()


class _Hashing:
    """Reads at most ``size`` bytes of ``handle`` for tarfile, hashing them on the way."""

    def __init__(self, handle, size: int):
        self.handle, self.left, self.digest = handle, size, hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        n = self.left if n is None or n < 0 else min(n, self.left)
        data = self.handle.read(n) if n > 0 else b""
        self.left -= len(data)
        self.digest.update(data)
        return data


# --- backup -----------------------------------------------------------------------------------


@contextmanager
def _snapshot():
    """One consistent read of the whole database. MySQL/MariaDB: Django runs READ COMMITTED,
    where every statement sees newer rows, so this transaction asks for REPEATABLE READ and a
    snapshot taken at its start. SQLite: the transaction itself is the snapshot (writers wait)."""
    if connection.vendor == "mysql" and not connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT")
            yield
    else:
        with transaction.atomic():
            yield


class _PreciseEncoder(DjangoJSONEncoder):
    """Django's encoder cuts times to milliseconds (as JavaScript has them); a backup keeps
    the microseconds the database stores."""

    def default(self, o):
        if isinstance(o, datetime.datetime) or (isinstance(o, datetime.time) and o.tzinfo is None):
            return o.isoformat()
        return super().default(o)


def _dump(path: Path) -> None:
    """What ``dumpdata --natural-foreign --all`` writes (models in dependency order, rows by
    primary key), with full-precision times."""
    by_app: dict = {}
    for model in dumped_models():
        by_app.setdefault(apps.get_app_config(model._meta.app_label), []).append(model)
    ordered = serializers.sort_dependencies(by_app.items(), allow_cycles=True)

    def rows():
        for model in ordered:
            yield from model._base_manager.order_by(model._meta.pk.name).iterator()

    with open(path, "w", encoding="utf-8") as stream:
        serializers.serialize("json", rows(), cls=_PreciseEncoder, use_natural_foreign_keys=True, stream=stream)


def _applied_migrations() -> dict[str, list[str]]:
    from django.db.migrations.recorder import MigrationRecorder

    applied: dict[str, list[str]] = {}
    for app_label, name in sorted(MigrationRecorder(connection).applied_migrations()):
        applied.setdefault(app_label, []).append(name)
    return applied


def _add_file(tar: tarfile.TarFile, name: str, path: Path) -> dict | None:
    """Add ``path`` as ``name``; None if it disappeared since it was listed."""
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        return None
    with handle:
        stat = os.fstat(handle.fileno())
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = stat.st_size, int(stat.st_mtime), 0o644
        reader = _Hashing(handle, stat.st_size)
        tar.addfile(info, reader)
    return {"size": stat.st_size, "sha256": reader.digest.hexdigest()}


def _media_files(root: Path):
    """Every regular file under ``root``, as (posix relative name, path); hidden names (a
    restore's staging folder) and links are left out."""
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        for name in sorted(names):
            path = Path(folder) / name
            if name.startswith(".") or path.is_symlink() or not path.is_file():
                continue
            yield path.relative_to(root).as_posix(), path


def _referenced_files() -> set[str]:
    """Media names that rows point at (FileField values)."""
    names: set[str] = set()
    for model in dumped_models():
        for field in model._meta.get_fields():
            if isinstance(field, models.FileField):
                names.update(model._base_manager.exclude(**{field.name: ""}).values_list(field.name, flat=True))
    return names


def backup_create(out: Path, *, compresslevel: int = 1) -> Summary:
    """Write the backup to ``out`` (a ``.tar.gz``). Images are already compressed, hence the
    light gzip level."""
    started = time.monotonic()
    out = Path(out).resolve()
    root = _media_root()
    if out == root or root in out.parents:
        raise BackupError("the backup must not be written inside the media folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(dir=out.parent, prefix=f".{out.name}.", suffix=".partial", delete=False)
    try:
        with handle, tempfile.TemporaryDirectory() as scratch:
            data_path = Path(scratch) / DATA
            with tarfile.open(fileobj=handle, mode="w:gz", compresslevel=compresslevel) as tar:
                with _snapshot():
                    _dump(data_path)
                    rows = {m._meta.label: m._base_manager.count() for m in dumped_models()}
                    migrations = _applied_migrations()
                    referenced = _referenced_files()
                    data = _add_file(tar, DATA, data_path)
                    files = {}
                    for name, path in _media_files(root):
                        entry = _add_file(tar, MEDIA + name, path)
                        if entry is not None:
                            files[name] = entry
                missing = sorted(referenced - set(files))
                manifest = {
                    "format": FORMAT, "version": VERSION, "created": timezone.now().isoformat(),
                    "database": {"vendor": connection.vendor, "data": DATA, **data, "rows": rows,
                                 "total_rows": sum(rows.values()), "migrations": migrations},
                    "media": {"files": files, "count": len(files), "bytes": sum(f["size"] for f in files.values()),
                              "missing": missing},
                }
                payload = json.dumps(manifest, indent=1, sort_keys=True).encode()
                info = tarfile.TarInfo(MANIFEST)
                info.size, info.mtime, info.mode = len(payload), int(time.time()), 0o644
                tar.addfile(info, io.BytesIO(payload))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, out)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
    return Summary(path=out, bytes=out.stat().st_size, rows=sum(rows.values()), files=len(files),
                   seconds=time.monotonic() - started, missing=tuple(missing))


# --- restore ----------------------------------------------------------------------------------


def _safe_name(name: str) -> str:
    """A member name that stays inside the staging folder: relative, normalised, no hidden or
    parent parts."""
    path = PurePosixPath(name)
    if (not name or path.is_absolute() or str(path) != name or "\\" in name or "\0" in name
            or any(part in ("", ".", "..") or part.startswith(".") for part in path.parts)):
        raise BackupError(f"unsafe name in the archive: {name!r}")
    return name


def _unpack(archive: Path, work: Path) -> dict:
    """Unpack into ``work`` (``data.json``, ``manifest.json``, ``new/<media>``) and check every
    byte against the manifest; returns the manifest."""
    seen: dict[str, dict] = {}
    try:
        tar = tarfile.open(archive, "r:gz")
    except (OSError, tarfile.TarError) as exc:
        raise BackupError(f"not a readable .tar.gz: {exc}") from exc
    with tar:
        try:
            for member in tar:
                name = _safe_name(member.name)
                if member.isdir():
                    continue
                if not member.isfile():
                    raise BackupError(f"not a regular file in the archive: {name!r}")
                if name in (DATA, MANIFEST):
                    target = work / name
                elif name.startswith(MEDIA):
                    target = work / "new" / name[len(MEDIA):]
                else:
                    raise BackupError(f"unexpected file in the archive: {name!r}")
                if name in seen:
                    raise BackupError(f"file twice in the archive: {name!r}")
                target.parent.mkdir(parents=True, exist_ok=True)
                digest, size = hashlib.sha256(), 0
                with tar.extractfile(member) as source, open(target, "xb") as sink:
                    while chunk := source.read(CHUNK):
                        digest.update(chunk)
                        size += len(chunk)
                        sink.write(chunk)
                seen[name] = {"size": size, "sha256": digest.hexdigest()}
        except (OSError, EOFError, tarfile.TarError) as exc:
            raise BackupError(f"the archive is damaged: {exc}") from exc
    if MANIFEST not in seen or DATA not in seen:
        raise BackupError("the archive has no manifest.json or data.json")
    try:
        manifest = json.loads((work / MANIFEST).read_text(encoding="utf-8"))
    except ValueError as exc:
        raise BackupError(f"manifest.json is not JSON: {exc}") from exc
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise BackupError(f"not a {FORMAT} version {VERSION} archive")
    database = manifest["database"]
    if seen[DATA] != {"size": database["size"], "sha256": database["sha256"]}:
        raise BackupError("data.json does not match the manifest")
    listed = manifest["media"]["files"]
    media = {name[len(MEDIA):]: entry for name, entry in seen.items() if name.startswith(MEDIA)}
    if set(media) != set(listed):
        extra, absent = sorted(set(media) - set(listed)), sorted(set(listed) - set(media))
        raise BackupError(f"media do not match the manifest (not listed: {extra[:3]}, not in the archive: {absent[:3]})")
    for name, entry in media.items():
        if entry != {"size": listed[name]["size"], "sha256": listed[name]["sha256"]}:
            raise BackupError(f"{name} does not match its sha256 in the manifest")
    return manifest


def _check_migrations(manifest: dict) -> None:
    here = _applied_migrations()
    newer = sorted(f"{app}.{name}" for app, names in manifest["database"]["migrations"].items()
                   for name in names if name not in here.get(app, ()))
    if newer:
        raise BackupError(f"the backup has migrations this database lacks ({', '.join(newer[:5])}): "
                          "run migrate, or restore with the Cualify version that made it")


def _content_rows() -> dict[str, int]:
    counts = {}
    for label in _installed(CONTENT):
        model = apps.get_model(label)
        counts[model._meta.label] = model._base_manager.count()
    return {label: n for label, n in counts.items() if n}


def _visible_entries(root: Path) -> list[Path]:
    return [entry for entry in root.iterdir() if not entry.name.startswith(".")]


def _refuse_if_not_empty(root: Path) -> None:
    rows = _content_rows()
    has_files = any(True for _ in _media_files(root))
    if rows or has_files:
        what = ", ".join(f"{n} {label}" for label, n in rows.items()) or "no content rows"
        raise BackupError(f"the site is not empty ({what}; media files: {'yes' if has_files else 'no'}): "
                          "restore with --force to replace everything")


def _clear_tables() -> None:
    """Empty every table the restore replaces, inside the caller's transaction (DELETE, not
    TRUNCATE, so it rolls back on MariaDB too; no signals, so no file is touched)."""
    existing = set(connection.introspection.table_names())
    tables = []
    for model in apps.get_models(include_auto_created=True):
        if model._meta.managed and not model._meta.proxy and not _matches(model, KEPT):
            if model._meta.db_table in existing and model._meta.db_table not in tables:
                tables.append(model._meta.db_table)
    connection.ops.execute_sql_flush(connection.ops.sql_flush(no_style(), tables, reset_sequences=False))


class _MediaSwap:
    """Moves the current media aside and the staged media in, entry by entry (renames within
    one file system); ``undo`` puts everything back as it was."""

    def __init__(self, root: Path, staged: Path, aside: Path):
        self.root, self.staged, self.aside = root, staged, aside
        self.moved_out: list[str] = []
        self.moved_in: list[str] = []

    def do(self) -> None:
        self.aside.mkdir()
        for entry in _visible_entries(self.root):
            entry.rename(self.aside / entry.name)
            self.moved_out.append(entry.name)
        if self.staged.exists():
            for entry in _visible_entries(self.staged):
                entry.rename(self.root / entry.name)
                self.moved_in.append(entry.name)

    def undo(self) -> None:
        for name in reversed(self.moved_in):
            (self.root / name).rename(self.staged / name)
        for name in reversed(self.moved_out):
            (self.aside / name).rename(self.root / name)
        self.moved_in, self.moved_out = [], []


def _ensure_content_types() -> None:
    """Natural keys point at content types and permissions: make sure all exist (a flushed
    database may lack them)."""
    from django.contrib.auth.management import create_permissions
    from django.contrib.contenttypes.management import create_contenttypes

    for config in apps.get_app_configs():
        create_contenttypes(config, verbosity=0)
        create_permissions(config, verbosity=0)


def backup_restore(archive: Path, *, force: bool = False) -> Summary:
    """Replace the site's rows and media with the backup's. Without ``force`` the site must be
    empty. Stop the web and queue processes while it runs."""
    started = time.monotonic()
    archive = Path(archive)
    if not archive.is_file():
        raise BackupError(f"no such file: {archive}")
    root = _media_root()
    root.mkdir(parents=True, exist_ok=True)
    if not force:
        _refuse_if_not_empty(root)
    # Hidden and on the media file system, so the final moves are renames; never served.
    work = Path(tempfile.mkdtemp(prefix=".restore-", dir=root))
    try:
        manifest = _unpack(archive, work)
        _check_migrations(manifest)
        swap = _MediaSwap(root, work / "new", work / "old")
        try:
            with transaction.atomic():
                _ensure_content_types()
                _clear_tables()
                call_command("loaddata", str(work / DATA), verbosity=0)
                expected = manifest["database"]["rows"]
                for model in dumped_models():
                    found = model._base_manager.count()
                    if found != expected.get(model._meta.label, 0):
                        raise BackupError(f"{model._meta.label}: {found} rows restored, the manifest says "
                                          f"{expected.get(model._meta.label, 0)}")
                swap.do()
        except BaseException:
            swap.undo()
            raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    media = manifest["media"]
    return Summary(path=archive, bytes=archive.stat().st_size, rows=manifest["database"]["total_rows"],
                   files=media["count"], seconds=time.monotonic() - started, missing=tuple(media.get("missing", ())))
