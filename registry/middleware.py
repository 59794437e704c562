"""HTMX requests from an expired session must redirect the whole page to the login."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django_htmx.http import HttpResponseClientRedirect
from django_htmx.middleware import HtmxDetails


def htmx_login_redirect(
    get_response: Callable[[HttpRequest], HttpResponse],
) -> Callable[[HttpRequest], HttpResponse]:
    def middleware(request: HttpRequest) -> HttpResponse:
        response = get_response(request)
        location = response.get("Location", "")
        htmx = getattr(request, "htmx", None)
        if htmx and response.status_code == 302 and location.startswith(settings.LOGIN_URL):
            # A plain 302 would swap the login page into the partial's target. After the
            # login the user comes back to the page they were on, not to the URL the
            # request went to: that may be a POST-only action, or a bare region.
            return HttpResponseClientRedirect(redirect_to_login(_page_of(request, htmx)).url)
        return response

    return middleware


def _page_of(request: HttpRequest, htmx: HtmxDetails) -> str:
    """The page an HTMX request came from (HX-Current-URL, on this site only)."""
    current = htmx.current_url_abs_path
    if current:
        return current
    return request.get_full_path() if request.method == "GET" else "/"
