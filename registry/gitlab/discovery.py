"""Finding a registry's repositories through GitLab, without the registry's catalog.

The catalog (`/v2/_catalog`) is for GitLab administrators only. GitLab lists a group's
repositories, its subgroups' included, with `GET /groups/:id/registry/repositories`,
and a project's with `GET /projects/:id/registry/repositories`; each names its
`project_id`, and the group's project list (or the project itself) gives the project's
path and web URL. Every page is read.

What GitLab lists replaces what it listed before. A repository it no longer lists is
dropped from the dashboard by the sync only once the registry itself says it is gone
(as with the catalog: `registry.sync.run`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.db import transaction

from registry.models import GitLabConnection, GitLabProject, GitLabRepository

from . import api
from .rest import GitLabClient

# distribution's repository name grammar (docs/spec/api.md, "Overview"): what GitLab
# lists must be a name the registry could hold, or it is left out.
REPOSITORY_NAME = re.compile(
    r"^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$"
)


def nothing_to_discover_message() -> str:
    return "No GitLab group or project is set: give --gitlab-group or --gitlab-project."


@dataclass(frozen=True)
class Discovered:
    repositories: list[str]  # registry repository names, sorted
    skipped: list[str]  # what GitLab listed that no registry may hold


def discover_repositories(*, connection: GitLabConnection, client: GitLabClient) -> Discovered:
    """Ask GitLab for the repositories of the connection's group and projects; store them
    with their projects. Raises GitLabError (nothing is stored then)."""
    projects: dict[int, api.ProjectInfo] = {}
    repositories: list[api.RepositoryInfo] = []
    if connection.group_path:
        projects.update({p.id: p for p in api.group_projects(client, connection.group_path)})
        repositories += api.group_repositories(client, connection.group_path)
    for path in connection.project_paths:
        found = api.project(client, path)
        if found is not None:
            projects[found.id] = found
        repositories += api.project_repositories(client, path)
    if not connection.group_path and not connection.project_paths:
        raise ValueError(nothing_to_discover_message())
    kept, skipped = {}, []
    for repository in repositories:
        if not REPOSITORY_NAME.match(repository.path) or repository.project_id not in projects:
            skipped.append(repository.path[:80])
            continue
        kept[repository.path] = repository
    _store(connection=connection, projects=projects, repositories=kept)
    return Discovered(repositories=sorted(kept), skipped=sorted(set(skipped)))


def known_repositories(*, connection: GitLabConnection) -> list[str]:
    """What the last discovery found: synced while GitLab cannot be asked."""
    return sorted(connection.repositories.values_list("path", flat=True))


def _store(
    *,
    connection: GitLabConnection,
    projects: dict[int, api.ProjectInfo],
    repositories: dict[str, api.RepositoryInfo],
) -> None:
    with transaction.atomic():
        rows = {p.gitlab_id: p for p in GitLabProject.objects.filter(connection=connection)}
        for info in projects.values():
            row = rows.get(info.id)
            if row is None:
                rows[info.id] = GitLabProject.objects.create(
                    connection=connection, gitlab_id=info.id, path=info.path, web_url=info.web_url
                )
            elif (row.path, row.web_url) != (info.path, info.web_url):
                row.path, row.web_url = info.path, info.web_url
                row.save(update_fields=["path", "web_url"])
        existing = {r.path: r for r in GitLabRepository.objects.filter(connection=connection)}
        for path, repository in repositories.items():
            project = rows[repository.project_id]
            cached = existing.get(path)
            if cached is None:
                GitLabRepository.objects.create(
                    connection=connection, path=path, gitlab_id=repository.id, project=project
                )
            elif (cached.gitlab_id, cached.project_id) != (repository.id, project.pk):
                cached.gitlab_id, cached.project = repository.id, project
                cached.save(update_fields=["gitlab_id", "project"])
        gone = set(existing) - set(repositories)
        GitLabRepository.objects.filter(connection=connection, path__in=gone).delete()
