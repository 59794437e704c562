"""The audit log says what the registry lost: under cut connections, lost answers and lists
that read nothing. Faults come from a proxy in front of the real registry, and every test
reads the registry afterwards.
"""

from __future__ import annotations

import json
import socket

import pytest

from devtools.image_builder import push_image
from registry.deletion import run as deletion_run
from registry.deletion.batches import confirm_batch
from registry.deletion.outcomes import (
    DELETED_ANSWER_LOST,
    REGISTRY_SILENT_MESSAGE,
)
from registry.deletion.plan import plan_deletion
from registry.models import DeletionBatch, DeletionItem, Tag
from registry.registries import save_registry
from registry.sync import sync_registry
from tests.factories import RegistryFactory, TagFactory
from tests.support.deletion import JAN, deletes_of, plan_and_confirm
from tests.support.fault_proxy import (
    ForwardThenReset,
    ForwardThenRespond,
    ResetConnection,
    Respond,
    distribution_error,
)

Outcome = DeletionItem.Outcome
Status = DeletionBatch.Status


def outcomes(batch: DeletionBatch) -> dict[str, str]:
    return dict(batch.items.values_list("tag", "outcome"))


# -- a lost answer -------------------------------------------------------------------------


def test_a_delete_whose_answer_is_lost_is_recorded_deleted_once_the_registry_says_it_is_gone(
    proxied, registry_client, janitor
) -> None:
    registry, proxy, pushed = proxied
    proxy.add_fault("DELETE", f"/manifests/{pushed['review-2'].digest}$", ForwardThenReset())
    batch = plan_and_confirm(registry, janitor, ["review-1", "review-2", "review-3"])

    batch = deletion_run.execute_batch(batch=batch)

    assert "review-2" not in registry_client.list_tags("acme/web")
    item = batch.items.get(tag="review-2")
    assert (item.outcome, item.detail) == (Outcome.DELETED, DELETED_ANSWER_LOST)
    assert batch.status == Status.SUCCEEDED
    assert batch.deleted_count == 3
    assert deletes_of(proxy, pushed["review-2"]) == 1, "asked again with a HEAD, not a DELETE"


def test_a_gateway_error_after_the_registry_acted_is_recorded_deleted(
    proxied, registry_client, janitor
) -> None:
    registry, proxy, pushed = proxied
    bad_gateway = ForwardThenRespond(502, distribution_error("UNKNOWN", "bad gateway"))
    proxy.add_fault("DELETE", f"/manifests/{pushed['review-2'].digest}$", bad_gateway, times=1)
    batch = plan_and_confirm(registry, janitor, ["review-2"])

    batch = deletion_run.execute_batch(batch=batch)

    assert "review-2" not in registry_client.list_tags("acme/web")
    item = batch.items.get()
    assert (item.outcome, item.detail) == (Outcome.DELETED, DELETED_ANSWER_LOST)
    assert batch.absent_count == 0, "not 'already absent': this batch deleted it"


def test_a_delete_cut_before_the_registry_acted_is_failed_and_the_image_stays(
    proxied, registry_client, janitor
) -> None:
    registry, proxy, pushed = proxied
    proxy.add_fault("DELETE", f"/manifests/{pushed['review-2'].digest}$", ResetConnection())
    batch = plan_and_confirm(registry, janitor, ["review-1", "review-2"])

    batch = deletion_run.execute_batch(batch=batch)

    assert outcomes(batch) == {"review-1": Outcome.DELETED, "review-2": Outcome.FAILED}
    assert "review-2" in registry_client.list_tags("acme/web")
    assert "connection failed or was cut" in batch.items.get(tag="review-2").detail
    assert Tag.objects.filter(repository__registry=registry, name="review-2").exists()


