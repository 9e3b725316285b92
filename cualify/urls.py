from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from django.utils.translation import gettext_lazy as _

from accounts.urls import auth_urlpatterns
from cualify import api_urls
from inference import health
from core.media import media
from inference.privacy import views as privacy_views
from motifs import views as motif_views

admin.site.site_header = _("Cualify curation")
admin.site.site_title = _("Cualify curation")
admin.site.index_title = _("Batik Cual archive")

urlpatterns = [
    path("", motif_views.home, name="home"),
    path("history/", motif_views.content_page, {"slug": "history"}, name="history"),
    path("about/", motif_views.content_page, {"slug": "about"}, name="about"),
    path("classify/", include("inference.classification.urls")),
    path("generate/", include("inference.generation.urls")),
    path("gallery/", include("motifs.urls")),
    path("privacy/", privacy_views.my_data, name="privacy"),
    path("accounts/", include("accounts.urls")),
    path("accounts/", include(auth_urlpatterns)),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("api/v1/", include((api_urls.urlpatterns, "api"))),
    path("api/", include(api_urls.docs_urlpatterns)),
    path("health", health.health, name="health"),
    path("ready", health.ready, name="ready"),
]

if settings.SERVE_MEDIA:
    # Local runs only; production serves media from the web server or object storage.
    urlpatterns += [re_path(r"^media/(?P<path>.*)$", media)]
