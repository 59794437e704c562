from __future__ import annotations

from django.http import HttpRequest, HttpResponse


def tag_list(request: HttpRequest, name: str) -> HttpResponse:
    raise NotImplementedError


def stale_tags(request: HttpRequest, name: str) -> HttpResponse:
    raise NotImplementedError


def tag_detail(request: HttpRequest, pk: int) -> HttpResponse:
    raise NotImplementedError
