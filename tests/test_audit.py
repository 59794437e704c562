"""The audit log, read: its filters, the items and batches they match, and its append-only rows.

The `log` fixture is in tests/support/audit_log.py.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction
from django.http import QueryDict
from django.test import override_settings

from registry.audit import (
    ACTION_MESSAGE,
    BATCH_MESSAGE,
    DATE_FROM_MESSAGE,
    DATE_ORDER_MESSAGE,
    DATE_TO_MESSAGE,
    OUTCOME_MESSAGE,
    TEXT_TOO_LONG_MESSAGE,
    AuditFilterForm,
    AuditFilters,
    filter_batches,
    filter_items,
    outcome_summary,
)
from registry.filter_forms import filter_querystring
from registry.models import AuditLogIsAppendOnly, DeletionBatch, DeletionItem
from tests.factories import DeletionBatchFactory, DeletionItemFactory

pytestmark = pytest.mark.django_db

Status = DeletionBatch.Status
Outcome = DeletionItem.Outcome
SAME_DAY = date(2026, 3, 5)


def parse(query: str) -> tuple[AuditFilters, dict[str, str]]:
    form = AuditFilterForm(QueryDict(query))
    return form.filters(), form.field_errors()


def tags_for(query: str) -> list[str]:
    filters, errors = parse(query)
    assert errors == {}
    return [item.tag for item in filter_items(filters)]


# -- filters ---------------------------------------------------------------------------


def test_without_filters_every_item_is_listed_newest_batch_first_then_in_order(log) -> None:
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
def test_each_filter_narrows_the_items(log, query: str, expected: list[str]) -> None:
    assert tags_for(query) == expected


def test_the_batch_filter_keeps_one_batch(log) -> None:
    assert tags_for(f"batch={log['first'].pk}") == ["review-1", "latest", "v1.0"]
    assert tags_for(f"batch=%23{log['second'].pk}") == ["review-2", "review-3"]  # "#12" too


@override_settings(TIME_ZONE="Europe/Berlin")
def test_dates_are_days_in_the_site_time_zone() -> None:
    late = DeletionBatchFactory.create(planned_at=datetime(2026, 3, 4, 23, 30, tzinfo=UTC))
    DeletionItemFactory.create(batch=late, tag="late-evening-utc")
    # 23:30 UTC on the 4th is 00:30 on the 5th in Berlin.
    assert tags_for("date_from=2026-03-05") == ["late-evening-utc"]
    assert tags_for("date_to=2026-03-04") == []


def test_the_batch_list_uses_the_batch_filters_only(log) -> None:
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


@pytest.mark.parametrize(
    ("query", "filters"),
    [
        ("", AuditFilters()),
        ("user=+Jan+", AuditFilters(user="Jan")),
        (
            "registry=main&repository=acme/web&tag=review-",
            AuditFilters(registry="main", repository="acme/web", tag="review-"),
        ),
        (f"tag={'x' * 255}", AuditFilters(tag="x" * 255)),
        ("outcome=+FAILED+&action=Untag", AuditFilters(outcome="failed", action="untag")),
        ("batch=12", AuditFilters(batch=12)),
        ("batch=%2312", AuditFilters(batch=12)),
        ("batch=%23", AuditFilters()),
        ("date_from=+2026-03-01+", AuditFilters(date_from=date(2026, 3, 1))),
        (
            "date_from=2026-03-05&date_to=2026-03-05",
            AuditFilters(date_from=SAME_DAY, date_to=SAME_DAY),
        ),
    ],
)
def test_good_values_are_read_into_the_filters(query: str, filters: AuditFilters) -> None:
    assert parse(query) == (filters, {})


@pytest.mark.parametrize(
    ("query", "errors"),
    [
        (f"user={'x' * 256}", {"user": TEXT_TOO_LONG_MESSAGE}),
        ("date_to=2026-3-31", {"date_to": DATE_TO_MESSAGE}),
        ("batch=%23+12", {"batch": BATCH_MESSAGE}),
        ("batch=9223372036854775808", {"batch": BATCH_MESSAGE}),
        pytest.param(
            "action=purge&tag=" + "x" * 256 + "&date_to=soon&batch=x",
            {
                "batch": BATCH_MESSAGE,
                "date_to": DATE_TO_MESSAGE,
                "tag": TEXT_TOO_LONG_MESSAGE,
                "action": ACTION_MESSAGE,
            },
            id="the-batch-and-dates-come-first-then-the-fields-in-order",
        ),
    ],
)
def test_bad_values_say_what_is_wrong_in_order_and_are_left_out(
    query: str, errors: dict[str, str]
) -> None:
    filters, found = parse(query)
    assert list(found.items()) == list(errors.items())
    assert filters == AuditFilters()


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
    assert filter_querystring(filters) == (
        "user=jan&registry=main&repository=acme&tag=rev&outcome=deleted&action=delete"
        "&batch=7&date_from=2026-03-01&date_to=2026-03-31"
    )
    assert filter_querystring(AuditFilters()) == ""
    assert not AuditFilters().is_filtered
    assert filters.is_filtered


def test_a_batch_outcome_summary_names_the_counts_that_are_not_zero() -> None:
    finished = DeletionBatchFactory.create(
        status=Status.PARTIAL, deleted_count=3, absent_count=1, failed_count=2
    )
    assert outcome_summary(finished) == "3 deleted · 1 already absent · 2 failed"
    assert (
        outcome_summary(DeletionBatchFactory.create(status=Status.RUNNING, deleted_count=3)) == ""
    )


# -- append-only ---------------------------------------------------------------------------


@pytest.fixture
def finished_item():
    return DeletionItemFactory.create(outcome=Outcome.DELETED, detail="")


def test_a_finished_item_cannot_be_saved_again(finished_item) -> None:
    finished_item.outcome = Outcome.FAILED
    with pytest.raises(AuditLogIsAppendOnly):
        finished_item.save()
    finished_item.refresh_from_db()
    assert finished_item.outcome == Outcome.DELETED


def test_a_finished_batch_cannot_be_saved_again() -> None:
    batch = DeletionBatchFactory.create(status=Status.SUCCEEDED, reason="cleanup")
    batch.reason = "something else"
    with pytest.raises(AuditLogIsAppendOnly):
        batch.save()
    batch.refresh_from_db()
    assert batch.reason == "cleanup"


def test_an_open_row_is_finished_once_then_frozen() -> None:
    batch = DeletionBatchFactory.create(status=Status.RUNNING)
    item = DeletionItemFactory.create(batch=batch, outcome=Outcome.PENDING)
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


def test_no_row_is_ever_deleted_open_or_finished(finished_item) -> None:
    open_batch = DeletionBatchFactory.create(status=Status.PLANNED)
    open_item = DeletionItemFactory.create(batch=open_batch, outcome=Outcome.PENDING)
    for row in (finished_item, finished_item.batch, open_item, open_batch):
        with pytest.raises(AuditLogIsAppendOnly):
            row.delete()
    with pytest.raises(AuditLogIsAppendOnly):
        DeletionItem.objects.all().delete()
    with pytest.raises(AuditLogIsAppendOnly):
        DeletionBatch.objects.filter(pk=open_batch.pk).delete()
    assert DeletionItem.objects.count() == 2
    assert DeletionBatch.objects.count() == 2


def test_queryset_update_leaves_finished_rows_untouched(finished_item) -> None:
    open_item = DeletionItemFactory.create(
        batch=DeletionBatchFactory.create(status=Status.RUNNING), outcome=Outcome.PENDING
    )
    assert DeletionItem.objects.update(detail="rewritten") == 1
    assert DeletionBatch.objects.update(error="rewritten") == 1
    finished_item.refresh_from_db()
    finished_item.batch.refresh_from_db()
    open_item.refresh_from_db()
    assert finished_item.detail == ""
    assert finished_item.batch.error == ""
    assert open_item.detail == "rewritten"


def test_nobody_rewrites_who_planned_an_open_batch(db) -> None:
    batch = DeletionBatchFactory.create(status=Status.PLANNED, confirmed_by_username="")
    with pytest.raises(AuditLogIsAppendOnly):
        DeletionBatch.objects.filter(pk=batch.pk).update(planned_by_username="mallory")
    batch.planned_by_username = "mallory"
    with pytest.raises(AuditLogIsAppendOnly):
        batch.save()
    assert DeletionBatch.objects.get().planned_by_username == "jan-janitor"


def test_nobody_rewrites_which_policy_planned_an_open_batch(db) -> None:
    batch = DeletionBatchFactory.create(status=Status.PLANNED, confirmed_by_username="")
    with pytest.raises(AuditLogIsAppendOnly):
        DeletionBatch.objects.filter(pk=batch.pk).update(policy_name="weekly")
    assert DeletionBatch.objects.get().policy_name == ""


def test_a_recorded_confirmation_is_never_rewritten(db) -> None:
    batch = DeletionBatchFactory.create(status=Status.QUEUED)  # confirmed by jan-janitor
    changed = DeletionBatch.objects.filter(pk=batch.pk).update(
        confirmed_by_username="mallory", reason="nothing to see"
    )
    batch.confirmed_by_username = "mallory"
    with pytest.raises(AuditLogIsAppendOnly):
        batch.save()
    assert changed == 0
    stored = DeletionBatch.objects.get()
    assert (stored.confirmed_by_username, stored.reason) == ("jan-janitor", "stale review images")


postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the triggers are PostgreSQL's (migration 0010)"
)


def raw(sql: str, params: list[Any]) -> None:
    # Inside a savepoint, so that the refused statement leaves the test's transaction usable.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


@postgresql_only
def test_the_database_refuses_raw_updates_of_finished_rows(finished_item) -> None:
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
    item = DeletionItemFactory.create(
        batch=DeletionBatchFactory.create(status=Status.RUNNING), outcome=Outcome.PENDING
    )
    raw("UPDATE registry_deletionitem SET outcome = 'deleted' WHERE id = %s", [item.pk])
    raw("UPDATE registry_deletionbatch SET status = 'succeeded' WHERE id = %s", [item.batch_id])
    item.refresh_from_db()
    assert (item.outcome, item.batch.status) == ("deleted", "succeeded")


@postgresql_only
def test_the_database_refuses_raw_deletes_even_of_open_rows(finished_item) -> None:
    open_item = DeletionItemFactory.create(
        batch=DeletionBatchFactory.create(status=Status.PLANNED), outcome=Outcome.PENDING
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


@postgresql_only
def test_the_database_refuses_to_rewrite_who_planned_or_confirmed_an_open_batch(db) -> None:
    batch = DeletionBatchFactory.create(status=Status.QUEUED)
    for column in ("planned_by_username", "confirmed_by_username", "reason", "policy_name"):
        with pytest.raises(DatabaseError, match="keeps who"):
            raw(f"UPDATE registry_deletionbatch SET {column} = 'x' WHERE id = %s", [batch.pk])
    raw("UPDATE registry_deletionbatch SET status = 'running' WHERE id = %s", [batch.pk])
    assert DeletionBatch.objects.get().status == Status.RUNNING, "progress may still change"
