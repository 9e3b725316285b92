"""What a queue worker runs for a generation job.

A worker claims a job with one conditional UPDATE (queued, or running with a lease that ran
out) and renews the lease at every progress step. A step that finds the lease gone (cancelled,
or claimed by another worker after this one stalled) stops at once. Results are written in one
transaction at the end; any failure removes the files it had written, so nothing is left
half-done. Print jobs (``print_pipeline``) use the same lease: ``job_claim``, ``Progress``,
``JobStopped``, ``_failed_attempt`` and ``_delete`` take either kind of job.
"""
from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass, field
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

class JobStopped(Exception):
    """The job was cancelled or claimed by another worker: stop without writing results."""



# --- what a queue worker runs ----------------------------------------------------------------


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def generation_job_claim(job_id: int, worker: str) -> GenerationJob | None:
    """Atomically take a queued job, or a running one whose lease ran out; None if someone else
    holds it, it is finished, or it is out of attempts."""
    return job_claim(GenerationJob, job_id, worker)


def job_claim(model, job_id: int, worker: str):
    """``generation_job_claim`` for any job model with the lease's fields (a print job too)."""
    now = timezone.now()
    claimable = Q(status=model.Status.QUEUED) | Q(status=model.Status.RUNNING, lease_expires__lt=now)
    claimed = model.objects.filter(claimable, pk=job_id, attempts__lt=settings.CUALIFY_GENERATION_MAX_ATTEMPTS).update(
        status=model.Status.RUNNING, lease_owner=worker, attempts=F("attempts") + 1,
        lease_expires=now + timedelta(seconds=settings.CUALIFY_GENERATION_LEASE_SECONDS),
        started=now, stage="loading", progress=0.0, error="",
    )
    return model.objects.get(pk=job_id) if claimed else None


# The share of the progress bar each stage takes, in the order a job meets them. A job runs only
# the stages its mode and options need (``stages_of``); the bar is scaled to those, so it moves
# evenly whatever the job, and changing a stage's share is one number here.
# The names are the stable stage codes of ``messages.STAGES`` (what the API answers), and the
# timings are stored under "<code>_s".
STAGE_WEIGHTS = {
    "loading": 0.03,
    "encoding_prompt": 0.04,
    "projecting": 0.35,
    "drawing": 0.40,
    "refining": 0.40,
    "saving": 0.10,
}


def stages_of(job: GenerationJob) -> list[str]:
    """The stages ``job`` goes through, in order."""
    stages = ["loading"]
    if job.mode == GenerationJob.Mode.PROMPT:
        stages.append("encoding_prompt")
    if job.mode == GenerationJob.Mode.VARIATION and job.reference:
        stages.append("projecting")
    stages.append("drawing")
    if job.refine:
        stages.append("refining")
    return stages + ["saving"]


