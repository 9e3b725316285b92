"""The Flask-compatible service (compat.app): every endpoint and every error through the Flask
test client, with the shipped models and the real queue code (sync mode); then once through a
real ``gunicorn compat.wsgi:app`` and a real qcluster, with the reference client."""
import io
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.utils import translation
from PIL import Image

from compat.app import create_app
from inference.classification import services
from inference.generation import messages as generation_messages
from inference.generation import services as generation
from inference.models import ClassificationRecord, GenerationJob, WorkerHeartbeat
from inference.tests.conftest import classifier, generator, nothing_is_near_the_archive, sync_queue  # noqa: F401  (fixtures)
from inference.tests.test_cluster_integration import database_url, run_cluster
from motifs.demo_art import render_motif
from core.intake import rejection_message
from tests.factories import image_bytes
from tests.processes import stop_process_group

ROOT = Path(django_settings.BASE_DIR)
EN = {"Accept-Language": "en"}


def demo_photo(slug: str, seed: int = 5000, size: int = 512) -> bytes:
    buffer = io.BytesIO()
    render_motif(slug, seed, size).save(buffer, "JPEG")
    return buffer.getvalue()


def photo_upload(data: bytes, field: str = "file") -> dict:
    return {field: (io.BytesIO(data), "kain.jpg", "image/jpeg")}


def assert_error_shape(response, status: int, code: str) -> dict:
    payload = response.get_json()
    assert response.status_code == status, payload
    assert set(payload) == {"error", "detail"} and payload["error"] and payload["detail"]["code"] == code, payload
    assert "Traceback" not in response.get_data(as_text=True)
    return payload


def in_language(language: str, message) -> str:
    """``message`` (a lazy text, or a callable making one) in ``language``."""
    with translation.override(language):
        return str(message() if callable(message) else message)


@pytest.fixture
def compat(db):
    return create_app().test_client()


# --- /predict --------------------------------------------------------------------------------


def test_predict_answers_what_classification_summary_says_for_the_same_photo(compat, classifier, sync_queue):
    photo = demo_photo("merak")
    response = compat.post("/predict", data=photo_upload(photo), headers=EN)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    with translation.override("en"):
        expected = services.classification_summary(services.classification_submit(data=photo, wait_seconds=5))
    assert (body["label"], body["motif"]) == (expected["label"], expected["motif"]) == ("merak", "merak")
    assert body["confidence"] == pytest.approx(expected["confidence"]) and 0 < body["confidence"] <= 1
    assert [t["label"] for t in body["top"]] == [t["label"] for t in expected["top"]]
    assert all(set(t) >= {"label", "confidence"} and 0 <= t["confidence"] <= 1 for t in body["top"])
    assert body["description"] == expected["description"] and body["description"]
    assert body["owners"] == expected["owners"] and "Ishadi Cual Gallery" in [o["name"] for o in body["owners"]]
    assert 0 < body["processing_time"] < 30
    record = ClassificationRecord.objects.get(public_id=body["id"])
    assert record.user is None and record.session_key == "" and "upload_s" in record.timings


def test_predict_of_a_photo_that_is_no_known_motif_names_no_label_and_keeps_the_guesses(compat, nothing_is_near_the_archive,
                                                                                      sync_queue):
    photo = demo_photo("merak")
    response = compat.post("/predict", data=photo_upload(photo), headers=EN)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    # The Flask-era keys are all there, but none presents the model's guess as the answer.
    assert {"label", "motif", "confidence", "description", "owners", "top", "processing_time"} <= set(body)
    assert (body["label"], body["motif"], body["name"], body["confidence"]) == (None, None, None, None), body
    assert (body["recognised"], body["reason"]) == (False, "far_from_archive")
    assert body["top"][0]["label"] == "merak" and body["top"][0]["confidence"] > 0.5
    with translation.override("en"):
        expected = services.classification_summary(ClassificationRecord.objects.get(public_id=body["id"]))
    assert body == expected


def test_predict_accepts_the_image_field_too(compat, classifier, sync_queue):
    response = compat.post("/predict", data=photo_upload(demo_photo("merak"), field="image"))
    assert response.status_code == 200 and response.get_json()["label"] == "merak"


def test_predict_without_a_file_is_400(compat, classifier, sync_queue):
    payload = assert_error_shape(compat.post("/predict", data={"photo": "x"}, headers=EN), 400, "missing_file")
    assert payload["error"] == "Send the photo as the multipart form field “file”."


