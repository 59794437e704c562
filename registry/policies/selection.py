"""Which cached tags a policy's run plans: stale under its rules, in its repositories.

Several policies may cover one repository. A tag is planned only when every enabled
policy that covers its repository calls it stale: a tag two policies judge
differently is kept (the cautious reading of two people's intentions).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from registry.models import CleanupPolicy, Repository
from registry.staleness import stale_tag_ids
from registry.user_patterns import RULES_BUDGET_SECONDS, Budget, UserPattern


@dataclass(frozen=True)
class PolicySelection:
    tag_ids: list[int]  # what to plan
    repository_ids: list[int]  # the repositories the policy covers
    kept_by_others: int  # stale under this policy, kept by another that covers them


def covered_repositories(*, policy: CleanupPolicy, budget: Budget | None = None) -> dict[int, str]:
    """The registry's repositories the policy includes and does not exclude, by id.

    Raises PatternTooSlow when the patterns use up `budget`.
    """
    budget = budget or Budget(RULES_BUDGET_SECONDS)
    include = [UserPattern(p, budget=budget) for p in policy.include_patterns]
    exclude = [UserPattern(p, budget=budget) for p in policy.exclude_patterns]
    names = Repository.objects.filter(registry_id=policy.registry_id).values_list("pk", "name")
    return {
        pk: name
        for pk, name in names
        if (not include or any(p.search(name) for p in include))
        and not any(p.search(name) for p in exclude)
    }


def policy_selection(*, policy: CleanupPolicy, now: datetime) -> PolicySelection:
    """The tags the policy's run plans now. Raises PatternTooSlow."""
    budget = Budget(RULES_BUDGET_SECONDS)
    repositories = list(covered_repositories(policy=policy, budget=budget))
    stale = _stale_ids(policy=policy, now=now, repository_ids=repositories, budget=budget)
    kept = 0
    for other in _other_policies(policy):
        shared = set(covered_repositories(policy=other, budget=budget)) & set(repositories)
        if not shared or not stale:
            continue
        theirs = _stale_ids(policy=other, now=now, repository_ids=shared, budget=budget)
        mine_there = {tag_id for tag_id, repository_id in stale.items() if repository_id in shared}
        disputed = mine_there - set(theirs)
        kept += len(disputed)
        for tag_id in disputed:
            del stale[tag_id]
    return PolicySelection(tag_ids=list(stale), repository_ids=repositories, kept_by_others=kept)


def _stale_ids(
    *, policy: CleanupPolicy, now: datetime, repository_ids: Iterable[int], budget: Budget
) -> dict[int, int]:
    """Tag id -> repository id, of the tags the policy's rules call stale."""
    stale: dict[int, int] = {}
    chosen = stale_tag_ids(
        registry=policy.registry,
        rules=policy.staleness_rules(),
        now=now,
        repository_ids=repository_ids,
        budget=budget,
    )
    for repository_id, tag_ids in chosen:
        stale.update((tag_id, repository_id) for tag_id in tag_ids)
    return stale


def _other_policies(policy: CleanupPolicy) -> list[CleanupPolicy]:
    return list(
        CleanupPolicy.objects.filter(registry_id=policy.registry_id, enabled=True)
        .exclude(pk=policy.pk)
        .select_related("registry")
    )
