"""Removing one tag and keeping its image, on a real registry (distribution 2.8.2).

Registries that untag with `DELETE …/manifests/<tag>` (distribution 3.x, OCI, GitLab)
are stood in for by the fault proxy answering 202 to that request: 2.8 refuses it.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from devtools.image_builder import push_image, retag
from registry.client import RegistryClient
from registry.deletion.untagging import TagMoved, Untagger
from tests.support.fault_proxy import Delay, Respond

JAN = datetime(2026, 1, 5, tzinfo=UTC)


def test_on_2_8_a_tag_is_untagged_through_a_placeholder_and_its_image_stays(
    registry_client: RegistryClient,
) -> None:
    image = push_image(registry_client, "acme/web", "review-1", created=JAN)
    retag(registry_client, "acme/web", "review-1", "release-1")

    untagged = Untagger(registry_client).untag(
        repository="acme/web", tag="review-1", digest=image.digest
    )

    assert untagged.placeholder_digest
    assert registry_client.list_tags("acme/web") == ["release-1"]
    assert registry_client.head_manifest("acme/web", "release-1").digest == image.digest


def test_on_2_8_a_tag_pushed_again_since_the_re_check_is_left_alone(
    registry_client: RegistryClient,
) -> None:
    old = push_image(registry_client, "acme/web", "review-1", created=JAN)
    new = push_image(registry_client, "acme/web", "review-1", created=JAN, label="rebuilt")

    with pytest.raises(TagMoved):
        Untagger(registry_client).untag(repository="acme/web", tag="review-1", digest=old.digest)

    assert registry_client.head_manifest("acme/web", "review-1").digest == new.digest


def test_where_tags_are_deleted_directly_a_tag_pushed_again_is_left_alone(
    local_registry, registry_client: RegistryClient, fault_proxy
) -> None:
    old = push_image(registry_client, "acme/web", "review-1", created=JAN)
    push_image(registry_client, "acme/web", "review-1", created=JAN, label="rebuilt")
    proxy = fault_proxy(local_registry.url)
    proxy.add_fault("DELETE", r"/manifests/review-1$", Respond(202))

    with RegistryClient(proxy.url) as client, pytest.raises(TagMoved):
        Untagger(client).untag(repository="acme/web", tag="review-1", digest=old.digest)

    assert proxy.hits == [0], "no DELETE was sent for the moved tag"


def test_where_tags_are_deleted_directly_the_tag_is_deleted_by_name(
    local_registry, registry_client: RegistryClient, fault_proxy
) -> None:
    image = push_image(registry_client, "acme/web", "review-1", created=JAN)
    proxy = fault_proxy(local_registry.url)
    proxy.add_fault("DELETE", r"/manifests/review-1$", Respond(202))

    with RegistryClient(proxy.url) as client:
        untagged = Untagger(client).untag(
            repository="acme/web", tag="review-1", digest=image.digest
        )

    assert untagged.placeholder_digest == ""
    assert proxy.hits == [1]


def test_on_2_8_tags_untagged_at_once_go_one_at_a_time_in_a_repository(
    local_registry, registry_client: RegistryClient, fault_proxy
) -> None:
    """A batch untags several tags of a repository at once. On 2.8 each placeholder is
    pushed and deleted before the next one starts (deleting them at once made the
    registry answer 500), and the placeholders' config is uploaded once."""
    images = {}
    for n in range(6):
        images[f"review-{n}"] = push_image(
            registry_client, "acme/web", f"review-{n}", created=JAN, label=str(n)
        )
        retag(registry_client, "acme/web", f"review-{n}", f"release-{n}")
    proxy = fault_proxy(local_registry.url)
    proxy.add_fault("POST", r"/blobs/uploads/$", Delay(0.3))  # a slow upload: all arrive

    with RegistryClient(proxy.url) as client:
        untagger = Untagger(client)
        results = list(
            client.map_concurrently(
                lambda tag: untagger.untag(
                    repository="acme/web", tag=tag, digest=images[tag].digest
                ),
                sorted(images),
            )
        )

    assert [error for _, _, error in results] == [None] * 6
    assert len(proxy.requests_matching("POST", r"/blobs/uploads/$")) == 1
    # Each placeholder: pushed under the tag, then deleted by its digest.
    pushed_or_deleted = proxy.requests_matching(None, r"/manifests/")
    placeholders = [
        m for m, p in pushed_or_deleted if m == "PUT" or (m == "DELETE" and "sha256:" in p)
    ]
    assert placeholders == ["PUT", "DELETE"] * 6
    assert sorted(registry_client.list_tags("acme/web")) == [f"release-{n}" for n in range(6)]
