"""Brute force on the admin login: after AXES_FAILURE_LIMIT failed attempts the account
is locked out for that address, even with the right password, and says so."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.urls import reverse

pytestmark = [pytest.mark.django_db]

PASSWORD = "pw-for-tests-123"  # tests.factories.UserFactory's password


def attempt(client, username: str, password: str):  # type: ignore[no-untyped-def]
    return client.post(
        reverse("admin:login"),
        {"username": username, "password": password, "next": "/admin/"},
        HTTP_ACCEPT_LANGUAGE="en",
    )


def test_the_failure_limit_is_five():
    assert settings.AXES_FAILURE_LIMIT == 5


def test_repeated_failed_admin_logins_lock_the_account_out(client, park_user):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = attempt(client, park_user.username, "wrong-password")
        assert response.status_code == 200  # the login form again, with its error
    response = attempt(client, park_user.username, "wrong-password")
    assert response.status_code == 429
    assert "too many login attempts" in response.content.decode()

    # Locked out: even the right password does not get in.
    response = attempt(client, park_user.username, PASSWORD)
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/").status_code == 302


def test_fewer_failures_than_the_limit_still_let_the_right_password_in(client, park_user):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        attempt(client, park_user.username, "wrong-password")
    response = attempt(client, park_user.username, PASSWORD)
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(park_user.pk)


def test_a_locked_out_username_does_not_lock_out_colleagues(client, park_user, provincial_user):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        attempt(client, park_user.username, "wrong-password")
    response = attempt(client, provincial_user.username, PASSWORD)
    assert response.status_code == 302


def test_lockout_page_in_the_admin_style_explains_the_lock(client, park_user, settings):
    settings.AXES_LOCKOUT_TEMPLATE = "admin/lockout.html"
    for _ in range(settings.AXES_FAILURE_LIMIT):
        response = attempt(client, park_user.username, "wrong-password")
    assert response.status_code == 429
    body = response.content.decode()
    assert 'id="lockout-message"' in body
    assert "too many login attempts (5 failed attempts)" in body
    assert "try again later" in body


def test_the_per_address_limit_is_above_the_per_user_limit():
    assert settings.AXES_IP_FAILURE_LIMIT > settings.AXES_FAILURE_LIMIT


def test_an_address_spraying_several_usernames_is_locked_out(client, park_user, settings):
    """One guess per user name never reaches the per-user limit; the address still locks."""
    settings.AXES_IP_FAILURE_LIMIT = 8
    for n in range(settings.AXES_IP_FAILURE_LIMIT - 1):
        response = attempt(client, f"sprayed-{n}", "Winter2026!")
        assert response.status_code == 200, n
    response = attempt(client, "sprayed-last", "Winter2026!")
    assert response.status_code == 429

    # The whole address is locked, even for a real user with the right password.
    response = attempt(client, park_user.username, PASSWORD)
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_spraying_from_one_address_does_not_lock_another_address(client, park_user, settings):
    settings.AXES_IP_FAILURE_LIMIT = 6
    for n in range(settings.AXES_IP_FAILURE_LIMIT):
        attempt(client, f"sprayed-{n}", "Winter2026!")
    response = client.post(
        reverse("admin:login"),
        {"username": park_user.username, "password": PASSWORD, "next": "/admin/"},
        REMOTE_ADDR="10.9.8.7",
    )
    assert response.status_code == 302
