from django.conf import settings
from django.views.static import serve


def media(request, path):
    """Local runs only: archive media straight from MEDIA_ROOT (read per request, so tests
    that point MEDIA_ROOT elsewhere are served from there)."""
    return serve(request, path, document_root=settings.MEDIA_ROOT)
