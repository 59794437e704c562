"""Steps the browser tests share."""

from __future__ import annotations


def log_in(page, live_server, user) -> None:
    """Log in through the login form, as a person would (every test user's password is
    "password")."""
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill("password")
    page.get_by_role("button", name="Log in").click()
