"""The demo's stand-in GitLab: projects, branches, merge requests and environments that
match the demo images, so that a new user sees branch, merge request and environment
badges. Made-up data in a stand-in API (devtools.gitlab_standin), served under
`/stand-in-gitlab`: every page that shows GitLab's URL says what it is.

Each review branch of the demo meets one fate, the same in every repository: its merge
request is open (some with a live review environment), merged, or closed; the branch
lives on without a request; or it is gone without one.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from devtools.demo_seed import REVIEW_TAG, demo_revision
from devtools.gitlab_standin import MAINTAINER, Project, StandInGitLab, iso
from registry.client import RegistryClient

PREFIX = "/stand-in-gitlab"
AUTHORS = ["ana", "bo", "chen", "dara", "eli"]
# branch -> (fate, days since its request finished, if it did)
FATES: dict[str, tuple[str, int]] = {
    "feature-login": ("live", 0),
    "feature-signup": ("merged", 6),
    "fix-payment-rounding": ("merged", 2),
    "chore-deps": ("closed", 9),
    "feature-search": ("open", 0),
    "fix-timezone": ("gone", 0),
    "feature-dark-mode": ("live", 0),
    "refactor-api-client": ("branch", 0),
    "feature-export-csv": ("merged", 20),
    "fix-memory-leak": ("closed", 1),
    "feature-notifications": ("open", 0),
    "spike-graphql": ("gone", 0),
}


@dataclass(frozen=True)
class DemoGitLab:
    token: str
    group: str  # the group holding the demo's repositories
    projects: list[str]  # repositories outside it, as projects of their own


def seed_standin_gitlab(
    *, gitlab: StandInGitLab, client: RegistryClient, now: datetime | None = None
) -> DemoGitLab:
    """Give the stand-in a project per demo repository, with the branches its images name."""
    now = now or datetime.now(UTC)
    token = "demo-" + secrets.token_urlsafe(16)
    user = gitlab.add_user("demo", token, scopes=["api"])
    names = sorted(client.list_repositories())
    for group in sorted({name.split("/")[0] for name in names}):
        gitlab.add_group(group)
        gitlab.grant(user, group, MAINTAINER)
    for number, name in enumerate(names):
        project = gitlab.add_project(name)
        gitlab.add_repository(project, name)
        gitlab.push_branch(project, "main", demo_revision("main", 0))
        pipelines: dict[str, list[int]] = defaultdict(list)
        for tag in client.list_tags(name):
            if match := REVIEW_TAG.match(tag):
                pipelines[match["branch"]].append(int(match["pipeline"]))
        for branch, numbers in sorted(pipelines.items()):
            shas = [demo_revision(branch, n) for n in sorted(numbers)]
            author = AUTHORS[(number + len(branch)) % len(AUTHORS)]
            _give_fate(gitlab, project, branch, shas, author=author, now=now)
    projects = [name for name in names if not name.startswith("acme/")]
    return DemoGitLab(token=token, group="acme", projects=projects)


def _give_fate(
    gitlab: StandInGitLab,
    project: Project,
    branch: str,
    shas: list[str],
    *,
    author: str,
    now: datetime,
) -> None:
    fate, days = FATES.get(branch, ("open", 0))
    if fate == "gone":
        return  # deleted before GitLab was ever read, without a merge request
    if fate == "branch":
        gitlab.push_branch(project, branch, shas[-1])
        return
    gitlab.push_branch(project, branch, shas[0])
    iid = gitlab.open_merge_request(project, source_branch=branch, author=author, title=branch)
    for sha in shas[1:]:
        gitlab.push_to_merge_request(project, iid, sha)
    if fate in ("merged", "closed"):
        gitlab.finish_merge_request(project, iid, state=fate)
        finished = iso(now - timedelta(days=days, hours=3))
        project.merge_requests[iid][f"{fate}_at"] = project.merge_requests[iid]["updated_at"] = (
            finished
        )
        gitlab.delete_branch(project, branch)
    if fate == "live":
        environment = gitlab.add_environment(project, f"review/{branch}")
        gitlab.deploy(project, environment, ref=branch, sha=shas[-1])
