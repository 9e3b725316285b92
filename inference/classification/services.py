"""What the web and the commands call for classification. The web side (create, enqueue,
wait, correct) never loads a model; ``classification_run`` runs in a queue worker."""
from __future__ import annotations

import functools
import logging
import time
from datetime import timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core import intake
from core.imaging import NormalizedImage
from motifs import services as archive
from motifs.models import Motif, MotifImage

from .. import queues
from ..health import Availability, model_availability, queue_is_sync
from ..models import ClassificationRecord, Correction, ModelKind

logger = logging.getLogger(__name__)
TOP_K = 5


class ClassificationUnavailable(Exception):
    """No active classifier, or no live queue worker has one loaded."""


def classification_availability() -> Availability:
    return model_availability(ModelKind.CLASSIFIER)


def classification_create(
    *, normalized: NormalizedImage, user=None, session_key: str = "", consent_training: bool = False, timings: dict | None = None
) -> ClassificationRecord:
    """Store a validated photo (metadata already dropped) and its queued record, together."""
    record = ClassificationRecord(
        width=normalized.width, height=normalized.height, sha256=normalized.sha256,
        user=user if user is not None and user.is_authenticated else None,
        session_key=session_key or "", consent_training=consent_training, timings=dict(timings or {}),
        # Sent once (below); a worker must claim it before the lease runs out.
        attempts=1, lease_expires=timezone.now() + _lease(),
    )
    stored = None
    try:
        with transaction.atomic():
            record.image.save(f"photo.{normalized.extension}", ContentFile(normalized.content), save=False)
            stored = record.image.name
            record.save()
    except BaseException:
        if stored:
            record.image.storage.delete(stored)
        raise
    return record


def _lease() -> timedelta:
    return timedelta(seconds=settings.CUALIFY_CLASSIFY_LEASE_SECONDS)


def classification_enqueue(record: ClassificationRecord) -> None:
    # The enqueue time travels with the task (no extra write): the worker measures the queue hop.
    queues.enqueue(queues.CLASSIFY, "inference.classification.tasks.classify", record.pk, time.time(),
                   task_name=f"classify-{record.public_id.hex[:12]}")


@functools.cache
def _redis():
    import redis

    return redis.Redis.from_url(settings.REDIS_URL)


def _done_key(record_id: int) -> str:
    return f"cualify:classified:{record_id}"


def classification_notify(record_id: int) -> None:
    """Wake the web request waiting for this record (Redis only; the ORM path polls)."""
    if settings.REDIS_URL:
        try:
            pipe = _redis().pipeline()
            pipe.rpush(_done_key(record_id), 1).expire(_done_key(record_id), 120).execute()
        except Exception:  # the waiter falls back to the database; never fail the task for this
            logger.warning("could not notify the waiting request", exc_info=True)


def classification_wait(record: ClassificationRecord, timeout: float) -> ClassificationRecord:
    """Wait until the record is finished or ``timeout`` passes; the database row is the truth.

    With Redis the worker's notice wakes us without polling (no CPU while waiting); with the
    ORM broker the status column alone is polled, with a growing interval."""
    deadline = time.monotonic() + timeout
    queued = ClassificationRecord.Status.QUEUED
    if settings.REDIS_URL and not queue_is_sync():
        try:
            _redis().blpop([_done_key(record.pk)], timeout=max(0.01, timeout))
        except Exception:
            logger.warning("waiting through Redis failed; polling the database", exc_info=True)
    delay = 0.005
    while True:
        status = ClassificationRecord.objects.filter(pk=record.pk).values_list("status", flat=True).first()
        if status != queued or time.monotonic() >= deadline:
            record.refresh_from_db()
            return record
        time.sleep(delay)
        delay = min(delay * 1.5, 0.1)


UNAVAILABLE_MESSAGES = {
    "no_active_classifier": gettext_lazy("Classification is unavailable right now: no classifier is active. Please try again later."),
    "no_worker": gettext_lazy("Classification is unavailable right now: the model service is not running. Please try again later."),
}
FAILURE_MESSAGES = {
    **UNAVAILABLE_MESSAGES,
    "lost": gettext_lazy("No model worker answered for your photo, even after a second try. Nothing was lost: please try again."),
    "failed": gettext_lazy("Something went wrong while classifying your photo. Nothing was lost: please try again."),
}


