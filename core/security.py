"""Security pieces Django has no setting for: the Content-Security-Policy header, the header
set of a response for a door that is not Django (``security_headers``), the client's address and
the request's scheme behind proxies (for a Django request or a WSGI environ alike), and
django-axes' lockout page.

The policy is ``settings.CUALIFY_CSP``; a response that already carries a policy keeps it, so a
view that needs another one (e.g. an API documentation page) sets its own header, or is
decorated with ``csp_exempt``.
"""
import ipaddress
from functools import wraps

from django.conf import settings
from django.http import HttpRequest
from django.shortcuts import render

HEADER = "Content-Security-Policy"
REPORT_ONLY_HEADER = "Content-Security-Policy-Report-Only"


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        policy = content_security_policy()
        if policy is None or getattr(response, "csp_exempt", False):
            return response
        if HEADER not in response and REPORT_ONLY_HEADER not in response:
            response[policy[0]] = policy[1]
        return response


def content_security_policy() -> tuple[str, str] | None:
    """(header, policy) from the settings, or None when no policy is configured."""
    policy = settings.CUALIFY_CSP
    if not policy:
        return None
    return (REPORT_ONLY_HEADER if settings.CUALIFY_CSP_REPORT_ONLY else HEADER), policy


def security_headers(*, secure: bool) -> dict[str, str]:
    """The security headers of a response, from the settings the site uses, for a door that
    Django's middleware does not serve (the Flask-compatible service). On the site
    SecurityMiddleware, XFrameOptionsMiddleware and ContentSecurityPolicyMiddleware set them by
    the same rules (tests/test_security_headers.py keeps both doors equal). ``secure``: the
    request came over HTTPS (``request_is_secure``), the only case that gets HSTS."""
    policy = content_security_policy()
    headers = dict([policy]) if policy else {}
    if settings.SECURE_CONTENT_TYPE_NOSNIFF:
        headers["X-Content-Type-Options"] = "nosniff"
    referrer = settings.SECURE_REFERRER_POLICY
    if referrer:
        values = [value.strip() for value in referrer.split(",")] if isinstance(referrer, str) else referrer
        headers["Referrer-Policy"] = ",".join(values)
    if settings.SECURE_CROSS_ORIGIN_OPENER_POLICY:
        headers["Cross-Origin-Opener-Policy"] = settings.SECURE_CROSS_ORIGIN_OPENER_POLICY
    headers["X-Frame-Options"] = settings.X_FRAME_OPTIONS.upper()
    if secure and settings.SECURE_HSTS_SECONDS:
        hsts = f"max-age={settings.SECURE_HSTS_SECONDS}"
        if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
            hsts += "; includeSubDomains"
        if settings.SECURE_HSTS_PRELOAD:
            hsts += "; preload"
        headers["Strict-Transport-Security"] = hsts
    return headers


def _environ(request):
    """The request's CGI-style keys (REMOTE_ADDR, HTTP_X_FORWARDED_FOR, wsgi.url_scheme, ...): a
    Django request's META, a Flask request's WSGI environ, or a WSGI environ itself."""
    for name in ("META", "environ"):
        keys = getattr(request, name, None)
        if keys is not None:
            return keys
    return request


def request_is_secure(request) -> bool:
    """Django's rule (``HttpRequest.scheme``) for a Django request, a Flask request or a WSGI
    environ: the SECURE_PROXY_SSL_HEADER when the proxy sent it, else the connection's scheme."""
    if isinstance(request, HttpRequest):
        return request.is_secure()
    environ = _environ(request)
    if settings.SECURE_PROXY_SSL_HEADER:
        header, secure_value = settings.SECURE_PROXY_SSL_HEADER
        value = environ.get(header)
        if value is not None:
            return value.split(",", 1)[0].strip() == secure_value
    return environ.get("wsgi.url_scheme") == "https"


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
    """The visitor's address (django-axes' lockout, the rate limits of ``core.throttles``), for a
    Django request, a Flask request or a WSGI environ: behind ``CUALIFY_PROXY_COUNT`` proxies, the
    X-Forwarded-For entry the outermost proxy appended (entries further left come from the client
    and can be forged); else the socket's address."""
    environ = _environ(request)
    remote = environ.get("REMOTE_ADDR")
    count = settings.CUALIFY_PROXY_COUNT
    forwarded = [part.strip() for part in environ.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if count <= 0 or len(forwarded) < count:
        return remote
    candidate = forwarded[-count]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote
