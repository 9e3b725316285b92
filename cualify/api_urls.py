"""The REST API: ``/api/v1/`` (``urlpatterns``, namespace "api") and, under ``/api/``, the
OpenAPI schema, its Swagger UI and ReDoc pages (from drf-spectacular-sidecar's local static
files, never a CDN) and a JSON 404 for any other address (``docs_urlpatterns``)."""
from django.conf import settings
from django.urls import path, re_path
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView
from rest_framework.routers import SimpleRouter

from accounts.api import MeView
from inference import api as inference_api
from motifs import api as motif_api

from core.api import not_found


class SwaggerView(SpectacularSwaggerSplitView):
    """Swagger UI with its start-up script served as a file (the site's policy allows no inline
    script)."""


class RedocView(SpectacularRedocView):
    """ReDoc, which runs its search in a worker made from a blob: URL."""

    template_name = "api/redoc.html"

    @extend_schema(exclude=True)
    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        if getattr(settings, "CUALIFY_CSP", ""):
            response["Content-Security-Policy"] = f"{settings.CUALIFY_CSP}; worker-src 'self' blob:"
        return response


router = SimpleRouter(use_regex_path=False)
router.register("motifs", motif_api.MotifViewSet, basename="motif")
router.register("owners", motif_api.OwnerViewSet, basename="owner")
router.register("collections", motif_api.CollectionViewSet, basename="collection")
router.register("images", motif_api.MotifImageViewSet, basename="image")
router.register("classifications", inference_api.ClassificationViewSet, basename="classification")
router.register("jobs", inference_api.JobViewSet, basename="job")
router.register("models", inference_api.ModelVersionViewSet, basename="model")

urlpatterns = [
    path("classify/", inference_api.ClassifyView.as_view(), name="classify"),
    path("generate/", inference_api.GenerateView.as_view(), name="generate"),
    path("jobs/<uuid:public_id>/images/<int:index>.png", inference_api.JobImageView.as_view(), name="job-image"),
    path("jobs/<uuid:public_id>/images/<int:index>/print/", inference_api.PrintView.as_view(), name="print"),
    path("prints/<uuid:public_id>/", inference_api.PrintJobView.as_view(), name="print-detail"),
    path("prints/<uuid:public_id>/<str:which>.png", inference_api.PrintFileView.as_view(), name="print-file"),
    path("me/", MeView.as_view(), name="me"),
    *router.urls,
]

docs_urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("redoc/", RedocView.as_view(url_name="api-schema"), name="api-redoc"),
    re_path(r"^", not_found),
]