def failure_message(record: ClassificationRecord) -> str:
    """Why a failed record failed, in the reader's language ('' for one that did not fail)."""
    if record.status != ClassificationRecord.Status.FAILED:
        return ""
    return str(FAILURE_MESSAGES.get(record.error, FAILURE_MESSAGES["failed"]))


def classification_submit(
    *, data: bytes, user=None, session_key: str = "", consent_training: bool = False, wait_seconds: float,
    timings: dict | None = None,
) -> ClassificationRecord:
    """What every door does with an uploaded photo: check that the work can be done, apply the
    intake rules, store, enqueue, and wait up to ``wait_seconds``. Raises
    ClassificationUnavailable (nothing stored) or ImageRejected (nothing stored)."""
    availability = classification_availability()
    if not availability.available:
        raise ClassificationUnavailable(availability.reason)
    started = time.perf_counter()
    normalized = intake.image_normalize(data)
    record = classification_create(
        normalized=normalized, user=user, session_key=session_key, consent_training=consent_training,
        timings={**(timings or {}), "validation_s": time.perf_counter() - started},
    )
    classification_enqueue(record)
    return classification_wait(record, wait_seconds)


# Why a finished record is (or is not) a known motif: the open-set rule's words (those of
# ``engines.ood``, which the web may not import: confidence too low, or the photo too far from the
# archive's photos of the predicted motif), and ``class_without_motif``: the model's class names
# no published motif (a class without one, a draft, or one unpublished after the record was made).
REASON_OK = "ok"
REASON_LOW_CONFIDENCE = "low_confidence"
REASON_FAR = "far_from_archive"
REASON_NO_MOTIF = "class_without_motif"
REASONS = (REASON_OK, REASON_LOW_CONFIDENCE, REASON_FAR, REASON_NO_MOTIF)
NOT_RECOGNISED_MESSAGES = {
    REASON_LOW_CONFIDENCE: gettext_lazy("The model is not sure enough which motif this is."),
    REASON_FAR: gettext_lazy("It looks too unlike the archive's photos of the closest motif."),
    REASON_NO_MOTIF: gettext_lazy("The closest guess is not a published motif of the archive."),
}


def classification_reason(record: ClassificationRecord, motif: Motif | None) -> str | None:
    """Why ``record`` is or is not ``motif`` (the motif the reader may see, or None): one of
    ``REASONS``, or None while there is no answer (queued or failed)."""
    if record.status != ClassificationRecord.Status.DONE:
        return None
    if record.recognised and motif is not None:
        return REASON_OK
    # Recognised when it was made, but its motif is a draft now (or gone): no motif to name.
    return record.reason if record.reason in (REASON_LOW_CONFIDENCE, REASON_FAR) else REASON_NO_MOTIF


def classification_summary(record: ClassificationRecord) -> dict:
    """A record as the machine-facing doors answer it (the Flask-era contract, shared by the REST
    API): confidence 0–1, times in seconds, texts in the active language.

    The answer never contradicts itself: ``label``, ``motif``, ``name`` and ``confidence`` name
    the recognised motif, and are all null when there is none (not recognised, queued or failed);
    ``reason`` says why, and ``top`` holds the model's guesses with their scores, which are only
    guesses. Drafts never show here, to curators neither: a record whose motif is a draft now
    reads as not recognised, and the guesses name only published motifs."""
    visible = record.motif if record.motif is not None and record.motif.is_published else None
    reason = classification_reason(record, visible)
    recognised = reason == REASON_OK
    motif = visible if recognised else None
    guessed = [t["slug"] for t in record.top if t.get("slug")]
    published = set(Motif.objects.published().filter(slug__in=guessed).values_list("slug", flat=True)) if guessed else set()
    timings = {k: round(v, 4) for k, v in record.timings.items() if k.endswith("_s")}
    return {
        "id": str(record.public_id),
        "status": record.status,
        "label": record.top[0]["label"] if recognised and record.top else None,
        "motif": motif.slug if motif else None,
        "name": motif.name if motif else None,
        "recognised": recognised,
        "reason": reason,
        "confidence": record.confidence if recognised else None,
        "description": motif.description if motif else "",
        "meaning": motif.meaning if motif else "",
        "owners": [
            {"name": o.owner.name, "role": o.role, "verified": o.verified}
            for o in (motif.ownerships.select_related("owner") if motif else [])
        ],
        "top": [{"label": t["label"], "motif": t["slug"] if t["slug"] in published else None, "confidence": t["probability"]}
                for t in record.top],
        "model_version": record.model_version_id,
        "timings": timings,
        "processing_time": round(sum(v for k, v in timings.items() if k != "worker_s"), 4),
        "error": failure_message(record),
    }


