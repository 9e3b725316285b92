"""What a queue worker runs for a print job: the print files of one result.

The lease is a generation job's (``pipeline.job_claim``, ``Progress``, ``JobStopped``): claimed
with one conditional UPDATE, renewed at every band of rows, stopped as soon as it is cancelled
or taken over; both files are saved and the row marked succeeded in one transaction, and any
failure removes what was saved. The files are composed and compressed one band of rows at a
time (``images.resized_tile_bands``, ``repeat_bands``, ``png_write``) into temporary files, so
the worker holds the source, the fabric's tile and one band, however large the cloth.
"""
from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Iterator

from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.utils import timezone

from core import limits

from ..models import GeneratedImage, PrintJob
from .pipeline import JobStopped, Progress, _delete, _failed_attempt, _json, _refusal_code, job_claim, worker_name
from .services import job_png, print_job_enqueue, print_sizes

def stage_weights(job: PrintJob) -> dict[str, float]:
    """The share of the bar each stage takes (the codes of ``messages.PRINT_STAGES``): the two
    files by their pixels, which is what they cost (bench/print_job.py: 0.06-0.14 s a megapixel
    for either, enlarging and compressing)."""
    tile, fabric = job.tile_px ** 2, job.fabric_width_px * job.fabric_height_px
    share = 0.93 / max(1, tile + fabric)
    return {"loading": 0.02, "print_tile": tile * share, "print_fabric": fabric * share, "saving": 0.05}


ENLARGE_METHOD = "Pillow Lanczos, wrapping around the borders"


def print_run(print_id: int) -> None:
    """The queue task: claim, make both files, save them — or leave the job for another attempt."""
    worker = worker_name()
    job = job_claim(PrintJob, print_id, worker)
    if job is None:
        return
    saved: list[str] = []
    started = time.monotonic()
    progress = Progress(job, worker, weights=stage_weights(job))
    try:
        with tempfile.TemporaryFile() as tile, tempfile.TemporaryFile() as fabric:
            _make_files(job, progress, tile=tile, fabric=fabric)
            progress("saving", force=True)
            with transaction.atomic():
                current = PrintJob.objects.select_for_update().get(pk=job.pk)
                if current.status != PrintJob.Status.RUNNING or current.lease_owner != worker:
                    raise JobStopped(job.pk)
                for field, handle, dpi in ((current.tile, tile, limits.PRINT_DPI),
                                           (current.fabric, fabric, limits.PRINT_FABRIC_DPI)):
                    handle.seek(0)
                    field.save(f"{field.field.name}-{dpi}dpi.png", File(handle), save=False)
                    saved.append(field.name)
                finished = time.monotonic()
                PrintJob.objects.filter(pk=job.pk).update(
                    status=PrintJob.Status.SUCCEEDED, stage="", progress=1.0, finished=timezone.now(),
                    lease_owner="", lease_expires=None, tile=current.tile.name, fabric=current.fabric.name,
                    timings={**progress.timings(finished), "total_s": round(finished - started, 4)},
                )
    except JobStopped:
        _delete(saved)
    except Exception as exc:
        _delete(saved)
        _failed_attempt(job, worker, exc, code=_refusal_code(exc), enqueue=print_job_enqueue)


def sharpened_source(source, text: dict, size: int):
    """(the print source, what drew it for the metadata): an unrefined, un-upscaled result drawn
    again by the active super-resolution refiner when the print needs it larger (in this
    worker, never the web process), so prints are enlarged from detail, not from 64 px; the
    result itself otherwise (a refined one already is; an upscaled one is Lanczos already)."""
    import json

    import numpy as np
    from PIL import Image

    from ..engines.refiner import Upscaler
    from ..models import ModelKind
    from ..runtime import get_model

    try:
        parameters = json.loads(text.get("parameters") or "{}")
    except ValueError:
        parameters = {}
    if parameters.get("refine") or parameters.get("upscale", 1) != 1 or size <= source.width:
        return source, ""
    refiner = get_model(ModelKind.REFINER)
    if refiner is None or not isinstance(refiner.engine, Upscaler):
        return source, ""
    if source.width * refiner.engine.scale > limits.MAX_ENGINE_SIDE:
        return source, ""
    seed = int(text.get("image_seed") or 0) % 2**63
    drawn = refiner.engine.refine(np.asarray(source)[None], strength=limits.GENERATION_DEFAULTS.refine_strength,
                                  seed=seed, tile=bool(parameters.get("tile", True)))
    method = f"diffusion super-resolution x{refiner.engine.scale} ({refiner.version.name}), then "
    return Image.fromarray(drawn[0]), method