class Progress:
    """Writes stage and progress (at most every ``interval`` seconds unless the stage changes),
    renewing the lease; raises JobStopped when the job is no longer this worker's.

    ``progress(stage, within)``: ``within`` is how far the stage itself is (0–1); the job's
    fraction comes from STAGE_WEIGHTS over the job's own stages. ``label`` is what the job page
    shows when it is more than the stage's code ("refining 3/10")."""

    def __init__(self, job, worker: str, interval: float = 0.3, *, weights: dict[str, float] | None = None):
        # ``weights``: another kind of job's stages and shares (a print job's); a generation
        # job's are the stages it runs, with STAGE_WEIGHTS.
        self.job, self.worker, self.interval = job, worker, interval
        self.shown, self.written = "", 0.0
        self.stage_started: dict[str, float] = {}
        weights = weights or {stage: STAGE_WEIGHTS[stage] for stage in stages_of(job)}
        total = sum(weights.values())
        self.start_of, done = {}, 0.0
        for stage, weight in weights.items():
            self.start_of[stage] = done / total
            done += weight
        self.share = {stage: weight / total for stage, weight in weights.items()}

    def fraction(self, stage: str, within: float) -> float:
        return self.start_of[stage] + self.share[stage] * max(0.0, min(1.0, within))

    def __call__(self, stage: str, within: float = 0.0, *, label: str = "", force: bool = False) -> None:
        now = time.monotonic()
        self.stage_started.setdefault(stage, now)
        shown = label or stage
        if not force and shown == self.shown and now - self.written < self.interval:
            return
        self.shown, self.written = shown, now
        model = type(self.job)
        renewed = model.objects.filter(
            pk=self.job.pk, status=model.Status.RUNNING, lease_owner=self.worker
        ).update(stage=shown[:60], progress=self.fraction(stage, within),
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
        progress("saving", 0.9, force=True)
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
    from ..engines.errors import EngineError

    return exc.code if isinstance(exc, (GenerationRejected, EngineError)) else ""


def _failed_attempt(job, worker: str, exc: Exception, code: str, enqueue=generation_job_enqueue) -> None:
    """A refusal (``code``) fails at once; anything else is tried again (``enqueue``) until the
    attempts run out. For a generation job or a print job."""
    model = type(job)
    logger.exception("%s %s failed (attempt %s)", model.__name__, job.pk, job.attempts)
    error = code or f"{type(exc).__name__}: {exc}"[:2000]
    mine = model.objects.filter(pk=job.pk, status=model.Status.RUNNING, lease_owner=worker)
    if code or job.attempts >= settings.CUALIFY_GENERATION_MAX_ATTEMPTS:
        mine.update(status=model.Status.FAILED, error=error, finished=timezone.now(), lease_owner="", lease_expires=None)
    elif mine.update(status=model.Status.QUEUED, error=error, lease_owner="", lease_expires=None, stage="", progress=0.0):
        enqueue(job)


def _delete(names: list[str]) -> None:
    from django.core.files.storage import default_storage

    for name in names:
        try:
            default_storage.delete(name)
        except OSError:
            logger.warning("could not remove %s", name)


@dataclass
class _Run:
    """What one job's stages hand on to the next."""

    job: GenerationJob
    progress: Progress
    engine: object = None
    index_of: dict = field(default_factory=dict)        # motif slug -> generator class
    versions: dict = field(default_factory=dict)        # what made it, for the record and the PNGs
    inputs: dict = field(default_factory=dict)
    classes: list = field(default_factory=list)         # (class index, weight) to synthesise
    colours: tuple = ()
    ws: object = None                                   # a projected reference
    base_class: int = 0
    seeds: list = field(default_factory=list)
    images: list = field(default_factory=list)          # uint8 RGB arrays

    def class_index(self, slug: str) -> int:
        if slug not in self.index_of:
            raise GenerationRejected("motif_not_generatable", slug)
        return self.index_of[slug]

    def synthesis_progress(self, stage, done, total):
        self.progress("drawing", done / max(total, 1))


def _generate(job: GenerationJob, worker: str):
    """The job's stages, in order: each one a function below."""
    started = time.monotonic()
    run = _Run(job=job, progress=Progress(job, worker))
    _load_models(run)
    if job.mode == GenerationJob.Mode.PROMPT:
        _encode_prompt(run)
    elif job.mode == GenerationJob.Mode.FUSION:
        run.classes = [(run.class_index(item["slug"]), item["weight"]) for item in job.motifs]
        run.inputs = {"motifs": {item["slug"]: item["weight"] for item in job.motifs},
                      "structure_from": job.structure_from, "detail_from": job.detail_from}
    elif job.reference:
        _project_reference(run)
    else:
        run.classes = [(run.class_index(job.motifs[0]["slug"]), 1.0)]
        run.inputs = {"motif": job.motifs[0]["slug"]}
    _synthesise(run)
    if job.refine:
        _refine(run)
    return _encode_outputs(run), run.versions, run.progress, started


def _load_models(run: _Run) -> None:
    from ..runtime import get_model

    run.progress("loading", force=True)
    loaded = get_model(ModelKind.GENERATOR)
    if loaded is None:
        raise GenerationRejected("no_generator")
    run.engine, version = loaded.engine, loaded.version
    run.versions["generator"] = {"id": version.pk, "name": version.name, "sha256": version.sha256[:12]}
    run.index_of = {slug: version.class_names.index(name) for name, slug in version.class_map.items() if slug}


def _encode_prompt(run: _Run) -> None:
    from ..runtime import get_prompt_encoder

    job = run.job
    run.progress("encoding_prompt", force=True)
    encoder = get_prompt_encoder()
    match = encoder.match(job.prompt, _motif_texts(run.index_of))
    run.colours = match.colours
    job.prompt_match = {"normalised": match.normalised, "similarities": [list(s) for s in match.similarities],
                        "colours": list(run.colours), "off_topic": match.off_topic,
                        "calibration": match.calibration.as_dict() if match.calibration else None,
                        "weights": [] if match.off_topic else [list(w) for w in match.weights]}
    GenerationJob.objects.filter(pk=job.pk).update(prompt_match=job.prompt_match)
    if match.off_topic or not match.weights:
        # Nothing is drawn from a description the archive has no motif for; the closest motifs
        # are kept above and offered as suggestions (generation.services.prompt_suggestions).
        raise GenerationRejected("no_match")
    run.versions["text_encoder"] = {"name": encoder.name}
    run.classes = [(run.class_index(slug), weight) for slug, weight in match.weights]
    run.inputs = {"prompt": job.prompt, "matched": {slug: round(w, 3) for slug, w in match.weights}}


def _project_reference(run: _Run) -> None:
    """Project the reference photo into w; the class it starts from is the classifier's guess
    (when one is active and its guess has a generator class), else the first class."""
    from PIL import Image

    from ..runtime import get_model, get_neutral_features

    job = run.job
    run.progress("projecting", force=True)
    with job.reference.open("rb") as handle:
        picture = Image.open(handle).convert("RGB")
    guessed = None
    classifier = get_model(ModelKind.CLASSIFIER)
    if classifier is not None:
        top_index = classifier.engine.predict([picture])[0].top[0][0]
        guessed = classifier.version.motif_slug(top_index)
        run.base_class = run.index_of.get(guessed, 0)
    # With a perceptual loss in the neutral ImageNet space besides the pixel losses: the projected
    # motif is recognised more often (bench/projection.py).
    run.ws = run.engine.project_reference(
        picture, class_index=run.base_class, steps=settings.CUALIFY_PROJECTION_STEPS,
        feature_fn=get_neutral_features().perceptual,
        callback=lambda step, total: run.progress("projecting", step / max(total, 1)),
    )
    # ``started_from``: the motif whose class the projection started from, which the job page names.
    started_from = next((slug for slug, index in run.index_of.items() if index == run.base_class), None)
    run.inputs = {"reference": "uploaded image", "closest_motif": guessed, "started_from": started_from}


def _synthesise(run: _Run) -> None:
    """One variation (a single class, or a projected reference) or a fusion (several classes)."""
    job = run.job
    run.progress("drawing", force=True)
    common = {"seed": job.seed, "count": job.count, "truncation": job.truncation, "tile": job.tile,
              "progress": run.synthesis_progress}
    if run.ws is not None:
        result = run.engine.variation(ws=run.ws, class_index=run.base_class, distance=job.distance, **common)
    elif len(run.classes) == 1 and job.mode != GenerationJob.Mode.FUSION:
        result = run.engine.variation(class_index=run.classes[0][0], distance=job.distance, **common)
    else:
        result = run.engine.fusion(
            classes=run.classes, **common,
            structure_from=run.class_index(job.structure_from) if job.structure_from else None,
            detail_from=run.class_index(job.detail_from) if job.detail_from else None,
        )
    run.seeds = list(result.seeds)
    run.images = [_as_array(image) for image in result.images]


def _refine(run: _Run) -> None:
    import numpy as np

    from ..engines.refiner import denoising_steps
    from ..runtime import get_model

    job = run.job
    refiner = get_model(ModelKind.REFINER)
    if refiner is None:
        raise GenerationRejected("no_refiner")
    run.versions["refiner"] = {"id": refiner.version.pk, "name": refiner.version.name, "sha256": refiner.version.sha256[:12]}
    steps = refiner.engine.schedule_steps(job.refine_strength)
    run.progress("refining", label=f"refining 0/{denoising_steps(steps, job.refine_strength)}", force=True)
    # The super-resolution refiner gives images ``scale`` times larger; the upscale factor then
    # enlarges those (Lanczos), so refined motifs come out at the generator's size x scale x upscale.
    refined = refiner.engine.refine(
        np.stack(run.images), strength=job.refine_strength, steps=steps, seed=job.seed, tile=job.tile,
        callback=lambda i, n: run.progress("refining", i / max(n, 1), label=f"refining {i}/{n}", force=True),
    )
    run.images = list(refined)


def _encode_outputs(run: _Run) -> list[tuple]:
    """The palette of a prompt's colours, the upscale, and each PNG with its parameters embedded."""
    from PIL import Image

    from .images import png_bytes, upscale

    job = run.job
    images = run.images
    if run.colours:
        from ..engines.prompt import shift_palette

        images = [shift_palette(image, run.colours[0]) for image in images]
    parameters = {
        "mode": job.mode, "seed": job.seed, "count": job.count, "truncation": job.truncation, "distance": job.distance,
        "refine": job.refine, "refine_strength": job.refine_strength if job.refine else None, "tile": job.tile,
        "upscale": job.upscale, "colours": list(run.colours),
    }
    outputs = []
    for index, (seed, array) in enumerate(zip(run.seeds, images)):
        run.progress("saving", 0.9 * index / len(images))
        picture, method = upscale(Image.fromarray(array), job.upscale, tile=job.tile)
        metadata = {
            "job": job.public_id.hex, "image_seed": str(seed), "upscale_method": method,
            "parameters": _json(parameters), "inputs": _json(run.inputs), "models": _json(run.versions),
        }
        outputs.append((seed, png_bytes(picture, metadata), picture.width, picture.height, metadata))
    return outputs


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
