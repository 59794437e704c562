"""Template filters of the dashboard's own."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from django import template
from django.utils import timezone
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.timesince import timesince

from registry import audit
from registry.models import DeletionBatch

register = template.Library()


@register.filter
def lockout_duration(value: timedelta) -> str:
    """ "15 minutes", "1 hour", "1 hour 30 minutes"."""
    minutes = max(round(value.total_seconds() / 60), 1)
    hours, minutes = divmod(minutes, 60)
    parts = []
    if hours:
        parts.append(f"{hours} hour{'s' if hours != 1 else ''}")
    if minutes:
        parts.append(f"{minutes} minute{'s' if minutes != 1 else ''}")
    return " ".join(parts)


@register.filter
def outcome_summary(batch: DeletionBatch) -> str:
    """ "3 deleted · 1 already absent · 2 failed" for a finished batch, else ""."""
    return audit.outcome_summary(batch)


JUST_NOW = "just now"


@register.filter
def ago(value: datetime | None) -> str:
    """ "just now" within a minute (never "0 minutes ago"), else "3 hours ago"."""
    if value is None:
        return ""
    if timezone.now() - value < timedelta(minutes=1):
        return JUST_NOW
    return f"{timesince(value)} ago"


# Where a long tag or repository name may wrap: browsers break after a hyphen on their
# own, not after these.
_SEPARATORS = re.compile(r"([_./:@])")


@register.filter
def breakable(value: str) -> SafeString:
    """The text, escaped, with a line-break opportunity (<wbr>) after each `_ . / : @`:
    `build_2024.06.01` wraps at its parts on a phone, not at the cell's edge."""
    return mark_safe(_SEPARATORS.sub(r"\1<wbr>", str(conditional_escape(value))))
