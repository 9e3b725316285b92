"""What visitors read about generation: the message of each refusal or failure code, and the
worker's stages in the reader's language."""
from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from ..models import GenerationJob

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

