"""The Flask-compatible microservice: the original prototype's two AI endpoints with their plain
JSON contract, for clients written against the Flask-era app.

    gunicorn compat.wsgi:app -c deploy/gunicorn.compat.conf.py

It is a separate WSGI application (Flask) on top of the same Django project: ``create_app``
sets Django up once, so it shares the database, the records, the queue, the media and every
rule with the site. It only parses and answers; the services do the work:

- ``POST /predict`` — multipart field ``file`` (or ``image``) → 200 with ``classification_summary``
  (label, motif, confidence 0–1, description, owners, top, processing_time in seconds, ...).
  The Flask-era app always named a label; this one names a motif only when it recognises one:
  for a photo that is no known motif ``label``, ``motif``, ``name`` and ``confidence`` are null,
  ``recognised`` is false, ``reason`` says why and ``top`` still lists the closest guesses with
  their scores. The keys are the same, so an old client keeps parsing; it should read a null
  ``label`` as "not a known motif" (the same answer as the site and the REST API give).
  Waits up to ``CUALIFY_COMPAT_PREDICT_WAIT_SECONDS``, then 503. Unavailable → 503 at once,
  nothing stored.
- ``POST /generate`` — JSON or form → 202 ``{"job_id", "status_url"}``;
  ``GET /generate/<job_id>`` → ``generation_job_summary``; the images are served at
  ``/generate/<job_id>/images/<index>.png``.
- ``GET /health`` and ``GET /ready`` — as on the site (``inference.health``).

Every error is ``{"error": message, "detail": {...}}`` (``core.errors``), the message in the
language of ``Accept-Language`` (Indonesian or English; Indonesian by default). ``/predict`` and
``/generate`` count in the site's rate limits (``core.throttles``: 429 with ``Retry-After`` past
them), and every response carries the site's security headers (``core.security``).

Jobs and records made here belong to no account: as in the Flask-era API, a job's id (a random
UUID) is the capability to read it and its images. Only jobs made without an account or a
browser session (here, or by the ``generate`` command) can be read through this service;
visitors' jobs stay private to the site.
"""
from __future__ import annotations

import logging
import os
import time
import uuid

import django
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import translation
from django.utils.translation import gettext as _
from flask import Flask, Response, jsonify, request, url_for
from werkzeug.exceptions import BadRequest, HTTPException

from core import jsonbody
from core.errors import error_payload
from core.imaging import ImageRejected
from core.intake import rejection_detail, rejection_message, rejection_status
from core.security import request_is_secure, security_headers
from core.throttles import RateLimited, rate_limit, request_identity

# The project's models (inference, motifs) can be imported only once create_app has set Django
# up, hence the imports inside the functions below.

logger = logging.getLogger(__name__)

# Room for the multipart envelope and the small form fields around the largest accepted image.
ENVELOPE_BYTES = 1024 * 1024
TRUE = {"1", "true", "on", "yes"}
FALSE = {"0", "false", "off", "no", ""}


