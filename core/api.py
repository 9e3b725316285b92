"""What every part of the REST API shares: the one error shape (for DRF's own errors too),
pagination, throttles and body limits (the schema's parts are in
``api_schema``).

DRF imports the classes named in its settings while it defines ``APIView``, so this module
must not import ``rest_framework.views`` (or anything that does) at its top.

Views stay thin: they call the apps' services and raise ``ApiError`` (or let DRF raise its
own); ``exception_handler`` turns every error, unexpected ones included, into
``{"error": message, "detail": {...}}`` in the caller's language.
"""
from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import Http404, JsonResponse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, pagination, parsers, throttling
from rest_framework.response import Response
from rest_framework.settings import api_settings

from . import throttles
from . import jsonbody
from .errors import error_payload
from .imaging import ImageRejected
from .intake import rejection_detail, rejection_message, rejection_status

logger = logging.getLogger("django.request")

INVALID_INPUT = _("Invalid input.")
SERVER_ERROR = _("Something went wrong on our side. Please try again later.")


class ApiError(exceptions.APIException):
    """An answer a view gives on purpose (a service's refusal, a busy model service): the
    message for people, ``code`` for programs, and any more ``detail``."""

    def __init__(self, message, *, status: int, code: str, **detail):
        self.status_code = status
        self.extra = {"code": code, **detail}
        super().__init__(detail=str(message), code=code)


def image_rejected(exc: ImageRejected, *, field: str) -> ApiError:
    """An upload the intake rules refused, as every API door answers it (``field``: the
    request field that carried the image)."""
    return ApiError(rejection_message(exc), status=rejection_status(exc), **rejection_detail(exc, field=field))


class PayloadTooLarge(exceptions.APIException):
    status_code = 413
    default_detail = _("The request is too large.")
    default_code = "too_large"


def exception_handler(exc, context):
    """DRF's handler (status, ``WWW-Authenticate`` and ``Retry-After`` headers, rollback),
    then its body rewritten to the error shape; anything unexpected becomes a logged 500."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()  # never the model's name from get_object_or_404
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    elif isinstance(exc, SuspiciousOperation):  # too many fields or files, a bad multipart body
        exc = exceptions.ParseError()
    from rest_framework.views import exception_handler as drf_exception_handler
    from rest_framework.views import set_rollback

    response = drf_exception_handler(exc, context)
    if response is None:
        request = context.get("request")
        logger.error("Internal Server Error: %s", getattr(request, "path", "?"), exc_info=exc,
                     extra={"status_code": 500, "request": getattr(request, "_request", None)})
        set_rollback()
        return Response(error_payload(SERVER_ERROR, {"code": "server_error"}), status=500)
    if isinstance(exc, exceptions.ValidationError) or not isinstance(exc.detail, str):
        detail = exc.detail if isinstance(exc.detail, dict) else {api_settings.NON_FIELD_ERRORS_KEY: exc.detail}
        response.data = error_payload(INVALID_INPUT, detail)
        return response
    detail = dict(getattr(exc, "extra", None) or {"code": exc.detail.code})
    if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
        detail["retry_after"] = int(exc.wait)
    response.data = error_payload(exc.detail, detail)
    return response


@csrf_exempt  # an unknown address is a 404 whatever the method, never the CSRF failure page
def not_found(request, *args, **kwargs):
    """Any address under /api/ that names nothing: the error shape, not the site's 404 page."""
    return JsonResponse(error_payload(exceptions.NotFound.default_detail, {"code": "not_found"}), status=404)


class Pagination(pagination.PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 100


class _RatesFromSettings:
    """DRF copies the rates once, at import; reading them per request lets settings (and
    tests) change them."""

    @property
    def THROTTLE_RATES(self):
        return api_settings.DEFAULT_THROTTLE_RATES


class AnonThrottle(_RatesFromSettings, throttling.AnonRateThrottle):
    pass


class UserThrottle(_RatesFromSettings, throttling.UserRateThrottle):
    pass


class Throttled(exceptions.Throttled):
    """DRF's 429 (its handler adds ``Retry-After``) with the message of the shared rate limit."""

    def __init__(self, limited: throttles.RateLimited):
        exceptions.APIException.__init__(self, detail=limited.message, code="throttled")
        self.wait = limited.retry_after


class ScopedThrottle(throttling.BaseThrottle):
    """The expensive endpoints (``throttle_scope = "classify"`` / ``"generate"``), counted by the
    rule every door shares (``core.throttles``): the same caller's requests on the site, here and
    on the Flask-compatible service count together."""

    def allow_request(self, request, view):
        scope = getattr(view, "throttle_scope", None)
        if scope:
            try:
                throttles.rate_limit(scope, throttles.request_identity(request))
            except throttles.RateLimited as limited:
                raise Throttled(limited) from None
        return True


class _BodyLimit:
    """DRF reads JSON and form bodies from the raw stream, past Django's
    DATA_UPLOAD_MAX_MEMORY_SIZE check, and multipart files are never counted by it: the whole
    body is held to that size here (one image plus a few fields is the largest real request)."""

    def check_length(self, parser_context) -> None:
        request = (parser_context or {}).get("request")
        meta = request.META if request is not None else {}
        try:
            length = int(meta.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None and length > limit:
            raise PayloadTooLarge()

    def parse(self, stream, media_type=None, parser_context=None):
        self.check_length(parser_context)
        return super().parse(stream, media_type, parser_context)


class JSONParser(_BodyLimit, parsers.JSONParser):
    """The body read by ``core.jsonbody``: too deep, NaN/Infinity or not JSON is a 400."""

    def parse(self, stream, media_type=None, parser_context=None):
        self.check_length(parser_context)
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            return jsonbody.loads(stream.read().decode(encoding))
        except jsonbody.JsonBodyError as exc:
            raise exceptions.ParseError(exc.message) from None
        except UnicodeDecodeError:
            raise exceptions.ParseError(jsonbody.MESSAGES["not_json"]) from None


class FormParser(_BodyLimit, parsers.FormParser):
    pass


class MultiPartParser(_BodyLimit, parsers.MultiPartParser):
    pass
