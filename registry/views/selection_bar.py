"""The selection bar (`registry/_selection_bar.html`) on every page that lists tags."""

from __future__ import annotations

from typing import Any

from registry import selection
from registry.models import Registry

from .access import HtmxHttpRequest


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
