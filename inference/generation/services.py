"""Generation services: what the web, the API and the commands call to make new motifs
(check, store, enqueue, cancel, retry, sweep, promote, summarise). The work itself runs in a
queue worker (``pipeline``).

The ``GenerationJob`` row is the truth; the queue only carries its id.
"""
from __future__ import annotations

import io
import json
import logging
import random
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core import limits
from core.imaging import NormalizedImage
from core.limits import GENERATION_DEFAULTS as DEFAULTS
from motifs import services as archive
from motifs.models import Motif, MotifImage

from ..models import GeneratedImage, GenerationJob, ModelKind, ModelVersion
from .messages import error_message, job_progress, job_timings

logger = logging.getLogger(__name__)

class GenerationRejected(Exception):
    """A request the service refuses before anything is stored; ``code`` keys ERROR_MESSAGES,
    ``context`` fills the bounds its message names (e.g. the job's count for the seed range)."""

    def __init__(self, code: str, detail: str = "", **context):
        self.code = code
        self.detail = detail
        self.context = context
        super().__init__(f"{code}: {detail}" if detail else code)

    @property
    def message(self) -> str:
        return error_message(self.code, **self.context)


# --- what the web calls ----------------------------------------------------------------------


def active_generator() -> ModelVersion | None:
    return ModelVersion.objects.filter(kind=ModelKind.GENERATOR, is_active=True).defer("calibration", "training_data").first()


def generatable_motifs(version: ModelVersion | None = None) -> list[Motif]:
    """Published motifs the active generator has a class for, in the archive's order."""
    version = version or active_generator()
    if version is None:
        return []
    slugs = {slug for slug in version.class_map.values() if slug}
    return list(Motif.objects.published().filter(slug__in=slugs).order_by("name"))


@dataclass(frozen=True)
class GenerationRequest:
    """What a form, the API, the Flask-era endpoint or a command asks for, already parsed.
    Build it with ``generation_request`` so that fields the mode does not use are dropped."""

    mode: str
    motifs: tuple[tuple[str, float], ...] = ()     # (slug, weight)
    structure_from: str = ""
    detail_from: str = ""
    prompt: str = ""
    reference: NormalizedImage | None = None
    seed: int | None = None                         # random when None, always recorded
    count: int = DEFAULTS.count
    truncation: float = DEFAULTS.truncation
    distance: float = DEFAULTS.distance
    refine: bool = DEFAULTS.refine
    refine_strength: float = DEFAULTS.refine_strength
    tile: bool = DEFAULTS.tile
    upscale: int = DEFAULTS.upscale


# The fields only some modes use; every other mode drops them (a fusion never stores an uploaded
# reference, a prompt job never carries motifs).
MODE_FIELDS = {
    GenerationJob.Mode.FUSION: {"motifs", "structure_from", "detail_from"},
    GenerationJob.Mode.VARIATION: {"motifs", "reference"},
    GenerationJob.Mode.PROMPT: {"prompt"},
}
MODE_ONLY = set().union(*MODE_FIELDS.values())


def generation_request(*, mode: str, **fields) -> GenerationRequest:
    """The one way every door turns what it parsed into a request: the defaults are the
    dataclass's (``core.limits``), fields the mode does not use are dropped, and None means
    "not sent". Raises nothing: ``check_request`` decides."""
    used = MODE_FIELDS.get(mode, MODE_ONLY)
    kept = {name: value for name, value in fields.items()
            if value is not None and (name not in MODE_ONLY or name in used)}
    return GenerationRequest(mode=mode, **kept)


def reference_needed(mode: str) -> bool:
    """Whether a door should read and check an uploaded reference image for this mode."""
    return "reference" in MODE_FIELDS.get(mode, set())


