"""The command line on a registry connected to GitLab: add_registry checks the token,
list_tags says what GitLab says of each image, cleanup --stale deletes exactly the
images of finished or deleted branches that no live environment runs."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.core.management import CommandError, call_command

from registry.client import errors
from registry.deletion.garbage import gc_hint
from registry.deletion.plan import plan_deletion, protected_tag_note
from registry.gitlab.token_check import (
    DELETE_SCOPE_MISSING,
    READ_REGISTRY_MISSING,
    role_too_low_message,
)
from registry.management.commands.add_registry import BROWSE_OK, DELETE_OK
from registry.models import DeletionItem, GitLabConnection, Registry, SyncRun, Tag
from registry.sync import sync_registry
from tests.support.acme_gitlab import build_acme
from tests.support.fake_gitlab import (
    GROUP,
    MAINTAINER_TOKEN,
    NO_REGISTRY_TOKEN,
    READER_TOKEN,
    GitLabWorld,
)

pytestmark = pytest.mark.django_db(transaction=True)


def run(*args: str, stdin: str = "") -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def add(world: GitLabWorld, token: str, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(token + "\n"))
    return run(
        "add_registry",
        "acme",
        world.registry_url,
        "--username",
        "janitor",
        "--password-stdin",
        "--gitlab",
        world.gitlab.url,
        "--gitlab-group",
        GROUP,
    )


def test_add_registry_with_a_maintainer_token_can_browse_and_delete(
    gitlab_world: GitLabWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    out, err = add(gitlab_world, MAINTAINER_TOKEN, monkeypatch)

    assert BROWSE_OK in out, err
    assert DELETE_OK in out
    connection = GitLabConnection.objects.get(registry__name="acme")
    assert (connection.url, connection.group_path) == (gitlab_world.gitlab.url, GROUP)
    assert connection.token_can_browse
    assert connection.token_can_delete
    registry = Registry.objects.get(name="acme")
    assert MAINTAINER_TOKEN not in registry.password_encrypted  # stored encrypted
    assert registry.password == MAINTAINER_TOKEN


def test_add_registry_says_a_reporter_token_cannot_delete_and_why(
    gitlab_world: GitLabWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    out, err = add(gitlab_world, READER_TOKEN, monkeypatch)

    assert BROWSE_OK in out
    assert DELETE_SCOPE_MISSING in err
    assert (
        role_too_low_message(
            where=GROUP, role="Reporter", needed="Maintainer", to="deleting images"
        )
        in err
    )
    assert not GitLabConnection.objects.get(registry__name="acme").token_can_delete


def test_add_registry_refuses_a_token_without_the_registry_scope_in_plain_words(
    gitlab_world: GitLabWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(CommandError) as raised:
        add(gitlab_world, NO_REGISTRY_TOKEN, monkeypatch)

    assert READ_REGISTRY_MISSING in str(raised.value)
    assert NO_REGISTRY_TOKEN not in str(raised.value)


def test_add_registry_says_when_gitlab_refuses_the_token(
    gitlab_world: GitLabWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(CommandError, match="GitLab refused the token"):
        add(gitlab_world, "glpat-wrong", monkeypatch)


def test_list_tags_says_what_gitlab_says_of_each_image(gitlab_world: GitLabWorld) -> None:
    acme = build_acme(gitlab_world)
    assert sync_registry(registry=acme.registry).status == SyncRun.Status.SUCCEEDED

    out, _ = run("list_tags", "--registry", "acme", "--repository", "acme/web", "--format", "json")

    rows = {row["tag"]: row for row in json.loads(out)}
    live = rows["review-feature-login-2"]
    assert (live["stale"], live["protected"], live["stale_reason"]) == (
        False,
        True,
        "runs in review/feature-login",
    )
    assert (live["project"], live["branch"]) == ("acme/web", "feature-login")
    assert live["merge_request"] == {
        "iid": 1,
        "state": "opened",
        "web_url": f"{gitlab_world.gitlab.url}/acme/web/-/merge_requests/1",
    }
    assert live["environment"] == {"name": "review/feature-login", "state": "available"}
    merged = rows["review-fix-payment-1"]
    # Its environment was stopped before GitLab was first read: its deployments are not
    # read (a stopped environment runs nothing).
    assert (merged["stale"], merged["merge_request"]["state"], merged["environment"]) == (
        True,
        "merged",
        None,
    )
    assert rows["review-feature-y-1"]["branch"] is None  # ambiguous

    out, _ = run("list_tags", "--registry", "acme", "--format", "csv")
    csv_rows = {
        r["tag"]: r for r in csv.DictReader(io.StringIO(out)) if r["repository"] == "acme/web"
    }
    assert csv_rows["review-fix-payment-1"]["merge_request"] == "!2"
    assert csv_rows["review-fix-payment-1"]["stale"] == "True"


def test_cleanup_stale_deletes_exactly_the_images_of_finished_branches_nothing_runs(
    gitlab_world: GitLabWorld, janitor
) -> None:
    acme = build_acme(gitlab_world)
    assert sync_registry(registry=acme.registry).status == SyncRun.Status.SUCCEEDED
    gitlab_world.gitlab.delete_branch(acme.web, "feature-x")  # seen, then gone
    assert sync_registry(registry=acme.registry).status == SyncRun.Status.SUCCEEDED

    out, _ = run(
        "cleanup",
        "--registry",
        "acme",
        "--stale",
        "--yes",
        "--reason",
        "merged",
        "--actor",
        janitor.username,
    )

    with gitlab_world.pusher() as client:
        left = set(client.list_tags("acme/web"))
        assert "review-fix-payment-1" not in left, out
        assert "review-spike-graphql-1" not in left
        assert "review-feature-x-1" not in left
        assert {
            "review-feature-login-1",
            "review-feature-login-2",
            "review-hotfix-live-6",
            "review-hotfix-live-7",
            "latest",
        } <= left
        with pytest.raises(errors.NotFound):
            client.head_manifest("acme/web", "review-fix-payment-1")
    acme.registry.refresh_from_db()
    assert gc_hint(acme.registry).explanation in out  # what the batch page says too


def test_an_image_in_use_is_refused_in_any_plan(gitlab_world: GitLabWorld, janitor) -> None:
    acme = build_acme(gitlab_world)
    assert sync_registry(registry=acme.registry).status == SyncRun.Status.SUCCEEDED
    names = ["review-feature-login-2", "review-fix-payment-1"]
    tags = Tag.objects.filter(repository__registry=acme.registry, name__in=names)

    batch = plan_deletion(registry=acme.registry, tags=tags, actor=janitor)

    items = {item.tag: (item.action, item.note) for item in batch.items.all()}
    assert items["review-feature-login-2"] == (
        DeletionItem.Action.REFUSE,
        protected_tag_note("runs in review/feature-login"),
    )
    assert (
        items["review-feature-login-2"][1] == "This tag is protected: runs in review/feature-login."
    )
    assert items["review-fix-payment-1"][0] == DeletionItem.Action.DELETE
