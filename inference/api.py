"""Classification, generation jobs and model versions over the REST API. Thin: every rule is in
``services``, ``generation``, ``selectors`` and ``registry``; these views parse, call and
answer in the API's shape. Nothing here imports a model library.

Who sees what: a record or job belongs to its user, or, when made anonymously, to the
session that made it (API clients keep it with a cookie jar; tokens are the better way);
curators see everyone's records by address, but every list shows the caller's own.
"""
from __future__ import annotations

import time
import uuid

import django_filters
from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import FileResponse, Http404, HttpResponse
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, extend_schema_field, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsCurator
from core import intake
from core import limits
from core.api import ApiError, FormParser, JSONParser, MultiPartParser, image_rejected
from core.api_schema import error_response
from core.limits import GENERATION_DEFAULTS as DEFAULTS
from core.imaging import ImageRejected

from . import health, registry, selectors
from .classification import services
from .generation import messages as generation_messages
from .generation import services as generation
from .models import ClassificationRecord, GenerationJob, ModelKind, ModelVersion, PrintJob
from .visitors import record_session_key, viewer_key


def _owner_session_key(request) -> str:
    """Signed-in callers own their rows through their account; anonymous ones through their
    session (created here, so a client with a cookie jar can read its result back)."""
    return "" if request.user.is_authenticated else record_session_key(request)


def _public_id(value) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise Http404 from None


# --- classification --------------------------------------------------------------------------


class ClassifyRequestSerializer(serializers.Serializer):
    file = serializers.FileField(required=False, allow_empty_file=True,
                                 help_text="The photo of the cloth (JPEG, PNG, WebP, GIF, BMP or TIFF).")
    image = serializers.FileField(required=False, allow_empty_file=True, help_text="Another name for `file`.")
    consent_training = serializers.BooleanField(
        default=False, help_text="Curators may add the photo to the archive to improve the model.",
    )

    def validate(self, data):
        if not data.get("file") and not data.get("image"):
            raise serializers.ValidationError({"file": [_("Send the photo in the field “file”.")]}, code="required")
        return data


class OwnerLinkSerializer(serializers.Serializer):
    name = serializers.CharField()
    role = serializers.CharField()
    verified = serializers.BooleanField()


class GuessSerializer(serializers.Serializer):
    label = serializers.CharField(help_text="The model's class name.")
    motif = serializers.CharField(allow_null=True, help_text="The motif's slug, or null for a class without a published one.")
    confidence = serializers.FloatField(help_text="The model's score for this guess, 0–1 (before the check for a known motif).")


class ClassificationSerializer(serializers.Serializer):
    """A classification: whether the photo is a known motif and which, why, the model's guesses
    and timings. It never contradicts itself: `label`, `motif`, `name` and `confidence` are set
    only when `recognised` is true, and are null otherwise (not recognised, queued, failed)."""

    # The shape of services.classification_summary (shared with the Flask-compatible service).

    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=ClassificationRecord.Status.choices)
    label = serializers.CharField(allow_null=True, help_text=(
        "The recognised motif's class name; null when not recognised (the guesses are in `top`), queued or failed."))
    motif = serializers.CharField(allow_null=True, help_text="The recognised motif's slug; null when not recognised.")
    name = serializers.CharField(allow_null=True, help_text="The recognised motif's name; null when not recognised.")
    recognised = serializers.BooleanField(help_text="False: not recognised as a known motif (see `reason`).")
    reason = serializers.ChoiceField(choices=services.REASONS, allow_null=True, help_text=(
        "`ok` (recognised); `low_confidence` (the model is not sure enough); `far_from_archive` (the photo is too "
        "unlike the archive's photos of the predicted motif); `class_without_motif` (the predicted class names no "
        "published motif). Null while queued or when failed."))
    confidence = serializers.FloatField(allow_null=True, help_text=(
        "0–1: the model's confidence in the recognised motif; null when not recognised, queued or failed."))
    description = serializers.CharField(allow_blank=True, help_text="In the caller's language; empty when not recognised.")
    meaning = serializers.CharField(allow_blank=True, help_text="In the caller's language; empty when not recognised.")
    owners = OwnerLinkSerializer(many=True)
    top = GuessSerializer(many=True, help_text=(
        "The model's top guesses, best first, with its scores: only guesses, also when not recognised."))
    model_version = serializers.IntegerField(allow_null=True)
    timings = serializers.DictField(child=serializers.FloatField(), help_text="Seconds per stage.")
    processing_time = serializers.FloatField(help_text="Seconds.")
    error = serializers.CharField(allow_blank=True, help_text="Why it failed (status failed), in the caller's language.")
    status_url = serializers.URLField()


class ClassifyAcceptedSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=ClassificationRecord.Status.choices)
    status_url = serializers.URLField(help_text="GET it until `status` is no longer `queued`.")


CLASSIFICATION_EXAMPLE = {
    "id": "0b3c8f0e-4b1a-4e49-9a40-2f6c1f9d7a11", "status": "done", "label": "merak", "motif": "merak", "name": "Merak",
    "recognised": True, "reason": "ok", "confidence": 0.9731, "description": "A peacock with its tail spread…",
    "meaning": "…", "owners": [{"name": "Ishadi Cual Gallery", "role": "producer", "verified": False}],
    "top": [{"label": "merak", "motif": "merak", "confidence": 0.9731},
            {"label": "burung-hong", "motif": "burung-hong", "confidence": 0.0121}],
    "model_version": 1, "timings": {"upload_s": 0.004, "validation_s": 0.021, "queue_s": 0.05, "preprocess_s": 0.003,
                                    "inference_s": 0.012},
    "processing_time": 0.09, "error": "",
    "status_url": "https://cualify.example/api/v1/classifications/0b3c8f0e-4b1a-4e49-9a40-2f6c1f9d7a11/",
}
# A photo that is no known motif: no answer is named, however high the best guess's score.
NOT_RECOGNISED_EXAMPLE = {
    **CLASSIFICATION_EXAMPLE, "id": "5e1d2a7c-93b0-4f1e-8c55-0d4b6a2e9f30", "label": None, "motif": None, "name": None,
    "recognised": False, "reason": "far_from_archive", "confidence": None, "description": "", "meaning": "", "owners": [],
    "top": [{"label": "kepiting", "motif": "kepiting", "confidence": 0.9612},
            {"label": "kuda-laut", "motif": "kuda-laut", "confidence": 0.0213}],
    "status_url": "https://cualify.example/api/v1/classifications/5e1d2a7c-93b0-4f1e-8c55-0d4b6a2e9f30/",
}


def _classification_examples(**options) -> list[OpenApiExample]:
    return [OpenApiExample("Recognised", value=CLASSIFICATION_EXAMPLE, **options),
            OpenApiExample("Not a known motif", value=NOT_RECOGNISED_EXAMPLE, **options)]


def _classification_url(request, record) -> str:
    return request.build_absolute_uri(reverse("api:classification-detail", args=[record.public_id]))


def _classification(request, record) -> dict:
    return {**services.classification_summary(record), "status_url": _classification_url(request, record)}


