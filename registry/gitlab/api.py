"""The GitLab REST v4 endpoints this product reads, each parsed into plain values.

Every answer is checked as it is read: what GitLab (or whatever answers in its name)
sends ends up on pages, in links and in the database, so strings are cut to their
columns' sizes, commit shas must look like shas, web URLs must point at GitLab itself
(a `javascript:` link must never reach a page), and rows that make no sense are left
out rather than stopping the read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from registry.client.auth import same_origin

from .rest import GitLabClient, path_id

SHA = re.compile(r"^[0-9a-f]{7,40}$")
NAME_LENGTH = 255


@dataclass(frozen=True)
class TokenInfo:
    user_id: int
    name: str
    scopes: tuple[str, ...]
    active: bool
    expires_at: str


@dataclass(frozen=True)
class ProjectInfo:
    id: int
    path: str  # path_with_namespace
    web_url: str


@dataclass(frozen=True)
class RepositoryInfo:
    id: int
    path: str  # the registry's repository name
    project_id: int


@dataclass(frozen=True)
class BranchInfo:
    name: str
    commit_sha: str
    merged: bool


@dataclass(frozen=True)
class MergeRequestInfo:
    iid: int
    state: str
    title: str
    source_branch: str
    sha: str
    author_username: str
    author_name: str
    web_url: str
    merged_at: datetime | None
    closed_at: datetime | None
    updated_at: datetime | None


@dataclass(frozen=True)
class DeploymentInfo:
    id: int
    environment_id: int | None
    ref: str
    sha: str
    status: str
    created_at: datetime | None


@dataclass(frozen=True)
class EnvironmentInfo:
    id: int
    name: str
    state: str
    external_url: str
    last_deployment: DeploymentInfo | None = None


# -- the token ---------------------------------------------------------------------------


def token_self(client: GitLabClient) -> TokenInfo:
    """doc/api/personal_access_tokens.md, "Self-inform": personal, group and project
    access tokens alike (the latter two belong to a bot user)."""
    body = _object(client.get("/personal_access_tokens/self", what="reading the token's scopes"))
    return TokenInfo(
        user_id=_int(body.get("user_id")) or 0,
        name=_text(body.get("name")),
        scopes=tuple(str(s) for s in body.get("scopes") or [] if isinstance(s, str)),
        active=body.get("active") is not False and body.get("revoked") is not True,
        expires_at=_text(body.get("expires_at"), 40),
    )


def access_level(client: GitLabClient, *, kind: str, path: str, user_id: int) -> int:
    """The token user's role (10 Guest … 50 Owner) in a group or project, inherited
    memberships included (doc/api/members.md, "Get a member of a group or project,
    including inherited and invited members"). Raises GitLabNotFound when not a member."""
    body = _object(
        client.get(
            f"/{kind}/{path_id(path)}/members/all/{user_id}",
            what=f"reading the token's role in {path}",
        )
    )
    return _int(body.get("access_level")) or 0


# -- projects and their repositories -----------------------------------------------------


def project(client: GitLabClient, path: str) -> ProjectInfo | None:
    """doc/api/projects.md, "Get a single project"."""
    return _project(client, client.get(f"/projects/{path_id(path)}", what=f"reading {path}"))


def group_projects(client: GitLabClient, group: str) -> list[ProjectInfo]:
    """doc/api/groups.md, "List projects" with `include_subgroups`."""
    rows = client.get_all(
        f"/groups/{path_id(group)}/projects",
        params={"include_subgroups": "true", "simple": "true", "order_by": "id", "sort": "asc"},
        what=f"listing the projects of group {group}",
    )
    return [p for row in rows if (p := _project(client, row))]


def group_repositories(client: GitLabClient, group: str) -> list[RepositoryInfo]:
    """doc/api/container_registry.md, "Within a group": the group and its subgroups."""
    rows = client.get_all(
        f"/groups/{path_id(group)}/registry/repositories",
        what=f"listing the container repositories of group {group}",
    )
    return [r for row in rows if (r := _repository(row))]


def project_repositories(client: GitLabClient, project_path: str) -> list[RepositoryInfo]:
    """doc/api/container_registry.md, "Within a project"."""
    rows = client.get_all(
        f"/projects/{path_id(project_path)}/registry/repositories",
        what=f"listing the container repositories of {project_path}",
    )
    return [r for row in rows if (r := _repository(row))]


# -- a project's context -----------------------------------------------------------------


def branches(client: GitLabClient, project_id: int) -> list[BranchInfo]:
    """doc/api/branches.md, "List repository branches" (no incremental form exists)."""
    rows = client.get_all(
        f"/projects/{project_id}/repository/branches", what=f"listing the branches of {project_id}"
    )
    found = []
    for row in rows:
        name = _text(row.get("name"))
        if name and len(str(row.get("name"))) <= NAME_LENGTH:
            commit = _object(row.get("commit"))
            found.append(BranchInfo(name, _sha(commit.get("id")), row.get("merged") is True))
    return found


def merge_requests(
    client: GitLabClient, project_id: int, *, updated_after: datetime | None
) -> list[MergeRequestInfo]:
    """doc/api/merge_requests.md, "List project merge requests": every state, only those
    updated since the last read when there was one."""
    params: dict[str, Any] = {"state": "all", "order_by": "updated_at", "sort": "desc"}
    if updated_after is not None:
        params["updated_after"] = _iso(updated_after)
    rows = client.get_all(
        f"/projects/{project_id}/merge_requests",
        params=params,
        what=f"listing the merge requests of {project_id}",
    )
    found = []
    for row in rows:
        iid, source = _int(row.get("iid")), _text(row.get("source_branch"))
        state = _text(row.get("state"), 16)
        if not iid or not source or state not in ("opened", "merged", "closed", "locked"):
            continue
        author = _object(row.get("author"))
        found.append(
            MergeRequestInfo(
                iid=iid,
                state=state,
                title=_text(row.get("title")),
                source_branch=source,
                sha=_sha(row.get("sha")),
                author_username=_text(author.get("username")),
                author_name=_text(author.get("name")),
                web_url=_url(client, row.get("web_url")),
                merged_at=_when(row.get("merged_at")),
                closed_at=_when(row.get("closed_at")),
                updated_at=_when(row.get("updated_at")),
            )
        )
    return found


def merge_request_commits(client: GitLabClient, project_id: int, iid: int) -> list[str]:
    """doc/api/merge_requests.md, "Get single merge request commits"."""
    rows = client.get_all(
        f"/projects/{project_id}/merge_requests/{iid}/commits",
        what=f"listing the commits of merge request !{iid} of {project_id}",
    )
    return [sha for row in rows if (sha := _sha(row.get("id")))]


def environments(client: GitLabClient, project_id: int) -> list[EnvironmentInfo]:
    """doc/api/environments.md, "List environments" (without their deployments)."""
    rows = client.get_all(
        f"/projects/{project_id}/environments",
        what=f"listing the environments of {project_id}",
    )
    return [e for row in rows if (e := _environment(client, row))]


def environment(client: GitLabClient, project_id: int, environment_id: int) -> EnvironmentInfo:
    """doc/api/environments.md, "Get a specific environment": with `last_deployment`."""
    row = client.get(
        f"/projects/{project_id}/environments/{environment_id}",
        what=f"reading environment {environment_id} of {project_id}",
    )
    return _environment(client, _object(row)) or EnvironmentInfo(environment_id, "", "", "")


def deployments(
    client: GitLabClient, project_id: int, *, updated_after: datetime
) -> list[DeploymentInfo]:
    """doc/api/deployments.md, "List project deployments": the successful ones updated
    since the last read (`updated_after` needs `order_by=updated_at`)."""
    rows = client.get_all(
        f"/projects/{project_id}/deployments",
        params={
            "updated_after": _iso(updated_after),
            "order_by": "updated_at",
            "sort": "asc",
            "status": "success",
        },
        what=f"listing the deployments of {project_id}",
    )
    return [d for row in rows if (d := _deployment(row))]


# -- parsing -----------------------------------------------------------------------------


def _project(client: GitLabClient, row: Any) -> ProjectInfo | None:
    if not isinstance(row, dict):
        return None
    project_id, path = _int(row.get("id")), _text(row.get("path_with_namespace"))
    if not project_id or not path:
        return None
    return ProjectInfo(project_id, path, _url(client, row.get("web_url")))


def _repository(row: dict[str, Any]) -> RepositoryInfo | None:
    repository_id, project_id = _int(row.get("id")), _int(row.get("project_id"))
    path = row.get("path")
    if not repository_id or not project_id or not isinstance(path, str):
        return None
    if not path or len(path) > NAME_LENGTH or path != path.strip():
        return None
    return RepositoryInfo(repository_id, path, project_id)


def _environment(client: GitLabClient, row: dict[str, Any]) -> EnvironmentInfo | None:
    environment_id, name = _int(row.get("id")), _text(row.get("name"))
    if not environment_id or not name:
        return None
    last = row.get("last_deployment")
    return EnvironmentInfo(
        id=environment_id,
        name=name,
        state=_text(row.get("state"), 16),
        external_url=_url(client, row.get("external_url"), any_host=True),
        last_deployment=_deployment(last) if isinstance(last, dict) else None,
    )


def _deployment(row: dict[str, Any]) -> DeploymentInfo | None:
    deployment_id = _int(row.get("id"))
    if not deployment_id:
        return None
    environment = _object(row.get("environment"))
    return DeploymentInfo(
        id=deployment_id,
        environment_id=_int(environment.get("id")),
        ref=_text(row.get("ref")),
        sha=_sha(row.get("sha")),
        status=_text(row.get("status"), 16),
        created_at=_when(row.get("created_at")),
    )


def _object(body: Any) -> dict[str, Any]:
    return body if isinstance(body, dict) else {}


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0 or value >= 2**63:
        return None
    return value


def _text(value: Any, limit: int = NAME_LENGTH) -> str:
    return value.strip()[:limit] if isinstance(value, str) else ""


def _sha(value: Any) -> str:
    return value.lower() if isinstance(value, str) and SHA.match(value.lower()) else ""


def _url(client: GitLabClient, value: Any, *, any_host: bool = False) -> str:
    """An http(s) URL on GitLab itself (or any host, for an environment's own address)."""
    if not isinstance(value, str) or len(value) > 500:
        return ""
    if not value.startswith(("https://", "http://")):
        return ""
    return value if any_host or same_origin(value, client.base_url) else ""


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")
