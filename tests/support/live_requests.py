"""Requests the live server is still answering, so a test can wait for them before teardown.

A registry's notifications reach the live server on its own threads. Should one still be
writing when the test ends, PostgreSQL's TRUNCATE at teardown deadlocks with it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

_lock = threading.Lock()
_in_flight = 0


class CountRequestsInFlight:
    """Test-only middleware: counts the requests being answered."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        global _in_flight
        with _lock:
            _in_flight += 1
        try:
            return self.get_response(request)
        finally:
            with _lock:
                _in_flight -= 1


def wait_for_no_requests_in_flight(timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while _in_flight and time.monotonic() < deadline:
        time.sleep(0.02)
    if _in_flight:
        raise AssertionError(f"The live server still answers {_in_flight} request(s).")
