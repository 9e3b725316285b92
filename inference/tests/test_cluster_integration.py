"""A real qcluster process classifies an upload made through the site."""
import io
import os
import signal
import subprocess
import sys
import time

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse

from inference import queues, registry
from inference.models import ClassificationRecord, WorkerHeartbeat
from motifs.catalogue import seed_catalogue
from motifs.demo_art import render_motif
from tests.processes import stop_process_group


def database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        if db["NAME"] == ":memory:" or "mode=memory" in str(db["NAME"]):
            pytest.skip("needs a file-backed test database (scripts/test.sh sets CUALIFY_TEST_DB_FILE)")
        return f"sqlite:///{db['NAME']}"
    return f"mysql://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or 'localhost'}:{db['PORT'] or 3306}/{db['NAME']}"


def start_cluster(tmp_path, kinds, **extra_env):
    """One ``qcluster`` process for each cluster that serves one of ``kinds`` (the classify and
    the generate cluster are separate processes, as in production)."""
    from django.apps import apps

    seed_catalogue(apps.get_model)
    registry.shipped_models_register(kinds=kinds)
    env = {**os.environ, "DATABASE_URL": database_url(), "MEDIA_ROOT": settings.MEDIA_ROOT,
           "CUALIFY_QUEUE_WORKERS": "1", "CUALIFY_HEARTBEAT_SECONDS": "1", "CUALIFY_QUEUE_SYNC": "false", **extra_env}
    env.pop("REDIS_URL", None)
    started = []
    for cluster in sorted({queues.CLUSTER_OF_KIND[kind] for kind in kinds}):
        log = open(tmp_path / f"qcluster-{cluster}.log", "w")
        process = subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=settings.BASE_DIR,
                                   env={**env, "Q_CLUSTER_NAME": cluster},
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        started.append((cluster, process, log))
    return started


@pytest.fixture
def qcluster(transactional_db, tmp_path):
    yield from run_cluster(tmp_path, ("classifier",))


def cluster_logs(tmp_path) -> str:
    return "\n".join(f"--- {path.name}\n" + path.read_text()[-3000:] for path in sorted(tmp_path.glob("qcluster-*.log")))


def run_cluster(tmp_path, kinds, **extra_env):
    """Yields the clusters' ``{name: process}`` once every kind is loaded by a live worker."""
    started = start_cluster(tmp_path, kinds, **extra_env)
    try:
        deadline = time.monotonic() + 90
        while not all(WorkerHeartbeat.objects.filter(models_loaded__has_key=kind).exists() for kind in kinds):
            assert all(process.poll() is None for _, process, _ in started), cluster_logs(tmp_path)
            assert time.monotonic() < deadline, "the workers did not warm up in 90 s\n" + cluster_logs(tmp_path)
            time.sleep(0.3)
        yield {cluster: process for cluster, process, _ in started}
    finally:
        for _, process, log in started:
            stop_process_group(process)
            log.close()


def test_upload_is_classified_by_a_real_cluster_worker(client, qcluster, settings):
    """Then, as when a worker dies with the Redis broker (which drops its task), a record that
    is queued, whose lease has run out and that no task carries: a live worker's heartbeat
    sweep sends it again and the cluster answers it within seconds. (One test: a cluster costs
    ~20 s to start and stop.)"""
    settings.CUALIFY_CLASSIFY_WAIT_SECONDS = 30
    buffer = io.BytesIO()
    render_motif("kuda-laut", 8123, 512).save(buffer, "JPEG")
    client.cookies["cualify_language"] = "en"
    response = client.post(reverse("classify"), {"photo": SimpleUploadedFile("p.jpg", buffer.getvalue(), "image/jpeg")})
    assert response.status_code == 302
    record = ClassificationRecord.objects.get()
    assert record.status == "done", record.error
    assert record.top[0]["slug"] == "kuda-laut" and record.timings["queue_s"] < 30
    assert "Kuda Laut" in client.get(response["Location"]).content.decode()
    beats = list(WorkerHeartbeat.objects.values("pid", "models_loaded", "cluster", "serves", "device"))
    assert os.getpid() not in [b["pid"] for b in beats], beats
    assert any(b["models_loaded"].get("classifier") == record.model_version_id for b in beats), beats
    # A classify worker loads the classifier and nothing else, and says so.
    assert all(b["cluster"] == "classify" and b["serves"] == ["classifier"] and set(b["models_loaded"]) == {"classifier"}
               and b["device"] == "cpu" for b in beats), beats

    from datetime import timedelta

    from django.utils import timezone

    from core import intake
    from inference.classification import services

    buffer = io.BytesIO()
    render_motif("merak", 8124, 256).save(buffer, "JPEG")
    lost = services.classification_create(normalized=intake.image_normalize(buffer.getvalue()))
    ClassificationRecord.objects.filter(pk=lost.pk).update(lease_expires=timezone.now() - timedelta(seconds=1))
    deadline = time.monotonic() + 60
    while lost.status == "queued":
        assert time.monotonic() < deadline, "no worker picked the lost record up"
        time.sleep(0.3)
        lost.refresh_from_db()
    assert lost.status == "done" and lost.attempts == 2 and lost.top[0]["slug"] == "merak", lost.error


