"""What every listing's filters share: a form that reads them, and one writer back to a URL.

A listing's filters travel in its URL. A `FilterForm` reads them (a QueryDict,
or any mapping of names to values) into a frozen dataclass, the typed input the
listing's queries take. A field with an error keeps the dataclass's default, so
it is never applied, and `field_errors()` says what was wrong, to show next to
the field. `filter_querystring` writes such a dataclass back as the query string
that asks for it, defaults left out, and the form reads that back to the same
filters: a page, its pager, its sort links, its exports and "select all
matching" all mean the same rows.

A dataclass field travels under its own name, or under the name in its
`metadata={"param": …}`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import Field, fields, replace
from datetime import date
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from urllib.parse import urlencode

from django import forms
from django.core.exceptions import ValidationError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

FiltersT = TypeVar("FiltersT", bound="DataclassInstance")

# What a checkbox or a flag in a link may say to be on.
TRUE_WORDS = frozenset({"1", "on", "true", "yes"})


def param_name(field: Field[Any]) -> str:
    """The name a filter travels under in a URL."""
    return str(field.metadata.get("param", field.name))


def filter_querystring(filters: Any, **changes: Any) -> str:
    """The query string that asks for `filters` (with `changes` applied), defaults left out.

    `filters` is a frozen dataclass whose fields all have defaults, such as TagFilters.
    """
    filters = replace(filters, **changes) if changes else filters
    defaults = type(filters)()
    pairs: list[tuple[str, str]] = []
    for field in fields(filters):
        value = getattr(filters, field.name)
        if value is None or value == getattr(defaults, field.name):
            continue
        pairs.append((param_name(field), _as_text(value)))
    return urlencode(pairs)


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else ""
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def sort_choices(sort_keys: Iterable[str]) -> list[str]:
    """Every sort key, ascending ("name") and descending ("-name")."""
    return [choice for key in sort_keys for choice in (key, f"-{key}")]


class FilterForm(forms.Form, Generic[FiltersT]):
    """Filters read from a URL into `filters_class`, a frozen dataclass.

    Subclasses name their fields after the dataclass's (or its `param` names),
    and set `filters_class`. The form's initial data is the dataclass's defaults,
    so `has_changed()` says whether any filter was given.
    """

    filters_class: type[FiltersT]

    def __init__(self, data: Mapping[str, Any]) -> None:
        defaults = self.filters_class()
        initial = {param_name(f): getattr(defaults, f.name) for f in fields(self.filters_class)}
        super().__init__(data, initial=initial)

    def filters(self) -> FiltersT:
        """The filters asked for; a field with an error, or not given, keeps its default."""
        self.is_valid()  # cleans the data once; a field with an error is not in cleaned_data
        values: dict[str, Any] = {}
        for field in fields(self.filters_class):
            value = self.cleaned_data.get(param_name(field))
            if value is not None:
                values[field.name] = value
        return self.filters_class(**values)

    def field_errors(self) -> dict[str, str]:
        """What is wrong, field by field (its first message), in the fields' order."""
        return {name: str(self.errors[name][0]) for name in self.fields if name in self.errors}

    def typed(self) -> dict[str, Any]:
        """What each field holds as typed, to show it again even when it is wrong."""
        return {name: self.data.get(name, "") for name in self.fields}


# -- fields that read a URL the way the pages always have ------------------------


class FlagField(forms.Field):
    """A checkbox, or a flag in a link: on for 1, on, true or yes (any case), else off.

    Django's BooleanField reads any other text, "0" included, as on.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(required=False, **kwargs)

    def to_python(self, value: Any) -> bool:
        return value is not None and str(value).strip().lower() in TRUE_WORDS


class LenientChoiceField(forms.Field):
    """One of `choices` (after `coerce`); anything else reads as not given, with no error.

    Sort keys and page sizes come from links and buttons, not from typing: an old
    or edited link still shows the page, with the default in place of what it
    asked for.
    """

    def __init__(
        self, *, choices: Sequence[Any], coerce: Callable[[Any], Any] = str, **kwargs: Any
    ) -> None:
        super().__init__(required=False, **kwargs)
        self.choices = tuple(choices)
        self.coerce = coerce

    def to_python(self, value: Any) -> Any:
        if value in self.empty_values:
            return None
        try:
            value = self.coerce(value)
        except (TypeError, ValueError):
            return None
        return value if value in self.choices else None

    def has_changed(self, initial: Any, data: Any) -> bool:
        value = self.to_python(data)
        return value is not None and value != initial  # not a choice: the default


class WholeNumberField(forms.IntegerField):
    """A whole number as Python's int() reads it, within bounds; one message for any mistake.

    Django's IntegerField also takes "30.0" and refuses "  "; a filter takes
    neither "30.0" (not a whole number) nor blanks (not given).
    """

    def __init__(self, *, message: str, **kwargs: Any) -> None:
        messages = dict.fromkeys(["invalid", "min_value", "max_value"], message)
        super().__init__(required=False, error_messages=messages, **kwargs)

    def to_python(self, value: Any) -> int | None:
        text = "" if value is None else str(value).strip()
        if not text:
            return None
        try:
            return int(text)
        except ValueError as exc:
            raise ValidationError(self.error_messages["invalid"], code="invalid") from exc


class CaseInsensitiveChoiceField(forms.ChoiceField):
    """One of `choices`, in any case and with spaces around it; not given is fine."""

    def __init__(self, *, message: str, **kwargs: Any) -> None:
        super().__init__(required=False, error_messages={"invalid_choice": message}, **kwargs)

    def to_python(self, value: Any) -> str:
        return str(super().to_python(value)).strip().lower()


_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class IsoDateField(forms.Field):
    """A day written YYYY-MM-DD, and only so: date.fromisoformat also reads 20260301
    and 2026-W09-1, and Django's DateField also reads 2026-3-1."""

    def __init__(self, *, message: str, **kwargs: Any) -> None:
        super().__init__(required=False, error_messages={"invalid": message}, **kwargs)

    def to_python(self, value: Any) -> date | None:
        text = "" if value is None else str(value).strip()
        if not text:
            return None
        try:
            if not _ISO_DATE.fullmatch(text):
                raise ValueError(text)
            return date.fromisoformat(text)
        except ValueError as exc:
            raise ValidationError(self.error_messages["invalid"], code="invalid") from exc
