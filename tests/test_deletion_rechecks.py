"""While a batch runs, the registry is read again before every chunk of deletes.

A CI job can push while a janitor's batch runs. Each test lets a batch send its
first DELETE, then changes the registry as a pipeline would, and reads the
registry afterwards: a digest that gained a tag must keep it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from devtools.image_builder import push_image, retag
from registry.client import RegistryClient, errors
from registry.deletion import run as deletion_run
from registry.deletion.batches import confirm_batch
from registry.deletion.outcomes import now_protected_note
from registry.deletion.plan import plan_deletion
from registry.models import DeletionBatch, DeletionItem, StalenessRules, Tag
from registry.sync import sync_registry
from tests.support.fault_proxy import Respond, distribution_error

JAN = datetime(2026, 1, 5, tzinfo=UTC)
REVIEW_TAGS = [f"review-{n}" for n in range(5)]
Outcome = DeletionItem.Outcome

pytestmark = pytest.mark.django_db


class ClientWithPipeline(RegistryClient):
    """A registry client after whose first DELETE a CI pipeline changes the registry."""

    def __init__(self, url: str, pipeline: Callable[[], None]) -> None:
        super().__init__(url, sleep=lambda seconds: None)
        self.pipeline: Callable[[], None] | None = pipeline

    def delete_manifest(self, repository: str, digest: str) -> None:
        super().delete_manifest(repository, digest)
        pipeline, self.pipeline = self.pipeline, None
        if pipeline is not None:
            pipeline()


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two deletes per chunk, so five review images take the batch through three chunks."""
    monkeypatch.setattr(deletion_run, "CHUNK", 2)


@pytest.fixture
def review_batch(cached_registry, registry_client, janitor, small_chunks) -> DeletionBatch:
    """Five review images, planned for deletion and confirmed; `latest` on another image."""
    StalenessRules.objects.create(registry=cached_registry, protected_patterns=["^latest$"])
    for tag in REVIEW_TAGS:
        push_image(registry_client, "acme/web", tag, created=JAN, label=tag)
    push_image(registry_client, "acme/web", "latest", created=JAN, label="release")
    assert sync_registry(registry=cached_registry).status == "succeeded"
    tags = Tag.objects.filter(repository__name="acme/web", name__in=REVIEW_TAGS)
    batch = plan_deletion(registry=cached_registry, tags=tags, actor=janitor, reason="cleanup")
    confirm_batch(batch=batch, actor=janitor, reason="stale review images")
    return batch


def last_planned(batch: DeletionBatch) -> DeletionItem:
    """The item the batch reaches last: the pipeline acts before its chunk."""
    item = batch.items.order_by("-position").first()
    assert item is not None
    return item


def outcomes(batch: DeletionBatch) -> dict[str, str]:
    return dict(batch.items.values_list("tag", "outcome"))


def test_a_tag_pushed_onto_a_planned_image_during_the_batch_survives(
    local_registry, registry_client, review_batch
) -> None:
    target = last_planned(review_batch)

    def promote() -> None:
        retag(registry_client, "acme/web", target.tag, "release-candidate")

    with ClientWithPipeline(local_registry.url, promote) as client:
        batch = deletion_run.execute_batch(batch=review_batch, client=client)

    target.refresh_from_db()
    assert target.outcome == Outcome.UNTAGGED, target.detail
    assert "release-candidate" in target.detail
    others = {tag: outcome for tag, outcome in outcomes(batch).items() if tag != target.tag}
    assert set(others.values()) == {Outcome.DELETED}
    assert set(registry_client.list_tags("acme/web")) == {"latest", "release-candidate"}
    assert registry_client.head_manifest("acme/web", "release-candidate").digest == target.digest


def test_a_protected_tag_moved_onto_a_planned_image_during_the_batch_keeps_it(
    local_registry, registry_client, review_batch
) -> None:
    target = last_planned(review_batch)

    def release() -> None:
        retag(registry_client, "acme/web", target.tag, "latest")

    with ClientWithPipeline(local_registry.url, release) as client:
        deletion_run.execute_batch(batch=review_batch, client=client)

    target.refresh_from_db()
    assert target.outcome == Outcome.SKIPPED
    assert target.detail == now_protected_note(["latest"])
    assert registry_client.head_manifest("acme/web", "latest").digest == target.digest
    assert set(registry_client.list_tags("acme/web")) == {"latest", target.tag}


def test_when_the_registry_cannot_be_read_again_the_rest_is_left_and_not_attempted(
    local_registry, registry_client, review_batch, fault_proxy
) -> None:
    proxy = fault_proxy(local_registry.url)
    error = Respond(500, distribution_error("UNKNOWN", "storage backend unavailable"))

    def break_the_tag_list() -> None:
        proxy.add_fault("GET", r"/tags/list", error)

    with ClientWithPipeline(proxy.url, break_the_tag_list) as client:
        batch = deletion_run.execute_batch(batch=review_batch, client=client)

    assert batch.status == DeletionBatch.Status.PARTIAL
    first = batch.items.order_by("position").first()
    assert first is not None
    assert first.outcome == Outcome.DELETED
    rest = batch.items.exclude(pk=first.pk)
    # Never sent: not attempted, not failed (the audit log must not blame the registry
    # for requests it never received).
    assert set(rest.values_list("outcome", flat=True)) == {Outcome.NOT_ATTEMPTED}
    assert all("could not be read again" in item.detail for item in rest)
    assert all("storage backend unavailable" in item.detail for item in rest)
    remaining = set(registry_client.list_tags("acme/web"))
    assert remaining == {"latest", *(item.tag for item in rest)}
    with pytest.raises(errors.NotFound):
        registry_client.head_manifest("acme/web", first.tag)
