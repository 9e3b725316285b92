"""Generation pages: the form (motif thumbnails, three modes), the job page with its progress
bar, results (download, 3×3 repeat, print on fabric, re-run, use as reference, classify,
promote), print jobs (progress, cancel, files) and the visitor's history. Nothing here imports
torch or composes a print file: the work is in the cluster."""
import io
import uuid

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.roles import is_curator
from core import intake
from core.limits import GENERATION_DEFAULTS as DEFAULTS
from core.imaging import ImageRejected
from core.throttles import rate_limit_response, rate_limited

from .. import health, selectors
from ..classification import services
from . import messages as generation_messages
from . import services as generation
from .forms import GenerateForm, PrintForm, PromoteForm
from ..models import GeneratedImage, GenerationJob, ModelKind, ModelVersion, PrintJob
from ..visitors import record_session_key, viewer_key

UNAVAILABLE = {
    "no_generator": generation_messages.ERROR_MESSAGES["no_generator"],
    "no_worker": generation_messages.ERROR_MESSAGES["no_worker"],
}
PREFILL = ("mode", "seed", "count", "truncation", "distance", "refine", "refine_strength", "tile", "upscale",
           "prompt", "structure_from", "detail_from")


def _refine_options() -> dict:
    """Whether the refine box starts ticked (the active refiner's measurement says it helps) and,
    for a super-resolution refiner, the side it draws the active generator's motifs at."""
    refiner = ModelVersion.objects.filter(kind=ModelKind.REFINER, is_active=True).only("metrics").first()
    if refiner is None:
        return {"refine_default": False}
    generator = generation.active_generator()
    side = generation.result_side(generator, refiner, 1) if generator is not None else 0
    scaled = int((refiner.metrics or {}).get("scale") or 1) > 1
    return {"refine_default": bool(refiner.metrics.get("default_on")), "refine_side": side if scaled and side else None}


def _form(request, data=None, files=None, initial=None):
    return GenerateForm(data, files, initial=initial, motifs=generation.generatable_motifs(), **_refine_options())


def _rerun_initial(request) -> dict:
    """``?from=<job>&seed=<n>`` fills the form with that job's parameters (re-run with a seed)."""
    try:
        source = uuid.UUID(request.GET.get("from", ""))
    except ValueError:  # absent or not a job id: an empty form
        return {}
    job = selectors.generation_job_for_viewer(public_id=source, user=request.user, session_key=viewer_key(request))
    if job is None:
        return {}
    initial = {name: getattr(job, name) for name in PREFILL}
    initial["motifs"] = job.motif_slugs
    for item in job.motifs:
        initial[f"weight_{item['slug']}"] = item["weight"]
    if request.GET.get("seed", "").isdigit():
        initial["seed"], initial["count"] = int(request.GET["seed"]), 1
    return initial


@rate_limited("generate")
def generate(request):
    availability = health.model_availability(ModelKind.GENERATOR)
    context = {"availability": availability, "unavailable_message": UNAVAILABLE.get(availability.reason)}
    if request.method != "POST":
        initial = _rerun_initial(request)
        if request.GET.get("motif"):
            initial.update(mode=GenerationJob.Mode.VARIATION, motifs=[request.GET["motif"]])
        return render(request, "inference/generate.html", {**context, "form": _form(request, initial=initial)})
    form = _form(request, request.POST, request.FILES)
    if not availability.available:
        return render(request, "inference/generate.html", {**context, "form": form}, status=503)
    if not form.is_valid():
        return render(request, "inference/generate.html", {**context, "form": form}, status=400)
    job = generation.generation_job_create(request=form.request, user=request.user, session_key=record_session_key(request))
    return redirect("generate_job", public_id=job.public_id)


def _job_or_404(request, public_id) -> GenerationJob:
    job = selectors.generation_job_for_viewer(public_id=public_id, user=request.user, session_key=viewer_key(request))
    if job is None:
        raise Http404
    return job


def _image_or_404(request, public_id, index) -> GeneratedImage:
    job = _job_or_404(request, public_id)
    image = next((image for image in job.images.all() if image.index == index), None)
    if image is None:
        raise Http404
    return image


def job_status_data(job: GenerationJob) -> dict:
    """The job as JSON for the page's progress bar: the API's shape plus ``label`` and
    ``percent``, from the same ``job_progress`` as the page itself."""
    progress = generation_messages.job_progress(job)
    summary = generation.generation_job_summary(job, lambda image: reverse("generate_image", args=[job.public_id, image.index]))
    return {**summary, "label": progress.label, "percent": progress.percent}


