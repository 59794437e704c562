"""The one rule of deleting: what happens to a digest when some of its tags are to go.

`DELETE /v2/<name>/manifests/<digest>` removes every tag that points at the digest,
and breaks any multi-arch image that lists it as a platform. So, for one digest:

- a protected tag would go with it: touch nothing (*protected*);
- another tag would go with it (one not planned here, or the tag of a multi-arch
  image listing it), or only untagging is allowed: remove the planned tags one by
  one and keep the image (*untag*);
- otherwise every holder is planned: delete the manifest (*delete*).

The planner asks this of the cache, and the run asks it again of the registry just
before acting; both call `decide_digest`, which touches neither.
"""

from __future__ import annotations

import enum
from collections.abc import Collection
from dataclasses import dataclass


class DigestAction(enum.StrEnum):
    DELETE = "delete"
    UNTAG = "untag"
    PROTECTED = "protected"


@dataclass(frozen=True)
class DigestHolders:
    """Everything that would go with a digest if it were deleted."""

    # The tags that point at it.
    tags: frozenset[str]
    # Those of `tags` and `index_tags` that are protected.
    protected: frozenset[str] = frozenset()
    # The tags of multi-arch images that list it as a platform image, where known.
    index_tags: frozenset[str] = frozenset()
    # Some multi-arch image lists it as a platform, tagged or not.
    in_index: bool = False


@dataclass(frozen=True)
class DigestDecision:
    action: DigestAction
    # The protected holders (action PROTECTED), by name.
    protected: tuple[str, ...] = ()
    # Holders that are not planned here and would stay (action UNTAG), by name.
    others: tuple[str, ...] = ()
    # The digest is a platform image of a multi-arch image (action UNTAG).
    in_index: bool = False


def decide_digest(
    *, planned: Collection[str], holders: DigestHolders, may_delete: bool = True
) -> DigestDecision:
    """What to do with a digest whose tags `planned` are to be removed.

    `may_delete` is False when the planned tags were only ever to be untagged: a
    digest that was to stay keeps staying, whatever else changed.
    """
    if holders.protected:
        return DigestDecision(DigestAction.PROTECTED, protected=tuple(sorted(holders.protected)))
    others = tuple(sorted((holders.tags | holders.index_tags) - set(planned)))
    if others or holders.in_index or not may_delete:
        return DigestDecision(DigestAction.UNTAG, others=others, in_index=holders.in_index)
    return DigestDecision(DigestAction.DELETE)
