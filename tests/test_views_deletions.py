"""Deletion batches on the web: plan, preview, confirm, progress, cancel; who may, CSRF.

The tests that plan from a selection push real images to a real registry and
sync them; the others build batch rows directly (a batch is only rows until run).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.html import escape

from devtools.image_builder import push_image, retag
from registry.client import RegistryClient, errors
from registry.deletion.batches import (
    ALREADY_FINISHED_MESSAGE,
    GC_COMMAND,
    GC_EXPLANATION,
    GC_UNTAGGED_WARNING,
    NOTHING_TO_DO_MESSAGE,
    REASON_REQUIRED_MESSAGE,
    typed_count_message,
)
from registry.deletion.garbage import GC_BINARY_COMMAND, GC_BINARY_EXPLANATION
from registry.deletion.plan import NOTHING_SELECTED_MESSAGE
from registry.enqueue import BATCH_NOT_SENT_MESSAGE, SYNC_NOT_SENT_MESSAGE
from registry.models import DeletionBatch, DeletionItem, Registry, Tag
from registry.selection import add_tags
from registry.sync import sync_registry
from registry.views.deletions import (
    BATCH_FINISHED_EVENT,
    BATCH_PAGE_SIZE,
    BATCH_PROGRESSED_EVENT,
    CANCEL_REQUESTED_MESSAGE,
    DISCARDED_MESSAGE,
    HAND_OVER,
    QUEUED_MESSAGE,
    RECLAIMABLE_NOTE,
)
from tests.support.fixtures import tasks_sent_to
from tests.support.htmx import HTMX

pytestmark = pytest.mark.django_db

JAN = datetime(2026, 1, 5, tzinfo=UTC)
MIB = 1024 * 1024
Status = DeletionBatch.Status
Action = DeletionItem.Action
Outcome = DeletionItem.Outcome


# -- rows and images ----------------------------------------------------------------------


def make_batch(
    registry: Registry,
    *,
    deletes: int = 1,
    untags: int = 0,
    refused: int = 0,
    status: str = Status.PLANNED,
    repository: str = "acme/web",
    **fields,
) -> DeletionBatch:
    """A batch as plan_deletion saves it: `deletes` tags each on its own 1 MiB digest, then
    `untags` untag-only tags and `refused` refused ones, in that order."""
    batch = DeletionBatch.objects.create(
        registry=registry,
        registry_name=registry.name,
        planned_by_username="jan-janitor",
        status=status,
        tags_planned=deletes + untags + refused,
        manifests_planned=deletes,
        untags_planned=untags,
        refused_planned=refused,
        bytes_planned=deletes * MIB,
        bytes_reclaimable=deletes * MIB,
        **fields,
    )
    kinds = [Action.DELETE] * deletes + [Action.UNTAG] * untags + [Action.REFUSE] * refused
    DeletionItem.objects.bulk_create(
        DeletionItem(
            batch=batch,
            position=position,
            repository_name=repository,
            tag=f"{action}-{position:04d}",
            digest="sha256:" + hashlib.sha256(f"{batch.pk}-{position}".encode()).hexdigest(),
            size=MIB,
            created=JAN,
            action=action,
            note="Also tagged keep-me (not in the plan): only this tag is removed."
            if action == Action.UNTAG
            else "",
            shared_with=["keep-me"] if action == Action.UNTAG else [],
            outcome=Outcome.REFUSED if action == Action.REFUSE else Outcome.PENDING,
        )
        for position, action in enumerate(kinds, start=1)
    )
    return batch


def status_of(batch: DeletionBatch) -> str:
    batch.refresh_from_db()
    return batch.status


@pytest.fixture
def images(cached_registry, registry_client: RegistryClient) -> Registry:
    """In acme/web, synced:

    - review-1, sharing its digest with `latest` (protected by the default rules);
    - review-2, sharing its digest with review-2-copy;
    - review-3 alone on its digest.
    """
    push_image(registry_client, "acme/web", "review-1", created=JAN)
    retag(registry_client, "acme/web", "review-1", "latest")
    push_image(registry_client, "acme/web", "review-2", created=JAN)
    retag(registry_client, "acme/web", "review-2", "review-2-copy")
    push_image(registry_client, "acme/web", "review-3", created=JAN)
    run = sync_registry(registry=cached_registry)
    assert run.status == "succeeded", run.error
    return cached_registry


def select(user, registry: Registry, *names: str) -> None:
    ids = list(
        Tag.objects.filter(repository__registry=registry, name__in=names).values_list(
            "pk", flat=True
        )
    )
    assert len(ids) == len(names)
    add_tags(user=user, registry=registry, tag_ids=ids)


def tags_in_registry(client: RegistryClient, repository: str = "acme/web") -> set[str]:
    try:
        return set(client.list_tags(repository))
    except errors.NotFound:
        return set()


def plan_url(registry_name: str = "main") -> str:
    return reverse("deletion_plan", args=[registry_name])


def batch_url(batch: DeletionBatch, name: str = "batch") -> str:
    return reverse(name, args=[batch.pk])


BATCH_POSTS = ["batch_confirm", "batch_cancel"]
BATCH_GETS = ["batch", "batch_progress"]


# -- who may ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["deletion_plan", *BATCH_POSTS, *BATCH_GETS])
def test_anonymous_users_are_sent_to_the_login(client, registry, name):
    batch = make_batch(registry)
    if name == "deletion_plan":
        response = client.post(plan_url())
    elif name in BATCH_POSTS:
        response = client.post(batch_url(batch, name))
    else:
        response = client.get(batch_url(batch, name))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("name", ["deletion_plan", *BATCH_POSTS, *BATCH_GETS])
def test_users_without_a_role_get_403(client, outsider, registry, name):
    batch = make_batch(registry)
    client.force_login(outsider)
    if name == "deletion_plan":
        response = client.post(plan_url())
    elif name in BATCH_POSTS:
        response = client.post(batch_url(batch, name), {"reason": "cleanup"})
    else:
        response = client.get(batch_url(batch, name))
    assert response.status_code == 403
    assert status_of(batch) == Status.PLANNED


def test_viewers_read_a_batch_but_see_no_confirmation_form(client, viewer, registry):
    batch = make_batch(registry, deletes=2)
    client.force_login(viewer)

    response = client.get(batch_url(batch))

    html = response.content.decode()
    assert response.status_code == 200
    assert "delete-0001" in html
    assert "Only janitors and registry admins can confirm a deletion." in html
    assert batch_url(batch, "batch_confirm") not in html
    assert "Discard plan" not in html


@pytest.mark.parametrize("name", ["deletion_plan", *BATCH_POSTS])
def test_viewers_may_not_plan_confirm_or_cancel(client, viewer, registry, name):
    batch = make_batch(registry)
    client.force_login(viewer)
    url = plan_url() if name == "deletion_plan" else batch_url(batch, name)

    response = client.post(url, {"reason": "cleanup"})

    assert response.status_code == 403
    assert status_of(batch) == Status.PLANNED
    assert DeletionBatch.objects.count() == 1


def test_an_unknown_batch_or_registry_is_404(client, janitor, registry):
    client.force_login(janitor)
    assert client.get(reverse("batch", args=[987654])).status_code == 404
    assert client.get(reverse("batch_progress", args=[987654])).status_code == 404
    assert client.post(reverse("batch_confirm", args=[987654])).status_code == 404
    assert client.post(plan_url("nope")).status_code == 404


@pytest.mark.parametrize("name", ["deletion_plan", *BATCH_POSTS])
def test_changing_a_batch_needs_a_post(client, janitor, registry, name):
    batch = make_batch(registry)
    client.force_login(janitor)
    url = plan_url() if name == "deletion_plan" else batch_url(batch, name)
    assert client.get(url).status_code == 405


def test_only_users_who_may_delete_get_the_preview_deletion_form(client, viewer, janitor, images):
    select(viewer, images, "review-3")
    select(janitor, images, "review-3")

    client.force_login(viewer)
    as_viewer = client.get(reverse("selection", args=["local"])).content.decode()
    client.force_login(janitor)
    as_janitor = client.get(reverse("selection", args=["local"])).content.decode()

    assert "Preview deletion" not in as_viewer
    assert plan_url("local") not in as_viewer
    assert f'action="{plan_url("local")}"' in as_janitor
    assert "Preview deletion" in as_janitor


# -- planning -----------------------------------------------------------------------------


def test_a_janitor_plans_the_selection_and_sees_the_preview(client, janitor, images):
    select(janitor, images, "review-1", "review-2", "review-3")
    client.force_login(janitor)

    response = client.post(plan_url("local"))

    batch = DeletionBatch.objects.get()
    assert response.status_code == 302
    assert response["Location"] == batch_url(batch)
    html = client.get(response["Location"]).content.decode()
    # review-3: alone on its digest, so the image goes.
    assert "review-3" in html
    assert "Delete manifest" in html
    # review-2: review-2-copy keeps the image.
    assert "Untag only" in html
    assert "Also tagged <code>review-2-copy</code> (not in the plan)" in html
    # review-1: its digest carries `latest`, which is protected.
    assert "Refused" in html
    assert "protected tag latest" in html
    assert "Digests to delete" in html
    assert "Space garbage collection would free" in html
    assert RECLAIMABLE_NOTE in html
    assert "Discard plan" in html
    assert 'name="reason"' in html
    assert 'name="typed_count"' not in html  # two tags to act on: no number to type


def test_planning_with_htmx_redirects_the_whole_page(client, janitor, images):
    select(janitor, images, "review-3")
    client.force_login(janitor)

    response = client.post(plan_url("local"), **HTMX)

    assert response["HX-Redirect"] == batch_url(DeletionBatch.objects.get())


def test_planning_an_empty_selection_says_so_on_the_selection_page(client, janitor, images):
    client.force_login(janitor)

    response = client.post(plan_url("local"), follow=True)

    assert response.redirect_chain[-1][0] == reverse("selection", args=["local"])
    assert NOTHING_SELECTED_MESSAGE in response.content.decode()
    assert not DeletionBatch.objects.exists()


def test_a_plan_where_everything_is_refused_offers_no_confirmation(client, janitor, registry):
    batch = make_batch(registry, deletes=0, refused=2)
    client.force_login(janitor)

    html = client.get(batch_url(batch)).content.decode()

    assert NOTHING_TO_DO_MESSAGE in html
    assert 'name="reason"' not in html
    assert "Discard plan" in html


# -- confirming ---------------------------------------------------------------------------


def test_the_reason_is_required(client, janitor, registry, django_capture_on_commit_callbacks):
    batch = make_batch(registry)
    client.force_login(janitor)

    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(batch_url(batch, "batch_confirm"), {"reason": "  "})

    assert response.status_code == 200
    html = response.content.decode()
    assert REASON_REQUIRED_MESSAGE in html
    assert "<html" in html  # without HTMX, the whole page again
    assert status_of(batch) == Status.PLANNED
    assert callbacks == []


def test_with_htmx_a_refused_confirmation_returns_the_form_alone(client, janitor, registry):
    batch = make_batch(registry)
    client.force_login(janitor)

    response = client.post(batch_url(batch, "batch_confirm"), {"reason": ""}, **HTMX)

    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="batch-confirm"')
    assert REASON_REQUIRED_MESSAGE in html


def test_above_fifty_tags_the_number_must_be_typed(
    client, janitor, registry, django_capture_on_commit_callbacks
):
    batch = make_batch(registry, deletes=40, untags=11, refused=3)  # 51 to act on
    client.force_login(janitor)

    page = client.get(batch_url(batch)).content.decode()
    assert 'name="typed_count"' in page
    assert typed_count_message(51) in page

    with django_capture_on_commit_callbacks() as callbacks:
        wrong = client.post(
            batch_url(batch, "batch_confirm"), {"reason": "cleanup", "typed_count": "54"}
        )
    assert typed_count_message(51) in wrong.content.decode()
    assert 'value="54"' in wrong.content.decode()  # what was typed stays
    assert status_of(batch) == Status.PLANNED
    assert callbacks == []

    with django_capture_on_commit_callbacks() as callbacks:
        right = client.post(
            batch_url(batch, "batch_confirm"), {"reason": "cleanup", "typed_count": "51"}
        )
    assert right.status_code == 302
    assert status_of(batch) == Status.QUEUED
    assert len(callbacks) == 1  # the task is enqueued once the transaction commits


def test_fifty_tags_need_no_typed_number(client, janitor, registry):
    batch = make_batch(registry, deletes=50, refused=5)
    client.force_login(janitor)
    assert 'name="typed_count"' not in client.get(batch_url(batch)).content.decode()


def test_confirming_runs_the_batch_and_shows_the_outcome_and_how_to_free_the_disk(
    client, janitor, images, registry_client, django_capture_on_commit_callbacks
):
    select(janitor, images, "review-1", "review-2", "review-3")
    client.force_login(janitor)
    batch_page = client.post(plan_url("local"))["Location"]
    batch = DeletionBatch.objects.get()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            batch_url(batch, "batch_confirm"), {"reason": "merged branches"}, **HTMX
        )

    assert response["HX-Redirect"] == batch_page
    assert status_of(batch) == Status.SUCCEEDED
    assert tags_in_registry(registry_client) == {"latest", "review-1", "review-2-copy"}
    html = client.get(batch_page).content.decode()
    assert QUEUED_MESSAGE in html
    assert "succeeded" in html
    for outcome in ("deleted", "untagged", "refused"):
        assert f'class="badge outcome-{outcome}">{outcome}</span>' in html
    assert "merged branches" in html
    assert "jan-janitor" in html
    # A registry run from its binary (not this repository's docker compose service).
    assert escape(GC_BINARY_EXPLANATION) in html
    assert f"<pre><code>{escape(GC_BINARY_COMMAND)}</code></pre>" in html
    assert escape(GC_UNTAGGED_WARNING) in html
    assert 'name="reason"' not in html
    assert "every 1s" not in html


def test_a_plan_is_confirmed_once(client, janitor, registry, django_capture_on_commit_callbacks):
    batch = make_batch(registry)
    client.force_login(janitor)
    with django_capture_on_commit_callbacks():
        client.post(batch_url(batch, "batch_confirm"), {"reason": "cleanup"})

    with django_capture_on_commit_callbacks() as callbacks:
        again = client.post(batch_url(batch, "batch_confirm"), {"reason": "cleanup"}, follow=True)

    assert "no longer a plan" in again.content.decode()
    assert callbacks == []


# -- CSRF ---------------------------------------------------------------------------------


def test_a_post_without_the_csrf_token_is_403(janitor, registry):
    batch = make_batch(registry)
    client = Client(enforce_csrf_checks=True)
    client.force_login(janitor)

    assert client.post(plan_url(), **HTMX).status_code == 403
    assert client.post(batch_url(batch, "batch_cancel"), **HTMX).status_code == 403
    assert client.post(batch_url(batch, "batch_confirm"), {"reason": "x"}).status_code == 403
    assert status_of(batch) == Status.PLANNED
    assert DeletionBatch.objects.count() == 1


def test_a_post_with_the_token_in_the_htmx_header_is_accepted(janitor, images):
    select(janitor, images, "review-3")
    client = Client(enforce_csrf_checks=True)
    client.force_login(janitor)
    page = client.get(reverse("selection", args=["local"]))
    token = page.cookies["csrftoken"].value

    response = client.post(plan_url("local"), HTTP_X_CSRFTOKEN=token, **HTMX)

    assert response.status_code == 200
    assert response["HX-Redirect"] == batch_url(DeletionBatch.objects.get())


# -- progress -----------------------------------------------------------------------------


def test_a_running_batch_polls_its_progress(client, janitor, registry):
    batch = make_batch(registry, deletes=3, untags=1)
    DeletionBatch.objects.filter(pk=batch.pk).update(
        status=Status.RUNNING, current_repository="acme/web"
    )
    DeletionItem.objects.filter(batch=batch, position=1).update(outcome=Outcome.DELETED)
    client.force_login(janitor)

    response = client.get(batch_url(batch, "batch_progress"), **HTMX)

    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="batch-progress"')
    assert 'hx-trigger="every 1s"' in html
    assert f'hx-get="{batch_url(batch, "batch_progress")}?done=1"' in html
    assert "<progress" in html
    assert "1 of 4" in html
    assert "<dt>Deleted</dt><dd>1</dd>" in html  # counted from the items
    assert "Not attempted" not in html  # only once the batch has ended
    assert "acme/web" in html
    assert "Cancel" in html


def test_a_poll_that_finds_more_tags_done_tells_the_items_table_to_follow(client, viewer, registry):
    batch = make_batch(registry, deletes=3)
    DeletionBatch.objects.filter(pk=batch.pk).update(status=Status.RUNNING)
    DeletionItem.objects.filter(batch=batch, position__lte=2).update(outcome=Outcome.DELETED)
    client.force_login(viewer)
    url = batch_url(batch, "batch_progress")

    behind = client.get(f"{url}?done=1", **HTMX)
    current = client.get(f"{url}?done=2", **HTMX)

    assert BATCH_PROGRESSED_EVENT in behind.get("HX-Trigger-After-Settle", "")
    assert f'hx-get="{url}?done=2"' in behind.content.decode()
    assert BATCH_PROGRESSED_EVENT not in current.get("HX-Trigger-After-Settle", "")


def test_the_items_of_a_running_batch_follow_its_progress(client, viewer, registry):
    batch = make_batch(registry, deletes=3)
    DeletionBatch.objects.filter(pk=batch.pk).update(status=Status.RUNNING)
    DeletionItem.objects.filter(batch=batch, position=1).update(outcome=Outcome.DELETED)
    client.force_login(viewer)

    page = client.get(batch_url(batch)).content.decode()
    items = client.get(f"{batch_url(batch)}?outcome=pending", **HTMX).content.decode()

    region = page[page.index('<section id="batch-items"') :]
    assert f'hx-trigger="{BATCH_PROGRESSED_EVENT} from:body' in region
    assert items.lstrip().startswith('<section id="batch-items"')
    assert f"{BATCH_PROGRESSED_EVENT} from:body" in items  # still following
    assert "outcome=pending" in items  # with its filters
    assert items.count('class="badge outcome-pending"') == 2


def test_the_page_of_a_running_batch_shows_the_progress(client, viewer, registry):
    batch = make_batch(registry, deletes=2)
    DeletionBatch.objects.filter(pk=batch.pk).update(status=Status.QUEUED)
    client.force_login(viewer)

    html = client.get(batch_url(batch)).content.decode()

    assert 'hx-trigger="every 1s"' in html
    assert "waiting for a worker" in html
    assert f"{BATCH_FINISHED_EVENT} from:body" in html  # the items reload at the end
    assert batch_url(batch, "batch_cancel") not in html  # viewers may not cancel


def test_the_progress_of_a_finished_batch_stops_the_polling(client, viewer, registry):
    batch = make_batch(registry, deletes=2)
    DeletionBatch.objects.filter(pk=batch.pk).update(status=Status.RUNNING)
    DeletionItem.objects.filter(batch=batch).update(outcome=Outcome.DELETED)
    DeletionBatch.objects.filter(pk=batch.pk).update(
        status=Status.SUCCEEDED, deleted_count=2, bytes_deleted=2 * MIB
    )
    client.force_login(viewer)

    response = client.get(batch_url(batch, "batch_progress"), **HTMX)

    html = response.content.decode()
    assert response.status_code == 286
    assert "every 1s" not in html
    assert "succeeded" in html
    assert "<dt>Deleted</dt><dd>2</dd>" in html  # the figures the batch saved
    assert "<dt>Not attempted</dt><dd>0</dd>" in html
    assert "2.0\xa0MB" in html
    assert escape(GC_BINARY_COMMAND) in html
    assert BATCH_FINISHED_EVENT in response["HX-Trigger-After-Settle"]


def test_a_stopped_batch_says_why(client, viewer, registry):
    batch = make_batch(registry)
    DeletionBatch.objects.filter(pk=batch.pk).update(
        status=Status.FAILED, error="The registry refuses deletes (405)."
    )
    client.force_login(viewer)

    html = client.get(batch_url(batch)).content.decode()

    assert "stopped" in html
    assert "The registry refuses deletes (405)." in html


# -- cancelling ---------------------------------------------------------------------------


def test_discarding_a_plan_goes_back_to_the_selection(client, janitor, registry):
    batch = make_batch(registry, deletes=2)
    client.force_login(janitor)

    response = client.post(batch_url(batch, "batch_cancel"), follow=True)

    assert response.redirect_chain[-1][0] == reverse("selection", args=["main"])
    assert DISCARDED_MESSAGE in response.content.decode()
    assert status_of(batch) == Status.DISCARDED
    page = client.get(batch_url(batch)).content.decode()
    assert "plan discarded" in page
    assert "not attempted" in page
    assert 'name="reason"' not in page


def test_cancelling_a_running_batch_asks_it_to_stop(client, janitor, registry):
    batch = make_batch(registry, deletes=2)
    DeletionBatch.objects.filter(pk=batch.pk).update(status=Status.RUNNING)
    client.force_login(janitor)

    response = client.post(batch_url(batch, "batch_cancel"), follow=True)

    html = response.content.decode()
    assert CANCEL_REQUESTED_MESSAGE in html
    assert "Cancelling: the batch stops after the tags in progress." in html
    batch.refresh_from_db()
    assert batch.cancel_requested
    assert batch.status == Status.RUNNING


def test_a_finished_batch_cannot_be_cancelled(client, janitor, registry):
    batch = make_batch(registry, status=Status.SUCCEEDED)
    client.force_login(janitor)

    response = client.post(batch_url(batch, "batch_cancel"), follow=True)

    assert ALREADY_FINISHED_MESSAGE in response.content.decode()
    assert status_of(batch) == Status.SUCCEEDED


# -- the items ----------------------------------------------------------------------------


def test_the_items_are_paginated(client, viewer, registry):
    batch = make_batch(registry, deletes=BATCH_PAGE_SIZE + 5)
    client.force_login(viewer)

    first = client.get(batch_url(batch)).content.decode()
    second = client.get(batch_url(batch) + "?page=2").content.decode()

    last = f"delete-{BATCH_PAGE_SIZE + 5:04d}"
    assert "delete-0001" in first
    assert last not in first
    assert last in second
    assert "delete-0001" not in second
    assert "Page 2 of 2" in second


def test_the_items_can_be_filtered_by_action(client, viewer, registry):
    batch = make_batch(registry, deletes=2, untags=1, refused=1)
    client.force_login(viewer)

    response = client.get(batch_url(batch) + "?action=untag", **HTMX)

    html = response.content.decode()
    assert html.lstrip().startswith('<section id="batch-items"')
    assert "<html" not in html
    assert "untag-0003" in html
    assert "delete-0001" not in html
    assert "refuse-0004" not in html
    assert "Also tagged <code>keep-me</code>" in html
    assert f'hx-get="{batch_url(batch)}?action=refuse"' in html
    assert 'hx-push-url="true"' in html


def test_a_run_batchs_items_can_be_filtered_by_outcome_too(client, viewer, registry):
    batch = make_batch(registry, deletes=3, untags=1, status=Status.PARTIAL)
    outcomes = {
        "delete-0001": Outcome.DELETED,
        "delete-0002": Outcome.FAILED,
        "delete-0003": Outcome.FAILED,
        "untag-0004": Outcome.UNTAGGED,
    }
    for tag, outcome in outcomes.items():
        batch.items.filter(tag=tag).update(outcome=outcome, finished_at=JAN)
    client.force_login(viewer)

    failed = client.get(batch_url(batch) + "?outcome=failed", **HTMX).content.decode()
    untagged_failed = client.get(batch_url(batch) + "?action=untag&outcome=failed").content.decode()

    assert "delete-0002" in failed
    assert "delete-0003" in failed
    assert "delete-0001" not in failed
    assert "untag-0004" not in failed
    assert 'aria-current="true">Failed <span class="muted">(2)</span>' in failed
    assert "Deleted <span" in failed
    assert "Already absent <span" not in failed  # only the outcomes the batch has
    assert f'hx-get="{batch_url(batch)}?action=untag&amp;outcome=failed"' in failed
    assert f'hx-get="{batch_url(batch)}?action=untag"' in untagged_failed
    assert "No tag in this batch matches these filters." in untagged_failed


def test_a_plan_has_no_outcomes_to_filter_by(client, viewer, registry):
    batch = make_batch(registry, deletes=2)
    client.force_login(viewer)

    html = client.get(batch_url(batch) + "?outcome=failed").content.decode()

    assert "delete-0001" in html
    assert "delete-0002" in html
    assert "Any outcome" not in html


def test_the_batch_page_takes_a_constant_number_of_queries(client, janitor, registry):
    def queries_for(batch: DeletionBatch) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(batch_url(batch)).status_code == 200
        return len(captured)

    client.force_login(janitor)
    small = make_batch(registry, deletes=2, untags=1)
    large = make_batch(registry, deletes=400, untags=300, refused=20, repository="acme/api")

    assert queries_for(large) == queries_for(small)


def test_an_item_shows_its_short_digest_and_marks_signatures(client, viewer, registry):
    batch = make_batch(registry)
    subject = batch.items.get()
    DeletionItem.objects.create(
        batch=batch,
        position=2,
        repository_name="acme/web",
        tag="sha256-" + subject.digest.removeprefix("sha256:") + ".sig",
        digest="sha256:" + "b" * 64,
        action=Action.DELETE,
        companion_of=subject.digest,
        note="Signature or attestation of delete-0001: deleted with it.",
    )
    client.force_login(viewer)

    html = client.get(batch_url(batch)).content.decode()

    assert f'<code title="{subject.digest}">{subject.short_digest}</code>' in html
    assert f'title="Signature or attestation of {subject.digest}">signature</span>' in html
    assert "Signature or attestation of delete-0001: deleted with it." in html


def test_a_history_restore_of_the_batch_page_gets_the_whole_page(client, viewer, registry):
    batch = make_batch(registry)
    client.force_login(viewer)
    response = client.get(batch_url(batch), HTTP_HX_HISTORY_RESTORE_REQUEST="true", **HTMX)
    assert "<html" in response.content.decode()
    assert "HX-Request" in response["Vary"]


def test_the_batch_pages_items_region_varies_on_hx_request(client, viewer, registry):
    batch = make_batch(registry)
    client.force_login(viewer)
    response = client.get(batch_url(batch), **HTMX)
    assert "<html" not in response.content.decode()
    assert "HX-Request" in response["Vary"]


# -- the task queue down ------------------------------------------------------------------

# Nothing listens on port 1: publishing to this broker fails as when Redis is down.
DEAD_BROKER = "redis://127.0.0.1:1/0"

# Outside a test transaction, as a request runs in production: work is published at once.
in_autocommit = pytest.mark.django_db(transaction=True)


@in_autocommit
def test_confirming_while_the_queue_is_down_says_so_and_the_batch_can_be_handed_over_again(
    client, janitor, images, registry_client
):
    select(janitor, images, "review-3")
    client.force_login(janitor)
    batch_page = client.post(plan_url("local"))["Location"]
    batch = DeletionBatch.objects.get()

    with tasks_sent_to(DEAD_BROKER):
        response = client.post(
            batch_url(batch, "batch_confirm"), {"reason": "merged branches"}, follow=True
        )

    html = response.content.decode()
    assert BATCH_NOT_SENT_MESSAGE in html
    assert QUEUED_MESSAGE not in html, "it does not say the batch runs"
    assert "Hand it to a worker again" in html
    batch.refresh_from_db()
    assert (batch.status, batch.confirmed_by_username) == (Status.QUEUED, "jan-janitor")
    assert tags_in_registry(registry_client) >= {"review-3"}

    # The queue is back: handing it over again runs it (in-process in the tests).
    again = client.post(batch_url(batch, "batch_confirm"), {"action": HAND_OVER}, follow=True)

    assert again.redirect_chain[-1][0] == batch_page
    assert status_of(batch) == Status.SUCCEEDED
    assert "review-3" not in tags_in_registry(registry_client)
    assert DeletionBatch.objects.get().reason == "merged branches", "the confirmation is kept"


@in_autocommit
def test_sync_now_while_the_queue_is_down_says_so(client, janitor, images):
    from registry.models import SyncRun

    client.force_login(janitor)
    runs = SyncRun.objects.count()

    with tasks_sent_to(DEAD_BROKER):
        response = client.post(reverse("sync_now", args=["local"]), **HTMX)

    html = response.content.decode()
    assert escape(SYNC_NOT_SENT_MESSAGE.format(name="local")) in html
    assert 'role="alert"' in html
    assert "every 1s" not in html, "nothing to wait for"
    assert SyncRun.objects.count() == runs


def test_cancelling_a_batch_whose_worker_died_records_what_its_requests_did(
    client, janitor, images, registry_client, django_capture_on_commit_callbacks
):
    select(janitor, images, "review-2", "review-3")
    client.force_login(janitor)
    client.post(plan_url("local"))
    batch = DeletionBatch.objects.get()
    client.post(batch_url(batch, "batch_confirm"), {"reason": "merged branches"})
    # The worker died right after sending review-3's DELETE: running, lease expired,
    # review-3 attempted and gone from the registry, its outcome never saved.
    review_3 = batch.items.get(tag="review-3")
    registry_client.delete_manifest("acme/web", review_3.digest)
    DeletionBatch.objects.filter(pk=batch.pk).update(
        status=Status.RUNNING, started_at=JAN, lease_expires_at=JAN
    )
    DeletionItem.objects.filter(pk=review_3.pk).update(attempted_at=JAN)

    with django_capture_on_commit_callbacks(execute=True):
        client.post(batch_url(batch, "batch_cancel"))

    assert status_of(batch) == Status.CANCELLED
    outcomes = dict(batch.items.values_list("tag", "outcome"))
    assert outcomes == {"review-2": Outcome.NOT_ATTEMPTED, "review-3": Outcome.DELETED}
    assert "review-2" in tags_in_registry(registry_client)


@pytest.mark.parametrize(
    ("url", "kind", "details", "says", "command"),
    [
        ("http://registry:5000", "distribution", {}, GC_EXPLANATION, GC_COMMAND),
        ("https://registry.example.com", "distribution", {}, GC_BINARY_EXPLANATION,
         GC_BINARY_COMMAND),
        ("https://gitlab.example.com", "gitlab", {},
         "GitLab runs garbage collection; ask your administrator", ""),
        ("https://gitlab.example.com", "gitlab", {"database": True},
         "GitLab runs garbage collection", ""),
    ],
    ids=["compose", "registry binary", "gitlab", "gitlab with its database"],
)  # fmt: skip
def test_how_to_free_the_disk_fits_the_registry(
    client, viewer, registry, url, kind, details, says, command
):
    Registry.objects.filter(pk=registry.pk).update(url=url, kind=kind, kind_details=details)
    batch = make_batch(registry, deletes=1)
    DeletionBatch.objects.filter(pk=batch.pk).update(status=Status.RUNNING)
    DeletionItem.objects.filter(batch=batch).update(outcome=Outcome.DELETED)
    DeletionBatch.objects.filter(pk=batch.pk).update(status=Status.SUCCEEDED, deleted_count=1)
    client.force_login(viewer)

    html = client.get(batch_url(batch)).content.decode()

    gc = html[html.index('<div class="gc">') :]
    assert escape(says) in gc
    if command:
        assert f"<pre><code>{escape(command)}</code></pre>" in gc
    else:
        assert "<pre>" not in gc
        assert "garbage-collect" not in gc


def test_stat_cards_are_coloured_by_their_value(client, viewer, registry):
    """Refused 1 is not green, Failed 0 is not red."""
    batch = make_batch(registry, deletes=2, refused=1)
    DeletionBatch.objects.filter(pk=batch.pk).update(status=Status.RUNNING)
    DeletionItem.objects.filter(batch=batch, action=Action.DELETE).update(outcome=Outcome.DELETED)
    DeletionBatch.objects.filter(pk=batch.pk).update(
        status=Status.SUCCEEDED, deleted_count=2, refused_count=1
    )
    client.force_login(viewer)

    html = client.get(batch_url(batch)).content.decode()

    assert '<div class="ok-figure"><dt>Deleted</dt><dd>2</dd>' in html
    assert '<div class="warn-figure"><dt>Refused</dt><dd>1</dd>' in html
    assert "<div><dt>Failed</dt><dd>0</dd>" in html
    assert "<div><dt>Not attempted</dt><dd>0</dd>" in html
