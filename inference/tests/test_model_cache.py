"""A site whose media storage has no local paths (object storage): the shipped models are
registered into it, and workers classify and generate from verified copies in their own model
cache (``tests.storages.ObjectLikeStorage``: in memory, no disk behind it, no ``path()``)."""
import io
import os

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from core.backup import BackupError, backup_create
from inference import model_cache, registry, runtime
from inference.models import ClassificationRecord, GenerationJob, ModelKind, ModelVersion
from motifs.demo_art import render_motif

pytestmark = pytest.mark.django_db


@pytest.fixture
def object_storage(settings, tmp_path):
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "tests.storages.ObjectLikeStorage"}}
    settings.DATA_DIR = tmp_path / "worker-data"
    runtime.reset_for_tests()
    assert not model_cache.storage_has_paths()
    yield tmp_path / "worker-data" / "model-cache"
    runtime.reset_for_tests()


def photo(slug: str, seed: int) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    render_motif(slug, seed, 512).save(buffer, "JPEG")
    return SimpleUploadedFile("p.jpg", buffer.getvalue(), "image/jpeg")


def test_a_site_on_object_storage_classifies_and_generates_from_the_workers_model_cache(
        client, object_storage, sync_queue):
    registry.shipped_models_register(kinds=("classifier", "generator"))
    classifier = ModelVersion.objects.get(kind=ModelKind.CLASSIFIER, is_active=True)
    assert default_storage.exists(classifier.path) and default_storage.exists(classifier.serving_path)
    client.cookies["cualify_language"] = "en"
    response = client.post(reverse("classify"), {"photo": photo("kepiting", 7001)})
    assert response.status_code == 302
    record = ClassificationRecord.objects.get()
    assert record.status == "done" and record.top[0]["slug"] == "kepiting", record.error
    cached = object_storage / classifier.sha256
    # The whole version folder: the .pt beside its ONNX serving copy (heat maps need the .pt).
    assert sorted(p.name for p in cached.iterdir()) == ["classifier-demo-yolo11n-cls.onnx", "classifier-demo-yolo11n-cls.pt"]
    assert runtime.get_model(ModelKind.CLASSIFIER).engine.path == (cached / "classifier-demo-yolo11n-cls.onnx").resolve()
    assert client.get(reverse("classify_result", args=[record.public_id])).status_code == 200

    response = client.post(reverse("generate"), {"mode": "fusion", "motifs": ["merak", "kepiting"], "count": 2,
                                                 "truncation": 0.7, "distance": 0.5, "refine_strength": 0.3, "upscale": 1,
                                                 "tile": "on"})
    job = GenerationJob.objects.get()
    assert response.status_code == 302 and job.status == "succeeded", job.error
    generator = ModelVersion.objects.get(kind=ModelKind.GENERATOR, is_active=True)
    assert (object_storage / generator.sha256).is_dir() and job.images.count() == 2
    assert default_storage.exists(job.images.first().file.name)  # results went through the storage API
    assert client.get(reverse("generate_image", args=[job.public_id, 0])).status_code == 200
    assert not list(object_storage.glob(model_cache.PARTIAL_PREFIX + "*"))


def test_a_stored_copy_that_does_not_match_its_hash_is_refused_and_leaves_nothing(object_storage):
    registry.shipped_models_register(kinds=("classifier",))
    version = ModelVersion.objects.get(kind=ModelKind.CLASSIFIER, is_active=True)
    default_storage.delete(version.path)
    default_storage.save(version.path, ContentFile(b"not the model that was registered"))
    with pytest.raises(model_cache.ModelCacheError, match="is not the version's"):
        model_cache.local_model_path(version)
    assert not object_storage.exists() or not list(object_storage.iterdir())


def test_the_cache_is_pruned_least_recently_used_first(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    root = model_cache.cache_root()
    for index, name in enumerate(["old", "middle", "new"]):
        (root / name).mkdir(parents=True)
        (root / name / "model.bin").write_bytes(b"x" * 1000)
        os.utime(root / name, (1_000_000 + index, 1_000_000 + index))
    assert model_cache.prune(keep="old", max_bytes=2000) == ["middle"]  # the oldest but the one kept
    assert sorted(p.name for p in root.iterdir()) == ["new", "old"]
    assert model_cache.prune(keep="new", max_bytes=1000) == ["old"]


def test_backup_refuses_media_on_object_storage_with_a_clear_message(object_storage, tmp_path):
    with pytest.raises(BackupError, match="not on the local file system"):
        backup_create(tmp_path / "backup.tar.gz")
