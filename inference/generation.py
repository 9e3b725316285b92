"""Generation services: what the web, the API and the commands call to make new motifs, and
what a queue worker runs to make them.

The ``GenerationJob`` row is the truth; the queue only carries its id. A worker claims a job
with one conditional UPDATE (queued, or running with a lease that ran out) and renews the lease
at every progress step. A step that finds the lease gone (cancelled, or claimed by another
worker after this one stalled) stops at once. Results are written in one transaction at the
end; any failure removes the files it had written, so nothing is left half-done.
"""
from __future__ import annotations

import io
import logging
import os
import random
import re
import socket
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from cualify.imaging import NormalizedImage
from motifs import services as archive
from motifs.models import Motif, MotifImage

from .models import GeneratedImage, GenerationJob, ModelKind, ModelVersion

logger = logging.getLogger(__name__)

MAX_COUNT = 8
MAX_SEED = 2**32 - 1
UPSCALE_FACTORS = (1, 2, 4, 8)
REFINE_STEPS = 10  # denoising steps of a refinement, whatever its strength


def refine_schedule_steps(strength: float) -> int:
    """DDIM steps over the whole noise range such that refining from ``strength`` takes
    REFINE_STEPS denoising steps (SDEdit starts part-way down the schedule)."""
    return max(REFINE_STEPS, round(REFINE_STEPS / strength))

# Engine error codes (inference.engines.*Error.code) and the service's own, as visitors read them.
ERROR_MESSAGES = {
    "no_generator": _("No generator is active. A curator must activate one."),
    "no_worker": _("Generation is unavailable right now: no queue worker is running. Please try again later."),
    "bad_mode": _("Unknown mode: choose fusion, variation or prompt."),
    "bad_count": _("Choose between 1 and 8 images."),
    "bad_seed": _("The seed must be a whole number between 0 and 4294967295."),
    "bad_range": _("A parameter is outside its allowed range."),
    "bad_upscale": _("The upscale factor must be 1, 2, 4 or 8."),
    "no_refiner": _("Refinement is not available: no refiner is active. Turn it off and try again."),
    "motif_not_generatable": _("The generator does not know this motif yet."),
    "too_few_motifs": _("Choose at least two motifs for a fusion."),
    "too_many_motifs": _("Choose at most four motifs for a fusion."),
    "one_motif": _("Choose one motif, or upload a reference image, for a variation."),
    "bad_weights": _("Weights must be positive numbers."),
    "empty": _("Describe the motif you want."),
    "too_long": _("The description is too long (300 characters at most)."),
    "no_match": _("The description does not match any motif in the archive."),
    "too_large": _("That print is too large. Choose a smaller cloth or tile."),
    "duplicate_motif": _("A motif is chosen twice."),
    "source_not_in_motifs": _("“Structure from” and “detail from” must be among the chosen motifs."),
    "bad_image": _("The reference image could not be used."),
    "no_motifs": _("The archive has no motif the generator knows."),
    "lost": _("The job was lost by its worker too many times."),
    "failed": _("Something went wrong while generating. Nothing was lost: please try again."),
}


STAGE_LABELS = {
    "starting": _("Starting"),
    "loading models": _("Loading the models"),
    "encoding prompt": _("Reading your description"),
    "projecting reference": _("Fitting your reference image"),
    "synthesis": _("Drawing the motifs"),
    "refinement": _("Refining"),
    "saving": _("Saving"),
    "total": _("total"),
}


def stage_label(stage: str) -> str:
    """A worker's stage ("refinement 3/10") in the reader's language."""
    for name, label in STAGE_LABELS.items():
        if stage == name or stage.startswith(name + " "):
            return f"{label}{stage[len(name):]}"
    return stage


def timing_rows(job: GenerationJob) -> list[tuple[str, float]]:
    return [(stage_label(key[:-2]), seconds) for key, seconds in job.timings.items() if key.endswith("_s")]


def error_message(code: str) -> str:
    return str(ERROR_MESSAGES.get(code, ERROR_MESSAGES["failed"]))


class GenerationRejected(Exception):
    """A request the service refuses before anything is stored; ``code`` keys ERROR_MESSAGES."""

    def __init__(self, code: str, detail: str = ""):
        self.code = code
        self.detail = detail
        super().__init__(f"{code}: {detail}" if detail else code)

    @property
    def message(self) -> str:
        return error_message(self.code)


