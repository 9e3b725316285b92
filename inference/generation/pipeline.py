"""What a queue worker runs for a generation job.

A worker claims a job with one conditional UPDATE (queued, or running with a lease that ran
out) and renews the lease at every progress step. A step that finds the lease gone (cancelled,
or claimed by another worker after this one stalled) stops at once. Results are written in one
transaction at the end; any failure removes the files it had written, so nothing is left
half-done.
"""
from __future__ import annotations

import logging
import os
import re
import socket
import time
from datetime import timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from motifs.models import Motif

from ..models import GeneratedImage, GenerationJob, ModelKind
from .services import GenerationRejected, generation_job_enqueue

logger = logging.getLogger(__name__)

REFINE_STEPS = 10  # denoising steps of a refinement, whatever its strength


def refine_schedule_steps(strength: float) -> int:
    """DDIM steps over the whole noise range such that refining from ``strength`` takes
    REFINE_STEPS denoising steps (SDEdit starts part-way down the schedule)."""
    return max(REFINE_STEPS, round(REFINE_STEPS / strength))


class JobStopped(Exception):
    """The job was cancelled or claimed by another worker: stop without writing results."""



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
    from ..engines.generator import GenerationError
    from ..engines.prompt import PromptError
    from ..engines.refiner import RefinerError

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
    from ..runtime import get_model, get_prompt_encoder

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
        from ..engines.prompt import shift_palette

        images = [shift_palette(image, colours[0]) for image in images]

    from ..engines.generator import png_bytes, upscale

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
    from ..engines.prompt import MotifText

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

    from ..runtime import get_model

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

