"""Reading a page's HTML in view tests."""

from __future__ import annotations

import re
from html import unescape

# A name's text, with the line-break opportunities (<wbr>) it may hold.
NAME = r"((?:[^<]|<wbr>)+)"
TAG_NAME_CELL = re.compile(rf'<td class="tag-name"><a [^>]*>{NAME}</a>')


def name_text(html: str) -> str:
    """The name a cell's HTML shows."""
    return unescape(html.replace("<wbr>", ""))


def captured(pattern: str, html: str) -> str:
    """The first group of `pattern` in `html` (dot matches newlines); the test fails if absent."""
    match = re.search(pattern, html, re.S)
    assert match, f"{pattern!r} is not on the page"
    return match.group(1)


def listed_tags(html: str) -> list[str]:
    """The tag names in a tag table's rows, in order."""
    return [name_text(name) for name in TAG_NAME_CELL.findall(html)]


def row_of(html: str, tag: str) -> str:
    """The tag table's row of the tag named `tag`."""
    cell = next(m for m in TAG_NAME_CELL.finditer(html) if name_text(m.group(1)) == tag)
    start = html.rindex("<tr", 0, cell.start())
    return html[start : html.index("</tr>", cell.end())]
