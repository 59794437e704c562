"""Refreshing the GitLab context of a registry's projects: run with every sync.

Per project, GitLab is asked (a few requests when nothing changed):

- its branches, all of them (GitLab has no "changed since" for branches): a branch
  missing from the list is recorded as deleted, at the time it was first missed;
- its merge requests of every state, only those updated since the last good refresh
  (`updated_after`, on GitLab's own clock, with a minute of overlap);
- its environments, and its successful deployments since the last good refresh;
  a live environment whose last deployment is not known yet is read on its own
  (the list does not carry deployments);
- the commits of merge requests, only where an image's revision matches no known
  commit and its tag names no branch (the branch pattern), newest requests first, and
  each request's list once per head.

Projects are read a few at a time (GITLAB_CONCURRENCY); the answers are written in the
caller's thread, one project per transaction. A project GitLab fails for keeps all it
had (its last known context), and says so: until a refresh succeeds, no image of it
becomes stale on GitLab's word (`registry.gitlab.verdicts`).
"""

from __future__ import annotations

import logging
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from registry.models import (
    GitLabBranch,
    GitLabConnection,
    GitLabEnvironment,
    GitLabMergeRequest,
    GitLabProject,
    Tag,
)
from registry.staleness import rules_for
from registry.user_patterns import RULES_BUDGET_SECONDS, Budget, PatternTooSlow

from . import api
from .errors import GitLabError
from .matching import ref_slug
from .rest import GitLabClient
from .ties import branch_capture

logger = logging.getLogger(__name__)

CURSOR_OVERLAP = timedelta(minutes=1)
MERGE_REQUEST_COMMIT_READS = 20  # per project and refresh
HEAD_HISTORY = 100  # heads remembered per branch
LIVE_STATES = ("available", "stopping")


def refresh_failed_message(failures: list[str]) -> str:
    first = failures[0]
    more = f" ({len(failures) - 1} more project(s) failed too)" if len(failures) > 1 else ""
    return (
        f"GitLab's context could not be refreshed: {first}{more} The last known branches, merge "
        "requests and environments are kept; no image becomes stale on GitLab's word until a "
        "refresh succeeds."
    )


@dataclass(frozen=True)
class KnownProject:
    """What the database knows of a project, handed to the thread that reads it."""

    gitlab_id: int
    merge_requests_since: datetime | None
    deployments_since: datetime | None
    known_shas: frozenset[str]
    merge_request_heads: dict[int, str]
    commits_read_at: dict[int, str]
    environments_with_deployment: frozenset[int]
    revisions: frozenset[str] = frozenset()  # known once the registry's tags are written


@dataclass
class ProjectRead:
    """What GitLab answered for one project."""

    branches: list[api.BranchInfo]
    merge_requests: list[api.MergeRequestInfo]
    environments: list[api.EnvironmentInfo]
    deployments: list[api.DeploymentInfo]
    details: dict[int, api.EnvironmentInfo] = field(default_factory=dict)
    commits: dict[int, list[str]] = field(default_factory=dict)
    server_time: datetime | None = None


@dataclass(frozen=True)
class ContextRefresh:
    projects: int
    failures: list[str]
    requests: int


@dataclass
class PendingRefresh:
    """A refresh under way: the projects are being read while the registry is."""

    connection: GitLabConnection
    client: GitLabClient
    known: dict[int, KnownProject]
    reads: dict[int, Future[ProjectRead]]  # by GitLabProject id
    projects: list[GitLabProject]
    requests_before: int


def start_refresh(*, connection: GitLabConnection, client: GitLabClient) -> PendingRefresh:
    """Start reading every project that holds one of the registry's repositories, on the
    client's pool: the sync reads the registry meanwhile."""
    projects = list(
        GitLabProject.objects.filter(
            connection=connection, pk__in=connection.repositories.values("project")
        )
    )
    known = _known_projects(connection=connection, projects=projects)
    reads = {p.pk: client.submit(read_project, client, known[p.pk]) for p in projects}
    return PendingRefresh(connection, client, known, reads, projects, client.requests_made)


