"""The Tags and Stale images pages' filters: read from a URL, run in SQL, written back to a URL.

A filter is read once from the query string by a `TagFilterForm` into a
`TagFilters`, turned into one queryset by `filter_tags`, and written back into a
query string by registry.filter_forms.filter_querystring, so that a page, its
pager, its sort links and "select all matching" (registry.selection) all mean
the same tags.

A tag page (`tag_page`) is a constant number of queries, paged in SQL by
registry.paging.DeferredJoinPaginator: a COUNT, then the page's rows found by a
narrow sorted subquery of ids; for filters that are costly to evaluate
(`counting_is_costly`), one statement gives the count and the ids, then the
rows are read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from django import forms
from django.core.paginator import Page
from django.db.models import F, OrderBy, Q, QuerySet
from django.utils import timezone

from .filter_forms import (
    FilterForm,
    FlagField,
    LenientChoiceField,
    WholeNumberField,
    sort_choices,
)
from .models import Registry, Tag
from .paging import DeferredJoinPaginator
from .regex_validation import regex_problem
from .sql_functions import RegexSearch, TextMatch, name_regex, without_captures

NameMode = Literal["substring", "regex"]

PAGE_SIZES = (25, 50, 100, 200)
DEFAULT_PAGE_SIZE = 50
DEFAULT_SORT = "-created"
MAX_OLDER_THAN_DAYS = 36_500
MAX_PATTERN_LENGTH = 200

# Sort key (as it appears in URLs) -> the Tag field it orders by.
TAG_SORTS: dict[str, str] = {
    "name": "name",
    "repository": "repository__name",
    "size": "manifest__size",
    "created": "manifest__created",
    "first_seen": "first_seen",
    "last_pulled": "manifest__last_pulled",
    "digest": "manifest__digest",
    "media_type": "manifest__media_type",
}


def invalid_regex_message(problem: str) -> str:
    return f"That regular expression is not valid: {problem}."


PATTERN_TOO_LONG_MESSAGE = f"Keep the name filter under {MAX_PATTERN_LENGTH} characters."
OLDER_THAN_MESSAGE = f"Older than: enter a whole number of days from 0 to {MAX_OLDER_THAN_DAYS}."


# -- filters ---------------------------------------------------------------------


@dataclass(frozen=True)
class TagFilters:
    repository: str = ""
    name: str = ""
    name_mode: NameMode = "substring"
    # Match the whole name rather than anywhere in it (either mode).
    anchored: bool = False
    older_than_days: int | None = None
    stale_only: bool = False
    protected_only: bool = False
    multi_arch_only: bool = False
    shared_only: bool = False
    # What GitLab says (registries connected to GitLab): see registry.gitlab.ties.
    mr_merged: bool = False
    mr_closed: bool = False
    branch_gone: bool = False
    in_use: bool = False
    no_gitlab_match: bool = False
    sort: str = DEFAULT_SORT
    page_size: int = DEFAULT_PAGE_SIZE

    @property
    def sort_key(self) -> str:
        """The column sorted by, without the direction."""
        return self.sort.removeprefix("-")

    @property
    def descending(self) -> bool:
        return self.sort.startswith("-")

    @property
    def is_filtered(self) -> bool:
        """Whether anything narrows the list (sorting and page size do not)."""
        return any(
            [
                self.name,
                self.older_than_days is not None,
                self.stale_only,
                self.protected_only,
                self.multi_arch_only,
                self.shared_only,
                *self.gitlab_filters,
            ]
        )

    @property
    def gitlab_filters(self) -> list[bool]:
        return [self.mr_merged, self.mr_closed, self.branch_gone, self.in_use, self.no_gitlab_match]


class TagFilterForm(FilterForm[TagFilters]):
    """The Tags and Stale images pages' filters, as their URLs carry them.

    A bad regular expression or age is an error and is left out, so the page lists
    everything else rather than failing; an unknown sort or page size is the default.
    """

    filters_class = TagFilters

    repository = forms.CharField(required=False)
    name = forms.CharField(
        required=False,
        max_length=MAX_PATTERN_LENGTH,
        error_messages={"max_length": PATTERN_TOO_LONG_MESSAGE},
    )
    name_mode = LenientChoiceField(choices=["substring", "regex"])
    anchored = FlagField()
    older_than_days = WholeNumberField(
        min_value=0, max_value=MAX_OLDER_THAN_DAYS, message=OLDER_THAN_MESSAGE
    )
    stale_only = FlagField()
    protected_only = FlagField()
    multi_arch_only = FlagField()
    shared_only = FlagField()
    mr_merged = FlagField()
    mr_closed = FlagField()
    branch_gone = FlagField()
    in_use = FlagField()
    no_gitlab_match = FlagField()
    sort = LenientChoiceField(choices=sort_choices(TAG_SORTS))
    page_size = LenientChoiceField(choices=PAGE_SIZES, coerce=int)

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        name = cleaned.get("name")
        if name and cleaned.get("name_mode") == "regex":
            problem = _regex_name_problem(name, anchored=cleaned["anchored"])
            if problem:
                self.add_error("name", invalid_regex_message(problem))
        return cleaned


# What each "only" flag means, in the words of the filter form.
FLAG_WORDS = {
    "stale_only": "stale",
    "protected_only": "protected",
    "multi_arch_only": "multi-arch",
    "shared_only": "sharing a digest",
    "mr_merged": "MR merged",
    "mr_closed": "MR closed",
    "branch_gone": "branch gone",
    "in_use": "in use",
    "no_gitlab_match": "no GitLab match",
}


def describe_filters(filters: TagFilters) -> list[str]:
    """The filters in words, one phrase each: what "Select all N matching" will use.

    ["in acme/web", "name contains “mr-”", "older than 60 days", "stale"]
    """
    phrases = []
    if filters.repository:
        phrases.append(f"in {filters.repository}")
    if filters.name:
        verb = {
            ("substring", False): "name contains",
            ("substring", True): "name is",
            ("regex", False): "name matches",
            ("regex", True): "whole name matches",
        }[(filters.name_mode, filters.anchored)]
        phrases.append(f"{verb} “{filters.name}”")
    if filters.older_than_days is not None:
        days = filters.older_than_days
        phrases.append(f"older than {days} day{'' if days == 1 else 's'}")
    phrases += [words for flag, words in FLAG_WORDS.items() if getattr(filters, flag)]
    return phrases


def _regex_name_problem(name: str, *, anchored: bool) -> str | None:
    """What is wrong with a regex name filter, as typed or as the database will run it."""
    problem = regex_problem(name, in_database=True)
    effective = name_regex(name, anchored=anchored)
    if not problem and effective != name:
        problem = regex_problem(effective, in_database=True)
    return problem


# -- the tags they match ------------------------------------------------------------


def tag_page(*, registry: Registry, filters: TagFilters, number: int | str | None) -> Page[Any]:
    """Page `number` of the registry's tags that match `filters`, paged in SQL.

    A page past the end is the last page; a page that is not a number, the first.
    """
    tags = filter_tags(registry=registry, filters=filters)
    paginator = DeferredJoinPaginator(tags, filters.page_size, one_pass=counting_is_costly(filters))
    return paginator.get_page(number)


def filter_tags(*, registry: Registry, filters: TagFilters) -> QuerySet[Tag]:
    """The registry's tags that match `filters`, in their sort order (then by id)."""
    tags = Tag.objects.filter(repository__registry=registry).select_related(
        "repository", "manifest"
    )
    if filters.repository:
        tags = tags.filter(repository__name=filters.repository)
    if filters.name:
        tags = tags.filter(_name_condition(filters))
    if filters.older_than_days is not None:
        cutoff = timezone.now() - timedelta(days=filters.older_than_days)
        # An image whose created date is unknown counts from first seen, as in the rules.
        tags = tags.filter(
            Q(manifest__created__lt=cutoff)
            | Q(manifest__created__isnull=True, first_seen__lt=cutoff)
        )
    if filters.stale_only:
        tags = tags.filter(is_stale=True)
    if filters.protected_only:
        tags = tags.filter(is_protected=True)
    if filters.multi_arch_only:
        # More than one platform: the second element of the list exists.
        tags = tags.filter(manifest__platforms__1__isnull=False)
    if filters.shared_only:
        tags = tags.filter(manifest__tag_count__gt=1)
    return _gitlab_conditions(tags, filters).order_by(*_tag_ordering(filters))


