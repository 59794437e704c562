"""`manage.py cleanup`'s filters, checked by CleanupFilterForm before anything is planned.

What the filters then select, against a real registry, is in tests/test_cleanup_command.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from registry.deletion.cleanup_selection import (
    KEEP_LAST_MESSAGE,
    OLDER_THAN_MESSAGE,
    CleanupFilterForm,
    CleanupFilters,
    invalid_regex_message,
)

MISSING_PAREN = "missing ), unterminated subpattern at position 7"


def check(**options: Any) -> tuple[CleanupFilters, dict[str, str]]:
    form = CleanupFilterForm(options)
    return form.filters(), form.field_errors()


@pytest.mark.parametrize(
    ("options", "filters"),
    [
        ({}, CleanupFilters()),
        ({"repository": "web$", "tag": "-[13]$"}, CleanupFilters(repository="web$", tag="-[13]$")),
        pytest.param(
            {"tag": " review "}, CleanupFilters(tag=" review "), id="patterns-are-taken-as-given"
        ),
        pytest.param(
            {"tag": "(?P<branch>review)-"},
            CleanupFilters(tag="(?P<branch>review)-"),
            id="python-runs-the-patterns-so-pythons-named-groups-are-fine",
        ),
        ({"older_than_days": 0}, CleanupFilters(older_than_days=0)),
        ({"older_than_days": 36_500}, CleanupFilters(older_than_days=36_500)),
        ({"stale_only": True, "keep_last": 3}, CleanupFilters(stale_only=True, keep_last=3)),
        ({"keep_last": 0, "older_than_days": None}, CleanupFilters()),
    ],
)
def test_good_filters_are_read_as_given(options: dict[str, Any], filters: CleanupFilters) -> None:
    assert check(**options) == (filters, {})


@pytest.mark.parametrize(
    ("options", "errors"),
    [
        (
            {"repository": "acme/("},
            {
                "repository": invalid_regex_message(
                    "--repository", "missing ), unterminated subpattern at position 5"
                )
            },
        ),
        ({"tag": "review-("}, {"tag": invalid_regex_message("--tag", MISSING_PAREN)}),
        ({"older_than_days": -1}, {"older_than_days": OLDER_THAN_MESSAGE}),
        ({"older_than_days": 36_501}, {"older_than_days": OLDER_THAN_MESSAGE}),
        ({"keep_last": -1}, {"keep_last": KEEP_LAST_MESSAGE}),
        pytest.param(
            {"keep_last": -1, "tag": "review-(", "older_than_days": -5},
            {
                "tag": invalid_regex_message("--tag", MISSING_PAREN),
                "older_than_days": OLDER_THAN_MESSAGE,
                "keep_last": KEEP_LAST_MESSAGE,
            },
            id="problems-come-in-the-options-order",
        ),
    ],
)
def test_bad_filters_say_which_option_and_why(
    options: dict[str, Any], errors: dict[str, str]
) -> None:
    _, found = check(**options)
    assert list(found.items()) == list(errors.items())


def test_the_messages_name_the_option() -> None:
    assert OLDER_THAN_MESSAGE == "--older-than: give a whole number of days from 0 to 36,500."
    assert (
        invalid_regex_message("--tag", "oops")
        == "--tag: that regular expression is not valid: oops."
    )


@pytest.mark.parametrize(
    ("options", "given"),
    [
        (
            {
                "repository": "",
                "tag": "",
                "older_than_days": None,
                "stale_only": False,
                "keep_last": 0,
            },
            False,
        ),
        ({"repository": " "}, True),
        ({"older_than_days": 0}, True),
        ({"stale_only": True}, True),
        ({"keep_last": 1}, True),
    ],
)
def test_has_changed_says_whether_any_filter_was_given(
    options: dict[str, Any], given: bool
) -> None:
    """--apply runs a batch as planned: the command refuses it with any filter."""
    assert CleanupFilterForm(options).has_changed() is given
