"""API tokens: one per user, made and revoked by the user on their account page (admins can
also do both in the admin). The key is shown once, when it is made."""
from __future__ import annotations

from django.db import transaction
from rest_framework.authtoken.models import Token


def api_token_create(*, user) -> Token:
    """A new token for ``user``; any earlier one stops working at once."""
    with transaction.atomic():
        Token.objects.filter(user=user).delete()
        return Token.objects.create(user=user)


def api_token_revoke(*, user) -> bool:
    deleted, _rows = Token.objects.filter(user=user).delete()
    return bool(deleted)


def api_token_of(*, user) -> Token | None:
    return Token.objects.filter(user=user).first()