def test_predict_of_a_file_that_is_not_an_image_is_400_and_nothing_is_stored(compat, classifier, sync_queue):
    response = compat.post("/predict", data=photo_upload(b"%PDF-1.4 not a picture"), headers=EN)
    payload = assert_error_shape(response, 400, "not_an_image")
    assert payload["error"] == "The file is not an image."
    assert not ClassificationRecord.objects.exists()


def test_accept_language_picks_the_language_of_the_messages(compat, classifier, sync_queue):
    english = compat.post("/predict", data=photo_upload(b"not an image"), headers={"Accept-Language": "en-GB,en;q=0.9"})
    indonesian = compat.post("/predict", data=photo_upload(b"not an image"), headers={"Accept-Language": "id-ID,id;q=0.9"})
    default = compat.post("/predict", data=photo_upload(b"not an image"))
    assert english.headers["Content-Language"] == "en" and indonesian.headers["Content-Language"] == "id"
    assert english.get_json()["error"] == "The file is not an image."
    assert indonesian.get_json()["error"] == in_language("id", lambda: rejection_message("not_an_image")) != "The file is not an image."
    assert default.get_json() == indonesian.get_json()  # the site's default language
    assert "Accept-Language" in english.headers["Vary"]
    # The service's own messages go through gettext too (their Indonesian comes with the catalogue).
    missing = compat.post("/predict", data={}, headers={"Accept-Language": "id"}).get_json()["error"]
    assert missing == in_language("id", lambda: translation.gettext("Send the photo as the multipart form field “file”."))
    assert missing != "Send the photo as the multipart form field “file”."


def test_predict_of_a_too_large_file_is_413_whichever_limit_catches_it(db, settings, classifier, sync_queue):
    settings.CUALIFY_MAX_IMAGE_BYTES = 20_000
    compat = create_app().test_client()
    big_photo = image_bytes(size=(400, 400), fmt="BMP")          # over the image limit, under the request limit
    payload = assert_error_shape(compat.post("/predict", data=photo_upload(big_photo), headers=EN), 413, "too_large")
    assert payload["error"] == "The file is too large (at most 19.5 KB)." and payload["detail"]["max_bytes"] == 20_000
    huge_body = b"\0" * (20_000 + 2 * 1024 * 1024)                # over Flask's MAX_CONTENT_LENGTH
    payload = assert_error_shape(compat.post("/predict", data=photo_upload(huge_body), headers=EN), 413, "too_large")
    assert payload["error"] == "The file is too large (at most 19.5 KB)."
    assert not ClassificationRecord.objects.exists()


def test_predict_without_a_classifier_is_503_at_once(compat):
    payload = assert_error_shape(compat.post("/predict", data=photo_upload(demo_photo("merak")), headers=EN), 503,
                                 "no_active_classifier")
    assert payload["error"] == "Classification is unavailable right now: no classifier is active. Please try again later."
    assert not ClassificationRecord.objects.exists()


def test_predict_without_a_live_worker_is_503_at_once_and_nothing_is_stored(compat, classifier):
    started = time.monotonic()
    response = compat.post("/predict", data=photo_upload(demo_photo("merak")), headers=EN)
    assert_error_shape(response, 503, "no_worker")
    assert time.monotonic() - started < 2 and not ClassificationRecord.objects.exists()


def test_predict_past_its_wait_bound_is_503(compat, classifier, settings):
    """A worker is alive (heartbeat) but nobody takes the task: the service stops waiting."""
    settings.CUALIFY_COMPAT_PREDICT_WAIT_SECONDS = 0.3
    WorkerHeartbeat.objects.create(host="elsewhere", pid=1, models_loaded={"classifier": classifier.pk})
    payload = assert_error_shape(compat.post("/predict", data=photo_upload(demo_photo("merak")), headers=EN), 503, "timeout")
    assert payload["error"] == "No answer from the model service within 0.3 seconds. Please try again later."
    assert ClassificationRecord.objects.get(public_id=payload["detail"]["id"]).status == "queued"


def test_a_classification_that_fails_in_the_worker_is_500_in_the_error_shape(compat, classifier, sync_queue, monkeypatch):
    def broken(record_id, enqueued_at):
        raise RuntimeError("model exploded at 0xdeadbeef")

    monkeypatch.setattr(services, "_classify", broken)
    response = compat.post("/predict", data=photo_upload(demo_photo("merak")), headers=EN)
    payload = assert_error_shape(response, 500, "failed")
    assert "0xdeadbeef" not in response.get_data(as_text=True)
    assert payload["error"].startswith("Something went wrong while classifying your photo.")


