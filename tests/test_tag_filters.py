"""The filters behind the tag pages: parsed from a URL, applied in SQL, written back to a URL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.http import QueryDict
from django.utils import timezone

from registry.client.media_types import OCI_INDEX
from registry.filter_forms import filter_querystring
from registry.models import Manifest
from registry.sql_functions import name_regex
from registry.tag_filters import (
    DEFAULT_PAGE_SIZE,
    MAX_PATTERN_LENGTH,
    OLDER_THAN_MESSAGE,
    PATTERN_TOO_LONG_MESSAGE,
    TagFilterForm,
    TagFilters,
    describe_filters,
    filter_tags,
    invalid_regex_message,
)
from tests.factories import RegistryFactory, RepositoryFactory, TagFactory
from tests.support.tag_rows import make_tag

pytestmark = pytest.mark.django_db


def parse(query: str) -> tuple[TagFilters, dict[str, str]]:
    form = TagFilterForm(QueryDict(query))
    return form.filters(), form.field_errors()


def names(tags) -> list[str]:
    return [tag.name for tag in tags]


def days_ago(days: float):
    return timezone.now() - timedelta(days=days)


ALL_ON = TagFilters(stale_only=True, protected_only=True, multi_arch_only=True)


# -- parsing ---------------------------------------------------------------------


def test_an_empty_query_string_means_the_defaults():
    assert parse("") == (TagFilters(), {})
    assert TagFilters().sort == "-created"
    assert TagFilters().page_size == DEFAULT_PAGE_SIZE == 50


MISSING_PAREN = invalid_regex_message("missing ), unterminated subpattern at position 7")
LONGEST = "x" * MAX_PATTERN_LENGTH


@pytest.mark.parametrize(
    ("query", "filters", "errors"),
    [
        pytest.param("", TagFilters(), {}, id="nothing-asked-the-defaults"),
        ("repository=+acme/web+", TagFilters(repository="acme/web"), {}),
        ("name=+review-+", TagFilters(name="review-"), {}),
        (f"name={LONGEST}", TagFilters(name=LONGEST), {}),
        (f"name={LONGEST}x", TagFilters(), {"name": PATTERN_TOO_LONG_MESSAGE}),
        ("name=review-(", TagFilters(name="review-("), {}),
        ("name=review-(&name_mode=regex", TagFilters(name_mode="regex"), {"name": MISSING_PAREN}),
        ("name_mode=glob", TagFilters(), {}),
        ("anchored=1", TagFilters(anchored=True), {}),
        pytest.param("anchored=0", TagFilters(), {}, id="0-is-off-unlike-django-booleans"),
        ("stale_only=+YES+&protected_only=on&multi_arch_only=True", ALL_ON, {}),
        ("stale_only=no&shared_only=off", TagFilters(), {}),
        ("older_than_days=+30+", TagFilters(older_than_days=30), {}),
        ("older_than_days=0", TagFilters(older_than_days=0), {}),
        ("older_than_days=36500", TagFilters(older_than_days=36_500), {}),
        ("older_than_days=+", TagFilters(), {}),
        ("older_than_days=36501", TagFilters(), {"older_than_days": OLDER_THAN_MESSAGE}),
        ("older_than_days=30.0", TagFilters(), {"older_than_days": OLDER_THAN_MESSAGE}),
        ("sort=-size", TagFilters(sort="-size"), {}),
        ("sort=--size", TagFilters(), {}),
        ("page_size=+100+", TagFilters(page_size=100), {}),
        ("page_size=100.0", TagFilters(), {}),
        pytest.param(
            "name=a%00b",
            TagFilters(),
            {"name": "Null characters are not allowed."},
            id="a-NUL-never-reaches-the-database",
        ),
    ],
)
def test_the_form_reads_filters_or_says_what_is_wrong(
    query: str, filters: TagFilters, errors: dict[str, str]
) -> None:
    assert parse(query) == (filters, errors)


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


def test_only_the_registrys_tags_are_listed(registry):
    make_tag(RepositoryFactory.create(registry=registry, name="acme/web"), "mine")
    make_tag(
        RepositoryFactory.create(registry=RegistryFactory.create(name="other"), name="acme/web"),
        "theirs",
    )
    assert names(filter_tags(registry=registry, filters=TagFilters())) == ["mine"]


def test_repository_filter(registry):
    make_tag(RepositoryFactory.create(registry=registry, name="acme/web"), "web-1")
    make_tag(RepositoryFactory.create(registry=registry, name="acme/api"), "api-1")
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
    repository = RepositoryFactory.create(registry=registry)
    for name in ["review-a-1", "review-b-22", "main-review", "v1.2.3"]:
        make_tag(repository, name)
    filters, errors = parse(query + "&sort=name")
    assert errors == {}
    assert names(filter_tags(registry=registry, filters=filters)) == expected


def test_older_than_counts_from_created_or_else_first_seen(registry):
    repository = RepositoryFactory.create(registry=registry)
    make_tag(repository, "old", created=days_ago(40))
    make_tag(repository, "young", created=days_ago(3))
    make_tag(repository, "unknown-seen-long-ago", created=None, first_seen=days_ago(60))
    make_tag(repository, "unknown-seen-lately", created=None, first_seen=days_ago(1))
    filters = TagFilters(older_than_days=30, sort="name")
    assert names(filter_tags(registry=registry, filters=filters)) == [
        "old",
        "unknown-seen-long-ago",
    ]


def test_flag_filters(registry):
    repository = RepositoryFactory.create(registry=registry)
    make_tag(repository, "stale", is_stale=True)
    make_tag(repository, "protected", is_protected=True)
    make_tag(repository, "multi", media_type=OCI_INDEX, platforms=["linux/amd64", "linux/arm64"])
    make_tag(repository, "one-platform-index", media_type=OCI_INDEX, platforms=["linux/amd64"])
    shared = make_tag(repository, "shared-a", tag_count=2)
    TagFactory.create(manifest=shared.manifest, name="shared-b")

    def listed(**flags):
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
    web = RepositoryFactory.create(registry=registry, name="acme/web")
    api = RepositoryFactory.create(registry=registry, name="acme/api")
    zoo = RepositoryFactory.create(registry=registry, name="acme/zoo")
    media = "application/vnd.docker.distribution.manifest.v2+json"
    make_tag(web, "a", size=300, created=days_ago(5), first_seen=days_ago(9), digest="sha256:bb")
    make_tag(zoo, "b", size=100, created=days_ago(1), first_seen=days_ago(1), digest="sha256:aa")
    make_tag(api, "c", size=200, created=days_ago(8), first_seen=days_ago(4), digest="sha256:cc")
    Manifest.objects.filter(tags__name="a").update(media_type=media)
    Manifest.objects.filter(tags__name="b").update(media_type=media + "x")
    Manifest.objects.filter(tags__name="c").update(media_type="application/vnd.a")
    filters = TagFilters(sort=sort)
    assert names(filter_tags(registry=registry, filters=filters)) == expected


def test_ties_keep_a_stable_order_and_unknown_dates_go_last(registry):
    repository = RepositoryFactory.create(registry=registry)
    same = days_ago(2)
    first, second = make_tag(repository, "x", created=same), make_tag(repository, "y", created=same)
    make_tag(repository, "unknown", created=None)
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


def test_a_regex_the_database_refuses_is_an_error_not_a_500(client, viewer, registry):
    """Named groups are Python's: PostgreSQL's own dialect refuses them, SQLite runs Python's."""
    from django.db import connection

    filters, errors = parse("name=(%3FP%3Cbranch%3Ereview)-&name_mode=regex")
    if connection.vendor == "postgresql":
        assert errors["name"].startswith("That regular expression is not valid: ")
        assert filters.name == ""
    else:
        assert errors == {}
    make_tag(RepositoryFactory.create(registry=registry), "review-1")
    client.force_login(viewer)
    response = client.get("/registries/main/tags/?name=(%3FP%3Cb%3Ereview)-&name_mode=regex")
    assert response.status_code == 200
    assert "review-1" in response.content.decode()


