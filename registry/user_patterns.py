"""Regular expressions that people type run under a time budget.

Python's `re` backtracks: `(x+x+)+y` takes longer than the age of the universe on a
40-character name, and a request running it in SQLite's REGEXP (Python's `re`)
held a web worker until the server killed it. Every pattern a user gives (the
tag name filter, the staleness rules, `manage.py cleanup`'s filters) is compiled
here:

- a pattern that can backtrack badly (a quantifier over a group that itself holds
  a quantifier or an alternation, or four unbounded quantifiers in a row, as in
  `a*a*a*a*b`) runs in the `regex` package, with a timeout on every single search;
- any other pattern runs in `re`, about ten times faster: with no nested or
  stacked quantifiers, one search over a tag name (128 characters at most) is
  quick whatever the pattern;
- and every pattern shares a budget for all its searches (`Budget`), so that a
  page or a refresh over 100,000 tags stops with a clear error instead of hanging.

PostgreSQL runs the name filter itself, with its own engine; there `pattern_budget`
sets `statement_timeout` for the queries it wraps.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

# The standard library's own regex parser (private, untyped) sizes a pattern before it runs.
from re import _constants as sre_constants  # type: ignore[attr-defined]
from re import _parser as sre_parser  # type: ignore[attr-defined]
from typing import Any

import regex
from django.db import DatabaseError, connection, transaction

# Seconds every search of one pattern over a page or a selection may take together.
PATTERN_BUDGET_SECONDS = 3.0
# Seconds the staleness rules' patterns may take together over a whole registry (their
# searches only: a normal set of rules needs well under a second for 100,000 tags).
RULES_BUDGET_SECONDS = 10.0
# Seconds one search over one name may take, for a pattern that can backtrack badly.
SEARCH_TIMEOUT_SECONDS = 0.05
# A quantifier repeating more than this counts as unbounded.
LARGE_REPEAT = 16
# This many unbounded quantifiers in a row backtrack too much (see _stacked_repeats).
STACKED_LIMIT = 4

PATTERN_TOO_SLOW_MESSAGE = (
    "That regular expression takes too long to run over these tags (it can backtrack "
    "without end, as (a+)+ does). Simplify it: avoid a repeated group that itself "
    "repeats, such as (x+)+ or (a|ab)*."
)

# Set when a search ran out of budget inside a database call, where the exception
# itself is replaced by the driver's "user-defined function raised exception".
_exceeded: ContextVar[bool] = ContextVar("pattern_budget_exceeded", default=False)


class PatternTooSlow(Exception):
    def __init__(self, message: str = PATTERN_TOO_SLOW_MESSAGE) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class Budget:
    """The time all searches of one pattern (or one set of rules) may take together.

    Only the searches count, not the database reads between them.
    """

    seconds: float = PATTERN_BUDGET_SECONDS
    spent: float = field(default=0.0, init=False)

    def charge(self, seconds: float) -> None:
        self.spent += seconds
        if self.spent > self.seconds:
            _exceeded.set(True)
            raise PatternTooSlow


class UserPattern:
    """A compiled pattern whose `search` keeps to its budget (raises PatternTooSlow)."""

    def __init__(self, pattern: str, *, budget: Budget | None = None) -> None:
        self.pattern = pattern
        self.budget = budget or Budget()
        self.risky = can_backtrack_badly(pattern)
        self._re = re.compile(pattern)
        self._regex = regex.compile(pattern, flags=regex.VERSION0) if self.risky else None
        self.groupindex = self._re.groupindex

    def search(self, text: str) -> Any:
        """The first match in `text` (a `re` or `regex` match object), or None."""
        started = time.perf_counter()
        try:
            if self._regex is None:
                return self._re.search(text)
            return self._regex.search(text, timeout=SEARCH_TIMEOUT_SECONDS)
        except TimeoutError as exc:
            _exceeded.set(True)
            raise PatternTooSlow from exc
        finally:
            self.budget.charge(time.perf_counter() - started)

    def matches(self, text: str | None) -> bool:
        return text is not None and self.search(text) is not None


def can_backtrack_badly(pattern: str) -> bool:
    """Whether the pattern's structure allows runaway backtracking (see the module doc)."""
    try:
        parsed = sre_parser.parse(pattern)
    except re.error:
        return False  # it will not compile either; the caller says why
    return _nested_repeat(list(parsed), inside_repeat=False) or _stacked_repeats(list(parsed))


