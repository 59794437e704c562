"""`make demo` configures its registry to notify its web server: a new user sees "live"."""

from __future__ import annotations

import re
import time

import pytest
import requests

from tests.test_demo import RunningDemo, demo  # noqa: F401  (the fixture)

pytestmark = pytest.mark.slow


def test_the_demo_dashboard_is_live(demo: RunningDemo) -> None:  # noqa: F811
    session = requests.Session()
    login_url = f"{demo.web_url}/accounts/login/"
    session.get(login_url, timeout=10)
    session.post(
        login_url,
        data={
            "username": "demo",
            "password": demo.password(),
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
        },
        timeout=10,
    )

    deadline = time.monotonic() + 60
    while not re.search(
        r"live \(last event \d+ s ago\)", page := session.get(demo.web_url, timeout=10).text
    ):
        assert time.monotonic() < deadline, page[-3000:]
        time.sleep(0.5)
    assert (
        "Registry configuration"
        in session.get(f"{demo.web_url}/registries/demo/notifications/", timeout=10).text
    )
