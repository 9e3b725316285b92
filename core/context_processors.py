"""Values every template needs."""
from django.conf import settings


def site(request):
    return {"LANGUAGE_CHOICES": settings.LANGUAGES, "SITE_NAME": "Cualify"}
