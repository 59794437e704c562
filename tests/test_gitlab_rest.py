"""The GitLab REST client against the stand-in GitLab, and what a hostile or broken GitLab
can send: pages that loop or never end, huge pages, 429s, links and redirects to other
hosts, bad tokens, names and links that must not reach a page."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from devtools.gitlab_standin import StandInGitLab
from registry.gitlab import api, rest
from registry.gitlab.errors import (
    GitLabForbidden,
    GitLabInvalidResponse,
    GitLabRateLimited,
    GitLabTokenRefused,
)
from registry.gitlab.rest import GitLabClient
from tests.support.capture_server import CaptureServer

TOKEN = "glpat-secret-token-0123456789"


@pytest.fixture
def gitlab() -> Iterator[StandInGitLab]:
    server = StandInGitLab().start()
    user = server.add_user("janitor", TOKEN, scopes=["api"])
    server.add_group("acme")
    server.grant(user, "acme", 40)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def waits() -> list[float]:
    return []


@pytest.fixture
def client(gitlab: StandInGitLab, waits: list[float]) -> Iterator[GitLabClient]:
    with GitLabClient(gitlab.url, token=TOKEN, sleep=waits.append, max_retries=2) as made:
        yield made


def test_every_page_is_read_by_x_next_page(gitlab: StandInGitLab, client: GitLabClient) -> None:
    project = gitlab.add_project("acme/web")
    for n in range(7):
        gitlab.push_branch(project, f"branch-{n}", f"{n:040x}")
    gitlab.max_per_page = 3

    branches = api.branches(client, project.id)

    assert [b.name for b in branches] == [f"branch-{n}" for n in range(7)]
    assert len(gitlab.requests_matching("/repository/branches")) == 3


def test_pages_named_only_by_link_are_followed(gitlab: StandInGitLab, client: GitLabClient) -> None:
    def page(path: str, query: dict[str, list[str]]) -> tuple[int, dict[str, str], bytes]:
        number = int(query.get("page", ["1"])[0])
        headers = {"Content-Type": "application/json"}
        if number < 3:
            headers["Link"] = f'<{gitlab.url}{path}?page={number + 1}>; rel="next"'
        return 200, headers, json.dumps([{"id": number}]).encode()

    gitlab.add_hook(r"/things$", page)

    assert [row["id"] for row in client.get_all("/things", what="listing things")] == [1, 2, 3]


def test_pages_that_loop_stop_the_read(gitlab: StandInGitLab, client: GitLabClient) -> None:
    gitlab.add_hook(
        r"/loop$",
        lambda path, query: (200, {"X-Next-Page": "1"}, b"[]"),
    )
    with pytest.raises(GitLabInvalidResponse, match="loop back"):
        client.get_all("/loop", what="listing a loop")


def test_pages_that_never_end_stop_the_read(
    gitlab: StandInGitLab, client: GitLabClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rest, "MAX_PAGES", 5)
    gitlab.add_hook(
        r"/endless$",
        lambda path, query: (
            200,
            {"X-Next-Page": str(int(query.get("page", ["1"])[0]) + 1)},
            b"[{}]",
        ),
    )
    with pytest.raises(GitLabInvalidResponse, match="more than 5 pages"):
        client.get_all("/endless", what="listing forever")


def test_a_huge_page_is_not_read_past_the_limit(gitlab: StandInGitLab) -> None:
    gitlab.add_hook(r"/huge$", lambda path, query: (200, {}, b"[" + b'"x",' * 400_000 + b'"x"]'))
    small = GitLabClient(gitlab.url, token=TOKEN, max_response_bytes=1024 * 1024)
    with small, pytest.raises(GitLabInvalidResponse, match="more than 1 MB"):
        small.get_all("/huge", what="listing a lot")


def test_429_waits_as_retry_after_says(
    gitlab: StandInGitLab, client: GitLabClient, waits: list[float]
) -> None:
    gitlab.add_project("acme/web")
    limited = iter([True])

    def once(path: str, query: dict[str, list[str]]) -> tuple[int, dict[str, str], bytes] | None:
        if next(limited, False):
            return 429, {"Retry-After": "2", "RateLimit-Remaining": "0"}, b"Retry later"
        return None

    gitlab.add_hook(r"/groups/acme/projects$", once)

    assert [p.path for p in api.group_projects(client, "acme")] == ["acme/web"]
    assert 2 <= waits[0] <= 2.5, waits


def test_429_after_every_retry_fails_in_plain_words(
    gitlab: StandInGitLab, client: GitLabClient
) -> None:
    gitlab.rate_limit = 0
    with pytest.raises(GitLabRateLimited, match="kept rate-limiting us after 2 retries"):
        api.group_projects(client, "acme")


def test_ratelimit_remaining_running_low_waits_for_the_reset(
    gitlab: StandInGitLab, client: GitLabClient, waits: list[float]
) -> None:
    gitlab.rate_limit = 5
    for _ in range(3):
        api.group_projects(client, "acme")
    assert waits  # RateLimit-Remaining fell under the reserve: the next one waited
    assert 0 < waits[-1] <= 60


def test_the_token_goes_to_no_other_host(gitlab: StandInGitLab, client: GitLabClient) -> None:
    with CaptureServer() as capture:
        gitlab.add_hook(
            r"/lure$",
            lambda path, query: (200, {"Link": f'<{capture.origin}/more>; rel="next"'}, b"[]"),
        )
        with pytest.raises(GitLabInvalidResponse, match="another host"):
            client.get_all("/lure", what="following a lure")
        gitlab.add_hook(
            r"/moved$", lambda path, query: (302, {"Location": f"{capture.origin}/x"}, b"")
        )
        with pytest.raises(GitLabInvalidResponse, match="redirected"):
            client.get("/moved", what="following a redirect")
        assert capture.requests == []


def test_a_wrong_token_and_a_missing_scope_say_so(gitlab: StandInGitLab) -> None:
    wrong = GitLabClient(gitlab.url, token="glpat-wrong")
    with wrong, pytest.raises(GitLabTokenRefused, match="wrong, expired or revoked"):
        api.token_self(wrong)
    gitlab.add_user("bot", "glpat-registry-only", scopes=["read_registry"])
    narrow = GitLabClient(gitlab.url, token="glpat-registry-only")
    with narrow, pytest.raises(GitLabForbidden) as raised:
        api.group_projects(narrow, "acme")
    assert raised.value.scope == "api read_api"
    assert "It needs the 'api read_api' scope." in raised.value.message


def test_hostile_answers_are_cut_down_to_what_a_page_may_show(
    gitlab: StandInGitLab, client: GitLabClient
) -> None:
    project = gitlab.add_project("acme/web")
    gitlab.push_branch(project, "x" * 300, "a" * 40)  # longer than any branch may be
    gitlab.push_branch(project, "ok", "not-a-sha")
    iid = gitlab.open_merge_request(project, source_branch="ok", title="<script>" * 100)
    mr = project.merge_requests[iid]
    mr["web_url"] = "javascript:alert(1)"
    mr["author"] = {"username": ["not", "a", "string"]}

    branches = api.branches(client, project.id)
    (found,) = api.merge_requests(client, project.id, updated_after=None)

    assert [(b.name, b.commit_sha) for b in branches] == [("ok", "")]
    assert found.web_url == ""
    assert len(found.title) == 255
    assert found.author_username == ""


def test_a_foreign_web_url_is_not_linked(gitlab: StandInGitLab, client: GitLabClient) -> None:
    project = gitlab.add_project("acme/web")
    iid = gitlab.open_merge_request(project, source_branch="x")
    project.merge_requests[iid]["web_url"] = (
        "https://phishing.example.com/acme/web/-/merge_requests/1"
    )

    (found,) = api.merge_requests(client, project.id, updated_after=None)

    assert found.web_url == ""