class JobStopped(Exception):
    """The job was cancelled or claimed by another worker: stop without writing results."""


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
    """What a form, the API or the Flask-era endpoint asks for, already parsed."""

    mode: str
    motifs: tuple[tuple[str, float], ...] = ()     # (slug, weight)
    structure_from: str = ""
    detail_from: str = ""
    prompt: str = ""
    reference: NormalizedImage | None = None
    seed: int | None = None                         # random when None, always recorded
    count: int = 4
    truncation: float = 0.7
    distance: float = 0.5
    refine: bool = False
    refine_strength: float = 0.3
    tile: bool = True
    upscale: int = 1


def check_request(request: GenerationRequest, version: ModelVersion | None) -> None:
    """The rules every door shares; raises GenerationRejected with a code."""
    if version is None:
        raise GenerationRejected("no_generator")
    if request.mode not in GenerationJob.Mode.values:
        raise GenerationRejected("bad_mode", request.mode)
    if not 1 <= request.count <= MAX_COUNT:
        raise GenerationRejected("bad_count", str(request.count))
    if request.seed is not None and not 0 <= request.seed <= MAX_SEED:
        raise GenerationRejected("bad_seed", str(request.seed))
    if not 0.1 <= request.truncation <= 1.0 or not 0.0 <= request.distance <= 1.0:
        raise GenerationRejected("bad_range")
    if not 0.05 <= request.refine_strength <= 0.9:
        raise GenerationRejected("bad_range")
    if request.upscale not in UPSCALE_FACTORS:
        raise GenerationRejected("bad_upscale", str(request.upscale))
    known = {slug for slug in version.class_map.values() if slug}
    published = set(Motif.objects.published().filter(slug__in=[s for s, _ in request.motifs]).values_list("slug", flat=True))
    for slug, weight in request.motifs:
        if slug not in known or slug not in published:
            raise GenerationRejected("motif_not_generatable", slug)
        if not weight > 0:
            raise GenerationRejected("bad_weights")
    if len({slug for slug, _ in request.motifs}) != len(request.motifs):
        raise GenerationRejected("bad_weights", "a motif is named twice")
    if request.mode == GenerationJob.Mode.FUSION:
        if len(request.motifs) < 2:
            raise GenerationRejected("too_few_motifs")
        if len(request.motifs) > 4:
            raise GenerationRejected("too_many_motifs")
        chosen = {slug for slug, _ in request.motifs}
        for choice in (request.structure_from, request.detail_from):
            if choice and choice not in chosen:
                raise GenerationRejected("source_not_in_motifs", choice)
    elif request.mode == GenerationJob.Mode.VARIATION:
        if len(request.motifs) + (request.reference is not None) != 1:
            raise GenerationRejected("one_motif")
    else:
        from .engines.prompt import PromptError, check_prompt

        try:
            check_prompt(request.prompt)
        except PromptError as exc:
            raise GenerationRejected(exc.code, exc.message) from exc
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
        seed=request.seed if request.seed is not None else random.SystemRandom().randint(0, MAX_SEED),
        count=request.count, truncation=request.truncation, distance=request.distance,
        refine=request.refine, refine_strength=request.refine_strength, tile=request.tile, upscale=request.upscale,
        user=user if user is not None and user.is_authenticated else None, session_key=session_key or "",
    )
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
    from django_q.tasks import async_task

    async_task("inference.tasks.generate", job.pk, task_name=f"generate-{job.public_id.hex[:12]}-{job.attempts}")


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


SWEEP_TASK = "inference.tasks.sweep_generation_jobs"


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


# --- what a queue worker runs ----------------------------------------------------------------


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def generation_job_claim(job_id: int, worker: str) -> GenerationJob | None:
    """Atomically take a queued job, or a running one whose lease ran out; None if someone else
    holds it, it is finished, or it is out of attempts."""
    now = timezone.now()
    claimable = Q(status=GenerationJob.Status.QUEUED) | Q(status=GenerationJob.Status.RUNNING, lease_expires__lt=now)
    claimed = GenerationJob.objects.filter(claimable, pk=job_id, attempts__lt=settings.CUALIFY_GENERATION_MAX_ATTEMPTS).update(
        status=GenerationJob.Status.RUNNING, lease_owner=worker, attempts=F("attempts") + 1,
        lease_expires=now + timedelta(seconds=settings.CUALIFY_GENERATION_LEASE_SECONDS),
        started=now, stage="starting", progress=0.0, error="",
    )
    return GenerationJob.objects.get(pk=job_id) if claimed else None


