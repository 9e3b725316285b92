"""Visitors' classifications and generations: deleted when they ask, and anonymous ones purged
after ``CUALIFY_ANONYMOUS_RETENTION_DAYS``.

Rows go in one transaction; their files (photos, heat maps, references, results, print files) are removed
only after it commits (``inference.signals`` schedules that for every deleted row), so a
rollback never leaves a row without its file. What a curator took into the archive (a promoted
result, an accepted visitor contribution) is a separate ``MotifImage`` file and stays.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from ..models import ClassificationRecord, GeneratedImage, GenerationJob, PrintJob

logger = logging.getLogger(__name__)

PURGE_TASK = "inference.privacy.tasks.purge_anonymous_records"
BATCH = 200


@dataclass(frozen=True)
class Deleted:
    classifications: int = 0
    generations: int = 0
    files: int = 0

    def __add__(self, other: Deleted) -> Deleted:
        return Deleted(self.classifications + other.classifications, self.generations + other.generations,
                       self.files + other.files)


def visitor_records(*, user=None, session_key: str = ""):
    """(classifications, generation jobs) that belong to this visitor: a signed-in user's own
    rows, or an anonymous browser session's. A curator gets their own too, never everyone's."""
    if user is not None and user.is_authenticated:
        return ClassificationRecord.objects.filter(user=user), GenerationJob.objects.filter(user=user)
    if not session_key:
        return ClassificationRecord.objects.none(), GenerationJob.objects.none()
    return (ClassificationRecord.objects.filter(user__isnull=True, session_key=session_key),
            GenerationJob.objects.filter(user__isnull=True, session_key=session_key))


def visitor_records_delete(*, user=None, session_key: str = "") -> Deleted:
    """Delete everything this visitor classified or generated, with all its files."""
    classifications, generations = visitor_records(user=user, session_key=session_key)
    return records_delete(classification_ids=list(classifications.values_list("pk", flat=True)),
                          job_ids=list(generations.values_list("pk", flat=True)))


def records_delete(*, classification_ids: list[int], job_ids: list[int]) -> Deleted:
    """Delete these rows (corrections and results go with them) in one transaction; their files
    and the jobs' result folders are removed once it has committed."""
    with transaction.atomic():
        records = ClassificationRecord.objects.filter(pk__in=classification_ids)
        jobs = GenerationJob.objects.filter(pk__in=job_ids)
        files = sum(bool(image) + bool(saliency) for image, saliency in records.values_list("image", "saliency"))
        files += sum(bool(name) for name in jobs.values_list("reference", flat=True))
        files += GeneratedImage.objects.filter(job__in=jobs).exclude(file="").count()
        files += sum(bool(tile) + bool(fabric) for tile, fabric in
                     PrintJob.objects.filter(image__job__in=jobs).values_list("tile", "fabric"))
        folders = [_results_folder(public_id.hex) for public_id in jobs.values_list("public_id", flat=True)]
        # Deleting through the ORM (not raw SQL) sends post_delete for every row, which
        # schedules its files' removal for after the commit.
        jobs_deleted = jobs.delete()[1].get(GenerationJob._meta.label, 0)
        records_deleted = records.delete()[1].get(ClassificationRecord._meta.label, 0)
        if folders:
            transaction.on_commit(lambda: _remove_empty_folders(folders))
    return Deleted(classifications=records_deleted, generations=jobs_deleted, files=files)


def _results_folder(job_hex: str) -> str:
    # The folder ``generated_image_path`` makes for one job's results (only that job writes there).
    return f"uploads/generate/results/{job_hex[:2]}/{job_hex}"


def _remove_empty_folders(folders: list[str]) -> None:
    for folder in folders:
        try:
            os.rmdir(default_storage.path(folder))
        except (NotImplementedError, OSError):  # object storage has no folders; not empty; gone
            pass


def anonymous_records(*, days: int, now=None):
    """Anonymous visitors' rows made more than ``days`` days ago (rows of deleted accounts are
    anonymous too)."""
    cutoff = (now or timezone.now()) - timedelta(days=days)
    return (ClassificationRecord.objects.filter(user__isnull=True, created__lt=cutoff),
            GenerationJob.objects.filter(user__isnull=True, created__lt=cutoff))


def anonymous_records_purge(*, days: int, dry_run: bool = False, now=None) -> Deleted:
    """Delete anonymous rows older than ``days`` days with their files, in batches (one
    transaction each, so a long purge never holds locks for long). ``dry_run`` only counts."""
    if days < 0:
        raise ValueError("days must be 0 or more")
    classifications, generations = anonymous_records(days=days, now=now)
    if dry_run:
        return Deleted(classifications=classifications.count(), generations=generations.count())
    total = Deleted()
    while True:
        record_ids = list(classifications.order_by("pk").values_list("pk", flat=True)[:BATCH])
        job_ids = list(generations.order_by("pk").values_list("pk", flat=True)[:BATCH])
        if not record_ids and not job_ids:
            break
        batch = records_delete(classification_ids=record_ids, job_ids=job_ids)
        total += batch
        if not batch.classifications and not batch.generations:
            break  # someone else deleted them meanwhile; never spin
    if total.classifications or total.generations:
        logger.info("purged anonymous records older than %s days: %s", days, total)
    return total


def scheduled_purge() -> dict[str, int]:
    """The scheduled task: purge with the configured retention (0: keep for ever)."""
    days = settings.CUALIFY_ANONYMOUS_RETENTION_DAYS
    if days <= 0:
        return {"classifications": 0, "generations": 0, "files": 0}
    deleted = anonymous_records_purge(days=days)
    return {"classifications": deleted.classifications, "generations": deleted.generations, "files": deleted.files}


def ensure_purge_schedule(using: str = "default") -> None:
    """The purge runs hourly as a django-q2 schedule while a retention period is set."""
    from django_q.models import Schedule

    if settings.CUALIFY_ANONYMOUS_RETENTION_DAYS <= 0:
        Schedule.objects.using(using).filter(func=PURGE_TASK).delete()
        return
    Schedule.objects.using(using).update_or_create(
        func=PURGE_TASK,
        defaults={"name": "cualify: purge anonymous records", "schedule_type": Schedule.HOURLY, "repeats": -1},
    )