@pytest.fixture
def generation_cluster(transactional_db, tmp_path):
    # A short lease, so a killed worker's job is free again within seconds.
    yield from run_cluster(tmp_path, ("classifier", "generator"), CUALIFY_GENERATION_LEASE_SECONDS="4",
                           CUALIFY_PROJECTION_STEPS="150")


def wait_for_job(job, until, timeout=120, every=None):
    deadline = time.monotonic() + timeout
    while True:
        job.refresh_from_db()
        if until(job):
            return job
        assert time.monotonic() < deadline, f"job stuck: {job.status} {job.stage} {job.error}"
        if every:
            every()
        time.sleep(0.3)


def test_a_job_whose_worker_is_killed_mid_job_still_completes(client, generation_cluster):
    """The worker dies while projecting the reference; its lease runs out; the sweeper sends
    the job again and the cluster's fresh worker claims it and finishes it."""
    from inference.generation import services as generation
    from inference.models import GenerationJob

    buffer = io.BytesIO()
    render_motif("merak", 4242, 256).save(buffer, "JPEG")
    client.cookies["cualify_language"] = "en"
    response = client.post(reverse("generate"), {
        "mode": "variation", "reference": SimpleUploadedFile("ref.jpg", buffer.getvalue(), "image/jpeg"), "count": 2,
        "seed": 9, "truncation": 0.7, "distance": 0.4, "refine_strength": 0.3, "upscale": 1, "tile": "on"})
    assert response.status_code == 302, response.content.decode()[:1500]
    job = GenerationJob.objects.get()
    job = wait_for_job(job, lambda j: j.status == "running" and j.stage == "projecting" and j.progress > 0.06)
    # Quick work does not wait behind slow work: a photo sent while the job projects is answered
    # by the classify cluster at once (with one shared queue of one worker it waited for the job).
    photo = io.BytesIO()
    render_motif("kepiting", 8125, 256).save(photo, "JPEG")
    response = client.post(reverse("classify"), {"photo": SimpleUploadedFile("p.jpg", photo.getvalue(), "image/jpeg")})
    record = ClassificationRecord.objects.get()
    assert response.status_code == 302 and record.status == "done", record.status
    job.refresh_from_db()
    assert job.status == "running" and record.timings["queue_s"] < 5, (job.status, record.timings)
    first_owner = job.lease_owner
    os.kill(int(first_owner.rsplit(":", 1)[1]), signal.SIGKILL)
    job = wait_for_job(job, lambda j: j.status == "succeeded", timeout=180, every=generation.generation_sweep)
    assert job.attempts == 2 and job.images.count() == 2, (job.attempts, job.error)
    assert job.model_versions["generator"]["id"]
    page = client.get(reverse("generate_job", args=[job.public_id])).content.decode()
    assert "Results" in page


def test_a_fusion_job_runs_in_the_cluster_with_progress(client, generation_cluster):
    from inference.models import GenerationJob

    client.cookies["cualify_language"] = "en"
    beats = {b["cluster"]: b for b in WorkerHeartbeat.objects.values("cluster", "serves", "models_loaded")}
    assert set(beats) == {"classify", "generate"}, beats
    assert beats["generate"]["serves"] == ["generator", "refiner"] and "classifier" not in beats["generate"]["models_loaded"]
    response = client.post(reverse("generate"), {
        "mode": "fusion", "motifs": ["merak", "kepiting"], "count": 8, "seed": 1, "truncation": 0.7, "distance": 0.5,
        "refine_strength": 0.3, "upscale": 2, "tile": "on"})
    assert response.status_code == 302
    job = wait_for_job(GenerationJob.objects.get(), lambda j: j.is_finished)
    assert job.status == "succeeded", job.error
    assert job.images.count() == 8 and job.images.first().width == 128
