from django.db.models import Prefetch

from motifs.models import Motif, Ownership

from .models import ClassificationRecord


def classification_for_viewer(*, public_id, user, session_key: str) -> ClassificationRecord | None:
    """A record its owner (same user, or same browser session) or a curator may see."""
    record = (
        ClassificationRecord.objects.select_related("model_version", "motif")
        .prefetch_related(Prefetch("motif__ownerships", queryset=Ownership.objects.select_related("owner")))
        .filter(public_id=public_id)
        .first()
    )
    if record is None:
        return None
    if user.is_authenticated and (user.is_staff or record.user_id == user.pk):
        return record
    if record.user_id is None and session_key and record.session_key == session_key:
        return record
    return None


def motifs_by_slug(slugs) -> dict[str, Motif]:
    return {m.slug: m for m in Motif.objects.filter(slug__in=[s for s in slugs if s])}
