"""A fake GitLab for the tests: the stand-in REST API (devtools/gitlab_standin.py), with
GitLab's `/jwt/auth` on top, from which a real `docker-registry` takes its tokens.

`/jwt/auth` answers as GitLab's does (doc/administration/packages/container_registry.md,
"Configure the container registry"; REGISTRY_NOTES "Auth"): GET only, Basic
credentials whose password is an access token, `{"token": …}` with no `expires_in`, and
actions the token may not do dropped silently:

- `pull`: the `read_registry`, `write_registry` or `api` scope and the Reporter role;
- `push`: `write_registry` or `api` and the Developer role;
- `delete`: `api` and the Maintainer role (GitLab's `destroy_container_image`);
- `registry:catalog:*`: never (administrators only).

`GitLabWorld` is what most GitLab tests start from: a group `acme` with a subgroup
`acme/team`, a registry behind the fake, and tokens for a maintainer (api), a reader
(read_api + read_registry, Reporter) and a token lacking the registry scope.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from devtools.gitlab_standin import DEVELOPER, MAINTAINER, REPORTER, Project, StandInGitLab
from devtools.image_builder import Pushed, push_image
from devtools.local_registry import LocalRegistry, TokenAuthSettings, start_local_registry
from registry.client import RegistryClient
from tests.support.token_issuer import Access, TokenIssuer, parse_scope

GROUP = "acme"
SUBGROUP = "acme/team"
MAINTAINER_TOKEN = "glpat-maintainer-0123456789"
READER_TOKEN = "glpat-reader-0123456789"
NO_REGISTRY_TOKEN = "glpat-api-read-only-0123456789"
UNAUTHORIZED = json.dumps(
    {
        "errors": [
            {
                "code": "UNAUTHORIZED",
                "message": "HTTP Basic: Access denied. The provided password or token is "
                "incorrect or your account has 2FA enabled.",
            }
        ]
    }
).encode()


class FakeGitLab(StandInGitLab):
    def __init__(self, issuer: TokenIssuer) -> None:
        super().__init__()
        self.issuer = issuer

    def jwt_auth(
        self, query: dict[str, list[str]], authorization: str
    ) -> tuple[int, dict[str, str], bytes]:
        json_type = {"Content-Type": "application/json"}
        if query.get("service", [None])[0] != self.issuer.service:
            return 404, json_type, b'{"message": "404 Not Found"}'
        credentials = _basic(authorization)
        token = None
        if credentials is not None:
            token = self.tokens.get(credentials[1])
            if token is None or not token.active:
                return 401, {**json_type, "WWW-Authenticate": 'Basic realm="GitLab"'}, UNAUTHORIZED
        granted = []
        for scope in query.get("scope", []):
            access = parse_scope(scope)
            if access is None or access.type != "repository" or token is None:
                continue
            actions = tuple(a for a in access.actions if self._may(token, access.name, a))
            if actions:
                granted.append(Access(access.type, access.name, actions))
        username = credentials[0] if credentials else None
        body = json.dumps({"token": self.issuer.sign(username, granted)}).encode()
        return 200, json_type, body

    def _may(self, token, repository: str, action: str) -> bool:
        project = self.project_of_repository(repository)
        if project is None:
            return False
        level, scopes = self.role(token.user_id, project.path), set(token.scopes)
        if action == "pull":
            return level >= REPORTER and bool(scopes & {"api", "read_registry", "write_registry"})
        if action == "push":
            return level >= DEVELOPER and bool(scopes & {"api", "write_registry"})
        if action in ("delete", "*"):
            return level >= MAINTAINER and "api" in scopes
        return False

    def project_of_repository(self, repository: str) -> Project | None:
        with self.lock:
            owners = [
                p
                for p in self.projects.values()
                if any(r["path"] == repository for r in p.repositories)
            ]
            if not owners:  # a repository pushed before GitLab listed it: its path's project
                owners = [p for p in self.projects.values() if repository.startswith(p.path)]
        return max(owners, key=lambda p: len(p.path), default=None)


def _basic(header: str) -> tuple[str, str] | None:
    if not header.lower().startswith("basic "):
        return None
    try:
        username, _, password = base64.b64decode(header[6:].strip()).decode().partition(":")
    except ValueError:
        return None
    return username, password


@dataclass
class GitLabWorld:
    gitlab: FakeGitLab
    registry: LocalRegistry
    maintainer_id: int
    reader_id: int

    @property
    def registry_url(self) -> str:
        return self.registry.url

    def pusher(self) -> RegistryClient:
        """A client that may push to every repository (the maintainer's token)."""
        return RegistryClient(
            self.registry.url,
            username="maintainer",
            password=MAINTAINER_TOKEN,
            sleep=lambda seconds: None,
        )

    def project(self, path: str, *, repositories: tuple[str, ...] = ("",)) -> Project:
        """A project with container repositories (`""` is the project's own path)."""
        project = self.gitlab.add_project(path)
        for name in repositories:
            self.gitlab.add_repository(project, f"{path}/{name}".rstrip("/"))
        return project


def push_review_image(
    client: RegistryClient,
    repository: str,
    tag: str,
    *,
    created: datetime,
    revision: str | None = None,
) -> Pushed:
    """A small image, with the OCI revision label when `revision` is given."""
    labels = {"org.opencontainers.image.revision": revision} if revision else None
    return push_image(
        client,
        repository,
        tag,
        created=created,
        layers=(f"{repository}:{tag}:{revision}:{created}".encode(),),
        labels=labels,
        label=tag,
    )


@pytest.fixture
def gitlab_world(tmp_path: Path) -> Iterator[GitLabWorld]:
    workdir = tmp_path / "gitlab-issuer"
    workdir.mkdir()
    issuer = TokenIssuer(workdir=workdir)
    gitlab = FakeGitLab(issuer).start()
    maintainer = gitlab.add_user("maintainer", MAINTAINER_TOKEN, scopes=["api"])
    reader = gitlab.add_user("reader", READER_TOKEN, scopes=["read_api", "read_registry"])
    no_registry = gitlab.add_user("scripts", NO_REGISTRY_TOKEN, scopes=["read_api"])
    gitlab.add_group(GROUP)
    gitlab.add_group(SUBGROUP)
    gitlab.grant(maintainer, GROUP, MAINTAINER)
    gitlab.grant(reader, GROUP, REPORTER)
    gitlab.grant(no_registry, GROUP, DEVELOPER)
    auth = TokenAuthSettings(
        realm=f"{gitlab.url}/jwt/auth",
        service=issuer.service,
        issuer=issuer.issuer,
        rootcertbundle=issuer.cert_path,
    )
    registry = start_local_registry(root_dir=tmp_path / "gitlab-registry", token_auth=auth)
    try:
        yield GitLabWorld(gitlab, registry, maintainer, reader)
    finally:
        registry.stop()
        gitlab.stop()
        issuer.stop()