def print_source(image: GeneratedImage):
    """(the picture a print enlarges, its PNG's text chunks): the stored result, which is already
    refined when its job asked for refinement (the diffusion refiner works at the generator's
    resolution, before any enlargement; running it again would change the design chosen)."""
    import io

    from PIL import Image

    from .images import read_png_metadata

    data = job_png(image)
    return Image.open(io.BytesIO(data)).convert("RGB"), read_png_metadata(data)


def enlarge(source, size: int) -> tuple[Iterator, str]:
    """(``source`` enlarged to ``size`` x ``size`` px as bands of rows, the method's name for the
    metadata): Lanczos wrapping around the borders, in bands (the super-resolution refiner
    has drawn the source at its own size before, in ``sharpened_source``)."""
    from .images import resized_tile_bands

    max_side = math.isqrt(int(settings.CUALIFY_PRINT_MAX_MEGAPIXELS * 1_000_000))
    return resized_tile_bands(source, size, max_side=max_side), ENLARGE_METHOD


def _make_files(job: PrintJob, progress: Progress, *, tile, fabric) -> None:
    """Write the tile file (300 dpi) to ``tile`` and the fabric file (150 dpi) to ``fabric``, each
    with the result's text chunks (mode, parameters, seed, inputs, model versions), the
    AI-generated markers and XMP (``png_write`` always adds them) and the print's own ``print``."""
    import numpy as np

    from .images import AI_METADATA, XMP_KEY, png_write, repeat_bands

    progress("loading", force=True)
    # The door's rule again: the limits may have been lowered since the job was queued.
    sizes = print_sizes(tile_cm=job.tile_cm, fabric_width_cm=job.fabric_width_cm, fabric_height_cm=job.fabric_height_cm)
    source, text = print_source(job.image)
    source, drawn_by = sharpened_source(source, text, sizes.tile_px)
    kept = {key: value for key, value in text.items() if key not in {"Software", XMP_KEY, *AI_METADATA}}
    asked = {"tile_cm": job.tile_cm, "fabric_width_cm": job.fabric_width_cm, "fabric_height_cm": job.fabric_height_cm,
             "print_job": job.public_id.hex}

    progress("print_tile", force=True)
    bands, method = enlarge(source, sizes.tile_px)
    png_write(tile, (sizes.tile_px,) * 2, _reported(bands, sizes.tile_px, progress, "print_tile"),
              {**kept, "print": _json({**asked, "file": "tile", "dpi": limits.PRINT_DPI, "width_px": sizes.tile_px,
                                       "height_px": sizes.tile_px, "enlarged": drawn_by + method})},
              dpi=limits.PRINT_DPI)

    progress("print_fabric", force=True)
    repeat = np.empty((sizes.fabric_tile_px, sizes.fabric_tile_px, 3), np.uint8)
    bands, method = enlarge(source, sizes.fabric_tile_px)
    top = 0
    for band in bands:
        repeat[top:top + len(band)] = band
        top += len(band)
    width, height = sizes.fabric_width_px, sizes.fabric_height_px
    png_write(fabric, (width, height), _reported(repeat_bands(repeat, width, height), height, progress, "print_fabric"),
              {**kept, "print": _json({**asked, "file": "fabric", "dpi": limits.PRINT_FABRIC_DPI, "width_px": width,
                                       "height_px": height, "tile_px": sizes.fabric_tile_px, "enlarged": drawn_by + method})},
              dpi=limits.PRINT_FABRIC_DPI)


def _reported(bands, rows: int, progress: Progress, stage: str):
    """``bands`` passed on, each one reported (which renews the lease, or stops a cancelled job)."""
    done = 0
    for band in bands:
        yield band
        done += len(band)
        progress(stage, done / rows)
