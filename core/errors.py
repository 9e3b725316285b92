"""The one error shape every machine-facing door answers with (the REST API and the
Flask-compatible service): ``{"error": message, "detail": {...}}``, the message in the
caller's language."""
from __future__ import annotations


def error_payload(message, detail: dict | None = None) -> dict:
    return {"error": str(message), "detail": dict(detail or {})}