def _gitlab_conditions(tags: QuerySet[Tag], filters: TagFilters) -> QuerySet[Tag]:
    """What GitLab says of each tag (its stored tie, registry.gitlab.ties); several filters
    narrow together, as the others do."""
    if filters.mr_merged:
        tags = tags.filter(gitlab__merge_request__state="merged")
    if filters.mr_closed:
        tags = tags.filter(gitlab__merge_request__state="closed")
    if filters.branch_gone:
        tags = tags.filter(gitlab__branch_state__in=["deleted", "missing"])
    if filters.in_use:
        tags = tags.filter(gitlab__in_use=True)
    if filters.no_gitlab_match:
        tags = tags.filter(Q(gitlab__isnull=True) | Q(gitlab__matched=False))
    return tags


def _name_condition(filters: TagFilters) -> RegexSearch | TextMatch:
    if filters.name_mode == "regex":
        pattern = name_regex(filters.name, anchored=filters.anchored)
        return RegexSearch(F("name"), without_captures(pattern))
    return TextMatch(F("name"), filters.name, whole=filters.anchored)


def _tag_ordering(filters: TagFilters) -> list[OrderBy]:
    field = TAG_SORTS[filters.sort_key]
    if filters.descending:
        # Unknown created dates go last either way (PostgreSQL puts NULL first when descending).
        return [F(field).desc(nulls_last=True), F("pk").desc()]
    return [F(field).asc(nulls_last=True), F("pk").asc()]


def counting_is_costly(filters: TagFilters) -> bool:
    """Whether counting the matching tags costs about as much as sorting them.

    A regular expression runs on every tag, and the age, multi-arch and shared
    filters join every tag's manifest: then one pass for both is cheaper. The
    other filters are counted from indexes.
    """
    return bool(
        (filters.name and filters.name_mode == "regex")
        or filters.older_than_days is not None
        or filters.multi_arch_only
        or filters.shared_only
        or any(filters.gitlab_filters)  # a join to each tag's GitLab tie
    )
