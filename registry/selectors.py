"""Read queries for pages and command-line listings."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from django.db.models import Count, Prefetch, QuerySet

from .client.media_types import DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST
from .models import (
    CleanupPolicy,
    DeletionBatch,
    DeletionItem,
    Layer,
    Manifest,
    PolicyRun,
    Registry,
    RegistryChange,
    Tag,
)

# Other tags on the same digest listed in a tag's detail; the rest are counted.
SHARED_TAGS_SHOWN = 50

MEDIA_TYPE_NAMES = {
    DOCKER_MANIFEST: "Docker image",
    DOCKER_MANIFEST_LIST: "Docker list",
    OCI_MANIFEST: "OCI image",
    OCI_INDEX: "OCI index",
}


def media_type_name(media_type: str) -> str:
    """A short name for a manifest media type (the full one goes in a tooltip)."""
    return MEDIA_TYPE_NAMES.get(media_type, media_type)


def pull_command(*, registry_url: str, repository: str, digest: str) -> str:
    """`docker pull host[:port]/repository@digest`: the image itself, whatever its tags."""
    host = urlsplit(registry_url).netloc.rsplit("@", 1)[-1]
    return f"docker pull {host}/{repository}@{digest}"


@dataclass(frozen=True)
class ImageDetails:
    """What a tag's detail shows of its image, besides the tag and its manifest."""

    children: list[Manifest]  # an index's platform images, each with its layers
    layers: list[Layer]  # a single image's layers (none for an index)
    shared_tags: list[Tag]  # other tags on the digest, by name: the first SHARED_TAGS_SHOWN
    shared_more: int  # and how many more there are


def image_details(*, tag: Tag) -> ImageDetails:
    """The image behind `tag`, in a constant number of queries however big it is."""
    manifest = tag.manifest
    layers = Prefetch("layers", queryset=Layer.objects.order_by("pk"))
    children = list(
        Manifest.objects.filter(parents=manifest)
        .order_by("platforms", "digest")
        .prefetch_related(layers)
    )
    shared = Tag.objects.filter(manifest=manifest).exclude(pk=tag.pk).order_by("name")
    shared_tags = list(shared[:SHARED_TAGS_SHOWN])
    return ImageDetails(
        children=children,
        layers=[] if children else list(manifest.layers.order_by("pk")),
        shared_tags=shared_tags,
        shared_more=max(manifest.tag_count - 1 - len(shared_tags), 0),
    )


def tags_in_order(ids: list[int]) -> list[Tag]:
    """The tags with these ids, in the same order, with their repository and manifest
    (one query); ids of tags that a sync has removed since are left out."""
    by_id = Tag.objects.select_related("repository", "manifest").in_bulk(ids)
    return [by_id[pk] for pk in ids if pk in by_id]


def tag_listing(
    *, registry: str | None = None, repository: str | None = None
) -> Iterator[dict[str, Any]]:
    """Every cached tag as a plain dict, ordered by registry, repository, tag.

    Every tag says whether it is stale (and why) and protected; a tag of a registry
    connected to GitLab also names its project, branch, merge request and environment.
    """
    tags = Tag.objects.order_by("repository__registry__name", "repository__name", "name")
    if registry:
        tags = tags.filter(repository__registry__name=registry)
    if repository:
        tags = tags.filter(repository__name=repository)
    rows = tags.values_list(
        "repository__registry__name",
        "repository__name",
        "name",
        "manifest__digest",
        "manifest__media_type",
        "manifest__size",
        "manifest__created",
        "manifest__platforms",
        "first_seen",
        "manifest__last_pulled",
        "is_stale",
        "stale_reason",
        "is_protected",
        "repository__registry__gitlab__id",
        *GITLAB_LISTING_FIELDS,
    )
    for (
        reg,
        repo,
        tag,
        digest,
        media_type,
        size,
        created,
        platforms,
        first_seen,
        last_pulled,
        stale,
        reason,
        protected,
        gitlab,
        *tie,
    ) in rows.iterator(chunk_size=2000):
        row = {
            "registry": reg,
            "repository": repo,
            "tag": tag,
            "digest": digest,
            "media_type": media_type,
            "size": size,
            "created": iso_utc(created),
            "platforms": platforms,
            "first_seen": iso_utc(first_seen),
            # The image's newest pull that notifications told of (registry.events).
            "last_pulled": iso_utc(last_pulled),
            "stale": stale,
            "stale_reason": reason,
            "protected": protected,
        }
        if gitlab is not None:
            row.update(_gitlab_listing(*tie))
        yield row


