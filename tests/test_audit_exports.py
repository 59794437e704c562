"""The audit log as files: its rows, the CSV and JSON exports, and the export_audit command.

The `log` fixture is in tests/support/audit_log.py.
"""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.http import QueryDict

from registry.audit import AuditFilterForm, AuditFilters, date_message, filter_items
from registry.audit_exports import EXPORT_COLUMNS, audit_rows, write_csv, write_json
from registry.models import Registry
from tests.factories import DeletionBatchFactory, DeletionItemFactory

pytestmark = pytest.mark.django_db


def parse(query: str) -> tuple[AuditFilters, dict[str, str]]:
    form = AuditFilterForm(QueryDict(query))
    return form.filters(), form.field_errors()


# -- rows and exports ------------------------------------------------------------------


def test_a_row_holds_the_item_and_its_batch_with_utc_times(log) -> None:
    filters, _ = parse("outcome=failed")
    [row] = list(audit_rows(filter_items(filters)))
    second = log["second"]
    assert list(row) == EXPORT_COLUMNS
    assert row == {
        "batch_id": second.pk,
        "batch_status": "partial",
        "registry": "staging",
        "planned_by": "sam-ops",
        "confirmed_by": "sam-ops",
        "source": "cli",
        "policy": "",
        "applied_by_schedule": False,
        "reason": "disk full",
        "planned_at": "2026-03-05T10:00:00Z",
        "confirmed_at": None,
        "started_at": None,
        "batch_finished_at": None,
        "repository": "acme/web",
        "tag": "review-3",
        "digest": row["digest"],
        "size": 10_000_000,
        "created": "2026-01-01T00:00:00Z",
        "action": "delete",
        "note": "",
        "outcome": "failed",
        "http_status": 500,
        "detail": "The registry answered 500: internal error.",
        "item_finished_at": "2026-03-05T10:02:00Z",
    }
    assert row["digest"].startswith("sha256:")


def test_no_registry_address_appears_in_a_row(log) -> None:
    Registry.objects.filter(name="main").update(url="https://robot:s3cret@registry.example.com")
    rows = list(audit_rows(filter_items(AuditFilters())))
    assert "s3cret" not in json.dumps(rows)
    assert "registry.example.com" not in json.dumps(rows)


def test_the_csv_export_reads_back_as_the_rows(log) -> None:
    rows = list(audit_rows(filter_items(AuditFilters())))
    out = io.StringIO()
    write_csv(rows, out)
    parsed = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert out.getvalue().startswith(",".join(EXPORT_COLUMNS) + "\r\n")
    assert len(parsed) == 6
    for written, row in zip(parsed, rows, strict=True):
        assert written == {k: "" if v is None else str(v) for k, v in row.items()}


def test_the_json_export_is_a_list_of_the_rows(log) -> None:
    rows = list(audit_rows(filter_items(AuditFilters())))
    out = io.StringIO()
    write_json(rows, out)
    assert json.loads(out.getvalue()) == rows
    empty = io.StringIO()
    write_json([], empty)
    assert json.loads(empty.getvalue()) == []


def test_csv_cells_that_a_spreadsheet_would_run_are_quoted_but_json_keeps_them() -> None:
    batch = DeletionBatchFactory.create(reason='=HYPERLINK("http://evil.example","click")')
    DeletionItemFactory.create(batch=batch, detail="@SUM(1+1)")
    rows = list(audit_rows(filter_items(AuditFilters())))
    out = io.StringIO()
    write_csv(rows, out)
    [written] = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert written["reason"] == '\'=HYPERLINK("http://evil.example","click")'
    assert written["detail"] == "'@SUM(1+1)"
    as_json = io.StringIO()
    write_json(rows, as_json)
    assert json.loads(as_json.getvalue())[0]["reason"].startswith("=HYPERLINK")


# -- the export_audit command ------------------------------------------------------------


def export(*args: str) -> str:
    out = io.StringIO()
    call_command("export_audit", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_export_audit_writes_csv_to_stdout_by_default(log) -> None:
    parsed = list(csv.DictReader(io.StringIO(export())))
    assert [row["tag"] for row in parsed] == [
        "review-9",
        "review-2",
        "review-3",
        "review-1",
        "latest",
        "v1.0",
    ]
    assert parsed[2]["http_status"] == "500"
    assert parsed[0]["batch_id"] == str(log["plan"].pk)


def test_export_audit_writes_json_since_a_day_for_one_registry(log) -> None:
    rows = json.loads(export("--format", "json", "--since", "2026-03-05", "--registry", "main"))
    assert [(row["registry"], row["tag"], row["outcome"]) for row in rows] == [
        ("main", "review-9", "pending")
    ]
    everything = json.loads(export("--format", "json"))
    assert everything == list(audit_rows(filter_items(AuditFilters())))


def test_export_audit_writes_to_a_file(log, tmp_path) -> None:
    target = tmp_path / "audit.csv"
    assert export("--registry", "staging", "--output", str(target)) == ""
    with target.open(newline="", encoding="utf-8") as written:
        assert [row["tag"] for row in csv.DictReader(written)] == ["review-2", "review-3"]


def test_export_audit_refuses_a_bad_date() -> None:
    with pytest.raises(CommandError) as refused:
        export("--since", "March 5th")
    assert str(refused.value) == date_message("--since")
    assert "YYYY-MM-DD" in str(refused.value)
