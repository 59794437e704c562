"""Long lists in bounded pieces: one bulk SQL statement, or one round of requests, each."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")

WRITE_CHUNK = 500  # rows per bulk statement: well under SQLite's variable limit


def chunks(items: list[T], size: int = WRITE_CHUNK) -> Iterator[list[T]]:
    """`items` in lists of `size`: one bulk statement each."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