def classification_run(record_id: int, enqueued_at: float | None = None) -> None:
    """In a queue worker: classify the stored photo with the active model and save the answer.
    Any failure is written to the record, so the visitor's page never waits forever."""
    try:
        _classify(record_id, enqueued_at)
    except Exception as exc:
        logger.exception("classification %s failed", record_id)
        ClassificationRecord.objects.filter(pk=record_id, status=ClassificationRecord.Status.QUEUED).update(
            status=ClassificationRecord.Status.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000], completed=timezone.now()
        )
    finally:
        classification_notify(record_id)


def _classify(record_id: int, enqueued_at: float | None) -> None:
    from PIL import Image

    from ..engines.ood import decide
    from ..runtime import get_model

    started = time.perf_counter()
    # The claim: the record is this worker's until its lease runs out (then the sweeper sends it
    # once more); a finished or failed record is left alone.
    if not ClassificationRecord.objects.filter(pk=record_id, status=ClassificationRecord.Status.QUEUED).update(
            lease_expires=timezone.now() + _lease()):
        return
    record = ClassificationRecord.objects.get(pk=record_id)
    timings = dict(record.timings)
    if enqueued_at:
        timings["queue_s"] = max(0.0, time.time() - enqueued_at)
    loaded = get_model(ModelKind.CLASSIFIER)
    if loaded is None:
        ClassificationRecord.objects.filter(pk=record_id).update(
            status=ClassificationRecord.Status.FAILED, error="no_active_classifier", completed=timezone.now(), timings=timings
        )
        return
    with record.image.open("rb") as handle:
        picture = Image.open(handle).convert("RGB")
    prediction = loaded.engine.predict([picture])[0]
    version = loaded.version
    top = [
        {"label": version.class_names[index], "slug": version.motif_slug(index), "probability": round(float(p), 6)}
        for index, p in prediction.top[:TOP_K]
    ]
    best_index, best_probability = prediction.top[0]
    slug = version.motif_slug(best_index)
    # Drafts are invisible outside the admin: a class whose motif is a draft (or gone) has none.
    motif = Motif.objects.published().filter(slug=slug).first() if slug else None
    recognised, distance, reason = motif is not None, None, "ok"
    if loaded.calibration is not None:
        decision = decide(loaded.calibration, prediction)
        recognised, distance, reason = recognised and decision.recognised, decision.distance, decision.reason
    if motif is None:
        reason = "class_without_motif"
    timings.update(preprocess_s=prediction.preprocess_s, inference_s=prediction.inference_s)
    timings["worker_s"] = time.perf_counter() - started
    ClassificationRecord.objects.filter(pk=record_id, status=ClassificationRecord.Status.QUEUED).update(
        status=ClassificationRecord.Status.DONE, model_version=version, top=top, lease_expires=None,
        motif=motif if recognised else None,
        recognised=recognised, confidence=float(best_probability), distance=distance, reason=reason,
        timings=timings, completed=timezone.now(),
    )


def classification_sweep(*, record: ClassificationRecord | None = None) -> dict[str, int]:
    """Records whose lease ran out were lost on the way (a worker killed mid-task, or a broker
    that dropped the task): each is sent once more, and one already sent
    CUALIFY_CLASSIFY_MAX_ATTEMPTS times fails as "lost", so no page waits for ever. The photo
    stays, so the visitor can simply try again. Run by every live worker's heartbeat and, for
    one record, whenever its page or API answer is read."""
    now = timezone.now()
    expired = ClassificationRecord.objects.filter(status=ClassificationRecord.Status.QUEUED, lease_expires__lt=now)
    if record is not None:
        expired = expired.filter(pk=record.pk)
    limit = settings.CUALIFY_CLASSIFY_MAX_ATTEMPTS
    lost = list(expired.filter(attempts__gte=limit).values_list("pk", flat=True))
    failed = ClassificationRecord.objects.filter(pk__in=lost, status=ClassificationRecord.Status.QUEUED).update(
        status=ClassificationRecord.Status.FAILED, error="lost", completed=now, lease_expires=None)
    for pk in lost:
        classification_notify(pk)  # wake a request still waiting for it
    resent = 0
    for pk in expired.filter(attempts__lt=limit).values_list("pk", flat=True):
        # The conditional UPDATE makes one sweeper (of several workers) the one that re-sends it.
        if ClassificationRecord.objects.filter(pk=pk, status=ClassificationRecord.Status.QUEUED, lease_expires__lt=now).update(
                attempts=F("attempts") + 1, lease_expires=now + _lease()):
            classification_enqueue(ClassificationRecord.objects.get(pk=pk))
            resent += 1
    return {"failed": failed, "resent": resent}


