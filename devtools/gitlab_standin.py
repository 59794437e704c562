"""A stand-in for GitLab's REST API v4: the part of it Registry Janitor reads.

Not GitLab: a threaded `http.server` on 127.0.0.1 that answers as GitLab's documentation
says GitLab answers (each handler names its page under gitlabhq/gitlabhq `doc/api/`),
from data a test, the demo or a benchmark puts in it. The tests add GitLab's
`/jwt/auth` on top of it (tests/support/fake_gitlab.py), so that a real registry takes
its tokens; the demo serves it under `/stand-in-gitlab`, so that every page showing its
URL says what it is.

Kept from GitLab on purpose: `PRIVATE-TOKEN` auth (401 `{"message": "401
Unauthorized"}`, 403 `insufficient_scope` with the scope wanted), pages of `per_page`
(default 20, at most 100) with `X-Page`, `X-Next-Page` (empty on the last page),
`X-Total-Pages` and `Link` (doc/api/rest/_index.md, "Pagination"), projects and groups
visible to members only (404 otherwise), `RateLimit-*` headers and 429 with
`Retry-After` past a configurable limit (doc/administration/settings/
user_and_ip_rate_limits.md, "Response headers"), and the environment list without
deployments (doc/api/environments.md).
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

from devtools.background_server import BackgroundServer

HOST = "127.0.0.1"
DEFAULT_PER_PAGE, MAX_PER_PAGE = 20, 100
REPORTER, DEVELOPER, MAINTAINER = 20, 30, 40


def iso(when: datetime | None) -> str | None:
    return (
        when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        if when
        else None
    )


@dataclass
class Token:
    value: str
    user_id: int
    scopes: list[str]
    active: bool = True
    name: str = "registry-janitor"


@dataclass
class Project:
    id: int
    path: str  # path_with_namespace
    group: str
    branches: dict[str, str] = field(default_factory=dict)  # name -> head sha
    merged_branches: set[str] = field(default_factory=set)
    merge_requests: dict[int, dict[str, Any]] = field(default_factory=dict)
    environments: dict[int, dict[str, Any]] = field(default_factory=dict)
    deployments: list[dict[str, Any]] = field(default_factory=list)
    repositories: list[dict[str, Any]] = field(default_factory=list)


# A hook answers a request instead of the stand-in: (status, headers, body) or None.
Hook = Callable[[str, dict[str, list[str]]], tuple[int, dict[str, str], bytes] | None]


class StandInGitLab:
    """The data, and the server that answers from it. `start()`, then `url`."""

    def __init__(self, *, prefix: str = "", clock: Callable[[], datetime] | None = None) -> None:
        self.prefix = prefix.rstrip("/")
        self.clock = clock or (lambda: datetime.now(UTC))
        self.lock = threading.RLock()
        self.tokens: dict[str, Token] = {}
        self.users: dict[int, str] = {}
        self.groups: dict[str, int] = {}  # full path -> id
        self.projects: dict[int, Project] = {}
        self.roles: dict[tuple[int, str], int] = {}  # (user id, group or project path) -> level
        self.hooks: list[tuple[re.Pattern[str], Hook]] = []
        self.requests: list[str] = []  # paths asked for, in order
        self.rate_limit: int | None = None  # requests allowed per window
        self.rate_window_started = time.time()
        self.rate_observed = 0
        self.retry_after = 1
        # GitLab's is 100; tests lower it to make short lists span several pages.
        self.max_per_page = MAX_PER_PAGE
        self._ids = iter(range(1, 10**9))
        self._serving: BackgroundServer | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self, port: int = 0) -> Self:
        self._serving = BackgroundServer(
            _Server((HOST, port), _handler_for(self)), name="gitlab-standin"
        )
        return self

    def stop(self) -> None:
        if self._serving is not None:
            self._serving.stop()
            self._serving = None

    @property
    def port(self) -> int:
        assert self._serving is not None, "not started"
        return self._serving.port

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}{self.prefix}"

    def requests_matching(self, pattern: str) -> list[str]:
        with self.lock:
            return [path for path in self.requests if re.search(pattern, path)]

    def jwt_auth(
        self, query: dict[str, list[str]], authorization: str
    ) -> tuple[int, dict[str, str], bytes]:
        """GitLab's registry token service: only the tests' fake has one."""
        return 404, {"Content-Type": "application/json"}, b'{"message": "404 Not Found"}'

    def add_hook(self, pattern: str, hook: Hook) -> None:
        with self.lock:
            self.hooks.append((re.compile(pattern), hook))

    # -- data ----------------------------------------------------------------------------

    def next_id(self) -> int:
        return next(self._ids)

    def add_user(self, username: str, token: str, *, scopes: list[str]) -> int:
        with self.lock:
            user_id = self.next_id()
            self.users[user_id] = username
            self.tokens[token] = Token(token, user_id, list(scopes))
            return user_id

    def add_group(self, path: str) -> int:
        with self.lock:
            return self.groups.setdefault(path, self.next_id())

    def add_project(self, path: str) -> Project:
        group = path.rsplit("/", 1)[0]
        parts = group.split("/")
        for end in range(1, len(parts) + 1):
            self.add_group("/".join(parts[:end]))
        with self.lock:
            project = Project(self.next_id(), path, group)
            self.projects[project.id] = project
            return project

    def grant(self, user_id: int, path: str, level: int) -> None:
        with self.lock:
            self.roles[(user_id, path)] = level

    def add_repository(self, project: Project, path: str) -> None:
        with self.lock:
            project.repositories.append(
                {
                    "id": self.next_id(),
                    "path": path,
                    "name": path.removeprefix(project.path).strip("/"),
                }
            )

    def push_branch(self, project: Project, name: str, sha: str) -> None:
        with self.lock:
            project.branches[name] = sha

    def delete_branch(self, project: Project, name: str) -> None:
        with self.lock:
            project.branches.pop(name, None)

    def open_merge_request(
        self, project: Project, *, source_branch: str, author: str = "dev", title: str = ""
    ) -> int:
        with self.lock:
            iid = len(project.merge_requests) + 1
            now = self.clock()
            head = project.branches.get(source_branch, "")
            project.merge_requests[iid] = {
                "id": self.next_id(),
                "iid": iid,
                "project_id": project.id,
                "title": title or f"Draft: {source_branch}",
                "state": "opened",
                "source_branch": source_branch,
                "target_branch": "main",
                "sha": head,
                "commits": [head] if head else [],
                "author": {"id": 1, "username": author, "name": author.title()},
                "created_at": iso(now),
                "updated_at": iso(now),
                "merged_at": None,
                "closed_at": None,
                "web_url": f"{self.url}/{project.path}/-/merge_requests/{iid}",
                "references": {"short": f"!{iid}"},
            }
            return iid

    def push_to_merge_request(self, project: Project, iid: int, sha: str) -> None:
        with self.lock:
            mr = project.merge_requests[iid]
            project.branches[mr["source_branch"]] = sha
            mr["sha"] = sha
            mr["commits"].append(sha)
            mr["updated_at"] = iso(self.clock())

    def finish_merge_request(self, project: Project, iid: int, *, state: str) -> None:
        """Merge (`state="merged"`) or close it, now."""
        with self.lock:
            mr = project.merge_requests[iid]
            now = iso(self.clock())
            mr["state"], mr["updated_at"] = state, now
            mr["merged_at" if state == "merged" else "closed_at"] = now
            if state == "merged":
                project.merged_branches.add(mr["source_branch"])

    def add_environment(self, project: Project, name: str, *, state: str = "available") -> int:
        with self.lock:
            environment_id = self.next_id()
            slug = re.sub(r"[^a-z0-9]", "-", name.lower())[:24].strip("-")
            project.environments[environment_id] = {
                "id": environment_id,
                "name": name,
                "slug": slug,
                "external_url": f"https://{slug}.review.example.com",
                "state": state,
                "tier": "development",
                "created_at": iso(self.clock()),
                "updated_at": iso(self.clock()),
            }
            return environment_id

    def deploy(self, project: Project, environment_id: int, *, ref: str, sha: str) -> None:
        with self.lock:
            now = iso(self.clock())
            environment = project.environments[environment_id]
            environment["state"], environment["updated_at"] = "available", now
            project.deployments.append(
                {
                    "id": self.next_id(),
                    "iid": len(project.deployments) + 1,
                    "ref": ref,
                    "sha": sha,
                    "status": "success",
                    "created_at": now,
                    "updated_at": now,
                    "environment": {"id": environment_id, "name": environment["name"]},
                }
            )

    def stop_environment(self, project: Project, environment_id: int) -> None:
        with self.lock:
            environment = project.environments[environment_id]
            environment["state"], environment["updated_at"] = "stopped", iso(self.clock())

    # -- what a token may see ------------------------------------------------------------

    def role(self, user_id: int, path: str) -> int:
        """The user's level in a group or project, inherited from parent groups."""
        parts = path.split("/")
        levels = [
            self.roles.get((user_id, "/".join(parts[:end])), 0) for end in range(1, len(parts) + 1)
        ]
        return max(levels)

    def project_by(self, ref: str) -> Project | None:
        if ref.isdigit():
            return self.projects.get(int(ref))
        return next((p for p in self.projects.values() if p.path == ref), None)

    def group_by(self, ref: str) -> str | None:
        if ref.isdigit():
            return next((path for path, gid in self.groups.items() if gid == int(ref)), None)
        return ref if ref in self.groups else None


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-answer (one refusing a huge page) is no error here."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


