"""The one rate limit every door calls for the expensive work: the site's forms and views
(``rate_limited`` / ``rate_limit_response``), the REST API (``core.api.ScopedThrottle``) and the
Flask-compatible service (``compat.app``). Management commands are operators: never limited.

A scope (``classify``, ``generate``, ``print``, ``saliency``) has one rate in
``settings.CUALIFY_RATE_LIMITS`` ("30/min": ``<count>/<sec|min|hour|day>``; empty: no limit).
Requests are counted per identity (the signed-in user, else the client address as
``core.security.client_ip`` sees it) on a fixed window in Django's cache, under keys that do not
depend on the door: 20 classifications on the site and 10 through the API are 30 of one count.
With ``REDIS_URL`` the cache, and so the count, is shared by every process; without it each
process counts on its own.

An unreachable cache lets requests through (and says so in the log): the limit protects the
model service, it must not take the site down with the cache.
"""
from __future__ import annotations

import logging
import math
import time
from functools import wraps

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.http import JsonResponse
from django.shortcuts import render
from django.utils.translation import ngettext

from .errors import error_payload
from .security import client_ip

logger = logging.getLogger(__name__)

PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}  # by the unit's first letter, as DRF reads rates
clock = time.time  # the windows' clock (tests stand it still)


class RateLimited(Exception):
    """Past the rate of ``scope``: ask again in ``retry_after`` seconds (at least 1)."""

    def __init__(self, scope: str, retry_after: int):
        self.scope = scope
        self.retry_after = retry_after
        super().__init__(f"{scope}: try again in {retry_after} s")

    @property
    def message(self) -> str:
        """For people, in the active language."""
        return ngettext(
            "Too many requests. Please try again in %(seconds)d second.",
            "Too many requests. Please try again in %(seconds)d seconds.",
            self.retry_after,
        ) % {"seconds": self.retry_after}

    @property
    def detail(self) -> dict:
        """For programs: the ``detail`` of the shared error shape."""
        return {"code": "throttled", "retry_after": self.retry_after}


def parse_rate(rate: str | None) -> tuple[int, int] | None:
    """``"30/min"`` → (30 requests, 60 seconds); ``""`` or None → None (no limit)."""
    if not rate:
        return None
    count, _slash, unit = str(rate).partition("/")
    try:
        return int(count), PERIODS[unit.strip().lower()[:1]]
    except (KeyError, ValueError):
        raise ImproperlyConfigured(f"a rate is '<count>/<sec|min|hour|day>', not {rate!r}") from None


def rate_limit(scope: str, identity: str) -> None:
    """Count one request of ``identity`` in ``scope``; past the scope's rate raise RateLimited."""
    try:
        rate = settings.CUALIFY_RATE_LIMITS[scope]
    except KeyError:
        raise ImproperlyConfigured(f"CUALIFY_RATE_LIMITS has no rate for the scope {scope!r}") from None
    parsed = parse_rate(rate)
    if parsed is None:
        return
    limit, period = parsed
    now = clock()
    window = int(now // period)
    left = max(1, math.ceil((window + 1) * period - now))
    key = f"ratelimit:{scope}:{period}:{window}:{identity}"
    try:
        count = _count(key, timeout=left + 1)
    except Exception:
        logger.warning("rate limit %r not applied: the cache is unavailable", scope, exc_info=True)
        return
    if count > limit:
        raise RateLimited(scope, left)


def _count(key: str, *, timeout: int) -> int:
    """One more request under ``key``: ``add`` creates the count atomically, ``incr`` raises it
    atomically (in Redis, and under the local memory cache's lock)."""
    if cache.add(key, 1, timeout=timeout):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # the window's count expired between the two calls
        cache.add(key, 1, timeout=timeout)
        return 1


def request_identity(request) -> str:
    """Whose requests count together, for a Django, DRF or Flask request: the signed-in user's
    (on every door and device), else those from the client's address."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    return f"ip:{client_ip(request) or 'unknown'}"


# --- the site's door -------------------------------------------------------------------------


def too_many_requests(request, limited: RateLimited):
    """The site's 429: the translated page, or the error shape for a caller that asks for JSON."""
    if request.get_preferred_type(["text/html", "application/json"]) == "application/json":
        response = JsonResponse(error_payload(limited.message, limited.detail), status=429)
    else:
        response = render(request, "429.html", {"message": limited.message}, status=429)
    response["Retry-After"] = str(limited.retry_after)
    return response


def rate_limit_response(request, scope: str):
    """None while ``request`` is within the rate of ``scope`` (it is counted), else the 429."""
    try:
        rate_limit(scope, request_identity(request))
    except RateLimited as limited:
        return too_many_requests(request, limited)
    return None


def rate_limited(scope: str, *, methods=("POST",)):
    """Site view decorator: each request of ``methods`` counts in ``scope`` before the view runs."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if request.method in methods:
                refused = rate_limit_response(request, scope)
                if refused is not None:
                    return refused
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