def test_a_registry_that_stops_answering_stops_the_batch_after_a_few_repositories(
    db, local_registry, registry_client, fault_proxy, janitor
) -> None:
    repositories = [f"team-{n}/web" for n in range(5)]
    for repository in repositories:
        push_image(registry_client, repository, "review-1", created=JAN)
    proxy = fault_proxy(local_registry.url)
    registry, _ = save_registry(name="proxied", url=proxy.url)
    assert sync_registry(registry=registry).status == "succeeded"
    tags = Tag.objects.filter(repository__registry=registry)
    batch = plan_deletion(registry=registry, tags=tags, actor=janitor, reason="cleanup")
    confirm_batch(batch=batch, actor=janitor, reason="stale review images")
    proxy.set_down(True)

    batch = deletion_run.execute_batch(batch=batch)

    proxy.set_down(False)
    assert batch.status == Status.FAILED
    assert batch.error == REGISTRY_SILENT_MESSAGE
    assert batch.not_attempted_count == 5
    last = batch.items.get(repository_name="team-4/web")
    assert "the batch stopped" in last.detail, "not tried: the batch had stopped"
    for repository in repositories:
        assert registry_client.list_tags(repository) == ["review-1"]


def test_a_batch_whose_registry_refuses_connections_stops_after_three_repositories(
    db, janitor
) -> None:
    """Connection refused from the first request: three repositories are tried, each
    recorded as not re-checked, and the batch stops instead of trying the other five."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    registry = RegistryFactory.create(name="refusing", url=f"http://127.0.0.1:{port}")
    repositories = [f"team-{n}/web" for n in range(8)]
    for repository in repositories:
        TagFactory.create(
            manifest__repository__registry=registry, manifest__repository__name=repository
        )
    batch = plan_deletion(
        registry=registry, tags=Tag.objects.filter(repository__registry=registry), actor=janitor
    )
    confirm_batch(batch=batch, actor=janitor, reason="stale review images")

    batch = deletion_run.execute_batch(batch=batch)

    assert batch.status == Status.FAILED
    assert batch.error == REGISTRY_SILENT_MESSAGE
    details = dict(batch.items.values_list("repository_name", "detail"))
    tried = [name for name in repositories if details[name].startswith("Could not re-check")]
    assert tried == repositories[:3]
    for name in repositories[3:]:
        assert "the batch stopped" in details[name], name
    assert batch.not_attempted_count == 8


# -- a re-check that reads nothing ---------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(Respond(200, json.dumps({"name": "acme/web", "tags": None}).encode()),
                     id="tags: null"),
        pytest.param(Respond(200, json.dumps({"name": "acme/web", "tags": []}).encode()),
                     id="an empty list"),
        pytest.param(Respond(404, distribution_error("NAME_UNKNOWN", "repository name not known")),
                     id="404 for the repository"),
    ],
)  # fmt: skip
def test_a_tag_list_that_reads_nothing_is_not_taken_for_absence(
    proxied, registry_client, janitor, answer
) -> None:
    registry, proxy, pushed = proxied
    proxy.add_fault("GET", r"/acme/web/tags/list", answer)
    batch = plan_and_confirm(registry, janitor, ["review-0", "review-1"])

    batch = deletion_run.execute_batch(batch=batch)

    assert set(outcomes(batch).values()) == {Outcome.NOT_ATTEMPTED}
    assert batch.absent_count == 0
    assert all(
        "left out review-0, review-1" in d for d in batch.items.values_list("detail", flat=True)
    )
    assert not proxy.requests_matching("DELETE", "/manifests/")
    assert set(registry_client.list_tags("acme/web")) == set(pushed)
    assert Tag.objects.filter(repository__registry=registry).count() == len(pushed), "cache kept"


def test_a_tag_missing_from_the_list_is_absent_only_when_its_own_head_says_404(
    proxied, registry_client, janitor
) -> None:
    registry, _, pushed = proxied
    batch = plan_and_confirm(registry, janitor, ["review-0", "review-1"])
    registry_client.delete_manifest("acme/web", pushed["review-0"].digest)  # someone else

    batch = deletion_run.execute_batch(batch=batch)

    assert outcomes(batch) == {"review-0": Outcome.ABSENT, "review-1": Outcome.DELETED}
