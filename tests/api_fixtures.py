"""Fixtures for the REST API tests: clients per role (token authentication, English), and a
the throttle counts start clean for every test (the shared conftest). Import the ones a module
uses: ``from tests.api_fixtures import api, api_as  # noqa: F401``."""
import pytest
from django.contrib.auth.models import AnonymousUser
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.factories import UserFactory

ROLES = ("anonymous", "user", "curator", "admin")


def client_for(user=None, language: str = "en") -> APIClient:
    """An API client reading ``language``; with ``user``, authenticated by their token."""
    client = APIClient(HTTP_ACCEPT_LANGUAGE=language)
    if user is not None and user.is_authenticated:
        token, _created = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def user_for(role: str):
    if role == "anonymous":
        return AnonymousUser()
    if role == "admin":
        return UserFactory(is_staff=True, is_superuser=True)
    return UserFactory(curator=role == "curator")


@pytest.fixture
def api(db) -> APIClient:
    """An anonymous client (no session until the API makes one)."""
    return client_for()


@pytest.fixture
def api_as(db):
    """``api_as("curator")`` → (client, user) for a fresh user of that role (or a given user)."""

    def make(role_or_user):
        user = user_for(role_or_user) if isinstance(role_or_user, str) else role_or_user
        return client_for(user), user

    return make
