"""Classification pages. They validate, store and enqueue; the model runs in the cluster."""
import time

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from accounts.roles import is_curator
from core import intake
from core.imaging import ImageRejected
from core.throttles import rate_limited

from .. import selectors
from ..visitors import record_session_key, viewer_key
from . import services
from .forms import ClassifyForm, CorrectionForm

UNAVAILABLE = services.UNAVAILABLE_MESSAGES
# The steps a classification's timings name, in the order they happen (``worker_s`` overlaps
# the worker's steps and is left out); a step not listed here shows under its own name.
TIMING_LABELS = {
    "upload_s": gettext_lazy("Upload"),
    "validation_s": gettext_lazy("Checking the image"),
    "queue_s": gettext_lazy("Waiting for the model"),
    "preprocess_s": gettext_lazy("Preparing the image"),
    "inference_s": gettext_lazy("Model inference"),
}


@rate_limited("classify")
def classify(request):
    started = time.perf_counter()
    availability = services.classification_availability()
    if request.method != "POST":
        return render(request, "inference/classify.html", {"form": ClassifyForm(), "availability": availability,
                                                          "unavailable_message": UNAVAILABLE.get(availability.reason)})
    form = ClassifyForm(request.POST, request.FILES)  # touching FILES parses the upload
    parsed = time.perf_counter()
    if not availability.available:  # say so at once; nothing is validated or stored
        return render(request, "inference/classify.html", {"form": form, "availability": availability,
                                                          "unavailable_message": UNAVAILABLE[availability.reason]}, status=503)
    if form.is_valid():
        try:
            record = services.classification_submit(
                data=form.cleaned_data["photo"].read(), user=request.user, session_key=record_session_key(request),
                consent_training=form.cleaned_data["consent_training"], timings={"upload_s": parsed - started},
                wait_seconds=settings.CUALIFY_CLASSIFY_WAIT_SECONDS,
            )
            return redirect("classify_result", public_id=record.public_id)
        except ImageRejected as exc:
            form.add_error("photo", forms.ValidationError(intake.rejection_message(exc), code=exc.code))
        except services.ClassificationUnavailable as exc:  # the last worker left a moment ago
            return render(request, "inference/classify.html", {"form": form, "availability": availability,
                                                              "unavailable_message": UNAVAILABLE[str(exc)]}, status=503)
    return render(request, "inference/classify.html", {"form": form, "availability": availability}, status=400)


def _record_or_404(request, public_id):
    record = selectors.classification_for_viewer(public_id=public_id, user=request.user, session_key=viewer_key(request))
    if record is None:
        raise Http404
    return record


def _timings(record) -> list[tuple[str, float]]:
    steps = {k: v for k, v in record.timings.items() if k.endswith("_s") and k != "worker_s"}
    known = [(str(label), steps.pop(key)) for key, label in TIMING_LABELS.items() if key in steps]
    return known + [(key.removesuffix("_s"), seconds) for key, seconds in steps.items()]


def classify_result(request, public_id):
    record = services.classification_for_reading(_record_or_404(request, public_id))
    drafts = is_curator(request.user)  # as on a motif's own page: drafts for curators only
    motifs = selectors.motifs_by_slug((t["slug"] for t in record.top), include_drafts=drafts)
    top = [{**t, "motif": motifs.get(t["slug"]), "percent": round(t["probability"] * 100, 1)} for t in record.top]
    motif = record.motif if record.motif is not None and (drafts or record.motif.is_published) else None
    reason = services.classification_reason(record, motif)
    timings = _timings(record)
    return render(request, "inference/result.html", {
        "record": record, "correction_form": CorrectionForm(), "top": top,
        # The same rule as the machine doors: a motif is named only when recognised.
        "recognised": reason == services.REASON_OK, "motif": motif if reason == services.REASON_OK else None,
        "not_recognised_message": services.NOT_RECOGNISED_MESSAGES.get(reason, ""),
        "failure_message": services.failure_message(record),
        "timings": timings, "total_s": sum(seconds for _label, seconds in timings),
    })


def classify_status(request, public_id):
    record = services.classification_for_reading(_record_or_404(request, public_id))
    return JsonResponse({"status": record.status, "finished": record.is_finished,
                         "saliency": reverse("classify_saliency_image", args=[record.public_id]) if record.saliency else None})


def classify_photo(request, public_id):
    """Uploads are private: served only to their owner and curators, never from /media/."""
    record = _record_or_404(request, public_id)
    return FileResponse(record.image.open("rb"), content_type="image/jpeg" if record.image.name.endswith(".jpg") else "image/png")


def classify_saliency_image(request, public_id):
    record = _record_or_404(request, public_id)
    if not record.saliency:
        raise Http404
    return FileResponse(record.saliency.open("rb"), content_type="image/jpeg")


@require_POST
@rate_limited("saliency")
def classify_saliency(request, public_id):
    record = _record_or_404(request, public_id)
    services.classification_saliency_request(record)
    return redirect(f"{reverse('classify_result', args=[record.public_id])}#saliency")


@require_POST
def classify_correct(request, public_id):
    record = _record_or_404(request, public_id)
    form = CorrectionForm(request.POST)
    if form.is_valid() and form.cleaned_data.get("kind"):
        services.correction_create(record=record, kind=form.cleaned_data["kind"], motif=form.cleaned_data["motif"],
                                   comment=form.cleaned_data["comment"])
        messages.success(request, _("Thank you! A curator will review your correction."))
    else:
        messages.error(request, _("Choose what the cloth really shows."))
    return redirect("classify_result", public_id=record.public_id)