# -- answers ---------------------------------------------------------------------------------


class _Answer(Exception):
    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}


def _not_found(what: str) -> _Answer:
    return _Answer(404, {"message": f"404 {what} Not Found"})


ROUTES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(p), name)
    for p, name in [
        (r"^/api/v4/personal_access_tokens/self$", "token_self"),
        (r"^/api/v4/(?P<kind>groups|projects)/(?P<ref>[^/]+)/members/all/(?P<user>\d+)$", "member"),
        (r"^/api/v4/groups/(?P<ref>[^/]+)/projects$", "group_projects"),
        (r"^/api/v4/groups/(?P<ref>[^/]+)/registry/repositories$", "group_repositories"),
        (r"^/api/v4/projects/(?P<ref>[^/]+)$", "project"),
        (r"^/api/v4/projects/(?P<ref>[^/]+)/registry/repositories$", "project_repositories"),
        (r"^/api/v4/projects/(?P<ref>[^/]+)/repository/branches$", "branches"),
        (r"^/api/v4/projects/(?P<ref>[^/]+)/merge_requests$", "merge_requests"),
        (r"^/api/v4/projects/(?P<ref>[^/]+)/merge_requests/(?P<iid>\d+)/commits$", "mr_commits"),
        (r"^/api/v4/projects/(?P<ref>[^/]+)/environments$", "environments"),
        (r"^/api/v4/projects/(?P<ref>[^/]+)/environments/(?P<env>\d+)$", "environment"),
        (r"^/api/v4/projects/(?P<ref>[^/]+)/deployments$", "deployments"),
    ]
]


