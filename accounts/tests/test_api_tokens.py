"""API tokens: made on the account page (shown once), used, replaced, revoked; admins manage
them in the admin, curators cannot."""
import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token

from tests.api_fixtures import client_for  # noqa: F401
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    client.cookies["cualify_language"] = "en"
    return client


def me(key):
    client = client_for()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client.get("/api/v1/me/")


def test_token_lifecycle_make_on_the_profile_use_replace_and_revoke():
    user = UserFactory()
    page = signed_in(user)
    assert "You have no token." in page.get(reverse("accounts:profile")).content.decode()

    made = page.post(reverse("accounts:api_token_create"))
    assert made.status_code == 200 and made["Cache-Control"] == "no-store"
    key = Token.objects.get(user=user).key
    assert f'<code data-testid="api-token">{key}</code>' in made.content.decode()
    assert me(key).json() == {"authenticated": True, "username": user.username, "role": "registered"}
    # Shown once: the page afterwards says a token exists, never what it is.
    later = page.get(reverse("accounts:profile")).content.decode()
    assert "You have a token, made on" in later and key not in later

    page.post(reverse("accounts:api_token_create"))
    new_key = Token.objects.get(user=user).key
    assert new_key != key and me(key).status_code == 401 and me(new_key).status_code == 200

    revoked = page.post(reverse("accounts:api_token_revoke"), follow=True)
    assert "Your API token was revoked" in revoked.content.decode()
    response = me(new_key)
    assert response.status_code == 401 and response.json() == {
        "error": "Invalid token.", "detail": {"code": "authentication_failed"}}
    assert not Token.objects.filter(user=user).exists()


def test_token_forms_need_post_a_csrf_token_and_a_signed_in_user():
    user = UserFactory()
    assert signed_in(user).get(reverse("accounts:api_token_create")).status_code == 405
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user)
    assert strict.post(reverse("accounts:api_token_create")).status_code == 403
    anonymous = Client().post(reverse("accounts:api_token_create"))
    assert anonymous.status_code == 302 and reverse("login") in anonymous["Location"]
    assert not Token.objects.exists()


def test_admins_manage_tokens_in_the_admin_and_curators_cannot(admin_client):
    user = UserFactory()
    token = Token.objects.create(user=user)
    changelist = reverse("admin:authtoken_tokenproxy_changelist")
    assert user.username in admin_client.get(changelist).content.decode()
    delete = reverse("admin:authtoken_tokenproxy_delete", args=[user.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 302
    assert not Token.objects.filter(key=token.key).exists()
    add = reverse("admin:authtoken_tokenproxy_add")
    assert admin_client.post(add, {"user": user.pk}).status_code == 302
    assert Token.objects.filter(user=user).exists()
    assert signed_in(UserFactory(curator=True)).get(changelist).status_code == 403
