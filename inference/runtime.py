"""Models inside the queue workers: loaded once per worker process (warmed when the worker
starts), reloaded when the active version changes, and announced in a heartbeat row.

Only django-q2 worker processes (and tests in sync mode) import this; web processes never
do, so they never import torch.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, close_old_connections, transaction
from django.utils import timezone

from . import queues
from .models import ModelKind, ModelVersion, WorkerHeartbeat

logger = logging.getLogger(__name__)

_lock = threading.RLock()
_loaded: dict[str, "LoadedModel"] = {}
_offline_done = False
_devices: dict[str, str] = {}  # backend -> resolved device


@dataclass(frozen=True)
class LoadedModel:
    version: ModelVersion
    engine: Any
    calibration: Any      # OODCalibration for classifiers, else None
    load_seconds: float


def ensure_offline() -> None:
    """Ultralytics and friends offline, configured once per process before their import."""
    global _offline_done
    if not _offline_done:
        from .engines.offline import configure_ultralytics_offline

        configure_ultralytics_offline(settings.CUALIFY_MODEL_CONFIG_DIR)
        # Ultralytics replaces PIL.Image.open with a wrapper that tries to pip-install pi-heif
        # whenever Pillow cannot identify a file; our intake rules must see Pillow's own answer.
        from PIL import Image
        from ultralytics.utils import patches

        Image.open = getattr(patches, "_image_open", Image.open)
        _offline_done = True


def device_for(backend: str) -> str:
    """Where this worker runs models served by ``backend`` (``torch`` or ``onnx``), from
    ``CUALIFY_DEVICE``; logged once per backend."""
    from .engines.devices import resolve_device

    with _lock:
        if backend not in _devices:
            _devices[backend] = resolve_device(settings.CUALIFY_DEVICE, backend=backend)
            logger.info("CUALIFY_DEVICE=%s: %s models run on %s", settings.CUALIFY_DEVICE, backend, _devices[backend])
        return _devices[backend]


def model_file(version: ModelVersion) -> Path:
    """A local path of what ``version`` serves: the stored file itself on a local media file
    system, else a verified copy in this host's model cache (``inference.model_cache``)."""
    from .model_cache import local_model_path

    return local_model_path(version)


def _load(version: ModelVersion) -> LoadedModel:
    started = time.perf_counter()
    if version.kind == ModelKind.CLASSIFIER:
        from .engines.classifier import ClassifierEngine
        from .engines.ood import OODCalibration

        path = model_file(version)
        device = device_for("onnx" if path.suffix == ".onnx" else "torch")
        if path.suffix != ".onnx":
            # Only a PyTorch file needs torch (and, for a .pt, Ultralytics): an ONNX-served
            # worker never imports them, which keeps it some 300 MB smaller (bench/classifier_memory.py).
            ensure_offline()
            import torch

            torch.set_num_threads(settings.CUALIFY_TORCH_THREADS)
        engine = ClassifierEngine.load(path, threads=settings.CUALIFY_TORCH_THREADS, device=device)
        engine.warm_up()
        stored = ModelVersion.objects.filter(pk=version.pk).values_list("calibration", flat=True).first()
        calibration = OODCalibration.from_json(stored) if stored else None
        return LoadedModel(version, engine, calibration, time.perf_counter() - started)
    if version.kind == ModelKind.GENERATOR:
        import torch

        from .engines.generator import GeneratorEngine

        torch.set_num_threads(settings.CUALIFY_TORCH_THREADS)
        engine = GeneratorEngine.load(model_file(version), device=device_for("torch"))
        engine.warm_up()
        return LoadedModel(version, engine, None, time.perf_counter() - started)
    if version.kind == ModelKind.REFINER:
        import torch

        from .engines.refiner import load_refiner

        torch.set_num_threads(settings.CUALIFY_TORCH_THREADS)
        engine = load_refiner(model_file(version), device=device_for("torch"))
        return LoadedModel(version, engine, None, time.perf_counter() - started)
    raise NotImplementedError(f"no runtime for {version.kind} models")


def active_version(kind: str) -> ModelVersion | None:
    # Asked before every task: leave the large JSON fields (calibration prototypes) in the database.
    return ModelVersion.objects.filter(kind=kind, is_active=True).defer("calibration", "training_data").first()


