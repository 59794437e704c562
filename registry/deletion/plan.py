"""Planning a deletion: what each selected tag would cost, saved as a batch to preview.

The action is decided per manifest, from the cache, by the one rule of
`registry.deletion.decision`: every tag on the digest is in the plan, *delete the
manifest*; a protected tag holds it, *refused* for every planned tag on it; other
tags share it or a multi-arch image lists it, *untag only*, and the image stays.

Signature, attestation and SBOM tags (`sha256-<hex>.sig`: the OCI referrers
fallback) of a digest that will be deleted join the plan, so nothing is left
orphaned. The batch is saved *planned*: its items are exactly what the preview
shows, and execution never acts on anything else (`registry.deletion.run`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Max, QuerySet

from registry.models import DeletionBatch, DeletionItem, Layer, Manifest, Registry, Tag
from registry.models.audit import SCHEDULE_ACTOR
from registry.staleness import REFERRER_TAG

from .decision import DigestAction, DigestDecision, DigestHolders, decide_digest

NOTHING_SELECTED_MESSAGE = "Nothing is selected: select the tags to delete first."
ITEM_CHUNK = 1000

Action = DeletionItem.Action


def protected_tag_note(pattern_reason: str) -> str:
    """ "This tag is protected: matches ^latest$." (or, for an image a GitLab environment
    runs, "This tag is protected: runs in review/x.")"""
    if not pattern_reason:
        return "This tag is protected."
    if pattern_reason.startswith("protected"):
        return f"This tag is {pattern_reason}."
    return f"This tag is protected: {pattern_reason}."


def shares_protected_note(names: list[str]) -> str:
    return (
        f"Shares its digest with protected {_tags(names)} {_list(names)}: deleting the "
        "digest would delete them too."
    )


def shares_digest_note(names: list[str]) -> str:
    return f"Also tagged {_list(names)} (not in the plan): only this tag is removed."


def index_child_note() -> str:
    return (
        "This digest is also a platform image of a multi-arch image: only the tag is "
        "removed, so the multi-arch image stays whole."
    )


def companion_note(subject_tags: list[str]) -> str:
    return f"Signature or attestation of {_list(subject_tags)}: deleted with it."


def deletes_with_note(names: list[str]) -> str:
    return f"Deleted together with {_list(names)} (same digest)." if names else ""


@dataclass
class _PlannedTag:
    id: int
    name: str
    repository_id: int
    repository: str
    manifest_id: int
    digest: str
    media_type: str
    size: int
    created: datetime | None
    is_protected: bool
    stale_reason: str
    subject_digest: str
    companion_of: str = ""
    subject_tags: list[str] = field(default_factory=list)


class Holder(NamedTuple):
    """A cached tag on a planned manifest."""

    name: str
    protected: bool
    reason: str  # why it is (not) stale; for a protected tag, the pattern it matches


Holders = dict[int, list[Holder]]  # manifest id -> every tag on it, by name


@dataclass(frozen=True)
class _Decision:
    """A planned manifest's action, and the words the preview shows for it."""

    action: str
    note: str = ""
    shared_with: tuple[str, ...] = ()


def plan_deletion(
    *,
    registry: Registry,
    tags: QuerySet[Tag],
    actor: User | None,
    reason: str = "",
    source: str = DeletionBatch.Source.WEB,
    policy_name: str = "",
    retry_of: DeletionBatch | None = None,
) -> DeletionBatch:
    """Save a planned batch for `tags` (the registry's), with each tag's action.

    `actor` None: a cleanup policy plans it (`policy_name`), recorded as SCHEDULE_ACTOR.
    `retry_of`: the batch whose failed tags these are (registry.deletion.retry).
    Raises ValueError with NOTHING_SELECTED_MESSAGE when `tags` is empty.
    """
    tags = tags.filter(repository__registry=registry)
    selected = _planned_tags(tags)
    if not selected:
        raise ValueError(NOTHING_SELECTED_MESSAGE)
    holders = _holders_of(manifest_ids=tags.values_list("manifest_id", flat=True))
    in_index = _index_children(tags)
    decisions = _decide(selected, holders=holders, in_index=in_index)
    companions = _companions(
        registry=registry, selected=selected, decisions=decisions, holders=holders
    )
    if companions:
        selected = [*selected, *companions]
        holders.update(_holders_of(manifest_ids={c.manifest_id for c in companions}))
        decisions = _decide(selected, holders=holders, in_index=in_index)
    with transaction.atomic():
        batch = DeletionBatch.objects.create(
            registry=registry,
            registry_name=registry.name,
            planned_by=actor,
            planned_by_username=actor.get_username() if actor else SCHEDULE_ACTOR,
            source=source,
            reason=reason,
            policy_name=policy_name,
            retry_of=retry_of,
        )
        _save_items(batch=batch, selected=selected, decisions=decisions, holders=holders)
        _count_plan(batch=batch, selected=selected, decisions=decisions)
    return batch