class Progress:
    """Writes stage and progress (at most every ``interval`` seconds unless the stage changes),
    renewing the lease; raises JobStopped when the job is no longer this worker's."""

    def __init__(self, job: GenerationJob, worker: str, interval: float = 0.3):
        self.job, self.worker, self.interval = job, worker, interval
        self.stage, self.written = "", 0.0
        self.stage_started: dict[str, float] = {}

    def __call__(self, stage: str, fraction: float, force: bool = False) -> None:
        now = time.monotonic()
        # "refinement 3/10" is one stage in the timings: its steps only move the bar.
        self.stage_started.setdefault(re.sub(r" \d+/\d+$", "", stage), now)
        if not force and stage == self.stage and now - self.written < self.interval:
            return
        self.stage, self.written = stage, now
        renewed = GenerationJob.objects.filter(
            pk=self.job.pk, status=GenerationJob.Status.RUNNING, lease_owner=self.worker
        ).update(stage=stage[:60], progress=max(0.0, min(1.0, fraction)),
                 lease_expires=timezone.now() + timedelta(seconds=settings.CUALIFY_GENERATION_LEASE_SECONDS))
        if not renewed:
            raise JobStopped(self.job.pk)

    def timings(self, finished: float) -> dict[str, float]:
        starts = sorted(self.stage_started.items(), key=lambda item: item[1])
        ends = [start for _, start in starts[1:]] + [finished]
        return {f"{name}_s": round(end - start, 4) for (name, start), end in zip(starts, ends)}


def generation_run(job_id: int) -> None:
    """The queue task: claim, generate, save — or leave the job for another attempt."""
    worker = worker_name()
    job = generation_job_claim(job_id, worker)
    if job is None:
        return
    saved: list[str] = []
    try:
        outputs, versions, progress, started = _generate(job, worker)
        progress("saving", 0.98, force=True)
        with transaction.atomic():
            current = GenerationJob.objects.select_for_update().get(pk=job.pk)
            if current.status != GenerationJob.Status.RUNNING or current.lease_owner != worker:
                raise JobStopped(job.pk)
            for index, (seed, png, width, height, metadata) in enumerate(outputs):
                image = GeneratedImage(job=current, index=index, seed=seed, width=width, height=height, metadata=metadata)
                image.file.save("image.png", ContentFile(png), save=False)
                saved.append(image.file.name)
                image.save()
            finished = time.monotonic()
            GenerationJob.objects.filter(pk=job.pk).update(
                status=GenerationJob.Status.SUCCEEDED, stage="", progress=1.0, finished=timezone.now(),
                lease_owner="", lease_expires=None, model_versions=versions,
                timings={**progress.timings(finished), "total_s": round(finished - started, 4)},
            )
    except JobStopped:
        _delete(saved)
    except Exception as exc:
        _delete(saved)
        _failed_attempt(job, worker, exc, code=_refusal_code(exc))


def _refusal_code(exc: Exception) -> str:
    """The code of a refusal no retry can mend (an engine or the service said no), else ''."""
    from .engines.generator import GenerationError
    from .engines.prompt import PromptError
    from .engines.refiner import RefinerError

    return exc.code if isinstance(exc, (GenerationRejected, GenerationError, PromptError, RefinerError)) else ""


def _failed_attempt(job: GenerationJob, worker: str, exc: Exception, code: str) -> None:
    """A refusal (``code``) fails at once; anything else is tried again until the attempts run out."""
    logger.exception("generation job %s failed (attempt %s)", job.pk, job.attempts)
    error = code or f"{type(exc).__name__}: {exc}"[:2000]
    mine = GenerationJob.objects.filter(pk=job.pk, status=GenerationJob.Status.RUNNING, lease_owner=worker)
    if code or job.attempts >= settings.CUALIFY_GENERATION_MAX_ATTEMPTS:
        mine.update(status=GenerationJob.Status.FAILED, error=error, finished=timezone.now(), lease_owner="", lease_expires=None)
    elif mine.update(status=GenerationJob.Status.QUEUED, error=error, lease_owner="", lease_expires=None, stage=""):
        generation_job_enqueue(job)


def _delete(names: list[str]) -> None:
    from django.core.files.storage import default_storage

    for name in names:
        try:
            default_storage.delete(name)
        except OSError:
            logger.warning("could not remove %s", name)


