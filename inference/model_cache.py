"""Model files on the worker's own disk, fetched through the storage API.

Workers open model files by path (ONNX Runtime, torch, diffusers read files). With media on a
local file system the stored file is used where it is; with a storage that has no ``path()``
(object storage, e.g. S3 through django-storages) the version's whole folder
(``models/<kind>/<sha256>/``: the file, its ONNX serving copy, or a refiner folder) is copied
into ``<data dir>/model-cache/<sha256>/``:

- **verified**: the copy's content hash must be the version's ``sha256`` (else it is deleted
  and loading fails with a clear error);
- **atomic**: files land in a private ``.partial-*`` folder that is renamed into place only when
  complete and verified, so two workers fetching at once never see half a model;
- **pruned**: past ``CUALIFY_MODEL_CACHE_MAX_BYTES`` the least recently used versions are
  removed (never the one just asked for).
"""
from __future__ import annotations

import logging
import os
import posixpath
import shutil
import tempfile
import time
from pathlib import Path

from django.conf import settings
from django.core.files.storage import default_storage

logger = logging.getLogger(__name__)

PARTIAL_PREFIX = ".partial-"


class ModelCacheError(RuntimeError):
    pass


def storage_has_paths() -> bool:
    """Whether the media storage is a local file system (``path()`` works)."""
    try:
        default_storage.path("models")
    except NotImplementedError:
        return False
    return True


def cache_root() -> Path:
    return Path(settings.DATA_DIR) / "model-cache"


def _version_folder(version) -> str:
    """The storage folder that holds everything of a version (file, serving copy, or folder)."""
    return posixpath.dirname(version.path.rstrip("/"))


def _walk(folder: str):
    """Every file name under ``folder`` in the storage (recursively)."""
    directories, files = default_storage.listdir(folder)
    for name in files:
        yield posixpath.join(folder, name)
    for directory in directories:
        yield from _walk(posixpath.join(folder, directory))


def local_model_path(version, name: str | None = None) -> Path:
    """A local path for the stored file ``name`` of ``version`` (default: what it serves)."""
    name = name or version.serving_path or version.path
    if storage_has_paths():
        return Path(default_storage.path(name))
    folder = fetch(version)
    return folder / posixpath.relpath(name, _version_folder(version))


def fetch(version) -> Path:
    """``<cache>/<sha256>/``, filled from the storage (once) and verified."""
    from .registry import path_sha256

    root = cache_root()
    final = root / version.sha256
    if final.is_dir():
        os.utime(final)  # recently used: pruned last
        return final
    root.mkdir(parents=True, exist_ok=True)
    source = _version_folder(version)
    started = time.perf_counter()
    partial = Path(tempfile.mkdtemp(prefix=f"{PARTIAL_PREFIX}{version.sha256[:16]}-", dir=root))
    try:
        count = 0
        for name in _walk(source):
            target = partial / posixpath.relpath(name, source)
            target.parent.mkdir(parents=True, exist_ok=True)
            with default_storage.open(name, "rb") as handle, open(target, "wb") as out:
                shutil.copyfileobj(handle, out, 1 << 20)
            count += 1
        primary = partial / posixpath.relpath(version.path.rstrip("/"), source)
        if not count or not primary.exists():
            raise ModelCacheError(f"{version.path} is not in the media storage")
        found = path_sha256(primary)
        if found != version.sha256:
            raise ModelCacheError(f"{version.path}: the stored copy's hash {found[:12]}… is not the version's "
                                  f"{version.sha256[:12]}…; not loaded")
        try:
            os.rename(partial, final)
        except OSError:  # another worker finished first: its copy is as good
            if not final.is_dir():
                raise
            shutil.rmtree(partial, ignore_errors=True)
        logger.info("fetched %s (%d files) into the model cache in %.1f s", version, count, time.perf_counter() - started)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    prune(keep=version.sha256)
    return final


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def prune(*, keep: str = "", max_bytes: int | None = None) -> list[str]:
    """Remove the least recently used cached versions until the cache fits ``max_bytes``
    (default ``CUALIFY_MODEL_CACHE_MAX_BYTES``); ``keep`` is never removed. Leftover partial
    folders older than an hour go too. Returns the removed hashes."""
    root = cache_root()
    if not root.is_dir():
        return []
    limit = settings.CUALIFY_MODEL_CACHE_MAX_BYTES if max_bytes is None else max_bytes
    for stale in root.glob(PARTIAL_PREFIX + "*"):
        if time.time() - stale.stat().st_mtime > 3600:
            shutil.rmtree(stale, ignore_errors=True)
    entries = [(p.stat().st_mtime, p.name, _size(p)) for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    total = sum(size for _, _, size in entries)
    removed = []
    for _, name, size in sorted(entries):  # oldest use first
        if total <= limit:
            break
        if name == keep:
            continue
        shutil.rmtree(root / name, ignore_errors=True)
        total -= size
        removed.append(name)
    return removed
