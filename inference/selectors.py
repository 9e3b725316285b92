from django.db.models import Prefetch

from motifs.models import Motif, Ownership

from .models import ClassificationRecord, GenerationJob


def classification_for_viewer(*, public_id, user, session_key: str) -> ClassificationRecord | None:
    """A record its owner (same user, or same browser session) or a curator may see."""
    record = (
        ClassificationRecord.objects.select_related("model_version", "motif")
        .prefetch_related(Prefetch("motif__ownerships", queryset=Ownership.objects.select_related("owner")))
        .filter(public_id=public_id)
        .first()
    )
    return record if record is not None and may_view(record, user=user, session_key=session_key) else None


def may_view(row, *, user, session_key: str) -> bool:
    """A visitor's own row (same user, or the same browser session when anonymous) or a curator."""
    if user.is_authenticated and (user.is_staff or row.user_id == user.pk):
        return True
    return row.user_id is None and bool(session_key) and row.session_key == session_key


def generation_job_for_viewer(*, public_id, user, session_key: str) -> GenerationJob | None:
    job = GenerationJob.objects.prefetch_related("images").filter(public_id=public_id).first()
    return job if job is not None and may_view(job, user=user, session_key=session_key) else None


def generation_jobs_of(*, user, session_key: str):
    """The visitor's own generation history, newest first."""
    jobs = GenerationJob.objects.prefetch_related("images")
    if user.is_authenticated:
        return jobs.filter(user=user)
    if not session_key:
        return jobs.none()
    return jobs.filter(user__isnull=True, session_key=session_key)


def classifications_of(*, user, session_key: str):
    """The visitor's own classifications (same rule as ``may_view``, without the curators'
    view of everyone's), newest first."""
    records = ClassificationRecord.objects.select_related("model_version", "motif").prefetch_related(
        Prefetch("motif__ownerships", queryset=Ownership.objects.select_related("owner"))
    )
    if user.is_authenticated:
        return records.filter(user=user)
    if not session_key:
        return records.none()
    return records.filter(user__isnull=True, session_key=session_key)


def motifs_by_slug(slugs) -> dict[str, Motif]:
    return {m.slug: m for m in Motif.objects.filter(slug__in=[s for s in slugs if s])}
