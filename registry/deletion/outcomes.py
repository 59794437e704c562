"""What came of each item of a running batch, in plain words, and how it is saved."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from django.utils import timezone

from registry.models import DeletionItem

Outcome = DeletionItem.Outcome

# Outcomes are saved together (one UPDATE per kind of outcome) every this many items,
# or this often, whichever comes first: the progress page stays live, and a crash
# loses little (the items stay marked attempted; see `registry.deletion.run`).
SAVE_EVERY_ITEMS = 20
SAVE_EVERY_SECONDS = 0.5

CHANGED_SINCE_PREVIEW = "Skipped: the tag was pushed again since the preview (digest changed)."
DELETED_BEFORE_RESTART = "Deleted (confirmed after the worker restarted)."
ALREADY_ABSENT = "Already absent: the tag was no longer in the registry."
SUBJECT_KEPT = "Skipped: the image it belongs to was not deleted."
DELETED_ANSWER_LOST = (
    "Deleted: the registry's answer was lost, and asking it again found the image gone."
)
UNTAGGED_ANSWER_LOST = (
    "Untagged: the registry's answer was lost, and asking it again found the tag gone."
)
# After this many requests in a row that reached no registry, the batch stops.
SILENT_IN_A_ROW_LIMIT = 3
REGISTRY_SILENT_MESSAGE = (
    f"The registry stopped answering ({SILENT_IN_A_ROW_LIMIT} requests in a row could not "
    "reach it), so the batch stopped instead of trying every tag. Check that the registry "
    "is running, then plan the rest again."
)


# GitLab's registry refuses to delete a protected or immutable tag, or a manifest that a
# protected tag holds, with these codes (REGISTRY_NOTES "Deleting"): the item is refused,
# with GitLab's reason, and the batch goes on.
REGISTRY_REFUSAL_CODES = frozenset({"PROTECTED_TAG", "IMMUTABLE_TAG", "PROTECTED_MANIFEST"})


def refused_by_registry_note(code: str, message: str) -> str:
    return f"Refused by the registry ({code}): {message}"


def stopped_note(message: str) -> str:
    return f"Not attempted: the batch stopped. {message}"


def recheck_failed_note(repository: str, message: str) -> str:
    return (
        f"Could not re-check {repository} before deleting, so nothing in it was deleted: {message}"
    )


def recheck_failed_midway_note(repository: str, message: str) -> str:
    return (
        f"Not attempted: {repository} could not be read again before this part of the "
        f"batch, so the rest of it was left as it is: {message}"
    )


def outcome_unknown_note(message: str, check_message: str) -> str:
    return (
        f"Not known whether this was removed: the registry's answer was lost ({message}) "
        f"and asking it again failed too ({check_message}). Look at the registry before "
        "planning it again."
    )


def unchecked_note(message: str) -> str:
    return (
        "Not known whether this was removed: its request may have gone out before the batch "
        f"stopped, and the registry could not be asked again: {message}"
    )


def now_protected_note(names: list[str]) -> str:
    return f"Skipped: the digest now carries the protected tag {', '.join(names)}."


def downgraded_note(names: list[str]) -> str:
    return (
        f"Untagged only: since the preview the digest also carries {', '.join(sorted(names))}, "
        "which stays."
    )


@dataclass
class Result:
    """What happened to one item (or the items one request settles)."""

    outcome: str
    detail: str = ""
    http_status: int | None = None
    # Neither the request nor the check after it reached the registry.
    registry_silent: bool = False


def absent_result(item: DeletionItem) -> Result:
    """A pending tag that is gone: ours, if its request went out before a crash."""
    if item.attempted_at is None:
        return Result(Outcome.ABSENT, ALREADY_ABSENT)
    if item.action == DeletionItem.Action.DELETE:
        return Result(Outcome.DELETED, DELETED_BEFORE_RESTART)
    return Result(Outcome.UNTAGGED, DELETED_BEFORE_RESTART)


class OutcomeBuffer:
    """Outcomes waiting to be saved, grouped so that alike ones take one UPDATE.

    `on_save` runs after each save (the run renews its lease there: a slow registry
    must not make a live batch look abandoned).
    """

    def __init__(self, on_save: Callable[[], None] | None = None) -> None:
        self._ids: dict[tuple[str, str, int | None], list[int]] = defaultdict(list)
        self._count = 0
        self._saved_at = time.monotonic()
        self._on_save = on_save

    def due(self) -> bool:
        waited = time.monotonic() - self._saved_at
        return self._count >= SAVE_EVERY_ITEMS or waited >= SAVE_EVERY_SECONDS

    def add(self, items: list[DeletionItem], result: Result) -> None:
        key = (result.outcome, result.detail, result.http_status)
        self._ids[key].extend(item.pk for item in items)
        self._count += len(items)

    def save(self) -> None:
        now = timezone.now()
        for (outcome, detail, http_status), ids in self._ids.items():
            DeletionItem.objects.filter(pk__in=ids).update(
                outcome=outcome, detail=detail, http_status=http_status, finished_at=now
            )
        saved = bool(self._ids)
        self._ids.clear()
        self._count = 0
        self._saved_at = time.monotonic()
        if saved and self._on_save is not None:
            self._on_save()
