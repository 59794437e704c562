"""Planning and executing deletions against a real registry (distribution 2.8.2).

Every test reads the registry afterwards: what the batch says happened must be
what the registry holds.
"""

from __future__ import annotations

from datetime import UTC, datetime
from unittest.mock import patch

import pytest

from devtools.image_builder import push_image, push_index, retag, upload_layer
from registry.client import RegistryClient, errors
from registry.deletion import outcomes
from registry.deletion.batches import confirm_batch
from registry.deletion.lease import BatchBusy, claim_batch
from registry.deletion.plan import plan_deletion
from registry.deletion.run import execute_batch
from registry.models import DeletionBatch, DeletionItem, Manifest, StalenessRules, Tag
from registry.sync import sync_registry
from registry.tasks import requeue_stuck_batches

JAN = datetime(2026, 1, 5, tzinfo=UTC)
Action = DeletionItem.Action
Outcome = DeletionItem.Outcome


@pytest.fixture
def no_protection(cached_registry):
    """Rules that protect nothing, so tests can delete `master` and `latest`."""
    StalenessRules.objects.create(registry=cached_registry, protected_patterns=[])
    return cached_registry


def sync(registry) -> None:
    run = sync_registry(registry=registry)
    assert run.status == "succeeded", run.error


def plan(registry, janitor, *names: str, repository: str = "acme/web") -> DeletionBatch:
    tags = Tag.objects.filter(repository__name=repository, name__in=names)
    assert tags.count() == len(names), "every tag to plan is in the cache"
    return plan_deletion(registry=registry, tags=tags, actor=janitor, reason="cleanup")


def run(batch: DeletionBatch, janitor) -> DeletionBatch:
    confirm_batch(batch=batch, actor=janitor, reason="stale review images")
    return execute_batch(batch=batch)


def items(batch: DeletionBatch) -> dict[str, tuple[str, str]]:
    return {item.tag: (item.action, item.outcome) for item in batch.items.all()}


def tags_in_registry(client: RegistryClient, repository: str = "acme/web") -> set[str]:
    try:
        return set(client.list_tags(repository))
    except errors.NotFound:
        return set()


def exists(client: RegistryClient, reference: str, repository: str = "acme/web") -> bool:
    try:
        client.head_manifest(repository, reference)
    except errors.NotFound:
        return False
    return True


# -- the plan ---------------------------------------------------------------------------


def test_a_tag_sharing_its_digest_with_an_unselected_tag_is_untag_only(
    no_protection, registry_client, janitor
) -> None:
    push_image(registry_client, "acme/web", "master", created=JAN)
    retag(registry_client, "acme/web", "master", "latest")
    sync(no_protection)

    batch = plan(no_protection, janitor, "master")

    item = batch.items.get()
    assert item.action == Action.UNTAG
    assert item.shared_with == ["latest"]
    assert "Also tagged latest" in item.note
    assert batch.manifests_planned == 0
    assert batch.untags_planned == 1
    assert batch.bytes_reclaimable == 0, "the image stays, so nothing is freed"


def test_a_digest_shared_with_a_protected_tag_is_refused(
    cached_registry, registry_client, janitor
) -> None:
    push_image(registry_client, "acme/web", "review-1", created=JAN)
    retag(registry_client, "acme/web", "review-1", "production")
    sync(cached_registry)

    batch = plan(cached_registry, janitor, "review-1")

    item = batch.items.get()
    assert (item.action, item.outcome) == (Action.REFUSE, Outcome.REFUSED)
    assert "protected tag production" in item.note
    assert batch.refused_planned == 1


def test_the_plan_frees_only_blobs_no_surviving_image_uses(
    no_protection, registry_client, janitor
) -> None:
    base = upload_layer(registry_client, "acme/web", b"shared base layer" * 100)
    push_image(
        registry_client,
        "acme/web",
        "review-1",
        created=JAN,
        shared_layers=(base,),
        layers=(b"a" * 1000,),
    )
    push_image(
        registry_client,
        "acme/web",
        "review-2",
        created=JAN,
        shared_layers=(base,),
        layers=(b"b" * 2000,),
    )
    sync(no_protection)
    config_size = Manifest.objects.get(tags__name="review-1").config_size

    batch = plan(no_protection, janitor, "review-1")

    assert batch.bytes_planned == base.size + 1000
    assert batch.bytes_reclaimable == 1000 + config_size, "the shared base stays"


