import posixpath

from django.conf import settings
from django.http import Http404
from django.views.static import serve

# Media that is never public: visitors' uploads (served by their own views after a permission
# check) and model files.
PRIVATE_MEDIA = ("uploads/", "models/")


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
    tests that point MEDIA_ROOT elsewhere are served from there)."""
    if is_private_media(path):
        raise Http404
    return serve(request, path, document_root=settings.MEDIA_ROOT)
