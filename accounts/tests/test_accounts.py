import re

import pytest
from django.core import mail
from django.urls import reverse

from accounts.roles import make_curator, user_role
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_sign_up_logs_in_as_a_registered_user(client):
    response = client.post(reverse("accounts:signup"), {
        "username": "sari", "email": "sari@example.org", "password1": "kain-cual-merah-77", "password2": "kain-cual-merah-77",
    })
    assert response.status_code == 302 and response["Location"] == reverse("accounts:profile")
    client.cookies["cualify_language"] = "en"
    assert 'data-testid="role">Registered<' in client.get(reverse("accounts:profile")).content.decode()


def test_sign_up_with_a_taken_email_or_weak_password_says_why(client):
    UserFactory(email="ada@example.org")
    client.cookies["cualify_language"] = "en"
    html = client.post(reverse("accounts:signup"), {
        "username": "baru", "email": "ADA@example.org", "password1": "123", "password2": "123",
    }).content.decode()
    assert "An account with this e-mail already exists." in html
    assert "too short" in html


def test_login_and_logout(client):
    UserFactory(username="budi")
    response = client.post(reverse("login"), {"username": "budi", "password": "batik-cual-2026"})
    assert response.status_code == 302
    assert client.post(reverse("logout")).status_code == 302
    assert client.get(reverse("accounts:profile")).status_code == 302


def test_password_reset_sends_an_email_with_a_working_link(client):
    user = UserFactory(email="lupa@example.org")
    client.post(reverse("password_reset"), {"email": "lupa@example.org"})
    assert len(mail.outbox) == 1
    link = re.search(r"https?://[^/]+(/accounts/reset/\S+/)", mail.outbox[0].body).group(1)
    form_url = client.get(link, follow=True).redirect_chain[-1][0]
    client.post(form_url, {"new_password1": "bunga-kenanga-99", "new_password2": "bunga-kenanga-99"})
    user.refresh_from_db()
    assert user.check_password("bunga-kenanga-99")


def test_password_change(client):
    user = UserFactory()
    client.force_login(user)
    client.post(reverse("password_change"), {"old_password": "batik-cual-2026", "new_password1": "merak-emas-2027", "new_password2": "merak-emas-2027"})
    user.refresh_from_db()
    assert user.check_password("merak-emas-2027")


def test_roles(client):
    user = UserFactory()
    assert user_role(user) == "registered"
    make_curator(user)
    assert user_role(user) == "curator" and user.is_staff
    assert user_role(UserFactory(is_superuser=True, is_staff=True)) == "admin"
    from django.contrib.auth.models import AnonymousUser
    assert user_role(AnonymousUser()) == "visitor"
