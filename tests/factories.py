"""factory_boy factories for cache rows (view tests don't need a registry process)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from django.utils import timezone
from factory.declarations import LazyAttribute, LazyFunction, Sequence, SubFactory
from factory.django import DjangoModelFactory

from registry.client.media_types import DOCKER_MANIFEST
from registry.models import DeletionBatch, DeletionItem, Manifest, Registry, Repository, Tag


class RegistryFactory(DjangoModelFactory[Registry]):
    class Meta:
        model = Registry
        django_get_or_create = ("name",)

    name = "main"
    url = "http://127.0.0.1:5000"


class RepositoryFactory(DjangoModelFactory[Repository]):
    class Meta:
        model = Repository
        django_get_or_create = ("registry", "name")

    registry = SubFactory(RegistryFactory)
    name = Sequence(lambda n: f"acme/app-{n}")


class ManifestFactory(DjangoModelFactory[Manifest]):
    class Meta:
        model = Manifest

    repository = SubFactory(RepositoryFactory)
    digest = Sequence(lambda n: "sha256:" + hashlib.sha256(str(n).encode()).hexdigest())
    media_type = DOCKER_MANIFEST
    size = 10_000_000
    created = datetime(2026, 1, 1, tzinfo=UTC)
    platforms = LazyFunction(lambda: ["linux/amd64"])
    tag_count = 1


class TagFactory(DjangoModelFactory[Tag]):
    class Meta:
        model = Tag

    manifest = SubFactory(ManifestFactory)
    repository = LazyAttribute(lambda tag: tag.manifest.repository)
    name = Sequence(lambda n: f"review-branch-{n}")
    first_seen = LazyFunction(timezone.now)
    last_changed = LazyFunction(timezone.now)


class DeletionBatchFactory(DjangoModelFactory[DeletionBatch]):
    """A finished batch (succeeded unless told); `planned_at=` dates it."""

    class Meta:
        model = DeletionBatch

    registry = SubFactory(RegistryFactory)
    registry_name = LazyAttribute(lambda batch: batch.registry.name)
    planned_by_username = "jan-janitor"
    confirmed_by_username = LazyAttribute(lambda batch: batch.planned_by_username)
    reason = "stale review images"
    status = DeletionBatch.Status.SUCCEEDED

    @classmethod
    def _create(cls, model_class, *args, planned_at=None, **kwargs):
        """Saved open and dated, then finished: the model and the database refuse to
        change a finished batch, or ever to move its planned_at."""
        status = kwargs.pop("status")
        if planned_at is not None:
            kwargs["planned_at"] = planned_at
        batch = model_class.objects.create(*args, **kwargs)
        if status != DeletionBatch.Status.PLANNED:
            batch.status = status
            batch.save()
        return batch


class DeletionItemFactory(DjangoModelFactory[DeletionItem]):
    """A tag deleted by its batch (outcome "deleted", HTTP 202)."""

    class Meta:
        model = DeletionItem

    batch = SubFactory(DeletionBatchFactory)
    position = Sequence(lambda n: n + 1)
    repository_name = "acme/web"
    tag = Sequence(lambda n: f"review-{n}")
    digest = Sequence(lambda n: f"sha256:{n + 1:064x}")
    size = 10_000_000
    created = datetime(2026, 1, 1, tzinfo=UTC)
    action = DeletionItem.Action.DELETE
    outcome = DeletionItem.Outcome.DELETED
    http_status = 202
    finished_at = LazyFunction(timezone.now)