def get_model(kind: str) -> LoadedModel | None:
    """The loaded active model of ``kind``, (re)loading it if the active version changed."""
    version = active_version(kind)
    with _lock:
        current = _loaded.get(kind)
        if version is None:
            _loaded.pop(kind, None)
            return None
        # The file hash too: a rolled-back test database can hand out the same id again.
        if current is None or (current.version.pk, current.version.sha256) != (version.pk, version.sha256):
            logger.info("loading %s", version)
            _loaded[kind] = _load(version)
            heartbeat()
        return _loaded[kind]


_prompt_encoder = None


def get_prompt_encoder():
    """The sentence encoder for prompts: shipped inside a pinned PyPI package (not a registered
    version), loaded on the first prompt job of this worker and kept."""
    global _prompt_encoder
    with _lock:
        if _prompt_encoder is None:
            ensure_offline()
            from .engines.prompt import PromptEncoder

            _prompt_encoder = PromptEncoder.load(threads=settings.CUALIFY_TORCH_THREADS)
        return _prompt_encoder


_neutral_features = None


def get_neutral_features():
    """The frozen ImageNet EfficientNet-Lite0 (``engines.neutral``) whose feature maps are the
    perceptual loss of a reference's projection: loaded on the first variation from a
    reference in this worker, and kept (about 20 MB of weights)."""
    global _neutral_features
    with _lock:
        if _neutral_features is None:
            from .engines.neutral import NeutralFeatures

            _neutral_features = NeutralFeatures()
        return _neutral_features


def loaded_versions() -> dict[str, int]:
    with _lock:
        return {kind: model.version.pk for kind, model in _loaded.items()}


def heartbeat() -> None:
    """This worker's row (what it serves and has loaded, on which device), and rows of workers
    gone for longer than ``CUALIFY_HEARTBEAT_KEEP_SECONDS`` pruned."""
    now = timezone.now()
    with _lock:
        devices = sorted({getattr(model.engine, "device", "cpu") for model in _loaded.values()})
    fields = {"last_seen": now, "models_loaded": loaded_versions(), "cluster": queues.this_cluster(),
              "serves": list(queues.served_kinds()), "device": ",".join(devices) or "cpu"}
    me = {"host": socket.gethostname(), "pid": os.getpid()}
    # A plain UPDATE, and an INSERT the first time: update_or_create's SELECT ... FOR UPDATE of
    # a missing row takes a gap lock in InnoDB, and workers on several hosts starting together
    # deadlocked on it (seen in the multi-host test on MariaDB).
    if not WorkerHeartbeat.objects.filter(**me).update(**fields):
        try:
            with transaction.atomic():
                WorkerHeartbeat.objects.create(**me, **fields)
        except IntegrityError:  # our row appeared between the two: update it next beat
            pass
    # Pruned by primary key (a plain read first), so no range lock is taken on live rows.
    gone = list(WorkerHeartbeat.objects.filter(
        last_seen__lt=now - timedelta(seconds=settings.CUALIFY_HEARTBEAT_KEEP_SECONDS)).values_list("pk", flat=True))
    if gone:
        WorkerHeartbeat.objects.filter(pk__in=gone).delete()


def warm_up() -> None:
    """Load the active models of the kinds this worker's cluster serves (and keep any other kind
    it loaded on demand current), so the first task is not the slow one."""
    with _lock:
        kinds = dict.fromkeys((*queues.served_kinds(), *_loaded))
    for kind in kinds:
        try:
            get_model(kind)
        except Exception:  # a broken model must not kill the worker; tasks report it
            logger.exception("could not load the active %s", kind)
    heartbeat()


def _heartbeat_loop(interval: float) -> None:
    while True:
        time.sleep(interval)
        try:
            close_old_connections()
            warm_up()  # also reloads a model whose active version changed
            from .classification.services import classification_sweep

            classification_sweep()  # a record whose worker died is sent again within seconds
        except Exception:
            logger.exception("heartbeat failed")


_heartbeat_thread: threading.Thread | None = None


def start_worker_runtime() -> None:
    """Called in each new queue-worker process: warm up and keep a heartbeat.

    django-q2's sync mode (tests, ``manage.py classify``) runs its worker function inline for
    every task, sending the same signal: there the models load on demand and no heartbeat
    thread is started, since this process is not a worker."""
    global _heartbeat_thread
    from django_q.conf import Conf

    if Conf.SYNC or _heartbeat_thread is not None:
        return
    warm_up()
    _heartbeat_thread = thread = threading.Thread(
        target=_heartbeat_loop, args=(settings.CUALIFY_HEARTBEAT_SECONDS,), name="cualify-heartbeat", daemon=True
    )
    thread.start()


def reset_for_tests() -> None:
    with _lock:
        _loaded.clear()
        _devices.clear()