class ClassifyView(APIView):
    parser_classes = [MultiPartParser]
    throttle_scope = "classify"

    @extend_schema(
        summary="Classify a photo of a cloth",
        description=(
            "Multipart upload in `file` (or `image`). Answers 200 with the result when the model answers within "
            "`CUALIFY_API_CLASSIFY_WAIT_SECONDS`, else 202 with the address to poll. Confidence is 0–1, times are "
            "in seconds. Throttled by the `classify` scope."),
        request={"multipart/form-data": ClassifyRequestSerializer},
        responses={
            200: OpenApiResponse(ClassificationSerializer, description="Finished (`status` done or failed).",
                                 examples=_classification_examples()),
            202: OpenApiResponse(ClassifyAcceptedSerializer, description="Still running: poll `status_url`."),
            400: error_response("Not a usable image (the message says why), or no file."),
            413: error_response("The file or the request is too large."),
            503: error_response("No active classifier, or the model service is not running."),
        },
    )
    def post(self, request):
        started = time.perf_counter()
        serializer = ClassifyRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        upload = serializer.validated_data.get("file") or serializer.validated_data.get("image")
        data = upload.read()
        try:
            record = services.classification_submit(
                data=data, user=request.user, session_key=_owner_session_key(request),
                consent_training=serializer.validated_data["consent_training"],
                wait_seconds=settings.CUALIFY_API_CLASSIFY_WAIT_SECONDS,
                timings={"upload_s": time.perf_counter() - started},
            )
        except services.ClassificationUnavailable as exc:
            reason = str(exc)
            raise ApiError(services.UNAVAILABLE_MESSAGES.get(reason, services.UNAVAILABLE_MESSAGES["no_worker"]),
                           status=503, code=reason) from exc
        except ImageRejected as exc:
            raise image_rejected(exc, field="file") from exc
        if record.is_finished:
            return Response(_classification(request, record))
        return Response({"id": str(record.public_id), "status": record.status,
                         "status_url": _classification_url(request, record)}, status=status.HTTP_202_ACCEPTED)


@extend_schema_view(
    list=extend_schema(summary="Your classifications", description=(
        "The caller's own, newest first (anonymous callers: those of their session).")),
    retrieve=extend_schema(summary="One classification", description=(
        "Its owner (user, or the anonymous session that made it) and curators only; anyone else gets 404."),
        examples=_classification_examples(response_only=True)),
)
class ClassificationViewSet(viewsets.GenericViewSet):
    serializer_class = ClassificationSerializer
    lookup_field = "public_id"
    lookup_value_converter = "uuid"
    filter_backends = []

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ClassificationRecord.objects.none()
        return selectors.classifications_of(user=self.request.user, session_key=viewer_key(self.request))

    def list(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response([_classification(request, record) for record in page])

    def retrieve(self, request, public_id):
        record = selectors.classification_for_viewer(public_id=_public_id(public_id), user=request.user,
                                                     session_key=viewer_key(request))
        if record is None:
            raise Http404
        return Response(_classification(request, services.classification_for_reading(record)))


# --- generation ------------------------------------------------------------------------------

PARAMETERS = ("seed", "count", "truncation", "distance", "refine", "refine_strength", "tile", "upscale")


@extend_schema_field({
    "oneOf": [
        {"type": "string", "description": "A motif slug, optionally with `:weight` (form posts): `merak:2`."},
        {"type": "object", "properties": {"slug": {"type": "string"}, "weight": {"type": "number", "default": 1.0}},
         "required": ["slug"]},
    ],
})
class MotifWeightField(serializers.Field):
    """A motif as a slug (``"merak"``, or ``"merak:2"`` in forms) or ``{"slug", "weight"}``."""

    default_error_messages = {
        "invalid": _("Name each motif by its slug, or as an object with “slug” and “weight”."),
        "weight": _("A weight must be a number."),
    }

    def to_internal_value(self, data):
        if isinstance(data, str):
            slug, _sep, weight = data.partition(":")
        elif isinstance(data, dict) and isinstance(data.get("slug"), str):
            slug, weight = data["slug"], data.get("weight", 1.0)
        else:
            self.fail("invalid")
        slug = slug.strip()
        if not slug:
            self.fail("invalid")
        if isinstance(weight, bool):
            self.fail("weight")
        try:
            weight = float(weight) if weight not in ("", None) else 1.0
        except (TypeError, ValueError):
            self.fail("weight")
        return slug, weight  # its bounds (finite, 0.1–10) are check_request's, as at every door

    def to_representation(self, value):
        return {"slug": value[0], "weight": value[1]}


class OptionalBooleanField(serializers.BooleanField):
    """Absent from a form post means "the default", not the unticked checkbox's False."""

    default_empty_html = serializers.empty


class GenerateRequestSerializer(serializers.Serializer):
    """What to generate. Fusion: 2–4 motifs with weights, optionally which gives the structure and
    which the detail. Variation: one motif or a reference image. Prompt: a description."""

    # Only the request's shape: which motifs and values are allowed is decided by
    # generation.check_request, the rule every door shares. The bounds below come from
    # core.limits (as the form's do), so that the schema shows them.

    mode = serializers.ChoiceField(choices=GenerationJob.Mode.choices)
    motifs = serializers.ListField(
        child=MotifWeightField(), required=False, max_length=limits.MAX_REQUEST_MOTIFS,
        help_text="Fusion: 2–4 motifs; variation: one motif (or a `reference` image); prompt: ignored.",
    )
    structure_from = serializers.CharField(required=False, allow_blank=True, max_length=limits.MOTIF_SLUG_MAX_CHARS,
                                           help_text="Fusion: the motif that gives the layout.")
    detail_from = serializers.CharField(required=False, allow_blank=True, max_length=limits.MOTIF_SLUG_MAX_CHARS,
                                        help_text="Fusion: the motif that gives ornament and colour.")
    prompt = serializers.CharField(required=False, allow_blank=True, max_length=limits.PROMPT_MAX_CHARS,
                                   help_text=f"Prompt mode: a description (≤ {limits.PROMPT_MAX_CHARS} characters).")
    reference = serializers.FileField(required=False, allow_empty_file=True,
                                      help_text="Variation (multipart only): vary this image instead of a motif.")
    seed = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=limits.MAX_SEED,
                                    help_text="Empty: random (always recorded). Image i uses seed + i.")
    count = serializers.IntegerField(required=False, default=DEFAULTS.count, **limits.COUNT.field_kwargs())
    truncation = serializers.FloatField(required=False, default=DEFAULTS.truncation, **limits.TRUNCATION.field_kwargs())
    distance = serializers.FloatField(required=False, default=DEFAULTS.distance, help_text="Variation: how different.",
                                      **limits.DISTANCE.field_kwargs())
    refine = OptionalBooleanField(required=False, default=DEFAULTS.refine,
                                  help_text="Refine with the diffusion model (needs an active refiner).")
    refine_strength = serializers.FloatField(required=False, default=DEFAULTS.refine_strength,
                                             **limits.REFINE_STRENGTH.field_kwargs())
    tile = OptionalBooleanField(required=False, default=DEFAULTS.tile, help_text="Seamless tile.")
    upscale = serializers.ChoiceField(choices=[(f, str(f)) for f in limits.UPSCALE_FACTORS], required=False,
                                      default=DEFAULTS.upscale)

    def generation_request(self, reference) -> generation.GenerationRequest:
        data = self.validated_data
        return generation.generation_request(
            mode=data["mode"], motifs=tuple(data.get("motifs", ())), structure_from=data.get("structure_from"),
            detail_from=data.get("detail_from"), prompt=data.get("prompt"), reference=reference,
            **{name: data[name] for name in PARAMETERS if name in data},
        )


