"""The deletion audit log as files: CSV and JSON, one row per tag, streamed.

The views (registry.views.audit) and `manage.py export_audit` export the same
rows, chosen by the same filters (registry.audit). No registry address (which
may carry credentials) is exported: the rows name registries by name.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Protocol

from django.db.models import QuerySet

from .models import DeletionItem
from .selectors import iso_utc

# The columns of an export, in order (CSV header and JSON keys alike).
EXPORT_COLUMNS = [
    "batch_id",
    "batch_status",
    "registry",
    "planned_by",
    "confirmed_by",
    "source",
    "policy",
    "applied_by_schedule",
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
            "policy": batch.policy_name,
            "applied_by_schedule": batch.applied_by_schedule,
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
