from __future__ import annotations

from django.http import HttpRequest, HttpResponse


def repository_list(request: HttpRequest, name: str) -> HttpResponse:
    raise NotImplementedError