def test_signature_tags_join_the_plan_of_their_image(
    no_protection, registry_client, janitor
) -> None:
    image = push_image(registry_client, "acme/web", "review-1", created=JAN)
    signature_tag = "sha256-" + image.digest.split(":")[1] + ".sig"
    push_image(registry_client, "acme/web", signature_tag, created=JAN, label="signature")
    sync(no_protection)

    batch = plan(no_protection, janitor, "review-1")

    assert items(batch) == {
        "review-1": (Action.DELETE, Outcome.PENDING),
        signature_tag: (Action.DELETE, Outcome.PENDING),
    }
    assert batch.items.get(tag=signature_tag).companion_of == image.digest

    finished = run(batch, janitor)

    assert finished.status == DeletionBatch.Status.SUCCEEDED
    assert tags_in_registry(registry_client) == set()


# -- executing ------------------------------------------------------------------------


def test_untagging_master_keeps_latest_pullable(no_protection, registry_client, janitor) -> None:
    image = push_image(registry_client, "acme/web", "master", created=JAN)
    retag(registry_client, "acme/web", "master", "latest")
    sync(no_protection)

    batch = run(plan(no_protection, janitor, "master"), janitor)

    assert batch.status == DeletionBatch.Status.SUCCEEDED, batch.error
    assert items(batch) == {"master": (Action.UNTAG, Outcome.UNTAGGED)}
    assert tags_in_registry(registry_client) == {"latest"}
    assert registry_client.get_manifest("acme/web", "latest").digest == image.digest
    assert set(Tag.objects.values_list("name", flat=True)) == {"latest"}, "the cache follows"


def test_deleting_both_tags_of_a_digest_deletes_the_manifest(
    no_protection, registry_client, janitor
) -> None:
    image = push_image(registry_client, "acme/web", "master", created=JAN)
    retag(registry_client, "acme/web", "master", "latest")
    push_image(registry_client, "acme/web", "keep", created=JAN)
    sync(no_protection)

    batch = run(plan(no_protection, janitor, "master", "latest"), janitor)

    assert items(batch) == {
        "latest": (Action.DELETE, Outcome.DELETED),
        "master": (Action.DELETE, Outcome.DELETED),
    }
    assert not exists(registry_client, image.digest)
    assert tags_in_registry(registry_client) == {"keep"}
    assert batch.deleted_count == 2
    assert batch.bytes_deleted == image.size
    assert not Manifest.objects.filter(digest=image.digest).exists()


def test_a_tag_pushed_again_after_the_preview_survives(
    no_protection, registry_client, janitor
) -> None:
    push_image(registry_client, "acme/web", "review-1", created=JAN)
    sync(no_protection)
    batch = plan(no_protection, janitor, "review-1")
    newer = push_image(registry_client, "acme/web", "review-1", created=JAN, label="rebuilt")

    batch = run(batch, janitor)

    item = batch.items.get()
    assert item.outcome == Outcome.SKIPPED
    assert item.detail == outcomes.CHANGED_SINCE_PREVIEW
    assert registry_client.head_manifest("acme/web", "review-1").digest == newer.digest


def test_a_tag_added_onto_a_planned_digest_after_the_preview_survives(
    no_protection, registry_client, janitor
) -> None:
    image = push_image(registry_client, "acme/web", "review-1", created=JAN)
    sync(no_protection)
    batch = plan(no_protection, janitor, "review-1")
    assert batch.items.get().action == Action.DELETE
    retag(registry_client, "acme/web", "review-1", "release-candidate")

    batch = run(batch, janitor)

    item = batch.items.get()
    assert item.outcome == Outcome.UNTAGGED, item.detail
    assert "release-candidate" in item.detail
    assert tags_in_registry(registry_client) == {"release-candidate"}
    assert registry_client.get_manifest("acme/web", "release-candidate").digest == image.digest