# -- reading the cache -------------------------------------------------------------------


def _planned_tags(tags: QuerySet[Tag]) -> list[_PlannedTag]:
    rows = tags.values_list(
        "pk",
        "name",
        "repository_id",
        "repository__name",
        "manifest_id",
        "manifest__digest",
        "manifest__media_type",
        "manifest__size",
        "manifest__created",
        "is_protected",
        "stale_reason",
        "subject_digest",
    ).order_by("repository__name", "name")
    return [_PlannedTag(*row) for row in rows]


def _holders_of(*, manifest_ids: Iterable[int]) -> Holders:
    """Every tag on these manifests, by manifest id."""
    holders: Holders = defaultdict(list)
    rows = Tag.objects.filter(manifest_id__in=manifest_ids).values_list(
        "manifest_id", "name", "is_protected", "stale_reason"
    )
    for manifest_id, name, protected, reason in rows.order_by("name"):
        holders[manifest_id].append(Holder(name, protected, reason))
    return holders


def _index_children(tags: QuerySet[Tag]) -> set[int]:
    """Which of the planned manifests some multi-arch image lists as a platform child."""
    through = Manifest.children.through
    return set(
        through.objects.filter(to_manifest_id__in=tags.values("manifest_id")).values_list(
            "to_manifest_id", flat=True
        )
    )


def _companions(
    *,
    registry: Registry,
    selected: list[_PlannedTag],
    decisions: dict[int, _Decision],
    holders: Holders,
) -> list[_PlannedTag]:
    """Referrer tags of the digests to be deleted that are not selected themselves."""
    deleted = {
        (t.repository_id, t.digest): t
        for t in selected
        if decisions[t.manifest_id].action == Action.DELETE
    }
    if not deleted:
        return []
    chosen = {t.id for t in selected}
    candidates = _planned_tags(
        Tag.objects.filter(
            repository__registry=registry,
            repository_id__in={repository_id for repository_id, _ in deleted},
            name__startswith="sha256-",
        ).exclude(subject_digest="")
    )
    companions = []
    for candidate in candidates:
        subject = deleted.get((candidate.repository_id, candidate.subject_digest))
        if subject is None or candidate.id in chosen or not REFERRER_TAG.match(candidate.name):
            continue
        candidate.companion_of = subject.digest
        candidate.subject_tags = [holder.name for holder in holders[subject.manifest_id]]
        companions.append(candidate)
    return companions


# -- deciding --------------------------------------------------------------------------


def _decide(
    selected: list[_PlannedTag], *, holders: Holders, in_index: set[int]
) -> dict[int, _Decision]:
    """The action for each planned manifest (by id), and its note."""
    decisions = {}
    for manifest_id, names in _names_by_manifest(selected).items():
        everyone = holders.get(manifest_id, [])
        decision = decide_digest(
            planned=names,
            holders=DigestHolders(
                tags=frozenset(holder.name for holder in everyone),
                protected=frozenset(holder.name for holder in everyone if holder.protected),
                in_index=manifest_id in in_index,
            ),
        )
        decisions[manifest_id] = _planned(decision)
    return decisions


def _planned(decision: DigestDecision) -> _Decision:
    """A digest's decision, as the preview words it."""
    if decision.action == DigestAction.PROTECTED:
        return _Decision(Action.REFUSE, shares_protected_note(list(decision.protected)))
    if decision.action == DigestAction.DELETE:
        return _Decision(Action.DELETE)
    if decision.others:
        return _Decision(Action.UNTAG, shares_digest_note(list(decision.others)), decision.others)
    return _Decision(Action.UNTAG, index_child_note())


def _names_by_manifest(selected: list[_PlannedTag]) -> dict[int, list[str]]:
    """The planned tag names on each manifest (by id), in plan order."""
    names: dict[int, list[str]] = defaultdict(list)
    for tag in selected:
        names[tag.manifest_id].append(tag.name)
    return names