class SuggestionSerializer(serializers.Serializer):
    motif = serializers.CharField()
    name = serializers.CharField()
    similarity = serializers.FloatField(help_text="Cosine similarity of the description to the motif's texts, −1..1.")


class MatchSerializer(serializers.Serializer):
    motif = serializers.CharField()
    weight = serializers.FloatField()


class JobMotifSerializer(serializers.Serializer):
    slug = serializers.CharField()
    weight = serializers.FloatField()


class JobParametersSerializer(serializers.Serializer):
    truncation = serializers.FloatField()
    distance = serializers.FloatField()
    refine = serializers.BooleanField()
    refine_strength = serializers.FloatField()
    tile = serializers.BooleanField()
    upscale = serializers.IntegerField()


class JobImageSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    seed = serializers.IntegerField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    url = serializers.URLField(help_text="The PNG (with its parameters embedded); private like the job.")


class JobSerializer(serializers.Serializer):
    """A generation job: where it is, what was asked, and its images when it has finished."""

    # The shape of generation.generation_job_summary (shared with the site's progress polling and
    # the Flask-compatible service).

    job_id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=GenerationJob.Status.choices)
    finished = serializers.BooleanField()
    stage = serializers.ChoiceField(choices=[(code, code) for code in generation_messages.STAGES], allow_blank=True, help_text=(
        "What the worker is doing, as a stable code; empty unless the job is running. `stage_label` says it in "
        "the caller's language."))
    stage_label = serializers.CharField(allow_blank=True, help_text=(
        "The stage in the caller's language (Accept-Language), with its step where it has one (\"Refining 3/10\"); "
        "empty unless the job is running."))
    progress = serializers.FloatField(help_text="0–1: 0 while queued, 1 once succeeded.")
    error = serializers.CharField(allow_blank=True, help_text="Why it failed, in the caller's language.")
    suggestions = SuggestionSerializer(many=True, help_text=(
        "A description that matched no motif (error code no_match): the closest motifs, as guesses."))
    mode = serializers.ChoiceField(choices=GenerationJob.Mode.choices)
    seed = serializers.IntegerField()
    count = serializers.IntegerField()
    motifs = JobMotifSerializer(many=True)
    prompt = serializers.CharField(allow_blank=True)
    matched = MatchSerializer(many=True, help_text="Prompt mode: the motifs the description matched.")
    colours = serializers.ListField(child=serializers.CharField())
    parameters = JobParametersSerializer()
    images = JobImageSerializer(many=True)
    timings = serializers.DictField(child=serializers.FloatField(), help_text=(
        "Seconds per stage, keyed `<stage>_s` (`loading_s`, `drawing_s`, ...) and `total_s`."))
    models = serializers.DictField(help_text="The model versions that made it.")
    created = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    status_url = serializers.URLField()


