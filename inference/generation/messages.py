"""What visitors read about generation and print jobs: the message of each refusal or failure
code, and the worker's stages in the reader's language. Messages that name a bound take it from
``core.limits``, so the text can never disagree with the rule."""
from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

from core import limits

from ..models import GenerationJob

ERROR_MESSAGES = {
    "no_generator": _("No generator is active. A curator must activate one."),
    "no_worker": _("Generation is unavailable right now: no queue worker is running. Please try again later."),
    "bad_mode": _("Unknown mode: choose fusion, variation or prompt."),
    "bad_count": _("Choose between %(count_low)s and %(count_high)s images."),
    "bad_seed": _("The seed must be a whole number between 0 and %(seed_high)s (image i of a job uses the seed plus i)."),
    "bad_truncation": _("Truncation must be between %(truncation_low)s and %(truncation_high)s."),
    "bad_distance": _("“How different” must be between %(distance_low)s and %(distance_high)s."),
    "bad_refine_strength": _("The refinement strength must be between %(strength_low)s and %(strength_high)s."),
    "bad_range": _("A parameter is outside its allowed range."),
    "bad_upscale": _("The upscale factor must be one of %(upscale_factors)s."),
    "no_refiner": _("Refinement is not available: no refiner is active. Turn it off and try again."),
    "too_large_result": _("The images would be %(result_side)s px a side, more than the %(max_side)s px allowed: "
                          "choose a smaller upscale factor."),
    "motif_not_generatable": _("The generator does not know this motif yet."),
    "too_few_motifs": _("Choose at least %(fusion_low)s motifs for a fusion."),
    "too_many_motifs": _("Choose at most %(fusion_high)s motifs for a fusion."),
    "one_motif": _("Choose one motif, or upload a reference image, for a variation."),
    "bad_weights": _("Each weight must be a number between %(weight_low)s and %(weight_high)s."),
    "empty": _("Describe the motif you want."),
    "too_long": _("The description is too long (%(prompt_max)s characters at most)."),
    "bad_characters": _("The description contains control characters (such as a NUL byte): remove them."),
    "no_match": _("No motif in the archive matches this description. Try one of the closest motifs below, or "
                  "describe a flower, an animal or a pattern of the archive."),
    "too_large": _("That print is too large: a print file may have at most %(print_megapixels)s megapixels at 300 dpi "
                   "(for example %(print_side_cm)s × %(print_side_cm)s cm). Choose a smaller cloth."),
    "duplicate_motif": _("A motif is chosen twice."),
    "source_not_in_motifs": _("“Structure from” and “detail from” must be among the chosen motifs."),
    "bad_image": _("The reference image could not be used."),
    "no_motifs": _("The archive has no motif the generator knows."),
    # The other codes an engine may raise (inference.engines.errors.CODES): a test keeps the two in step.
    "no_classes": _("This generator has no motif classes, so it cannot fuse motifs. A curator must activate another."),
    "bad_base": _("A variation starts from one base: a motif or a reference image, not both."),
    "bad_latent": _("The reference image could not be turned into a starting point for variations."),
    "bad_metadata": _("The image's description could not be written into its PNG file."),
    "bad_png": _("That file is not a readable PNG image."),
    "bad_images": _("The generated images could not be refined."),
    "bad_strength": _("The refinement strength must be above 0 and at most 1."),
    "bad_steps": _("The number of refinement steps is outside its allowed range."),
    "bad_options": _("The refiner cannot work with these options."),
    "no_training_data": _("There are no images to train the refiner on."),
    "bad_snapshot": _("Training cannot resume from this snapshot: it was made with another network shape."),
    "no_model": _("A model file is missing. A curator must check the active models."),
    "bad_model": _("A model file could not be loaded. A curator must check the active models."),
    "bad_device": _("A model was asked to run on a device this worker does not have."),
    "too_large_tile": _("That tile is too large to print: at 300 dpi a tile may be at most %(print_tile_cm)s × "
                        "%(print_tile_cm)s cm (%(print_megapixels)s megapixels). Choose a smaller tile."),
    "too_large_fabric": _("That cloth is too large: the fabric file (150 dpi) may have at most %(fabric_megapixels)s "
                          "megapixels, for example %(fabric_kain_cm)s × %(kain_height_cm)s cm or %(fabric_side_cm)s × "
                          "%(fabric_side_cm)s cm. Choose a smaller cloth."),
    "bad_print_size": _("The tile must be %(print_tile_low)s–%(print_tile_high)s cm and the fabric "
                        "%(fabric_low)s–%(fabric_high)s cm on each side."),
    "no_print_worker": _("Print files cannot be made right now: no queue worker is running. Please try again later."),
    "lost": _("The job was lost by its worker too many times."),
    "failed": _("Something went wrong while generating. Nothing was lost: please try again."),
}