def finish_refresh(pending: PendingRefresh, *, now: datetime | None = None) -> ContextRefresh:
    """Wait for the reads, read the commits the registry's new images need, write it all."""
    now = now or timezone.now()
    connection, client = pending.connection, pending.client
    revisions = _revisions_by_project(connection=connection)
    failures: list[str] = []
    for project in pending.projects:
        try:
            read = pending.reads[project.pk].result()
            known = replace(
                pending.known[project.pk], revisions=frozenset(revisions.get(project.pk, ()))
            )
            _read_commits_where_needed(client, known, read)
        except GitLabError as error:
            logger.warning("GitLab context of %s not refreshed: %s", project.path, error.message)
            GitLabProject.objects.filter(pk=project.pk).update(error=error.message)
            failures.append(error.message)
            continue
        write_project(project=project, read=read, now=now)
    connection.attempted_at = now
    connection.requests_made = client.requests_made - pending.requests_before
    connection.error = refresh_failed_message(failures) if failures else ""
    if not failures:
        connection.refreshed_at = now
    connection.save(update_fields=["attempted_at", "requests_made", "error", "refreshed_at"])
    return ContextRefresh(
        projects=len(pending.projects), failures=failures, requests=connection.requests_made
    )


def mark_unreachable(*, connection: GitLabConnection, error: GitLabError) -> None:
    """GitLab failed before any project could be read: the context stays as it was."""
    connection.attempted_at = timezone.now()
    connection.error = refresh_failed_message([error.message])
    connection.save(update_fields=["attempted_at", "error"])
    GitLabProject.objects.filter(connection=connection).update(error=error.message)


# -- reading (in a worker thread: HTTP only) -----------------------------------------------


def read_project(client: GitLabClient, known: KnownProject) -> ProjectRead:
    project_id = known.gitlab_id
    branches = api.branches(client, project_id)
    server_time = client.server_date
    read = ProjectRead(
        branches=branches,
        merge_requests=api.merge_requests(
            client, project_id, updated_after=known.merge_requests_since
        ),
        environments=api.environments(client, project_id),
        deployments=api.deployments(client, project_id, updated_after=known.deployments_since)
        if known.deployments_since
        else [],
        server_time=server_time,
    )
    deployed = {d.environment_id for d in read.deployments}
    for environment in read.environments:
        if environment.state not in LIVE_STATES:
            continue
        if environment.id in known.environments_with_deployment or environment.id in deployed:
            continue
        read.details[environment.id] = api.environment(client, project_id, environment.id)
    return read


def _read_commits_where_needed(
    client: GitLabClient, known: KnownProject, read: ProjectRead
) -> None:
    """The commits of merge requests, while an image's revision matches no known commit."""
    shas = set(known.known_shas)
    shas |= {b.commit_sha for b in read.branches} | {m.sha for m in read.merge_requests}
    unresolved = {r for r in known.revisions if not _known(r, shas)}
    if not unresolved:
        return
    heads = dict(known.merge_request_heads)
    heads.update({m.iid: m.sha for m in read.merge_requests if m.sha})
    stale = sorted((iid for iid, head in heads.items() if known.commits_read_at.get(iid) != head))
    for iid in reversed(stale[-MERGE_REQUEST_COMMIT_READS:]):
        commits = api.merge_request_commits(client, known.gitlab_id, iid)
        read.commits[iid] = commits
        unresolved = {r for r in unresolved if not _known(r, set(commits))}
        if not unresolved:
            return


def _known(revision: str, shas: set[str]) -> bool:
    if revision in shas:
        return True
    return len(revision) < 40 and any(sha.startswith(revision) for sha in shas)


# -- what the database knows ---------------------------------------------------------------


