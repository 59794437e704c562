from __future__ import annotations

from django.http import HttpRequest, HttpResponse


def edit_rules(request: HttpRequest, name: str) -> HttpResponse:
    raise NotImplementedError