# The worker's stages, as stable codes (what the REST API answers in ``stage``), in the order a
# job meets them, with what a reader sees.
STAGE_LABELS = {
    "loading": _("Loading the models"),
    "encoding_prompt": _("Reading your description"),
    "projecting": _("Fitting your reference image"),
    "drawing": _("Drawing the motifs"),
    "refining": _("Refining"),
    "saving": _("Saving"),
    "print_tile": _("Making the tile (300 dpi)"),
    "print_fabric": _("Making the fabric file (150 dpi)"),
}
# A generation job's stages, and a print job's, in order (``pipeline.STAGE_WEIGHTS`` and
# ``print_pipeline.stage_weights``).
STAGES = ("loading", "encoding_prompt", "projecting", "drawing", "refining", "saving")
PRINT_STAGES = ("loading", "print_tile", "print_fabric", "saving")
TOTAL_LABEL = _("total")

# What workers stored before the stages had codes (a running job's ``stage`` and the keys of
# ``timings``, such as "loading models_s"): read as today's codes.
LEGACY_STAGES = {
    "starting": "loading",
    "loading models": "loading",
    "encoding prompt": "encoding_prompt",
    "projecting reference": "projecting",
    "synthesis": "drawing",
    "refinement": "refining",
}


def stage_parts(stored: str) -> tuple[str, str]:
    """A stored stage ("refining 3/10", or an old "refinement 3/10") as (code, step); ("", "")
    when there is none or it is unknown."""
    stored = stored.strip()
    for name in sorted({*STAGE_LABELS, *LEGACY_STAGES}, key=len, reverse=True):
        if stored == name or stored.startswith(name + " "):
            return LEGACY_STAGES.get(name, name), stored[len(name):].strip()
    return "", ""


def stage_label(stored: str) -> str:
    """A worker's stage ("refining 3/10") in the reader's language ("Refining 3/10")."""
    code, step = stage_parts(stored)
    if not code:
        return ""
    return f"{STAGE_LABELS[code]} {step}".strip()


def timing_key(key: str) -> str:
    """A timing key as snake_case with a stage code: old records' "loading models_s" is
    "loading_s", "synthesis_s" is "drawing_s"."""
    name = key[:-2] if key.endswith("_s") else key
    code, _step = stage_parts(name)
    return f"{code or name.strip().replace(' ', '_')}_s"


def job_timings(job: GenerationJob) -> dict[str, float]:
    """The job's timings (seconds per stage, then ``total_s``) with today's keys, whatever
    version of the worker wrote them."""
    timings: dict[str, float] = {}
    for key, seconds in job.timings.items():
        if key.endswith("_s"):
            new = timing_key(key)
            timings[new] = round(timings.get(new, 0.0) + seconds, 4)
    return timings


def timing_rows(job: GenerationJob) -> list[tuple[str, float]]:
    labels = {f"{code}_s": label for code, label in STAGE_LABELS.items()} | {"total_s": TOTAL_LABEL}
    return [(str(labels.get(key, key[:-2])), seconds) for key, seconds in job_timings(job).items()]


@dataclass(frozen=True)
class JobProgress:
    """Where a job stands, for every door: the bar's fraction, the stage code while it runs, and
    the one text shown beside the bar. A job waiting in the queue is at 0 whatever an earlier
    attempt reached, a succeeded job at 1, so the text and the bar never disagree."""

    fraction: float
    stage: str          # a code of STAGES while running, else ""
    stage_label: str    # the stage in the reader's language while running, else ""
    label: str          # what the page shows beside the bar: the stage, else the status

    @property
    def percent(self) -> int:
        return round(self.fraction * 100)


