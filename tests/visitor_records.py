"""Visitors' classification records and generation jobs made directly as rows with real files
(no model runs), for the privacy, backup and security tests. ``session_key`` is the visitor's
own key; rows store its hash, as the site does."""
from django.core.files.base import ContentFile

from inference.models import ClassificationRecord, GeneratedImage, GenerationJob
from inference.visitors import visitor_key_hash
from tests.factories import image_bytes

_shade = iter(range(10**9))


def _png() -> bytes:
    n = next(_shade)
    return image_bytes((n % 256, (n // 256) % 256, 200))


def make_record(*, user=None, session_key: str = "", saliency: bool = True, **fields) -> ClassificationRecord:
    record = ClassificationRecord(user=user, session_key=visitor_key_hash(session_key), sha256="0" * 64, width=64, height=64,
                                  status=ClassificationRecord.Status.DONE, top=[], **fields)
    record.image.save("photo.jpg", ContentFile(image_bytes((30, 60, 90), fmt="JPEG")), save=False)
    if saliency:
        record.saliency.save("saliency.jpg", ContentFile(image_bytes((90, 60, 30), fmt="JPEG")), save=False)
    record.save()
    return record


def make_job(*, user=None, session_key: str = "", reference: bool = True, images: int = 2, **fields) -> GenerationJob:
    job = GenerationJob(mode=GenerationJob.Mode.VARIATION, seed=11, count=images, user=user, session_key=visitor_key_hash(session_key),
                        status=GenerationJob.Status.SUCCEEDED, progress=1.0, **fields)
    if reference:
        job.reference.save("reference.png", ContentFile(_png()), save=False)
    job.save()
    for index in range(images):
        image = GeneratedImage(job=job, index=index, seed=11 + index, width=64, height=64)
        image.file.save("image.png", ContentFile(_png()), save=False)
        image.save()
    return job


def stored_names(record_or_job) -> list[str]:
    """Media names of every file a record or a job owns."""
    if isinstance(record_or_job, ClassificationRecord):
        return [f.name for f in (record_or_job.image, record_or_job.saliency) if f]
    names = [record_or_job.reference.name] if record_or_job.reference else []
    return names + [image.file.name for image in record_or_job.images.all()]