def test_like_wildcards_in_a_text_filter_are_plain_characters(registry):
    repository = RepositoryFactory.create(registry=registry)
    for name in ["fix_1", "fixa1", "100%-done", "100-done", "back\\slash"]:
        make_tag(repository, name)

    def found(query: str) -> list[str]:
        return names(filter_tags(registry=registry, filters=parse(query + "&sort=name")[0]))

    assert found("name=x_1") == ["fix_1"]
    assert found("name=0%25-") == ["100%-done"]
    assert found("name=k%5Cs") == ["back\\slash"]
    assert found("name=FIX_1&anchored=1") == ["fix_1"]


@pytest.mark.parametrize(
    ("filters", "words"),
    [
        (TagFilters(), []),
        (TagFilters(name="mr-"), ["name contains “mr-”"]),
        (TagFilters(name="latest", anchored=True), ["name is “latest”"]),
        (TagFilters(name="^mr-[0-9]+", name_mode="regex"), ["name matches “^mr-[0-9]+”"]),
        (
            TagFilters(repository="acme/web", older_than_days=1, stale_only=True),
            ["in acme/web", "older than 1 day", "stale"],
        ),
        (
            TagFilters(older_than_days=60, shared_only=True),
            ["older than 60 days", "sharing a digest"],
        ),
        (TagFilters(mr_merged=True, branch_gone=True), ["MR merged", "branch gone"]),
        (TagFilters(sort="-size", page_size=200), []),  # sorting and paging select nothing
    ],
)
def test_describe_filters_says_what_select_all_matching_uses(
    filters: TagFilters, words: list[str]
) -> None:
    assert describe_filters(filters) == words