GITLAB_LISTING_FIELDS = (
    "gitlab__project__path",
    "gitlab__branch",
    "gitlab__merge_request__iid",
    "gitlab__merge_request__state",
    "gitlab__merge_request__web_url",
    "gitlab__environment__name",
    "gitlab__environment__state",
)


def _gitlab_listing(
    project: str | None,
    branch: str | None,
    mr_iid: int | None,
    mr_state: str | None,
    mr_url: str | None,
    environment: str | None,
    environment_state: str | None,
) -> dict[str, Any]:
    return {
        "project": project,
        "branch": branch or None,
        "merge_request": {"iid": mr_iid, "state": mr_state, "web_url": mr_url}
        if mr_iid is not None
        else None,
        "environment": {"name": environment, "state": environment_state}
        if environment is not None
        else None,
    }


def iso_utc(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z, as scripts expect."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def registry_changes() -> QuerySet[RegistryChange]:
    """The registry changes of the audit log, newest first."""
    return RegistryChange.objects.order_by("-changed_at", "-pk")


def registries_to_manage() -> QuerySet[Registry]:
    """Every registry, by name, with its number of repositories."""
    return (
        Registry.objects.select_related("gitlab")
        .annotate(repository_count=Count("repos"))
        .order_by("name")
    )


# -- a deletion batch's page ---------------------------------------------------------


def registry_of(batch: DeletionBatch) -> Registry | None:
    """The batch's registry, or None once it has been removed (the batch stays)."""
    return Registry.objects.filter(pk=batch.registry_id).first()


def policy_run_of(batch: DeletionBatch) -> PolicyRun | None:
    """The cleanup policy's run that proposed the batch, if one did."""
    if batch.source != DeletionBatch.Source.POLICY:
        return None
    return PolicyRun.objects.filter(batch=batch).select_related("policy").first()


def batch_items(
    batch: DeletionBatch, *, action: str = "", outcome: str = ""
) -> QuerySet[DeletionItem]:
    """The batch's items in plan order, of one action and one outcome when asked."""
    items = DeletionItem.objects.filter(batch=batch).order_by("position")
    if action:
        items = items.filter(action=action)
    if outcome:
        items = items.filter(outcome=outcome)
    return items


def outcome_counts(batch: DeletionBatch) -> dict[str, int]:
    """How many of the batch's items have each outcome."""
    return dict(
        DeletionItem.objects.filter(batch=batch)
        .order_by()
        .values_list("outcome")
        .annotate(n=Count("pk"))
    )


# -- cleanup policies ----------------------------------------------------------------


def policies_in_order() -> QuerySet[CleanupPolicy]:
    return CleanupPolicy.objects.select_related("registry").order_by("name")


def last_policy_run(policy: CleanupPolicy) -> PolicyRun | None:
    return PolicyRun.objects.filter(policy=policy).select_related("batch").first()


def policy_history(policy: CleanupPolicy, *, length: int) -> list[PolicyRun]:
    """The policy's newest `length` runs, newest first, with their batches and notices."""
    return list(
        PolicyRun.objects.filter(policy=policy)
        .select_related("batch")
        .prefetch_related("notices")
        .order_by("-started_at", "-pk")[:length]
    )
