"""The rule on pulls ("not pulled for N days"): a table, then the verdicts as stored."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pytest

from registry.models import EventEndpoint, Manifest, StalenessRules, Tag
from registry.staleness import TagFacts, Verdict, evaluate_tags, refresh_staleness
from tests.factories import ManifestFactory, RepositoryFactory, TagFactory
from tests.test_staleness import NOW, days_ago, tag

TRACKED = days_ago(60)  # pull tracking began 60 days before NOW
STALE_30 = "stale: older than 14 days, not pulled for 30 days"


def pulled(facts: TagFacts, days: float | None) -> TagFacts:
    return replace(facts, last_pulled=None if days is None else days_ago(days))


def verdicts(
    rules: dict[str, object], tags: list[TagFacts], tracked: datetime | None = TRACKED
) -> dict[str, tuple[bool, str]]:
    result: dict[int, Verdict] = evaluate_tags(
        rules=StalenessRules(protected_patterns=[], **rules),
        tags=tags,
        now=NOW,
        pulls_tracked_since=tracked,
    )
    return {t.name: (result[t.id].stale, result[t.id].reason) for t in tags}


PULL_CASES = [
    pytest.param(
        {},
        [pulled(tag("old-pulled", age=100), 1), pulled(tag("old", age=100), None)],
        {
            "old-pulled": (True, "stale: older than 14 days"),
            "old": (True, "stale: older than 14 days"),
        },
        id="off-by-default-pulls-change-nothing",
    ),
    pytest.param(
        {"unpulled_days": 30},
        [pulled(tag("a", age=100), 3), pulled(tag("b", age=100), 31)],
        {"a": (False, "pulled within 30 days"), "b": (True, STALE_30)},
        id="pulled-within-n-days-is-kept-pulled-before-is-stale",
    ),
    pytest.param(
        {"unpulled_days": 30},
        [pulled(tag("never", age=100), None)],
        {"never": (True, STALE_30)},
        id="never-pulled-counts-from-when-tracking-began",
    ),
    pytest.param(
        {"unpulled_days": 30},
        [pulled(tag("new-to-us", age=100, first_seen=10), None)],
        {"new-to-us": (False, "no pull recorded, but pulls counted for less than 30 days")},
        id="never-pulled-counts-from-first-seen-when-that-is-later",
    ),
    pytest.param(
        {"unpulled_days": 30},
        [pulled(tag("young", age=5), None)],
        {"young": (False, "younger than 14 days")},
        id="the-age-limit-still-applies-first",
    ),
    pytest.param(
        {"unpulled_days": 30, "keep_newest": 1},
        [pulled(tag("newest", age=50), None), pulled(tag("older", age=90), 5)],
        {
            "newest": (False, "newest tag of the repository"),
            "older": (False, "pulled within 30 days"),
        },
        id="keep-newest-counts-the-unpulled-images-too",
    ),
]


@pytest.mark.parametrize(("rules", "tags", "expected"), PULL_CASES)
def test_pull_rule(
    rules: dict[str, object], tags: list[TagFacts], expected: dict[str, object]
) -> None:
    assert verdicts(rules, tags) == expected


def test_without_any_notification_the_pull_rule_keeps_every_tag() -> None:
    tags = [pulled(tag("never", age=100), None)]

    assert verdicts({"unpulled_days": 30}, tags, tracked=None) == {
        "never": (False, "pulls not tracked yet (no notification from the registry)")
    }


def test_not_pulled_for_n_days_selects_exactly_the_images_nobody_pulled(registry) -> None:
    EventEndpoint.objects.create(registry=registry, secret_encrypted="x", first_event_at=TRACKED)
    StalenessRules.objects.create(
        registry=registry, protected_patterns=[], max_age_days=0, unpulled_days=7
    )
    repo = RepositoryFactory.create(registry=registry)
    pulls = {"pulled-today": 0.1, "pulled-6-days-ago": 6, "pulled-8-days-ago": 8, "never": None}
    for name, days in pulls.items():
        manifest = ManifestFactory.create(
            repository=repo,
            created=days_ago(100),
            last_pulled=None if days is None else days_ago(days),
        )
        TagFactory.create(repository=repo, manifest=manifest, name=name, first_seen=days_ago(100))

    refresh_staleness(registry=registry, now=NOW)

    stale = set(Tag.objects.filter(is_stale=True).values_list("name", flat=True))
    assert stale == {"pulled-8-days-ago", "never"}
    assert Manifest.objects.filter(last_pulled__isnull=True).count() == 1
