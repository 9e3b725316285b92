"""Classification, generation jobs and model versions over the REST API, with the shipped
models and the real queue code (sync mode): every role, throttles, bad input, the error shape."""
import io
import json
import re
import uuid
import zipfile
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import translation
from PIL import Image

from core.api import INVALID_INPUT
from inference.classification import services
from inference.generation import messages as generation_messages
from inference.models import ClassificationRecord, GenerationJob, ModelKind, ModelVersion, WorkerHeartbeat
from motifs.demo_art import render_motif
from core.intake import rejection_message
from tests.api_fixtures import ROLES, api, api_as, client_for  # noqa: F401

pytestmark = pytest.mark.django_db


def demo_photo(slug="merak", seed=5000, size=256, fmt="JPEG") -> bytes:
    buffer = io.BytesIO()
    render_motif(slug, seed, size).save(buffer, fmt)
    return buffer.getvalue()


def classify(client, data=None, name="photo.jpg", field="file", **fields):
    data = demo_photo() if data is None else data
    return client.post("/api/v1/classify/", {field: SimpleUploadedFile(name, data, "image/jpeg"), **fields},
                       format="multipart")


def generate(client, **fields):
    return client.post("/api/v1/generate/", {"mode": "fusion", "motifs": ["merak", "kepiting"], "count": 1, "seed": 1,
                                             **fields}, format="json")


def assert_error(response, status, message=None):
    assert response.status_code == status, response.content[:1000]
    body = response.json()
    assert set(body) == {"error", "detail"} and isinstance(body["detail"], dict), body
    if message is not None:
        assert body["error"] == str(message)
    return body


def stored_uploads() -> list[Path]:
    root = Path(settings.MEDIA_ROOT) / "uploads"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


@pytest.fixture
def live_worker(db):
    """A fresh heartbeat: the queue looks alive, but nothing runs the tasks (they stay queued)."""
    return WorkerHeartbeat.objects.create(host="test", pid=1, models_loaded={"classifier": 0, "generator": 0})


# --- classify --------------------------------------------------------------------------------


def test_anonymous_classify_answers_the_summary_and_only_its_session_reads_it_back(api, classifier, sync_queue):
    response = classify(api)
    assert response.status_code == 200, response.content
    body = response.json()
    record = ClassificationRecord.objects.get()
    assert body["id"] == str(record.public_id) and body["status"] == "done" and body["motif"] == "merak"
    assert body["recognised"] and 0 < body["confidence"] <= 1 and len(body["top"]) == 5
    assert body["processing_time"] > 0 and all(key.endswith("_s") for key in body["timings"])
    assert record.user is None and record.session_key
    assert body["status_url"] == f"http://testserver/api/v1/classifications/{record.public_id}/"
    # The same session (the cookie the API set) reads it back; any other caller gets 404.
    assert api.get(body["status_url"]).json()["motif"] == "merak"
    assert [r["id"] for r in api.get("/api/v1/classifications/").json()["results"]] == [body["id"]]
    assert_error(client_for().get(body["status_url"]), 404)
    assert client_for().get("/api/v1/classifications/").json()["results"] == []


def test_a_photo_that_is_no_known_motif_names_no_label_or_confidence_and_says_why(api, nothing_is_near_the_archive,
                                                                                  sync_queue):
    body = classify(api).json()
    record = ClassificationRecord.objects.get()
    assert record.confidence > 0.5 and not record.recognised  # a high score, and still no known motif
    assert (body["label"], body["motif"], body["name"], body["confidence"]) == (None, None, None, None), body
    assert (body["recognised"], body["reason"], body["owners"], body["description"]) == (False, "far_from_archive", [], "")
    assert body["top"][0]["label"] == "merak" and body["top"][0]["confidence"] == record.top[0]["probability"]
    assert api.get(body["status_url"]).json() == body  # read back: the same answer


def test_the_serializer_and_both_schema_examples_have_exactly_the_summary_s_fields(api, classifier, sync_queue):
    from inference.api import CLASSIFICATION_EXAMPLE, NOT_RECOGNISED_EXAMPLE, ClassificationSerializer

    body = classify(api).json()
    fields = set(ClassificationSerializer().fields)
    assert set(body) == fields == set(CLASSIFICATION_EXAMPLE) == set(NOT_RECOGNISED_EXAMPLE)
    assert {CLASSIFICATION_EXAMPLE["reason"], NOT_RECOGNISED_EXAMPLE["reason"], body["reason"]} <= set(services.REASONS)
    assert NOT_RECOGNISED_EXAMPLE["label"] is NOT_RECOGNISED_EXAMPLE["confidence"] is None
    assert ClassificationSerializer(data={**NOT_RECOGNISED_EXAMPLE}).is_valid(), "the example is valid for the schema"


