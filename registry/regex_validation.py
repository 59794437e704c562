"""The one check of a regular expression that someone typed.

Every pattern a user gives goes through `regex_problem`: the Tags page's name
filter, `manage.py cleanup`'s --repository and --tag, and the staleness rules'
protected and branch patterns. Each caller words the problem for its own
reader; what counts as a problem is decided here only.
"""

from __future__ import annotations

import re

from django.db import DatabaseError, connection, transaction


def regex_problem(pattern: str, *, in_database: bool = False) -> str | None:
    """Why `pattern` is not a usable regular expression, in plain words, or None.

    Python's `re` decides for patterns that Python runs (the staleness rules, the
    cleanup command). A pattern the database runs (`in_database`, the tag name
    filter) must also suit the database's own dialect: SQLite runs Python's `re`,
    but PostgreSQL has its own, so there the database itself is asked (one tiny
    query, only when a regex filter is used).
    """
    try:
        re.compile(pattern)
    except re.error as exc:
        return str(exc)
    if in_database and connection.vendor == "postgresql":
        return _postgresql_problem(pattern)
    return None


def _postgresql_problem(pattern: str) -> str | None:
    try:
        # In a savepoint, so that a refused pattern leaves the request's transaction usable.
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT '' ~ %s", [pattern])
    except DatabaseError as exc:
        return str(exc).strip().splitlines()[0].removeprefix("invalid regular expression: ")
    return None
