"""The model registry: register, verify, map classes, activate, roll back, bootstrap."""
import json
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command

from inference import registry, runtime
from inference.models import ModelKind, ModelVersion

from .conftest import SHIPPED_CLASSIFIER

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_a_registered_pt_is_served_through_a_checked_onnx_export_kept_beside_it():
    version = registry.model_version_register(path=SHIPPED_CLASSIFIER, kind="classifier").version
    assert version.serving_path == f"models/classifier/{version.sha256}/classifier-demo-yolo11n-cls.onnx"
    assert default_storage.exists(version.serving_path) and default_storage.exists(version.path)


def test_onnx_serving_can_be_turned_off(settings):
    settings.CUALIFY_SERVE_ONNX = False
    assert registry.model_version_register(path=SHIPPED_CLASSIFIER, kind="classifier").version.serving_path == ""


def test_register_model_stores_by_hash_and_maps_every_class_to_a_motif():
    output = run("register_model", str(SHIPPED_CLASSIFIER), "--kind", "classifier", "--activate")
    version = ModelVersion.objects.get()
    assert "registered" in output and "active" in output and "matches no motif" not in output
    assert version.is_active and len(version.class_names) == 14
    assert set(version.class_map.values()) == set(version.class_names)  # demo classes are the slugs
    assert version.path == f"models/classifier/{version.sha256}/{SHIPPED_CLASSIFIER.name}"
    assert default_storage.exists(version.path)
    assert "already registered" in run("register_model", str(SHIPPED_CLASSIFIER), "--kind", "classifier")
    assert ModelVersion.objects.count() == 1


def test_explicit_class_map_and_unmatched_classes_are_reported(tmp_path):
    mapping = tmp_path / "map.json"
    mapping.write_text(json.dumps({"merak": None, "kepiting": "kuda-laut"}))
    output = run("register_model", str(SHIPPED_CLASSIFIER), "--kind", "classifier", "--class-map", str(mapping))
    version = ModelVersion.objects.get()
    assert version.class_map["merak"] is None and version.class_map["kepiting"] == "kuda-laut"
    assert "class matches no motif: merak" in output


@pytest.mark.parametrize("content,message", [(b"not a model at all", "not a usable classifier"), (None, "is not a file")])
def test_registering_something_that_is_not_a_classifier_fails_and_stores_nothing(tmp_path, content, message):
    path = tmp_path / "fake.pt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(CommandError, match=message):
        run("register_model", str(path), "--kind", "classifier")
    assert not ModelVersion.objects.exists()
    assert not (Path(settings.MEDIA_ROOT) / "models").exists()


def test_bad_class_map_file(tmp_path):
    mapping = tmp_path / "map.json"
    mapping.write_text("[1, 2]")
    with pytest.raises(CommandError, match="--class-map"):
        run("register_model", str(SHIPPED_CLASSIFIER), "--kind", "classifier", "--class-map", str(mapping))


@pytest.fixture
def two_versions(tmp_path):
    """The shipped .pt and its ONNX export: two real classifier files."""
    from inference.engines.classifier import export_onnx

    runtime.ensure_offline()
    onnx_path = export_onnx(SHIPPED_CLASSIFIER, tmp_path / "demo.onnx")
    first = registry.model_version_register(path=SHIPPED_CLASSIFIER, kind="classifier", activate=True).version
    second = registry.model_version_register(path=onnx_path, kind="classifier").version
    return first, second


def test_activation_keeps_one_active_per_kind_and_rollback_returns_to_the_previous(two_versions):
    first, second = two_versions
    registry.model_version_activate(version=second)
    assert list(ModelVersion.objects.filter(is_active=True)) == [second]
    assert registry.model_version_rollback(kind="classifier") == first
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.is_active and not second.is_active


def test_rollback_without_history_is_a_clear_error():
    with pytest.raises(registry.RegistryError, match="no earlier classifier"):
        registry.model_version_rollback(kind="classifier")


def test_worker_reloads_when_the_active_version_changes(two_versions, settings):
    first, second = two_versions
    runtime.reset_for_tests()
    loaded = runtime.get_model(ModelKind.CLASSIFIER)
    assert loaded.version == first and loaded.engine.path.name == "classifier-demo-yolo11n-cls.onnx"
    registry.model_version_activate(version=second)
    loaded = runtime.get_model(ModelKind.CLASSIFIER)
    assert loaded.version == second and loaded.engine.path.name == "demo.onnx"
    heartbeat = runtime.WorkerHeartbeat.objects.get()
    assert heartbeat.models_loaded == {"classifier": second.pk}
    runtime.reset_for_tests()


def test_bootstrap_registers_shipped_models_once_and_never_overrides_a_curators_choice(two_versions):
    first, second = two_versions
    ModelVersion.objects.filter(pk=first.pk).delete()
    registry.model_version_activate(version=second)  # the curator's choice
    lines = registry.shipped_models_register()
    assert any("registered (another version stays active)" in line for line in lines)
    assert ModelVersion.objects.get(kind="classifier", is_active=True) == second
    assert any("already registered" in line for line in registry.shipped_models_register())
    # Kinds with no active version get the shipped one (the demo generator).
    assert set(ModelVersion.objects.filter(is_active=True).values_list("kind", flat=True)) == {
        entry["kind"] for entry in registry.shipped_manifest()
    }


def test_shipped_manifest_matches_the_weights():
    entries = registry.shipped_manifest()
    assert any(e["kind"] == "classifier" for e in entries)
    for entry in entries:
        assert registry.path_sha256(settings.BASE_DIR / "weights" / entry["file"]) == entry["sha256"]


def test_a_retired_shipped_refiner_gives_way_to_the_one_that_replaced_it_but_a_curators_choice_stays():
    manifest = json.loads((settings.BASE_DIR / "weights" / "manifest.json").read_text())
    retired = next(entry for entry in manifest["retired"] if entry["kind"] == "refiner")
    assert not (settings.BASE_DIR / "weights" / retired["file"]).exists()  # no longer in weights/
    # A site bootstrapped before: the 64 px SDEdit refiner, shipped and active (its row stays readable).
    old = ModelVersion.objects.create(kind="refiner", name=retired["name"], sha256=retired["sha256"],
                                      path=f"models/refiner/{retired['sha256']}/{retired['file']}",
                                      file_format="diffusers", source=ModelVersion.Source.SHIPPED, is_active=True)
    registry.shipped_models_register(kinds=("refiner",))
    active = runtime.active_version(ModelKind.REFINER)
    assert active.pk != old.pk and active.metrics["task"] == "super_resolution"
    assert ModelVersion.objects.filter(pk=old.pk, is_active=False).exists()

    # A curator's own refiner is never replaced by what ships.
    ModelVersion.objects.filter(pk=old.pk).update(source=ModelVersion.Source.TRAINED)
    registry.model_version_activate(version=ModelVersion.objects.get(pk=old.pk))
    active.delete()
    registry.shipped_models_register(kinds=("refiner",))
    assert runtime.active_version(ModelKind.REFINER).pk == old.pk
