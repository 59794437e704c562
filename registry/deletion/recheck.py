"""Deciding a running batch's items again, against what the registry holds now.

The plan was decided from the cache; just before acting, `registry.deletion.run` reads
each repository again (`registry.deletion.live`) and asks here what becomes of its
pending items: settled already (the tag is gone, moved, or a protected tag now holds
its digest), or the requests to make (`Operation`s: the manifest, tag by tag on
GitLab, or an untag when something outside the plan now shares the digest). Before
each further chunk of requests, the chunk's deletes are decided again the same way.

Both go through the one rule, `decide_digest`. Nothing here reads the registry or
saves anything: the run does both.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from registry.models import DeletionItem

from .decision import DigestAction, decide_digest
from .live import LiveRepository, ProtectionCheck
from .outcomes import (
    CHANGED_SINCE_PREVIEW,
    Result,
    absent_result,
    downgraded_note,
    now_protected_note,
)
from .requests import Operation

Outcome = DeletionItem.Outcome
Action = DeletionItem.Action


@dataclass
class Decided:
    """A repository's pending items, decided: settled already, or requests to make."""

    settled: list[tuple[list[DeletionItem], Result]] = field(default_factory=list)
    operations: list[Operation] = field(default_factory=list)

    def settle(self, items: list[DeletionItem], result: Result) -> None:
        self.settled.append((items, result))


@dataclass(frozen=True)
class Recheck:
    """One repository's items decided again against `live`, what the registry holds now.

    `planned`: every tag the batch plans to remove from the repository. With
    `deletes_by_tag` (GitLab), a manifest delete goes tag by tag.
    """

    repository: str
    live: LiveRepository
    planned: set[str]
    is_protected: ProtectionCheck
    deletes_by_tag: bool

    def items(self, items: list[DeletionItem]) -> Decided:
        """Each pending item against what the registry holds now (nothing is saved here)."""
        decided = Decided()
        by_digest: dict[str, list[DeletionItem]] = defaultdict(list)
        for item in items:
            now_at = self.live.tags.get(item.tag)
            if now_at is None:
                decided.settle([item], absent_result(item))
            elif now_at != item.digest:
                decided.settle([item], Result(Outcome.SKIPPED, CHANGED_SINCE_PREVIEW))
            else:
                by_digest[item.digest].append(item)
        for digest, group in by_digest.items():
            self._digest(digest, group, into=decided)
        return decided

    def chunk(self, chunk: list[Operation]) -> Decided:
        """Each manifest delete of `chunk` decided again against `live`, just read again
        (see `read_changes`); untags go as they are."""
        decided = Decided()
        tag_deletes: dict[str, list[DeletionItem]] = defaultdict(list)
        for operation in chunk:
            if operation.kind == "delete":
                self._digest(operation.digest, operation.items, into=decided)
            elif operation.kind == "delete_tag":
                tag_deletes[operation.digest] += operation.items
            else:
                decided.operations.append(operation)  # the untagger checks its tag itself
        for digest, items in tag_deletes.items():
            self._digest(digest, items, into=decided, whole_plan=True)
        return decided

    def _digest(
        self, digest: str, group: list[DeletionItem], *, into: Decided, whole_plan: bool = False
    ) -> None:
        """The requests that remove `group` (the pending tags on `digest`), as `live`
        stands: the manifest when nothing else holds it, else each tag alone; none when a
        protected tag now holds it (the group is skipped). With `whole_plan`, every tag
        the batch plans counts as going (a GitLab delete's tags, re-checked chunk by
        chunk)."""
        repository = self.repository
        deleting = all(item.action == Action.DELETE for item in group)
        decision = decide_digest(
            planned=self.planned if whole_plan else [item.tag for item in group],
            holders=self.live.digest_holders(digest, is_protected=self.is_protected),
            may_delete=deleting,
        )
        if decision.action == DigestAction.PROTECTED:
            protected = now_protected_note(list(decision.protected))
            into.settle(group, Result(Outcome.SKIPPED, protected))
        elif decision.action == DigestAction.DELETE and self.deletes_by_tag:
            into.operations += [Operation("delete_tag", repository, digest, [i]) for i in group]
        elif decision.action == DigestAction.DELETE:
            into.operations.append(Operation("delete", repository, digest, group))
        else:
            unplanned = sorted(set(decision.others) - self.planned)
            note = downgraded_note(unplanned) if deleting and unplanned else ""
            into.operations += [
                Operation("untag", repository, digest, [item], note=note) for item in group
            ]
