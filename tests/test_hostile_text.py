"""Text that comes from outside — a registry's repository and tag names, its error messages, a
janitor's reason — is shown as text on every page, never run as markup."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from registry.models import SyncRun
from tests.factories import DeletionBatchFactory, DeletionItemFactory, RepositoryFactory
from tests.support.htmx import HTMX
from tests.support.tag_rows import make_tag

pytestmark = pytest.mark.django_db

PAYLOAD = '<script>alert("x")</script><img src=x onerror=alert(1)>'
ESCAPED = "&lt;script&gt;"


@pytest.fixture
def hostile(registry):
    """A repository, a tag, a sync error and a batch reason that each carry markup."""
    repository = RepositoryFactory.create(registry=registry, name=f"acme/{PAYLOAD}")
    tag = make_tag(repository, f"review-{PAYLOAD}", is_stale=True)
    SyncRun.objects.create(
        registry=registry,
        status=SyncRun.Status.PARTIAL,
        error=f"The registry said {PAYLOAD}",
        repository_errors=[{"repository": repository.name, "error": f"HTTP 500 {PAYLOAD}"}],
    )
    batch = DeletionBatchFactory.create(registry=registry, reason=f"because {PAYLOAD}")
    DeletionItemFactory.create(batch=batch, repository_name=repository.name, tag=tag.name,
                        detail=f"failed: {PAYLOAD}")  # fmt: skip
    return tag, batch


def pages(tag, batch) -> list[str]:
    return [
        reverse("dashboard"),
        reverse("repositories", args=["main"]),
        reverse("tags", args=["main"]),
        reverse("stale", args=["main"]),
        reverse("tag_detail", args=[tag.pk]),
        reverse("batch", args=[batch.pk]),
        reverse("audit"),
        reverse("audit_batches"),
        reverse("selection", args=["main"]),
    ]


def test_hostile_names_reasons_and_errors_are_shown_as_text(
    client: Client, janitor, hostile
) -> None:
    tag, batch = hostile
    client.force_login(janitor)
    for url in pages(tag, batch):
        for headers in ({}, HTMX):
            html = client.get(url, **headers).content.decode()
            assert "<script>alert" not in html, url
            assert "<img src=x" not in html, url
    assert ESCAPED in client.get(reverse("tags", args=["main"])).content.decode()
    assert ESCAPED in client.get(reverse("batch", args=[batch.pk])).content.decode()
