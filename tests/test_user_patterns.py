"""Regular expressions people type run under a time budget, on every page that runs them.

A pattern that backtracks without end (the classic `(a|aa)+$` over "aaaa…b") must
not hold a web worker: the page answers at once, says what is wrong, and lists the
tags as if the name filter were not there (as for any filter with an error).
"""

from __future__ import annotations

import time
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from registry.models import StalenessRules
from registry.staleness import refresh_staleness
from registry.user_patterns import (
    PATTERN_TOO_SLOW_MESSAGE,
    Budget,
    PatternTooSlow,
    UserPattern,
    can_backtrack_badly,
    pattern_budget,
    required_prefix,
)
from tests.support.tag_rows import make_tag

SLOW = r"(a|aa)+$"
# Names on which SLOW backtracks: Python's `re` would take hours on one of them.
TRAP = "a" * 60 + "b"


@pytest.mark.parametrize(
    ("pattern", "risky"),
    [
        (r"(x+x+)+y", True),
        (r"(a|aa)+$", True),
        (r"(?:a{2})*", True),
        (r"a*a*a*a*b", True),
        (r"^review-(login|search)-", False),
        (r"^review-(?P<branch>.+)-\d+$", False),
        (r"^v?\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?$", False),  # the default semver rule
        (r"(ab){2,5}", False),
        (r"^latest$", False),
    ],
)
def test_patterns_that_can_backtrack_badly_are_recognised(pattern: str, risky: bool) -> None:
    assert can_backtrack_badly(pattern) is risky


def test_a_runaway_search_stops_within_its_timeout() -> None:
    started = time.monotonic()
    with pytest.raises(PatternTooSlow):
        UserPattern(SLOW).search(TRAP)
    assert time.monotonic() - started < 1


def test_many_searches_share_one_budget() -> None:
    pattern = UserPattern(r"^review-.*-\d+$", budget=Budget(seconds=0.01))

    def search_a_million_names() -> None:
        for _ in range(1_000_000):
            pattern.search("review-" + "x" * 100 + "-1")

    with pytest.raises(PatternTooSlow):
        search_a_million_names()


def test_a_safe_pattern_finds_what_re_finds() -> None:
    pattern = UserPattern(r"^review-(?P<branch>.+)-\d+$")
    match = pattern.search("review-login-42")
    assert match is not None
    assert match.group("branch") == "login"
    assert pattern.search("latest") is None


@pytest.mark.parametrize(
    ("pattern", "prefix"),
    [
        (r"^review-(?P<branch>.+)-\d+$", "review-"),
        (r"\Amr-\d+", "mr-"),
        (r"^release\.v", "release.v"),
        ("^(?:feat)ure-", "feature-"),
        ("^ab*", "a"),  # b may be absent
        ("^review-x?", "review-"),
        ("^review|^mr", ""),  # either start
        ("(?i)^review-", ""),  # Review- too
        ("(?m)^review-", ""),
        ("review-", ""),  # anywhere in the name
        ("^[rm]", ""),
        ("^", ""),
        ("^(unclosed", ""),
    ],
)
def test_the_text_a_pattern_requires_at_the_start_of_every_name(pattern: str, prefix: str) -> None:
    assert required_prefix(pattern) == prefix


@pytest.fixture
def trap_tags(web):
    for n in range(20):
        make_tag(web, f"{TRAP}{n}")
    make_tag(web, "review-1")
    return web


def test_the_tags_page_answers_a_runaway_regex_with_an_error_and_the_unfiltered_list(
    client: Client, viewer, trap_tags
) -> None:
    client.force_login(viewer)
    started = time.monotonic()

    response = client.get(reverse("tags", args=["main"]), {"name": SLOW, "name_mode": "regex"})

    assert time.monotonic() - started < 5
    assert response.status_code == 200
    html = response.content.decode()
    if connection.vendor == "sqlite":  # PostgreSQL's engine runs it without backtracking
        assert PATTERN_TOO_SLOW_MESSAGE in html.replace("&#x27;", "'")
        assert "review-1" in html, "listed as if the name filter were not there"


def test_select_all_matching_with_a_runaway_regex_selects_nothing_and_says_why(
    client: Client, viewer, trap_tags
) -> None:
    from registry.models import SelectedTag

    client.force_login(viewer)
    query = urlencode({"name": SLOW, "name_mode": "regex"})
    url = reverse("selection_matching", args=["main"]) + "?" + query

    response = client.post(url, HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    if connection.vendor == "sqlite":
        assert "takes too long" in response.content.decode()
        assert not SelectedTag.objects.exists()


def test_staleness_rules_that_run_away_are_refused_and_nothing_is_saved(
    client: Client, registry_admin, trap_tags, registry
) -> None:
    client.force_login(registry_admin)

    response = client.post(
        reverse("rules", args=["main"]),
        {"protected_patterns": SLOW, "max_age_days": 14, "keep_newest": 0,
         "age_basis": "created"},
    )  # fmt: skip

    assert response.status_code == 200
    assert "takes too long" in response.content.decode()
    assert not StalenessRules.objects.filter(registry=registry).exists()


def test_a_refresh_with_runaway_rules_writes_nothing(trap_tags, registry) -> None:
    StalenessRules.objects.create(registry=registry, protected_patterns=[SLOW])

    with pytest.raises(PatternTooSlow):
        refresh_staleness(registry=registry)

    assert not trap_tags.tags.filter(is_protected=True).exists()


@pytest.mark.django_db
@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_on_postgresql_a_query_over_its_budget_is_cancelled() -> None:
    with pytest.raises(PatternTooSlow), pattern_budget(seconds=0.2), connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(2)")
