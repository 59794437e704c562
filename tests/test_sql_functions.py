"""The regular expression the tag name filter hands the database."""

from __future__ import annotations

import re

import pytest

from registry.sql_functions import without_captures


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("^review-(login|search)-", "^review-(?:login|search)-"),
        ("(?i)^(?:review-(a|b))$", "(?i)^(?:review-(?:a|b))$"),
        (r"\(literal\)", r"\(literal\)"),
        ("[(]x[)]", "[(]x[)]"),
        ("[]()]+", "[]()]+"),
        ("[^(]+(a)", "[^(]+(?:a)"),
        ("(?P<branch>.+)-(\\d+)", "(?P<branch>.+)-(?:\\d+)"),
        (r"(a)\1", r"(a)\1"),  # a back-reference needs its group
        ("[[:alpha:]](x)", "[[:alpha:]](x)"),  # nested brackets: left alone
        ("plain", "plain"),
    ],
)
def test_filters_run_with_non_capturing_groups(pattern: str, expected: str) -> None:
    assert without_captures(pattern) == expected


@pytest.mark.parametrize(
    "pattern",
    ["^review-(login|search)-", "(a|b)+c$", "x(y(z)?)*", "[(]+(q)", "(?i)^(ab)", "(\\()"],
)
def test_dropping_captures_never_changes_what_matches(pattern: str) -> None:
    names = ["review-login-1", "review-search-", "abc", "aabbc", "xyzy", "((q", "AB", "(", "x"]
    converted = re.compile(without_captures(pattern))
    original = re.compile(pattern)
    assert [bool(original.search(n)) for n in names] == [bool(converted.search(n)) for n in names]