def required_prefix(pattern: str) -> str:
    r"""The text every name `pattern` matches starts with, or "" when it cannot say.

    `^review-(?P<branch>.+)-\d+$` gives "review-": a database can narrow a read with
    `LIKE 'review-%'` before the pattern itself runs. Only a pattern anchored at the
    start and followed by plain characters has one; any flag that changes what those
    characters match (ignore case, multi-line) gives "".
    """
    try:
        parsed = sre_parser.parse(pattern)
    except re.error:
        return ""
    if parsed.state.flags & (re.IGNORECASE | re.MULTILINE):
        return ""
    items = list(parsed)
    if not items or items[0] not in _ANCHORS_AT_START:
        return ""
    prefix = []
    for op, av in items[1:]:
        if op != sre_constants.LITERAL:
            break
        prefix.append(chr(av))
    return "".join(prefix)


_ANCHORS_AT_START = [
    (sre_constants.AT, sre_constants.AT_BEGINNING),
    (sre_constants.AT, sre_constants.AT_BEGINNING_STRING),
]


def _repeats(op: Any) -> bool:
    return op in (
        sre_constants.MAX_REPEAT,
        sre_constants.MIN_REPEAT,
        sre_constants.POSSESSIVE_REPEAT,
    )


def _children(op: Any, av: Any) -> list[list[Any]]:
    """The sub-sequences an item of a parsed pattern holds."""
    if _repeats(op):
        return [list(av[2])]
    if op == sre_constants.SUBPATTERN:
        return [list(av[-1])]
    if op == sre_constants.BRANCH:
        return [list(branch) for branch in av[1]]
    if op in (sre_constants.ASSERT, sre_constants.ASSERT_NOT):
        return [list(av[1])]
    if op == sre_constants.GROUPREF_EXISTS:
        return [list(b) for b in av[1:] if b is not None]
    return []


def _nested_repeat(items: list[Any], *, inside_repeat: bool) -> bool:
    for op, av in items:
        repeats = _repeats(op) and av[1] > 1
        if inside_repeat and (repeats or op == sre_constants.BRANCH):
            return True
        for child in _children(op, av):
            if _nested_repeat(child, inside_repeat=inside_repeat or repeats):
                return True
    return False


def _stacked_repeats(items: list[Any]) -> bool:
    """Four or more unbounded quantifiers in a row, with nothing else between them, as in
    `a*a*a*a*b`: each can take what the next one would, which backtracks polynomially
    (a tag name of 128 characters makes that millions of steps)."""
    run = 0
    for op, av in items:
        if _repeats(op) and av[1] > LARGE_REPEAT:
            run += 1
            if run >= STACKED_LIMIT:
                return True
        else:
            run = 0
    return any(_stacked_repeats(child) for op, av in items for child in _children(op, av))


@contextmanager
def pattern_budget(seconds: float = PATTERN_BUDGET_SECONDS) -> Iterator[None]:
    """Run database queries that filter by a user's pattern within the budget.

    Raises PatternTooSlow when they run out of it: on SQLite when a search did, on
    PostgreSQL when `statement_timeout` cancelled a query.
    """
    token = _exceeded.set(False)
    try:
        if connection.vendor == "postgresql":
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL statement_timeout = %s", [int(seconds * 1000)])
                try:
                    yield
                except DatabaseError as exc:
                    if _cancelled(exc):
                        raise PatternTooSlow from exc
                    raise
        else:
            try:
                yield
            except DatabaseError as exc:
                if _exceeded.get():
                    raise PatternTooSlow from exc
                raise
    finally:
        _exceeded.reset(token)


def _cancelled(error: DatabaseError) -> bool:
    """Whether PostgreSQL cancelled the statement for its timeout (SQLSTATE 57014)."""
    cause = error.__cause__
    return getattr(cause, "sqlstate", None) == "57014"
