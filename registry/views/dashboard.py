from __future__ import annotations

from django.http import HttpRequest, HttpResponse


def dashboard(request: HttpRequest) -> HttpResponse:  # placeholder until the page lands
    return HttpResponse("Registry Janitor")


def sync_now(request: HttpRequest, name: str) -> HttpResponse:
    raise NotImplementedError


def sync_status(request: HttpRequest, name: str) -> HttpResponse:
    raise NotImplementedError