@pytest.mark.parametrize("role", ROLES)
def test_every_role_may_classify_and_reads_only_its_own_history(api_as, classifier, sync_queue, role):
    client, user = api_as(role)
    response = classify(client, field="image", consent_training="true")  # `image` is accepted too
    assert response.status_code == 200, response.content
    record = ClassificationRecord.objects.get()
    assert record.consent_training
    assert record.user_id == (user.pk if role != "anonymous" else None)
    stranger = api_as("user")[0]
    assert_error(stranger.get(response.json()["status_url"]), 404)
    assert stranger.get("/api/v1/classifications/").json()["count"] == 0
    # Curators and admins read anyone's record by its address, never in their own list.
    for staff in ("curator", "admin"):
        staff_client = api_as(staff)[0]
        assert staff_client.get(response.json()["status_url"]).status_code == 200
        assert staff_client.get("/api/v1/classifications/").json()["count"] == 0


def test_past_the_wait_bound_classify_answers_202_with_the_address_to_poll(api_as, classifier, live_worker, settings):
    settings.CUALIFY_API_CLASSIFY_WAIT_SECONDS = 0
    client, _user = api_as("user")
    response = classify(client)
    assert response.status_code == 202
    body = response.json()
    assert set(body) == {"id", "status", "status_url"} and body["status"] == "queued"
    assert client.get(body["status_url"]).json()["status"] == "queued"


def test_classify_without_a_classifier_or_a_worker_is_a_503_and_stores_nothing(api, db, classifier):
    body = assert_error(classify(api), 503, services.UNAVAILABLE_MESSAGES["no_worker"])
    assert body["detail"] == {"code": "no_worker"}
    ModelVersion.objects.filter(kind=ModelKind.CLASSIFIER).update(is_active=False)
    assert_error(classify(api), 503, services.UNAVAILABLE_MESSAGES["no_active_classifier"])
    assert stored_uploads() == [] and not ClassificationRecord.objects.exists()


@pytest.mark.parametrize("data, name, code", [
    (b"just some text", "notes.txt", "not_an_image"),
    (b"", "empty.jpg", "empty"),
    (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "x.svg", "not_an_image"),
    (demo_photo()[:400], "truncated.jpg", "corrupt"),
])
def test_unusable_uploads_are_400_with_the_intake_message_and_nothing_is_stored(api, classifier, sync_queue, data,
                                                                                name, code):
    body = classify(api, data=data, name=name).json()
    if code == "not_an_image" and body["detail"]["code"] == "unsupported_format":
        code = "unsupported_format"  # what the sniffing calls an SVG depends on Pillow
    assert body == {"error": rejection_message(code), "detail": {"code": code, "file": [rejection_message(code)]}}
    assert stored_uploads() == []


def test_classify_without_a_file_or_with_a_form_field_instead_is_a_400(api, classifier, sync_queue):
    body = assert_error(api.post("/api/v1/classify/", {"consent_training": "true"}, format="multipart"), 400,
                        INVALID_INPUT)
    assert body["detail"] == {"file": ["Send the photo in the field “file”."]}
    assert_error(api.post("/api/v1/classify/", {"file": "not a file"}, format="multipart"), 400)
    assert_error(api.post("/api/v1/classify/", {"file": "x"}, format="json"), 415)


def test_polyglot_uploads_are_stored_only_as_the_re_encoded_image(api, classifier, sync_queue):
    zip_buffer = io.BytesIO()
    with zipfile.ZipFile(zip_buffer, "w") as archive:
        archive.writestr("payload.txt", "secret")
    gif_html = demo_photo(fmt="GIF") + b"<html><body><script>alert(1)</script></body></html>"
    png_zip = demo_photo(fmt="PNG") + zip_buffer.getvalue()
    statuses = [classify(api, data=data, name="cloth.gif").status_code for data in (gif_html, png_zip)]
    assert set(statuses) <= {200, 400}
    assert len(stored_uploads()) == statuses.count(200)
    for path in stored_uploads():
        stored = path.read_bytes()
        assert b"<html" not in stored.lower() and b"<script" not in stored.lower()
        assert b"PK\x03\x04" not in stored and b"payload.txt" not in stored
        Image.open(io.BytesIO(stored)).verify()


