"""A real Celery worker applies delivered events; a flood queues one task at a time."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.test import Client

from devtools.image_builder import push_image
from registry.events.endpoint import ensure_endpoint
from registry.models import EventEndpoint, RegistryEvent, Tag
from registry.registries import save_registry
from tests.support.events import wait_until
from tests.test_events import deliver, event

pytestmark = pytest.mark.slow

JAN = datetime(2026, 1, 5, tzinfo=UTC)


def test_a_worker_applies_a_burst_of_deliveries(
    celery_worker, local_registry, registry_client
) -> None:
    registry, _ = save_registry(name="local", url=local_registry.url)
    ensure_endpoint(registry=registry)
    pushed = [
        push_image(registry_client, "acme/web", f"review-{n}", created=JAN) for n in range(30)
    ]

    client = Client()
    for n, image in enumerate(pushed):
        assert (
            deliver(
                client, registry, [event("push", tag=f"review-{n}", digest=image.digest)]
            ).status_code
            == 200
        )

    wait_until(lambda: Tag.objects.count() == 30, timeout=60)
    wait_until(lambda: not RegistryEvent.objects.filter(state="pending").exists())
    assert set(RegistryEvent.objects.values_list("state", flat=True)) == {"applied"}
    # Every queued task ran and let go of the registry.
    wait_until(
        lambda: EventEndpoint.objects.filter(apply_queued=False, apply_lock_token=None).exists()
    )
    assert "apply_events_task" in celery_worker.log()
