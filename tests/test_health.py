"""/health and /ready: one rule (inference.health) and the same JSON on the site and on the
Flask-compatible service."""
from datetime import timedelta

import pytest
from django.db import DatabaseError
from django.utils import timezone, translation

from inference import health
from compat.app import create_app
from inference.models import ModelKind, WorkerHeartbeat
from inference.tests.conftest import classifier, generator  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db


@pytest.fixture
def compat():
    return create_app().test_client()


def beat(models_loaded, seconds_ago=0):
    return WorkerHeartbeat.objects.create(host="worker-1", pid=4242, models_loaded=models_loaded,
                                          last_seen=timezone.now() - timedelta(seconds=seconds_ago))


def both(client, compat, path, language="en"):
    """The site's answer and the service's, as (status, json) pairs."""
    site = client.get(path, HTTP_ACCEPT_LANGUAGE=language)
    service = compat.get(path, headers={"Accept-Language": language})
    return (site.status_code, site.json()), (service.status_code, service.get_json())


def test_health_lists_the_active_versions_on_both_doors(client, compat, classifier, generator):
    site, service = both(client, compat, "/health")
    assert site == service
    status, payload = site
    assert status == 200 and payload["status"] == "ok" and payload["database"] is True
    assert payload["models"] == {
        "classifier": {"id": classifier.pk, "name": classifier.name, "sha256": classifier.sha256},
        "generator": {"id": generator.pk, "name": generator.name, "sha256": generator.sha256},
    }


def test_health_is_ok_with_no_models(client, compat):
    site, service = both(client, compat, "/health")
    assert site == service == (200, {"status": "ok", "database": True, "models": {}, "clusters": {}})


def test_health_shows_each_clusters_live_workers_what_they_serve_and_their_device(client, compat, classifier, generator):
    WorkerHeartbeat.objects.create(host="a", pid=1, cluster="classify", serves=["classifier"], device="cpu",
                                   models_loaded={"classifier": classifier.pk})
    WorkerHeartbeat.objects.create(host="b", pid=2, cluster="generate", serves=["generator", "refiner"], device="cuda",
                                   models_loaded={"generator": generator.pk})
    WorkerHeartbeat.objects.create(host="c", pid=3, cluster="generate", serves=["generator", "refiner"], device="cpu",
                                   models_loaded={"generator": generator.pk, "classifier": classifier.pk})
    WorkerHeartbeat.objects.create(host="gone", pid=4, cluster="classify", serves=["classifier"],
                                   last_seen=timezone.now() - timedelta(hours=1))
    site, service = both(client, compat, "/health")
    assert site == service
    assert site[1]["clusters"] == {
        "classify": {"workers": 1, "serves": ["classifier"], "loaded": ["classifier"], "devices": ["cpu"]},
        "generate": {"workers": 2, "serves": ["generator", "refiner"], "loaded": ["classifier", "generator"],
                     "devices": ["cpu", "cuda"]},
    }
    assert "gone" not in str(site[1]) and "host" not in str(site[1])  # no host names on a public page


def test_ready_is_503_without_a_worker_heartbeat_and_200_with_one(client, compat, classifier):
    site, service = both(client, compat, "/ready")
    assert site == service
    status, payload = site
    assert status == 503 and set(payload) == {"error", "detail"}
    assert payload["detail"]["missing"] == ["no_worker"] and payload["detail"]["workers"] == 0
    assert payload["error"] == "Not ready: no queue worker with the active model loaded has been seen in the last 15 seconds."

    beat({"classifier": classifier.pk})
    site, service = both(client, compat, "/ready")
    assert site == service
    status, payload = site
    assert status == 200 and payload["status"] == "ready" and payload["workers"] == 1 and payload["database"] is True
    assert payload["models"]["classifier"]["id"] == classifier.pk


@pytest.mark.parametrize("loaded, seconds_ago", [
    ({"classifier": -1}, 0),        # a worker still on another classifier version
    ({"generator": 1}, 0),          # a worker without the classifier
    ("active", 20),                 # the right model, but silent past CUALIFY_READY_HEARTBEAT_SECONDS
])
def test_ready_needs_a_fresh_worker_with_the_active_classifier(client, compat, classifier, loaded, seconds_ago):
    beat({"classifier": classifier.pk} if loaded == "active" else loaded, seconds_ago)
    for status, payload in both(client, compat, "/ready"):
        assert status == 503 and payload["detail"]["missing"] == ["no_worker"]


