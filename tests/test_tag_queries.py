"""The filters behind the tag pages: parsed from a URL, applied in SQL, written back to a URL."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.http import QueryDict
from django.utils import timezone

from registry.client.media_types import OCI_INDEX
from registry.models import Manifest, StalenessRules
from registry.tag_queries import (
    DEFAULT_PAGE_SIZE,
    OLDER_THAN_MESSAGE,
    DeferredJoinPaginator,
    RepositoryFilters,
    TagFilters,
    filter_querystring,
    filter_tags,
    invalid_regex_message,
    name_regex,
    parse_tag_filters,
    preview_staleness,
    repository_page,
    stale_figures,
    without_captures,
)
from tests.factories import ManifestFactory, RegistryFactory, RepositoryFactory, TagFactory

pytestmark = pytest.mark.django_db


def parse(query: str) -> tuple[TagFilters, dict[str, str]]:
    return parse_tag_filters(QueryDict(query))


def names(tags) -> list[str]:  # type: ignore[no-untyped-def]
    return [tag.name for tag in tags]


def days_ago(days: float):  # type: ignore[no-untyped-def]
    return timezone.now() - timedelta(days=days)


# -- parsing ---------------------------------------------------------------------


def test_an_empty_query_string_means_the_defaults():
    assert parse("") == (TagFilters(), {})
    assert TagFilters().sort == "-created"
    assert TagFilters().page_size == DEFAULT_PAGE_SIZE == 50


def test_every_filter_is_read_from_the_query_string():
    filters, errors = parse(
        "repository=acme/web&name=%5Ereview-&name_mode=regex&anchored=1&older_than_days=30"
        "&stale_only=1&protected_only=on&multi_arch_only=true&shared_only=1&sort=-size&page_size=200"
    )
    assert errors == {}
    assert filters == TagFilters(
        repository="acme/web",
        name="^review-",
        name_mode="regex",
        anchored=True,
        older_than_days=30,
        stale_only=True,
        protected_only=True,
        multi_arch_only=True,
        shared_only=True,
        sort="-size",
        page_size=200,
    )


def test_an_invalid_regex_is_an_error_and_is_not_applied():
    filters, errors = parse("name=review-(&name_mode=regex")
    assert filters.name == ""
    assert errors["name"].startswith("That regular expression is not valid: ")
    assert errors["name"] == invalid_regex_message(
        "missing ), unterminated subpattern at position 7"
    )


def test_a_pattern_that_only_fails_once_anchored_is_an_error_too():
    # A global flag in the middle is invalid in Python; leading flags are kept first.
    filters, errors = parse("name=a(%3Fi)b&name_mode=regex&anchored=1")
    assert "name" in errors
    filters, errors = parse("name=(%3Fi)REVIEW&name_mode=regex&anchored=1")
    assert errors == {}
    assert name_regex(filters.name, anchored=True) == "(?i)^(?:REVIEW)$"


def test_the_same_text_is_no_error_as_a_substring():
    filters, errors = parse("name=review-(")
    assert errors == {}
    assert filters.name == "review-("


@pytest.mark.parametrize("value", ["abc", "-1", "1.5", "99999999"])
def test_older_than_must_be_a_whole_number_of_days(value):
    filters, errors = parse(f"older_than_days={value}")
    assert errors == {"older_than_days": OLDER_THAN_MESSAGE}
    assert filters.older_than_days is None


def test_unknown_sorts_and_page_sizes_fall_back_to_the_defaults():
    filters, errors = parse("sort=password&page_size=7")
    assert (filters.sort, filters.page_size, errors) == ("-created", 50, {})
    filters, _ = parse("page_size=lots")
    assert filters.page_size == 50


def test_the_querystring_leaves_defaults_out_and_parses_back_to_the_same_filters():
    assert filter_querystring(TagFilters()) == ""
    filters = TagFilters(
        repository="acme/web",
        name="^review-",
        name_mode="regex",
        anchored=True,
        older_than_days=0,
        stale_only=True,
        shared_only=True,
        sort="name",
        page_size=25,
    )
    querystring = filter_querystring(filters)
    assert "page=" not in querystring
    assert parse(querystring) == (filters, {})
    assert parse(filter_querystring(filters, sort="-size"))[0].sort == "-size"


# -- filtering ---------------------------------------------------------------------


def tag(repository, name: str, **manifest_fields):  # type: ignore[no-untyped-def]
    tag_fields = {
        key: manifest_fields.pop(key)
        for key in ["is_stale", "is_protected", "first_seen", "stale_reason"]
        if key in manifest_fields
    }
    manifest = ManifestFactory(repository=repository, **manifest_fields)
    return TagFactory(manifest=manifest, name=name, **tag_fields)


def test_only_the_registrys_tags_are_listed(registry):
    tag(RepositoryFactory(registry=registry, name="acme/web"), "mine")
    tag(RepositoryFactory(registry=RegistryFactory(name="other"), name="acme/web"), "theirs")
    assert names(filter_tags(registry=registry, filters=TagFilters())) == ["mine"]


def test_repository_filter(registry):
    tag(RepositoryFactory(registry=registry, name="acme/web"), "web-1")
    tag(RepositoryFactory(registry=registry, name="acme/api"), "api-1")
    filters = TagFilters(repository="acme/api")
    assert names(filter_tags(registry=registry, filters=filters)) == ["api-1"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("name=REVIEW", ["main-review", "review-a-1", "review-b-22"]),  # substring, any case
        ("name=review-a-1&anchored=1", ["review-a-1"]),  # the whole name
        ("name=%5Ereview-&name_mode=regex", ["review-a-1", "review-b-22"]),
        ("name=review-%5Cw-%5Cd$&name_mode=regex", ["review-a-1"]),
        ("name=review&name_mode=regex&anchored=1", []),  # whole name: nothing is just "review"
        ("name=review-.-%5Cd%2B&name_mode=regex&anchored=1", ["review-a-1", "review-b-22"]),
        ("name=(%3Fi)MAIN.*&name_mode=regex&anchored=1", ["main-review"]),
    ],
)
def test_name_filter(registry, query, expected):
    repository = RepositoryFactory(registry=registry)
    for name in ["review-a-1", "review-b-22", "main-review", "v1.2.3"]:
        tag(repository, name)
    filters, errors = parse(query + "&sort=name")
    assert errors == {}
    assert names(filter_tags(registry=registry, filters=filters)) == expected


def test_older_than_counts_from_created_or_else_first_seen(registry):
    repository = RepositoryFactory(registry=registry)
    tag(repository, "old", created=days_ago(40))
    tag(repository, "young", created=days_ago(3))
    tag(repository, "unknown-seen-long-ago", created=None, first_seen=days_ago(60))
    tag(repository, "unknown-seen-lately", created=None, first_seen=days_ago(1))
    filters = TagFilters(older_than_days=30, sort="name")
    assert names(filter_tags(registry=registry, filters=filters)) == [
        "old",
        "unknown-seen-long-ago",
    ]


def test_flag_filters(registry):
    repository = RepositoryFactory(registry=registry)
    tag(repository, "stale", is_stale=True)
    tag(repository, "protected", is_protected=True)
    tag(repository, "multi", media_type=OCI_INDEX, platforms=["linux/amd64", "linux/arm64"])
    tag(repository, "one-platform-index", media_type=OCI_INDEX, platforms=["linux/amd64"])
    shared = tag(repository, "shared-a", tag_count=2)
    TagFactory(manifest=shared.manifest, name="shared-b")

    def listed(**flags):  # type: ignore[no-untyped-def]
        return names(filter_tags(registry=registry, filters=TagFilters(sort="name", **flags)))

    assert listed(stale_only=True) == ["stale"]
    assert listed(protected_only=True) == ["protected"]
    assert listed(multi_arch_only=True) == ["multi"]
    assert listed(shared_only=True) == ["shared-a", "shared-b"]
    assert listed(stale_only=True, protected_only=True) == []


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("name", ["a", "b", "c"]),
        ("-name", ["c", "b", "a"]),
        ("size", ["b", "c", "a"]),
        ("-size", ["a", "c", "b"]),
        ("created", ["c", "a", "b"]),
        ("-created", ["b", "a", "c"]),
        ("first_seen", ["a", "c", "b"]),
        ("-first_seen", ["b", "c", "a"]),
        ("repository", ["c", "a", "b"]),
        ("-repository", ["b", "a", "c"]),
        ("digest", ["b", "a", "c"]),
        ("media_type", ["c", "a", "b"]),
    ],
)
def test_sort_by_any_column(registry, sort, expected):
    web = RepositoryFactory(registry=registry, name="acme/web")
    api = RepositoryFactory(registry=registry, name="acme/api")
    zoo = RepositoryFactory(registry=registry, name="acme/zoo")
    media = "application/vnd.docker.distribution.manifest.v2+json"
    tag(web, "a", size=300, created=days_ago(5), first_seen=days_ago(9), digest="sha256:bb")
    tag(zoo, "b", size=100, created=days_ago(1), first_seen=days_ago(1), digest="sha256:aa")
    tag(api, "c", size=200, created=days_ago(8), first_seen=days_ago(4), digest="sha256:cc")
    Manifest.objects.filter(tags__name="a").update(media_type=media)
    Manifest.objects.filter(tags__name="b").update(media_type=media + "x")
    Manifest.objects.filter(tags__name="c").update(media_type="application/vnd.a")
    filters = TagFilters(sort=sort)
    assert names(filter_tags(registry=registry, filters=filters)) == expected


def test_ties_keep_a_stable_order_and_unknown_dates_go_last(registry):
    repository = RepositoryFactory(registry=registry)
    same = days_ago(2)
    first, second = tag(repository, "x", created=same), tag(repository, "y", created=same)
    tag(repository, "unknown", created=None)
    assert names(filter_tags(registry=registry, filters=TagFilters(sort="-created"))) == [
        second.name,
        first.name,
        "unknown",
    ]
    assert names(filter_tags(registry=registry, filters=TagFilters(sort="created"))) == [
        first.name,
        second.name,
        "unknown",
    ]


def test_the_paginator_pages_through_in_sort_order(registry):
    repository = RepositoryFactory(registry=registry)
    for n in range(23):
        tag(repository, f"t{n:02d}")
    tags = filter_tags(registry=registry, filters=TagFilters(sort="name"))
    paginator = DeferredJoinPaginator(tags, 10)
    assert paginator.count == 23
    assert paginator.num_pages == 3
    assert names(paginator.page(1).object_list) == [f"t{n:02d}" for n in range(10)]
    assert names(paginator.page(3).object_list) == ["t20", "t21", "t22"]
    assert paginator.page(3).start_index() == 21


def repositories(registry, filters: RepositoryFilters):  # type: ignore[no-untyped-def]
    _page, rows = repository_page(registry=registry, filters=filters, number=1)
    return rows


# -- repositories ----------------------------------------------------------------------


def test_repository_figures_count_a_shared_digest_once_and_stale_size_only_when_all_stale(
    registry,
):
    web = RepositoryFactory(registry=registry, name="acme/web")
    newest = days_ago(1)
    shared = tag(web, "old-1", size=100, is_stale=True, tag_count=2, created=days_ago(50))
    TagFactory(manifest=shared.manifest, name="old-2", is_stale=True)
    half = tag(web, "half-stale", size=1_000, is_stale=True, tag_count=2)
    TagFactory(manifest=half.manifest, name="half-kept", is_stale=False)
    tag(web, "latest", size=10, created=newest)
    child = ManifestFactory(repository=web, size=5_000, tag_count=0)  # an index's child
    RepositoryFactory(registry=registry, name="acme/empty")

    rows = {r.name: r for r in repositories(registry, RepositoryFilters())}

    assert child.pk
    assert rows["acme/web"].tag_total == 5
    assert rows["acme/web"].stale_tags == 3
    assert rows["acme/web"].size == 1_110
    assert rows["acme/web"].stale_size == 100
    assert rows["acme/web"].newest == newest
    assert (rows["acme/empty"].tag_total, rows["acme/empty"].size) == (0, 0)
    assert rows["acme/empty"].newest is None


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("name", ["acme/api", "acme/db", "acme/web"]),
        ("-name", ["acme/web", "acme/db", "acme/api"]),
        ("-tags", ["acme/db", "acme/api", "acme/web"]),
        ("-size", ["acme/web", "acme/db", "acme/api"]),
        ("-stale_tags", ["acme/api", "acme/db", "acme/web"]),
        ("stale_size", ["acme/web", "acme/api", "acme/db"]),
        ("-newest", ["acme/web", "acme/api", "acme/db"]),
    ],
)
def test_repositories_sort_by_every_column(registry, sort, expected):
    api, db, web = (
        RepositoryFactory(registry=registry, name=n) for n in ["acme/api", "acme/db", "acme/web"]
    )
    tag(api, "a1", size=10, is_stale=True, created=days_ago(5))
    tag(api, "a2", size=10, is_stale=True, created=days_ago(6))
    tag(db, "d1", size=30, is_stale=True, created=days_ago(9))
    tag(db, "d2", size=20, created=days_ago(9))
    tag(db, "d3", size=20, created=days_ago(9))
    tag(web, "w1", size=500, created=days_ago(1))
    filters = RepositoryFilters(sort=sort)
    assert [r.name for r in repositories(registry, filters)] == expected


def test_repository_search_matches_part_of_the_name(registry):
    for name in ["acme/web", "acme/api", "tools/webhook"]:
        RepositoryFactory(registry=registry, name=name)
    filters = RepositoryFilters(search="WEB")
    found = repositories(registry, filters)
    assert [r.name for r in found] == ["acme/web", "tools/webhook"]


# -- staleness figures -----------------------------------------------------------------


def test_preview_counts_what_unsaved_rules_would_make_stale_and_writes_nothing(registry):
    repository = RepositoryFactory(registry=registry)
    tag(repository, "review-1", created=days_ago(20), is_stale=True)
    tag(repository, "review-2", created=days_ago(10))
    tag(repository, "latest", created=days_ago(20))
    rules = StalenessRules(registry=registry, max_age_days=5)
    figures = preview_staleness(registry=registry, rules=rules, now=timezone.now())
    assert (figures.total, figures.stale) == (3, 2)
    assert (figures.becoming_stale, figures.no_longer_stale) == (1, 0)
    assert stale_figures(registry=registry).stale == 1  # nothing written
    assert not StalenessRules.objects.exists()


def test_a_regex_the_database_refuses_is_an_error_not_a_500(client, viewer, registry):  # type: ignore[no-untyped-def]
    """Named groups are Python's: PostgreSQL's own dialect refuses them, SQLite runs Python's."""
    from django.db import connection

    filters, errors = parse("name=(%3FP%3Cbranch%3Ereview)-&name_mode=regex")
    if connection.vendor == "postgresql":
        assert errors["name"].startswith("That regular expression is not valid: ")
        assert filters.name == ""
    else:
        assert errors == {}
    tag(RepositoryFactory(registry=registry), "review-1")
    client.force_login(viewer)
    response = client.get("/registries/main/tags/?name=(%3FP%3Cb%3Ereview)-&name_mode=regex")
    assert response.status_code == 200
    assert "review-1" in response.content.decode()


def test_like_wildcards_in_a_text_filter_are_plain_characters(registry):  # type: ignore[no-untyped-def]
    repository = RepositoryFactory(registry=registry)
    for name in ["fix_1", "fixa1", "100%-done", "100-done", "back\\slash"]:
        tag(repository, name)

    def found(query: str) -> list[str]:
        return names(filter_tags(registry=registry, filters=parse(query + "&sort=name")[0]))

    assert found("name=x_1") == ["fix_1"]
    assert found("name=0%25-") == ["100%-done"]
    assert found("name=k%5Cs") == ["back\\slash"]
    assert found("name=FIX_1&anchored=1") == ["fix_1"]


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
