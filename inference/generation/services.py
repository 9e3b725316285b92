"""Generation services: what the web, the API and the commands call to make new motifs
(check, store, enqueue, cancel, retry, sweep, promote, summarise). The work itself runs in a
queue worker (``pipeline``).

The ``GenerationJob`` row is the truth; the queue only carries its id.
"""
from __future__ import annotations

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

from ..models import GeneratedImage, GenerationJob, ModelKind, ModelVersion, PrintJob
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
    refiner = ModelVersion.objects.filter(kind=ModelKind.REFINER, is_active=True).only("metrics").first()
    if request.refine and refiner is None:
        raise GenerationRejected("no_refiner")
    side = result_side(version, refiner if request.refine else None, request.upscale)
    if side > limits.MAX_ENGINE_SIDE:
        raise GenerationRejected("too_large_result", f"{side} px", result_side=side)


def result_side(generator: ModelVersion, refiner: ModelVersion | None, upscale: int) -> int:
    """The side of a job's images: the generator's size, times the super-resolution refiner's
    scale when it refines, times the upscale factor."""
    native = int((generator.metrics or {}).get("resolution") or 0)  # 0 (not recorded): nothing to check
    scale = int((refiner.metrics or {}).get("scale") or 1) if refiner is not None else 1
    return native * scale * upscale


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
    return _enqueued(job, generation_job_enqueue)


def _enqueued(job, enqueue):
    """``job`` as stored, once sent. After the commit, so that a worker finds the row; were the
    broker down, the sweeper re-sends it."""
    try:
        enqueue(job)
    except Exception:
        logger.exception("could not enqueue %s %s; the sweeper will", type(job).__name__, job.pk)
    job.refresh_from_db()
    return job


def _send(job, task: str, name: str) -> None:
    from .. import queues  # generation and print jobs alike run in the generate cluster

    queues.enqueue(queues.GENERATE, f"inference.generation.tasks.{task}", job.pk,
                   task_name=f"{name}-{job.public_id.hex[:12]}-{job.attempts}")


def generation_job_enqueue(job: GenerationJob) -> None:
    _send(job, "generate", "generate")


def job_cancel(*, job) -> bool:
    """Cancel a queued or running job, a generation or a print job; a running worker notices at
    its next step and writes nothing."""
    model = type(job)
    cancelled = model.objects.filter(pk=job.pk, status__in=[model.Status.QUEUED, model.Status.RUNNING]).update(
        status=model.Status.CANCELLED, finished=timezone.now(), lease_owner="", lease_expires=None, stage="")
    job.refresh_from_db()
    return bool(cancelled)


generation_job_cancel = job_cancel  # the name the generation doors (site, API, admin) call


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
    """Scheduled: hand generation and print jobs whose worker died (lease ran out) to another
    worker, fail those out of attempts, and re-send queued jobs the broker may have dropped.
    Enqueueing twice is harmless: only one worker can claim a job."""
    counts = [_sweep(GenerationJob, generation_job_enqueue), _sweep(PrintJob, print_job_enqueue)]
    return {key: sum(count[key] for count in counts) for key in ("failed", "resent")}


def _sweep(model, enqueue) -> dict[str, int]:
    now = timezone.now()
    lease = timedelta(seconds=settings.CUALIFY_GENERATION_LEASE_SECONDS)
    limit = settings.CUALIFY_GENERATION_MAX_ATTEMPTS
    expired = model.objects.filter(status=model.Status.RUNNING, lease_expires__lt=now)
    # The rows are found by a plain read and changed by primary key (the conditions checked
    # again): a ranged UPDATE locks every row it scans in InnoDB and deadlocked with workers
    # renewing their leases (seen on MariaDB in the cluster test).
    out_of_attempts = list(expired.filter(attempts__gte=limit).values_list("pk", flat=True))
    failed = expired.filter(pk__in=out_of_attempts, attempts__gte=limit).update(
        status=model.Status.FAILED, error="lost", finished=now, lease_owner="", lease_expires=None
    ) if out_of_attempts else 0
    resent = 0
    for job in expired.filter(attempts__lt=limit):
        enqueue(job)
        resent += 1
    for job in model.objects.filter(status=model.Status.QUEUED, created__lt=now - lease):
        enqueue(job)
        resent += 1
    return {"failed": failed, "resent": resent}


