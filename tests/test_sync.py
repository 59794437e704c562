"""The cache is exactly what the registry holds, after every sync."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta

import pytest

from devtools.image_builder import Pushed, push_image, push_index, retag
from registry.client import RegistryClient
from registry.locks import SyncAlreadyRunning, claim_sync_lock
from registry.models import Layer, Manifest, Registry, Repository, SyncRun, Tag
from registry.sync import sync_registry

pytestmark = pytest.mark.django_db

JAN = datetime(2026, 1, 5, 8, 30, 12, tzinfo=UTC)


def cached(registry: Registry) -> dict[tuple[str, str], tuple]:
    """(repository, tag) → (digest, media type, size, created, platforms), from the cache."""
    rows = Tag.objects.filter(repository__registry=registry).values_list(
        "repository__name",
        "name",
        "manifest__digest",
        "manifest__media_type",
        "manifest__size",
        "manifest__created",
        "manifest__platforms",
    )
    return {(r, t): (d, m, s, c, tuple(p)) for r, t, d, m, s, c, p in rows}


def served(client: RegistryClient, pushed: dict[tuple[str, str], Pushed]) -> dict:
    """The same view, from what we pushed, after checking the registry serves that digest."""
    view = {}
    for (repository, tag), image in pushed.items():
        assert client.head_manifest(repository, tag).digest == image.digest
        view[(repository, tag)] = (
            image.digest,
            image.media_type,
            image.size,
            image.created,
            image.platforms,
        )
    return view


@pytest.fixture
def four_media_types(registry_client: RegistryClient) -> dict[tuple[str, str], Pushed]:
    c = registry_client
    pushed: dict[tuple[str, str], Pushed] = {}
    pushed["acme/web", "latest"] = push_image(c, "acme/web", "latest", created=JAN)
    retag(c, "acme/web", "latest", "master")
    pushed["acme/web", "master"] = pushed["acme/web", "latest"]
    pushed["acme/web", "review-login-17"] = push_image(
        c, "acme/web", "review-login-17", created=JAN + timedelta(days=3), oci=True
    )
    amd = push_image(c, "acme/api", None, created=JAN, label="amd")
    arm = push_image(
        c, "acme/api", None, created=JAN + timedelta(hours=2), arch="arm64", variant="v8"
    )
    pushed["acme/api", "v1.2.3"] = push_index(c, "acme/api", "v1.2.3", [amd, arm])
    oci_amd = push_image(c, "acme/tools/ci", None, created=JAN, oci=True, label="a")
    oci_arm = push_image(c, "acme/tools/ci", None, created=JAN, arch="arm64", oci=True, label="b")
    pushed["acme/tools/ci", "main"] = push_index(
        c, "acme/tools/ci", "main", [oci_amd, oci_arm], oci=True
    )
    pushed["acme/tools/ci", "x" * 128] = push_image(c, "acme/tools/ci", "x" * 128, created=JAN)
    return pushed


def test_cache_holds_every_tag_as_the_registry_serves_it_for_all_four_media_types(
    cached_registry: Registry, registry_client: RegistryClient, four_media_types: dict
) -> None:
    run = sync_registry(registry=cached_registry)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert cached(cached_registry) == served(registry_client, four_media_types)
    assert run.tags_added == len(four_media_types)
    assert run.repositories_added == 3


def test_index_children_are_cached_with_their_platforms_and_layers(
    cached_registry: Registry, four_media_types: dict
) -> None:
    sync_registry(registry=cached_registry)

    index = Manifest.objects.get(digest=four_media_types["acme/api", "v1.2.3"].digest)
    children = {child.platforms[0]: child for child in index.children.all()}
    assert set(children) == {"linux/amd64", "linux/arm64/v8"}
    assert index.size == sum(child.size for child in children.values())
    assert index.created == max(filter(None, (child.created for child in children.values())))
    web = four_media_types["acme/web", "latest"]
    layers = Layer.objects.filter(manifest__digest=web.digest)
    assert [layer.digest for layer in layers] == list(web.layer_digests)


def test_latest_and_master_share_one_cached_manifest(
    cached_registry: Registry, four_media_types: dict
) -> None:
    sync_registry(registry=cached_registry)

    latest = Tag.objects.get(repository__name="acme/web", name="latest")
    master = Tag.objects.get(repository__name="acme/web", name="master")
    assert latest.manifest_id == master.manifest_id


def test_an_unchanged_registry_costs_one_head_per_tag_and_no_body(
    cached_registry: Registry, four_media_types: dict
) -> None:
    sync_registry(registry=cached_registry)
    resync = sync_registry(registry=cached_registry)

    repositories, tags = 3, len(four_media_types)
    # GET /v2/, the catalog, one tag list per repository, one HEAD per tag.
    assert resync.requests_made == 1 + 1 + repositories + tags
    assert resync.manifests_fetched == 0
    assert (resync.tags_added, resync.tags_changed, resync.tags_removed) == (0, 0, 0)


def test_resync_follows_deletions_repushes_and_new_tags(
    cached_registry: Registry, registry_client: RegistryClient, four_media_types: dict
) -> None:
    c = registry_client
    sync_registry(registry=cached_registry)
    first_seen = Tag.objects.get(repository__name="acme/web", name="review-login-17").first_seen

    # Out of band: delete the latest/master image, re-push a tag, add two tags.
    pushed = dict(four_media_types)
    c.delete_manifest("acme/web", pushed.pop(("acme/web", "latest")).digest)
    del pushed["acme/web", "master"]
    pushed["acme/web", "review-login-17"] = push_image(
        c, "acme/web", "review-login-17", created=JAN + timedelta(days=9), label="rebuilt"
    )
    pushed["acme/web", "review-signup-3"] = push_image(
        c, "acme/web", "review-signup-3", created=JAN
    )
    pushed["acme/api", "stable"] = pushed["acme/api", "v1.2.3"]
    retag(c, "acme/api", "v1.2.3", "stable")

    run = sync_registry(registry=cached_registry)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert cached(cached_registry) == served(c, pushed)
    assert (run.tags_added, run.tags_changed, run.tags_removed) == (2, 1, 2)
    repushed = Tag.objects.get(repository__name="acme/web", name="review-login-17")
    assert repushed.first_seen == first_seen
    assert repushed.last_changed > first_seen
    # The deleted image's manifest and layers left the cache with its tags.
    deleted = four_media_types["acme/web", "latest"].digest
    assert not Manifest.objects.filter(digest=deleted).exists()
    assert not Layer.objects.filter(manifest__digest=deleted).exists()


def test_a_repository_gone_from_the_catalog_leaves_the_cache(
    cached_registry: Registry, local_registry, four_media_types: dict
) -> None:
    sync_registry(registry=cached_registry)
    # What an operator's cleanup on the registry host does: the repository's folder goes.
    shutil.rmtree(local_registry.root_dir / "data/docker/registry/v2/repositories/acme/api")

    run = sync_registry(registry=cached_registry)

    assert run.repositories_removed == 1
    assert not Repository.objects.filter(name="acme/api").exists()
    assert not Manifest.objects.filter(repository__name="acme/api").exists()


def test_syncing_one_repository_leaves_the_others_alone(
    cached_registry: Registry, registry_client: RegistryClient, four_media_types: dict
) -> None:
    sync_registry(registry=cached_registry)
    push_image(registry_client, "acme/web", "review-new-1", created=JAN)
    push_image(registry_client, "acme/api", "review-new-2", created=JAN)

    run = sync_registry(registry=cached_registry, repository="acme/web")

    assert run.tags_added == 1
    assert Tag.objects.filter(name="review-new-1").exists()
    assert not Tag.objects.filter(name="review-new-2").exists()


def test_a_configured_repository_list_replaces_the_catalog(
    cached_registry: Registry, four_media_types: dict
) -> None:
    cached_registry.repositories = ["acme/api"]
    cached_registry.save()

    run = sync_registry(registry=cached_registry)

    assert set(Repository.objects.values_list("name", flat=True)) == {"acme/api"}
    assert run.repositories_removed == 0


def test_only_one_sync_per_registry_runs_at_a_time(cached_registry: Registry) -> None:
    assert claim_sync_lock(cached_registry) is not None

    with pytest.raises(SyncAlreadyRunning):
        sync_registry(registry=cached_registry)
    assert not SyncRun.objects.exists()


def test_a_lock_left_by_a_dead_worker_expires(
    cached_registry: Registry, four_media_types: dict
) -> None:
    assert claim_sync_lock(cached_registry, ttl_seconds=1) is not None
    Registry.objects.update(sync_lock_expires_at=datetime(2020, 1, 1, tzinfo=UTC))

    run = sync_registry(registry=cached_registry)

    assert run.status == SyncRun.Status.SUCCEEDED
    cached_registry.refresh_from_db()
    assert cached_registry.sync_lock_token is None


def test_a_sync_counts_the_tags_on_each_digest_and_judges_staleness(
    cached_registry: Registry, registry_client: RegistryClient
) -> None:
    old = datetime(2025, 6, 1, tzinfo=UTC)
    push_image(registry_client, "acme/web", "latest", created=old)
    retag(registry_client, "acme/web", "latest", "master")
    push_image(registry_client, "acme/web", "review-login-3", created=old)

    sync_registry(registry=cached_registry)

    tags = {tag.name: tag for tag in Tag.objects.select_related("manifest")}
    assert tags["latest"].manifest.tag_count == 2
    assert tags["review-login-3"].manifest.tag_count == 1
    assert tags["review-login-3"].is_stale
    assert tags["latest"].is_protected
    assert not tags["latest"].is_stale


def test_staleness_follows_a_repushed_tag(
    cached_registry: Registry, registry_client: RegistryClient
) -> None:
    push_image(registry_client, "acme/web", "review-login-3", created=JAN)
    sync_registry(registry=cached_registry)
    assert Tag.objects.get().is_stale

    push_image(registry_client, "acme/web", "review-login-3", created=datetime.now(UTC))
    sync_registry(registry=cached_registry)

    assert not Tag.objects.get().is_stale
