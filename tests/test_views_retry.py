"""*Retry failed*: a finished batch's failed and not-attempted tags, planned again as a new
preview, linked to the batch it retries in the audit log. Janitors and admins only."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from registry.deletion.retry import (
    NOT_FINISHED_MESSAGE,
    NOTHING_TO_RETRY_MESSAGE,
    RetryError,
    plan_retry,
)
from registry.models import DeletionBatch, DeletionItem, Registry, Tag
from tests.factories import TagFactory
from tests.support.deletion import plan_and_confirm, run_batch_as

pytestmark = pytest.mark.django_db

Outcome = DeletionItem.Outcome
NAMES = [f"review-{n}" for n in range(5)]


@pytest.fixture
def finished(registry: Registry, web, janitor) -> DeletionBatch:
    """Five review tags: review-1 failed, review-3 was not attempted, the rest deleted."""
    for name in NAMES:
        TagFactory.create(manifest__repository=web, name=name)
    batch = plan_and_confirm(registry, janitor, NAMES)
    return run_batch_as(batch, {"review-1": Outcome.FAILED, "review-3": Outcome.NOT_ATTEMPTED})


def retry_url(batch: DeletionBatch) -> str:
    return reverse("batch_retry", args=[batch.pk])


def test_a_finished_batch_with_failures_offers_retry_failed(
    client: Client, janitor, finished: DeletionBatch
) -> None:
    client.force_login(janitor)

    html = client.get(reverse("batch", args=[finished.pk])).content.decode()

    assert f'action="{retry_url(finished)}"' in html
    assert "Retry failed" in html
    assert "Plans the 2 tags that failed or were not attempted again" in html


def test_retry_failed_plans_exactly_the_failed_and_not_attempted_tags_as_a_preview(
    client: Client, janitor, finished: DeletionBatch
) -> None:
    client.force_login(janitor)

    response = client.post(retry_url(finished))

    retry = DeletionBatch.objects.exclude(pk=finished.pk).get()
    assert response.status_code == 302
    assert response["Location"] == reverse("batch", args=[retry.pk])
    assert retry.status == DeletionBatch.Status.PLANNED
    assert retry.retry_of == finished
    assert sorted(retry.items.values_list("tag", flat=True)) == ["review-1", "review-3"]
    html = client.get(response["Location"]).content.decode()
    assert "Preview: delete from main" in html
    assert f'href="{reverse("batch", args=[finished.pk])}">batch {finished.pk}</a> failed' in html


def test_with_htmx_retry_failed_redirects_the_whole_page(
    client: Client, janitor, finished: DeletionBatch
) -> None:
    client.force_login(janitor)

    response = client.post(retry_url(finished), HTTP_HX_REQUEST="true")

    retry = DeletionBatch.objects.get(retry_of=finished)
    assert response["HX-Redirect"] == reverse("batch", args=[retry.pk])


def test_the_audit_log_links_a_retry_to_the_batch_it_retries(
    client: Client, janitor, finished: DeletionBatch
) -> None:
    retry = plan_retry(batch=finished, actor=janitor)
    client.force_login(janitor)

    html = client.get(reverse("audit_batches")).content.decode()
    first = client.get(reverse("batch", args=[finished.pk])).content.decode()

    assert f'retry of <a href="{reverse("batch", args=[finished.pk])}">#{finished.pk}</a>' in html
    assert f'Retried in <a href="{reverse("batch", args=[retry.pk])}">batch {retry.pk}</a>' in first


def test_a_batch_without_failures_offers_no_retry(client: Client, janitor, registry, web) -> None:
    TagFactory.create(manifest__repository=web, name="review-9")
    batch = run_batch_as(plan_and_confirm(registry, janitor, ["review-9"]), {})
    client.force_login(janitor)

    html = client.get(reverse("batch", args=[batch.pk])).content.decode()
    response = client.post(retry_url(batch), follow=True)

    assert "Retry failed" not in html
    assert NOTHING_TO_RETRY_MESSAGE in response.content.decode()
    assert DeletionBatch.objects.count() == 1


def test_a_running_batch_cannot_be_retried(janitor, registry, web) -> None:
    TagFactory.create(manifest__repository=web, name="review-9")
    batch = plan_and_confirm(registry, janitor, ["review-9"])

    with pytest.raises(RetryError) as raised:
        plan_retry(batch=batch, actor=janitor)

    assert raised.value.message == NOT_FINISHED_MESSAGE


def test_a_tag_gone_from_the_cache_is_not_planned_again(janitor, finished: DeletionBatch) -> None:
    Tag.objects.filter(name="review-3").delete()

    retry = plan_retry(batch=finished, actor=janitor)

    assert list(retry.items.values_list("tag", flat=True)) == ["review-1"]


def test_viewers_see_no_retry_and_may_not_retry(
    client: Client, viewer, finished: DeletionBatch
) -> None:
    client.force_login(viewer)

    html = client.get(reverse("batch", args=[finished.pk])).content.decode()

    assert "Retry failed" not in html
    assert client.post(retry_url(finished)).status_code == 403
    assert not DeletionBatch.objects.filter(retry_of=finished).exists()


def test_retrying_needs_a_post(client: Client, janitor, finished: DeletionBatch) -> None:
    client.force_login(janitor)

    assert client.get(retry_url(finished)).status_code == 405
