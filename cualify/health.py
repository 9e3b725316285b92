"""Liveness and readiness, one rule for every door: the site's ``/health`` and ``/ready`` (the
views below) and the Flask-compatible service's (``cualify.compat``) answer with the same JSON
built here. No Flask, no model library: web processes import this.

- ``/health``: the process is up (always 200) and which model versions are active.
- ``/ready``: 200 only when the database answers and a queue worker that has the active
  classifier loaded wrote its heartbeat within ``CUALIFY_WORKER_ALIVE_SECONDS``; otherwise 503
  in the shared error shape, saying what is missing.
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

from cualify.errors import error_payload

NOT_READY_MESSAGES = {
    "database": _("Not ready: the database does not answer."),
    "no_active_classifier": _("Not ready: no classifier is active."),
    "no_worker": _("Not ready: no queue worker with the active classifier loaded has been seen in the last %(seconds)s seconds."),
}


def active_models() -> dict[str, dict]:
    """The active version of each kind: ``{kind: {"id", "name", "sha256"}}``."""
    from inference.models import ModelVersion

    rows = ModelVersion.objects.filter(is_active=True).order_by("kind").values("kind", "id", "name", "sha256")
    return {row.pop("kind"): row for row in rows}


@dataclass(frozen=True)
class Readiness:
    database: bool
    models: dict[str, dict]
    workers: int                   # live workers that have the active classifier loaded
    missing: tuple[str, ...]       # keys of NOT_READY_MESSAGES, most basic first

    @property
    def ready(self) -> bool:
        return not self.missing


def readiness() -> Readiness:
    from inference.models import ModelKind, WorkerHeartbeat

    try:
        models = active_models()
        since = timezone.now() - timedelta(seconds=settings.CUALIFY_WORKER_ALIVE_SECONDS)
        loaded = list(WorkerHeartbeat.objects.filter(last_seen__gte=since).values_list("models_loaded", flat=True))
    except DatabaseError:
        return Readiness(database=False, models={}, workers=0, missing=("database",))
    classifier = models.get(ModelKind.CLASSIFIER)
    if classifier is None:
        return Readiness(database=True, models=models, workers=0, missing=("no_active_classifier",))
    # A worker still on an older classifier (it reloads at its next heartbeat) does not count.
    workers = sum(1 for kinds in loaded if (kinds or {}).get(ModelKind.CLASSIFIER) == classifier["id"])
    return Readiness(database=True, models=models, workers=workers, missing=() if workers else ("no_worker",))


def health_response() -> tuple[int, dict]:
    """Always 200 while the process runs; an unreachable database is reported, not fatal."""
    try:
        return 200, {"status": "ok", "database": True, "models": active_models()}
    except DatabaseError:
        return 200, {"status": "ok", "database": False, "models": {}}


def ready_response() -> tuple[int, dict]:
    state = readiness()
    facts = {"database": state.database, "workers": state.workers, "models": state.models}
    if state.ready:
        return 200, {"status": "ready", **facts}
    message = NOT_READY_MESSAGES[state.missing[0]] % {"seconds": f"{settings.CUALIFY_WORKER_ALIVE_SECONDS:g}"}
    return 503, error_payload(message, {"status": "not_ready", "missing": list(state.missing), **facts})


@never_cache
@require_safe
def health(request):
    status, payload = health_response()
    return JsonResponse(payload, status=status)


@never_cache
@require_safe
def ready(request):
    status, payload = ready_response()
    return JsonResponse(payload, status=status)
