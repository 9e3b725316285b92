"""The site's URLs plus a view that fails, for the test of the 500 page."""
from django.urls import path

from cualify.urls import urlpatterns as site_urlpatterns


def fail(request):
    raise RuntimeError("secret detail: password=hunter2 at /srv/cualify/settings.py")


urlpatterns = [path("fail/", fail), *site_urlpatterns]
