"""The deletion audit log, read: filters, the items they match, and their exports.

A filter is parsed once from a query string into an `AuditFilters`, turned into
one queryset by `filter_items` (or `filter_batches` for the list of batches),
and back into a query string by `audit_querystring`, so that the page, its pager
and its CSV and JSON exports all mean the same rows.

Dates filter on the day the batch was planned (`DeletionBatch.planned_at`), in
the site's time zone (settings.TIME_ZONE), both ends included: every item has
that date, whereas refused or never attempted items may have no finish time.

The rows name registries, people and repositories by value, as the audit log
stores them; no registry address (which may carry credentials) is exported.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, fields, replace
from datetime import date, datetime, time, timedelta
from typing import Any, Protocol
from urllib.parse import urlencode

from django.db.models import Q, QuerySet
from django.utils import timezone

from .models import DeletionBatch, DeletionItem
from .selectors import iso_utc

PAGE_SIZE = 50
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
MAX_TEXT_LENGTH = 255

# The columns of an export, in order (CSV header and JSON keys alike).
EXPORT_COLUMNS = [
    "batch_id",
    "batch_status",
    "registry",
    "planned_by",
    "confirmed_by",
    "source",
    "reason",
    "planned_at",
    "confirmed_at",
    "started_at",
    "batch_finished_at",
    "repository",
    "tag",
    "digest",
    "size",
    "created",
    "action",
    "note",
    "outcome",
    "http_status",
    "detail",
    "item_finished_at",
]


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


def parse_audit_filters(params: Mapping[str, str]) -> tuple[AuditFilters, dict[str, str]]:
    """The filters a query string asks for, and what is wrong with it (field -> message).

    A field with an error is left out of the filters (never applied); `params`
    is a QueryDict or any mapping of names to strings.
    """
    errors: dict[str, str] = {}

    def text(field: str) -> str:
        value = (params.get(field) or "").strip()
        if len(value) > MAX_TEXT_LENGTH:
            errors[field] = TEXT_TOO_LONG_MESSAGE
            return ""
        return value

    def choice(field: str, allowed: list[str], message: str) -> str:
        value = (params.get(field) or "").strip().lower()
        if value and value not in allowed:
            errors[field] = message
            return ""
        return value

    def day(field: str, message: str) -> date | None:
        value = (params.get(field) or "").strip()
        if not value:
            return None
        try:
            if not _ISO_DATE.fullmatch(value):  # fromisoformat also reads 20260301, 2026-W09-1
                raise ValueError(value)
            return date.fromisoformat(value)
        except ValueError:
            errors[field] = message
            return None

    batch: int | None = None
    raw_batch = (params.get("batch") or "").strip().removeprefix("#")
    if raw_batch:
        if raw_batch.isascii() and raw_batch.isdecimal() and 0 < int(raw_batch) < 2**63:
            batch = int(raw_batch)
        else:
            errors["batch"] = BATCH_MESSAGE

    date_from = day("date_from", DATE_FROM_MESSAGE)
    date_to = day("date_to", DATE_TO_MESSAGE)
    if date_from and date_to and date_from > date_to:
        errors["date_to"], date_to = DATE_ORDER_MESSAGE, None

    filters = AuditFilters(
        user=text("user"),
        registry=text("registry"),
        repository=text("repository"),
        tag=text("tag"),
        outcome=choice("outcome", DeletionItem.Outcome.values, OUTCOME_MESSAGE),
        action=choice("action", DeletionItem.Action.values, ACTION_MESSAGE),
        batch=batch,
        date_from=date_from,
        date_to=date_to,
    )
    return filters, errors


def audit_querystring(filters: AuditFilters, **changes: Any) -> str:
    """The query string for `filters` (with `changes` applied), empty fields left out."""
    filters = replace(filters, **changes) if changes else filters
    pairs: list[tuple[str, str]] = []
    for field in fields(AuditFilters):
        value = getattr(filters, field.name)
        if value in ("", None):
            continue
        pairs.append((field.name, value.isoformat() if isinstance(value, date) else str(value)))
    return urlencode(pairs)


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


OUTCOME_COUNTS = [
    ("deleted_count", "deleted"),
    ("untagged_count", "untagged"),
    ("absent_count", "already absent"),
    ("skipped_count", "skipped"),
    ("refused_count", "refused"),
    ("failed_count", "failed"),
    ("not_attempted_count", "not attempted"),
]


def outcome_summary(batch: DeletionBatch) -> str:
    """What came of a finished batch, such as "3 deleted · 1 failed" (empty while open)."""
    if batch.is_open:
        return ""
    counts = [(getattr(batch, field), label) for field, label in OUTCOME_COUNTS]
    return " · ".join(f"{count} {label}" for count, label in counts if count)


# -- exports -----------------------------------------------------------------------


def audit_rows(items: QuerySet[DeletionItem]) -> Iterator[dict[str, Any]]:
    """Each item with its batch, as a flat dict of EXPORT_COLUMNS (datetimes ISO 8601 UTC).

    Streams from the database in chunks, so an export of the whole log stays small in memory.
    """
    for item in items.select_related("batch").iterator(chunk_size=2000):
        batch = item.batch
        yield {
            "batch_id": batch.pk,
            "batch_status": batch.status,
            "registry": batch.registry_name,
            "planned_by": batch.planned_by_username,
            "confirmed_by": batch.confirmed_by_username,
            "source": batch.source,
            "reason": batch.reason,
            "planned_at": iso_utc(batch.planned_at),
            "confirmed_at": iso_utc(batch.confirmed_at),
            "started_at": iso_utc(batch.started_at),
            "batch_finished_at": iso_utc(batch.finished_at),
            "repository": item.repository_name,
            "tag": item.tag,
            "digest": item.digest,
            "size": item.size,
            "created": iso_utc(item.created),
            "action": item.action,
            "note": item.note,
            "outcome": item.outcome,
            "http_status": item.http_status,
            "detail": item.detail,
            "item_finished_at": iso_utc(item.finished_at),
        }


class Writable(Protocol):
    def write(self, text: str, /) -> Any: ...


class _Line:
    """A file that hands back what is written to it, so csv.writer can feed a generator."""

    def write(self, text: str) -> str:
        return text


# A spreadsheet runs a cell that starts with one of these as a formula.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: Any) -> Any:
    """Text that a spreadsheet would run as a formula, quoted with a leading apostrophe.

    Reasons, notes and details are typed by people (or come from a registry's
    error message); the export must not turn them into formulas when opened
    (OWASP "CSV injection"). The JSON export keeps the text as it is.
    """
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def csv_lines(rows: Iterable[Mapping[str, Any]]) -> Iterator[str]:
    """The CSV export, a header then one line per row (RFC 4180, CRLF line ends)."""
    writer = csv.writer(_Line())
    yield writer.writerow(EXPORT_COLUMNS)
    for row in rows:
        yield writer.writerow([_csv_cell(row[column]) for column in EXPORT_COLUMNS])


def json_chunks(rows: Iterable[Mapping[str, Any]]) -> Iterator[str]:
    """The JSON export, a list of objects, one object a line; every chunk ends a line."""
    yield "[\n"
    previous: str | None = None
    for row in rows:
        if previous is not None:
            yield f"  {previous},\n"
        previous = json.dumps({column: row[column] for column in EXPORT_COLUMNS})
    if previous is not None:
        yield f"  {previous}\n"
    yield "]\n"


def write_csv(rows: Iterable[Mapping[str, Any]], out: Writable) -> None:
    for line in csv_lines(rows):
        out.write(line)


def write_json(rows: Iterable[Mapping[str, Any]], out: Writable) -> None:
    for chunk in json_chunks(rows):
        out.write(chunk)
