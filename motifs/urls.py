from django.urls import path

from . import views

app_name = "motifs"

urlpatterns = [
    path("", views.gallery, name="gallery"),
    path("<slug:slug>/", views.motif_detail, name="detail"),
]