def _started_from(images) -> str:
    """The motif a reference job's projection started from, as its worker recorded it in the
    PNGs' inputs (so it is known once the job has results)."""
    import json

    if not images:
        return ""
    try:
        return json.loads(images[0].metadata.get("inputs", "{}")).get("started_from") or ""
    except (TypeError, ValueError, AttributeError):  # a PNG from before the worker recorded it
        return ""


def job_page(request, public_id):
    job = _job_or_404(request, public_id)
    images = list(job.images.all())
    started_from = _started_from(images) if job.reference else ""
    motifs = selectors.motifs_by_slug(job.motif_slugs + [s for s, _ in job.prompt_match.get("weights", [])]
                                      + ([started_from] if started_from else []))
    matched = [{"motif": motifs.get(slug), "slug": slug, "percent": round(weight * 100, 1)}
               for slug, weight in job.prompt_match.get("weights", [])]
    return render(request, "inference/job.html", {
        "job": job, "images": images, "matched": matched, "progress": generation_messages.job_progress(job),
        "started_from": {"motif": motifs.get(started_from), "slug": started_from} if started_from else None,
        "chosen": [{"motif": motifs.get(item["slug"]), **item} for item in job.motifs],
        "error_message": generation_messages.error_message(job.error) if job.status == GenerationJob.Status.FAILED else "",
        "suggestions": generation.prompt_suggestions(job) if job.status == GenerationJob.Status.FAILED else [],
        "colours": generation_messages.colour_labels(job.prompt_match.get("colours", [])),
        "print_form": PrintForm(), "promote_form": PromoteForm() if is_curator(request.user) else None,
        "timings": generation_messages.timing_rows(job),
    })


def job_status(request, public_id):
    return JsonResponse(job_status_data(_job_or_404(request, public_id)))


@require_POST
def job_cancel(request, public_id):
    return _cancel(request, _job_or_404(request, public_id), _("The job was cancelled."), "generate_job")


def _cancel(request, job, message: str, page: str):
    """Cancel a generation or print job of the visitor's and go back to its page."""
    if generation.job_cancel(job=job):
        messages.info(request, message)
    return redirect(page, public_id=job.public_id)


def reference_file(request, public_id):
    """A job's uploaded reference image: private like its results (owner and curators only)."""
    job = _job_or_404(request, public_id)
    if not job.reference:
        raise Http404
    with job.reference.open("rb") as handle:
        data = handle.read()
    extension = job.reference.name.rsplit(".", 1)[-1].lower()
    content_type = {"jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp"}.get(extension, "image/png")
    return HttpResponse(data, content_type=content_type)


def image_file(request, public_id, index):
    """Results are private like uploads: their owner and curators only."""
    image = _image_or_404(request, public_id, index)
    response = HttpResponse(generation.job_png(image), content_type="image/png")
    if request.GET.get("download"):
        response["Content-Disposition"] = f'attachment; filename="cualify-{public_id.hex[:8]}-seed{image.seed}.png"'
    return response


def image_repeat(request, public_id, index):
    from PIL import Image

    from .images import repeat_preview

    image = _image_or_404(request, public_id, index)
    tile = Image.open(io.BytesIO(generation.job_png(image))).convert("RGB")
    buffer = io.BytesIO()
    repeat_preview(tile, 3).save(buffer, "PNG")
    return HttpResponse(buffer.getvalue(), content_type="image/png")


def image_print(request, public_id, index):
    """"Print on fabric": the form, with its limits said before anyone asks (GET), then a print
    job that a worker makes (POST). The web process composes no print file."""
    image = _image_or_404(request, public_id, index)
    if request.method != "POST":
        return _print_form(request, image, PrintForm())
    form = PrintForm(request.POST)
    if not form.is_valid():
        return _print_form(request, image, form, status=400)
    refused = rate_limit_response(request, "print")  # the form is cheap, each print job is not
    if refused is not None:
        return refused
    try:
        job = generation.print_job_create(image=image, **form.cleaned_data)
    except generation.GenerationRejected as exc:
        form.add_error(None, exc.message)
        return _print_form(request, image, form, status=503 if exc.code == "no_print_worker" else 400)
    return redirect("generate_print", public_id=job.public_id)


def _print_form(request, image, form, status=200):
    return render(request, "inference/print.html", {"image": image, "form": form,
                                                    "prints": selectors.prints_of_image(image)}, status=status)


def _print_or_404(request, public_id) -> PrintJob:
    job = selectors.print_job_for_viewer(public_id=public_id, user=request.user, session_key=viewer_key(request))
    if job is None:
        raise Http404
    return job


def print_status_data(job: PrintJob) -> dict:
    """The print job as JSON for its page's progress bar (the shape ``job.js`` reads)."""
    progress = generation_messages.job_progress(job)
    summary = generation.print_job_summary(job, lambda job, which: reverse("generate_print_file", args=[job.public_id, which]))
    return {**summary, "label": progress.label, "percent": progress.percent}


