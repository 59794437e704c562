"""Logging in: wrong passwords in a row lock the account out from that address for a while,
and the page says so and for how long."""

from __future__ import annotations

import logging

import pytest
from django.test import Client
from django.urls import NoReverseMatch, reverse

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"


def try_password(client: Client, username: str, password: str, address: str = "10.0.0.1"):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=address)


def test_five_wrong_passwords_lock_the_account_from_that_address(
    client: Client, viewer, settings
) -> None:
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert try_password(client, viewer.username, "wrong").status_code == 200

    locked = try_password(client, viewer.username, "wrong")
    right_one = try_password(client, viewer.username, "password")

    for response in (locked, right_one):
        assert response.status_code == 429
        html = response.content.decode()
        assert "Login locked" in html
        assert "locked for 15 minutes" in html
    assert "_auth_user_id" not in client.session, "the right password did not get in"


def test_the_lockout_is_for_that_user_from_that_address_only(
    client: Client, viewer, janitor, settings
) -> None:
    for _ in range(settings.AXES_FAILURE_LIMIT):
        try_password(client, viewer.username, "wrong")

    other_address = try_password(Client(), viewer.username, "password", address="10.0.0.2")
    other_user = try_password(Client(), janitor.username, "password")

    assert other_address.status_code == 302
    assert other_user.status_code == 302


def test_failed_logins_are_logged_with_the_username(client: Client, viewer, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="axes"):
        try_password(client, viewer.username, "wrong")
    assert any(viewer.username in record.getMessage() for record in caplog.records)


def test_the_right_password_after_a_few_wrong_ones_still_works(client: Client, viewer) -> None:
    for _ in range(2):
        try_password(client, viewer.username, "wrong")
    assert try_password(client, viewer.username, "password").status_code == 302


def test_without_email_there_are_no_anonymous_password_reset_pages(client: Client) -> None:
    with pytest.raises(NoReverseMatch):
        reverse("password_reset")
    assert client.get("/accounts/password_reset/").status_code in (302, 404)
