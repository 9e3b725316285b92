"""One rate limit per scope at every door (core.throttles): the site's forms and views, the REST
API and the Flask-compatible service count in one place, by user or by address; past the rate
each door answers 429 with Retry-After in its own form, the message translated. Real requests
through each door; no model is loaded (a refused or unavailable request counts like any other).
Also: a classified photo's heat map is queued once however often it is asked for."""
import io
import os
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation
from django_q.models import OrmQ

from compat.app import create_app
from core import throttles
from inference.classification import services
from inference.models import ClassificationRecord, GeneratedImage, GenerationJob
from tests.api_fixtures import client_for
from tests.factories import UserFactory, image_bytes

ROOT = Path(__file__).resolve().parent.parent
EN = {"Accept-Language": "en"}


@pytest.fixture
def limits(settings):
    """``limits(classify=3)``: that many requests a minute in the named scopes."""

    def set_(**rates):
        settings.CUALIFY_RATE_LIMITS = {**settings.CUALIFY_RATE_LIMITS, **{s: f"{n}/min" for s, n in rates.items()}}

    return set_


@pytest.fixture
def site(db) -> Client:
    client = Client()
    client.cookies["cualify_language"] = "en"
    return client


@pytest.fixture
def compat(db):
    return create_app().test_client()


def site_classify(client, **extra):
    return client.post(reverse("classify"), {"photo": SimpleUploadedFile("kain.jpg", b"x", "image/jpeg")}, **extra)


def api_classify(client):
    return client.post("/api/v1/classify/", {"file": SimpleUploadedFile("kain.jpg", b"x", "image/jpeg")}, format="multipart")


def compat_predict(compat, headers=EN, **extra):
    return compat.post("/predict", data={"file": (io.BytesIO(b"x"), "kain.jpg", "image/jpeg")}, headers=headers, **extra)


def message(seconds: int, language: str = "en") -> str:
    with translation.override(language):
        return throttles.RateLimited("any", seconds).message


def assert_site_429(response, language: str = "en") -> int:
    assert response.status_code == 429
    wait = int(response["Retry-After"])
    assert 1 <= wait <= 60
    page = response.content.decode()
    assert message(wait, language) in page and response.templates[0].name == "429.html"
    return wait


def assert_error_429(status: int, headers, body: dict, language: str = "en") -> int:
    assert status == 429, body
    wait = int(headers["Retry-After"])
    assert body == {"error": message(wait, language), "detail": {"code": "throttled", "retry_after": wait}}
    assert 1 <= wait <= 60
    return wait


# --- each door, past the rate ----------------------------------------------------------------


def test_the_site_classify_form_is_limited_with_a_translated_429_page(site, limits):
    limits(classify=3)
    for _ in range(3):
        assert site_classify(site).status_code == 503  # no classifier: refused, but counted
    assert_site_429(site_classify(site))
    assert site.get(reverse("classify")).status_code == 200  # reading the form is not limited
    site.cookies["cualify_language"] = "id"
    response = site_classify(site)
    assert_site_429(response, "id")
    assert "Terlalu banyak permintaan" in response.content.decode()


def test_a_site_request_that_asks_for_json_gets_the_error_shape(site, limits):
    limits(classify=1)
    site_classify(site)
    response = site_classify(site, HTTP_ACCEPT="application/json")
    assert_error_429(response.status_code, response, response.json())


def test_the_compat_service_is_limited_in_the_callers_language(compat, limits):
    limits(classify=2, generate=1)
    for _ in range(2):
        assert compat_predict(compat).status_code == 503
    response = compat_predict(compat)
    assert_error_429(response.status_code, response.headers, response.get_json())
    response = compat_predict(compat, headers={"Accept-Language": "id"})
    wait = assert_error_429(response.status_code, response.headers, response.get_json(), "id")
    assert response.get_json()["error"] != message(wait, "en")
    assert compat.post("/generate", json={"mode": "fusion"}, headers=EN).status_code == 503
    response = compat.post("/generate", json={"mode": "fusion"}, headers=EN)
    assert_error_429(response.status_code, response.headers, response.get_json())
    assert compat.get("/health").status_code == 200  # only the expensive endpoints count


