"""Policy pages: Registry admins write policies, Janitors approve their proposals in one
click, viewers read the history; nobody else sees anything."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from registry.enqueue import POLICY_NOT_SENT_MESSAGE
from registry.forms import INVALID_EMAIL_MESSAGE
from registry.models import CleanupPolicy, DeletionBatch, PolicyRun
from registry.policies.approval import NOT_A_PROPOSAL_MESSAGE
from registry.policies.run import run_policy
from registry.user_patterns import PATTERN_TOO_SLOW_MESSAGE
from registry.views.policies import APPROVED_MESSAGE
from tests.factories import ManifestFactory, RepositoryFactory, TagFactory
from tests.support.fixtures import tasks_sent_to
from tests.test_user_patterns import SLOW, TRAP

pytestmark = pytest.mark.django_db

SECRET_URL = "https://hooks.slack.com/services/T000/B000/very-secret-token"


def form(**changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "name": "weekly", "registry": "", "enabled": "on", "include_patterns": "^acme/",
        "exclude_patterns": "", "protected_patterns": "^latest$", "max_age_days": "14",
        "branch_pattern": "", "keep_newest": "0", "age_basis": "created", "unpulled_days": "",
        "gitlab_rules": "on", "gitlab_grace_days": "1", "frequency": "weekly", "weekday": "0",
        "at": "06:00", "mode": "propose", "max_tags_per_run": "100",
        "max_repository_percent": "50", "approval_reason": "", "notify_emails": "",
        "webhook_url": "",
    }  # fmt: skip
    data.update(changes)
    return data


def text(response) -> str:
    return response.content.decode().replace("&#x27;", "'").replace("&quot;", '"')


@pytest.fixture
def stale_web(registry):
    """acme/web of `registry` with three review images 40 days old and a new one."""
    web = RepositoryFactory.create(registry=registry, name="acme/web")
    old = timezone.now() - timedelta(days=40)
    for n in range(3):
        TagFactory.create(
            name=f"review-{n}", manifest=ManifestFactory.create(repository=web, created=old)
        )
    TagFactory.create(
        name="review-new", manifest=ManifestFactory.create(repository=web, created=timezone.now())
    )
    return web


@pytest.fixture
def proposal(registry, stale_web) -> PolicyRun:
    policy = CleanupPolicy.objects.create(
        name="weekly", registry=registry, approval_reason="Weekly review cleanup"
    )
    run = run_policy(policy=policy, trigger=PolicyRun.Trigger.SCHEDULE)
    assert run.status == PolicyRun.Status.PROPOSED
    return run


# -- who may do what ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "method", "args"), [("policy_add", "get", []), ("policy_edit", "get", ["weekly"])]
)
def test_only_registry_admins_write_policies(
    client: Client, proposal, viewer, janitor, registry_admin, name, method, args
) -> None:
    url = reverse(name, args=args)
    assert getattr(client, method)(url).status_code == 302  # to the login
    for user in (viewer, janitor):
        client.force_login(user)
        assert getattr(client, method)(url).status_code == 403
    client.force_login(registry_admin)
    assert getattr(client, method)(url).status_code == 200


def test_viewers_read_policies_and_history_but_approve_nothing(
    client: Client, proposal, viewer, outsider
) -> None:
    client.force_login(outsider)
    assert client.get(reverse("policy_list")).status_code == 403
    assert client.get(reverse("policy_detail", args=["weekly"])).status_code == 403

    client.force_login(viewer)
    assert "weekly" in text(client.get(reverse("policy_list")))
    page = text(client.get(reverse("policy_detail", args=["weekly"])))
    assert f"batch {proposal.batch_id}" in page
    assert "Run now" not in page
    assert client.post(reverse("policy_approve", args=[proposal.pk])).status_code == 403
    assert client.post(reverse("policy_run_now", args=["weekly"])).status_code == 403
    assert "Only janitors and registry admins can approve" in text(
        client.get(reverse("batch", args=[proposal.batch_id]))
    )


# -- writing a policy ---------------------------------------------------------------------


def test_an_admin_adds_a_policy_whose_webhook_is_never_shown_again(
    client: Client, registry, stale_web, registry_admin
) -> None:
    client.force_login(registry_admin)

    response = client.post(
        reverse("policy_add"),
        form(registry=registry.pk, webhook_url=SECRET_URL, notify_emails="lead@example.com"),
        follow=True,
    )

    assert "Policy weekly saved: it covers 1 repository of main now" in text(response)
    policy = CleanupPolicy.objects.get()
    assert policy.include_patterns == ["^acme/"]
    assert policy.notify_emails == ["lead@example.com"]
    assert policy.webhook_url == SECRET_URL
    assert "very-secret-token" not in policy.webhook_url_encrypted
    assert policy.next_run_at is not None
    assert policy.next_run_at.weekday() == 0
    for url in (
        reverse("policy_list"),
        reverse("policy_detail", args=["weekly"]),
        reverse("policy_edit", args=["weekly"]),
    ):
        assert "very-secret-token" not in text(client.get(url))


def test_saving_without_a_webhook_keeps_the_stored_one_and_no_webhook_clears_it(
    client: Client, registry, proposal, registry_admin
) -> None:
    policy = proposal.policy
    policy.set_webhook_url(SECRET_URL)
    policy.save()
    client.force_login(registry_admin)
    url = reverse("policy_edit", args=["weekly"])

    client.post(url, form(registry=registry.pk, max_age_days="30"))
    policy.refresh_from_db()
    assert (policy.max_age_days, policy.webhook_url) == (30, SECRET_URL)

    client.post(url, form(registry=registry.pk, clear_webhook="on"))
    policy.refresh_from_db()
    assert policy.webhook_url_encrypted == ""


def test_bad_patterns_and_addresses_are_refused_in_plain_words(
    client: Client, registry, registry_admin
) -> None:
    client.force_login(registry_admin)

    response = client.post(
        reverse("policy_add"),
        form(registry=registry.pk, include_patterns="acme/(web", notify_emails="not-an-address"),
    )

    page = text(response)
    assert response.status_code == 200
    assert "'acme/(web' is not a valid regular expression" in page
    assert INVALID_EMAIL_MESSAGE.format(address="not-an-address") in page
    assert not CleanupPolicy.objects.exists()


def test_a_pattern_that_backtracks_without_end_is_refused(
    client: Client, registry, registry_admin
) -> None:
    RepositoryFactory.create(registry=registry, name=TRAP)
    client.force_login(registry_admin)

    response = client.post(reverse("policy_add"), form(registry=registry.pk, include_patterns=SLOW))

    assert PATTERN_TOO_SLOW_MESSAGE in text(response)
    assert not CleanupPolicy.objects.exists()


# -- approving ------------------------------------------------------------------------------


def test_the_proposal_page_shows_what_changed_and_the_prefilled_reason(
    client: Client, proposal, janitor
) -> None:
    client.force_login(janitor)

    page = text(client.get(reverse("batch", args=[proposal.batch_id])))

    assert "Proposed by policy" in page
    assert "3 newly stale, 0 no longer" in page
    assert 'value="Weekly review cleanup"' in page
    assert "Approve: delete 3 tags" in page
    assert 'name="typed_count"' not in page  # one click


def test_a_janitor_approves_in_one_click(
    client: Client, proposal, janitor, django_capture_on_commit_callbacks
) -> None:
    client.force_login(janitor)

    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(
            reverse("policy_approve", args=[proposal.pk]),
            {"reason": "Weekly review cleanup"},
            follow=True,
        )

    assert APPROVED_MESSAGE in text(response)
    batch = DeletionBatch.objects.get(pk=proposal.batch_id)
    assert batch.status == DeletionBatch.Status.QUEUED
    assert (batch.confirmed_by_username, batch.reason) == ("jan-janitor", "Weekly review cleanup")
    assert len(callbacks) == 1  # handed to a worker once committed


def test_a_superseded_proposal_cannot_be_approved(client: Client, proposal, janitor) -> None:
    run_policy(policy=proposal.policy, trigger=PolicyRun.Trigger.SCHEDULE)
    client.force_login(janitor)

    response = client.post(reverse("policy_approve", args=[proposal.pk]), follow=True)

    assert NOT_A_PROPOSAL_MESSAGE in text(response)
    assert "Superseded by a later run" in text(response)
    assert DeletionBatch.objects.get(pk=proposal.batch_id).status == "discarded"


def test_the_history_shows_every_run(client: Client, proposal, viewer) -> None:
    run_policy(policy=proposal.policy, trigger=PolicyRun.Trigger.CLI)
    client.force_login(viewer)

    page = text(client.get(reverse("policy_detail", args=["weekly"])))

    assert "Superseded (never applied)" in page
    assert "Proposed" in page
    assert f"/audit/batches/?batch={proposal.batch_id}" in page


def test_run_now_hands_the_policy_to_a_worker(
    client: Client, proposal, janitor, django_capture_on_commit_callbacks
) -> None:
    client.force_login(janitor)

    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("policy_run_now", args=["weekly"]))

    assert PolicyRun.objects.filter(trigger=PolicyRun.Trigger.MANUAL).count() == 1


DEAD_BROKER = "redis://127.0.0.1:1/0"


@pytest.mark.django_db(transaction=True)
def test_run_now_while_the_queue_is_down_says_so(client: Client, proposal, janitor) -> None:
    client.force_login(janitor)

    with tasks_sent_to(DEAD_BROKER):
        response = client.post(reverse("policy_run_now", args=["weekly"]), follow=True)

    assert POLICY_NOT_SENT_MESSAGE.format(name="weekly") in text(response)
    assert PolicyRun.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_approving_while_the_queue_is_down_keeps_the_approval_and_says_so(
    client: Client, proposal, janitor
) -> None:
    client.force_login(janitor)

    with tasks_sent_to(DEAD_BROKER):
        response = client.post(reverse("policy_approve", args=[proposal.pk]), follow=True)

    assert "no worker has it yet" in text(response)
    batch = DeletionBatch.objects.get(pk=proposal.batch_id)
    assert (batch.status, batch.confirmed_by_username) == ("queued", "jan-janitor")