def test_an_unexpected_error_is_500_without_a_stack_trace(compat, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(services, "classification_submit", broken)
    response = compat.post("/predict", data=photo_upload(demo_photo("merak")), headers=EN)
    payload = assert_error_shape(response, 500, "server_error")
    assert "secret internals" not in response.get_data(as_text=True)
    assert payload["error"] == "Something went wrong on our side. Please try again later."


# --- /generate -------------------------------------------------------------------------------


def test_generate_as_json_then_follow_the_job_and_fetch_an_image(compat, generator, sync_queue):
    response = compat.post("/generate", json={"mode": "fusion", "motifs": ["merak", "kepiting"], "seed": 42, "count": 2},
                           headers=EN)
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert set(body) >= {"job_id", "status_url"} and response.headers["Location"] == body["status_url"]
    job = GenerationJob.objects.get(public_id=body["job_id"])
    assert job.user is None and job.session_key == "" and job.seed == 42 and job.count == 2
    assert job.motifs == [{"slug": "merak", "weight": 1.0}, {"slug": "kepiting", "weight": 1.0}]

    status = compat.get(body["status_url"], headers=EN)
    assert status.status_code == 200
    summary = status.get_json()
    assert summary["status"] == "succeeded" and summary["finished"] and summary["progress"] == 1.0
    assert [image["seed"] for image in summary["images"]] == [42, 43]
    image = compat.get(summary["images"][1]["url"])
    assert image.status_code == 200 and image.mimetype == "image/png"
    assert Image.open(io.BytesIO(image.data)).size == (summary["images"][1]["width"], summary["images"][1]["height"])
    assert image.data == job.images.get(index=1).file.read()


def test_generate_as_a_form_with_repeated_or_comma_separated_motifs(compat, generator, sync_queue):
    for motifs in (["merak", "kepiting"], ["merak,kepiting"]):
        response = compat.post("/generate", data={"mode": "fusion", "motifs": motifs, "count": "1", "seed": "7",
                                                  "tile": "off", "truncation": "0.6"})
        assert response.status_code == 202, response.get_json()
        job = GenerationJob.objects.get(public_id=response.get_json()["job_id"])
        assert job.motif_slugs == ["merak", "kepiting"] and not job.tile and job.truncation == 0.6 and job.count == 1


def test_generate_takes_weights_and_a_variation(compat, generator, sync_queue):
    response = compat.post("/generate", json={"mode": "fusion", "motifs": {"merak": 2, "kepiting": 1}, "count": 1})
    assert response.status_code == 202
    assert GenerationJob.objects.get(public_id=response.get_json()["job_id"]).motifs[0] == {"slug": "merak", "weight": 2.0}
    response = compat.post("/generate", json={"mode": "variation", "motifs": ["merak"], "count": 1, "distance": 0.2})
    assert response.status_code == 202 and compat.get(response.get_json()["status_url"]).get_json()["status"] == "succeeded"


@pytest.mark.parametrize("body, code", [
    ({"mode": "collage", "motifs": ["merak", "kepiting"]}, "bad_mode"),
    ({"motifs": ["merak", "kepiting"]}, "bad_mode"),
    ({"mode": "fusion", "motifs": ["merak", "kepiting"], "count": 99}, "bad_count"),
    ({"mode": "fusion", "motifs": ["merak", "kepiting"], "count": "many"}, "bad_count"),
    ({"mode": "fusion", "motifs": ["merak", "kepiting"], "seed": "abc"}, "bad_seed"),
    ({"mode": "fusion", "motifs": ["merak", "kepiting"], "seed": -1, "count": 1}, "bad_seed"),
    ({"mode": "fusion", "motifs": ["merak", "kepiting"], "truncation": 5}, "bad_truncation"),
    ({"mode": "fusion", "motifs": ["merak", "kepiting"], "upscale": 3}, "bad_upscale"),
    ({"mode": "fusion", "motifs": ["merak", "no-such-motif"]}, "motif_not_generatable"),
    ({"mode": "fusion", "motifs": {"merak": 0, "kepiting": 1}}, "bad_weights"),
    ({"mode": "fusion", "motifs": ["merak"]}, "too_few_motifs"),
    ({"mode": "variation", "motifs": ["merak", "kepiting"]}, "one_motif"),
    ({"mode": "prompt", "prompt": "   "}, "empty"),
    ({"mode": "fusion", "motifs": ["merak", "kepiting"], "refine": True}, "no_refiner"),
])
def test_bad_generation_requests_are_400_with_the_rules_message(compat, generator, sync_queue, body, code):
    payload = assert_error_shape(compat.post("/generate", json=body, headers=EN), 400, code)
    assert payload["error"] == in_language("en", lambda: generation_messages.error_message(code))
    assert not GenerationJob.objects.exists()


def test_generation_messages_follow_accept_language(compat, generator, sync_queue):
    response = compat.post("/generate", json={"mode": "fusion", "motifs": ["merak"]}, headers={"Accept-Language": "id"})
    payload = assert_error_shape(response, 400, "too_few_motifs")
    assert payload["error"] == in_language("id", lambda: generation_messages.error_message("too_few_motifs")) != "Choose at least two motifs for a fusion."


def test_malformed_json_is_400_in_the_error_shape(compat, generator, sync_queue):
    response = compat.post("/generate", data="{not json", content_type="application/json", headers=EN)
    assert assert_error_shape(response, 400, "not_json")["error"] == "The request body is not valid JSON."
    assert_error_shape(compat.post("/generate", json=["merak"], headers=EN), 400, "bad_request")


def test_a_field_the_job_row_refuses_is_400_with_the_field_named(compat, generator, sync_queue, monkeypatch):
    from django.core.exceptions import ValidationError

    def refuse(**kwargs):
        raise ValidationError({"structure_from": ["Ensure this value has at most 60 characters."]})

    monkeypatch.setattr(generation, "generation_job_create", refuse)
    payload = assert_error_shape(compat.post("/generate", json={"mode": "fusion"}, headers=EN), 400, "invalid")
    assert payload["error"] == "Some fields are not valid." and list(payload["detail"]["fields"]) == ["structure_from"]


def test_generate_without_a_generator_or_a_worker_is_503_at_once(compat, db):
    payload = assert_error_shape(compat.post("/generate", json={"mode": "fusion", "motifs": ["merak", "kepiting"]},
                                             headers=EN), 503, "no_generator")
    assert payload["error"] == "No generator is active. A curator must activate one."


def test_generate_without_a_live_worker_is_503_and_nothing_is_stored(compat, generator):
    assert_error_shape(compat.post("/generate", json={"mode": "fusion", "motifs": ["merak", "kepiting"]}), 503, "no_worker")
    assert not GenerationJob.objects.exists()


def test_unknown_jobs_and_images_are_404(compat, generator, sync_queue):
    job_id = compat.post("/generate", json={"mode": "variation", "motifs": ["merak"], "count": 1}).get_json()["job_id"]
    for path in ("/generate/00000000-0000-4000-8000-000000000000", "/generate/not-a-uuid",
                 f"/generate/{job_id}/images/5.png", "/generate/not-a-uuid/images/0.png"):
        payload = assert_error_shape(compat.get(path, headers=EN), 404, "not_found")
        assert payload["error"] == "There is no generation job with this id."
    assert compat.get(f"/generate/{job_id}/images/0.png").status_code == 200


def test_a_site_visitors_job_is_not_readable_through_the_service(compat, generator, sync_queue):
    """A visitor's job is private to the site; only jobs made without an account or session are
    readable by their id here."""
    job = generation.generation_job_create(
        request=generation.GenerationRequest(mode="variation", motifs=(("merak", 1.0),), count=1), session_key="visitor-key")
    assert_error_shape(compat.get(f"/generate/{job.public_id}"), 404, "not_found")
    assert_error_shape(compat.get(f"/generate/{job.public_id}/images/0.png"), 404, "not_found")


# --- methods, unknown paths ------------------------------------------------------------------


@pytest.mark.parametrize("method, path, allowed", [
    ("get", "/predict", "POST"), ("put", "/generate", "POST"), ("post", "/health", "GET"),
    ("delete", "/generate/00000000-0000-4000-8000-000000000000", "GET"),
])
def test_wrong_method_is_405_in_the_error_shape(compat, method, path, allowed):
    response = getattr(compat, method)(path, headers=EN)
    payload = assert_error_shape(response, 405, "method_not_allowed")
    assert payload["error"] == "This method is not allowed here." and allowed in payload["detail"]["allowed"]
    assert allowed in response.headers["Allow"]


def test_unknown_path_is_404_in_the_error_shape(compat):
    assert assert_error_shape(compat.get("/predict/v2", headers=EN), 404, "not_found")["error"] == "Not found."


def test_an_unknown_host_is_refused_like_the_site_does(compat):
    assert_error_shape(compat.get("/health", headers={"Host": "evil.example"}), 400, "bad_request")


@pytest.mark.nodb
def test_the_service_process_imports_no_model_library(tmp_path):
    check = ("import sys, compat.app; "
             "print(','.join(sorted(m for m in ('torch', 'ultralytics', 'onnxruntime', 'torchvision') if m in sys.modules)) or 'none')")
    result = subprocess.run([sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "CUALIFY_DATA_DIR": str(tmp_path), "HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "none"


# --- once through a real gunicorn and a real qcluster ----------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def http_json(url: str, timeout: float = 60, **kwargs) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, **kwargs), timeout=timeout) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture
def gunicorn_compat(transactional_db, tmp_path):
    """A qcluster with the classifier and the generator, and ``gunicorn compat.wsgi:app`` with
    the shipped production config, both on the file-backed test database."""
    cluster = run_cluster(tmp_path, ("classifier", "generator"))
    next(cluster)
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url(), "MEDIA_ROOT": django_settings.MEDIA_ROOT,
           "CUALIFY_QUEUE_SYNC": "false", "CUALIFY_COMPAT_WORKERS": "1", "CUALIFY_COMPAT_THREADS": "4"}
    env.pop("REDIS_URL", None)
    log = open(tmp_path / "gunicorn.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "compat.wsgi:app", "-c", "deploy/gunicorn.compat.conf.py",
         "--bind", f"127.0.0.1:{port}"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, (tmp_path / "gunicorn.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "gunicorn did not answer in 60 s"
            try:
                if http_json(f"{url}/health", timeout=2)[0] == 200:
                    break
            except OSError:
                time.sleep(0.2)
        yield url
    finally:
        stop_process_group(server)
        log.close()
        cluster.close()


def client_command(url: str, *args: str, timeout: float = 180) -> dict:
    result = subprocess.run([sys.executable, "scripts/compat_client.py", "--url", url, "--lang", "en", *args],
                            cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def test_real_gunicorn_answers_like_the_site_and_the_reference_client_works(gunicorn_compat, sync_queue, tmp_path):
    url = gunicorn_compat
    status, health = http_json(f"{url}/health")
    assert status == 200 and set(health["models"]) == {"classifier", "generator"}
    status, ready = http_json(f"{url}/ready")
    assert status == 200 and ready["workers"] >= 1, ready

    photo_path = tmp_path / "kain.jpg"
    photo_path.write_bytes(demo_photo("merak"))
    served = client_command(url, "predict", str(photo_path))
    record = ClassificationRecord.objects.get(public_id=served["id"])
    assert record.status == "done" and record.timings["queue_s"] < 30
    # The same photo, classified in this process (the real task code, sync mode).
    with translation.override("en"):
        expected = services.classification_summary(services.classification_submit(data=photo_path.read_bytes(), wait_seconds=5))
    assert (served["label"], served["motif"], served["recognised"]) == (expected["label"], expected["motif"], True)
    assert served["motif"] == "merak" and served["confidence"] == pytest.approx(expected["confidence"], abs=1e-5)
    assert [t["label"] for t in served["top"]] == [t["label"] for t in expected["top"]]
    assert [t["confidence"] for t in served["top"]] == pytest.approx([t["confidence"] for t in expected["top"]], abs=1e-5)
    same = ("name", "description", "meaning", "owners", "model_version")
    assert {k: served[k] for k in same} == {k: expected[k] for k in same}

    status, refused = http_json(f"{url}/predict", data=b"", method="POST", headers={"Accept-Language": "en"})
    assert status == 400 and refused["detail"]["code"] == "missing_file"

    job = client_command(url, "generate", "--mode", "prompt", "--prompt", "bunga kenanga merah", "--count", "1",
                         "--seed", "3", "--wait", "--download", str(tmp_path / "out"))
    assert job["status"] == "succeeded", job
    assert job["matched"][0]["motif"] == "kembang-kenanga"
    saved = Path(job["downloaded"][0])
    assert Image.open(saved).size == (job["images"][0]["width"], job["images"][0]["height"])
    assert GenerationJob.objects.get(public_id=job["job_id"]).images.get().file.read() == saved.read_bytes()