def check_request(request: GenerationRequest, version: ModelVersion | None) -> None:
    """The rules every door shares (the bounds are ``core.limits``); raises GenerationRejected."""
    if version is None:
        raise GenerationRejected("no_generator")
    if request.mode not in GenerationJob.Mode.values:
        raise GenerationRejected("bad_mode", str(request.mode)[:40])
    if not isinstance(request.count, int) or request.count not in limits.COUNT:
        raise GenerationRejected("bad_count", str(request.count))
    if request.seed is not None and (not isinstance(request.seed, int)
                                     or request.seed not in limits.seed_bound(request.count)):
        raise GenerationRejected("bad_seed", str(request.seed), count=request.count)
    for name, bound, code in (("truncation", limits.TRUNCATION, "bad_truncation"),
                              ("distance", limits.DISTANCE, "bad_distance"),
                              ("refine_strength", limits.REFINE_STRENGTH, "bad_refine_strength")):
        if getattr(request, name) not in bound:
            raise GenerationRejected(code, str(getattr(request, name)))
    if request.upscale not in limits.UPSCALE_FACTORS or isinstance(request.upscale, bool):
        raise GenerationRejected("bad_upscale", str(request.upscale))
    slugs = [slug for slug, _ in request.motifs]
    if len(slugs) > limits.MAX_REQUEST_MOTIFS:
        raise GenerationRejected("too_many_motifs", str(len(slugs)))
    if len(set(slugs)) != len(slugs):
        raise GenerationRejected("duplicate_motif")
    known = {slug for slug in version.class_map.values() if slug}
    published = set(Motif.objects.published().filter(slug__in=slugs).values_list("slug", flat=True))
    for slug, weight in request.motifs:
        if slug not in known or slug not in published:
            raise GenerationRejected("motif_not_generatable", str(slug)[:limits.MOTIF_SLUG_MAX_CHARS])
        if weight not in limits.WEIGHT:
            raise GenerationRejected("bad_weights", str(weight))
    if request.mode == GenerationJob.Mode.FUSION:
        if len(slugs) < limits.FUSION_MOTIFS.low:
            raise GenerationRejected("too_few_motifs")
        if len(slugs) > limits.FUSION_MOTIFS.high:
            raise GenerationRejected("too_many_motifs")
        for choice in (request.structure_from, request.detail_from):
            if choice and choice not in slugs:
                raise GenerationRejected("source_not_in_motifs", str(choice)[:limits.MOTIF_SLUG_MAX_CHARS])
    elif request.mode == GenerationJob.Mode.VARIATION:
        if len(slugs) + (request.reference is not None) != 1:
            raise GenerationRejected("one_motif")
    else:
        problem = limits.prompt_problem(request.prompt)
        if problem:
            raise GenerationRejected(problem)
    if request.refine and not ModelVersion.objects.filter(kind=ModelKind.REFINER, is_active=True).exists():
        raise GenerationRejected("no_refiner")


def generation_job_create(*, request: GenerationRequest, user=None, session_key: str = "") -> GenerationJob:
    """Check, store and enqueue a job (with its reference image, if any) — all or nothing."""
    version = active_generator()
    check_request(request, version)
    job = GenerationJob(
        mode=request.mode,
        motifs=[{"slug": slug, "weight": round(float(weight), 4)} for slug, weight in request.motifs],
        structure_from=request.structure_from, detail_from=request.detail_from,
        prompt=" ".join(request.prompt.split()),
        seed=request.seed if request.seed is not None else random.SystemRandom().randint(0, int(limits.seed_bound(request.count).high)),
        count=request.count, truncation=request.truncation, distance=request.distance,
        refine=request.refine, refine_strength=request.refine_strength, tile=request.tile, upscale=request.upscale,
        user=user if user is not None and user.is_authenticated else None, session_key=session_key or "",
    )
    # Neither an account nor a session (the Flask-compatible service, the ``generate`` command):
    # as in the Flask-era API, the job's random id is what lets its maker read it.
    job.readable_by_id = job.user is None and not job.session_key
    stored = None
    try:
        with transaction.atomic():
            if request.reference is not None:
                job.reference.save(f"reference.{request.reference.extension}", ContentFile(request.reference.content), save=False)
                stored = job.reference.name
            job.full_clean(exclude=["reference"])
            job.save()
    except BaseException:
        if stored:
            job.reference.storage.delete(stored)
        raise
    # After the commit: a worker must find the row. Were the broker down, the sweeper re-sends it.
    try:
        generation_job_enqueue(job)
    except Exception:
        logger.exception("could not enqueue generation job %s; the sweeper will", job.pk)
    job.refresh_from_db()
    return job


def generation_job_enqueue(job: GenerationJob) -> None:
    from .. import queues

    queues.enqueue(queues.GENERATE, "inference.generation.tasks.generate", job.pk,
                   task_name=f"generate-{job.public_id.hex[:12]}-{job.attempts}")


def generation_job_cancel(*, job: GenerationJob) -> bool:
    """Cancel a queued or running job; a running worker notices at its next step."""
    cancelled = GenerationJob.objects.filter(
        pk=job.pk, status__in=[GenerationJob.Status.QUEUED, GenerationJob.Status.RUNNING]
    ).update(status=GenerationJob.Status.CANCELLED, finished=timezone.now(), lease_owner="", lease_expires=None, stage="")
    job.refresh_from_db()
    return bool(cancelled)


def generation_job_retry(*, job: GenerationJob) -> bool:
    """A curator gives a failed (or cancelled) job another full set of attempts."""
    retried = GenerationJob.objects.filter(
        pk=job.pk, status__in=[GenerationJob.Status.FAILED, GenerationJob.Status.CANCELLED]
    ).update(status=GenerationJob.Status.QUEUED, attempts=0, error="", progress=0.0, stage="", finished=None)
    if retried:
        job.refresh_from_db()
        generation_job_enqueue(job)
    return bool(retried)


