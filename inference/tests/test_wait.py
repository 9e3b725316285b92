"""The web waits for the worker: woken through Redis when there is one, else by polling."""
import threading
import time

import pytest
from django.db import connection

from core import intake
from inference.classification import services
from inference.models import ClassificationRecord

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def record():
    from tests.factories import image_bytes

    normalized = intake.image_normalize(image_bytes())
    return services.classification_create(normalized=normalized)


def finish_later(record_id, delay, notify):
    def run():
        time.sleep(delay)
        ClassificationRecord.objects.filter(pk=record_id).update(status="done")
        if notify:
            services.classification_notify(record_id)
        connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.mark.parametrize("redis_url", ["", "redis://127.0.0.1:6379/14"], ids=["orm-polling", "redis-wakeup"])
def test_wait_returns_as_soon_as_the_worker_finishes(record, settings, redis_url):
    settings.REDIS_URL = redis_url
    services._redis.cache_clear()
    thread = finish_later(record.pk, 0.3, notify=True)
    started = time.monotonic()
    finished = services.classification_wait(record, timeout=10)
    thread.join()
    assert finished.status == "done" and time.monotonic() - started < 2


@pytest.mark.parametrize("redis_url", ["", "redis://127.0.0.1:6379/14"], ids=["orm-polling", "redis-wakeup"])
def test_wait_gives_up_at_its_bound(record, settings, redis_url):
    settings.REDIS_URL = redis_url
    services._redis.cache_clear()
    started = time.monotonic()
    assert services.classification_wait(record, timeout=0.4).status == "queued"
    assert 0.35 < time.monotonic() - started < 2


def test_a_lost_notice_still_ends_the_wait_through_the_database(record, settings):
    settings.REDIS_URL = "redis://127.0.0.1:6379/14"
    services._redis.cache_clear()
    thread = finish_later(record.pk, 0.2, notify=False)
    finished = services.classification_wait(record, timeout=1.5)
    thread.join()
    assert finished.status == "done"
