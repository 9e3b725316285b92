from django.urls import include, path

from . import views

app_name = "accounts"

urlpatterns = [
    path("signup/", views.signup, name="signup"),
    path("profile/", views.profile, name="profile"),
    path("profile/api-token/", views.api_token_create, name="api_token_create"),
    path("profile/api-token/revoke/", views.api_token_revoke, name="api_token_revoke"),
]

# Django's own log-in, log-out and password views, with our templates (registration/*.html).
auth_urlpatterns = [path("", include("django.contrib.auth.urls"))]
