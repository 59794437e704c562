"""The audit log, read: filters, exports, the export_audit command, and its append-only rows.

The `log` fixture is in tests/support/audit_log.py.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.http import QueryDict
from django.test import override_settings

from registry.audit import (
    ACTION_MESSAGE,
    BATCH_MESSAGE,
    DATE_FROM_MESSAGE,
    DATE_ORDER_MESSAGE,
    DATE_TO_MESSAGE,
    EXPORT_COLUMNS,
    OUTCOME_MESSAGE,
    AuditFilters,
    audit_querystring,
    audit_rows,
    date_message,
    filter_batches,
    filter_items,
    outcome_summary,
    parse_audit_filters,
    write_csv,
    write_json,
)
from registry.models import AuditLogIsAppendOnly, DeletionBatch, DeletionItem, Registry
from tests.factories import DeletionBatchFactory, DeletionItemFactory

pytestmark = pytest.mark.django_db

Status = DeletionBatch.Status
Outcome = DeletionItem.Outcome


def parse(query: str) -> tuple[AuditFilters, dict[str, str]]:
    return parse_audit_filters(QueryDict(query))


def tags_for(query: str) -> list[str]:
    filters, errors = parse(query)
    assert errors == {}
    return [item.tag for item in filter_items(filters)]


# -- filters ---------------------------------------------------------------------------


def test_without_filters_every_item_is_listed_newest_batch_first_then_in_order(log) -> None:  # type: ignore[no-untyped-def]
    assert tags_for("") == ["review-9", "review-2", "review-3", "review-1", "latest", "v1.0"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("user=sam", ["review-2", "review-3"]),
        ("user=SAM-OPS", ["review-2", "review-3"]),
        # Whoever confirmed counts as well as whoever planned.
        ("user=ada", ["review-1", "latest", "v1.0"]),
        ("registry=staging", ["review-2", "review-3"]),
        ("registry=stag", []),  # a registry is named exactly
        ("repository=API", ["v1.0"]),
        ("tag=review-", ["review-9", "review-2", "review-3", "review-1"]),
        ("outcome=failed", ["review-3"]),
        ("outcome=pending", ["review-9"]),
        ("action=untag", ["latest"]),
        ("action=refuse&repository=acme", ["v1.0"]),
        ("date_from=2026-03-05", ["review-9", "review-2", "review-3"]),
        ("date_to=2026-03-05", ["review-2", "review-3", "review-1", "latest", "v1.0"]),
        ("date_from=2026-03-05&date_to=2026-03-05", ["review-2", "review-3"]),
        ("date_from=2026-03-02&date_to=2026-03-04", []),
    ],
)
def test_each_filter_narrows_the_items(log, query: str, expected: list[str]) -> None:  # type: ignore[no-untyped-def]
    assert tags_for(query) == expected


def test_the_batch_filter_keeps_one_batch(log) -> None:  # type: ignore[no-untyped-def]
    assert tags_for(f"batch={log['first'].pk}") == ["review-1", "latest", "v1.0"]
    assert tags_for(f"batch=%23{log['second'].pk}") == ["review-2", "review-3"]  # "#12" too


@override_settings(TIME_ZONE="Europe/Berlin")
def test_dates_are_days_in_the_site_time_zone() -> None:
    late = DeletionBatchFactory(planned_at=datetime(2026, 3, 4, 23, 30, tzinfo=UTC))
    DeletionItemFactory(batch=late, tag="late-evening-utc")
    # 23:30 UTC on the 4th is 00:30 on the 5th in Berlin.
    assert tags_for("date_from=2026-03-05") == ["late-evening-utc"]
    assert tags_for("date_to=2026-03-04") == []


def test_the_batch_list_uses_the_batch_filters_only(log) -> None:  # type: ignore[no-untyped-def]
    filters, _ = parse("user=jan&outcome=failed")
    assert list(filter_batches(filters)) == [log["plan"], log["first"]]


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("date_from=2026-02-30", "date_from", DATE_FROM_MESSAGE),
        ("date_from=01/03/2026", "date_from", DATE_FROM_MESSAGE),
        ("date_from=20260301", "date_from", DATE_FROM_MESSAGE),
        ("date_to=2026-W09-1", "date_to", DATE_TO_MESSAGE),
        ("date_from=2026-03-05&date_to=2026-03-01", "date_to", DATE_ORDER_MESSAGE),
        ("outcome=gone", "outcome", OUTCOME_MESSAGE),
        ("action=purge", "action", ACTION_MESSAGE),
        ("batch=abc", "batch", BATCH_MESSAGE),
        ("batch=0", "batch", BATCH_MESSAGE),
        ("batch=99999999999999999999", "batch", BATCH_MESSAGE),
    ],
)
def test_a_bad_value_is_an_error_and_is_left_out(query: str, field: str, message: str) -> None:
    filters, errors = parse(query)
    assert errors == {field: message}
    assert getattr(filters, field) in ("", None)


def test_error_messages_say_what_to_enter() -> None:
    assert DATE_FROM_MESSAGE == "From: enter a date as YYYY-MM-DD, such as 2026-03-01."
    assert "pending, deleted, untagged, absent, skipped, refused, failed" in OUTCOME_MESSAGE


def test_good_values_are_kept_and_written_back_to_the_query_string() -> None:
    filters, errors = parse(
        "user=+jan+&registry=main&repository=acme&tag=rev&outcome=Deleted&action=delete"
        "&batch=7&date_from=2026-03-01&date_to=2026-03-31&page=3"
    )
    assert errors == {}
    assert filters == AuditFilters(
        user="jan",
        registry="main",
        repository="acme",
        tag="rev",
        outcome="deleted",
        action="delete",
        batch=7,
        date_from=date(2026, 3, 1),
        date_to=date(2026, 3, 31),
    )
    assert audit_querystring(filters) == (
        "user=jan&registry=main&repository=acme&tag=rev&outcome=deleted&action=delete"
        "&batch=7&date_from=2026-03-01&date_to=2026-03-31"
    )
    assert audit_querystring(AuditFilters()) == ""
    assert not AuditFilters().is_filtered
    assert filters.is_filtered


def test_a_batch_outcome_summary_names_the_counts_that_are_not_zero() -> None:
    finished = DeletionBatchFactory(
        status=Status.PARTIAL, deleted_count=3, absent_count=1, failed_count=2
    )
    assert outcome_summary(finished) == "3 deleted · 1 already absent · 2 failed"
    assert outcome_summary(DeletionBatchFactory(status=Status.RUNNING, deleted_count=3)) == ""


# -- rows and exports ------------------------------------------------------------------


def test_a_row_holds_the_item_and_its_batch_with_utc_times(log) -> None:  # type: ignore[no-untyped-def]
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


def test_no_registry_address_appears_in_a_row(log) -> None:  # type: ignore[no-untyped-def]
    Registry.objects.filter(name="main").update(url="https://robot:s3cret@registry.example.com")
    rows = list(audit_rows(filter_items(AuditFilters())))
    assert "s3cret" not in json.dumps(rows)
    assert "registry.example.com" not in json.dumps(rows)


def test_the_csv_export_reads_back_as_the_rows(log) -> None:  # type: ignore[no-untyped-def]
    rows = list(audit_rows(filter_items(AuditFilters())))
    out = io.StringIO()
    write_csv(rows, out)
    parsed = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert out.getvalue().startswith(",".join(EXPORT_COLUMNS) + "\r\n")
    assert len(parsed) == 6
    for written, row in zip(parsed, rows, strict=True):
        assert written == {k: "" if v is None else str(v) for k, v in row.items()}


def test_the_json_export_is_a_list_of_the_rows(log) -> None:  # type: ignore[no-untyped-def]
    rows = list(audit_rows(filter_items(AuditFilters())))
    out = io.StringIO()
    write_json(rows, out)
    assert json.loads(out.getvalue()) == rows
    empty = io.StringIO()
    write_json([], empty)
    assert json.loads(empty.getvalue()) == []


def test_csv_cells_that_a_spreadsheet_would_run_are_quoted_but_json_keeps_them() -> None:
    batch = DeletionBatchFactory(reason='=HYPERLINK("http://evil.example","click")')
    DeletionItemFactory(batch=batch, detail="@SUM(1+1)")
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


def test_export_audit_writes_csv_to_stdout_by_default(log) -> None:  # type: ignore[no-untyped-def]
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


def test_export_audit_writes_json_since_a_day_for_one_registry(log) -> None:  # type: ignore[no-untyped-def]
    rows = json.loads(export("--format", "json", "--since", "2026-03-05", "--registry", "main"))
    assert [(row["registry"], row["tag"], row["outcome"]) for row in rows] == [
        ("main", "review-9", "pending")
    ]
    everything = json.loads(export("--format", "json"))
    assert everything == list(audit_rows(filter_items(AuditFilters())))


def test_export_audit_writes_to_a_file(log, tmp_path) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "audit.csv"
    assert export("--registry", "staging", "--output", str(target)) == ""
    with target.open(newline="", encoding="utf-8") as written:
        assert [row["tag"] for row in csv.DictReader(written)] == ["review-2", "review-3"]


def test_export_audit_refuses_a_bad_date() -> None:
    with pytest.raises(CommandError) as refused:
        export("--since", "March 5th")
    assert str(refused.value) == date_message("--since")
    assert "YYYY-MM-DD" in str(refused.value)


# -- append-only ---------------------------------------------------------------------------


@pytest.fixture
def finished_item():  # type: ignore[no-untyped-def]
    return DeletionItemFactory(outcome=Outcome.DELETED, detail="")


def test_a_finished_item_cannot_be_saved_again(finished_item) -> None:  # type: ignore[no-untyped-def]
    finished_item.outcome = Outcome.FAILED
    with pytest.raises(AuditLogIsAppendOnly):
        finished_item.save()
    finished_item.refresh_from_db()
    assert finished_item.outcome == Outcome.DELETED


def test_a_finished_batch_cannot_be_saved_again() -> None:
    batch = DeletionBatchFactory(status=Status.SUCCEEDED, reason="cleanup")
    batch.reason = "something else"
    with pytest.raises(AuditLogIsAppendOnly):
        batch.save()
    batch.refresh_from_db()
    assert batch.reason == "cleanup"


def test_an_open_row_is_finished_once_then_frozen() -> None:
    batch = DeletionBatchFactory(status=Status.RUNNING)
    item = DeletionItemFactory(batch=batch, outcome=Outcome.PENDING)
    item.outcome = Outcome.DELETED
    item.save()  # pending until this save: allowed
    batch.status = Status.SUCCEEDED
    batch.save()
    item.detail = "rewritten"
    with pytest.raises(AuditLogIsAppendOnly):
        item.save()
    batch.reason = "rewritten"
    with pytest.raises(AuditLogIsAppendOnly):
        batch.save()


def test_no_row_is_ever_deleted_open_or_finished(finished_item) -> None:  # type: ignore[no-untyped-def]
    open_batch = DeletionBatchFactory(status=Status.PLANNED)
    open_item = DeletionItemFactory(batch=open_batch, outcome=Outcome.PENDING)
    for row in (finished_item, finished_item.batch, open_item, open_batch):
        with pytest.raises(AuditLogIsAppendOnly):
            row.delete()
    with pytest.raises(AuditLogIsAppendOnly):
        DeletionItem.objects.all().delete()
    with pytest.raises(AuditLogIsAppendOnly):
        DeletionBatch.objects.filter(pk=open_batch.pk).delete()
    assert DeletionItem.objects.count() == 2
    assert DeletionBatch.objects.count() == 2


def test_queryset_update_leaves_finished_rows_untouched(finished_item) -> None:  # type: ignore[no-untyped-def]
    open_item = DeletionItemFactory(
        batch=DeletionBatchFactory(status=Status.RUNNING), outcome=Outcome.PENDING
    )
    assert DeletionItem.objects.update(detail="rewritten") == 1
    assert DeletionBatch.objects.update(reason="rewritten") == 1
    finished_item.refresh_from_db()
    finished_item.batch.refresh_from_db()
    open_item.refresh_from_db()
    assert finished_item.detail == ""
    assert finished_item.batch.reason == "stale review images"
    assert open_item.detail == "rewritten"


postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the triggers are PostgreSQL's (migration 0010)"
)


def raw(sql: str, params: list) -> None:  # type: ignore[type-arg]
    # Inside a savepoint, so that the refused statement leaves the test's transaction usable.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


@postgresql_only
def test_the_database_refuses_raw_updates_of_finished_rows(finished_item) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DatabaseError, match="append-only"):
        raw("UPDATE registry_deletionitem SET detail = 'x' WHERE id = %s", [finished_item.pk])
    with pytest.raises(DatabaseError, match="append-only"):
        raw(
            "UPDATE registry_deletionbatch SET reason = 'x' WHERE id = %s", [finished_item.batch_id]
        )
    finished_item.refresh_from_db()
    assert finished_item.detail == ""


@postgresql_only
def test_the_database_lets_open_rows_change() -> None:
    item = DeletionItemFactory(
        batch=DeletionBatchFactory(status=Status.RUNNING), outcome=Outcome.PENDING
    )
    raw("UPDATE registry_deletionitem SET outcome = 'deleted' WHERE id = %s", [item.pk])
    raw("UPDATE registry_deletionbatch SET status = 'succeeded' WHERE id = %s", [item.batch_id])
    item.refresh_from_db()
    assert (item.outcome, item.batch.status) == ("deleted", "succeeded")


@postgresql_only
def test_the_database_refuses_raw_deletes_even_of_open_rows(finished_item) -> None:  # type: ignore[no-untyped-def]
    open_item = DeletionItemFactory(
        batch=DeletionBatchFactory(status=Status.PLANNED), outcome=Outcome.PENDING
    )
    for table, pk in [
        ("registry_deletionitem", finished_item.pk),
        ("registry_deletionitem", open_item.pk),
        ("registry_deletionbatch", open_item.batch_id),
    ]:
        with pytest.raises(DatabaseError, match="append-only"):
            raw(f"DELETE FROM {table} WHERE id = %s", [pk])
    assert DeletionItem.objects.count() == 2
    assert DeletionBatch.objects.count() == 2
