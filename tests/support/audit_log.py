"""An audit log to read: the `log` fixture that the audit tests and the audit page tests share.

Registered from tests/conftest.py with `pytest_plugins`, like tests/support/fixtures.py.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from registry.models import DeletionBatch, DeletionItem
from tests.factories import DeletionBatchFactory, DeletionItemFactory, RegistryFactory

MIB = 1024 * 1024


def at(day: int, hour: int = 10, minute: int = 0) -> datetime:
    """A moment in March 2026, UTC: the month the log was written."""
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def log(db: None) -> dict[str, DeletionBatch]:
    """Three batches, newest last: one on main in full, a partial one on staging from the
    command line, and an open plan on main. Returned by name: first, second, plan."""
    first = DeletionBatchFactory.create(
        registry=RegistryFactory.create(name="main"),
        planned_by_username="jan-janitor",
        confirmed_by_username="ada-admin",
        reason="stale review images",
        planned_at=at(1),
        status=DeletionBatch.Status.SUCCEEDED,
        tags_planned=3,
        deleted_count=1,
        untagged_count=1,
        refused_count=1,
        bytes_deleted=50 * MIB,
    )
    DeletionItemFactory.create(
        batch=first,
        position=1,
        tag="review-1",
        digest="sha256:" + "ab" * 32,
        finished_at=at(1, 10, 5),
    )
    DeletionItemFactory.create(
        batch=first,
        position=2,
        tag="latest",
        action=DeletionItem.Action.UNTAG,
        outcome=DeletionItem.Outcome.UNTAGGED,
        note="Also tagged keep-me (not in the plan): only this tag is removed.",
        finished_at=at(1, 10, 6),
    )
    DeletionItemFactory.create(
        batch=first,
        position=3,
        repository_name="acme/api",
        tag="v1.0",
        action=DeletionItem.Action.REFUSE,
        outcome=DeletionItem.Outcome.REFUSED,
        note="protected: matches ^v",
        http_status=None,
        finished_at=None,
    )
    second = DeletionBatchFactory.create(
        registry=RegistryFactory.create(name="staging"),
        planned_by_username="sam-ops",
        reason="disk full",
        source=DeletionBatch.Source.CLI,
        planned_at=at(5),
        status=DeletionBatch.Status.PARTIAL,
        tags_planned=2,
        deleted_count=1,
        failed_count=1,
        bytes_deleted=10 * MIB,
    )
    DeletionItemFactory.create(batch=second, position=1, tag="review-2", finished_at=at(5, 10, 1))
    DeletionItemFactory.create(
        batch=second,
        position=2,
        tag="review-3",
        outcome=DeletionItem.Outcome.FAILED,
        http_status=500,
        detail="The registry answered 500: internal error.",
        finished_at=at(5, 10, 2),
    )
    # Its own reason, so that what the pages show of the first batch can't come from it.
    plan = DeletionBatchFactory.create(
        registry=RegistryFactory.create(name="main"),
        planned_by_username="jan-janitor",
        reason="review builds of merged branches",
        planned_at=at(10),
        status=DeletionBatch.Status.PLANNED,
        tags_planned=1,
    )
    DeletionItemFactory.create(
        batch=plan,
        position=1,
        tag="review-9",
        outcome=DeletionItem.Outcome.PENDING,
        http_status=None,
    )
    return {"first": first, "second": second, "plan": plan}
