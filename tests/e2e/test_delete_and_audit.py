"""A janitor deletes stale review images: select, preview, confirm, watch, audit.

The registry is real, and so is the worker: the confirmed batch goes through
Redis to a `celery worker` process while the page polls its progress.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from devtools.image_builder import push_image, retag
from registry.models import DeletionBatch, StalenessRules
from registry.registries import save_registry
from registry.sync import sync_registry
from tests.e2e.browser import go_to, log_in
from tests.e2e.conftest import Screen
from tests.support.fault_proxy import Delay

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

OLD = datetime(2025, 6, 1, tzinfo=UTC)


def test_select_preview_confirm_watch_and_find_the_batch_in_the_audit_log(
    page: Page,
    live_server,
    celery_worker,
    local_registry,
    registry_client,
    fault_proxy,
    janitor,
    screenshots: Path,
    screen: Screen,
) -> None:
    for n in range(12):
        push_image(registry_client, "acme/web", f"review-login-{n}", created=OLD)
    # review-shared-0 shares its digest with release-1, which is not stale: untag only.
    push_image(registry_client, "acme/web", "review-shared-0", created=OLD)
    retag(registry_client, "acme/web", "review-shared-0", "release-1")
    push_image(registry_client, "acme/web", "latest", created=OLD)
    proxy = fault_proxy(local_registry.url)
    registry, _ = save_registry(name="main", url=proxy.url)
    StalenessRules.objects.create(registry=registry, branch_pattern="^review-")
    assert sync_registry(registry=registry).status == "succeeded"
    # Slow deletes, so that the progress shows while the worker goes.
    proxy.add_fault("DELETE", "/manifests/", Delay(0.3))

    log_in(page, live_server, janitor)
    page.goto(f"{live_server.url}/registries/main/stale/")
    expect(page.locator(".listing-bar .count")).to_contain_text("13 tags match")
    page.get_by_role("button", name=re.compile(r"Select all 13 matching")).click()
    bar = page.locator("#selection-bar")
    expect(bar).to_contain_text("13 tags selected")

    bar.get_by_role("button", name="Preview deletion").click()
    expect(page.locator("h1")).to_contain_text("Preview: delete from main")
    preview = page.locator("#batch-preview")
    expect(preview).to_contain_text("12")  # digests to delete
    untag_row = page.locator("tr", has_text="review-shared-0")
    expect(untag_row).to_contain_text("Untag only")
    expect(untag_row).to_contain_text("release-1")
    screen.screenshot(page, screenshots, "preview.png", phone_shows=untag_row)

    page.get_by_label(re.compile("Reason")).fill("Review apps of merged branches")
    page.get_by_role("button", name=re.compile(r"^Delete 12 tags, untag 1")).click()

    progress = page.locator("#batch-progress")
    expect(progress).to_contain_text("Deleting")
    expect(progress).to_contain_text("Summary", timeout=30_000)
    expect(progress).to_contain_text("garbage-collect")
    screen.screenshot(page, screenshots, "batch.png")

    batch = DeletionBatch.objects.get()
    assert batch.status == DeletionBatch.Status.SUCCEEDED, batch.error
    assert set(registry_client.list_tags("acme/web")) == {"release-1", "latest"}

    go_to(page, "Audit log")
    expect(page.locator("h1")).to_contain_text("Audit log")
    expect(page.locator("main")).to_contain_text("review-login-0")
    page.get_by_role("link", name="Batches", exact=True).click()
    expect(page.locator("main")).to_contain_text("Review apps of merged branches")
