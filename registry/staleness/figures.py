"""Figures for the rules page: how many tags are stale, and would be under other rules."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Q

from registry.gitlab.ties import RegistryTies
from registry.models import Registry, StalenessRules, Tag
from registry.user_patterns import RULES_BUDGET_SECONDS, Budget

from .refresh import tags_by_repository, tracked_since_for
from .verdicts import compile_rules, evaluate_tags


@dataclass(frozen=True)
class StaleFigures:
    total: int
    stale: int
    # Under previewed rules: how many verdicts would flip each way.
    becoming_stale: int = 0
    no_longer_stale: int = 0


def stale_figures(*, registry: Registry) -> StaleFigures:
    """How many of the registry's tags are stale now (one query)."""
    figures = Tag.objects.filter(repository__registry=registry).aggregate(
        total=Count("pk"), stale=Count("pk", filter=Q(is_stale=True))
    )
    return StaleFigures(total=figures["total"], stale=figures["stale"])


def preview_staleness(
    *, registry: Registry, rules: StalenessRules, now: datetime, budget: Budget | None = None
) -> StaleFigures:
    """How many tags `rules` (saved or not) would make stale; writes nothing.

    Streams the tags repository by repository, as refresh_staleness does. Raises
    PatternTooSlow when the rules' patterns use up `budget`.
    """
    budget = budget or Budget(RULES_BUDGET_SECONDS)
    tracked_since = tracked_since_for(registry=registry, rules=rules)
    ties = RegistryTies.load(registry=registry, rules=rules, budget=budget)
    compiled = compile_rules(rules, budget=budget, pulls_tracked_since=tracked_since)
    total = stale = becoming = leaving = 0
    rows = tags_by_repository(registry=registry, stored_fields=["is_stale"])
    for repository_id, facts, stored in rows:
        facts = ties.attach(repository_id=repository_id, tags=facts) if ties else facts
        verdicts = evaluate_tags(rules=compiled, tags=facts, now=now)
        for pk, verdict in verdicts.items():
            (was_stale,) = stored[pk]
            total += 1
            stale += verdict.stale
            becoming += verdict.stale and not was_stale
            leaving += was_stale and not verdict.stale
    return StaleFigures(total=total, stale=stale, becoming_stale=becoming, no_longer_stale=leaving)
