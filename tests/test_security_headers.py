"""The Flask-compatible service sends the site's security headers: for the same settings, the
same request to ``/health`` on the site (Django's SecurityMiddleware, XFrameOptionsMiddleware,
our CSP middleware) and on compat (``core.security.security_headers``) carries identical values,
HSTS included when the request is secure."""
import pytest
from django.test import Client

from compat.app import create_app

HEADERS = (
    "Content-Security-Policy", "Content-Security-Policy-Report-Only", "X-Content-Type-Options", "Referrer-Policy",
    "Cross-Origin-Opener-Policy", "X-Frame-Options", "Strict-Transport-Security",
)
HSTS = "Strict-Transport-Security"


@pytest.fixture
def production(settings):
    """The deployment settings of CUALIFY_ENV=production that decide the headers."""
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = True
    return settings


def both(path="/health", *, https=False, forwarded_proto=None):
    """(site headers, compat headers) of one GET, over HTTPS or through a proxy that says so.
    Clients are made here, after the test's settings: Django's middleware reads them once."""
    extra, headers = {}, {}
    if forwarded_proto:
        extra["HTTP_X_FORWARDED_PROTO"] = headers["X-Forwarded-Proto"] = forwarded_proto
    site = Client().get(path, secure=https, **extra)
    compat = create_app().test_client().get(path, headers=headers, base_url=f"{'https' if https else 'http'}://localhost")
    return site.headers, compat.headers


def assert_same(site, compat):
    for name in HEADERS:
        assert site.get(name) == compat.get(name), name


@pytest.mark.parametrize("how", ["https", "proxy"])
def test_health_carries_the_same_headers_on_the_site_and_compat_in_production(db, production, how):
    site, compat = both(https=how == "https", forwarded_proto="https" if how == "proxy" else None)
    assert_same(site, compat)
    assert compat[HSTS] == "max-age=31536000; includeSubDomains; preload"
    assert compat["X-Content-Type-Options"] == "nosniff" and compat["X-Frame-Options"] == "DENY"
    assert compat["Referrer-Policy"] == compat["Cross-Origin-Opener-Policy"] == "same-origin"
    assert "script-src 'self'" in compat["Content-Security-Policy"]


@pytest.mark.parametrize("forwarded_proto", [None, "http"])
def test_plain_http_gets_no_hsts_on_either_door(db, production, forwarded_proto):
    site, compat = both(forwarded_proto=forwarded_proto)
    assert_same(site, compat)
    assert HSTS not in compat and "Content-Security-Policy" in compat


def test_a_forged_proto_header_without_a_trusted_proxy_gets_no_hsts(db, settings):
    settings.SECURE_HSTS_SECONDS = 3600
    site, compat = both(forwarded_proto="https")
    assert_same(site, compat)
    assert HSTS not in compat
    site, compat = both(https=True)
    assert_same(site, compat)
    assert compat[HSTS] == "max-age=3600"


def test_other_settings_change_both_doors_alike(db, settings):
    settings.CUALIFY_CSP = "default-src 'none'"
    settings.CUALIFY_CSP_REPORT_ONLY = True
    settings.SECURE_REFERRER_POLICY = "no-referrer, strict-origin"
    settings.SECURE_CROSS_ORIGIN_OPENER_POLICY = None
    settings.SECURE_CONTENT_TYPE_NOSNIFF = False
    settings.X_FRAME_OPTIONS = "sameorigin"
    site, compat = both()
    assert_same(site, compat)
    assert compat["Content-Security-Policy-Report-Only"] == "default-src 'none'" and "Content-Security-Policy" not in compat
    assert compat["Referrer-Policy"] == "no-referrer,strict-origin" and compat["X-Frame-Options"] == "SAMEORIGIN"
    assert "X-Content-Type-Options" not in compat and "Cross-Origin-Opener-Policy" not in compat


def test_compat_errors_carry_the_headers_too(db, production):
    site, compat = both("/no-such-address", https=True)
    assert_same(site, compat)
    assert compat[HSTS] and compat["Content-Security-Policy"]
