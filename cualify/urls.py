from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from django.utils.translation import gettext_lazy as _

from accounts.urls import auth_urlpatterns
from cualify.views import media
from motifs import views as motif_views

admin.site.site_header = _("Cualify curation")
admin.site.site_title = _("Cualify curation")
admin.site.index_title = _("Batik Cual archive")

urlpatterns = [
    path("", motif_views.home, name="home"),
    path("history/", motif_views.content_page, {"slug": "history"}, name="history"),
    path("about/", motif_views.content_page, {"slug": "about"}, name="about"),
    path("classify/", include("inference.urls")),
    path("generate/", include("inference.generate_urls")),
    path("gallery/", include("motifs.urls")),
    path("accounts/", include("accounts.urls")),
    path("accounts/", include(auth_urlpatterns)),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
]

if settings.SERVE_MEDIA:
    # Local runs only; production serves media from the web server or object storage.
    urlpatterns += [re_path(r"^media/(?P<path>.*)$", media)]
