from django.urls import include, path

from . import views

app_name = "accounts"

urlpatterns = [
    path("signup/", views.signup, name="signup"),
    path("profile/", views.profile, name="profile"),
]

# Django's own log-in, log-out and password views, with our templates (registration/*.html).
auth_urlpatterns = [path("", include("django.contrib.auth.urls"))]