def create_app(settings_module: str | None = None) -> Flask:
    """The service as a Flask application. ``settings_module`` is used when Django is not set
    up yet in this process (default: ``DJANGO_SETTINGS_MODULE`` or ``cualify.settings``)."""
    _setup_django(settings_module)
    app = _CompatFlask(__name__, static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = settings.CUALIFY_MAX_IMAGE_BYTES + ENVELOPE_BYTES
    # The same Host check as the site's (absolute URLs below are built from the Host header).
    app.config["TRUSTED_HOSTS"] = None if "*" in settings.ALLOWED_HOSTS else list(settings.ALLOWED_HOSTS)
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    _routes(app)
    _error_handlers(app)
    app.after_request(_security_headers)
    return app


def _security_headers(response: Response) -> Response:
    for name, value in security_headers(secure=request_is_secure(request)).items():
        response.headers.setdefault(name, value)
    return response


def _setup_django(settings_module: str | None) -> None:
    from django.apps import apps

    if apps.ready:
        return
    if settings_module:
        os.environ["DJANGO_SETTINGS_MODULE"] = settings_module
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cualify.settings")
    django.setup()


def _release_connections() -> None:
    """What Django does around each of its own requests: drop a database connection that broke
    or outlived CONN_MAX_AGE. A connection inside a transaction (a test's) is left alone."""
    from django.db import connections

    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close_if_unusable_or_obsolete()


class _CompatFlask(Flask):
    def full_dispatch_request(self):
        codes = [code for code, _name in settings.LANGUAGES]
        language = request.accept_languages.best_match(codes, default=settings.LANGUAGE_CODE)
        _release_connections()
        try:
            with translation.override(language):
                response = super().full_dispatch_request()
        finally:
            _release_connections()
        response.headers["Content-Language"] = language
        response.vary.add("Accept-Language")
        return response


def error(status: int, message, **detail) -> tuple[Response, int]:
    return jsonify(error_payload(message, detail)), status


# --- the endpoints ---------------------------------------------------------------------------


def _routes(app: Flask) -> None:
    app.add_url_rule("/predict", view_func=predict, methods=["POST"])
    app.add_url_rule("/generate", view_func=generate, methods=["POST"])
    app.add_url_rule("/generate/<job_id>", view_func=generation_status, methods=["GET"])
    app.add_url_rule("/generate/<job_id>/images/<int:index>.png", view_func=generation_image, methods=["GET"])
    app.add_url_rule("/health", view_func=health, methods=["GET"])
    app.add_url_rule("/ready", view_func=ready, methods=["GET"])


def predict():
    from inference.classification import services

    rate_limit("classify", request_identity(request))
    started = time.perf_counter()
    upload = request.files.get("file")
    if upload is None:
        upload = request.files.get("image")
    if upload is None:
        return error(400, _("Send the photo as the multipart form field “file”."), code="missing_file", field="file")
    data = upload.read()
    wait = settings.CUALIFY_COMPAT_PREDICT_WAIT_SECONDS
    try:
        record = services.classification_submit(data=data, wait_seconds=wait, timings={"upload_s": time.perf_counter() - started})
    except services.ClassificationUnavailable as exc:
        reason = str(exc)
        return error(503, services.UNAVAILABLE_MESSAGES[reason], code=reason)
    except ImageRejected as exc:
        return error(rejection_status(exc), rejection_message(exc), **rejection_detail(exc, field="file"))
    if record.status == record.Status.QUEUED:
        return error(503, _("No answer from the model service within %(seconds)s seconds. Please try again later.")
                     % {"seconds": f"{wait:g}"}, code="timeout", id=str(record.public_id), wait_seconds=wait)
    if record.status == record.Status.FAILED:
        if record.error in services.UNAVAILABLE_MESSAGES:  # the classifier went away meanwhile
            return error(503, services.UNAVAILABLE_MESSAGES[record.error], code=record.error, id=str(record.public_id))
        lost = record.error == "lost"  # no worker answered: the service is unavailable, not broken
        return error(503 if lost else 500, services.failure_message(record), code="lost" if lost else "failed",
                     id=str(record.public_id))
    return jsonify(services.classification_summary(record))


def generate():
    from inference.generation import messages as generation_messages
    from inference.generation import services as generation
    from inference.health import model_availability
    from inference.models import ModelKind

    rate_limit("generate", request_identity(request))
    availability = model_availability(ModelKind.GENERATOR)
    if not availability.available:
        return error(503, generation_messages.error_message(availability.reason), code=availability.reason)
    try:
        job = generation.generation_job_create(request=_generation_request())
    except generation.GenerationRejected as exc:
        return error(400, exc.message, code=exc.code)
    except jsonbody.JsonBodyError as exc:
        return error(400, exc.message, code=exc.code)
    except ImageRejected as exc:  # the optional reference image
        return error(rejection_status(exc), rejection_message(exc), **rejection_detail(exc, field="reference"))
    except ValidationError as exc:
        fields = exc.message_dict if hasattr(exc, "error_dict") else {}
        return error(400, _("Some fields are not valid."), code="invalid",
                     fields={name: [str(m) for m in messages] for name, messages in fields.items()})
    status_url = url_for("generation_status", job_id=str(job.public_id), _external=True)
    response = jsonify({"job_id": str(job.public_id), "status_url": status_url, "status": job.status})
    response.headers["Location"] = status_url
    return response, 202


def generation_status(job_id: str):
    from inference.generation.services import generation_job_summary

    job = _job_or_none(job_id)
    if job is None:
        return _no_such_job()
    summary = generation_job_summary(job, lambda image: url_for(
        "generation_image", job_id=str(job.public_id), index=image.index, _external=True))
    return jsonify({**summary, "status_url": url_for("generation_status", job_id=str(job.public_id), _external=True)})


def generation_image(job_id: str, index: int):
    from inference.generation.services import job_png

    job = _job_or_none(job_id)
    image = next((image for image in job.images.all() if image.index == index), None) if job else None
    if image is None:
        return _no_such_job()
    response = Response(job_png(image), mimetype="image/png")
    response.headers["Cache-Control"] = "private, max-age=86400"  # a result never changes
    return response


def health():
    from inference.health import health_response

    status, payload = health_response()
    return jsonify(payload), status


def ready():
    from inference.health import ready_response

    status, payload = ready_response(request.args.get("kind"))
    return jsonify(payload), status


# --- parsing /generate -----------------------------------------------------------------------


def _generation_request():
    """The body (JSON, or a form with repeated or comma-separated ``motifs``) as a
    GenerationRequest. Only the fields sent are set: the defaults and every rule live in
    ``inference.generation.services``; a value of the wrong type is refused with the rule's own
    code. The reference image is read only for a mode that uses one."""
    from core.intake import image_normalize
    from inference.generation.services import generation_request, reference_needed

    if request.is_json:
        body = jsonbody.loads(request.get_data(cache=True))
        if not isinstance(body, dict):
            raise BadRequest("the JSON body must be an object")
        motifs = _motifs(body.get("motifs"))
    else:
        body = request.form.to_dict()
        motifs = _motifs([part for value in request.form.getlist("motifs") for part in value.split(",")])
    mode = _text(body.get("mode"))
    fields: dict = {"motifs": motifs}
    for name in ("prompt", "structure_from", "detail_from"):
        if body.get(name) is not None:
            fields[name] = _text(body[name])
    numbers = {"seed": (int, "bad_seed"), "count": (int, "bad_count"), "upscale": (int, "bad_upscale"),
               "truncation": (float, "bad_truncation"), "distance": (float, "bad_distance"),
               "refine_strength": (float, "bad_refine_strength")}
    for name, (kind, code) in numbers.items():
        if body.get(name) not in (None, ""):
            fields[name] = _number(body[name], kind, code)
    for name in ("tile", "refine"):
        if body.get(name) is not None:
            fields[name] = _flag(body[name])
    reference = request.files.get("reference")
    if reference is not None and reference_needed(mode):
        fields["reference"] = image_normalize(reference.read())
    return generation_request(mode=mode, **fields)


def _text(value) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def _motifs(value) -> tuple[tuple[str, float], ...]:
    """A list of slugs (each weight 1), ``{slug: weight}``, ``[{"slug", "weight"}]`` or "a,b"."""
    from inference.generation.services import GenerationRejected

    if value is None:
        return ()
    if isinstance(value, str):
        value = value.split(",")
    if isinstance(value, dict):
        value = [{"slug": slug, "weight": weight} for slug, weight in value.items()]
    if not isinstance(value, list):
        raise GenerationRejected("motif_not_generatable", str(value))
    motifs = []
    for item in value:
        slug, weight = (item.get("slug"), item.get("weight", 1.0)) if isinstance(item, dict) else (item, 1.0)
        if not isinstance(slug, str):
            raise GenerationRejected("motif_not_generatable", str(slug))
        if slug.strip():
            motifs.append((slug.strip(), _number(weight, float, "bad_weights")))
    return tuple(motifs)


def _number(value, kind, code: str):
    from inference.generation.services import GenerationRejected

    if isinstance(value, bool):
        raise GenerationRejected(code, str(value))
    try:
        if kind is int and isinstance(value, float):
            if not value.is_integer():
                raise ValueError(value)
            return int(value)
        return kind(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise GenerationRejected(code, str(value)) from None


def _flag(value) -> bool:
    from inference.generation.services import GenerationRejected

    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE or text in FALSE:
        return text in TRUE
    raise GenerationRejected("bad_range", text)


def _job_or_none(job_id: str):
    """A job made without an account or a browser session (``readable_by_id``); anything else,
    a job whose account was deleted included, is not ours to show."""
    from inference.models import GenerationJob

    try:
        public_id = uuid.UUID(job_id)
    except ValueError:
        return None
    return GenerationJob.objects.prefetch_related("images").filter(public_id=public_id, readable_by_id=True).first()


def _no_such_job():
    return error(404, _("There is no generation job with this id."), code="not_found")


# --- errors: always the shared shape ---------------------------------------------------------


def _error_handlers(app: Flask) -> None:
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(RateLimited, _rate_limited)
    app.register_error_handler(Exception, _unexpected_error)


def _rate_limited(exc: RateLimited):
    response, status = error(429, exc.message, **exc.detail)
    response.headers["Retry-After"] = str(exc.retry_after)
    return response, status


def _http_error(exc: HTTPException):

    status = exc.code or 500
    if status == 413:
        response = error(413, rejection_message("too_large"), code="too_large", max_bytes=settings.CUALIFY_MAX_IMAGE_BYTES)
    elif status == 404:
        response = error(404, _("Not found."), code="not_found")
    elif status == 405:
        allowed = sorted(exc.valid_methods or [])  # type: ignore[attr-defined]
        response = error(405, _("This method is not allowed here."), code="method_not_allowed", allowed=allowed)
        response[0].headers["Allow"] = ", ".join(allowed)
    elif status < 500:
        response = error(status, _("The request could not be read."), code="bad_request")
    else:
        response = error(status, _("Something went wrong on our side. Please try again later."), code="server_error")
    return response


def _unexpected_error(exc: Exception):
    logger.exception("unexpected error in %s %s", request.method, request.path)
    return error(500, _("Something went wrong on our side. Please try again later."), code="server_error")

