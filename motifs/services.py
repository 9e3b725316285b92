"""Writes to the archive. Every function here leaves either a whole result or nothing: a row
is never left without its file, nor a file without its row."""
from __future__ import annotations

import logging
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils.translation import gettext as _

from core.imaging import NormalizedImage
from core.intake import image_normalize

from .models import Motif, MotifImage, Page, PageImage

logger = logging.getLogger(__name__)

class DuplicateImage(Exception):
    def __init__(self, existing: MotifImage):
        self.existing = existing
        super().__init__(f"duplicate of image {existing.pk} ({existing.sha256[:12]}) of {existing.motif}")

    @property
    def message(self) -> str:
        return _("This image is already in the archive as image #%(id)s of %(motif)s.") % {
            "id": self.existing.pk,
            "motif": self.existing.motif,
        }


def image_find_duplicate(sha256: str) -> MotifImage | None:
    return MotifImage.objects.select_related("motif").filter(sha256=sha256).first()


@dataclass(frozen=True)
class StoredFile:
    """A file put in storage for a row that is about to be written; ``discard`` undoes it."""

    name: str

    def discard(self) -> None:
        try:
            default_storage.delete(self.name)
        except OSError:  # already gone: nothing to undo
            logger.warning("could not delete %s", self.name)


def motif_image_create(
    *,
    motif: Motif,
    data: bytes | None = None,
    normalized: NormalizedImage | None = None,
    source: str = MotifImage.Source.GALLERY_PHOTO,
    credit: str = "",
    licence: str = "",
    training_consent: bool = True,
    split: str = MotifImage.Split.UNASSIGNED,
    caption_id: str = "",
    caption_en: str = "",
) -> MotifImage:
    """Validate, store and record one image of ``motif``.

    Raises ImageRejected for unusable input and DuplicateImage when the same bytes are
    already archived. The file is written inside the transaction and removed again if
    anything fails before the commit (an exception or Ctrl-C), so nothing half-stored stays.
    """
    if normalized is None:
        if data is None:
            raise TypeError("motif_image_create needs data or normalized")
        normalized = image_normalize(data)
    existing = image_find_duplicate(normalized.sha256)
    if existing:
        raise DuplicateImage(existing)

    image = MotifImage(
        motif=motif,
        sha256=normalized.sha256,
        width=normalized.width,
        height=normalized.height,
        size_bytes=len(normalized.content),
        source=source,
        credit=credit,
        licence=licence,
        training_consent=training_consent,
        split=split,
        caption_id=caption_id,
        caption_en=caption_en,
        position=motif.images.count(),
    )
    # A file without a row can only be a leftover of a killed run (duplicates were refused above).
    _save_with_file(image, normalized, existing_file="replace")
    return image


def page_image_create(
    *,
    page: Page,
    alt_id: str,
    data: bytes | None = None,
    normalized: NormalizedImage | None = None,
    alt_en: str = "",
    caption_id: str = "",
    caption_en: str = "",
    credit: str = "",
    position: int | None = None,
) -> PageImage:
    """Store one picture of a history/about page through the same intake rules as the archive
    (sniffing, limits, EXIF dropped, re-encoded); the file goes if the row is not written."""
    if normalized is None:
        if data is None:
            raise TypeError("page_image_create needs data or normalized")
        normalized = image_normalize(data)
    image = PageImage(
        page=page, sha256=normalized.sha256, width=normalized.width, height=normalized.height,
        alt_id=alt_id, alt_en=alt_en, caption_id=caption_id, caption_en=caption_en, credit=credit,
        position=page.images.count() if position is None else position,
    )
    # The same picture on another page (or twice): one file serves both rows.
    _save_with_file(image, normalized, existing_file="share")
    return image


def _save_with_file(image, normalized: NormalizedImage, *, existing_file: str) -> None:
    """Write ``image`` and its file (named from the content hash) together: a file this call
    wrote goes again if the row is not written. A file of that name already there is replaced
    (``existing_file="replace"``) or used as it is (``"share"``)."""
    stored: StoredFile | None = None
    try:
        with transaction.atomic():
            target = f"x.{normalized.extension}"
            final_name = image.file.field.generate_filename(image, target)
            if default_storage.exists(final_name) and existing_file == "share":
                image.file.name = final_name
            else:
                if default_storage.exists(final_name):
                    default_storage.delete(final_name)
                image.file.save(target, ContentFile(normalized.content), save=False)
                stored = StoredFile(image.file.name)
            image.full_clean(exclude=["file"])
            image.save()
    except BaseException:
        if stored:
            stored.discard()
        raise


def motifs_set_status(*, motifs, status: str) -> int:
    if status not in Motif.Status.values:
        raise ValidationError(_("Unknown status: %(status)s") % {"status": status})
    return motifs.update(status=status)


def images_assign_split(*, images, split: str) -> int:
    if split not in MotifImage.Split.values:
        raise ValidationError(_("Unknown split: %(split)s") % {"split": split})
    return images.update(split=split)
