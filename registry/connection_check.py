"""*Test connection*: what works with a registry, in plain words, before anything relies on it.

Four questions, each answered by the registry itself (and, for a registry connected to
GitLab, a fifth answered by GitLab: what its token may do there):

1. does it answer the registry API (`GET /v2/`)?
2. does it accept the credentials?
3. may they list the repositories (the catalog), or are they listed by hand?
4. may they delete? A DELETE of a digest that cannot exist (all zeros: no content hashes
   to it) answers 404 where deleting is allowed, 405 where the registry has deletion
   turned off, and 401/403 where these credentials may not delete. Nothing is deleted.
"""

from __future__ import annotations

from dataclasses import dataclass

from .client import RegistryClient, errors
from .connect import client_for
from .gitlab.errors import GitLabError
from .gitlab.token_check import check_connection as check_token
from .models import GitLabConnection, Registry

# No image has this digest: sha256 of any content is not all zeros.
IMPOSSIBLE_DIGEST = "sha256:" + "0" * 64


@dataclass(frozen=True)
class CheckLine:
    question: str
    ok: bool | None  # None: could not tell
    answer: str


@dataclass(frozen=True)
class ConnectionReport:
    lines: list[CheckLine]

    @property
    def ok(self) -> bool:
        return all(line.ok is not False for line in self.lines)


def check_connection(
    *, registry: Registry, client: RegistryClient | None = None
) -> ConnectionReport:
    """Ask the registry the four questions; stop at the first that makes the rest moot."""
    own_client = client is None
    client = client or client_for(registry)
    try:
        return ConnectionReport(_ask(registry=registry, client=client))
    finally:
        if own_client:
            client.close()


def _ask(*, registry: Registry, client: RegistryClient) -> list[CheckLine]:
    lines: list[CheckLine] = []
    try:
        client.check()
    except errors.RegistryUnreachable as exc:
        return [CheckLine("Reach", False, exc.message)]
    except errors.AuthenticationFailed as exc:
        return [
            CheckLine("Reach", True, "The registry answers the registry API."),
            CheckLine("Credentials", False, exc.message),
        ]
    except errors.RegistryError as exc:
        return [CheckLine("Reach", False, exc.message)]
    lines.append(CheckLine("Reach", True, "The registry answers the registry API."))
    lines.append(CheckLine("Credentials", True, _credentials_answer(registry)))
    connection = GitLabConnection.objects.filter(registry=registry).first()
    if connection is not None:
        lines.append(_gitlab_token(connection))
        repositories = list(registry.repos.order_by("name").values_list("name", flat=True)[:1])
    else:
        repositories, catalog_line = _catalog(registry=registry, client=client)
        lines.append(catalog_line)
    lines.append(_delete_rights(client=client, repository=repositories[0] if repositories else ""))
    return lines


def _gitlab_token(connection: GitLabConnection) -> CheckLine:
    """What the token may do in GitLab (its scopes, and its role in the group or projects)."""
    try:
        check = check_token(connection=connection)
    except GitLabError as exc:
        return CheckLine("GitLab", False, exc.message)
    problems = " ".join(check.problems)
    if not check.can_browse:
        return CheckLine("GitLab", False, f"The token cannot browse: {problems}")
    if not check.can_delete:
        return CheckLine("GitLab", None, f"The token can browse, not delete: {problems}")
    return CheckLine("GitLab", True, "The token can browse and delete in GitLab.")


def _credentials_answer(registry: Registry) -> str:
    if registry.username:
        return f"The registry accepts {registry.username}'s credentials."
    return "The registry lets anyone in (no username is set)."


def _catalog(*, registry: Registry, client: RegistryClient) -> tuple[list[str], CheckLine]:
    if registry.repositories:
        names = list(registry.repositories)
        return names, CheckLine(
            "Repositories", True, f"{len(names):,} repositories are listed by hand."
        )
    try:
        names = client.list_repositories()
    except (errors.AccessDenied, errors.AuthenticationFailed):
        return [], CheckLine(
            "Repositories",
            False,
            "These credentials may not list the repositories (GitLab allows that to "
            "administrators only): list the repositories to sync by hand.",
        )
    except errors.RegistryError as exc:
        return [], CheckLine("Repositories", False, exc.message)
    return names, CheckLine("Repositories", True, f"The catalog lists {len(names):,} repositories.")


def _delete_rights(*, client: RegistryClient, repository: str) -> CheckLine:
    if not repository:
        return CheckLine("Deleting", None, "No repository to ask in yet: push an image first.")
    try:
        client.delete_manifest(repository, IMPOSSIBLE_DIGEST)
    except errors.NotFound:
        return CheckLine("Deleting", True, "These credentials may delete images.")
    except errors.DeleteDisabled:
        return CheckLine(
            "Deleting",
            False,
            "The registry has deletion turned off (REGISTRY_STORAGE_DELETE_ENABLED=true "
            "turns it on): images can be found here, not deleted.",
        )
    except (errors.AccessDenied, errors.AuthenticationFailed):
        return CheckLine(
            "Deleting",
            False,
            "These credentials may not delete images. On GitLab that takes a personal "
            "access token with the api scope and the Maintainer role.",
        )
    except errors.RegistryError as exc:
        return CheckLine("Deleting", None, f"Could not tell: {exc.message}")
    return CheckLine("Deleting", True, "These credentials may delete images.")
