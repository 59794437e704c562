"""A GitLab group synced end to end: the real registry behind the fake GitLab.

The group `acme` (with its subgroup `acme/team`) holds two projects; their review images
carry (or lack) the revision label. GitLab lists the repositories over more than one
page (`max_per_page` lowered), and the branches and merge requests too.
"""

from __future__ import annotations

import pytest
from django.utils import timezone

from registry.models import GitLabConnection, StalenessRules, SyncRun, Tag, TagGitLab
from registry.staleness import refresh_staleness, stale_tag_ids
from registry.sync import sync_registry
from tests.support.acme_gitlab import OLD, Acme, build_acme, sha, verdicts
from tests.support.fake_gitlab import GitLabWorld, push_review_image

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_group_is_synced_without_the_catalog_and_each_image_is_tied(
    gitlab_world: GitLabWorld,
) -> None:
    acme = build_acme(gitlab_world)

    run = sync_registry(registry=acme.registry)

    assert run.status == SyncRun.Status.SUCCEEDED, (run.error, run.repository_errors)
    assert sorted(acme.registry.repos.values_list("name", flat=True)) == [
        "acme/team/api",
        "acme/team/api/worker",
        "acme/web",
    ]
    assert not gitlab_world.gitlab.requests_matching("_catalog")
    assert gitlab_world.gitlab.requests_matching(r"/groups/acme/registry/repositories")
    seen = verdicts(acme.registry)
    assert seen["review-feature-login-1"] == (False, False, "merge request !1 open")
    assert seen["review-feature-login-2"] == (False, True, "runs in review/feature-login")
    assert seen["review-fix-payment-1"] == (
        True,
        False,
        "merge request !2 merged less than a day ago",
    )
    assert seen["review-spike-graphql-1"] == (
        True,
        False,
        "merge request !3 closed less than a day ago",
    )
    assert seen["review-feature-x-1"] == (False, False, "branch feature-x exists")
    assert seen["review-hotfix-live-7"] == (False, True, "runs in review/hotfix-live")
    assert seen["review-hotfix-live-6"] == (False, False, "branch hotfix-live exists")
    assert seen["review-feature-y-1"][0:2] == (False, False)  # ambiguous: the age rules decide
    assert seen["latest"][1] is True

    tie = TagGitLab.objects.select_related("merge_request", "environment").get(
        tag__name="review-feature-login-2"
    )
    assert tie.merge_request
    assert tie.environment
    assert (tie.branch, tie.commit_source, tie.merge_request.iid, tie.environment.name) == (
        "feature-login",
        "revision",
        1,
        "review/feature-login",
    )
    ambiguous = TagGitLab.objects.get(tag__name="review-feature-y-1")
    assert (ambiguous.ambiguous, ambiguous.branch, ambiguous.matched) == (True, "", False)
    connection = GitLabConnection.objects.get(registry=acme.registry)
    assert connection.is_fresh


def test_a_deleted_branch_makes_its_images_stale_and_a_stopped_environment_frees_them(
    gitlab_world: GitLabWorld,
) -> None:
    acme = build_acme(gitlab_world)
    assert sync_registry(registry=acme.registry).status == SyncRun.Status.SUCCEEDED
    gitlab_world.gitlab.delete_branch(acme.web, "feature-x")
    gitlab_world.gitlab.delete_branch(acme.web, "feature-login")
    gitlab_world.gitlab.stop_environment(acme.web, acme.env_login)

    assert sync_registry(registry=acme.registry).status == SyncRun.Status.SUCCEEDED

    seen = verdicts(acme.registry)
    assert seen["review-feature-x-1"] == (True, False, "branch feature-x deleted")
    # Its merge request is still open, but its branch is gone, and nothing runs it now.
    assert seen["review-feature-login-2"] == (True, False, "branch feature-login deleted")
    tie = TagGitLab.objects.select_related("environment").get(tag__name="review-feature-login-2")
    assert tie.environment
    assert (tie.environment.name, tie.environment.state, tie.in_use) == (
        "review/feature-login",
        "stopped",
        False,
    )


def gitlab_fails(world: GitLabWorld, acme: Acme) -> None:
    """GitLab's API answers 503 (its /jwt/auth still serves the registry)."""
    world.gitlab.add_hook(r"^/api/v4/", lambda path, query: (503, {}, b"down for maintenance"))


def test_gitlab_down_while_the_registry_is_up_makes_nothing_stale(
    gitlab_world: GitLabWorld,
) -> None:
    acme = build_acme(gitlab_world)
    assert sync_registry(registry=acme.registry).status == SyncRun.Status.SUCCEEDED
    gitlab_world.gitlab.delete_branch(acme.web, "feature-x")
    gitlab_fails(gitlab_world, acme)

    run = sync_registry(registry=acme.registry)

    assert_nothing_stale_on_gitlab_grounds(run, acme)


def test_gitlab_unreachable_while_the_registry_is_up_makes_nothing_stale(
    gitlab_world: GitLabWorld, local_registry
) -> None:
    from registry.client import RegistryClient

    pusher = RegistryClient(local_registry.url, sleep=lambda seconds: None)
    acme = build_acme(gitlab_world, registry_url=local_registry.url, pusher=pusher)
    assert sync_registry(registry=acme.registry).status == SyncRun.Status.SUCCEEDED
    gitlab_world.gitlab.stop()

    run = sync_registry(registry=acme.registry)

    assert_nothing_stale_on_gitlab_grounds(run, acme)
    assert "Could not reach GitLab" in run.repository_errors[0]["error"]


