"""Reading a page's HTML in view tests."""

from __future__ import annotations

import re


def captured(pattern: str, html: str) -> str:
    """The first group of `pattern` in `html` (dot matches newlines); the test fails if absent."""
    match = re.search(pattern, html, re.S)
    assert match, f"{pattern!r} is not on the page"
    return match.group(1)