def generation_sweep() -> dict[str, int]:
    """Scheduled: hand jobs whose worker died (lease ran out) to another worker, fail those out
    of attempts, and re-send queued jobs the broker may have dropped. Enqueueing twice is
    harmless: only one worker can claim a job."""
    now = timezone.now()
    lease = timedelta(seconds=settings.CUALIFY_GENERATION_LEASE_SECONDS)
    limit = settings.CUALIFY_GENERATION_MAX_ATTEMPTS
    expired = GenerationJob.objects.filter(status=GenerationJob.Status.RUNNING, lease_expires__lt=now)
    failed = expired.filter(attempts__gte=limit).update(
        status=GenerationJob.Status.FAILED, error="lost", finished=now, lease_owner="", lease_expires=None
    )
    resent = 0
    for job in expired.filter(attempts__lt=limit):
        generation_job_enqueue(job)
        resent += 1
    for job in GenerationJob.objects.filter(status=GenerationJob.Status.QUEUED, created__lt=now - lease):
        generation_job_enqueue(job)
        resent += 1
    return {"failed": failed, "resent": resent}


SWEEP_TASK = "inference.generation.tasks.sweep_generation_jobs"


def ensure_sweep_schedule(using: str = "default") -> None:
    from django_q.models import Schedule

    Schedule.objects.using(using).update_or_create(
        func=SWEEP_TASK,
        defaults={"name": "cualify: sweep generation jobs", "schedule_type": Schedule.MINUTES,
                  "minutes": settings.CUALIFY_GENERATION_SWEEP_MINUTES, "repeats": -1},
    )


def generated_image_promote(*, image: GeneratedImage, motif: Motif, curator) -> MotifImage:
    """A curator takes a result into the archive as an AI-generated design linked to its job."""
    with image.file.open("rb") as handle:
        data = handle.read()
    with transaction.atomic():
        try:
            archive_image = archive.motif_image_create(
                motif=motif, data=data, source=MotifImage.Source.GENERATED,
                credit=_("AI-generated with Cualify (job %(job)s, seed %(seed)s)") % {"job": image.job.public_id.hex[:8], "seed": image.seed},
                training_consent=False,
            )
        except archive.DuplicateImage as exc:
            archive_image = exc.existing
        GeneratedImage.objects.filter(pk=image.pk).update(archive_image=archive_image)
    image.archive_image = archive_image
    return archive_image



def generation_job_summary(job: GenerationJob, image_url) -> dict:
    """A job as every machine-facing door answers it (the site's progress polling, the REST API,
    the Flask-compatible service); ``image_url(image)`` makes each result's address."""
    failed = job.status == GenerationJob.Status.FAILED
    progress = job_progress(job)
    return {
        "job_id": str(job.public_id), "status": job.status, "finished": job.is_finished,
        "stage": progress.stage, "stage_label": progress.stage_label, "progress": progress.fraction,
        "error": error_message(job.error) if failed else "",
        "mode": job.mode, "seed": job.seed, "count": job.count, "motifs": job.motifs, "prompt": job.prompt,
        "matched": [{"motif": slug, "weight": weight} for slug, weight in job.prompt_match.get("weights", [])],
        "colours": job.prompt_match.get("colours", []),
        "parameters": {"truncation": job.truncation, "distance": job.distance, "refine": job.refine,
                       "refine_strength": job.refine_strength, "tile": job.tile, "upscale": job.upscale},
        "images": [{"index": image.index, "seed": image.seed, "width": image.width, "height": image.height,
                    "url": image_url(image)} for image in job.images.all()],
        "timings": job_timings(job), "models": job.model_versions,
        "created": job.created.isoformat(), "finished_at": job.finished.isoformat() if job.finished else None,
    }


def job_png(image: GeneratedImage) -> bytes:
    with image.file.open("rb") as handle:
        return handle.read()


def print_export(*, image: GeneratedImage, tile_cm: float, fabric_width_cm: float, fabric_height_cm: float) -> bytes:
    """The tile upscaled to ``tile_cm`` at 300 dpi and repeated over the fabric, as PNG bytes that
    keep every text chunk of the result (job, seed, parameters, inputs, models) plus the print's
    own size, and the AI-generated markers (``png_bytes`` always writes them). Runs in the web
    process (Pillow only) until print files are made in the worker: bounded by
    CUALIFY_PRINT_MAX_MEGAPIXELS and throttled by the ``print`` rate."""
    from PIL import Image

    from .images import AI_METADATA, XMP_KEY, png_bytes, print_tile, read_png_metadata

    data = job_png(image)
    tile = Image.open(io.BytesIO(data)).convert("RGB")
    sheet = print_tile(tile, tile_cm=tile_cm, fabric_width_cm=fabric_width_cm, fabric_height_cm=fabric_height_cm,
                       dpi=limits.PRINT_DPI, max_megapixels=settings.CUALIFY_PRINT_MAX_MEGAPIXELS)
    written_by_png_bytes = {"Software", XMP_KEY, *AI_METADATA}
    metadata = {key: value for key, value in read_png_metadata(data).items() if key not in written_by_png_bytes}
    metadata["print"] = json.dumps({"tile_cm": tile_cm, "fabric_width_cm": fabric_width_cm,
                                    "fabric_height_cm": fabric_height_cm, "dpi": limits.PRINT_DPI}, sort_keys=True)
    return png_bytes(sheet, metadata, dpi=limits.PRINT_DPI)