def test_the_api_classify_scope_answers_the_same_message(db, limits):
    limits(classify=1)
    api = client_for(language="id")
    assert api_classify(api).status_code == 503
    response = api_classify(api)
    assert_error_429(response.status_code, response, response.json(), "id")


# --- one count for all doors -----------------------------------------------------------------


def test_one_address_counts_together_on_the_site_the_api_and_compat(site, compat, limits):
    limits(classify=6)
    api = client_for()
    assert site_classify(site).status_code == 503
    assert site.post(reverse("generate_image_classify", args=[uuid.uuid4(), 0])).status_code == 404  # "classify this"
    assert api_classify(api).status_code == 503
    assert api_classify(api).status_code == 503
    assert compat_predict(compat).status_code == 503
    assert compat_predict(compat).status_code == 503
    assert_site_429(site_classify(site))
    assert_site_429(site.post(reverse("generate_image_classify", args=[uuid.uuid4(), 0])))
    response = api_classify(api)
    assert_error_429(response.status_code, response, response.json())
    response = compat_predict(compat)
    assert_error_429(response.status_code, response.headers, response.get_json())
    # Another address has its own count; the generate scope is not touched.
    assert site_classify(site, REMOTE_ADDR="203.0.113.9").status_code == 503
    assert compat_predict(compat, environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code == 503
    assert site.post(reverse("generate"), {"mode": "fusion"}).status_code == 503


def test_the_generate_scope_is_shared_by_form_reference_api_and_compat(site, compat, limits):
    limits(generate=4)
    assert site.post(reverse("generate"), {"mode": "fusion"}).status_code == 503
    assert site.post(reverse("generate_image_reference", args=[uuid.uuid4(), 0])).status_code == 404  # "use as reference"
    assert client_for().post("/api/v1/generate/", {"mode": "fusion"}, format="json").status_code == 503
    assert compat.post("/generate", json={"mode": "fusion"}, headers=EN).status_code == 503
    assert_site_429(site.post(reverse("generate"), {"mode": "fusion"}))
    assert_site_429(site.post(reverse("generate_image_reference", args=[uuid.uuid4(), 0])))
    response = client_for().post("/api/v1/generate/", {"mode": "fusion"}, format="json")
    assert_error_429(response.status_code, response, response.json())
    response = compat.post("/generate", json={"mode": "fusion"}, headers=EN)
    assert_error_429(response.status_code, response.headers, response.get_json())


def test_a_signed_in_user_counts_by_account_from_any_address_and_door(site, limits):
    limits(classify=4)
    user = UserFactory()
    site.force_login(user)
    api = client_for(user)
    assert site_classify(site, REMOTE_ADDR="198.51.100.1").status_code == 503
    assert site_classify(site, REMOTE_ADDR="198.51.100.2").status_code == 503
    assert api.post("/api/v1/classify/", {"file": SimpleUploadedFile("k.jpg", b"x")}, format="multipart",
                    REMOTE_ADDR="198.51.100.3").status_code == 503
    assert api_classify(api).status_code == 503
    assert_site_429(site_classify(site, REMOTE_ADDR="198.51.100.4"))
    response = api_classify(api)
    assert_error_429(response.status_code, response, response.json())
    # Someone else, signed in or not, from the same address: not held back.
    other = Client()
    other.force_login(UserFactory())
    assert site_classify(other).status_code == 503
    assert site_classify(Client()).status_code == 503


def test_behind_a_proxy_the_site_and_compat_count_the_address_the_proxy_saw(site, compat, limits, settings):
    settings.CUALIFY_PROXY_COUNT = 1
    limits(classify=2)
    # The client forges the left part of X-Forwarded-For; the proxy appends the address it saw.
    assert site_classify(site, HTTP_X_FORWARDED_FOR="10.0.0.1, 192.0.2.7").status_code == 503
    assert compat_predict(compat, headers={**EN, "X-Forwarded-For": "10.0.0.2, 192.0.2.7"}).status_code == 503
    assert_site_429(site_classify(site, HTTP_X_FORWARDED_FOR="10.0.0.3, 192.0.2.7"))
    response = compat_predict(compat, headers={**EN, "X-Forwarded-For": "192.0.2.7"})
    assert_error_429(response.status_code, response.headers, response.get_json())
    assert site_classify(site, HTTP_X_FORWARDED_FOR="192.0.2.7, 192.0.2.8").status_code == 503


def test_client_ip_reads_a_django_request_and_a_wsgi_environ_alike(rf, settings):
    from flask import Flask, request

    from core.security import client_ip

    settings.CUALIFY_PROXY_COUNT = 1
    django_request = rf.get("/", REMOTE_ADDR="10.1.1.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 192.0.2.44")
    with Flask(__name__).test_request_context(
            "/", headers={"X-Forwarded-For": "6.6.6.6, 192.0.2.44"}, environ_base={"REMOTE_ADDR": "10.1.1.1"}):
        assert client_ip(request) == client_ip(request.environ) == client_ip(django_request) == "192.0.2.44"
    settings.CUALIFY_PROXY_COUNT = 0
    assert client_ip(django_request) == client_ip(django_request.META) == "10.1.1.1"


# --- the site's other expensive views --------------------------------------------------------


def finished_job(user) -> GeneratedImage:
    job = GenerationJob.objects.create(mode=GenerationJob.Mode.VARIATION, seed=1, count=1, user=user,
                                       status=GenerationJob.Status.SUCCEEDED)
    image = GeneratedImage(job=job, index=0, seed=1, width=64, height=64)
    image.file.save("0.png", ContentFile(image_bytes(size=(64, 64))), save=True)
    return image


def test_print_jobs_are_limited_and_the_print_form_is_not(site, settings, monkeypatch):
    from inference.generation import services as generation

    made = []  # the print job itself is tested in inference/tests/test_print_jobs.py: here, only the count
    monkeypatch.setattr(generation, "print_job_create",
                        lambda **kwargs: made.append(kwargs) or SimpleNamespace(public_id=uuid.uuid4()))
    settings.CUALIFY_RATE_LIMITS = {**settings.CUALIFY_RATE_LIMITS, "print": "2/hour"}
    user = UserFactory()
    site.force_login(user)
    image = finished_job(user)
    url = reverse("generate_image_print", args=[image.job.public_id, 0])
    asked = {"tile_cm": 2, "fabric_width_cm": 4, "fabric_height_cm": 4}
    for _ in range(2):
        response = site.post(url, asked)
        assert response.status_code == 302 and "/generate/prints/" in response["Location"]
    response = site.post(url, asked)
    assert response.status_code == 429 and 60 < int(response["Retry-After"]) <= 3600
    assert message(int(response["Retry-After"])) in response.content.decode()
    assert site.get(url).status_code == 200  # the form itself
    assert len(made) == 2


def classified_record(user) -> ClassificationRecord:
    return ClassificationRecord.objects.create(
        image=ContentFile(image_bytes(), name="photo.png"), user=user, status=ClassificationRecord.Status.DONE,
        top=[{"label": "merak", "slug": "merak", "probability": 0.9}])


def test_saliency_requests_are_limited(site, limits):
    limits(saliency=2)
    user = UserFactory()
    site.force_login(user)
    url = reverse("classify_saliency", args=[classified_record(user).public_id])
    assert [site.post(url).status_code for _ in range(2)] == [302, 302]
    assert_site_429(site.post(url))


# --- saliency: one task per record -----------------------------------------------------------


def test_six_saliency_posts_for_one_record_queue_one_task(site, settings, django_capture_on_commit_callbacks):
    user = UserFactory()
    site.force_login(user)
    record = classified_record(user)
    url = reverse("classify_saliency", args=[record.public_id])
    with django_capture_on_commit_callbacks(execute=True):
        responses = [site.post(url) for _ in range(6)]
    assert [r.status_code for r in responses] == [302] * 6
    assert OrmQ.objects.count() == 1  # the ORM broker's queue: what the cluster will run
    # An asking older than the bound for a lost task may be sent again, once.
    ClassificationRecord.objects.filter(pk=record.pk).update(
        saliency_requested=timezone.now() - timedelta(seconds=settings.CUALIFY_CLASSIFY_STALE_SECONDS + 1))
    with django_capture_on_commit_callbacks(execute=True):
        site.post(url)
        site.post(url)
    assert OrmQ.objects.count() == 2
    # Once the heat map exists, or for a record not classified yet, nothing is queued.
    ClassificationRecord.objects.filter(pk=record.pk).update(saliency="uploads/saliency/x.jpg", saliency_requested=None)
    queued = classified_record(user)
    ClassificationRecord.objects.filter(pk=queued.pk).update(status=ClassificationRecord.Status.QUEUED)
    with django_capture_on_commit_callbacks(execute=True):
        site.post(url)
        site.post(reverse("classify_saliency", args=[queued.public_id]))
    assert OrmQ.objects.count() == 2


def test_a_saliency_request_that_rolls_back_queues_nothing(db, django_capture_on_commit_callbacks):
    from django.db import transaction

    record = classified_record(None)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            assert services.classification_saliency_request(record)
            raise RuntimeError
    assert callbacks == [] and OrmQ.objects.count() == 0
    assert ClassificationRecord.objects.get().saliency_requested is None


# --- the rule itself -------------------------------------------------------------------------


def test_the_count_starts_again_in_the_next_window(db, limits, monkeypatch):
    limits(classify=1)
    now = 1_000_000 * 60 + 30.0  # half way through a minute
    monkeypatch.setattr(throttles, "clock", lambda: now)
    throttles.rate_limit("classify", "ip:192.0.2.1")
    with pytest.raises(throttles.RateLimited) as refused:
        throttles.rate_limit("classify", "ip:192.0.2.1")
    assert refused.value.retry_after == 30
    now += 30
    throttles.rate_limit("classify", "ip:192.0.2.1")


def test_an_unreachable_cache_lets_requests_through_and_says_so(site, limits, monkeypatch, caplog):
    limits(classify=1)

    def down(*args, **kwargs):
        raise ConnectionError("cache down")

    monkeypatch.setattr(throttles.cache, "add", down)
    assert [site_classify(site).status_code for _ in range(3)] == [503] * 3
    assert "cache is unavailable" in caplog.text


def test_an_empty_rate_is_no_limit_and_a_bad_one_is_refused(db, settings):
    settings.CUALIFY_RATE_LIMITS = {**settings.CUALIFY_RATE_LIMITS, "classify": ""}
    for _ in range(50):
        throttles.rate_limit("classify", "ip:192.0.2.1")
    from django.core.exceptions import ImproperlyConfigured

    settings.CUALIFY_RATE_LIMITS = {**settings.CUALIFY_RATE_LIMITS, "classify": "often"}
    with pytest.raises(ImproperlyConfigured):
        throttles.rate_limit("classify", "ip:192.0.2.1")
    with pytest.raises(ImproperlyConfigured):
        throttles.rate_limit("no-such-scope", "ip:192.0.2.1")


@pytest.mark.nodb
def test_rates_come_from_the_environment_and_the_older_names_still_work(tmp_path):
    code = "import json, cualify.settings as s; print(json.dumps(s.CUALIFY_RATE_LIMITS))"
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("CUALIFY_RATE_", "CUALIFY_THROTTLE_"))}

    def rates(**env):
        result = subprocess.run([sys.executable, "-c", code], env={**keep, "CUALIFY_DATA_DIR": str(tmp_path), **env},
                                capture_output=True, text=True, cwd=ROOT, check=True)
        import json

        return json.loads(result.stdout.strip().splitlines()[-1])

    assert rates() == {"classify": "30/min", "generate": "10/min", "print": "20/hour", "saliency": "10/min"}
    old = rates(CUALIFY_THROTTLE_CLASSIFY="7/min", CUALIFY_THROTTLE_GENERATE="3/min")
    assert (old["classify"], old["generate"]) == ("7/min", "3/min")
    new = rates(CUALIFY_THROTTLE_CLASSIFY="7/min", CUALIFY_RATE_CLASSIFY="9/min", CUALIFY_RATE_PRINT="5/day",
                CUALIFY_RATE_SALIENCY="4/min")
    assert (new["classify"], new["print"], new["saliency"]) == ("9/min", "5/day", "4/min")
