from __future__ import annotations

from django.http import HttpRequest, HttpResponse


def selection_page(request: HttpRequest, name: str) -> HttpResponse:
    raise NotImplementedError


def toggle_tag(request: HttpRequest, name: str) -> HttpResponse:
    raise NotImplementedError


def select_page(request: HttpRequest, name: str) -> HttpResponse:
    raise NotImplementedError


def select_matching(request: HttpRequest, name: str) -> HttpResponse:
    raise NotImplementedError


def clear(request: HttpRequest, name: str) -> HttpResponse:
    raise NotImplementedError
