"""The deletion audit log, read: its filters, and the items and batches they match.

A filter is read once from a query string by an `AuditFilterForm` into an
`AuditFilters`, turned into one queryset by `filter_items` (or `filter_batches`
for the list of batches), and written back into a query string by
registry.filter_forms.filter_querystring, so that the page, its pager and its
CSV and JSON exports (registry.audit_exports) all mean the same rows.

Dates filter on the day the batch was planned (`DeletionBatch.planned_at`), in
the site's time zone (settings.TIME_ZONE), both ends included: every item has
that date, whereas refused or never attempted items may have no finish time.

The rows name registries, people and repositories by value, as the audit log
stores them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.utils import timezone

from .deletion.batches import saved_progress
from .filter_forms import CaseInsensitiveChoiceField, FilterForm, IsoDateField
from .models import DeletionBatch, DeletionItem

PAGE_SIZE = 50
MAX_TEXT_LENGTH = 255


def date_message(label: str) -> str:
    return f"{label}: enter a date as YYYY-MM-DD, such as 2026-03-01."


DATE_FROM_MESSAGE = date_message("From")
DATE_TO_MESSAGE = date_message("To")
DATE_ORDER_MESSAGE = "The “from” date is after the “to” date: nothing could match."
OUTCOME_MESSAGE = "Outcome: choose one of " + ", ".join(DeletionItem.Outcome.values) + "."
ACTION_MESSAGE = "Action: choose one of " + ", ".join(DeletionItem.Action.values) + "."
BATCH_MESSAGE = "Batch: enter a batch number, such as 12."
TEXT_TOO_LONG_MESSAGE = f"Keep each text filter under {MAX_TEXT_LENGTH} characters."


# -- filters ---------------------------------------------------------------------


@dataclass(frozen=True)
class AuditFilters:
    # Who planned or confirmed the batch: part of the username, any case.
    user: str = ""
    # The registry's name, exactly.
    registry: str = ""
    # Part of the repository's or the tag's name, any case.
    repository: str = ""
    tag: str = ""
    outcome: str = ""
    action: str = ""
    batch: int | None = None
    # Days the batch was planned, both included.
    date_from: date | None = None
    date_to: date | None = None

    @property
    def is_filtered(self) -> bool:
        return self != AuditFilters()


def _text_field() -> forms.CharField:
    return forms.CharField(
        required=False,
        max_length=MAX_TEXT_LENGTH,
        error_messages={"max_length": TEXT_TOO_LONG_MESSAGE},
    )


class AuditFilterForm(FilterForm[AuditFilters]):
    """The audit log's filters, as its pages' and its exports' URLs carry them.

    A field with an error is left out; the pages show why next to it, an export
    refuses to run.
    """

    filters_class = AuditFilters

    # Declared in the order their errors have always been listed: batch, dates, the rest.
    batch = forms.CharField(required=False)
    date_from = IsoDateField(message=DATE_FROM_MESSAGE)
    date_to = IsoDateField(message=DATE_TO_MESSAGE)
    user = _text_field()
    registry = _text_field()
    repository = _text_field()
    tag = _text_field()
    outcome = CaseInsensitiveChoiceField(
        choices=DeletionItem.Outcome.choices, message=OUTCOME_MESSAGE
    )
    action = CaseInsensitiveChoiceField(choices=DeletionItem.Action.choices, message=ACTION_MESSAGE)

    def clean_batch(self) -> int | None:
        number: str = self.cleaned_data["batch"].removeprefix("#")  # "#12", as the pages write it
        if not number:
            return None
        if number.isascii() and number.isdecimal() and 0 < int(number) < 2**63:
            return int(number)
        raise ValidationError(BATCH_MESSAGE)

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        date_from, date_to = cleaned.get("date_from"), cleaned.get("date_to")
        if date_from and date_to and date_from > date_to:
            self.add_error("date_to", DATE_ORDER_MESSAGE)
        return cleaned


# -- the items and batches they match ----------------------------------------------


def _batch_condition(filters: AuditFilters, prefix: str = "") -> Q:
    """What the batch-level filters ask, for batches (no prefix) or items ("batch__")."""
    condition = Q()
    if filters.user:
        condition &= Q(**{f"{prefix}planned_by_username__icontains": filters.user}) | Q(
            **{f"{prefix}confirmed_by_username__icontains": filters.user}
        )
    if filters.registry:
        condition &= Q(**{f"{prefix}registry_name": filters.registry})
    if filters.batch is not None:
        condition &= Q(**{f"{prefix}pk": filters.batch})
    # Whole days in the site's time zone, as ranges an index can answer.
    zone = timezone.get_current_timezone()
    if filters.date_from:
        start = datetime.combine(filters.date_from, time.min, tzinfo=zone)
        condition &= Q(**{f"{prefix}planned_at__gte": start})
    if filters.date_to:
        end = datetime.combine(filters.date_to + timedelta(days=1), time.min, tzinfo=zone)
        condition &= Q(**{f"{prefix}planned_at__lt": end})
    return condition


def filter_items(filters: AuditFilters) -> QuerySet[DeletionItem]:
    """The audited items that match, newest batch first, then in the batch's order."""
    items = DeletionItem.objects.select_related("batch").filter(
        _batch_condition(filters, prefix="batch__")
    )
    if filters.repository:
        items = items.filter(repository_name__icontains=filters.repository)
    if filters.tag:
        items = items.filter(tag__icontains=filters.tag)
    if filters.outcome:
        items = items.filter(outcome=filters.outcome)
    if filters.action:
        items = items.filter(action=filters.action)
    return items.order_by("-batch__planned_at", "-batch_id", "position")


def filter_batches(filters: AuditFilters) -> QuerySet[DeletionBatch]:
    """The batches that match the batch-level filters (who, registry, batch, dates), newest first.

    The item-level filters (repository, tag, outcome, action) do not apply here.
    """
    return DeletionBatch.objects.filter(_batch_condition(filters)).order_by("-planned_at", "-pk")


def registry_choices(filters: AuditFilters) -> list[str]:
    """The registries the filter offers: every one the log names (they outlive their
    Registry rows), and the one asked for."""
    names = set(DeletionBatch.objects.order_by().values_list("registry_name", flat=True).distinct())
    if filters.registry:
        names.add(filters.registry)
    return sorted(names)


def outcome_summary(batch: DeletionBatch) -> str:
    """What came of a finished batch, such as "3 deleted · 1 failed" (empty while open)."""
    if batch.is_open:
        return ""
    return saved_progress(batch=batch).summary()