class Api:
    """One request's answer, computed from the stand-in's data under its lock."""

    def __init__(
        self, gitlab: StandInGitLab, path: str, query: dict[str, list[str]], token: str | None
    ):
        self.gitlab, self.path, self.query = gitlab, path, query
        self.token = gitlab.tokens.get(token or "")

    def answer(self) -> tuple[Any, dict[str, str]]:
        for pattern, name in ROUTES:
            match = pattern.match(self.path)
            if match:
                self._authenticate()
                return getattr(self, name)(**{k: unquote(v) for k, v in match.groupdict().items()})
        raise _Answer(404, {"error": "404 Not Found"})

    # -- auth: doc/api/rest/authentication.md, doc/api/rest/troubleshooting.md ---------

    def _authenticate(self) -> None:
        if self.token is None or not self.token.active:
            raise _Answer(401, {"message": "401 Unauthorized"})
        if not {"api", "read_api"} & set(self.token.scopes):
            raise _Answer(
                403,
                {
                    "error": "insufficient_scope",
                    "error_description": "The request requires higher privileges than "
                    "provided by the access token.",
                    "scope": "api read_api",
                },
            )

    def _project(self, ref: str, *, level: int = 10) -> Project:
        assert self.token is not None
        project = self.gitlab.project_by(ref)
        if project is None or self.gitlab.role(self.token.user_id, project.path) < level:
            raise _not_found("Project")
        return project

    def _group(self, ref: str) -> str:
        assert self.token is not None
        group = self.gitlab.group_by(ref)
        if group is None or self.gitlab.role(self.token.user_id, group) < 10:
            raise _not_found("Group")
        return group

    # -- doc/api/personal_access_tokens.md, "Self-inform" ---------------------------------

    def token_self(self) -> tuple[Any, dict[str, str]]:
        token = self.token
        assert token is not None
        return {
            "id": 1, "name": token.name, "revoked": False, "created_at": "2026-01-01T00:00:00.000Z",
            "scopes": token.scopes, "user_id": token.user_id, "last_used_at": None,
            "active": token.active, "expires_at": None,
        }, {}  # fmt: skip

    # -- doc/api/members.md, "Get a member of a group or project, including inherited …" ----

    def member(self, kind: str, ref: str, user: str) -> tuple[Any, dict[str, str]]:
        path = self._group(ref) if kind == "groups" else self._project(ref).path
        level = self.gitlab.role(int(user), path)
        if not level:
            raise _not_found("")
        return {
            "id": int(user),
            "username": self.gitlab.users.get(int(user), "?"),
            "access_level": level,
        }, {}

    # -- doc/api/groups.md, "List projects" ------------------------------------------------

    def group_projects(self, ref: str) -> tuple[Any, dict[str, str]]:
        group = self._group(ref)
        subgroups = self.query.get("include_subgroups", ["false"])[0] == "true"
        rows = [
            self._project_row(p)
            for p in sorted(self.gitlab.projects.values(), key=lambda p: p.id)
            if p.group == group or (subgroups and p.group.startswith(group + "/"))
        ]
        return self._page(rows)

    def _project_row(self, project: Project) -> dict[str, Any]:
        return {
            "id": project.id,
            "name": project.path.rsplit("/", 1)[-1],
            "path": project.path.rsplit("/", 1)[-1],
            "path_with_namespace": project.path,
            "web_url": f"{self.gitlab.url}/{project.path}",
        }

    # -- doc/api/projects.md, "Get a single project" ---------------------------------------

    def project(self, ref: str) -> tuple[Any, dict[str, str]]:
        return self._project_row(self._project(ref)), {}

    # -- doc/api/container_registry.md, "List registry repositories" -----------------------

    def group_repositories(self, ref: str) -> tuple[Any, dict[str, str]]:
        group = self._group(ref)
        rows = [
            self._repository_row(p, r)
            for p in sorted(self.gitlab.projects.values(), key=lambda p: p.id)
            if p.group == group or p.group.startswith(group + "/")
            for r in p.repositories
        ]
        return self._page(rows)

    def project_repositories(self, ref: str) -> tuple[Any, dict[str, str]]:
        project = self._project(ref, level=REPORTER)
        return self._page([self._repository_row(project, r) for r in project.repositories])

    def _repository_row(self, project: Project, repository: dict[str, Any]) -> dict[str, Any]:
        host = urlsplit(self.gitlab.url).netloc
        return {
            "id": repository["id"], "name": repository["name"], "path": repository["path"],
            "project_id": project.id, "location": f"{host}/{repository['path']}",
            "created_at": "2026-01-01T00:00:00.000Z", "cleanup_policy_started_at": None,
            "status": None,
        }  # fmt: skip

    # -- doc/api/branches.md, "List repository branches" (sorted by name) -------------------

    def branches(self, ref: str) -> tuple[Any, dict[str, str]]:
        project = self._project(ref)
        url = f"{self.gitlab.url}/{project.path}/-/tree/"
        rows = [
            {
                "name": name,
                "merged": name in project.merged_branches,
                "protected": name == "main",
                "default": name == "main",
                "developers_can_push": False,
                "developers_can_merge": False,
                "can_push": True,
                "web_url": url + quote(name),
                "commit": {"id": sha, "short_id": sha[:8], "title": "…"},
            }
            for name, sha in sorted(project.branches.items())
        ]
        return self._page(rows)

    # -- doc/api/merge_requests.md, "List project merge requests" --------------------------

    def merge_requests(self, ref: str) -> tuple[Any, dict[str, str]]:
        project = self._project(ref)
        state = self.query.get("state", ["all"])[0]
        rows = [mr for mr in project.merge_requests.values() if state in ("all", mr["state"])]
        if "updated_after" in self.query:
            after = datetime.fromisoformat(self.query["updated_after"][0])
            rows = [mr for mr in rows if datetime.fromisoformat(mr["updated_at"]) >= after]
        key = self.query.get("order_by", ["created_at"])[0]
        rows.sort(
            key=lambda mr: (mr[key], mr["iid"]),
            reverse=self.query.get("sort", ["desc"])[0] == "desc",
        )
        return self._page([{k: v for k, v in mr.items() if k != "commits"} for mr in rows])

    def mr_commits(self, ref: str, iid: str) -> tuple[Any, dict[str, str]]:
        """ "Get single merge request commits": newest first."""
        mr = self._project(ref).merge_requests.get(int(iid))
        if mr is None:
            raise _not_found("")
        commits = [
            {"id": sha, "short_id": sha[:8], "title": "…"} for sha in reversed(mr["commits"])
        ]
        return self._page(commits)

    # -- doc/api/environments.md, "List environments" / "Get a specific environment" -------

    def environments(self, ref: str) -> tuple[Any, dict[str, str]]:
        project = self._project(ref)
        states = self.query.get("states", [None])[0]
        rows = [e for e in project.environments.values() if states in (None, e["state"])]
        return self._page(sorted(rows, key=lambda e: e["id"]))

    def environment(self, ref: str, env: str) -> tuple[Any, dict[str, str]]:
        project = self._project(ref)
        environment = project.environments.get(int(env))
        if environment is None:
            raise _not_found("")
        deployments = [d for d in project.deployments if d["environment"]["id"] == int(env)]
        last = max(
            (d for d in deployments if d["status"] == "success"),
            key=lambda d: d["id"],
            default=None,
        )
        return {**environment, "last_deployment": last}, {}

    # -- doc/api/deployments.md, "List project deployments" ---------------------------------

    def deployments(self, ref: str) -> tuple[Any, dict[str, str]]:
        project = self._project(ref)
        rows = list(project.deployments)
        if "updated_after" in self.query:
            if self.query.get("order_by", ["id"])[0] != "updated_at":
                raise _Answer(
                    400, {"message": "400 Bad request - updated_after requires order_by=updated_at"}
                )
            after = datetime.fromisoformat(self.query["updated_after"][0])
            rows = [d for d in rows if datetime.fromisoformat(d["updated_at"]) > after]
        if "status" in self.query:
            rows = [d for d in rows if d["status"] == self.query["status"][0]]
        return self._page(rows)

    # -- doc/api/rest/_index.md, "Offset-based pagination" -----------------------------------

    def _page(self, rows: list[Any]) -> tuple[Any, dict[str, str]]:
        try:
            asked = int(self.query.get("per_page", [DEFAULT_PER_PAGE])[0])
            per_page = min(max(asked, 1), self.gitlab.max_per_page)
            page = max(int(self.query.get("page", ["1"])[0]), 1)
        except ValueError:
            raise _Answer(400, {"error": "page is invalid"}) from None
        pages = max((len(rows) + per_page - 1) // per_page, 1)
        headers = {
            "X-Page": str(page), "X-Per-Page": str(per_page), "X-Total": str(len(rows)),
            "X-Total-Pages": str(pages), "X-Next-Page": str(page + 1) if page < pages else "",
            "X-Prev-Page": str(page - 1) if page > 1 else "",
        }  # fmt: skip
        links = []
        if page < pages:
            links.append(f'<{self._page_url(page + 1)}>; rel="next"')
        if page > 1:
            links.append(f'<{self._page_url(page - 1)}>; rel="prev"')
        links += [f'<{self._page_url(1)}>; rel="first"', f'<{self._page_url(pages)}>; rel="last"']
        headers["Link"] = ", ".join(links)
        return rows[(page - 1) * per_page : page * per_page], headers

    def _page_url(self, page: int) -> str:
        query = {k: v[0] for k, v in self.query.items()}
        query["page"] = str(page)
        return f"{self.gitlab.url}{self.path}?{urlencode(query)}"


def _handler_for(gitlab: StandInGitLab) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            path = url.path.removeprefix(gitlab.prefix) if gitlab.prefix else url.path
            query = parse_qs(url.query)
            with gitlab.lock:
                gitlab.requests.append(path)
                hooks = list(gitlab.hooks)
            for pattern, hook in hooks:
                if pattern.search(path):
                    answered = hook(path, query)
                    if answered is not None:
                        self._send(*answered)
                        return
            if path == "/jwt/auth":
                self._send(*gitlab.jwt_auth(query, self.headers.get("Authorization", "")))
                return
            limited = self._rate_limit()
            if limited is not None:
                self._send(*limited)
                return
            if not path.startswith("/api/v4/"):
                self._web_page(path)
                return
            try:
                with gitlab.lock:
                    body, headers = Api(
                        gitlab, path, query, self.headers.get("PRIVATE-TOKEN")
                    ).answer()
                status = 200
            except _Answer as answer:
                status, body, headers = answer.status, answer.body, answer.headers
            headers = {**headers, **self._rate_headers(), "Content-Type": "application/json"}
            self._send(status, headers, json.dumps(body).encode())

        def _rate_limit(self) -> tuple[int, dict[str, str], bytes] | None:
            with gitlab.lock:
                if time.time() - gitlab.rate_window_started >= 60:
                    gitlab.rate_window_started, gitlab.rate_observed = time.time(), 0
                gitlab.rate_observed += 1
                over = gitlab.rate_limit is not None and gitlab.rate_observed > gitlab.rate_limit
            if not over:
                return None
            headers = {**self._rate_headers(), "Retry-After": str(gitlab.retry_after)}
            headers["Content-Type"] = "text/plain"
            return 429, headers, b"Retry later\n"

        def _rate_headers(self) -> dict[str, str]:
            with gitlab.lock:
                if gitlab.rate_limit is None:
                    return {}
                reset = int(gitlab.rate_window_started + 60)
                return {
                    "RateLimit-Limit": str(gitlab.rate_limit),
                    "RateLimit-Observed": str(gitlab.rate_observed),
                    "RateLimit-Remaining": str(max(gitlab.rate_limit - gitlab.rate_observed, 0)),
                    "RateLimit-Reset": str(reset),
                }

        def _web_page(self, path: str) -> None:
            """What a browser sees following a link to the stand-in: a page saying what it is."""
            name = path.strip("/") or "home"
            body = (
                "<!doctype html><title>Stand-in GitLab</title><h1>Stand-in GitLab (demo and "
                f"tests only)</h1><p>This is not GitLab. It stands in for <code>{_escape(name)}"
                "</code> of a real GitLab, with made-up data.</p>"
            ).encode()
            self._send(200, {"Content-Type": "text/html; charset=utf-8"}, body)

        def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(HTTPStatus(status))
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
