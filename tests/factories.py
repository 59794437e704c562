"""factory_boy factories for cache rows (view tests don't need a registry process)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import factory
from django.utils import timezone

from registry.client.media_types import DOCKER_MANIFEST
from registry.models import Manifest, Registry, Repository, Tag


class RegistryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Registry
        django_get_or_create = ("name",)

    name = "main"
    url = "http://127.0.0.1:5000"


class RepositoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Repository
        django_get_or_create = ("registry", "name")

    registry = factory.SubFactory(RegistryFactory)
    name = factory.Sequence(lambda n: f"acme/app-{n}")


class ManifestFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Manifest

    repository = factory.SubFactory(RepositoryFactory)
    digest = factory.Sequence(lambda n: "sha256:" + hashlib.sha256(str(n).encode()).hexdigest())
    media_type = DOCKER_MANIFEST
    size = 10_000_000
    created = datetime(2026, 1, 1, tzinfo=UTC)
    platforms = factory.LazyFunction(lambda: ["linux/amd64"])
    tag_count = 1


class TagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tag

    manifest = factory.SubFactory(ManifestFactory)
    repository = factory.LazyAttribute(lambda tag: tag.manifest.repository)
    name = factory.Sequence(lambda n: f"review-branch-{n}")
    first_seen = factory.LazyFunction(timezone.now)
    last_changed = factory.LazyFunction(timezone.now)
