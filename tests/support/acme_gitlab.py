"""The GitLab group most GitLab tests start from: `acme`, with its subgroup `acme/team`.

`build_acme` sets up two projects in the fake GitLab, their branches, merge requests and
environments, and pushes their review images to the world's registry (with the
revision label, or without), then saves the registry connected to the group.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from devtools.gitlab_standin import Project
from registry.client import RegistryClient
from registry.models import Registry, StalenessRules, Tag
from registry.registries import save_registry
from tests.support.fake_gitlab import GROUP, MAINTAINER_TOKEN, GitLabWorld, push_review_image

BRANCH_PATTERN = r"^review-(?P<branch>.+)-\d+$"
OLD = datetime.now(UTC) - timedelta(days=2)


def sha(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


@dataclass
class Acme:
    web: Project
    api: Project
    registry: Registry
    env_login: int
    env_hotfix: int
    env_payment: int


def build_acme(
    world: GitLabWorld, *, registry_url: str = "", pusher: RegistryClient | None = None
) -> Acme:
    """Two projects, their branches, merge requests, environments and images (pushed to
    the world's registry, or with `pusher` to the one at `registry_url`)."""
    gitlab = world.gitlab
    gitlab.max_per_page = 2  # every list below spans pages
    web = world.project("acme/web")
    api = world.project("acme/team/api", repositories=("", "worker"))
    for project in (web, api):
        gitlab.push_branch(project, "main", sha(f"{project.path} main"))
    gitlab.push_branch(web, "feature-login", sha("login 1"))
    login = gitlab.open_merge_request(web, source_branch="feature-login", author="ana")
    gitlab.push_to_merge_request(web, login, sha("login 2"))
    gitlab.push_branch(web, "fix-payment", sha("payment 1"))
    payment = gitlab.open_merge_request(web, source_branch="fix-payment", author="bo")
    gitlab.push_branch(web, "spike-graphql", sha("spike 1"))
    spike = gitlab.open_merge_request(web, source_branch="spike-graphql")
    gitlab.push_branch(web, "feature-x", sha("x 1"))
    gitlab.push_branch(web, "hotfix-live", sha("hotfix 1"))
    gitlab.push_branch(web, "Feature/Y", sha("y upper"))
    gitlab.push_branch(web, "feature-y", sha("y lower"))
    env_login = gitlab.add_environment(web, "review/feature-login")
    gitlab.deploy(web, env_login, ref="feature-login", sha=sha("login 2"))
    env_hotfix = gitlab.add_environment(web, "review/hotfix-live")
    gitlab.deploy(web, env_hotfix, ref="hotfix-live", sha=sha("hotfix 1"))
    env_payment = gitlab.add_environment(web, "review/fix-payment")
    gitlab.deploy(web, env_payment, ref="fix-payment", sha=sha("payment 1"))
    gitlab.stop_environment(web, env_payment)

    with pusher or world.pusher() as client:
        images = [
            ("review-feature-login-1", sha("login 1")),  # an older build of an open MR
            ("review-feature-login-2", sha("login 2")),  # runs in review/feature-login
            ("review-fix-payment-1", sha("payment 1")),  # its MR gets merged
            ("review-spike-graphql-1", sha("spike 1")),  # its MR gets closed
            ("review-feature-x-1", None),  # no label: the slug finds the branch
            ("review-hotfix-live-6", None),  # older of the branch with a live environment
            ("review-hotfix-live-7", None),  # newest: runs in review/hotfix-live
            ("review-feature-y-1", None),  # two branches have this slug
            ("latest", sha("acme/web main")),
        ]
        for tag, revision in images:
            push_review_image(client, "acme/web", tag, created=OLD, revision=revision)
        push_review_image(client, "acme/team/api", "review-main-1", created=OLD)
        push_review_image(client, "acme/team/api/worker", "latest", created=OLD)
    gitlab.finish_merge_request(web, payment, state="merged")
    gitlab.finish_merge_request(web, spike, state="closed")

    registry, _ = save_registry(
        name="acme",
        url=registry_url or world.registry_url,
        username="janitor",
        password=MAINTAINER_TOKEN,
        gitlab_url=world.gitlab.url,
        gitlab_group=GROUP,
    )
    StalenessRules.objects.create(
        registry=registry, branch_pattern=BRANCH_PATTERN, max_age_days=30, gitlab_grace_days=0
    )
    return Acme(web, api, registry, env_login, env_hotfix, env_payment)


def verdicts(registry: Registry) -> dict[str, tuple[bool, bool, str]]:
    rows = Tag.objects.filter(repository__registry=registry, repository__name="acme/web")
    return {t.name: (t.is_stale, t.is_protected, t.stale_reason) for t in rows}
