"""The OpenAPI side of the REST API: every operation documents the error shape.

DRF imports ``AutoSchema`` while drf-spectacular defines its views: nothing here may import
``drf_spectacular.views``."""
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    error = serializers.CharField(help_text="What went wrong, in the caller's language (Accept-Language).")
    detail = serializers.DictField(
        help_text="Field errors (field name to a list of messages), or a `code` and more about the error.",
    )


# Schema texts are for developers and stay in English; the messages in responses are translated.
ERROR_RESPONSES = {
    "400": "Invalid input: `detail` maps each field to its messages.",
    "401": "The token is invalid or revoked, or this needs a signed-in user.",
    "403": "Not allowed for this user (e.g. curators only), or a missing CSRF token with a session.",
    "404": "Not found, or not yours to see.",
    "429": "Too many requests: wait the seconds in `Retry-After`.",
    "500": "An unexpected error; it has been logged.",
}


class AutoSchema(SpectacularAutoSchema):
    """Every operation documents the error shape for the errors any request can meet."""

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code, description in ERROR_RESPONSES.items():
            if code not in responses:
                responses[code] = self._get_response_for_code(
                    OpenApiResponse(ErrorSerializer, description=description), code, media_types=["application/json"],
                    direction=direction,
                )
        responses["429"].setdefault("headers", {})["Retry-After"] = {
            "schema": {"type": "integer"}, "description": "Seconds to wait before trying again.",
        }
        return responses


def error_response(description: str) -> OpenApiResponse:
    """An error an operation documents beside the common ones (e.g. 409, 413, 503)."""
    return OpenApiResponse(ErrorSerializer, description=description)
