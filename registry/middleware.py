"""HTMX requests from an expired session must redirect the whole page to the login."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django_htmx.http import HttpResponseClientRedirect


def htmx_login_redirect(
    get_response: Callable[[HttpRequest], HttpResponse],
) -> Callable[[HttpRequest], HttpResponse]:
    def middleware(request: HttpRequest) -> HttpResponse:
        response = get_response(request)
        location = response.get("Location", "")
        if (
            getattr(request, "htmx", False)
            and response.status_code == 302
            and location.startswith(settings.LOGIN_URL)
        ):
            # A plain 302 would swap the login page into the partial's target.
            return HttpResponseClientRedirect(location)
        return response

    return middleware
