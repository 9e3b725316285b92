from django.urls import path

from . import views

urlpatterns = [
    path("", views.generate, name="generate"),
    path("history/", views.history, name="generate_history"),
    path("jobs/<uuid:public_id>/", views.job_page, name="generate_job"),
    path("jobs/<uuid:public_id>/status/", views.job_status, name="generate_job_status"),
    path("jobs/<uuid:public_id>/cancel/", views.job_cancel, name="generate_job_cancel"),
    path("jobs/<uuid:public_id>/reference/", views.reference_file, name="generate_reference"),
    path("jobs/<uuid:public_id>/<int:index>.png", views.image_file, name="generate_image"),
    path("jobs/<uuid:public_id>/<int:index>/repeat.png", views.image_repeat, name="generate_image_repeat"),
    path("jobs/<uuid:public_id>/<int:index>/print/", views.image_print, name="generate_image_print"),
    path("prints/<uuid:public_id>/", views.print_page, name="generate_print"),
    path("prints/<uuid:public_id>/status/", views.print_status, name="generate_print_status"),
    path("prints/<uuid:public_id>/cancel/", views.print_cancel, name="generate_print_cancel"),
    path("prints/<uuid:public_id>/<str:which>.png", views.print_file, name="generate_print_file"),
    path("jobs/<uuid:public_id>/<int:index>/classify/", views.image_classify, name="generate_image_classify"),
    path("jobs/<uuid:public_id>/<int:index>/reference/", views.image_as_reference, name="generate_image_reference"),
    path("jobs/<uuid:public_id>/<int:index>/promote/", views.image_promote, name="generate_image_promote"),
    path("images/<int:pk>/admin.png", views.job_image, name="generate_admin_image"),
]