SWEEP_TASK = "inference.generation.tasks.sweep_generation_jobs"


def ensure_sweep_schedule(using: str = "default") -> None:
    from django_q.models import Schedule

    Schedule.objects.using(using).update_or_create(
        func=SWEEP_TASK,
        defaults={"name": "cualify: sweep generation and print jobs", "schedule_type": Schedule.MINUTES,
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



SUGGESTIONS = 3  # closest motifs offered when a description matches none


def prompt_suggestions(job: GenerationJob) -> list[dict]:
    """For a prompt job that matched no motif: the closest published motifs, best first, as
    ``{"motif", "name", "similarity"}`` (every door shows these as guesses, not answers)."""
    if job.error != "no_match" or not job.prompt_match.get("similarities"):
        return []
    ranked = [(slug, value) for slug, value in job.prompt_match["similarities"]]
    published = {m.slug: m for m in Motif.objects.published().filter(slug__in=[slug for slug, _ in ranked])}
    return [{"motif": slug, "name": published[slug].name, "similarity": round(value, 4)}
            for slug, value in ranked if slug in published][:SUGGESTIONS]


def generation_job_summary(job: GenerationJob, image_url) -> dict:
    """A job as every machine-facing door answers it (the site's progress polling, the REST API,
    the Flask-compatible service); ``image_url(image)`` makes each result's address."""
    failed = job.status == GenerationJob.Status.FAILED
    progress = job_progress(job)
    return {
        "job_id": str(job.public_id), "status": job.status, "finished": job.is_finished,
        "stage": progress.stage, "stage_label": progress.stage_label, "progress": progress.fraction,
        "error": error_message(job.error) if failed else "",
        "suggestions": prompt_suggestions(job) if failed else [],
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


# --- print files ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PrintSizes:
    """A print job's files in pixels: the tile at 300 dpi, and the fabric at 150 dpi with the
    tile it repeats."""

    tile_px: int
    fabric_width_px: int
    fabric_height_px: int
    fabric_tile_px: int


def print_sizes(*, tile_cm, fabric_width_cm, fabric_height_cm) -> PrintSizes:
    """The one rule of a print's size, checked by every door before anything is queued and by the
    worker again: the bounds of ``core.limits``, the tile file within CUALIFY_PRINT_MAX_MEGAPIXELS
    at 300 dpi, the fabric file within CUALIFY_PRINT_FABRIC_MAX_MEGAPIXELS at 150 dpi. Pure
    arithmetic (no image is touched); raises GenerationRejected."""
    if tile_cm not in limits.PRINT_TILE_CM or not all(side in limits.PRINT_FABRIC_CM
                                                       for side in (fabric_width_cm, fabric_height_cm)):
        raise GenerationRejected("bad_print_size", f"{tile_cm!r} {fabric_width_cm!r} {fabric_height_cm!r}"[:120])
    tile_px = limits.print_px(tile_cm, limits.PRINT_DPI)
    if tile_px * tile_px > settings.CUALIFY_PRINT_MAX_MEGAPIXELS * 1_000_000:
        raise GenerationRejected("too_large_tile", f"{tile_px} x {tile_px} px")
    width_px, height_px = (limits.print_px(side, limits.PRINT_FABRIC_DPI) for side in (fabric_width_cm, fabric_height_cm))
    if width_px * height_px > settings.CUALIFY_PRINT_FABRIC_MAX_MEGAPIXELS * 1_000_000:
        raise GenerationRejected("too_large_fabric", f"{width_px} x {height_px} px")
    return PrintSizes(tile_px=tile_px, fabric_width_px=width_px, fabric_height_px=height_px,
                      fabric_tile_px=limits.print_px(tile_cm, limits.PRINT_FABRIC_DPI))


def print_limits() -> dict:
    """The print limits as the API and its errors state them."""
    return {"tile_dpi": limits.PRINT_DPI, "tile_max_megapixels": settings.CUALIFY_PRINT_MAX_MEGAPIXELS,
            "fabric_dpi": limits.PRINT_FABRIC_DPI, "fabric_max_megapixels": settings.CUALIFY_PRINT_FABRIC_MAX_MEGAPIXELS}


def print_availability() -> str:
    """'' when a print job would be picked up, else the reason's code: print jobs run in the
    ``generate`` cluster, which must have a live worker (said at once, before anything is stored)."""
    from .. import health, queues

    if health.queue_is_sync() or queues.GENERATE in health.live_clusters():
        return ""
    return "no_print_worker"


def print_job_create(*, image: GeneratedImage, tile_cm: float, fabric_width_cm: float,
                     fabric_height_cm: float) -> PrintJob:
    """Check and queue print files of ``image``; raises GenerationRejected before anything is stored."""
    reason = print_availability()
    if reason:
        raise GenerationRejected(reason)
    sizes = print_sizes(tile_cm=tile_cm, fabric_width_cm=fabric_width_cm, fabric_height_cm=fabric_height_cm)
    job = PrintJob(image=image, tile_cm=tile_cm, fabric_width_cm=fabric_width_cm, fabric_height_cm=fabric_height_cm,
                   tile_px=sizes.tile_px, fabric_width_px=sizes.fabric_width_px, fabric_height_px=sizes.fabric_height_px)
    job.full_clean(exclude=["image", "tile", "fabric"])
    job.save()
    return _enqueued(job, print_job_enqueue)


def print_job_enqueue(job: PrintJob) -> None:
    _send(job, "make_print", "print")


PRINT_FILES = ("tile", "fabric")


def print_file_name(job: PrintJob, which: str) -> str:
    """The name a download of one print file gets."""
    image = job.image
    if which == "tile":
        return f"cualify-{image.job.public_id.hex[:8]}-seed{image.seed}-tile-{job.tile_cm:g}cm-300dpi.png"
    return (f"cualify-{image.job.public_id.hex[:8]}-seed{image.seed}-"
            f"{job.fabric_width_cm:g}x{job.fabric_height_cm:g}cm-150dpi.png")


def print_job_summary(job: PrintJob, file_url) -> dict:
    """A print job as every door answers it (the site's progress polling, the REST API);
    ``file_url(job, which)`` makes the address of its ``tile`` or ``fabric`` file."""
    progress = job_progress(job)
    succeeded = job.status == PrintJob.Status.SUCCEEDED
    return {
        "print_id": str(job.public_id), "status": job.status, "finished": job.is_finished,
        "stage": progress.stage, "stage_label": progress.stage_label, "progress": progress.fraction,
        "error": error_message(job.error) if job.status == PrintJob.Status.FAILED else "",
        "job_id": str(job.image.job.public_id), "image_index": job.image.index,
        "tile_cm": job.tile_cm, "fabric_width_cm": job.fabric_width_cm, "fabric_height_cm": job.fabric_height_cm,
        "files": [{"file": which, "dpi": dpi, "width": width, "height": height,
                   "url": file_url(job, which) if succeeded and getattr(job, which) else None}
                  for which, dpi, width, height in (
                      ("tile", limits.PRINT_DPI, job.tile_px, job.tile_px),
                      ("fabric", limits.PRINT_FABRIC_DPI, job.fabric_width_px, job.fabric_height_px))],
        "timings": job_timings(job),
        "created": job.created.isoformat(), "finished_at": job.finished.isoformat() if job.finished else None,
    }
