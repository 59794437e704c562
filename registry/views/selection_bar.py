"""The selection bar (`registry/_selection_bar.html`) on every page that lists tags."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User

from registry import selection
from registry.models import Registry
from registry.roles import ADMINS, DELETE_PERMISSION, JANITORS

from .access import HtmxHttpRequest

# Said where the selection controls would be, to those who may not delete.
WHO_CAN_DELETE = (
    f"Only {JANITORS.lower()} and {ADMINS.lower()} can select and delete images: "
    "ask one of them to clean up."
)


def may_select(user: User) -> bool:
    """Whether the tag pages show their selection controls: only to those who may delete,
    since a selection is only good for planning a deletion."""
    return user.has_perm(DELETE_PERMISSION)


def bar_context(
    request: HtmxHttpRequest,
    registry: Registry,
    *,
    message: str = "",
    error: bool = False,
    summary: selection.SelectionSummary | None = None,
) -> dict[str, Any]:
    """What `registry/_selection_bar.html` needs, for any page that includes it."""
    if summary is None:
        summary = selection.selection_summary(user=request.user, registry=registry)
    return {
        "registry": registry,
        "selection": summary,
        "selection_message": message,
        "selection_message_is_error": error,
        "selection_size_note": selection.SIZE_COUNTS_EACH_IMAGE_ONCE,
        "selection_max": selection.MAX_SELECTED_TAGS,
    }