def classification_for_reading(record: ClassificationRecord) -> ClassificationRecord:
    """A record as its page or the API shows it: swept first, so a lost one says so."""
    if record.status == ClassificationRecord.Status.QUEUED and record.lease_expires and record.lease_expires < timezone.now():
        classification_sweep(record=record)
        record.refresh_from_db()
    return record


def classification_saliency_request(record: ClassificationRecord) -> bool:
    """Queue the heat map of a classified photo once (after commit); True when this call did.

    One conditional UPDATE claims the request, so of any number of concurrent asks (any process)
    one queues the task. Nothing is queued while the map exists, or while an earlier request is
    younger than CUALIFY_CLASSIFY_STALE_SECONDS (past it, as for a classification, the task was
    lost on the way and may be asked again)."""
    now = timezone.now()
    lost = now - timedelta(seconds=settings.CUALIFY_CLASSIFY_STALE_SECONDS)
    claimed = ClassificationRecord.objects.filter(
        Q(saliency_requested__isnull=True) | Q(saliency_requested__lt=lost),
        pk=record.pk, status=ClassificationRecord.Status.DONE, saliency="",
    ).update(saliency_requested=now)
    if claimed:
        transaction.on_commit(functools.partial(_saliency_enqueue, record.pk, record.public_id.hex[:12]))
    return bool(claimed)


def _saliency_enqueue(record_id: int, name: str) -> None:
    queues.enqueue(queues.CLASSIFY, "inference.classification.tasks.saliency", record_id, task_name=f"saliency-{name}")


def classification_saliency(record_id: int) -> None:
    """In a queue worker: the heat map of where the model looked, stored next to the photo."""
    import io

    from PIL import Image

    from ..engines.saliency import class_activation_map, overlay
    from ..runtime import get_model

    record = ClassificationRecord.objects.get(pk=record_id)
    loaded = get_model(ModelKind.CLASSIFIER)
    if loaded is None or not record.top or record.saliency:
        return
    with record.image.open("rb") as handle:
        picture = Image.open(handle).convert("RGB")
    index = record.model_version.class_names.index(record.top[0]["label"]) if record.model_version else 0
    heat = class_activation_map(loaded.engine, picture, index)
    if heat is None:
        return
    buffer = io.BytesIO()
    overlay(picture, heat).save(buffer, "JPEG", quality=88)
    record.saliency.save("saliency.jpg", ContentFile(buffer.getvalue()), save=False)
    if not ClassificationRecord.objects.filter(pk=record_id).update(saliency=record.saliency.name):
        record.saliency.storage.delete(record.saliency.name)  # the visitor deleted the record meanwhile


def correction_create(*, record: ClassificationRecord, kind: str, motif: Motif | None, comment: str = "") -> Correction:
    if kind == Correction.Kind.MOTIF and motif is None:
        raise ValueError("a motif correction needs a motif")
    return Correction.objects.create(record=record, kind=kind, motif=motif if kind == Correction.Kind.MOTIF else None, comment=comment)


def correction_accept(*, correction: Correction, reviewer) -> Correction:
    """Accept a correction; with the visitor's consent, a motif correction's photo joins the
    archive as a visitor contribution (or is recognised as already there)."""
    with transaction.atomic():
        if correction.kind == Correction.Kind.MOTIF and correction.record.consent_training and correction.archive_image is None:
            with correction.record.image.open("rb") as handle:
                data = handle.read()
            try:
                image = archive.motif_image_create(
                    motif=correction.motif, data=data, source=MotifImage.Source.VISITOR,
                    credit=_("Visitor contribution"), training_consent=True,
                )
            except archive.DuplicateImage as exc:
                image = exc.existing
            correction.archive_image = image
        correction.status = Correction.Status.ACCEPTED
        correction.reviewed_by = reviewer
        correction.reviewed_at = timezone.now()
        correction.save()
    return correction


def correction_reject(*, correction: Correction, reviewer) -> Correction:
    correction.status = Correction.Status.REJECTED
    correction.reviewed_by = reviewer
    correction.reviewed_at = timezone.now()
    correction.save(update_fields=["status", "reviewed_by", "reviewed_at"])
    return correction
