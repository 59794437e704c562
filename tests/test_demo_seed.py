"""The demo seeder pushes the variety a real CI registry has, and the sync caches it exactly."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from django.core.management import call_command

from devtools.demo_seed import MAX_TAG, seed_demo_images
from devtools.local_registry import start_local_registry
from registry.client import RegistryClient
from registry.client.media_types import DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST
from registry.models import SyncRun, Tag
from registry.registries import save_registry
from registry.sync import sync_registry

NOW = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def seeded_registry(tmp_path_factory: pytest.TempPathFactory):
    """One seeded registry for the module: seeding is the slow part (about 20 ms a tag)."""
    registry = start_local_registry(root_dir=tmp_path_factory.mktemp("seeded"))
    with RegistryClient(registry.url) as client:
        summary = seed_demo_images(client=client, repositories=3, tags_per_repository=40, now=NOW)
    yield registry, summary
    registry.stop()


@pytest.fixture
def seeded(seeded_registry):
    return seeded_registry[1]


@pytest.fixture
def registry_client(seeded_registry):
    with RegistryClient(seeded_registry[0].url) as client:
        yield client


@pytest.fixture
def cached_registry(db, seeded_registry):
    return save_registry(name="seeded", url=seeded_registry[0].url)[0]


def test_every_repository_gets_exactly_the_tags_asked_for(
    registry_client: RegistryClient, seeded
) -> None:
    assert seeded.repositories == ["acme/web", "acme/api", "acme/worker"]
    assert registry_client.list_repositories() == sorted(seeded.repositories)
    for name in seeded.repositories:
        assert len(registry_client.list_tags(name)) == 40
    assert seeded.tags == 120


def test_the_seed_has_what_a_ci_registry_has(registry_client: RegistryClient, seeded) -> None:
    tags = {tag for _, tag in seeded.expected}
    media_types = {image.media_type for image in seeded.expected.values()}
    web = {tag: image for (repo, tag), image in seeded.expected.items() if repo == "acme/web"}

    assert {DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST} <= media_types
    assert web["latest"].digest == web["master"].digest
    assert MAX_TAG in tags
    assert len(MAX_TAG) == 128
    assert any(tag.startswith("review-") for tag in tags)
    assert any(tag.startswith("sha256-") and tag.endswith(".sig") for tag in tags)
    assert web["v2.0.0-multiarch"].platforms == ("linux/amd64", "linux/arm64/v8")
    ages = [(NOW - image.created).days for image in seeded.expected.values()]
    assert min(ages) < 14 < 60 < max(ages)
    head = registry_client.head_manifest("acme/web", "v2.1.0-oci-index")
    assert head.digest == web["v2.1.0-oci-index"].digest


@pytest.mark.django_db
def test_a_sync_caches_the_seed_exactly(cached_registry, seeded) -> None:
    run = sync_registry(registry=cached_registry)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    rows = Tag.objects.values_list(
        "repository__name", "name", "manifest__digest", "manifest__size", "manifest__created"
    )
    assert {(r, t): (d, s, c) for r, t, d, s, c in rows} == {
        key: (image.digest, image.size, image.created) for key, image in seeded.expected.items()
    }


def test_seeding_twice_is_harmless_and_the_command_says_what_it_did(local_registry) -> None:
    for _ in range(2):
        out = io.StringIO()
        call_command(
            "seed_demo_registry", local_registry.url, "--repos", "2", "--tags", "10", stdout=out
        )
        assert out.getvalue().startswith("Pushed 20 tags (")
        assert "in 2 repositories" in out.getvalue()
