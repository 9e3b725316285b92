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

from inference import registry
from inference.models import ClassificationRecord, WorkerHeartbeat
from motifs.catalogue import seed_catalogue
from motifs.demo_art import render_motif


def database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        if db["NAME"] == ":memory:" or "mode=memory" in str(db["NAME"]):
            pytest.skip("needs a file-backed test database (scripts/test.sh sets CUALIFY_TEST_DB_FILE)")
        return f"sqlite:///{db['NAME']}"
    return f"mysql://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or 'localhost'}:{db['PORT'] or 3306}/{db['NAME']}"


@pytest.fixture
def qcluster(transactional_db, tmp_path):
    from django.apps import apps

    seed_catalogue(apps.get_model)
    registry.shipped_models_register(kinds=("classifier",))
    env = {**os.environ, "DATABASE_URL": database_url(), "MEDIA_ROOT": settings.MEDIA_ROOT,
           "CUALIFY_QUEUE_WORKERS": "1", "CUALIFY_HEARTBEAT_SECONDS": "1", "CUALIFY_QUEUE_SYNC": "false"}
    env.pop("REDIS_URL", None)
    log = open(tmp_path / "qcluster.log", "w")
    process = subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=settings.BASE_DIR, env=env,
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while not WorkerHeartbeat.objects.filter(models_loaded__has_key="classifier").exists():
            assert process.poll() is None, (tmp_path / "qcluster.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the worker did not warm up in 90 s"
            time.sleep(0.3)
        yield process
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


def test_upload_is_classified_by_a_real_cluster_worker(client, qcluster, settings):
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
    beats = list(WorkerHeartbeat.objects.values("pid", "models_loaded"))
    assert os.getpid() not in [b["pid"] for b in beats], beats
    assert any(b["models_loaded"].get("classifier") == record.model_version_id for b in beats), beats
