"""Whether the model service can take work, one rule for every door: availability (checked by
the site's forms, the REST API, the Flask-compatible service and the commands before they store
anything), and liveness and readiness (the site's ``/health`` and ``/ready`` below, and the
Flask-compatible service's). No Flask, no model library: web processes import this.

- Available: the kind's model is active and a queue worker that has a model of that kind
  loaded wrote its heartbeat within ``CUALIFY_WORKER_ALIVE_SECONDS`` (generous: a worker busy
  with a long task is late, not dead; the leases catch the dead ones).
- ``/health``: the process is up (always 200), which model versions are active, and per queue
  cluster its live workers, the kinds they serve and load, and their devices.
- ``/ready[?kind=classifier|generator|refiner]``: 200 only when the database and Redis (when
  configured) answer, the media storage takes a write, and a
  queue worker with the *active* version of that kind (default: the classifier) loaded wrote
  its heartbeat within ``CUALIFY_READY_HEARTBEAT_SECONDS`` (short: a load balancer must stop
  sending within seconds of the last worker's death); otherwise 503 in the shared error
  shape, saying what is missing.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError
from django.http import JsonResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from core.errors import error_payload

from .models import ModelKind, ModelVersion, WorkerHeartbeat


@dataclass(frozen=True)
class Availability:
    available: bool
    reason: str = ""


def queue_is_sync() -> bool:
    from django_q.conf import Conf

    return bool(Conf.SYNC)


def _no_model_code(kind: str) -> str:
    return {ModelKind.CLASSIFIER: "no_active_classifier", ModelKind.GENERATOR: "no_generator",
            ModelKind.REFINER: "no_refiner"}.get(kind, f"no_{kind}")


def live_workers(kind: str, *, within_seconds: float, version_id: int | None = None) -> int:
    """Workers seen in the last ``within_seconds`` that have a ``kind`` model loaded (that very
    version when ``version_id`` is given: one still on an older version reloads at its next
    heartbeat and does not count)."""
    since = timezone.now() - timedelta(seconds=within_seconds)
    loaded = WorkerHeartbeat.objects.filter(last_seen__gte=since).values_list("models_loaded", flat=True)
    return sum(1 for kinds in loaded
               if kind in (kinds or {}) and (version_id is None or (kinds or {})[kind] == version_id))


def model_availability(kind: str) -> Availability:
    """Whether work needing the active ``kind`` model can be answered (said at once, before
    anything is stored)."""
    # exists(): a version row carries its calibration prototypes (~0.6 MB of JSON); never load them here.
    if not ModelVersion.objects.filter(kind=kind, is_active=True).exists():
        return Availability(False, _no_model_code(kind))
    if queue_is_sync():
        return Availability(True)  # tests and scripts run tasks in-process
    if not live_workers(kind, within_seconds=settings.CUALIFY_WORKER_ALIVE_SECONDS):
        return Availability(False, "no_worker")
    return Availability(True)


NOT_READY_MESSAGES = {
    "database": _("Not ready: the database does not answer."),
    "redis": _("Not ready: Redis (the queue broker) does not answer."),
    "storage": _("Not ready: the media storage cannot be written to."),
    "no_active_classifier": _("Not ready: no classifier is active."),
    "no_generator": _("Not ready: no generator is active."),
    "no_refiner": _("Not ready: no refiner is active."),
    "no_worker": _("Not ready: no queue worker with the active model loaded has been seen in the last %(seconds)s seconds."),
    "bad_kind": _("Unknown model kind: ask for classifier, generator or refiner."),
}


def active_models() -> dict[str, dict]:
    """The active version of each kind: ``{kind: {"id", "name", "sha256"}}``."""
    rows = ModelVersion.objects.filter(is_active=True).order_by("kind").values("kind", "id", "name", "sha256")
    return {row.pop("kind"): row for row in rows}


@dataclass(frozen=True)
class Readiness:
    kind: str
    database: bool
    models: dict[str, dict]
    workers: int                   # live workers that have the active model of ``kind`` loaded
    missing: tuple[str, ...]       # keys of NOT_READY_MESSAGES, most basic first

    @property
    def ready(self) -> bool:
        return not self.missing


def redis_answers() -> bool:
    """True when Redis is not configured, or answers a PING within a second."""
    if not settings.REDIS_URL:
        return True
    try:
        import redis

        return bool(redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1).ping())
    except Exception:
        return False


def storage_writable() -> bool:
    """A small file written to the media storage and deleted again (uploads and results need it)."""
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    try:
        name = default_storage.save("ready/probe", ContentFile(b"ok"))
        default_storage.delete(name)
        return True
    except Exception:
        return False


def readiness(kind: str = ModelKind.CLASSIFIER) -> Readiness:
    try:
        models = active_models()
        active = models.get(kind)
        workers = 0 if active is None else live_workers(
            kind, within_seconds=settings.CUALIFY_READY_HEARTBEAT_SECONDS, version_id=active["id"])
    except DatabaseError:
        return Readiness(kind=kind, database=False, models={}, workers=0, missing=("database",))
    missing = tuple(name for name, ok in (("redis", redis_answers()), ("storage", storage_writable())) if not ok)
    if active is None:
        missing += (_no_model_code(kind),)
    elif not workers:
        missing += ("no_worker",)
    return Readiness(kind=kind, database=True, models=models, workers=workers, missing=missing)


def live_clusters() -> dict[str, dict]:
    """Per queue cluster, its live workers (seen within ``CUALIFY_WORKER_ALIVE_SECONDS``): how
    many, what they serve and on which devices (no host names: ``/health`` is public)."""
    since = timezone.now() - timedelta(seconds=settings.CUALIFY_WORKER_ALIVE_SECONDS)
    clusters: dict[str, dict] = {}
    for row in WorkerHeartbeat.objects.filter(last_seen__gte=since).values("cluster", "serves", "device", "models_loaded"):
        entry = clusters.setdefault(row["cluster"] or "unknown", {"workers": 0, "serves": [], "loaded": [], "devices": []})
        entry["workers"] += 1
        for key, values in (("serves", row["serves"] or []), ("loaded", list(row["models_loaded"] or {})),
                            ("devices", (row["device"] or "cpu").split(","))):
            entry[key] = sorted(set(entry[key]) | set(values))
    return clusters


def health_response() -> tuple[int, dict]:
    """Always 200 while the process runs; an unreachable database is reported, not fatal."""
    try:
        return 200, {"status": "ok", "database": True, "models": active_models(), "clusters": live_clusters()}
    except DatabaseError:
        return 200, {"status": "ok", "database": False, "models": {}, "clusters": {}}


def ready_response(kind: str | None = None) -> tuple[int, dict]:
    """``kind``: the model kind the caller needs (the ``kind`` query parameter); default the classifier."""
    kind = kind or ModelKind.CLASSIFIER
    if kind not in ModelKind.values:
        return 400, error_payload(NOT_READY_MESSAGES["bad_kind"], {"code": "bad_kind", "kinds": list(ModelKind.values)})
    state = readiness(kind)
    facts = {"kind": kind, "database": state.database, "workers": state.workers, "models": state.models}
    if state.ready:
        return 200, {"status": "ready", **facts}
    message = NOT_READY_MESSAGES[state.missing[0]] % {"seconds": f"{settings.CUALIFY_READY_HEARTBEAT_SECONDS:g}"}
    return 503, error_payload(message, {"status": "not_ready", "missing": list(state.missing), **facts})


@never_cache
@require_safe
def health(request):
    status, payload = health_response()
    return JsonResponse(payload, status=status)


@never_cache
@require_safe
def ready(request):
    status, payload = ready_response(request.GET.get("kind"))
    return JsonResponse(payload, status=status)