def assert_nothing_stale_on_gitlab_grounds(run: SyncRun, acme: Acme) -> None:
    assert run.status == SyncRun.Status.PARTIAL, run.error
    assert acme.registry.repos.count() == 3  # the registry was synced all the same
    connection = GitLabConnection.objects.get(registry=acme.registry)
    assert not connection.is_fresh
    assert connection.refreshed_at is not None  # the last good refresh, shown with its age
    assert connection.error.startswith("GitLab's context could not be refreshed")
    assert any(connection.error == e["error"] for e in run.repository_errors)
    seen = verdicts(acme.registry)
    # The last known context is kept: the branch deleted meanwhile still exists here.
    assert seen["review-feature-x-1"] == (False, False, "branch feature-x exists")
    # GitLab's grounds make nothing stale while it cannot be read: not even what was.
    assert seen["review-fix-payment-1"][0] is False
    assert "but GitLab has not been read since" in seen["review-fix-payment-1"][2]
    assert seen["review-feature-login-2"] == (False, True, "runs in review/feature-login")


def test_a_refresh_with_nothing_changed_is_a_few_requests_per_project(
    gitlab_world: GitLabWorld,
) -> None:
    acme = build_acme(gitlab_world)
    assert sync_registry(registry=acme.registry).status == SyncRun.Status.SUCCEEDED
    gitlab = gitlab_world.gitlab
    gitlab.max_per_page = 100
    gitlab.requests.clear()

    assert sync_registry(registry=acme.registry).status == SyncRun.Status.SUCCEEDED

    for project in (acme.web, acme.api):
        asked = gitlab.requests_matching(rf"^/api/v4/projects/{project.id}/")
        assert len(asked) <= 4, asked  # branches, merge requests, environments, deployments
    connection = GitLabConnection.objects.get(registry=acme.registry)
    assert connection.requests_made <= 2 + 2 * 4  # discovery's two lists, then the projects


def test_merge_requests_are_read_incrementally(gitlab_world: GitLabWorld) -> None:
    acme = build_acme(gitlab_world)
    assert sync_registry(registry=acme.registry).status == SyncRun.Status.SUCCEEDED
    gitlab = gitlab_world.gitlab
    gitlab.finish_merge_request(acme.web, 1, state="merged")

    assert sync_registry(registry=acme.registry).status == SyncRun.Status.SUCCEEDED

    assert verdicts(acme.registry)["review-feature-login-1"] == (
        True,
        False,
        "merge request !1 merged less than a day ago",
    )
    asked = [p for p in gitlab.requests if p.endswith(f"/projects/{acme.web.id}/merge_requests")]
    assert asked  # and the second read carried updated_after (the stand-in filters on it)


def test_an_image_whose_tag_names_no_branch_is_found_among_its_requests_commits(
    gitlab_world: GitLabWorld,
) -> None:
    acme = build_acme(gitlab_world)
    gitlab = gitlab_world.gitlab
    old = sha("login 0")
    acme.web.merge_requests[1]["commits"].insert(0, old)  # pushed before GitLab was read
    gitlab.max_per_page = 100  # one page of commits
    with gitlab_world.pusher() as client:
        push_review_image(client, "acme/web", "build-login-old", created=OLD, revision=old)

    assert sync_registry(registry=acme.registry).status == SyncRun.Status.SUCCEEDED

    tie = TagGitLab.objects.select_related("merge_request").get(tag__name="build-login-old")
    assert tie.merge_request
    assert (tie.branch, tie.merge_request.iid) == ("feature-login", 1)
    assert len(gitlab.requests_matching("/merge_requests/1/commits")) == 1
    gitlab.requests.clear()
    assert sync_registry(registry=acme.registry).status == SyncRun.Status.SUCCEEDED
    assert not gitlab.requests_matching("/commits")  # read once per head


def test_a_429_from_gitlab_is_waited_out(gitlab_world: GitLabWorld) -> None:
    acme = build_acme(gitlab_world)
    limited = iter([True])
    gitlab_world.gitlab.add_hook(
        r"/repository/branches$",
        lambda path, query: (
            (429, {"Retry-After": "1"}, b"Retry later") if next(limited, False) else None
        ),
    )

    run = sync_registry(registry=acme.registry)

    assert run.status == SyncRun.Status.SUCCEEDED, run.repository_errors
    assert GitLabConnection.objects.get(registry=acme.registry).is_fresh


def test_a_policy_with_the_gitlab_rules_chooses_what_a_refresh_calls_stale(
    gitlab_world: GitLabWorld,
) -> None:
    """GitLab judges a tag before the branch pattern does: a pattern with a fixed start
    that no review tag has must not narrow the policy's read and lose GitLab's word."""
    acme = build_acme(gitlab_world)
    assert sync_registry(registry=acme.registry).status == SyncRun.Status.SUCCEEDED
    StalenessRules.objects.filter(registry=acme.registry).update(
        branch_pattern=r"^build-(?P<branch>.+)-\d+$"
    )
    rules = StalenessRules.objects.get(registry=acme.registry)
    now = timezone.now()
    refresh_staleness(registry=acme.registry, now=now)
    stale = set(
        Tag.objects.filter(repository__registry=acme.registry, is_stale=True).values_list(
            "name", flat=True
        )
    )

    chosen = stale_tag_ids(
        registry=acme.registry,
        rules=rules,
        now=now,
        repository_ids=acme.registry.repos.values_list("pk", flat=True),
    )

    assert {
        tag.name for tag in Tag.objects.filter(pk__in=[i for _, ids in chosen for i in ids])
    } == stale
    assert "review-fix-payment-1" in stale  # its merge request was merged
