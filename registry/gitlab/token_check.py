"""What a GitLab access token can do here, said in plain words when something is missing.

One token serves both sides (personal, group or project access tokens alike):

- browsing: the REST API read (`read_api` or `api` scope), registry pulls through
  `/jwt/auth` (`read_registry` or `api`), and at least the Reporter role in the group
  or project (doc/user/permissions.md: Reporters may pull from the container registry);
- deleting: `/jwt/auth` grants `delete` only to users who may administer the registry,
  a token with the `api` scope and at least the Maintainer role (REGISTRY_NOTES "Auth";
  `read_registry`/`write_registry` tokens never get it, and the action is dropped from
  the token silently, so the check has to be made here).

Scopes come from `GET /personal_access_tokens/self`; the role from `GET
/groups/:id/members/all/:user_id` (or the project's), inherited memberships included.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils import timezone

from registry.connect import gitlab_client_for
from registry.models import GitLabConnection

from . import api
from .errors import GitLabError, GitLabNotFound
from .rest import GitLabClient

REPORTER, DEVELOPER, MAINTAINER, OWNER = 20, 30, 40, 50
ROLE_NAMES = {
    5: "Minimal Access",
    10: "Guest",
    15: "Planner",
    REPORTER: "Reporter",
    DEVELOPER: "Developer",
    MAINTAINER: "Maintainer",
    OWNER: "Owner",
}
READ_API_SCOPES = frozenset({"api", "read_api"})
READ_REGISTRY_SCOPES = frozenset({"api", "read_registry"})


def role_name(level: int) -> str:
    return ROLE_NAMES.get(level, f"access level {level}")


def missing_scope_message(scope: str, why: str) -> str:
    return f"The token lacks the {scope} scope: {why}."


READ_API_MISSING = missing_scope_message(
    "read_api (or api)", "GitLab will not list the repositories, branches and merge requests"
)
READ_REGISTRY_MISSING = missing_scope_message(
    "read_registry (or api)", "the registry will not let it read tags"
)
DELETE_SCOPE_MISSING = missing_scope_message(
    "api", "GitLab grants registry deletes only to tokens with the api scope"
)
TOKEN_INACTIVE = "The token is revoked or expired: create a new one."


def role_too_low_message(*, where: str, role: str, needed: str, to: str) -> str:
    return f"The token's user is {role} in {where}; {to} needs at least the {needed} role."


def not_a_member_message(where: str) -> str:
    return (
        f"The token's user is not a member of {where} (or {where} does not exist): it needs "
        "at least the Reporter role to browse, Maintainer to delete."
    )


@dataclass(frozen=True)
class TokenCheck:
    can_browse: bool
    can_delete: bool
    problems: list[str] = field(default_factory=list)
    scopes: tuple[str, ...] = ()
    role: int | None = None  # the lowest role among the group and projects


def check_token(*, client: GitLabClient, group: str, projects: list[str]) -> TokenCheck:
    """Ask GitLab what the token can do. Raises GitLabTokenRefused for a token GitLab
    does not accept at all, GitLabUnreachable when GitLab cannot be asked."""
    problems: list[str] = []
    token = api.token_self(client)
    scopes = set(token.scopes)
    browse = delete = token.active
    if not token.active:
        problems.append(TOKEN_INACTIVE)
    if not scopes & READ_API_SCOPES:
        browse = False
        problems.append(READ_API_MISSING)
    if not scopes & READ_REGISTRY_SCOPES:
        browse = False
        problems.append(READ_REGISTRY_MISSING)
    if "api" not in scopes:
        delete = False
        problems.append(DELETE_SCOPE_MISSING)
    places = [("groups", group)] if group else []
    places += [("projects", path) for path in projects]
    lowest: int | None = None
    for kind, path in places:
        try:
            level = api.access_level(client, kind=kind, path=path, user_id=token.user_id)
        except GitLabNotFound:
            problems.append(not_a_member_message(path))
            browse = delete = False
            lowest = 0
            continue
        except GitLabError as exc:
            if exc.status != 403:
                raise
            problems.append(f"GitLab would not say the token's role in {path}: {exc.message}")
            continue
        lowest = level if lowest is None else min(lowest, level)
        if level < REPORTER:
            browse = False
            problems.append(
                role_too_low_message(
                    where=path, role=role_name(level), needed="Reporter", to="browsing images"
                )
            )
        if level < MAINTAINER:
            delete = False
            problems.append(
                role_too_low_message(
                    where=path, role=role_name(level), needed="Maintainer", to="deleting images"
                )
            )
    return TokenCheck(
        can_browse=browse,
        can_delete=delete,
        problems=problems,
        scopes=tuple(sorted(scopes)),
        role=lowest,
    )


def check_connection(*, connection: GitLabConnection) -> TokenCheck:
    """Check the registry's token against its GitLab, and remember what it may do.

    Raises GitLabError when GitLab refuses the token outright or cannot be asked.
    """
    with gitlab_client_for(connection) as client:
        check = check_token(
            client=client, group=connection.group_path, projects=list(connection.project_paths)
        )
    connection.token_can_browse, connection.token_can_delete = check.can_browse, check.can_delete
    connection.token_problems, connection.token_checked_at = check.problems, timezone.now()
    connection.save(
        update_fields=["token_can_browse", "token_can_delete", "token_problems", "token_checked_at"]
    )
    return check
