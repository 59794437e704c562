"""A sync removes from the cache only what the registry positively says is gone, and keeps
to its limits: answers that read nothing, names no registry may hold, answers too big.

The registry is real; a proxy in front of it makes its answers wrong on purpose.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from celery.exceptions import SoftTimeLimitExceeded

from devtools.image_builder import push_image
from registry.client import RegistryClient
from registry.models import Registry, Repository, SelectedTag, SyncRun, Tag
from registry.registries import save_registry
from registry.selection import add_tags
from registry.sync import sync_registry
from registry.sync.reading import TAG_NAME
from registry.sync.run import invalid_tags_message, too_long_message
from tests.support.fault_proxy import Respond, distribution_error

pytestmark = pytest.mark.django_db

JAN = datetime(2026, 1, 5, tzinfo=UTC)
REPOSITORIES = [f"team/app-{n}" for n in range(5)]


def tags_of(registry: Registry) -> set[tuple[str, str]]:
    return set(
        Tag.objects.filter(repository__registry=registry).values_list("repository__name", "name")
    )


@pytest.fixture
def synced(local_registry, registry_client: RegistryClient, fault_proxy, viewer):
    """Five repositories with two tags each, synced through a proxy; a viewer selected all."""
    for name in REPOSITORIES:
        push_image(registry_client, name, "v1", created=JAN)
        push_image(registry_client, name, "review-1", created=JAN)
    proxy = fault_proxy(local_registry.url)
    registry, _ = save_registry(name="proxied", url=proxy.url)
    assert sync_registry(registry=registry).status == SyncRun.Status.SUCCEEDED
    add_tags(user=viewer, registry=registry, tag_ids=list(Tag.objects.values_list("pk", flat=True)))
    return registry, proxy, tags_of(registry)


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(Respond(200, b'{"repositories": []}'), id="an empty catalog"),
        pytest.param(Respond(200, b'{"repositories": null}'), id="repositories: null"),
        pytest.param(Respond(200, b'{"repositories": ["team/app-0"]}'), id="one of five"),
    ],
)
def test_a_catalog_that_suddenly_lists_little_removes_nothing_and_says_so(synced, answer) -> None:
    registry, proxy, before = synced
    proxy.add_fault("GET", r"/v2/_catalog", answer)
    first_seen = dict(Tag.objects.values_list("pk", "first_seen"))

    run = sync_registry(registry=registry)

    assert run.status == SyncRun.Status.PARTIAL
    assert "looks like a passing fault" in run.repository_errors[-1]["error"]
    assert run.repositories_removed == 0
    assert tags_of(registry) == before
    assert dict(Tag.objects.values_list("pk", "first_seen")) == first_seen
    assert SelectedTag.objects.count() == len(before), "nobody's selection was lost"


def test_a_repository_left_out_of_the_catalog_goes_only_when_its_tag_list_says_404(
    synced, registry_client
) -> None:
    registry, proxy, _ = synced
    listed = json.dumps({"repositories": REPOSITORIES[1:]}).encode()
    proxy.add_fault("GET", r"/v2/_catalog", Respond(200, listed))

    run = sync_registry(registry=registry)

    assert run.status == SyncRun.Status.SUCCEEDED
    assert Repository.objects.filter(name="team/app-0").exists(), "its tags still answer"
    assert run.repositories_removed == 0

    # Now the registry does lose it: the catalog leaves it out and its tag list says 404.
    proxy.add_fault(
        "GET", r"/team/app-0/tags/list", Respond(404, distribution_error("NAME_UNKNOWN", "gone"))
    )
    run = sync_registry(registry=registry)

    assert run.repositories_removed == 1
    assert not Repository.objects.filter(name="team/app-0").exists()


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(Respond(200, b'{"name": "team/app-1", "tags": null}'), id="tags: null"),
        pytest.param(Respond(200, b'{"name": "team/app-1", "tags": []}'), id="an empty list"),
        pytest.param(
            Respond(404, distribution_error("NAME_UNKNOWN", "repository name not known")),
            id="404 for the repository",
        ),
    ],
)
def test_a_tag_list_that_suddenly_reads_nothing_keeps_the_cache_while_the_tags_answer(
    synced, answer
) -> None:
    registry, proxy, before = synced
    proxy.add_fault("GET", r"/team/app-1/tags/list", answer)

    run = sync_registry(registry=registry)

    assert run.status == SyncRun.Status.PARTIAL
    [problem] = run.repository_errors
    assert problem["repository"] == "team/app-1"
    assert "the list cannot be trusted" in problem["error"]
    assert tags_of(registry) == before
    assert SelectedTag.objects.count() == len(before)


def test_tags_gone_for_good_leave_the_cache_once_each_head_says_404(
    synced, registry_client
) -> None:
    registry, _, before = synced
    digests = {registry_client.head_manifest("team/app-1", t).digest for t in ("v1", "review-1")}
    for digest in digests:
        registry_client.delete_manifest("team/app-1", digest)

    run = sync_registry(registry=registry)

    assert run.status == SyncRun.Status.SUCCEEDED
    assert tags_of(registry) == {t for t in before if t[0] != "team/app-1"}


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("review-1", True),
        ("v1.2.3_rc-1", True),
        ("x" * 128, True),
        ("x" * 129, False),
        (".hidden", False),
        ("-dash", False),
        ("a/b", False),
        ("tag with space", False),
    ],
)
def test_what_may_be_a_tag_name(name: str, valid: bool) -> None:
    assert (TAG_NAME.fullmatch(name) is not None) is valid


def test_a_tag_name_no_registry_may_hold_is_skipped_and_reported(synced) -> None:
    registry, proxy, before = synced
    hostile = "x" * 300
    listed = json.dumps({"name": "team/app-2", "tags": ["v1", "review-1", hostile]}).encode()
    proxy.add_fault("GET", r"/team/app-2/tags/list", Respond(200, listed))

    run = sync_registry(registry=registry)
    again = sync_registry(registry=registry)

    for each in (run, again):
        assert each.status == SyncRun.Status.PARTIAL, each.error
        [problem] = each.repository_errors
        assert problem == {"repository": "team/app-2", "error": invalid_tags_message([hostile])}
    assert tags_of(registry) == before, "the rest of the repository is synced as usual"


def test_an_answer_bigger_than_the_limit_is_not_read_and_fails_that_repository(
    synced, settings
) -> None:
    registry, proxy, before = synced
    settings.REGISTRY_MAX_RESPONSE_MB = 1
    huge = json.dumps({"name": "team/app-3", "tags": ["t" * 100] * 20_000}).encode()  # ~2 MB
    proxy.add_fault("GET", r"/team/app-3/tags/list", Respond(200, huge))

    run = sync_registry(registry=registry)

    assert run.status == SyncRun.Status.PARTIAL
    [problem] = run.repository_errors
    assert "sent more than 1 MB" in problem["error"]
    assert tags_of(registry) == before


def test_a_repository_with_more_tags_than_the_limit_is_left_as_it_was(synced, settings) -> None:
    registry, _, before = synced
    settings.REGISTRY_MAX_TAGS_PER_REPOSITORY = 1

    run = sync_registry(registry=registry)

    assert run.status == SyncRun.Status.PARTIAL
    assert all("REGISTRY_MAX_TAGS_PER_REPOSITORY" in p["error"] for p in run.repository_errors)
    assert tags_of(registry) == before


def test_a_sync_past_its_time_limit_stops_and_says_so(synced) -> None:
    registry, _, before = synced

    def celery_soft_time_limit(done: int, total: int, name: str) -> None:
        if done == 2:
            raise SoftTimeLimitExceeded

    run = sync_registry(registry=registry, progress=celery_soft_time_limit)

    assert (run.status, run.error) == (SyncRun.Status.FAILED, too_long_message())
    assert tags_of(registry) == before
    registry.refresh_from_db()
    assert registry.sync_lock_token is None


def test_the_sync_task_has_the_configured_time_limits(settings) -> None:
    from registry.tasks import sync_registry_task

    assert sync_registry_task.soft_time_limit == settings.SYNC_TIME_LIMIT_SECONDS
    assert sync_registry_task.time_limit == settings.SYNC_TIME_LIMIT_SECONDS + 60


def test_a_long_sync_renews_its_lock(synced, settings) -> None:
    registry, _, _ = synced
    settings.SYNC_LOCK_TTL_SECONDS = 600
    seen: list[datetime] = []

    def watch_the_lock(done: int, total: int, name: str) -> None:
        expires = Registry.objects.get(pk=registry.pk).sync_lock_expires_at
        assert expires is not None, "the sync holds its lock"
        seen.append(expires)

    sync_registry(registry=registry, progress=watch_the_lock)

    assert len(seen) > 2
    assert seen[-1] > seen[0], "the expiry moves on while the sync goes"