JOB_EXAMPLE = {
    "job_id": "5d0a5c1e-2b7e-4a47-8d8e-3b6c0e1f2a90", "status": "running", "finished": False,
    "stage": "drawing", "stage_label": "Drawing the motifs", "progress": 0.31, "error": "", "suggestions": [], "mode": "fusion", "seed": 42, "count": 2,
    "motifs": [{"slug": "merak", "weight": 2.0}, {"slug": "kepiting", "weight": 1.0}], "prompt": "", "matched": [],
    "colours": [], "parameters": {"truncation": 0.7, "distance": 0.5, "refine": False, "refine_strength": 0.3,
                                  "tile": True, "upscale": 1},
    "images": [], "timings": {}, "models": {}, "created": "2026-05-04T10:00:00+07:00", "finished_at": None,
    "status_url": "https://cualify.example/api/v1/jobs/5d0a5c1e-2b7e-4a47-8d8e-3b6c0e1f2a90/",
}


def _job(request, job) -> dict:
    summary = generation.generation_job_summary(job, lambda image: request.build_absolute_uri(
        reverse("api:job-image", args=[job.public_id, image.index])))
    return {**summary, "status_url": request.build_absolute_uri(reverse("api:job-detail", args=[job.public_id]))}


class GenerateView(APIView):
    parser_classes = [JSONParser, FormParser, MultiPartParser]
    throttle_scope = "generate"

    @extend_schema(
        summary="Start a generation job",
        description=(
            "JSON or form (multipart to send a `reference` image for a variation). Answers 202 at once; follow "
            "`status_url` until `finished`. Throttled by the `generate` scope."),
        request={"application/json": GenerateRequestSerializer, "multipart/form-data": GenerateRequestSerializer,
                 "application/x-www-form-urlencoded": GenerateRequestSerializer},
        responses={
            202: OpenApiResponse(JobSerializer, description="Queued.", examples=[OpenApiExample("Queued", value={
                **JOB_EXAMPLE, "status": "queued", "stage": "", "stage_label": "", "progress": 0.0})]),
            400: error_response("Invalid fields, or a request the generator refuses (`detail.code` says which)."),
            413: error_response("The reference image or the request is too large."),
            503: error_response("No active generator, or no queue worker running."),
        },
        examples=[
            OpenApiExample("Fusion", request_only=True, value={
                "mode": "fusion", "motifs": [{"slug": "merak", "weight": 2}, {"slug": "kepiting", "weight": 1}],
                "structure_from": "merak", "seed": 42, "count": 2}),
            OpenApiExample("Variation", request_only=True, value={"mode": "variation", "motifs": ["merak"], "count": 4}),
            OpenApiExample("Prompt", request_only=True, value={"mode": "prompt", "prompt": "bunga kenanga merah"}),
        ],
    )
    def post(self, request):
        availability = health.model_availability(ModelKind.GENERATOR)
        if not availability.available:
            raise ApiError(generation_messages.error_message(availability.reason), status=503, code=availability.reason)
        serializer = GenerateRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        reference = None
        upload = serializer.validated_data.get("reference")
        if upload is not None and generation.reference_needed(serializer.validated_data["mode"]):
            try:
                reference = intake.image_normalize(upload.read())
            except ImageRejected as exc:
                raise image_rejected(exc, field="reference") from exc
        try:
            job = generation.generation_job_create(request=serializer.generation_request(reference), user=request.user,
                                                   session_key=_owner_session_key(request))
        except generation.GenerationRejected as exc:
            unavailable = exc.code in ("no_generator", "no_worker")
            raise ApiError(exc.message, status=503 if unavailable else 400, code=exc.code) from exc
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages) from exc
        return Response(_job(request, job), status=status.HTTP_202_ACCEPTED)


