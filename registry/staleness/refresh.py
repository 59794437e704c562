"""Storing the verdicts on the Tag rows, and streaming a registry's tags to judge them."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from datetime import datetime
from operator import itemgetter
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from registry.chunking import chunks
from registry.gitlab.ties import RegistryTies
from registry.models import Registry, StalenessRules, Tag
from registry.pull_tracking import pulls_tracked_since
from registry.user_patterns import RULES_BUDGET_SECONDS, Budget, required_prefix

from .verdicts import TagFacts, Verdict, compile_rules, evaluate_tags, rules_for

READ_CHUNK = 2000  # rows fetched at a time while streaming the tags
STORED_FIELDS = ["is_stale", "is_protected", "stale_reason", "subject_digest"]
REASON_LENGTH = Tag._meta.get_field("stale_reason").max_length or 200


def refresh_staleness(
    *,
    registry: Registry,
    now: datetime | None = None,
    repository_ids: Iterable[int] | None = None,
    budget: Budget | None = None,
) -> int:
    """Recompute the verdict on the registry's tags (or some repositories'); store it.

    Reads all tags in one streamed query, and writes only the rows whose verdict
    changed. Returns how many rows it wrote. Raises PatternTooSlow, having written
    nothing, when the rules' patterns use up `budget` (a minute by default).
    """
    rules = rules_for(registry=registry)
    now = now or timezone.now()
    budget = budget or Budget(RULES_BUDGET_SECONDS)
    tracked_since = tracked_since_for(registry=registry, rules=rules)
    ties = RegistryTies.load(
        registry=registry, rules=rules, budget=budget, repository_ids=repository_ids
    )
    compiled = compile_rules(rules, budget=budget, pulls_tracked_since=tracked_since)
    changed: dict[StoredVerdict, list[int]] = {}
    rows = tags_by_repository(registry=registry, repository_ids=repository_ids)
    for repository_id, facts, stored in rows:
        facts = ties.attach(repository_id=repository_id, tags=facts) if ties else facts
        verdicts = evaluate_tags(rules=compiled, tags=facts, now=now)
        for pk, verdict in verdicts.items():
            values = _stored(verdict)
            if values != stored[pk]:
                changed.setdefault(values, []).append(pk)
    # Written after the read has finished: SQLite does not isolate a cursor from
    # writes made on the same connection.
    tied = 0
    if changed or ties:
        with transaction.atomic():
            _write(changed)
            tied = ties.save() if ties else 0
    return sum(len(pks) for pks in changed.values()) + tied


StoredVerdict = tuple[bool, bool, str, str]  # the STORED_FIELDS, in order


def stale_tag_ids(
    *,
    registry: Registry,
    rules: StalenessRules,
    now: datetime,
    repository_ids: Iterable[int],
    budget: Budget | None = None,
) -> Iterator[tuple[int, list[int]]]:
    """Each repository's id and the ids of its tags that `rules` (saved or not) call stale.

    Writes nothing: the choice of a cleanup policy's own rules (registry.policies).
    Reads only the tags that could be stale where the database can tell
    (`could_be_stale`), and the verdicts on those are the verdicts a read of every
    tag gives. Raises PatternTooSlow when the rules' patterns use up `budget`.
    """
    budget = budget or Budget(RULES_BUDGET_SECONDS)
    repository_ids = list(repository_ids)
    ties = RegistryTies.load(
        registry=registry, rules=rules, budget=budget, repository_ids=repository_ids
    )
    tracked_since = tracked_since_for(registry=registry, rules=rules)
    compiled = compile_rules(rules, budget=budget, pulls_tracked_since=tracked_since)
    narrowed = None if ties and rules.gitlab_rules else could_be_stale(rules)
    rows = tags_by_repository(
        registry=registry, repository_ids=repository_ids, stored_fields=[], narrowed=narrowed
    )
    for repository_id, facts, _ in rows:
        facts = ties.attach(repository_id=repository_id, tags=facts) if ties else facts
        verdicts = evaluate_tags(rules=compiled, tags=facts, now=now)
        yield repository_id, [pk for pk, verdict in verdicts.items() if verdict.stale]


def could_be_stale(rules: StalenessRules) -> Q | None:
    """The tags that may be stale under `rules`, and those their verdict depends on, as a
    filter (None: the database cannot tell, every tag is read).

    A branch pattern with a fixed start (`^review-…`) leaves out every tag whose name
    starts otherwise: such a tag is not stale (rule 4), and only tags that match the
    pattern rank among the newest (rule 7). What remains decides each candidate's verdict
    whole, once the tags sharing a candidate's digest come along for rule 3. Not for the
    GitLab rules, which judge tags before the branch pattern does.
    """
    prefix = required_prefix(rules.branch_pattern) if rules.branch_pattern else ""
    if not prefix:
        return None
    # Case-insensitive LIKE on SQLite reads a few more: the pattern still decides.
    candidates = Tag.objects.filter(name__startswith=prefix)
    return Q(name__startswith=prefix) | Q(manifest_id__in=candidates.values("manifest_id"))


def tracked_since_for(*, registry: Registry, rules: StalenessRules) -> datetime | None:
    """When pull tracking began, asked only for rules that count pulls: one query less
    for everyone else."""
    return pulls_tracked_since(registry=registry) if rules.unpulled_days is not None else None


def _stored(verdict: Verdict) -> StoredVerdict:
    return (
        verdict.stale,
        verdict.protected,
        verdict.reason[:REASON_LENGTH],
        verdict.subject_digest,
    )


def tags_by_repository(
    *,
    registry: Registry,
    repository_ids: Iterable[int] | None = None,
    stored_fields: list[str] = STORED_FIELDS,
    narrowed: Q | None = None,
) -> Iterator[tuple[int, list[TagFacts], dict[int, tuple[Any, ...]]]]:
    """Each repository's id and tags (those `narrowed` keeps, when given), and
    `stored_fields` of each by id (by default the stored verdict, as a StoredVerdict),
    from one streamed query."""
    rows = Tag.objects.filter(repository__registry=registry)
    if repository_ids is not None:
        rows = rows.filter(repository_id__in=list(repository_ids))
    if narrowed is not None:
        rows = rows.filter(narrowed)
    values = (
        rows.order_by("repository_id")
        .values_list(
            "repository_id",
            "pk",
            "name",
            "manifest__digest",
            "manifest__created",
            "first_seen",
            "manifest__last_pulled",
            "manifest__revision",
            *stored_fields,
        )
        .iterator(chunk_size=READ_CHUNK)
    )
    for repository_id, group in itertools.groupby(values, key=itemgetter(0)):
        facts: list[TagFacts] = []
        stored: dict[int, tuple[Any, ...]] = {}
        for _, pk, name, digest, created, first_seen, pulled, revision, *values_stored in group:
            facts.append(TagFacts(pk, name, digest, created, first_seen, pulled, revision))
            stored[pk] = tuple(values_stored)
        yield repository_id, facts, stored


def _write(changed: dict[StoredVerdict, list[int]]) -> None:
    """One UPDATE per verdict and 500 rows.

    Most tags share their verdict with many others ("younger than 14 days"), so
    this is far fewer statements than rows. Django's bulk_update took 56 s for
    100,000 rows here (it builds a CASE WHEN per row and field); this takes ~2 s.
    """
    if not changed:
        return
    with transaction.atomic():
        for values, pks in changed.items():
            fields = dict(zip(STORED_FIELDS, values, strict=True))
            for chunk in chunks(pks):
                Tag.objects.filter(pk__in=chunk).update(**fields)
