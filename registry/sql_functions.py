"""SQL for the tag name filter: the expressions it runs, and the regex it hands the database.

`RegexSearch` and `TextMatch` are what Django's `regex` and `icontains` lookups
would be, made fast on 100,000 tags; `name_regex` and `without_captures` turn a
typed pattern into the one the database runs, matching exactly the same names.
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING, Any

from django.db.models import BooleanField, Func

from registry.user_patterns import UserPattern

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.models.sql.compiler import SQLCompiler, _AsSqlType


def name_regex(pattern: str, *, anchored: bool) -> str:
    """The regular expression the database runs: anchored means the whole name matches.

    Leading flags such as (?i) must stay at the very start, in Python and PostgreSQL alike.
    """
    if not anchored:
        return pattern
    flags = _LEADING_FLAGS.match(pattern)
    prefix = flags.group(0) if flags else ""
    return f"{prefix}^(?:{pattern[len(prefix) :]})$"


_LEADING_FLAGS = re.compile(r"^\(\?[aiLmsux]+\)")
# Back-references need their groups; POSIX classes ([[:alpha:]]) nest brackets.
_NEEDS_CAPTURES = re.compile(r"\\[1-9]|\(\?P=|\\k<|\[[:.=]")


def without_captures(pattern: str) -> str:
    """The same filter with its groups made non-capturing: `(a|b)` becomes `(?:a|b)`.

    A filter only asks whether a name matches, never what a group caught, and
    PostgreSQL's regex engine takes about twice as long over 100,000 names when the
    pattern has capturing groups. Patterns with back-references, or with bracket
    expressions this scanner does not follow, are left as they are.
    """
    if _NEEDS_CAPTURES.search(pattern):
        return pattern
    out: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            out.append(pattern[index : index + 2])
            index += 2
            continue
        if char == "[":
            end = _bracket_end(pattern, index)
            out.append(pattern[index:end])
            index = end
            continue
        if char == "(" and not pattern.startswith("?", index + 1):
            out.append("(?:")
        else:
            out.append(char)
        index += 1
    return "".join(out)


def _bracket_end(pattern: str, start: int) -> int:
    """The index just past the bracket expression opening at `start` (or the end)."""
    index = start + 1
    if pattern.startswith("^", index):
        index += 1
    if pattern.startswith("]", index):  # a leading ] is a literal
        index += 1
    while index < len(pattern) and pattern[index] != "]":
        index += 2 if pattern[index] == "\\" else 1
    return index + 1


class RegexSearch(Func):
    """True where the text matches the regular expression: the `regex` lookup, but fast on SQLite.

    Django's SQLite REGEXP calls re.search(pattern, value) on every row, passing
    the pattern in and finding it in re's cache each time; over 100,000 tags that
    was most of a regex-filtered page's time. On SQLite each pattern here becomes
    a one-argument SQL function bound to the compiled pattern (2-3x faster).
    PostgreSQL runs its own `~` operator.
    """

    output_field = BooleanField()

    def __init__(self, expression: Any, pattern: str) -> None:
        super().__init__(expression)
        self.pattern = pattern

    def as_sql(
        self,
        compiler: SQLCompiler,
        connection: BaseDatabaseWrapper,
        function: str | None = None,
        template: str | None = None,
        arg_joiner: str | None = None,
        **extra_context: Any,
    ) -> _AsSqlType:
        sql, params = compiler.compile(self.source_expressions[0])
        # Every backend's wrapper has `operators`; the base class the stubs know does not.
        regex = connection.operators["regex"]  # type: ignore[attr-defined]
        return f"{sql} {regex % '%s'}", (*params, self.pattern)

    def as_sqlite(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra_context: Any
    ) -> _AsSqlType:
        # Compiled with each statement, so every statement gets its own time budget.
        pattern = UserPattern(self.pattern)
        name = "janitor_regex_" + hashlib.sha256(self.pattern.encode()).hexdigest()[:20]
        connection.ensure_connection()
        connection.connection.create_function(name, 1, pattern.matches, deterministic=True)
        sql, params = compiler.compile(self.source_expressions[0])
        return f"{name}({sql})", tuple(params)


class TextMatch(Func):
    """Case-insensitive LIKE: the text contains `text` (or, `whole`, is it).

    Django's icontains is UPPER(name) LIKE UPPER(…) on PostgreSQL, an expression
    it keeps no statistics on: it guessed 32 matching rows where 50,000 matched,
    and joined the manifests row by row (5x slower). ILIKE on the column itself
    is estimated from the column's statistics. SQLite's LIKE already ignores case.
    """

    output_field = BooleanField()

    def __init__(self, expression: Any, text: str, *, whole: bool = False) -> None:
        super().__init__(expression)
        self.text = text
        self.whole = whole

    def _pattern(self, connection: BaseDatabaseWrapper) -> str:
        escaped = connection.ops.prep_for_like_query(self.text)
        return escaped if self.whole else f"%{escaped}%"

    def as_sql(
        self,
        compiler: SQLCompiler,
        connection: BaseDatabaseWrapper,
        function: str | None = None,
        template: str | None = None,
        arg_joiner: str | None = None,
        **extra_context: Any,
    ) -> _AsSqlType:
        sql, params = compiler.compile(self.source_expressions[0])
        return f"{sql} LIKE %s ESCAPE '\\'", (*params, self._pattern(connection))

    def as_postgresql(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra_context: Any
    ) -> _AsSqlType:
        sql, params = compiler.compile(self.source_expressions[0])
        return f"{sql}::text ILIKE %s", (*params, self._pattern(connection))