class JobFilter(django_filters.FilterSet):
    mode = django_filters.ChoiceFilter(choices=GenerationJob.Mode.choices)
    status = django_filters.ChoiceFilter(choices=GenerationJob.Status.choices)

    class Meta:
        model = GenerationJob
        fields = ["mode", "status"]


@extend_schema_view(
    list=extend_schema(summary="Your generation jobs", description=(
        "The caller's own, newest first (anonymous callers: those of their session); filter by mode and status.")),
    retrieve=extend_schema(summary="A job's progress and results", description=(
        "Its owner and curators only; anyone else gets 404."),
        examples=[OpenApiExample("Running", value=JOB_EXAMPLE, response_only=True)]),
    destroy=extend_schema(summary="Cancel a job", description="A running worker stops at its next step.",
                          responses={200: JobSerializer, 409: error_response("The job has already finished.")}),
)
class JobViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet):
    serializer_class = JobSerializer
    lookup_field = "public_id"
    lookup_value_converter = "uuid"
    filterset_class = JobFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema generator's request has no session
            return GenerationJob.objects.none()
        return selectors.generation_jobs_of(user=self.request.user, session_key=viewer_key(self.request))

    def get_object(self):
        job = selectors.generation_job_for_viewer(public_id=_public_id(self.kwargs["public_id"]),
                                                  user=self.request.user, session_key=viewer_key(self.request))
        if job is None:
            raise Http404
        return job

    def list(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response([_job(request, job) for job in page])

    def retrieve(self, request, public_id):
        return Response(_job(request, self.get_object()))

    def destroy(self, request, public_id):
        job = self.get_object()
        if not generation.generation_job_cancel(job=job):
            raise ApiError(_("The job has already finished; there is nothing to cancel."), status=409,
                           code="finished", job_status=job.status)
        return Response(_job(request, job))


class PngView(APIView):
    """A view that answers a PNG; its errors still answer in JSON."""

    def perform_content_negotiation(self, request, force=False):
        return super().perform_content_negotiation(request, force=True)


class JobImageView(PngView):
    """One result as PNG, private like its job."""

    @extend_schema(summary="One result image (PNG)", responses={(200, "image/png"): OpenApiTypes.BINARY})
    def get(self, request, public_id, index):
        job = selectors.generation_job_for_viewer(public_id=public_id, user=request.user, session_key=viewer_key(request))
        image = next((image for image in job.images.all() if image.index == index), None) if job else None
        if image is None:
            raise Http404
        return HttpResponse(generation.job_png(image), content_type="image/png")


# --- print files -----------------------------------------------------------------------------


def _print_limits_text() -> str:
    values = generation_messages.limit_values()
    return (f"Two files: the tile at its printed size at {limits.PRINT_DPI} dpi, at most {values['print_megapixels']} "
            f"megapixels ({values['print_tile_cm']} × {values['print_tile_cm']} cm), and the whole fabric at "
            f"{limits.PRINT_FABRIC_DPI} dpi, at most {values['fabric_megapixels']} megapixels (e.g. "
            f"{values['fabric_kain_cm']} × {values['kain_height_cm']} cm or {values['fabric_side_cm']} × "
            f"{values['fabric_side_cm']} cm; `CUALIFY_PRINT_MAX_MEGAPIXELS`, `CUALIFY_PRINT_FABRIC_MAX_MEGAPIXELS`).")


class PrintRequestSerializer(serializers.Serializer):
    # The bounds come from core.limits, as the form's do; the megapixel limits are
    # generation.print_sizes's, the rule every door shares.
    tile_cm = serializers.FloatField(help_text="The printed size of one (square) tile, in cm.",
                                     **limits.PRINT_TILE_CM.field_kwargs())
    fabric_width_cm = serializers.FloatField(help_text="The cloth's width, in cm.", **limits.PRINT_FABRIC_CM.field_kwargs())
    fabric_height_cm = serializers.FloatField(help_text="The cloth's height, in cm.", **limits.PRINT_FABRIC_CM.field_kwargs())


class PrintFileSerializer(serializers.Serializer):
    file = serializers.ChoiceField(choices=[(name, name) for name in generation.PRINT_FILES])
    dpi = serializers.IntegerField()
    width = serializers.IntegerField(help_text="Pixels.")
    height = serializers.IntegerField(help_text="Pixels.")
    url = serializers.URLField(allow_null=True, help_text="The PNG, once the job has succeeded; private like the job.")


class PrintJobSerializer(serializers.Serializer):
    """A print job: where it is, what was asked, and its two files once it has succeeded."""

    # The shape of generation.print_job_summary (shared with the site's progress polling).

    print_id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=PrintJob.Status.choices)
    finished = serializers.BooleanField()
    stage = serializers.ChoiceField(choices=[(code, code) for code in generation_messages.PRINT_STAGES], allow_blank=True,
                                    help_text="What the worker is doing, as a stable code; empty unless running.")
    stage_label = serializers.CharField(allow_blank=True, help_text="The stage in the caller's language.")
    progress = serializers.FloatField(help_text="0–1: 0 while queued, 1 once succeeded.")
    error = serializers.CharField(allow_blank=True, help_text="Why it failed, in the caller's language.")
    job_id = serializers.UUIDField(help_text="The generation job of the result it prints.")
    image_index = serializers.IntegerField()
    tile_cm = serializers.FloatField()
    fabric_width_cm = serializers.FloatField()
    fabric_height_cm = serializers.FloatField()
    files = PrintFileSerializer(many=True)
    timings = serializers.DictField(child=serializers.FloatField(), help_text="Seconds per stage, and `total_s`.")
    created = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    status_url = serializers.URLField()


