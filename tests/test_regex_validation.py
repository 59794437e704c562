"""The one check of a typed regular expression: Python's `re`, and the database's own dialect."""

from __future__ import annotations

import pytest
from django.db import connection

from registry.regex_validation import regex_problem

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ("^review-", None),
        ("(?i)^(?:main|master)$", None),
        ("^review-(?P<branch>.+)-\\d+$", None),
        ("review-(", "missing ), unterminated subpattern at position 7"),
        ("[a-", "unterminated character set at position 0"),
        ("a(?i)b", "global flags not at the start of the expression at position 1"),
    ],
)
def test_python_decides_for_patterns_python_runs(pattern: str, problem: str | None) -> None:
    assert regex_problem(pattern) == problem
    if problem:  # what Python refuses, no database is asked about
        assert regex_problem(pattern, in_database=True) == problem


def test_a_pattern_the_database_runs_must_suit_its_dialect_too() -> None:
    """Named groups are Python's: PostgreSQL's dialect refuses them, SQLite runs Python's `re`."""
    named_group = "(?P<branch>review)-"
    assert regex_problem(named_group) is None
    if connection.vendor == "postgresql":
        problem = regex_problem(named_group, in_database=True)
        assert problem
        assert not problem.startswith("invalid regular expression")
    else:
        assert regex_problem(named_group, in_database=True) is None


def test_a_refused_pattern_leaves_the_transaction_usable() -> None:
    regex_problem("(?P<branch>review)-", in_database=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)
