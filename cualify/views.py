from django.conf import settings
from django.http import Http404
from django.views.static import serve

# Media that is never public: visitors' uploads (served by their own views after a permission
# check) and model files.
PRIVATE_MEDIA = ("uploads/", "models/")


def media(request, path):
    """Local runs only: public archive media straight from MEDIA_ROOT (read per request, so
    tests that point MEDIA_ROOT elsewhere are served from there)."""
    if path.lstrip("/").startswith(PRIVATE_MEDIA):
        raise Http404
    return serve(request, path, document_root=settings.MEDIA_ROOT)