def job_progress(job: GenerationJob) -> JobProgress:
    running = job.status == GenerationJob.Status.RUNNING
    stage = stage_parts(job.stage)[0] if running else ""
    if job.status == GenerationJob.Status.QUEUED:
        fraction = 0.0
    elif job.status == GenerationJob.Status.SUCCEEDED:
        fraction = 1.0
    else:
        fraction = max(0.0, min(1.0, job.progress))
    label = stage_label(job.stage) if stage else ""
    return JobProgress(fraction=round(fraction, 3), stage=stage, stage_label=label,
                       label=label or str(job.get_status_display()))


def limit_values(*, count: int | None = None, print_megapixels: float | None = None,
                 result_side: int | None = None) -> dict:
    """The bounds the messages name (``count``: the job's, for the seed range)."""
    from django.conf import settings

    megapixels = print_megapixels if print_megapixels is not None else settings.CUALIFY_PRINT_MAX_MEGAPIXELS
    fabric = settings.CUALIFY_PRINT_FABRIC_MAX_MEGAPIXELS
    return {
        "count_low": int(limits.COUNT.low), "count_high": int(limits.COUNT.high),
        "seed_high": int(limits.seed_bound(count or 1).high),
        "truncation_low": f"{limits.TRUNCATION.low:g}", "truncation_high": f"{limits.TRUNCATION.high:g}",
        "distance_low": f"{limits.DISTANCE.low:g}", "distance_high": f"{limits.DISTANCE.high:g}",
        "strength_low": f"{limits.REFINE_STRENGTH.low:g}", "strength_high": f"{limits.REFINE_STRENGTH.high:g}",
        "weight_low": f"{limits.WEIGHT.low:g}", "weight_high": f"{limits.WEIGHT.high:g}",
        "fusion_low": int(limits.FUSION_MOTIFS.low), "fusion_high": int(limits.FUSION_MOTIFS.high),
        "upscale_factors": ", ".join(f"×{factor}" for factor in limits.UPSCALE_FACTORS),
        "prompt_max": limits.PROMPT_MAX_CHARS,
        "max_side": limits.MAX_ENGINE_SIDE, "result_side": result_side or 0,
        "print_megapixels": f"{megapixels:g}", "print_side_cm": f"{limits.print_max_square_cm(megapixels):g}",
        "print_tile_cm": f"{min(limits.PRINT_TILE_CM.high, limits.print_max_square_cm(megapixels)):g}",
        "print_tile_low": f"{limits.PRINT_TILE_CM.low:g}", "print_tile_high": f"{limits.PRINT_TILE_CM.high:g}",
        "fabric_low": f"{limits.PRINT_FABRIC_CM.low:g}", "fabric_high": f"{limits.PRINT_FABRIC_CM.high:g}",
        "fabric_megapixels": f"{fabric:g}",
        "fabric_side_cm": f"{limits.print_max_square_cm(fabric, limits.PRINT_FABRIC_DPI):g}",
        "fabric_kain_cm": f"{limits.print_max_width_cm(fabric, limits.PRINT_KAIN_HEIGHT_CM, limits.PRINT_FABRIC_DPI):g}",
        "kain_height_cm": f"{limits.PRINT_KAIN_HEIGHT_CM:g}",
    }


# The canonical colour names of inference.engines.prompt.COLOURS, for people (a test keeps them in step).
COLOUR_LABELS = {
    "red": _("red"), "maroon": _("maroon"), "orange": _("orange"), "yellow": _("yellow"), "gold": _("gold"),
    "brown": _("brown"), "cream": _("cream"), "green": _("green"), "teal": _("teal"), "blue": _("blue"),
    "navy": _("navy"), "purple": _("purple"), "pink": _("pink"), "black": _("black"), "grey": _("grey"),
    "white": _("white"),
}


def colour_labels(names) -> list[str]:
    """The colours a prompt named, in the reader's language."""
    return [str(COLOUR_LABELS.get(name, name)) for name in names]


def error_message(code: str, **context) -> str:
    """The message of ``code`` in the active language; ``context`` as for ``limit_values``."""
    return str(ERROR_MESSAGES.get(code, ERROR_MESSAGES["failed"])) % limit_values(**context)

