"""A classification lost to a dead worker is sent once more within seconds, then fails with a
translated message: the lease and sweep that generation jobs have, for classification records.
The real services, the real ORM broker (tasks are rows), the shipped classifier."""
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils import translation
from django_q.models import OrmQ

from compat.app import create_app
from core import intake
from inference.classification import services
from inference.models import ClassificationRecord
from inference.tests.conftest import classifier, sync_queue  # noqa: F401  (fixtures)
from inference.visitors import visitor_key_hash
from tests.factories import image_bytes

pytestmark = pytest.mark.django_db


def queued_record(client=None) -> ClassificationRecord:
    """A record as a door leaves it: stored and sent once; nobody answers (no cluster runs)."""
    key = ""
    if client is not None:
        client.get(reverse("classify"))
        key = visitor_key_hash(client.session.session_key)
    record = services.classification_create(normalized=intake.image_normalize(image_bytes()), session_key=key)
    services.classification_enqueue(record)
    return record


def expire(record) -> None:
    ClassificationRecord.objects.filter(pk=record.pk).update(lease_expires=timezone.now() - timedelta(seconds=1))


def test_a_new_record_is_sent_once_with_a_lease(classifier, settings):
    before = timezone.now()
    record = queued_record()
    assert record.attempts == 1 and OrmQ.objects.count() == 1
    assert record.lease_expires >= before + timedelta(seconds=settings.CUALIFY_CLASSIFY_LEASE_SECONDS - 1)


def test_a_lost_record_is_sent_once_more_then_fails_as_lost_with_a_translated_message(client, classifier):
    record = queued_record(client)
    assert services.classification_sweep() == {"failed": 0, "resent": 0}  # lease not run out yet
    expire(record)
    assert services.classification_sweep() == {"failed": 0, "resent": 1}
    record.refresh_from_db()
    assert record.status == "queued" and record.attempts == 2 and record.lease_expires > timezone.now()
    assert OrmQ.objects.count() == 2  # the task went to the broker again
    assert services.classification_sweep() == {"failed": 0, "resent": 0}  # the new lease holds

    expire(record)
    client.cookies["cualify_language"] = "id"
    html = client.get(reverse("classify_result", args=[record.public_id])).content.decode()  # reading sweeps it
    record.refresh_from_db()
    assert record.status == "failed" and record.error == "lost" and record.lease_expires is None
    with translation.override("id"):
        message = str(services.FAILURE_MESSAGES["lost"])
    with translation.override("en"):
        assert message in html and message != str(services.FAILURE_MESSAGES["lost"])
    assert client.get(reverse("classify_status", args=[record.public_id])).json()["finished"] is True
    assert services.classification_summary(record)["error"]
    assert record.image and record.image.storage.exists(record.image.name)  # nothing lost: the photo stays


def test_the_api_reads_a_lost_record_as_failed_with_its_message(client, classifier):
    record = queued_record(client)
    ClassificationRecord.objects.filter(pk=record.pk).update(attempts=2)
    expire(record)
    body = client.get(reverse("api:classification-detail", args=[record.public_id]), HTTP_ACCEPT_LANGUAGE="en").json()
    with translation.override("en"):
        assert body["status"] == "failed" and body["error"] == str(services.FAILURE_MESSAGES["lost"])


def test_a_resent_record_is_answered_by_a_live_worker(classifier, sync_queue):
    record = services.classification_create(normalized=intake.image_normalize(image_bytes()))
    expire(record)
    assert services.classification_sweep()["resent"] == 1  # sync queue: the worker code runs now
    record.refresh_from_db()
    assert record.status == "done" and record.top and record.lease_expires is None


def test_a_worker_never_takes_a_record_that_already_failed_or_finished(classifier, sync_queue):
    record = services.classification_create(normalized=intake.image_normalize(image_bytes()))
    ClassificationRecord.objects.filter(pk=record.pk).update(status="failed", error="lost")
    services.classification_run(record.pk)
    record.refresh_from_db()
    assert record.status == "failed" and record.error == "lost" and not record.top


def test_compat_predict_answers_503_lost_when_no_worker_answers_twice(classifier, settings, monkeypatch):
    """The service's /predict: a record that the sweep fails while the request waits is a 503
    with the translated message, not a 500."""
    app = create_app().test_client()

    def lost_at_once(record, timeout):
        ClassificationRecord.objects.filter(pk=record.pk).update(attempts=2)
        expire(record)
        services.classification_sweep(record=record)
        record.refresh_from_db()
        return record

    monkeypatch.setattr(services, "classification_wait", lost_at_once)
    monkeypatch.setattr(services, "classification_availability", lambda: services.Availability(True))
    response = app.post("/predict", data={"file": (__import__("io").BytesIO(image_bytes()), "a.png")},
                        headers={"Accept-Language": "en"})
    assert response.status_code == 503
    with translation.override("en"):
        expected = str(services.FAILURE_MESSAGES["lost"])
    assert response.get_json() == {"error": expected,
                                   "detail": {"code": "lost", "id": response.get_json()["detail"]["id"]}}
