"""The pages of a registry connected to GitLab: each tag's branch, merge request and
environment, the GitLab filters, a repository's project, the dashboard's context age and
the GitLab rules. The group is synced for real (real registry, fake GitLab)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from registry.models import Registry, StalenessRules, SyncRun
from registry.sync import sync_registry
from tests.support.acme_gitlab import Acme, build_acme
from tests.support.fake_gitlab import GitLabWorld
from tests.support.html import listed_tags, row_of
from tests.support.htmx import HTMX

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def acme(gitlab_world: GitLabWorld) -> Acme:
    built = build_acme(gitlab_world)
    assert sync_registry(registry=built.registry).status == SyncRun.Status.SUCCEEDED
    return built


def test_each_tag_row_shows_its_branch_merge_request_and_environment(
    client: Client, viewer, acme: Acme, gitlab_world: GitLabWorld
) -> None:
    client.force_login(viewer)

    html = client.get(reverse("tags", args=["acme"]), {"repository": "acme/web"}).content.decode()

    assert ">GitLab<" in html
    running = row_of(html, "review-feature-login-2")
    assert "feature-login" in running
    assert f'href="{gitlab_world.gitlab.url}/acme/web/-/merge_requests/1"' in running
    assert "!1 opened" in running
    assert "by ana" in running
    assert "running in review/feature-login" in running
    merged = row_of(html, "review-fix-payment-1")
    assert "!2 merged" in merged
    assert "ambiguous branch" in row_of(html, "review-feature-y-1")


@pytest.mark.parametrize(
    ("flag", "expected"),
    [
        ("mr_merged", ["review-fix-payment-1"]),
        ("mr_closed", ["review-spike-graphql-1"]),
        ("in_use", ["review-feature-login-2", "review-hotfix-live-7"]),
        ("no_gitlab_match", ["review-feature-y-1"]),
    ],
)
def test_gitlab_filters(client: Client, viewer, acme: Acme, flag: str, expected: list[str]) -> None:
    client.force_login(viewer)

    response = client.get(
        reverse("tags", args=["acme"]), {"repository": "acme/web", flag: "1"}, **HTMX
    )

    assert sorted(listed_tags(response.content.decode())) == expected
    assert "<html" not in response.content.decode()  # the listing region only


def test_the_branch_gone_filter_lists_the_images_of_deleted_branches(
    client: Client, viewer, acme: Acme, gitlab_world: GitLabWorld
) -> None:
    gitlab_world.gitlab.delete_branch(acme.web, "feature-x")
    assert sync_registry(registry=acme.registry).status == SyncRun.Status.SUCCEEDED
    client.force_login(viewer)

    html = client.get(reverse("tags", args=["acme"]), {"branch_gone": "1"}).content.decode()

    assert listed_tags(html) == ["review-feature-x-1"]
    assert "branch gone" in row_of(html, "review-feature-x-1")


def test_a_repository_links_to_its_project(
    client: Client, viewer, acme: Acme, gitlab_world: GitLabWorld
) -> None:
    client.force_login(viewer)

    html = client.get(reverse("repositories", args=["acme"])).content.decode()

    assert f'href="{gitlab_world.gitlab.url}/acme/team/api"' in html
    assert f'href="{gitlab_world.gitlab.url}/acme/web"' in html


def test_the_dashboard_card_says_when_gitlab_was_last_read(
    client: Client, viewer, acme: Acme, gitlab_world: GitLabWorld
) -> None:
    client.force_login(viewer)

    html = client.get(reverse("dashboard")).content.decode()

    assert "context refreshed" in html
    assert gitlab_world.gitlab.url in html


def test_the_tag_detail_names_the_project_and_the_commit(
    client: Client, viewer, acme: Acme
) -> None:
    from registry.models import Tag

    tag = Tag.objects.get(repository__registry=acme.registry, name="review-feature-login-2")
    client.force_login(viewer)

    html = client.get(reverse("tag_detail", args=[tag.pk]), **HTMX).content.decode()

    assert "acme/web" in html
    assert "(from its revision label)" in html
    assert "running in review/feature-login" in html


def test_admins_edit_the_gitlab_rules_of_a_gitlab_registry_only(
    client: Client, registry_admin, acme: Acme
) -> None:
    client.force_login(registry_admin)
    page = client.get(reverse("rules", args=["acme"])).content.decode()
    assert 'name="gitlab_grace_days"' in page

    response = client.post(
        reverse("rules", args=["acme"]),
        {
            "protected_patterns": "^latest$",
            "max_age_days": "30",
            "branch_pattern": r"^review-(?P<branch>.+)-\d+$",
            "keep_newest": "0",
            "age_basis": "created",
            "gitlab_rules": "on",
            "gitlab_grace_days": "7",
            "action": "save",
        },
    )

    assert response.status_code == 302
    assert StalenessRules.objects.get(registry=acme.registry).gitlab_grace_days == 7
    # Seven days' grace: the merge request merged today no longer makes its image stale.
    payment = acme.registry.repos.get(name="acme/web").tags.get(name="review-fix-payment-1")
    assert not payment.is_stale
    Registry.objects.create(name="plain", url="http://127.0.0.1:9")
    assert (
        'name="gitlab_grace_days"'
        not in client.get(reverse("rules", args=["plain"])).content.decode()
    )


def test_outsiders_see_nothing_of_gitlab(client: Client, outsider, acme: Acme) -> None:
    client.force_login(outsider)
    assert client.get(reverse("tags", args=["acme"]), {"in_use": "1"}).status_code == 403


def test_the_admin_shows_the_gitlab_connection_never_the_token(client: Client, acme: Acme) -> None:
    from django.contrib.auth.models import User

    from tests.support.fake_gitlab import MAINTAINER_TOKEN

    client.force_login(User.objects.create_superuser("root", password="pw"))

    html = client.get(
        reverse("admin:registry_registry_change", args=[acme.registry.pk])
    ).content.decode()

    assert acme.registry.gitlab.url in html
    assert MAINTAINER_TOKEN not in html