def _print_job(request, job) -> dict:
    summary = generation.print_job_summary(job, lambda job, which: request.build_absolute_uri(
        reverse("api:print-file", args=[job.public_id, which])))
    return {**summary, "status_url": request.build_absolute_uri(reverse("api:print-detail", args=[job.public_id]))}


def _print_job_or_404(request, public_id) -> PrintJob:
    job = selectors.print_job_for_viewer(public_id=public_id, user=request.user, session_key=viewer_key(request))
    if job is None:
        raise Http404
    return job


class PrintView(APIView):
    parser_classes = [JSONParser, FormParser]
    throttle_scope = "print"

    @extend_schema(
        summary="Make print files of a result",
        description=("A queue worker makes them; answers 202 at once, follow `status_url` until `finished`. "
                     + _print_limits_text() + " Too large: 400 with `detail.code` `too_large_tile` or "
                     "`too_large_fabric` and the limits in `detail`. Throttled by the `print` scope."),
        request={"application/json": PrintRequestSerializer, "application/x-www-form-urlencoded": PrintRequestSerializer},
        responses={
            202: OpenApiResponse(PrintJobSerializer, description="Queued."),
            400: error_response("Invalid fields, or a print past its limits (`detail` states them)."),
            503: error_response("No queue worker running."),
        },
        examples=[OpenApiExample("A kain", request_only=True,
                                 value={"tile_cm": 5, "fabric_width_cm": 200, "fabric_height_cm": 110})],
    )
    def post(self, request, public_id, index):
        job = selectors.generation_job_for_viewer(public_id=public_id, user=request.user, session_key=viewer_key(request))
        image = next((image for image in job.images.all() if image.index == index), None) if job else None
        if image is None:
            raise Http404
        serializer = PrintRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            print_job = generation.print_job_create(image=image, **serializer.validated_data)
        except generation.GenerationRejected as exc:
            unavailable = exc.code == "no_print_worker"
            raise ApiError(exc.message, status=503 if unavailable else 400, code=exc.code,
                           **({} if unavailable else generation.print_limits())) from exc
        return Response(_print_job(request, print_job), status=status.HTTP_202_ACCEPTED)