def _note_for(tag: _PlannedTag, decision: _Decision, planned: dict[int, list[str]]) -> str:
    if decision.action == Action.REFUSE and tag.is_protected:
        return protected_tag_note(tag.stale_reason)
    if tag.companion_of:
        return companion_note(tag.subject_tags)
    if decision.action == Action.DELETE:
        return deletes_with_note([n for n in planned[tag.manifest_id] if n != tag.name])
    return decision.note


# -- saving ----------------------------------------------------------------------------


def _save_items(
    *,
    batch: DeletionBatch,
    selected: list[_PlannedTag],
    decisions: dict[int, _Decision],
    holders: Holders,
) -> None:
    planned = _names_by_manifest(selected)
    # By repository and tag; a signature right after the image it goes with.
    subjects = {(t.repository, t.digest): t.name for t in selected if not t.companion_of}
    ordered = sorted(
        selected,
        key=lambda t: (
            t.repository,
            subjects.get((t.repository, t.companion_of), t.name) if t.companion_of else t.name,
            bool(t.companion_of),
            t.name,
        ),
    )
    items = []
    for position, tag in enumerate(ordered, start=1):
        decision = decisions[tag.manifest_id]
        refused = decision.action == Action.REFUSE
        items.append(
            DeletionItem(
                batch=batch,
                position=position,
                repository_name=tag.repository,
                tag=tag.name,
                digest=tag.digest,
                media_type=tag.media_type,
                size=tag.size,
                created=tag.created,
                planned_manifest_id=tag.manifest_id,
                action=decision.action,
                note=_note_for(tag, decision, planned)[:300],
                shared_with=list(decision.shared_with),
                companion_of=tag.companion_of,
                # A refusal is decided now, and final.
                outcome=DeletionItem.Outcome.REFUSED if refused else DeletionItem.Outcome.PENDING,
                finished_at=batch.planned_at if refused else None,
            )
        )
    DeletionItem.objects.bulk_create(items, batch_size=ITEM_CHUNK)


def _count_plan(
    *, batch: DeletionBatch, selected: list[_PlannedTag], decisions: dict[int, _Decision]
) -> None:
    actions = [decisions[t.manifest_id].action for t in selected]
    deleted = {
        t.manifest_id: t.size for t in selected if decisions[t.manifest_id].action == Action.DELETE
    }
    batch.tags_planned = len(selected)
    batch.manifests_planned = len(deleted)
    batch.untags_planned = actions.count(Action.UNTAG)
    batch.refused_planned = actions.count(Action.REFUSE)
    batch.bytes_planned = sum(deleted.values())
    batch.bytes_reclaimable = reclaimable_bytes(batch=batch)
    batch.save()


def reclaimable_bytes(*, batch: DeletionBatch) -> int:
    """What garbage collection would free once these manifests are deleted.

    The blobs (layers and configs) of the deleted manifests that no surviving
    manifest of the registry, in any repository, references; each blob once.
    A deleted multi-arch index frees nothing of its children here: they stay as
    untagged manifests until a garbage collection that removes those.
    """
    # A subquery, not a list of ids: a plan may hold 50,000 manifests.
    ids = DeletionItem.objects.filter(batch=batch, action=Action.DELETE).values(
        "planned_manifest_id"
    )
    survivors = Manifest.objects.filter(repository__registry_id=batch.registry_id).exclude(
        pk__in=ids
    )
    # NOT IN over each whole set, not a correlated NOT EXISTS per blob: configs have no
    # index of their own, and either way the sets are read once (both columns are NOT NULL).
    layers = (
        Layer.objects.filter(manifest_id__in=ids)
        .exclude(digest__in=Layer.objects.filter(manifest__in=survivors).values("digest"))
        .values("digest")
        .annotate(blob_size=Max("size"))
        .values_list("digest", "blob_size")
    )
    configs = (
        Manifest.objects.filter(pk__in=ids)
        .exclude(config_digest="")
        .exclude(config_digest__in=survivors.values("config_digest"))
        .values("config_digest")
        .annotate(blob_size=Max("config_size"))
        .values_list("config_digest", "blob_size")
    )
    blobs = dict(layers.order_by())
    blobs.update(dict(configs.order_by()))
    return sum(blobs.values())


def _tags(names: list[str]) -> str:
    return "tag" if len(names) == 1 else "tags"


def _list(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(names[:limit])
    more = len(names) - limit
    return f"{shown} and {more} more" if more > 0 else shown