def _generate(job: GenerationJob, worker: str):
    from .runtime import get_model, get_prompt_encoder

    started = time.monotonic()
    progress = Progress(job, worker)
    progress("loading models", 0.0, force=True)
    loaded = get_model(ModelKind.GENERATOR)
    if loaded is None:
        raise GenerationRejected("no_generator")
    engine, version = loaded.engine, loaded.version
    versions = {"generator": {"id": version.pk, "name": version.name, "sha256": version.sha256[:12]}}
    index_of = {slug: version.class_names.index(name) for name, slug in version.class_map.items() if slug}

    def class_index(slug: str) -> int:
        if slug not in index_of:
            raise GenerationRejected("motif_not_generatable", slug)
        return index_of[slug]

    def synthesis_progress(stage, done, total):
        progress("synthesis", 0.05 + 0.45 * done / max(total, 1))

    def start_synthesis():
        progress("synthesis", 0.05, force=True)

    colours: tuple[str, ...] = ()
    inputs: dict = {}
    if job.mode == GenerationJob.Mode.PROMPT:
        progress("encoding prompt", 0.02, force=True)
        encoder = get_prompt_encoder()
        match = encoder.match(job.prompt, _motif_texts(index_of))
        if not match.weights:
            raise GenerationRejected("no_match")
        colours = match.colours
        job.prompt_match = {"normalised": match.normalised, "weights": [list(w) for w in match.weights],
                            "similarities": [list(s) for s in match.similarities], "colours": list(colours)}
        GenerationJob.objects.filter(pk=job.pk).update(prompt_match=job.prompt_match)
        versions["text_encoder"] = {"name": encoder.name}
        weights = [(class_index(slug), weight) for slug, weight in match.weights]
        inputs = {"prompt": job.prompt, "matched": {slug: round(w, 3) for slug, w in match.weights}}
        start_synthesis()
        if len(weights) == 1:
            result = engine.variation(class_index=weights[0][0], seed=job.seed, count=job.count, truncation=job.truncation,
                                      distance=job.distance, tile=job.tile, progress=synthesis_progress)
        else:
            result = engine.fusion(classes=weights, seed=job.seed, count=job.count, truncation=job.truncation,
                                   tile=job.tile, progress=synthesis_progress)
    elif job.mode == GenerationJob.Mode.FUSION:
        weights = [(class_index(item["slug"]), item["weight"]) for item in job.motifs]
        inputs = {"motifs": {item["slug"]: item["weight"] for item in job.motifs},
                  "structure_from": job.structure_from, "detail_from": job.detail_from}
        start_synthesis()
        result = engine.fusion(
            classes=weights, seed=job.seed, count=job.count, truncation=job.truncation, tile=job.tile,
            structure_from=class_index(job.structure_from) if job.structure_from else None,
            detail_from=class_index(job.detail_from) if job.detail_from else None,
            progress=synthesis_progress,
        )
    elif job.reference:
        ws, base_class, inputs = _project_reference(job, engine, index_of, progress)
        start_synthesis()
        result = engine.variation(ws=ws, class_index=base_class, seed=job.seed, count=job.count, truncation=job.truncation,
                                  distance=job.distance, tile=job.tile, progress=synthesis_progress)
    else:
        slug = job.motifs[0]["slug"]
        inputs = {"motif": slug}
        start_synthesis()
        result = engine.variation(class_index=class_index(slug), seed=job.seed, count=job.count, truncation=job.truncation,
                                  distance=job.distance, tile=job.tile, progress=synthesis_progress)

    images = [_as_array(image) for image in result.images]
    if job.refine:
        refiner = get_model(ModelKind.REFINER)
        if refiner is None:
            raise GenerationRejected("no_refiner")
        versions["refiner"] = {"id": refiner.version.pk, "name": refiner.version.name, "sha256": refiner.version.sha256[:12]}
        import numpy as np

        progress(f"refinement 0/{REFINE_STEPS}", 0.5, force=True)
        refined = refiner.engine.refine(
            np.stack(images), strength=job.refine_strength, steps=refine_schedule_steps(job.refine_strength),
            seed=job.seed, tile=job.tile,
            callback=lambda i, n: progress(f"refinement {i}/{n}", 0.5 + 0.4 * i / max(n, 1), force=True),
        )
        images = list(refined)
    if colours:
        from .engines.prompt import shift_palette

        images = [shift_palette(image, colours[0]) for image in images]

    from .engines.generator import png_bytes, upscale

    outputs = []
    parameters = {
        "mode": job.mode, "seed": job.seed, "count": job.count, "truncation": job.truncation, "distance": job.distance,
        "refine": job.refine, "refine_strength": job.refine_strength if job.refine else None, "tile": job.tile,
        "upscale": job.upscale, "colours": list(colours),
    }
    for index, (seed, array) in enumerate(zip(result.seeds, images)):
        progress("saving", 0.9 + 0.08 * index / len(images))
        from PIL import Image

        picture, method = upscale(Image.fromarray(array), job.upscale, tile=job.tile)
        metadata = {
            "job": job.public_id.hex, "image_seed": str(seed), "upscale_method": method,
            "parameters": _json(parameters), "inputs": _json(inputs), "models": _json(versions),
        }
        outputs.append((seed, png_bytes(picture, metadata), picture.width, picture.height, metadata))
    return outputs, versions, progress, started


