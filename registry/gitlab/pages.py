"""Read queries for the pages' GitLab parts: each tag's tie, each repository's project."""

from __future__ import annotations

from registry.models import GitLabConnection, GitLabProject, Registry, TagGitLab


def connection_of(registry: Registry) -> GitLabConnection | None:
    return GitLabConnection.objects.filter(registry=registry).first()


def ties_for(tag_ids: list[int]) -> dict[int, TagGitLab]:
    """The ties of these tags (one query), with their project, merge request and environment."""
    rows = TagGitLab.objects.filter(tag_id__in=tag_ids).select_related(
        "project", "merge_request", "environment"
    )
    return {row.tag_id: row for row in rows}


def projects_by_repository(connection: GitLabConnection) -> dict[str, GitLabProject]:
    """Each repository's project, by repository name (one query)."""
    rows = connection.repositories.select_related("project")
    return {row.path: row.project for row in rows}
