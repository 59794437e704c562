"""What every filter form shares: lenient fields, the dataclass it cleans into, one URL writer."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pytest
from django.http import QueryDict

from registry.filter_forms import (
    FilterForm,
    FlagField,
    LenientChoiceField,
    WholeNumberField,
    filter_querystring,
    sort_choices,
)

TOO_OLD = "Days: a whole number from 0 to 10."


@dataclass(frozen=True)
class Example:
    search: str = field(default="", metadata={"param": "q"})
    stale: bool = False
    days: int | None = None
    sort: str = "name"
    size: int = 50
    since: date | None = None


class ExampleForm(FilterForm[Example]):
    filters_class = Example

    q = LenientChoiceField(choices=["web", "api"])
    stale = FlagField()
    days = WholeNumberField(min_value=0, max_value=10, message=TOO_OLD)
    sort = LenientChoiceField(choices=sort_choices(["name", "size"]))
    size = LenientChoiceField(choices=[25, 50], coerce=int)


def read(query: str) -> tuple[Example, dict[str, str]]:
    form = ExampleForm(QueryDict(query))
    return form.filters(), form.field_errors()


@pytest.mark.parametrize(
    ("query", "filters", "errors"),
    [
        ("", Example(), {}),
        ("q=web", Example(search="web"), {}),
        pytest.param("search=web", Example(), {}, id="a-filter-travels-under-its-param-name"),
        ("stale=1", Example(stale=True), {}),
        ("stale=ON", Example(stale=True), {}),
        ("stale=0", Example(), {}),
        ("days=+7+", Example(days=7), {}),
        ("days=0", Example(days=0), {}),
        ("days=11", Example(), {"days": TOO_OLD}),
        ("days=-1", Example(), {"days": TOO_OLD}),
        ("days=seven", Example(), {"days": TOO_OLD}),
        ("days=7.0", Example(), {"days": TOO_OLD}),
        ("days=+", Example(), {}),
        ("sort=-size", Example(sort="-size"), {}),
        ("sort=colour", Example(), {}),
        ("size=25", Example(size=25), {}),
        ("size=26", Example(), {}),
        ("size=many", Example(), {}),
        ("q=db&days=99&sort=-name", Example(sort="-name"), {"days": TOO_OLD}),
    ],
)
def test_a_form_cleans_into_its_dataclass_and_leaves_errors_out(
    query: str, filters: Example, errors: dict[str, str]
) -> None:
    assert read(query) == (filters, errors)


def test_what_was_typed_is_kept_even_when_wrong() -> None:
    form = ExampleForm(QueryDict("days=soon&q=web"))
    assert form.typed() == {"q": "web", "stale": "", "days": "soon", "sort": "", "size": ""}


def test_has_changed_says_whether_any_filter_differs_from_its_default() -> None:
    assert not ExampleForm({}).has_changed()
    assert not ExampleForm({"stale": False, "sort": "name", "size": 50, "days": None}).has_changed()
    assert ExampleForm({"days": 0}).has_changed()
    assert ExampleForm({"stale": True}).has_changed()


@pytest.mark.parametrize(
    ("filters", "changes", "querystring"),
    [
        (Example(), {}, ""),
        (Example(search="web app"), {}, "q=web+app"),
        (Example(stale=True, days=0), {}, "stale=1&days=0"),
        (Example(sort="-size", size=25), {}, "sort=-size&size=25"),
        (Example(since=date(2026, 3, 1)), {}, "since=2026-03-01"),
        (Example(sort="-size"), {"sort": "name"}, ""),
        (Example(), {"stale": True, "search": "a&b"}, "q=a%26b&stale=1"),
    ],
)
def test_the_querystring_leaves_defaults_out(
    filters: Example, changes: dict[str, Any], querystring: str
) -> None:
    assert filter_querystring(filters, **changes) == querystring


def test_the_querystring_reads_back_to_the_same_filters() -> None:
    filters = Example(search="api", stale=True, days=3, sort="-size", size=25)
    assert read(filter_querystring(filters)) == (filters, {})