def _json(value) -> str:
    import json

    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _as_array(image):
    import numpy as np

    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def _motif_texts(index_of: dict[str, int]):
    from .engines.prompt import MotifText

    motifs = Motif.objects.published().filter(slug__in=index_of).prefetch_related("aliases")
    return [
        MotifText(slug=m.slug, name=m.name, name_en=m.name_en, aliases=tuple(a.name for a in m.aliases.all()),
                  description_id=m.description_id, description_en=m.description_en,
                  meaning_id=m.meaning_id, meaning_en=m.meaning_en)
        for m in motifs
    ]


def _project_reference(job: GenerationJob, engine, index_of: dict[str, int], progress):
    """Project the reference photo into w; the class it starts from is the classifier's guess
    (when one is active and its guess has a generator class), else the first class."""
    from PIL import Image

    from .runtime import get_model

    with job.reference.open("rb") as handle:
        picture = Image.open(handle).convert("RGB")
    base_class, guessed = 0, None
    classifier = get_model(ModelKind.CLASSIFIER)
    if classifier is not None:
        top_index = classifier.engine.predict([picture])[0].top[0][0]
        guessed = classifier.version.motif_slug(top_index)
        base_class = index_of.get(guessed, 0)
    steps = settings.CUALIFY_PROJECTION_STEPS
    progress("projecting reference", 0.05, force=True)
    ws = engine.project_reference(
        picture, class_index=base_class, steps=steps,
        callback=lambda step, total: progress("projecting reference", 0.05 + 0.35 * step / max(total, 1)),
    )
    return ws, base_class, {"reference": "uploaded image", "closest_motif": guessed}


def generation_job_summary(job: GenerationJob, image_url) -> dict:
    """A job as every machine-facing door answers it (the site's progress polling, the REST API,
    the Flask-compatible service); ``image_url(image)`` makes each result's address."""
    failed = job.status == GenerationJob.Status.FAILED
    return {
        "job_id": str(job.public_id), "status": job.status, "finished": job.is_finished,
        "stage": stage_label(job.stage), "progress": round(job.progress, 3),
        "error": error_message(job.error) if failed else "",
        "mode": job.mode, "seed": job.seed, "count": job.count, "motifs": job.motifs, "prompt": job.prompt,
        "matched": [{"motif": slug, "weight": weight} for slug, weight in job.prompt_match.get("weights", [])],
        "colours": job.prompt_match.get("colours", []),
        "parameters": {"truncation": job.truncation, "distance": job.distance, "refine": job.refine,
                       "refine_strength": job.refine_strength, "tile": job.tile, "upscale": job.upscale},
        "images": [{"index": image.index, "seed": image.seed, "width": image.width, "height": image.height,
                    "url": image_url(image)} for image in job.images.all()],
        "timings": job.timings, "models": job.model_versions,
        "created": job.created.isoformat(), "finished_at": job.finished.isoformat() if job.finished else None,
    }


def job_png(image: GeneratedImage) -> bytes:
    with image.file.open("rb") as handle:
        return handle.read()


def print_export(*, image: GeneratedImage, tile_cm: float, fabric_width_cm: float, fabric_height_cm: float) -> bytes:
    """The tile upscaled to ``tile_cm`` at 300 dpi and repeated over the fabric, as PNG bytes.
    Runs in the web process: Pillow only, bounded by CUALIFY_PRINT_MAX_MEGAPIXELS."""
    from PIL import Image

    from .engines.generator import print_tile

    with image.file.open("rb") as handle:
        tile = Image.open(handle).convert("RGB")
    sheet = print_tile(tile, tile_cm=tile_cm, fabric_width_cm=fabric_width_cm, fabric_height_cm=fabric_height_cm,
                       max_megapixels=settings.CUALIFY_PRINT_MAX_MEGAPIXELS)
    buffer = io.BytesIO()
    sheet.save(buffer, "PNG", dpi=(300, 300))
    return buffer.getvalue()
