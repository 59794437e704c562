"""GitLab's registry: recognised by its /v2/ headers, deleted from tag by tag (a protected
tag's refusal recorded as refused), and read a thousand tags a request through
/gitlab/v1 where it has its metadata database. A fault proxy in front of the real 2.8
registry plays GitLab's part (tests/support/gitlab_registry.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from registry.deletion.outcomes import refused_by_registry_note
from registry.deletion.run import execute_batch
from registry.kinds import RegistryKind, kind_of
from registry.models import DeletionBatch, DeletionItem, Registry, StalenessRules, SyncRun, Tag
from registry.registries import save_registry
from registry.sync import sync_registry
from tests.support.deletion import plan_and_confirm
from tests.support.fake_gitlab import MAINTAINER_TOKEN, GitLabWorld, push_review_image
from tests.support.gitlab_registry import VERSION, GitLabRegistryPlay

pytestmark = pytest.mark.django_db(transaction=True)

OLD = datetime.now(UTC) - timedelta(days=30)
Outcome = DeletionItem.Outcome


@pytest.fixture
def gitlab_registry(gitlab_world: GitLabWorld, fault_proxy):
    """GitLab's registry (played by a proxy) with five images in acme/web, synced."""

    def start(*, database: bool = True, page_size: int = 1000, protected=()):
        world = gitlab_world
        world.project("acme/web")
        proxy = fault_proxy(world.registry_url)
        privileged = world.pusher()
        play = GitLabRegistryPlay(
            proxy,
            upstream=world.registry_url,
            privileged=privileged,
            database=database,
            protected=protected,
            page_size=page_size,
        )
        with world.pusher() as client:
            for tag in ("review-a-1", "review-b-1", "keep-c-1", "latest"):
                push_review_image(client, "acme/web", tag, created=OLD)
            shared = push_review_image(client, "acme/web", "review-d-1", created=OLD)
            client.put_manifest(
                "acme/web",
                "review-d-2",
                client.get_manifest("acme/web", "review-d-1").body,
                shared.media_type,
            )
        registry, _ = save_registry(
            name="gl",
            url=proxy.url,
            username="janitor",
            password=MAINTAINER_TOKEN,
            gitlab_url=world.gitlab.url,
            gitlab_group="acme",
        )
        StalenessRules.objects.create(registry=registry, protected_patterns=["^latest$"])
        run = sync_registry(registry=registry)
        assert run.status == SyncRun.Status.SUCCEEDED, (run.error, run.repository_errors)
        return registry, proxy, play

    return start


def tags_left(world: GitLabWorld) -> set[str]:
    with world.pusher() as client:
        return set(client.list_tags("acme/web"))


def test_gitlab_registry_is_recognised_by_its_v2_headers(gitlab_registry) -> None:
    registry, _, _ = gitlab_registry()

    kind = kind_of(Registry.objects.get(pk=registry.pk))

    assert (kind.kind, kind.version, kind.features, kind.database) == (
        RegistryKind.GITLAB,
        VERSION,
        ("tag_delete",),
        True,
    )
    assert kind.deletes_by_tag
    assert kind.tag_details


def test_gitlab_deletes_tag_by_tag_never_by_digest(
    gitlab_registry, gitlab_world: GitLabWorld, janitor
) -> None:
    registry, proxy, _ = gitlab_registry()
    batch = plan_and_confirm(registry, janitor, ["review-a-1", "review-d-1", "review-d-2"])

    batch = execute_batch(batch=batch)

    assert batch.status == DeletionBatch.Status.SUCCEEDED, batch.error
    outcomes = dict(batch.items.values_list("tag", "outcome"))
    assert outcomes == {
        "review-a-1": Outcome.DELETED,
        "review-d-1": Outcome.DELETED,
        "review-d-2": Outcome.DELETED,
    }
    assert not proxy.requests_matching("DELETE", r"/manifests/sha256:")
    assert len(proxy.requests_matching("DELETE", r"/manifests/review-")) >= 3
    assert tags_left(gitlab_world) == {"review-b-1", "keep-c-1", "latest"}
    assert not Tag.objects.filter(repository__registry=registry, name="review-a-1").exists()


def test_a_tag_shared_with_an_unplanned_one_goes_alone(
    gitlab_registry, gitlab_world: GitLabWorld, janitor
) -> None:
    registry, _, _ = gitlab_registry()
    batch = execute_batch(batch=plan_and_confirm(registry, janitor, ["review-d-1"]))

    assert dict(batch.items.values_list("tag", "outcome")) == {"review-d-1": Outcome.UNTAGGED}
    assert "review-d-2" in tags_left(gitlab_world)


def test_a_protected_tag_is_refused_with_gitlabs_reason_and_the_batch_goes_on(
    gitlab_registry, gitlab_world: GitLabWorld, janitor
) -> None:
    registry, _, _ = gitlab_registry(protected=(r"^keep-",))
    batch = plan_and_confirm(registry, janitor, ["keep-c-1", "review-b-1"])

    batch = execute_batch(batch=batch)

    keep = batch.items.get(tag="keep-c-1")
    assert keep.outcome == Outcome.REFUSED
    assert keep.http_status == 403
    assert keep.detail.startswith(refused_by_registry_note("PROTECTED_TAG", "")[:30])
    assert "tag keep-c-1 is protected" in keep.detail
    assert batch.items.get(tag="review-b-1").outcome == Outcome.DELETED
    assert batch.status == DeletionBatch.Status.SUCCEEDED
    assert tags_left(gitlab_world) >= {"keep-c-1"}


def test_tags_are_read_through_gitlab_v1_a_page_at_a_time(gitlab_registry) -> None:
    registry, proxy, _ = gitlab_registry(page_size=2)

    pages = proxy.requests_matching("GET", r"^/gitlab/v1/repositories/acme/web/tags/list/")
    assert len(set(pages)) == 3  # six tags, two a page, every Link followed (and a 401 first)
    assert not proxy.requests_matching("HEAD", r"/manifests/")  # no request per tag
    synced = dict(
        Tag.objects.filter(repository__registry=registry).values_list("name", "manifest__digest")
    )
    assert set(synced) == {
        "review-a-1",
        "review-b-1",
        "keep-c-1",
        "latest",
        "review-d-1",
        "review-d-2",
    }
    assert synced["review-d-1"] == synced["review-d-2"]


def test_without_its_metadata_database_gitlabs_registry_is_read_through_v2(gitlab_registry) -> None:
    registry, proxy, _ = gitlab_registry(database=False)

    assert not kind_of(Registry.objects.get(pk=registry.pk)).tag_details
    assert not proxy.requests_matching("GET", r"^/gitlab/v1/repositories/")
    assert proxy.requests_matching("GET", r"^/v2/acme/web/tags/list")
    assert Tag.objects.filter(repository__registry=registry).count() == 6