def print_page(request, public_id):
    job = _print_or_404(request, public_id)
    return render(request, "inference/print_job.html", {
        "job": job, "image": job.image, "progress": generation_messages.job_progress(job),
        "files": print_status_data(job)["files"], "timings": generation_messages.timing_rows(job),
        "error_message": generation_messages.error_message(job.error) if job.status == PrintJob.Status.FAILED else "",
    })


def print_status(request, public_id):
    return JsonResponse(print_status_data(_print_or_404(request, public_id)))


@require_POST
def print_cancel(request, public_id):
    return _cancel(request, _print_or_404(request, public_id), _("The print job was cancelled."), "generate_print")


def print_file(request, public_id, which):
    """A print file, private like the result it was made from; streamed (it may be 100 MB)."""
    job = _print_or_404(request, public_id)
    if which not in generation.PRINT_FILES or job.status != PrintJob.Status.SUCCEEDED or not getattr(job, which):
        raise Http404
    return FileResponse(getattr(job, which).open("rb"), content_type="image/png",
                        as_attachment=True, filename=generation.print_file_name(job, which))


@require_POST
@rate_limited("classify")
def image_classify(request, public_id, index):
    """"Classify this": the result goes through the same classification door as a photo."""
    image = _image_or_404(request, public_id, index)
    try:
        record = services.classification_submit(data=generation.job_png(image), user=request.user,
                                                session_key=record_session_key(request),
                                                wait_seconds=settings.CUALIFY_CLASSIFY_WAIT_SECONDS)
    except services.ClassificationUnavailable as exc:
        messages.error(request, services.UNAVAILABLE_MESSAGES[str(exc)])
        return redirect("generate_job", public_id=public_id)
    except ImageRejected as exc:  # cannot happen for our own PNGs, but never a 500
        messages.error(request, intake.rejection_message(exc))
        return redirect("generate_job", public_id=public_id)
    return redirect("classify_result", public_id=record.public_id)


@require_POST
@rate_limited("generate")
def image_as_reference(request, public_id, index):
    """"Use as reference": a variation of this result, projected like an uploaded photo."""
    image = _image_or_404(request, public_id, index)
    job = image.job
    request_ = generation.generation_request(
        mode=GenerationJob.Mode.VARIATION, reference=intake.image_normalize(generation.job_png(image)),
        truncation=job.truncation, distance=DEFAULTS.reference_distance, tile=job.tile,
    )
    try:
        new_job = generation.generation_job_create(request=request_, user=request.user, session_key=record_session_key(request))
    except generation.GenerationRejected as exc:
        messages.error(request, exc.message)
        return redirect("generate_job", public_id=public_id)
    return redirect("generate_job", public_id=new_job.public_id)


@require_POST
def image_promote(request, public_id, index):
    if not is_curator(request.user):  # staff outside the Curator group are no curators
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), reverse("admin:login"))
        raise PermissionDenied
    image = _image_or_404(request, public_id, index)
    form = PromoteForm(request.POST)
    if form.is_valid():
        archived = generation.generated_image_promote(image=image, motif=form.cleaned_data["motif"], curator=request.user)
        messages.success(request, _("Added to the archive as image #%(id)s of %(motif)s (AI-generated design).")
                         % {"id": archived.pk, "motif": archived.motif.name})
    else:
        messages.error(request, _("Choose the motif to archive it under."))
    return redirect("generate_job", public_id=public_id)


def history(request):
    """The visitor's own jobs (curators: everyone's), newest first, filtered by mode."""
    everyone = is_curator(request.user)
    mode = request.GET.get("mode", "")
    mode = mode if mode in GenerationJob.Mode.values else ""
    jobs = selectors.generation_history(user=request.user, session_key=viewer_key(request), mode=mode)
    page = Paginator(jobs, 12).get_page(request.GET.get("page"))
    motifs = selectors.motifs_by_slug(sorted({slug for job in page.object_list for slug in job.motif_slugs}))
    entries = [{"job": job, "motifs": [{"motif": motifs.get(item["slug"]), **item} for item in job.motifs],
                "progress": generation_messages.job_progress(job)} for job in page.object_list]
    return render(request, "inference/history.html", {
        "page": page, "entries": entries, "everyone": everyone, "mode": mode, "modes": GenerationJob.Mode.choices,
        "query_string": f"mode={mode}" if mode else "",
    })


def job_image(request, pk):
    """Admin thumbnail of one result (curators only)."""
    if not is_curator(request.user):
        raise Http404
    image = get_object_or_404(GeneratedImage, pk=pk)
    return HttpResponse(generation.job_png(image), content_type="image/png")
