"""Security pieces Django has no setting for: the Content-Security-Policy header, and
django-axes' lockout page and client address.

The policy is ``settings.CUALIFY_CSP``; a response that already carries a policy keeps it, so a
view that needs another one (e.g. an API documentation page) sets its own header, or is
decorated with ``csp_exempt``.
"""
import ipaddress
from functools import wraps

from django.conf import settings
from django.shortcuts import render

HEADER = "Content-Security-Policy"
REPORT_ONLY_HEADER = "Content-Security-Policy-Report-Only"


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        policy = settings.CUALIFY_CSP
        if not policy or getattr(response, "csp_exempt", False):
            return response
        header = REPORT_ONLY_HEADER if settings.CUALIFY_CSP_REPORT_ONLY else HEADER
        if HEADER not in response and REPORT_ONLY_HEADER not in response:
            response[header] = policy
        return response


def csp_exempt(view):
    """Send no Content-Security-Policy with this view's responses."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        response = view(*args, **kwargs)
        response.csp_exempt = True
        return response

    return wrapped


def lockout_response(request, original_response=None, credentials=None):
    """django-axes' answer to a locked-out log-in (``AXES_LOCKOUT_CALLABLE``): our translated
    page, with the wait in whole minutes, as 429 Too Many Requests."""
    from axes.helpers import get_cool_off, get_failure_limit

    cool_off = get_cool_off(request)
    context = {
        "failure_limit": get_failure_limit(request, credentials),
        "minutes": max(1, round(cool_off.total_seconds() / 60)) if cool_off else None,
    }
    return render(request, "registration/lockout.html", context, status=429)


def client_ip(request) -> str | None:
    """The visitor's address for django-axes: behind ``CUALIFY_PROXY_COUNT`` proxies, the
    X-Forwarded-For entry the outermost proxy appended (entries further left come from the client
    and can be forged); else the socket's address."""
    remote = request.META.get("REMOTE_ADDR")
    count = settings.CUALIFY_PROXY_COUNT
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if count <= 0 or len(forwarded) < count:
        return remote
    candidate = forwarded[-count]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote
