"""The request headers HTMX adds, as keyword arguments for Django's test client."""

from __future__ import annotations

from typing import Any

# `Any`: the test client's methods take these alongside typed keyword arguments.
HTMX: dict[str, Any] = {"HTTP_HX_REQUEST": "true"}
