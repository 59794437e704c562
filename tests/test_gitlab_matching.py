"""Tying an image to its commit, branch, merge request and environment; and the verdict
GitLab's facts give. Pure functions, tested by table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from registry.gitlab.matching import (
    Branch,
    Environment,
    MergeRequest,
    ProjectFacts,
    commit_in_tag,
    ref_slug,
    tie_image,
)
from registry.gitlab.verdicts import gitlab_verdict

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
A1, A2, B1, C1, M1 = ("a" * 40, "a1" * 20, "b" * 40, "c" * 40, "d" * 40)


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("feature-login", "feature-login"),
        ("Feature/Login_Page", "feature-login-page"),
        ("--weird--", "weird"),
        ("ümlaut/ß", "mlaut"),
        ("x" * 70, "x" * 63),
        ("a" * 62 + "/b", "a" * 62),  # cut at 63, then no trailing "-"
        ("release/1.2", "release-1-2"),
    ],
)
def test_ref_slug_is_gitlabs_ci_commit_ref_slug(name: str, slug: str) -> None:
    assert ref_slug(name) == slug
    assert len(ref_slug(name).encode()) <= 63


@pytest.mark.parametrize(
    ("tag", "sha"),
    [
        (f"build-{A1}", A1),
        ("review-1a2b3c4d", "1a2b3c4d"),
        ("app-9f8e7d6-amd64", "9f8e7d6"),
        ("review-feature-12345678", ""),  # a pipeline number is not a sha
        ("cafe", ""),  # too short
        ("deadbeefcafebabe1234", ""),  # 20 hex digits: neither short nor full
        ("latest", ""),
    ],
)
def test_commit_in_tag(tag: str, sha: str) -> None:
    assert commit_in_tag(tag) == sha


def mr(
    iid: int, state: str, branch: str, commits: tuple[str, ...], **when: datetime
) -> MergeRequest:
    return MergeRequest(
        id=iid * 10,
        iid=iid,
        state=state,
        source_branch=branch,
        commits=frozenset(commits),
        updated_at=when.get("updated_at", NOW - timedelta(days=5)),
        merged_at=when.get("merged_at"),
        closed_at=when.get("closed_at"),
    )


def project(*, fresh: bool = True) -> ProjectFacts:
    return ProjectFacts(
        id=1,
        path="acme/web",
        web_url="https://gitlab.example.com/acme/web",
        fresh=fresh,
        refreshed_at=NOW - timedelta(hours=1),
        first_refreshed_at=NOW - timedelta(days=30),
        branches=[
            Branch("main", True, (M1,)),
            Branch("feature-login", True, (A1, A2)),
            Branch("feature-x", False, (C1,), deleted_at=NOW - timedelta(days=3)),
            Branch("Feature/Y", True, ("e" * 40,)),
            Branch("feature-y", True, ("f" * 40,)),
            Branch("hotfix-live", True, ("9" * 40,)),
        ],
        merge_requests=[
            mr(1, "opened", "feature-login", (A1, A2)),
            mr(2, "merged", "fix-payment", (B1,), merged_at=NOW - timedelta(days=3)),
            mr(3, "closed", "spike", ("5" * 40,), closed_at=NOW - timedelta(hours=2)),
        ],
        environments=[
            Environment(1, "review/feature-login", "available", "feature-login", A2),
            Environment(2, "review/hotfix-live", "available", "hotfix-live", "9" * 40),
            Environment(3, "review/fix-payment", "stopped", "fix-payment", B1),
        ],
    )


def tie(tag: str, revision: str = "", capture: str | None = None, *, fresh: bool = True):
    return tie_image(
        project(fresh=fresh),
        tag=tag,
        revision=revision,
        branch_capture=capture,
        built_at=NOW - timedelta(days=4),
    )


# (tag, revision label, branch captured by the pattern) -> (branch, MR iid, environment,
# in use, ambiguous, how the commit was found)
TIES = [
    ("review-login-1", A1, "login", ("feature-login", 1, None, False, False, "revision")),
    (
        "review-login-2",
        A2,
        "login",
        ("feature-login", 1, "review/feature-login", True, False, "revision"),
    ),
    (
        "review-fix-payment-1",
        B1,
        None,
        ("fix-payment", 2, "review/fix-payment", False, False, "revision"),
    ),
    ("review-feature-x-1", "", "feature-x", ("feature-x", None, None, False, False, "")),
    ("review-feature-y-1", "", "feature-y", ("", None, None, False, True, "")),
    (f"build-{C1[:8]}", "", None, ("feature-x", None, None, False, False, "tag")),
    ("review-gone-1", "", "gone", ("gone", None, None, False, False, "")),
    ("latest", M1, None, ("main", None, None, False, False, "revision")),
    ("nightly", "", None, ("", None, None, False, False, "")),
]


@pytest.mark.parametrize(("tag", "revision", "capture", "expected"), TIES)
def test_tie_image(
    tag: str, revision: str, capture: str | None, expected: tuple[object, ...]
) -> None:
    found = tie(tag, revision, capture)
    environment = found.environment.name if found.environment else None
    mr_iid = found.merge_request.iid if found.merge_request else None
    assert (
        found.branch,
        mr_iid,
        environment,
        found.in_use,
        found.ambiguous,
        found.commit_source,
    ) == expected


def test_only_the_branch_known_gives_the_branchs_live_environment_to_the_ties_step() -> None:
    found = tie("review-hotfix-live-7", "", "hotfix-live")
    assert found.branch_environment is not None
    assert found.branch_environment.name == "review/hotfix-live"
    assert not found.in_use  # decided among the branch's images (registry.gitlab.ties)


# tag, revision, capture, fresh -> (stale, reason) or None (the other rules decide)
VERDICTS = [
    ("review-login-1", A1, "login", True, (False, "merge request !1 open")),
    ("review-fix-payment-1", B1, None, True, (True, "merge request !2 merged 3 days ago")),
    (
        "review-spike-1",
        "5" * 40,
        None,
        True,
        (False, "merge request !3 closed less than a day ago: stale once that is 1 day old"),
    ),
    ("review-feature-x-1", "", "feature-x", True, (True, "branch feature-x deleted")),
    ("review-gone-1", "", "gone", True, (True, "no branch gone in GitLab")),
    ("review-feature-y-1", "", "feature-y", True, None),
    ("nightly", "", None, True, None),
    ("review-main-1", "", "main", True, (False, "branch main exists")),
]


@pytest.mark.parametrize(("tag", "revision", "capture", "fresh", "expected"), VERDICTS)
def test_gitlab_verdict(
    tag: str, revision: str, capture: str | None, fresh: bool, expected: object
) -> None:
    assert (
        gitlab_verdict(tie(tag, revision, capture, fresh=fresh), grace_days=1, now=NOW) == expected
    )


def test_nothing_is_stale_on_gitlabs_word_while_gitlab_cannot_be_read() -> None:
    verdict = gitlab_verdict(tie("review-fix-payment-1", B1, fresh=False), grace_days=1, now=NOW)

    assert verdict is not None
    stale, reason = verdict
    assert not stale
    assert reason == (
        "merge request !2 merged 3 days ago, but GitLab has not been read since "
        "2026-06-01 11:00 UTC: not stale until it is"
    )


def test_an_image_built_after_its_branchs_request_was_merged_is_not_that_requests() -> None:
    facts = project()
    facts.merge_requests.append(mr(4, "merged", "main", (M1,), merged_at=NOW - timedelta(days=10)))
    found = tie_image(facts, tag="review-main-9", revision="", branch_capture="main", built_at=NOW)
    assert (found.branch, found.merge_request) == ("main", None)
