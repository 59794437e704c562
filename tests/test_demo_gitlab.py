"""The demo's stand-in GitLab: its made-up projects match the demo images, so a new user
sees branch, merge request and environment badges, and the page names it a stand-in."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from django.test import Client
from django.urls import reverse

from devtools.demo_gitlab import PREFIX, seed_standin_gitlab
from devtools.demo_seed import seed_demo_images
from devtools.gitlab_standin import StandInGitLab
from registry.models import StalenessRules, SyncRun, TagGitLab
from registry.registries import save_registry
from registry.sync import sync_registry

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def standin() -> Iterator[StandInGitLab]:
    gitlab = StandInGitLab(prefix=PREFIX).start()
    try:
        yield gitlab
    finally:
        gitlab.stop()


def test_the_demo_images_get_their_branches_requests_and_environments(
    local_registry, registry_client, standin: StandInGitLab, viewer
) -> None:
    seed_demo_images(client=registry_client, repositories=2, tags_per_repository=40)
    demo = seed_standin_gitlab(gitlab=standin, client=registry_client)
    registry, _ = save_registry(
        name="demo",
        url=local_registry.url,
        password=demo.token,
        gitlab_url=standin.url,
        gitlab_group=demo.group,
        gitlab_projects=demo.projects,
    )
    StalenessRules.objects.create(registry=registry, branch_pattern=r"^review-(?P<branch>.+)-\d+$")

    assert sync_registry(registry=registry).status == SyncRun.Status.SUCCEEDED

    ties = TagGitLab.objects.filter(tag__repository__registry=registry)
    assert ties.filter(in_use=True).exists()
    assert {"opened", "merged", "closed"} <= set(
        ties.exclude(merge_request=None).values_list("merge_request__state", flat=True)
    )
    client = Client()
    client.force_login(viewer)
    page = client.get(reverse("dashboard")).content.decode()
    assert "/stand-in-gitlab" in page  # the page says what it is
    assert (
        "Stand-in GitLab (demo and tests only)"
        in requests.get(f"{standin.url}/acme/web", timeout=5).text
    )
