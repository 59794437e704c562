"""The one rule of deleting, as a table: planned tags and a digest's holders -> action.

No database and no registry: the planner and the run both ask `decide_digest`.
"""

from __future__ import annotations

import pytest

from registry.deletion.decision import DigestAction, DigestDecision, DigestHolders, decide_digest

DELETE, UNTAG, PROTECTED = DigestAction.DELETE, DigestAction.UNTAG, DigestAction.PROTECTED


def holders(*tags: str, protected: tuple[str, ...] = (), index_tags: tuple[str, ...] = (),
            in_index: bool = False) -> DigestHolders:  # fmt: skip
    return DigestHolders(
        tags=frozenset(tags),
        protected=frozenset(protected),
        index_tags=frozenset(index_tags),
        in_index=in_index,
    )


@pytest.mark.parametrize(
    ("planned", "digest_holders", "may_delete", "expected"),
    [
        pytest.param(
            ["review-1"],
            holders("review-1"),
            True,
            DigestDecision(DELETE),
            id="the only tag is planned: delete the manifest",
        ),
        pytest.param(
            ["review-1", "review-1-copy"],
            holders("review-1", "review-1-copy"),
            True,
            DigestDecision(DELETE),
            id="every tag is planned: delete the manifest once",
        ),
        pytest.param(
            ["review-2"],
            holders("review-2", "keep-me"),
            True,
            DigestDecision(UNTAG, others=("keep-me",)),
            id="another tag shares the digest: untag only",
        ),
        pytest.param(
            ["b", "c"],
            holders("a", "b", "c", "d"),
            True,
            DigestDecision(UNTAG, others=("a", "d")),
            id="the tags that stay are named, sorted",
        ),
        pytest.param(
            ["review-1"],
            holders("review-1", "latest", protected=("latest",)),
            True,
            DigestDecision(PROTECTED, protected=("latest",)),
            id="a protected tag shares the digest: touch nothing",
        ),
        pytest.param(
            ["main"],
            holders("main", protected=("main",)),
            True,
            DigestDecision(PROTECTED, protected=("main",)),
            id="the planned tag itself is protected",
        ),
        pytest.param(
            ["amd64"],
            holders("amd64", in_index=True),
            True,
            DigestDecision(UNTAG, in_index=True),
            id="a multi-arch image lists the digest: untag, the image stays whole",
        ),
        pytest.param(
            ["amd64"],
            holders("amd64", index_tags=("multi",)),
            True,
            DigestDecision(UNTAG, others=("multi",)),
            id="a tagged multi-arch image lists the digest: its tag would go too",
        ),
        pytest.param(
            ["amd64"],
            holders("amd64", index_tags=("multi",), protected=("multi",)),
            True,
            DigestDecision(PROTECTED, protected=("multi",)),
            id="a protected multi-arch image lists the digest: touch nothing",
        ),
        pytest.param(
            ["review-3"],
            holders("review-3"),
            False,
            DigestDecision(UNTAG),
            id="planned as untag only: never upgraded to a delete",
        ),
        pytest.param(
            ["review-3"],
            holders(),
            True,
            DigestDecision(DELETE),
            id="nothing else holds it (the run checks the tag is still there first)",
        ),
    ],
)
def test_decide_digest(
    planned: list[str], digest_holders: DigestHolders, may_delete: bool, expected: DigestDecision
) -> None:
    assert decide_digest(planned=planned, holders=digest_holders, may_delete=may_delete) == expected
