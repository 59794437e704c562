"""The requests a batch makes: one operation (a delete, or an untag) at a time.

Deleting is irreversible and its answer can be lost on the way back (a connection
cut, a gateway's 5xx after the registry acted). Nothing is recorded after a lost
answer until the registry has been asked again what is true.
"""

from __future__ import annotations

from dataclasses import dataclass

from registry.client import RegistryClient, errors
from registry.models import DeletionItem

from .outcomes import (
    ALREADY_ABSENT,
    CHANGED_SINCE_PREVIEW,
    DELETED_ANSWER_LOST,
    DELETED_BEFORE_RESTART,
    REGISTRY_REFUSAL_CODES,
    UNTAGGED_ANSWER_LOST,
    Result,
    outcome_unknown_note,
    refused_by_registry_note,
)
from .untagging import TagMoved, Untagger

Outcome = DeletionItem.Outcome


@dataclass
class Operation:
    """One request (or pair, for a placeholder untag) and the items it settles."""

    # "delete" (the manifest, by digest), "delete_tag" (one tag by name, where the registry
    # deletes that way: GitLab's), or "untag" (one tag, the image stays)
    kind: str
    repository: str
    digest: str
    items: list[DeletionItem]
    note: str = ""


class Requests:
    """Sends operations to one registry; thread-safe (one per batch run)."""

    def __init__(self, client: RegistryClient) -> None:
        self.client = client
        self.untagger = Untagger(client)

    def act(self, operation: Operation) -> Result:
        try:
            return self._request(operation)
        except (errors.RegistryUnreachable, errors.ServerError) as exc:
            return self._after_lost_answer(operation, exc)
        except errors.RegistryError as exc:
            if exc.code in REGISTRY_REFUSAL_CODES:  # a protected tag, on GitLab
                return Result(
                    Outcome.REFUSED, refused_by_registry_note(exc.code, exc.message), exc.status
                )
            raise

    def _request(self, operation: Operation) -> Result:
        if operation.kind in ("delete", "delete_tag"):
            item = operation.items[0]
            try:
                if operation.kind == "delete":
                    self.client.delete_manifest(operation.repository, operation.digest)
                else:
                    self.untagger.delete_by_tag(
                        repository=operation.repository, tag=item.tag, digest=operation.digest
                    )
            except TagMoved:
                return Result(Outcome.SKIPPED, CHANGED_SINCE_PREVIEW)
            except errors.NotFound as exc:
                # Gone between the re-check and now: by an earlier attempt of ours whose
                # answer was lost (a retried 5xx, or a run that was killed), else by someone.
                if exc.retries:
                    return Result(Outcome.DELETED, DELETED_ANSWER_LOST, 404)
                if any(item.attempted_at for item in operation.items):
                    return Result(Outcome.DELETED, DELETED_BEFORE_RESTART, 404)
                return Result(Outcome.ABSENT, ALREADY_ABSENT, 404)
            return Result(Outcome.DELETED, http_status=202)
        item = operation.items[0]
        try:
            untagged = self.untagger.untag(
                repository=operation.repository, tag=item.tag, digest=operation.digest
            )
        except TagMoved:
            return Result(Outcome.SKIPPED, CHANGED_SINCE_PREVIEW)
        except errors.NotFound:
            return Result(Outcome.ABSENT, ALREADY_ABSENT, 404)
        return Result(Outcome.UNTAGGED, http_status=untagged.http_status)

    def _after_lost_answer(self, operation: Operation, error: errors.RegistryError) -> Result:
        """No answer came, or a 5xx (which a proxy may send after the registry acted): ask
        the registry what is true before recording anything."""
        deleting = operation.kind in ("delete", "delete_tag")
        reference = operation.digest if operation.kind == "delete" else operation.items[0].tag
        try:
            gone = self._is_gone(operation.repository, reference)
        except errors.RegistryError as check:
            note = outcome_unknown_note(error.message, check.message)
            silent = isinstance(error, errors.RegistryUnreachable) and isinstance(
                check, errors.RegistryUnreachable
            )
            return Result(Outcome.FAILED, note, error.status, registry_silent=silent)
        if not gone:
            return Result(Outcome.FAILED, error.message, error.status)
        if deleting:
            return Result(Outcome.DELETED, DELETED_ANSWER_LOST, error.status)
        return Result(Outcome.UNTAGGED, UNTAGGED_ANSWER_LOST, error.status)

    def _is_gone(self, repository: str, reference: str) -> bool:
        try:
            self.client.head_manifest(repository, reference)
        except errors.NotFound:
            return True
        return False
