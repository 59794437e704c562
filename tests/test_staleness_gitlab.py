"""evaluate_tags on a registry connected to GitLab: the GitLab rules among the others.

Table-tested like tests/test_staleness.py: each case gives the rules, the tags (with the
tie `registry.gitlab.matching.tie_image` would give them) and the expected verdicts.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from registry.gitlab.matching import Branch, Environment, MergeRequest, ProjectFacts, Tie
from registry.models import StalenessRules
from registry.staleness import TagFacts, evaluate_tags

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
_ids = itertools.count(1)
PROJECT = ProjectFacts(
    id=1,
    path="acme/web",
    web_url="",
    fresh=True,
    refreshed_at=NOW,
    first_refreshed_at=NOW - timedelta(days=9),
    branches=[
        Branch("feature-login", True, ("a" * 40,)),
        Branch("gone", False, (), NOW - timedelta(days=2)),
    ],
)
LIVE = Environment(1, "review/feature-login", "available", "feature-login", "a" * 40)
MERGED = MergeRequest(1, 2, "merged", "fix", frozenset(), merged_at=NOW - timedelta(days=3))
OPEN = MergeRequest(2, 3, "opened", "feature-login", frozenset())


def tie(**fields: Any) -> Tie:
    return Tie(project=PROJECT, **fields)


def tag(name: str, *, age: float = 40, digest: str = "", gitlab: Tie | None = None) -> TagFacts:
    when = NOW - timedelta(days=age)
    return TagFacts(
        id=next(_ids),
        name=name,
        digest=digest or "sha256:" + hashlib.sha256(name.encode()).hexdigest(),
        created=when,
        first_seen=when,
        gitlab=gitlab,
    )


RUNNING = tie(branch="feature-login", environment=LIVE, in_use=True, branch_state="exists")
CASES = [
    pytest.param(
        {},
        [
            tag("review-login-2", gitlab=RUNNING),
            tag(
                "review-fix-1",
                gitlab=tie(branch="fix", merge_request=MERGED, branch_state="deleted"),
            ),
            tag("review-gone-1", gitlab=tie(branch="gone", branch_state="deleted")),
            tag(
                "review-login-1",
                gitlab=tie(branch="feature-login", merge_request=OPEN, branch_state="exists"),
            ),
            tag("nightly", gitlab=tie()),  # tied to nothing: the age rules decide
            tag("latest", gitlab=RUNNING),  # a protected pattern comes first
        ],
        {
            "review-login-2": (False, True, "runs in review/feature-login"),
            "review-fix-1": (True, False, "merge request !2 merged 3 days ago"),
            "review-gone-1": (True, False, "branch gone deleted"),
            "review-login-1": (False, False, "merge request !3 open"),
            "nightly": (True, False, "stale: older than 14 days"),
            "latest": (False, True, "protected: matches ^latest$"),
        },
        id="in-use-protected-finished-stale-open-kept-untied-by-age",
    ),
    pytest.param(
        {},
        [
            tag("review-login-2", digest="sha256:" + "1" * 64, gitlab=RUNNING),
            tag(
                "review-login-2-copy",
                digest="sha256:" + "1" * 64,
                gitlab=tie(branch="gone", branch_state="deleted"),
            ),
        ],
        {
            "review-login-2": (False, True, "runs in review/feature-login"),
            "review-login-2-copy": (
                False,
                False,
                "shares its digest with protected tag review-login-2",
            ),
        },
        id="a-tag-sharing-its-digest-with-an-image-in-use-is-kept",
    ),
    pytest.param(
        {"gitlab_rules": False},
        [
            tag("review-login-2", gitlab=RUNNING),
            tag(
                "review-fix-1",
                age=3,
                gitlab=tie(branch="fix", merge_request=MERGED, branch_state="deleted"),
            ),
        ],
        {
            "review-login-2": (True, False, "stale: older than 14 days"),
            "review-fix-1": (False, False, "younger than 14 days"),
        },
        id="with-the-gitlab-rules-off-the-age-rules-decide-alone",
    ),
    pytest.param(
        {"gitlab_grace_days": 7},
        [
            tag(
                "review-fix-1",
                gitlab=tie(branch="fix", merge_request=MERGED, branch_state="deleted"),
            )
        ],
        {
            "review-fix-1": (
                False,
                False,
                "merge request !2 merged 3 days ago: stale once that is 7 days old",
            )
        },
        id="finished-branches-wait-for-the-grace-days",
    ),
    pytest.param(
        {"branch_pattern": r"^review-"},
        [tag("build-7", gitlab=tie(branch="fix", merge_request=MERGED, branch_state="deleted"))],
        {"build-7": (True, False, "merge request !2 merged 3 days ago")},
        id="gitlab-decides-before-the-branch-pattern",
    ),
    pytest.param(
        {},
        [
            tag(
                "review-fix-1",
                gitlab=replace(
                    tie(branch="fix", merge_request=MERGED, branch_state="deleted"),
                    project=replace(PROJECT, fresh=False),
                ),
            )
        ],
        {
            "review-fix-1": (
                False,
                False,
                "merge request !2 merged 3 days ago, but GitLab has not been read since "
                "2026-06-01 12:00 UTC: not stale until it is",
            )
        },
        id="nothing-is-stale-on-gitlabs-word-while-it-cannot-be-read",
    ),
]


@pytest.mark.parametrize(("rules", "tags", "expected"), CASES)
def test_evaluate_tags_with_gitlab(
    rules: dict[str, Any], tags: list[TagFacts], expected: dict[str, tuple[bool, bool, str]]
) -> None:
    verdicts = evaluate_tags(rules=StalenessRules(**rules), tags=tags, now=NOW)
    assert {
        t.name: (verdicts[t.id].stale, verdicts[t.id].protected, verdicts[t.id].reason)
        for t in tags
    } == expected
