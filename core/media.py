"""``/media/`` for local runs. In production the web server serves MEDIA_ROOT and applies none
of the rules below but the ones it is configured with (the README says which)."""
import posixpath
from collections.abc import Callable

from django.conf import settings
from django.http import Http404, HttpRequest
from django.views.static import serve

# Media that is never public: visitors' uploads (served by their own views after a permission
# check) and model files.
PRIVATE_MEDIA = ("uploads/", "models/")

MediaGuard = Callable[[HttpRequest, str], bool]
# (folder prefix, guard): apps say who may have which of their files (core knows no app).
_guards: list[tuple[str, MediaGuard]] = []


def register_media_guard(prefix: str, guard: MediaGuard) -> None:
    """Files under ``prefix`` (e.g. ``"archive/"``) are served only when ``guard(request, path)``
    says yes; ``path`` is the normalised name under MEDIA_ROOT, as ``serve`` resolves it. Call it
    from an app's ``ready()``; registering the same guard twice changes nothing."""
    prefix = prefix.lstrip("/").lower()
    if (prefix, guard) not in _guards:
        _guards.append((prefix, guard))


def is_private_media(path: str) -> bool:
    """Checked on the path as ``serve`` will resolve it: ``./uploads/...`` and
    ``archive/../uploads/...`` are uploads too. Hidden names (a restore's staging folder) are
    never served either."""
    resolved = posixpath.normpath(path.replace("\\", "/")).lstrip("/").lower()
    return resolved.startswith(PRIVATE_MEDIA) or resolved in ("uploads", "models") or any(
        part.startswith(".") for part in resolved.split("/")
    )


def media(request, path):
    """Local runs only: public archive media straight from MEDIA_ROOT (read per request, so
    tests that point MEDIA_ROOT elsewhere are served from there), each file past the guards
    registered for its folder."""
    if is_private_media(path):
        raise Http404
    resolved = posixpath.normpath(path.replace("\\", "/")).lstrip("/")
    if any(resolved.lower().startswith(prefix) and not guard(request, resolved) for prefix, guard in _guards):
        raise Http404
    return serve(request, path, document_root=settings.MEDIA_ROOT)