def test_the_client_file_name_never_becomes_the_stored_name(api, classifier, sync_queue):
    assert classify(api, name="../../../../etc/cron.d/evil.php").status_code == 200
    record = ClassificationRecord.objects.get()
    assert record.image.name == f"uploads/classify/{record.public_id.hex[:2]}/{record.public_id.hex}.jpg"
    assert [p.name for p in stored_uploads()] == [f"{record.public_id.hex}.jpg"]


def test_a_photo_over_the_limits_is_a_413_in_the_error_shape(api, classifier, sync_queue, settings):
    settings.CUALIFY_MAX_IMAGE_BYTES = 1000
    assert_error(classify(api), 413, rejection_message("too_large"))
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2000
    body = assert_error(classify(api), 413)
    assert body["detail"] == {"code": "too_large"}
    assert stored_uploads() == []


def test_classify_is_throttled_with_429_and_retry_after(api_as, classifier, sync_queue, settings):
    settings.CUALIFY_RATE_LIMITS = {**settings.CUALIFY_RATE_LIMITS, "classify": "2/min"}
    client, _user = api_as("user")
    for _ in range(2):
        assert classify(client, data=b"x").status_code == 400  # refused uploads count too
    response = classify(client, data=b"x")
    body = assert_error(response, 429)
    assert body["detail"]["code"] == "throttled" and 0 < body["detail"]["retry_after"] <= 60
    assert int(response["Retry-After"]) == body["detail"]["retry_after"]
    assert body["error"].startswith("Too many requests.")
    # Another caller, and the catalogue for this one, are not held back by the classify scope.
    assert classify(api_as("user")[0], data=b"x").status_code == 400
    assert client.get("/api/v1/motifs/").status_code == 200


def test_anonymous_callers_have_their_own_overall_throttle(api, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {
        **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "anon": "3/hour"}}
    for _ in range(3):
        assert api.get("/api/v1/models/").status_code == 200
    response = api.get("/api/v1/models/")
    assert_error(response, 429)
    assert int(response["Retry-After"]) > 60


def test_an_unexpected_error_is_a_logged_500_in_the_error_shape(api, classifier, sync_queue, monkeypatch, caplog):
    def broken(**kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(services, "classification_submit", broken)
    body = assert_error(classify(api), 500)
    assert "secret" not in json.dumps(body) and body["detail"] == {"code": "server_error"}
    assert "secret internals" in caplog.text


def test_unknown_and_malformed_record_ids_are_404(api_as, classifier):
    client, _user = api_as("curator")
    assert_error(client.get(f"/api/v1/classifications/{uuid.uuid4()}/"), 404)
    assert_error(client.get("/api/v1/classifications/not-a-uuid/"), 404)
    assert_error(client.delete(f"/api/v1/classifications/{uuid.uuid4()}/"), 405)
    assert_error(client.get("/api/v1/classify/"), 405)


# --- generate --------------------------------------------------------------------------------


def test_a_fusion_job_is_accepted_followed_and_its_images_are_private(api_as, generator, sync_queue):
    client, user = api_as("user")
    response = client.post("/api/v1/generate/", {
        "mode": "fusion", "motifs": [{"slug": "merak", "weight": 2}, {"slug": "kepiting"}], "structure_from": "merak",
        "seed": 42, "count": 2}, format="json")
    assert response.status_code == 202, response.content
    body = response.json()
    job = GenerationJob.objects.get()
    assert body["job_id"] == str(job.public_id) and job.user == user
    assert body["status_url"] == f"http://testserver/api/v1/jobs/{job.public_id}/"
    assert job.motifs == [{"slug": "merak", "weight": 2.0}, {"slug": "kepiting", "weight": 1.0}]
    followed = client.get(body["status_url"]).json()
    assert followed["status"] == "succeeded" and followed["finished"] and followed["seed"] == 42
    urls = [image["url"] for image in followed["images"]]
    assert urls == [f"http://testserver/api/v1/jobs/{job.public_id}/images/{i}.png" for i in (0, 1)]
    png = client.get(urls[0])
    assert png.status_code == 200 and png["Content-Type"] == "image/png" and png.content.startswith(b"\x89PNG")
    stranger = api_as("user")[0]
    assert_error(stranger.get(body["status_url"]), 404)
    assert_error(stranger.get(urls[0]), 404)
    assert_error(client.get(urls[0].replace("/0.png", "/7.png")), 404)
    assert api_as("curator")[0].get(urls[0]).status_code == 200
    assert api_as("admin")[0].get(body["status_url"]).status_code == 200


def test_form_posts_name_motifs_with_optional_weights(api_as, generator, sync_queue):
    client, _user = api_as("user")
    response = client.post("/api/v1/generate/", "mode=fusion&motifs=merak:3&motifs=kepiting&count=1&seed=5",
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 202, response.content
    job = GenerationJob.objects.get()
    assert job.motifs == [{"slug": "merak", "weight": 3.0}, {"slug": "kepiting", "weight": 1.0}]
    assert job.tile is True  # absent from the form: the default, not an unticked checkbox


def test_a_variation_of_a_multipart_reference_image(api_as, generator, sync_queue, settings):
    settings.CUALIFY_PROJECTION_STEPS = 3
    client, _user = api_as("user")
    response = client.post("/api/v1/generate/", {"mode": "variation", "count": 1, "reference": SimpleUploadedFile(
        "../../ref.png", demo_photo(fmt="PNG"), "image/png")}, format="multipart")
    assert response.status_code == 202, response.content
    job = GenerationJob.objects.get()
    assert job.status == "succeeded", job.error
    assert job.reference.name.startswith("uploads/generate/references/") and "ref" not in Path(job.reference.name).name
    bad = client.post("/api/v1/generate/", {"mode": "variation", "reference": SimpleUploadedFile("r.png", b"<html>")},
                      format="multipart")
    assert_error(bad, 400, rejection_message("not_an_image"))


@pytest.mark.parametrize("role", ROLES)
def test_every_role_may_generate_and_lists_only_its_own_jobs(api_as, generator, sync_queue, role):
    client, user = api_as(role)
    body = generate(client).json()
    assert GenerationJob.objects.get().user_id == (user.pk if role != "anonymous" else None)
    assert [j["job_id"] for j in client.get("/api/v1/jobs/").json()["results"]] == [body["job_id"]]
    assert client.get("/api/v1/jobs/?mode=variation").json()["results"] == []
    assert client.get("/api/v1/jobs/?mode=fusion&status=succeeded").json()["count"] == 1
    other = api_as("curator")[0]
    assert other.get("/api/v1/jobs/").json()["count"] == 0  # lists are one's own, curators too
    assert other.get(body["status_url"]).status_code == 200


def test_bad_values_are_400_invalid_input_with_field_messages(api_as, generator, sync_queue):
    client, _user = api_as("user")
    assert generate(client, count=9).json() == {
        "error": "Invalid input.", "detail": {"count": ["Ensure this value is less than or equal to 8."]}}
    body = assert_error(generate(client, count="many", seed=-1, motifs="merak", truncation=None, upscale=3), 400,
                        INVALID_INPUT)
    assert set(body["detail"]) == {"count", "seed", "motifs", "truncation", "upscale"}
    assert set(assert_error(client.post("/api/v1/generate/", {}, format="json"), 400)["detail"]) == {"mode"}
    weights = assert_error(generate(client, motifs=[{"slug": "merak", "weight": "heavy"}, 7]), 400)
    assert set(weights["detail"]["motifs"]) == {"0", "1"}
    assert not GenerationJob.objects.exists()


@pytest.mark.parametrize("fields, code", [
    ({"motifs": ["merak"]}, "too_few_motifs"),
    ({"motifs": ["merak", "no-such-motif"]}, "motif_not_generatable"),
    ({"motifs": ["merak", "kepiting"], "structure_from": "naga-betarung"}, "source_not_in_motifs"),
    ({"mode": "variation", "motifs": ["merak", "kepiting"]}, "one_motif"),
    ({"mode": "prompt", "prompt": "   "}, "empty"),
    ({"refine": True}, "no_refiner"),
    ({"motifs": [{"slug": "merak", "weight": 0}, "kepiting"]}, "bad_weights"),
])
def test_requests_the_generator_refuses_are_400_with_its_message_and_code(api_as, generator, sync_queue, fields, code):
    client, _user = api_as("user")
    body = assert_error(generate(client, **fields), 400, generation_messages.error_message(code))
    assert body["detail"] == {"code": code}
    assert not GenerationJob.objects.exists()


def test_generate_without_a_generator_or_a_worker_is_a_503(api, db, generator):
    assert_error(generate(api), 503, generation_messages.error_message("no_worker"))
    ModelVersion.objects.filter(kind=ModelKind.GENERATOR).update(is_active=False)
    body = assert_error(generate(api), 503, generation_messages.error_message("no_generator"))
    assert body["detail"] == {"code": "no_generator"}


def test_generate_is_throttled_by_its_own_scope(api, generator, live_worker, settings):
    settings.CUALIFY_RATE_LIMITS = {**settings.CUALIFY_RATE_LIMITS, "generate": "1/min"}
    assert generate(api).status_code == 202
    response = generate(api)
    assert_error(response, 429) and response["Retry-After"]


def test_cancel_a_queued_job_then_a_finished_one_is_a_409(api_as, generator, live_worker):
    client, _user = api_as("user")
    url = generate(client).json()["status_url"]
    assert GenerationJob.objects.get().status == "queued"
    cancelled = client.delete(url)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    body = assert_error(client.delete(url), 409)
    assert body["detail"] == {"code": "finished", "job_status": "cancelled"}
    assert_error(api_as("user")[0].delete(url), 404)  # not theirs: as if it did not exist
    assert_error(client.delete(f"/api/v1/jobs/{uuid.uuid4()}/"), 404)


def test_anonymous_jobs_are_readable_only_in_their_session(api, generator, live_worker):
    url = generate(api).json()["status_url"]
    assert api.get(url).status_code == 200
    assert_error(client_for().get(url), 404)
    assert client_for().get("/api/v1/jobs/").json()["count"] == 0


# --- model versions --------------------------------------------------------------------------


def other_version(kind=ModelKind.CLASSIFIER) -> ModelVersion:
    return ModelVersion.objects.create(kind=kind, name="older", sha256="0" * 64, path="models/x", file_format="pt")


@pytest.mark.parametrize("role, allowed", [("anonymous", 401), ("user", 403), ("curator", 200), ("admin", 200)])
def test_everyone_reads_model_versions_and_only_curators_activate(api_as, classifier, role, allowed):
    client, _user = api_as(role)
    listed = client.get("/api/v1/models/?kind=classifier").json()["results"]
    assert [(v["id"], v["active"]) for v in listed] == [(classifier.pk, True)]
    assert listed[0]["sha256"] == classifier.sha256 and "top1" in listed[0]["metrics"] and "calibration" not in listed[0]
    older = other_version()
    response = client.post(f"/api/v1/models/{older.pk}/activate/")
    assert response.status_code == allowed, response.content
    older.refresh_from_db()
    classifier.refresh_from_db()
    assert older.is_active == (allowed == 200) and classifier.is_active == (allowed != 200)
    if allowed == 200:
        assert response.json()["active"] is True
        assert client.get("/api/v1/models/?active=true&kind=classifier").json()["results"][0]["id"] == older.pk
    else:
        assert_error(response, allowed)


def test_unknown_model_versions_are_404_and_reads_cannot_write(api_as, classifier):
    client, _user = api_as("curator")
    assert_error(client.post("/api/v1/models/99999/activate/"), 404)
    assert_error(client.get("/api/v1/models/99999/"), 404)
    assert_error(client.delete(f"/api/v1/models/{classifier.pk}/"), 405)
    assert_error(client.get(f"/api/v1/models/{classifier.pk}/activate/"), 405)


def test_invalid_tokens_are_401_in_the_error_shape(db):
    client = client_for()
    client.credentials(HTTP_AUTHORIZATION="Token 0123456789abcdef0123456789abcdef01234567")
    response = client.get("/api/v1/models/")
    body = assert_error(response, 401, "Invalid token.")
    assert body["detail"] == {"code": "authentication_failed"} and response["WWW-Authenticate"] == "Token"
    client.credentials(HTTP_AUTHORIZATION="Token")
    assert_error(client.get("/api/v1/models/"), 401)


def test_service_messages_follow_accept_language(db, classifier):
    """Messages come from gettext in the caller's language (the lead adds the Indonesian)."""
    for language in ("en", "id"):
        body = classify(client_for(language=language)).json()
        with translation.override(language):
            assert body["error"] == str(services.UNAVAILABLE_MESSAGES["no_worker"])
    assert classify(client_for(language="en")).json()["error"].startswith("Classification is unavailable right now")


def test_me_says_who_the_token_belongs_to(api_as):
    for role in ROLES:
        client, user = api_as(role)
        body = client.get("/api/v1/me/").json()
        assert body["role"] == {"anonymous": "visitor", "user": "registered"}.get(role, role)
        assert body["username"] == (user.username if role != "anonymous" else "")


# --- job stages and timings ------------------------------------------------------------------


@pytest.mark.parametrize("stored,code,label_en,label_id", [
    ("loading", "loading", "Loading the models", "Memuat model"),
    ("encoding_prompt", "encoding_prompt", "Reading your description", None),
    ("projecting", "projecting", "Fitting your reference image", None),
    ("drawing", "drawing", "Drawing the motifs", None),
    ("refining 3/10", "refining", "Refining 3/10", None),
    ("saving", "saving", "Saving", None),
    # what workers stored before the stages had codes
    ("starting", "loading", "Loading the models", "Memuat model"),
    ("loading models", "loading", "Loading the models", None),
    ("synthesis", "drawing", "Drawing the motifs", None),
    ("refinement 4/10", "refining", "Refining 4/10", None),
])
def test_a_running_jobs_stage_is_a_stable_code_with_a_label_in_the_callers_language(
        api_as, generator, stored, code, label_en, label_id):
    client, user = api_as("user")
    job = GenerationJob.objects.create(mode="fusion", motifs=[{"slug": "merak", "weight": 1.0}], seed=1, count=1,
                                       user=user, status="running", stage=stored, progress=0.5)
    body = client.get(f"/api/v1/jobs/{job.public_id}/").json()
    assert body["stage"] == code and body["stage_label"] == label_en and body["progress"] == 0.5
    assert code in generation_messages.STAGES
    indonesian = client_for(user, language="id").get(f"/api/v1/jobs/{job.public_id}/").json()
    assert indonesian["stage"] == code
    with translation.override("id"):
        expected_id = generation_messages.stage_label(stored)
    assert indonesian["stage_label"] == expected_id and indonesian["stage_label"] != label_en
    if label_id:
        assert indonesian["stage_label"] == label_id


def test_a_queued_or_finished_job_has_no_stage_and_its_progress_says_so(api_as, generator):
    client, user = api_as("user")
    # a job sent back to the queue after a failed attempt keeps nothing of that attempt's progress
    queued = GenerationJob.objects.create(mode="fusion", seed=1, count=1, user=user, status="queued",
                                          stage="drawing", progress=0.08)
    body = client.get(f"/api/v1/jobs/{queued.public_id}/").json()
    assert (body["stage"], body["stage_label"], body["progress"]) == ("", "", 0.0)
    done = GenerationJob.objects.create(mode="fusion", seed=1, count=1, user=user, status="succeeded")
    body = client.get(f"/api/v1/jobs/{done.public_id}/").json()
    assert (body["stage"], body["stage_label"], body["progress"]) == ("", "", 1.0)


def test_timing_keys_are_snake_case_stage_codes_and_old_records_are_read_the_same(api_as, generator, sync_queue):
    client, user = api_as("user")
    body = generate(client).json()
    timings = client.get(body["status_url"]).json()["timings"]
    assert {"loading_s", "drawing_s", "saving_s", "total_s"} <= set(timings), timings
    assert all(re.fullmatch(r"[a-z_]+_s", key) for key in timings), timings
    old = GenerationJob.objects.create(mode="variation", seed=1, count=1, user=user, status="succeeded", timings={
        "loading models_s": 1.5, "projecting reference_s": 2.0, "synthesis_s": 3.0,
        "refinement_s": 4.0, "saving_s": 0.5, "total_s": 11.1})
    assert client.get(f"/api/v1/jobs/{old.public_id}/").json()["timings"] == {
        "loading_s": 1.5, "projecting_s": 2.0, "drawing_s": 3.0, "refining_s": 4.0, "saving_s": 0.5, "total_s": 11.1}
