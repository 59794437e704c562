"""Read queries for pages: a tag's image, tags by id, media type names."""

from __future__ import annotations

import pytest

from registry.client.media_types import DOCKER_MANIFEST, OCI_INDEX
from registry.models import Layer, Repository
from registry.selectors import (
    SHARED_TAGS_SHOWN,
    image_details,
    media_type_name,
    pull_command,
    tags_in_order,
)
from tests.factories import ManifestFactory, TagFactory
from tests.support.tag_rows import make_tag

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("media_type", "name"),
    [
        (DOCKER_MANIFEST, "Docker image"),
        (OCI_INDEX, "OCI index"),
        ("application/vnd.example+json", "application/vnd.example+json"),
    ],
)
def test_media_types_have_short_names(media_type: str, name: str) -> None:
    assert media_type_name(media_type) == name


def test_tags_come_in_the_order_asked_and_removed_ones_are_left_out(web: Repository) -> None:
    first, second, gone = (make_tag(web, name) for name in ["a", "b", "gone"])
    gone_id = gone.pk
    gone.delete()

    tags = tags_in_order([second.pk, gone_id, first.pk])

    assert [tag.name for tag in tags] == ["b", "a"]
    assert tags[0].repository == web


def test_a_single_image_shows_its_layers_in_order(web: Repository) -> None:
    tag = make_tag(web, "v1")
    for n in [2, 1]:
        Layer.objects.create(manifest=tag.manifest, digest=f"sha256:{n:064d}", size=n)

    image = image_details(tag=tag)

    assert [layer.size for layer in image.layers] == [2, 1]
    assert image.children == []
    assert (image.shared_tags, image.shared_more) == ([], 0)


def test_an_index_shows_its_platform_images_with_their_layers_and_no_layers_of_its_own(
    web: Repository,
) -> None:
    index = ManifestFactory.create(repository=web, media_type=OCI_INDEX)
    for platform in ["linux/arm64", "linux/amd64"]:
        child = ManifestFactory.create(repository=web, platforms=[platform], tag_count=0)
        Layer.objects.create(manifest=child, digest="sha256:" + "1" * 64, size=7)
        index.children.add(child)

    image = image_details(tag=TagFactory.create(manifest=index))

    assert [child.platforms for child in image.children] == [["linux/amd64"], ["linux/arm64"]]
    assert [len(child.layers.all()) for child in image.children] == [1, 1]
    assert image.layers == []


def test_other_tags_on_the_digest_are_listed_by_name_up_to_a_bound_then_counted(
    web: Repository,
) -> None:
    others = SHARED_TAGS_SHOWN + 2
    manifest = ManifestFactory.create(repository=web, tag_count=others + 1)
    tag = TagFactory.create(manifest=manifest, name="latest")
    for n in range(others):
        TagFactory.create(manifest=manifest, name=f"build-{n:03d}")

    image = image_details(tag=tag)

    assert [t.name for t in image.shared_tags] == [
        f"build-{n:03d}" for n in range(SHARED_TAGS_SHOWN)
    ]
    assert image.shared_more == 2


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://registry.example.com", "registry.example.com"),
        ("http://127.0.0.1:5000/", "127.0.0.1:5000"),
        ("https://bot:secret@registry.example.com:8443", "registry.example.com:8443"),
    ],
)
def test_the_pull_command_names_the_image_by_host_repository_and_digest(url, host) -> None:
    command = pull_command(registry_url=url, repository="acme/web", digest="sha256:abc")
    assert command == f"docker pull {host}/acme/web@sha256:abc"