def test_deleting_a_multi_arch_image_leaves_another_images_children(
    no_protection, registry_client, janitor
) -> None:
    amd64 = push_image(registry_client, "acme/web", None, created=JAN, arch="amd64")
    arm64 = push_image(registry_client, "acme/web", None, created=JAN, arch="arm64", variant="v8")
    push_index(registry_client, "acme/web", "review-1", [amd64, arm64])
    kept = push_index(registry_client, "acme/web", "stable-x", [amd64], oci=True)
    sync(no_protection)

    batch = run(plan(no_protection, janitor, "review-1"), janitor)

    assert items(batch) == {"review-1": (Action.DELETE, Outcome.DELETED)}
    assert tags_in_registry(registry_client) == {"stable-x"}
    assert registry_client.get_manifest("acme/web", "stable-x").digest == kept.digest
    assert exists(registry_client, amd64.digest), "the kept image's platform image stays"
    assert exists(registry_client, arm64.digest), "children stay until garbage collection"


def test_a_tagged_platform_image_of_a_kept_index_is_only_untagged(
    no_protection, registry_client, janitor
) -> None:
    amd64 = push_image(registry_client, "acme/web", "review-amd64", created=JAN)
    push_index(registry_client, "acme/web", "stable-x", [amd64])
    sync(no_protection)

    batch = run(plan(no_protection, janitor, "review-amd64"), janitor)

    assert items(batch) == {"review-amd64": (Action.UNTAG, Outcome.UNTAGGED)}
    assert exists(registry_client, amd64.digest)
    assert registry_client.get_manifest("acme/web", "stable-x").children[0].digest == amd64.digest


def test_an_index_pushed_after_the_plan_protects_its_children(
    no_protection, registry_client, janitor
) -> None:
    amd64 = push_image(registry_client, "acme/web", "review-amd64", created=JAN)
    sync(no_protection)
    batch = plan(no_protection, janitor, "review-amd64")
    assert batch.items.get().action == Action.DELETE
    push_index(registry_client, "acme/web", "combined", [amd64])

    batch = run(batch, janitor)

    item = batch.items.get()
    assert (item.action, item.outcome) == (Action.DELETE, Outcome.UNTAGGED), "downgraded"
    assert "combined" in item.detail
    assert exists(registry_client, amd64.digest)


def test_a_registry_with_deletion_disabled_stops_the_batch_after_one_item(
    db, tmp_path, janitor
) -> None:
    from devtools.local_registry import start_local_registry
    from registry.registries import save_registry

    local = start_local_registry(root_dir=tmp_path / "ro", delete_enabled=False)
    try:
        with RegistryClient(local.url) as client:
            for n in range(3):
                push_image(client, "acme/web", f"review-{n}", created=JAN)
        registry, _ = save_registry(name="nodelete", url=local.url)
        StalenessRules.objects.create(registry=registry, protected_patterns=[])
        sync(registry)
        batch = plan(registry, janitor, "review-0", "review-1", "review-2")

        batch = run(batch, janitor)

        assert batch.status == DeletionBatch.Status.FAILED
        assert "deletion disabled" in batch.error
        outcomes = sorted(batch.items.values_list("outcome", flat=True))
        assert outcomes == [Outcome.FAILED, Outcome.NOT_ATTEMPTED, Outcome.NOT_ATTEMPTED]
        with RegistryClient(local.url) as client:
            assert tags_in_registry(client) == {"review-0", "review-1", "review-2"}
    finally:
        local.stop()


def test_a_token_without_the_delete_right_stops_the_batch_with_gitlab_advice(
    db, token_registry, janitor
) -> None:
    from registry.registries import save_registry

    with RegistryClient(token_registry.url, username="maintainer", password="maintainer-pw") as c:
        for n in range(2):
            push_image(c, "acme/web", f"review-{n}", created=JAN)
    registry, _ = save_registry(
        name="gitlab", url=token_registry.url, username="developer", password="developer-pw"
    )
    registry.repositories = ["acme/web"]
    registry.save()
    StalenessRules.objects.create(registry=registry, protected_patterns=[])
    sync(registry)

    batch = run(plan(registry, janitor, "review-0", "review-1"), janitor)

    assert batch.status == DeletionBatch.Status.FAILED
    assert "'api' scope and the Maintainer role" in batch.error
    assert sorted(batch.items.values_list("outcome", flat=True)) == [
        Outcome.FAILED,
        Outcome.NOT_ATTEMPTED,
    ]
    assert "developer-pw" not in batch.error