def _known_projects(
    *, connection: GitLabConnection, projects: list[GitLabProject]
) -> dict[int, KnownProject]:
    ids = [p.pk for p in projects]
    shas: dict[int, set[str]] = {pk: set() for pk in ids}
    for project_id, history in GitLabBranch.objects.filter(project_id__in=ids).values_list(
        "project_id", "head_history"
    ):
        shas[project_id].update(history or [])
    heads: dict[int, dict[int, str]] = {pk: {} for pk in ids}
    read_at: dict[int, dict[int, str]] = {pk: {} for pk in ids}
    for project_id, iid, sha, commits, at in GitLabMergeRequest.objects.filter(
        project_id__in=ids
    ).values_list("project_id", "iid", "sha", "commit_shas", "commits_read_at_sha"):
        shas[project_id].update(commits or [])
        heads[project_id][iid] = sha
        read_at[project_id][iid] = at
    deployed: dict[int, set[int]] = {pk: set() for pk in ids}
    for project_id, environment_id in GitLabEnvironment.objects.filter(
        project_id__in=ids, last_deployment_id__isnull=False
    ).values_list("project_id", "gitlab_id"):
        deployed[project_id].add(environment_id)
    return {
        p.pk: KnownProject(
            gitlab_id=p.gitlab_id,
            merge_requests_since=p.merge_requests_since,
            deployments_since=p.deployments_since,
            known_shas=frozenset(shas[p.pk]),
            merge_request_heads=heads[p.pk],
            commits_read_at=read_at[p.pk],
            environments_with_deployment=frozenset(deployed[p.pk]),
        )
        for p in projects
    }


def _revisions_by_project(*, connection: GitLabConnection) -> dict[int, set[str]]:
    """The revision labels of each project's tagged images, where GitLab's commits are
    needed to place them: a tag the branch pattern names a branch of is placed by it."""
    project_of = dict(connection.repositories.values_list("path", "project_id"))
    rules = rules_for(registry=connection.registry)
    capture = branch_capture(rules, budget=Budget(RULES_BUDGET_SECONDS))
    rows = (
        Tag.objects.filter(
            repository__registry_id=connection.registry_id,
            repository__name__in=list(project_of),
        )
        .exclude(manifest__revision="")
        .values_list("repository__name", "name", "manifest__revision")
    )
    found: dict[int, set[str]] = {}
    try:
        for name, tag, revision in rows.iterator(chunk_size=2000):
            revision = revision.lower()
            if not (7 <= len(revision) <= 40 and all(c in "0123456789abcdef" for c in revision)):
                continue
            if not capture(tag):
                found.setdefault(project_of[name], set()).add(revision)
    except PatternTooSlow:
        logger.warning("The branch pattern of %s is too slow to place images", connection.registry)
    return found


# -- writing (in the caller's thread) --------------------------------------------------------


def write_project(*, project: GitLabProject, read: ProjectRead, now: datetime) -> None:
    with transaction.atomic():
        _write_branches(project=project, branches=read.branches, now=now)
        _write_merge_requests(project=project, read=read)
        _write_environments(project=project, read=read)
        cursor = (read.server_time or now) - CURSOR_OVERLAP
        project.refreshed_at = now
        project.first_refreshed_at = project.first_refreshed_at or now
        project.error = ""
        project.merge_requests_since = project.deployments_since = cursor
        project.save(
            update_fields=[
                "refreshed_at",
                "first_refreshed_at",
                "error",
                "merge_requests_since",
                "deployments_since",
            ]
        )


def _write_branches(
    *, project: GitLabProject, branches: list[api.BranchInfo], now: datetime
) -> None:
    rows = {b.name: b for b in GitLabBranch.objects.filter(project=project)}
    new, changed = [], []
    for info in branches:
        row = rows.get(info.name)
        if row is None:
            new.append(
                GitLabBranch(
                    project=project,
                    name=info.name,
                    slug=ref_slug(info.name),
                    commit_sha=info.commit_sha,
                    head_history=[info.commit_sha] if info.commit_sha else [],
                    merged=info.merged,
                    first_seen=now,
                )
            )
            continue
        history = list(row.head_history or [])
        if info.commit_sha and (not history or history[-1] != info.commit_sha):
            history = [*(h for h in history if h != info.commit_sha), info.commit_sha]
        history = history[-HEAD_HISTORY:]
        values = (info.commit_sha, info.merged, history, None)
        if values != (row.commit_sha, row.merged, row.head_history, row.deleted_at):
            row.commit_sha, row.merged, row.head_history, row.deleted_at = values
            changed.append(row)
    GitLabBranch.objects.bulk_create(new, batch_size=500)
    GitLabBranch.objects.bulk_update(
        changed, ["commit_sha", "merged", "head_history", "deleted_at"], batch_size=500
    )
    listed = {info.name for info in branches}
    gone = [row.pk for name, row in rows.items() if name not in listed and row.deleted_at is None]
    GitLabBranch.objects.filter(pk__in=gone).update(deleted_at=now)


