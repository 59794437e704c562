"""Which cached tags a `manage.py cleanup` run plans to delete, from its filters.

The command line chooses tags by filters rather than by a user's selection
(registry.selection). In order:

- `repository` and `tag`: Python regular expressions, searched (`re.search`) in
  the repository's and the tag's name, the same on SQLite and PostgreSQL;
- `older_than_days`: the image was created more than that many days ago; an image
  whose created date is unknown never counts as old (a script should not delete
  what it cannot date);
- `stale_only`: the staleness rules call the tag stale (Tag.is_stale);
- `keep_last`: of what is left, the newest N tags of each repository stay out of
  the plan (newest by created date, then first seen, then name in natural order:
  build-10 is newer than build-9; an unknown created date counts as oldest).

`CleanupFilterForm` checks the filters before anything is planned, and
`select_tags` takes what it cleaned. The age and staleness filters run in SQL;
the regular expressions and keep-last run in Python over the remaining rows (a
few narrow columns per tag).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from django import forms
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone

from registry.filter_forms import FilterForm, FlagField, WholeNumberField
from registry.models import Registry, Tag
from registry.regex_validation import regex_problem
from registry.staleness import natural_key
from registry.tag_filters import MAX_OLDER_THAN_DAYS
from registry.user_patterns import RULES_BUDGET_SECONDS, Budget, UserPattern


def invalid_regex_message(option: str, problem: str) -> str:
    return f"{option}: that regular expression is not valid: {problem}."


OLDER_THAN_MESSAGE = f"--older-than: give a whole number of days from 0 to {MAX_OLDER_THAN_DAYS:,}."
KEEP_LAST_MESSAGE = "--keep-last: give a whole number of tags, 0 or more."


@dataclass(frozen=True)
class CleanupFilters:
    repository: str = ""
    tag: str = ""
    older_than_days: int | None = None
    stale_only: bool = False
    keep_last: int = 0


class CleanupFilterForm(FilterForm[CleanupFilters]):
    """The filters `manage.py cleanup` was given (named as in CleanupFilters), checked
    before anything is planned.

    The patterns are Python's, as they run in Python; they are taken as given,
    spaces included. `field_errors()` lists the problems in the options' order.
    """

    filters_class = CleanupFilters

    repository = forms.CharField(required=False, strip=False)
    tag = forms.CharField(required=False, strip=False)
    older_than_days = WholeNumberField(
        min_value=0, max_value=MAX_OLDER_THAN_DAYS, message=OLDER_THAN_MESSAGE
    )
    stale_only = FlagField()
    keep_last = WholeNumberField(min_value=0, message=KEEP_LAST_MESSAGE)

    def clean_repository(self) -> str:
        return _checked_pattern(self.cleaned_data["repository"], option="--repository")

    def clean_tag(self) -> str:
        return _checked_pattern(self.cleaned_data["tag"], option="--tag")


def _checked_pattern(pattern: str, *, option: str) -> str:
    problem = regex_problem(pattern) if pattern else None
    if problem:
        raise ValidationError(invalid_regex_message(option, problem))
    return pattern


@dataclass(frozen=True)
class CleanupSelection:
    tags: QuerySet[Tag]  # what to plan
    count: int
    kept: int  # matched the filters, but among the newest `keep_last` of their repository

    @property
    def is_empty(self) -> bool:
        return self.count == 0


def select_tags(*, registry: Registry, filters: CleanupFilters) -> CleanupSelection:
    """The registry's cached tags that `filters` (checked by CleanupFilterForm) choose.

    Raises PatternTooSlow when a pattern runs out of its time budget.
    """
    budget = Budget(RULES_BUDGET_SECONDS)
    repository = UserPattern(filters.repository, budget=budget) if filters.repository else None
    tag = UserPattern(filters.tag, budget=budget) if filters.tag else None

    rows = Tag.objects.filter(repository__registry=registry)
    if filters.older_than_days is not None:
        cutoff = timezone.now() - timedelta(days=filters.older_than_days)
        rows = rows.filter(manifest__created__lt=cutoff)  # NULL is never older
    if filters.stale_only:
        rows = rows.filter(is_stale=True)
    matching: dict[int, list[_Row]] = {}
    for row in rows.values_list(
        "pk", "repository_id", "repository__name", "name", "manifest__created", "first_seen"
    ).iterator(chunk_size=2000):
        candidate = _Row(*row)
        if repository and not repository.search(candidate.repository):
            continue
        if tag and not tag.search(candidate.name):
            continue
        matching.setdefault(candidate.repository_id, []).append(candidate)

    chosen: list[int] = []
    kept = 0
    for candidates in matching.values():
        candidates.sort(key=_newness, reverse=True)
        kept += min(filters.keep_last, len(candidates))
        chosen.extend(row.id for row in candidates[filters.keep_last :])
    return CleanupSelection(
        tags=Tag.objects.filter(pk__in=id_set(chosen)), count=len(chosen), kept=kept
    )


@dataclass(frozen=True)
class _Row:
    id: int
    repository_id: int
    repository: str
    name: str
    created: datetime | None
    first_seen: datetime


def _newness(row: _Row) -> tuple[bool, datetime, datetime, tuple[str | int, ...]]:
    """Sort key, newest last."""
    created = row.created or row.first_seen  # only compared among unknowns: see the flag
    return row.created is not None, created, row.first_seen, natural_key(row.name)


def id_set(ids: list[int]) -> RawSQL:
    """The ids as one query parameter, for `pk__in`.

    A plan may hold 50,000 tags: as a plain `IN (%s, %s, …)` list that is past
    SQLite's limit on parameters, and plan_deletion repeats it in several subqueries.
    """
    if connection.vendor == "postgresql":
        return RawSQL("SELECT unnest(%s::bigint[])", [ids])
    return RawSQL("SELECT value FROM json_each(%s)", [json.dumps(ids)])
