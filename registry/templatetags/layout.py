"""Template filters for how text breaks on narrow screens."""

from __future__ import annotations

import re

from django import template
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

# Where an image's name may break: after its separators (review-login-12, acme/web, v1.2).
SEPARATORS = re.compile(r"([-_./:@])")


@register.filter(needs_autoescape=True)
def wrap_at_separators(value: object, autoescape: bool = True) -> SafeString:
    """The text, escaped, with a line-break opportunity (<wbr>) after each separator, so a
    long tag name wraps between its words and never a few letters a line."""
    text = str(conditional_escape(value) if autoescape else value)
    # Escaping makes entities (&amp; &#x27;) that hold none of the separators.
    return mark_safe(SEPARATORS.sub(r"\1<wbr>", text))