MR_FIELDS = [
    "state",
    "title",
    "source_branch",
    "source_slug",
    "sha",
    "author_username",
    "author_name",
    "web_url",
    "merged_at",
    "closed_at",
    "updated_at",
    "commit_shas",
    "commits_read_at_sha",
]


def _write_merge_requests(*, project: GitLabProject, read: ProjectRead) -> None:
    rows = {m.iid: m for m in GitLabMergeRequest.objects.filter(project=project)}
    new, changed = [], set()
    for info in read.merge_requests:
        row = rows.get(info.iid)
        if row is None:
            row = rows[info.iid] = GitLabMergeRequest(project=project, iid=info.iid)
            new.append(row)
        else:
            changed.add(info.iid)
        row.state, row.title = info.state, info.title
        row.source_branch, row.source_slug = info.source_branch, ref_slug(info.source_branch)
        row.sha = info.sha
        row.author_username, row.author_name = info.author_username, info.author_name
        row.web_url = info.web_url
        row.merged_at, row.closed_at, row.updated_at = (
            info.merged_at,
            info.closed_at,
            info.updated_at,
        )
        row.commit_shas = sorted({*(row.commit_shas or []), *([info.sha] if info.sha else [])})
    for iid, commits in read.commits.items():
        row = rows.get(iid)
        if row is None:
            continue
        row.commit_shas = sorted({*(row.commit_shas or []), *commits})
        row.commits_read_at_sha = row.sha
        if row.pk is not None:
            changed.add(iid)
    GitLabMergeRequest.objects.bulk_create(new, batch_size=500)
    GitLabMergeRequest.objects.bulk_update([rows[i] for i in changed], MR_FIELDS, batch_size=500)


ENVIRONMENT_FIELDS = [
    "name",
    "state",
    "external_url",
    "last_deployment_id",
    "last_ref",
    "last_sha",
    "last_deployed_at",
]


def _write_environments(*, project: GitLabProject, read: ProjectRead) -> None:
    rows = {e.gitlab_id: e for e in GitLabEnvironment.objects.filter(project=project)}
    new, changed = [], []
    listed = {info.id for info in read.environments}
    GitLabEnvironment.objects.filter(project=project).exclude(gitlab_id__in=listed).delete()
    for info in read.environments:
        row = rows.get(info.id)
        is_new = row is None
        row = row or GitLabEnvironment(project=project, gitlab_id=info.id)
        before = [getattr(row, name) for name in ENVIRONMENT_FIELDS]
        row.name, row.state, row.external_url = info.name, info.state, info.external_url
        detail = read.details.get(info.id)
        if detail is not None and detail.last_deployment is not None:
            _deployed(row, detail.last_deployment)
        for deployment in sorted(read.deployments, key=lambda d: d.id):
            if deployment.environment_id == info.id:
                _deployed(row, deployment)
        if is_new:
            new.append(row)
        elif before != [getattr(row, name) for name in ENVIRONMENT_FIELDS]:
            changed.append(row)
    GitLabEnvironment.objects.bulk_create(new, batch_size=500)
    GitLabEnvironment.objects.bulk_update(changed, ENVIRONMENT_FIELDS, batch_size=500)


def _deployed(row: GitLabEnvironment, deployment: api.DeploymentInfo) -> bool:
    """Take a successful deployment in, if it is newer than the one known."""
    if deployment.status not in ("success", ""):
        return False
    if row.last_deployment_id is not None and deployment.id <= row.last_deployment_id:
        return False
    row.last_deployment_id = deployment.id
    row.last_ref, row.last_sha = deployment.ref, deployment.sha
    row.last_deployed_at = deployment.created_at
    return True
