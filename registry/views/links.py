"""URLs with query strings, as the pages and `registry/_pager.html` link them."""

from __future__ import annotations


def with_query(path: str, querystring: str) -> str:
    """`path?querystring`, or `path` alone when there is no query."""
    return f"{path}?{querystring}" if querystring else path


def pager_url(path: str, querystring: str = "") -> str:
    """The URL `registry/_pager.html` appends a page number to: `path?querystring&page=`."""
    return f"{path}?{querystring}&page=" if querystring else f"{path}?page="