def test_ready_without_a_classifier_says_so(client, compat):
    beat({})
    site, service = both(client, compat, "/ready")
    assert site == service
    assert site[0] == 503 and site[1]["detail"]["missing"] == ["no_active_classifier"]
    assert site[1]["error"] == "Not ready: no classifier is active."


def test_ready_is_503_and_health_still_200_when_the_database_does_not_answer(client, compat, monkeypatch):
    def down():
        raise DatabaseError("connection refused")

    monkeypatch.setattr(health, "active_models", down)
    site, service = both(client, compat, "/ready")
    assert site == service
    assert site[0] == 503 and site[1]["detail"]["missing"] == ["database"] and site[1]["detail"]["database"] is False
    assert site[1]["error"] == "Not ready: the database does not answer."
    assert both(client, compat, "/health") == ((200, {"status": "ok", "database": False, "models": {}, "clusters": {}}),) * 2


def test_ready_is_503_when_redis_does_not_answer_or_the_media_storage_cannot_be_written(
        client, compat, classifier, settings, tmp_path):
    beat({"classifier": classifier.pk})
    assert both(client, compat, "/ready")[0][0] == 200
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    site, service = both(client, compat, "/ready")
    assert site == service and site[0] == 503 and site[1]["detail"]["missing"] == ["redis"]
    assert site[1]["error"] == "Not ready: Redis (the queue broker) does not answer."
    settings.REDIS_URL = ""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    settings.MEDIA_ROOT = str(blocker / "media")  # cannot be made: a file is in the way
    site, service = both(client, compat, "/ready")
    assert site == service and site[0] == 503 and site[1]["detail"]["missing"] == ["storage"]
    assert site[1]["error"] == "Not ready: the media storage cannot be written to."
    settings.MEDIA_ROOT = str(tmp_path / "media")
    assert both(client, compat, "/ready")[0][0] == 200
    assert not list((tmp_path / "media").rglob("probe*"))  # the probe file is removed again


def test_not_ready_message_follows_accept_language(client, compat, classifier):
    with translation.override("id"):
        expected = health.NOT_READY_MESSAGES["no_worker"] % {"seconds": "15"}
    site, service = both(client, compat, "/ready", language="id")
    assert site[1]["error"] == service[1]["error"] == expected
    assert compat.get("/ready", headers={"Accept-Language": "id"}).headers["Content-Language"] == "id"


def test_ready_reflects_a_changed_heartbeat_window(client, compat, classifier, settings):
    beat({"classifier": classifier.pk}, seconds_ago=20)
    settings.CUALIFY_READY_HEARTBEAT_SECONDS = 10
    site, _ = both(client, compat, "/ready")
    assert site[0] == 503 and "10 seconds" in site[1]["error"]
    settings.CUALIFY_READY_HEARTBEAT_SECONDS = 30
    assert both(client, compat, "/ready")[0][0] == 200


def test_readiness_counts_each_live_worker_with_the_classifier(classifier):
    beat({"classifier": classifier.pk})
    WorkerHeartbeat.objects.create(host="worker-2", pid=1, models_loaded={ModelKind.CLASSIFIER: classifier.pk})
    WorkerHeartbeat.objects.create(host="worker-3", pid=1, models_loaded={})
    state = health.readiness()
    assert state.ready and state.workers == 2 and state.missing == ()


def test_health_endpoints_refuse_writes(client, compat):
    assert client.post("/health").status_code == 405
    response = compat.post("/ready")
    assert response.status_code == 405 and set(response.get_json()) == {"error", "detail"}


def test_ready_asks_for_the_kind_it_needs_and_counts_only_workers_that_serve_it(client, compat, classifier, generator):
    beat({"classifier": classifier.pk})  # a classify-only worker
    assert both(client, compat, "/ready")[0][0] == 200
    site, service = both(client, compat, "/ready?kind=generator")
    assert site == service and site[0] == 503 and site[1]["detail"]["missing"] == ["no_worker"]
    assert site[1]["detail"]["kind"] == "generator"
    WorkerHeartbeat.objects.create(host="worker-2", pid=7, models_loaded={"generator": generator.pk})
    assert both(client, compat, "/ready?kind=generator")[0][0] == 200
    status, payload = both(client, compat, "/ready?kind=refiner")[0]
    assert status == 503 and payload["detail"]["missing"] == ["no_refiner"]
    status, payload = both(client, compat, "/ready?kind=teapot")[0]
    assert status == 400 and payload["detail"]["code"] == "bad_kind"