def test_cancelling_a_running_batch_leaves_the_rest(
    no_protection, registry_client, janitor
) -> None:
    for n in range(3):
        push_image(registry_client, "acme/web", f"review-{n}", created=JAN)
    sync(no_protection)
    batch = plan(no_protection, janitor, "review-0", "review-1", "review-2")
    confirm_batch(batch=batch, actor=janitor, reason="cleanup")
    DeletionBatch.objects.filter(pk=batch.pk).update(cancel_requested=True)

    batch = execute_batch(batch=batch)

    assert batch.status == DeletionBatch.Status.CANCELLED
    assert set(batch.items.values_list("outcome", flat=True)) == {Outcome.NOT_ATTEMPTED}
    assert len(tags_in_registry(registry_client)) == 3


def test_a_planned_batch_is_never_executed_without_confirmation(
    no_protection, registry_client, janitor
) -> None:
    push_image(registry_client, "acme/web", "review-1", created=JAN)
    sync(no_protection)
    batch = plan(no_protection, janitor, "review-1")

    batch = execute_batch(batch=batch)

    assert batch.status == DeletionBatch.Status.PLANNED
    assert tags_in_registry(registry_client) == {"review-1"}


def test_a_finished_batch_run_again_sends_no_request(
    no_protection, registry_client, janitor
) -> None:
    push_image(registry_client, "acme/web", "review-1", created=JAN)
    sync(no_protection)
    batch = run(plan(no_protection, janitor, "review-1"), janitor)
    assert batch.status == DeletionBatch.Status.SUCCEEDED

    again = execute_batch(batch=batch)

    assert again.status == DeletionBatch.Status.SUCCEEDED
    assert again.items.get().outcome == Outcome.DELETED


def test_untagging_without_push_rights_stops_the_batch_and_says_why(
    db, token_registry, janitor
) -> None:
    from registry.registries import save_registry
    from tests.support.token_issuer import IssuerUser

    token_registry.issuer.users["cleaner"] = IssuerUser("cleaner-pw", {"*": {"pull", "delete"}})
    with RegistryClient(token_registry.url, username="maintainer", password="maintainer-pw") as c:
        push_image(c, "acme/web", "master", created=JAN)
        retag(c, "acme/web", "master", "latest")
    registry, _ = save_registry(
        name="gitlab", url=token_registry.url, username="cleaner", password="cleaner-pw"
    )
    registry.repositories = ["acme/web"]
    registry.save()
    StalenessRules.objects.create(registry=registry, protected_patterns=[])
    sync(registry)

    batch = run(plan(registry, janitor, "master"), janitor)

    assert batch.status == DeletionBatch.Status.FAILED
    assert "needs push rights as well as delete rights" in batch.error
    with RegistryClient(token_registry.url, username="maintainer", password="maintainer-pw") as c:
        assert set(c.list_tags("acme/web")) == {"master", "latest"}


def test_one_batch_at_a_time_deletes_in_a_repository(
    no_protection, registry_client, janitor
) -> None:
    for n in range(2):
        push_image(registry_client, "acme/web", f"review-{n}", created=JAN)
    sync(no_protection)
    first = plan(no_protection, janitor, "review-0")
    second = plan(no_protection, janitor, "review-1")
    for batch in (first, second):
        confirm_batch(batch=batch, actor=janitor, reason="cleanup")
    assert claim_batch(batch=first) is not None  # a worker is on it

    with pytest.raises(BatchBusy):
        execute_batch(batch=second)

    assert DeletionBatch.objects.get(pk=second.pk).status == DeletionBatch.Status.QUEUED
    assert tags_in_registry(registry_client) == {"review-0", "review-1"}


def test_the_dead_workers_batch_is_taken_over_once_its_lease_expires(
    no_protection, registry_client, janitor
) -> None:
    push_image(registry_client, "acme/web", "review-0", created=JAN)
    sync(no_protection)
    batch = plan(no_protection, janitor, "review-0")
    confirm_batch(batch=batch, actor=janitor, reason="cleanup")
    assert claim_batch(batch=batch) is not None
    with pytest.raises(BatchBusy):
        execute_batch(batch=batch)  # the lease is live

    DeletionBatch.objects.filter(pk=batch.pk).update(lease_expires_at=JAN)
    batch = execute_batch(batch=batch)

    assert batch.status == DeletionBatch.Status.SUCCEEDED
    assert tags_in_registry(registry_client) == set()


