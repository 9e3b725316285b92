from django.urls import path

from . import views

urlpatterns = [
    path("", views.classify, name="classify"),
    path("<uuid:public_id>/", views.classify_result, name="classify_result"),
    path("<uuid:public_id>/status/", views.classify_status, name="classify_status"),
    path("<uuid:public_id>/photo/", views.classify_photo, name="classify_photo"),
    path("<uuid:public_id>/saliency/", views.classify_saliency, name="classify_saliency"),
    path("<uuid:public_id>/saliency.jpg", views.classify_saliency_image, name="classify_saliency_image"),
    path("<uuid:public_id>/correct/", views.classify_correct, name="classify_correct"),
]