class PrintJobView(APIView):
    @extend_schema(summary="A print job's progress and files", responses={200: PrintJobSerializer},
                   description="Whoever may see its result's job (owner, curators); anyone else gets 404.")
    def get(self, request, public_id):
        return Response(_print_job(request, _print_job_or_404(request, public_id)))

    @extend_schema(summary="Cancel a print job", description="A running worker stops at its next band of rows.",
                   responses={200: PrintJobSerializer, 409: error_response("The print job has already finished.")})
    def delete(self, request, public_id):
        job = _print_job_or_404(request, public_id)
        if not generation.job_cancel(job=job):
            raise ApiError(_("The print job has already finished; there is nothing to cancel."), status=409,
                           code="finished", job_status=job.status)
        return Response(_print_job(request, job))


class PrintFileView(PngView):
    """One print file as PNG (``tile`` or ``fabric``), streamed, private like its result."""

    @extend_schema(summary="One print file (PNG)", responses={(200, "image/png"): OpenApiTypes.BINARY})
    def get(self, request, public_id, which):
        job = _print_job_or_404(request, public_id)
        if which not in generation.PRINT_FILES or job.status != PrintJob.Status.SUCCEEDED or not getattr(job, which):
            raise Http404
        return FileResponse(getattr(job, which).open("rb"), content_type="image/png", as_attachment=True,
                            filename=generation.print_file_name(job, which))


# --- model versions --------------------------------------------------------------------------


class ModelVersionSerializer(serializers.ModelSerializer):
    active = serializers.BooleanField(source="is_active", read_only=True)

    class Meta:
        model = ModelVersion
        fields = ["id", "kind", "name", "sha256", "file_format", "size_bytes", "source", "class_names", "metrics",
                  "active", "activated_at", "created"]
        read_only_fields = fields


class ModelVersionFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=ModelKind.choices)
    active = django_filters.BooleanFilter(field_name="is_active")

    class Meta:
        model = ModelVersion
        fields = ["kind", "active"]


@extend_schema_view(
    list=extend_schema(summary="Model versions", description="Every registered model, with its metrics."),
    retrieve=extend_schema(summary="One model version"),
)
class ModelVersionViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = ModelVersionSerializer
    filterset_class = ModelVersionFilter
    lookup_value_converter = "int"
    # A classifier's calibration carries its prototypes (~0.6 MB of JSON): never loaded here.
    queryset = ModelVersion.objects.defer("calibration", "training_data", "plots", "class_map")

    @extend_schema(summary="Activate a model version (curators)", request=None,
                   description="It becomes the one active model of its kind; workers reload it by themselves.",
                   responses={200: ModelVersionSerializer})
    @action(detail=True, methods=["post"], permission_classes=[IsCurator])
    def activate(self, request, pk=None):
        version = registry.model_version_activate(version=self.get_object())
        return Response(self.get_serializer(version).data)