def test_the_periodic_requeue_resumes_a_batch_whose_worker_died(
    no_protection, registry_client, janitor
) -> None:
    push_image(registry_client, "acme/web", "review-0", created=JAN)
    sync(no_protection)
    batch = plan(no_protection, janitor, "review-0")
    confirm_batch(batch=batch, actor=janitor, reason="cleanup")
    # Its worker died mid-batch: running, and the lease has expired since.
    DeletionBatch.objects.filter(pk=batch.pk).update(status="running", lease_expires_at=JAN)

    assert requeue_stuck_batches() == 1  # tasks run in-process in the tests

    batch.refresh_from_db()
    assert batch.status == DeletionBatch.Status.SUCCEEDED
    assert tags_in_registry(registry_client) == set()


def test_the_periodic_requeue_runs_a_confirmed_batch_no_worker_started(
    no_protection, registry_client, janitor
) -> None:
    push_image(registry_client, "acme/web", "review-0", created=JAN)
    sync(no_protection)
    batch = plan(no_protection, janitor, "review-0")
    with patch("django.utils.timezone.now", return_value=JAN):
        confirm_batch(batch=batch, actor=janitor, reason="cleanup")  # long ago
    # ...and its task never reached a worker.

    assert requeue_stuck_batches() == 1

    batch.refresh_from_db()
    assert batch.status == DeletionBatch.Status.SUCCEEDED
    assert tags_in_registry(registry_client) == set()


def test_the_periodic_requeue_leaves_live_and_fresh_batches_alone(
    no_protection, registry_client, janitor
) -> None:
    push_image(registry_client, "acme/web", "review-0", created=JAN)
    push_image(registry_client, "acme/api", "review-1", created=JAN)
    sync(no_protection)
    running = plan(no_protection, janitor, "review-0")
    queued = plan(no_protection, janitor, "review-1", repository="acme/api")
    for batch in (running, queued):
        confirm_batch(batch=batch, actor=janitor, reason="cleanup")
    assert claim_batch(batch=running) is not None  # a live worker holds it; `queued` is new

    assert requeue_stuck_batches() == 0

    assert tags_in_registry(registry_client) == {"review-0"}
    assert tags_in_registry(registry_client, "acme/api") == {"review-1"}


def test_opening_pages_never_starts_a_batch(
    client, no_protection, registry_client, janitor
) -> None:
    push_image(registry_client, "acme/web", "review-0", created=JAN)
    sync(no_protection)
    batch = plan(no_protection, janitor, "review-0")
    confirm_batch(batch=batch, actor=janitor, reason="cleanup")
    DeletionBatch.objects.filter(pk=batch.pk).update(status="running", lease_expires_at=JAN)
    client.force_login(janitor)

    for url in ("/", f"/deletions/{batch.pk}/", f"/deletions/{batch.pk}/progress/"):
        assert client.get(url).status_code == 200

    batch.refresh_from_db()
    assert batch.status == DeletionBatch.Status.RUNNING
    assert tags_in_registry(registry_client) == {"review-0"}


def test_a_stuck_batch_is_handed_over_again_at_most_once_in_a_while(
    no_protection, registry_client, janitor, monkeypatch
) -> None:
    push_image(registry_client, "acme/web", "review-0", created=JAN)
    sync(no_protection)
    batch = plan(no_protection, janitor, "review-0")
    with patch("django.utils.timezone.now", return_value=JAN):
        confirm_batch(batch=batch, actor=janitor, reason="cleanup")
    sent: list[int] = []
    monkeypatch.setattr(
        "registry.tasks.execute_deletion_batch_task.delay", lambda batch_id: sent.append(batch_id)
    )  # a worker busy elsewhere: nothing runs it

    assert requeue_stuck_batches() == 1
    assert requeue_stuck_batches() == 0, "not again while the hand-over is recent"
    assert sent == [batch.pk]
