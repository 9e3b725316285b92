from django.db.models import Prefetch

from accounts.roles import is_curator
from motifs.models import Motif, Ownership

from .models import ClassificationRecord, GenerationJob, PrintJob


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
    """A visitor's own row (same user, or the same browser session when anonymous) or a curator
    (``is_curator``: staff outside the Curator group see only their own). A row whose account
    was deleted keeps no session (``inference.signals``): curators only."""
    if user.is_authenticated and (row.user_id == user.pk or is_curator(user)):
        return True
    return row.user_id is None and bool(session_key) and row.session_key == session_key


def generation_job_for_viewer(*, public_id, user, session_key: str) -> GenerationJob | None:
    job = GenerationJob.objects.prefetch_related("images").filter(public_id=public_id).first()
    return job if job is not None and may_view(job, user=user, session_key=session_key) else None


def print_job_for_viewer(*, public_id, user, session_key: str) -> PrintJob | None:
    """A print job belongs to its result's generation job: whoever may see that job may see it."""
    job = PrintJob.objects.select_related("image__job").filter(public_id=public_id).first()
    return job if job is not None and may_view(job.image.job, user=user, session_key=session_key) else None


def prints_of_image(image) -> list[PrintJob]:
    """The print jobs made from one result, newest first (the print form lists them)."""
    return list(PrintJob.objects.filter(image=image).select_related("image__job"))


def generation_jobs_of(*, user, session_key: str):
    """The visitor's own generation history, newest first."""
    jobs = GenerationJob.objects.prefetch_related("images")
    if user.is_authenticated:
        return jobs.filter(user=user)
    if not session_key:
        return jobs.none()
    return jobs.filter(user__isnull=True, session_key=session_key)


def generation_history(*, user, session_key: str, mode: str = ""):
    """The history page's jobs: a curator's are everyone's, anyone else's their own; newest first."""
    jobs = (GenerationJob.objects.select_related("user").prefetch_related("images") if is_curator(user)
            else generation_jobs_of(user=user, session_key=session_key))
    return jobs.filter(mode=mode) if mode else jobs


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


def motifs_by_slug(slugs, *, include_drafts: bool = False) -> dict[str, Motif]:
    """The published motifs among ``slugs`` (drafts too for ``include_drafts``: curators' pages)."""
    motifs = Motif.objects.all() if include_drafts else Motif.objects.published()
    return {m.slug: m for m in motifs.filter(slug__in=[s for s in slugs if s])}
