"""Where a registry's sync stands, as the dashboard says it.

A requested sync (`registry.enqueue.start_sync`) leaves no row until a worker
starts it (the models stay as the sync wrote them): the page that asked keeps the id
of the newest SyncRun it knew and the time it asked, and passes both to every poll.
A sync is in progress while
its registry's lock (`sync_lock_token`) is live; the running SyncRun carries the
progress. A "running" SyncRun with no live lock belongs to a worker that died.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from .models import Registry, SyncRun

# How long "Sync requested…" waits for a worker before saying that none came.
START_PATIENCE = timedelta(minutes=5)

SYNC_REQUESTED_MESSAGE = "Sync of {name} requested."
ALREADY_RUNNING_MESSAGE = "A sync of {name} is already running; no second one was started."
NOT_PICKED_UP_MESSAGE = (
    "No worker has started the sync requested at {time} UTC. "
    "Is the Celery worker running? The sync runs once a worker picks it up."
)
ABANDONED_MESSAGE = "This sync did not finish: its worker stopped before the end."


@dataclass(frozen=True)
class SyncRequest:
    """What a page knew when it asked for a sync: the newest run then, and the time."""

    after_run_id: int
    at: datetime

    @property
    def timestamp(self) -> int:
        return int(self.at.timestamp())

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> SyncRequest | None:
        """From a poll's query string (`after`, `requested`); None when absent or malformed."""
        try:
            after = int(query["after"])
            at = datetime.fromtimestamp(int(query["requested"]), tz=UTC)
        except (KeyError, ValueError, OverflowError, OSError):
            return None
        return cls(after_run_id=after, at=at)


class Phase(enum.StrEnum):
    REQUESTED = "requested"  # asked, no worker has started it yet
    STARTING = "starting"  # the lock is taken, the run's progress not written yet
    RUNNING = "running"
    IDLE = "idle"


@dataclass(frozen=True)
class SyncState:
    registry: Registry
    phase: Phase
    current: SyncRun | None  # the run in progress
    last: SyncRun | None  # the newest run that is not in progress
    request: SyncRequest | None = None
    not_picked_up: bool = False  # asked, but no worker came within START_PATIENCE

    @property
    def polling(self) -> bool:
        return self.phase is not Phase.IDLE

    @property
    def last_abandoned(self) -> bool:
        return self.last is not None and self.last.status == SyncRun.Status.RUNNING

    @property
    def error(self) -> str:
        """What stopped the last run, with any credentials taken out."""
        return without_credentials(self.last.error, url=self.registry.url) if self.last else ""

    @property
    def repository_errors(self) -> list[dict[str, str]]:
        if self.last is None:
            return []
        return [
            {
                "repository": str(failure.get("repository", "")),
                "error": without_credentials(str(failure.get("error", "")), url=self.registry.url),
            }
            for failure in self.last.repository_errors
            if isinstance(failure, dict)
        ]

    @property
    def abandoned_message(self) -> str:
        return ABANDONED_MESSAGE if self.last_abandoned else ""

    @property
    def not_picked_up_message(self) -> str:
        if not (self.not_picked_up and self.request):
            return ""
        return NOT_PICKED_UP_MESSAGE.format(time=f"{self.request.at:%H:%M}")


# The user:password@ of any URL (scheme://user:password@host); not image@digest references.
_URL_USERINFO = re.compile(r"(?<=://)[^\s/@]+@")


def without_credentials(text: str, *, url: str) -> str:
    """`text` without credentials: error messages may quote the registry's URL or its host."""
    netloc = urlsplit(url).netloc
    if "@" in netloc:
        text = text.replace(netloc.rsplit("@", 1)[0] + "@", "")
    return _URL_USERINFO.sub("", text)


def lock_is_live(registry: Registry, *, now: datetime) -> bool:
    return (
        registry.sync_lock_token is not None
        and registry.sync_lock_expires_at is not None
        and registry.sync_lock_expires_at > now
    )


def sync_state_of(
    *,
    registry: Registry,
    latest: SyncRun | None,
    latest_finished: SyncRun | None,
    request: SyncRequest | None,
    now: datetime,
) -> SyncState:
    """The sync region's state from rows already loaded (no queries)."""
    if lock_is_live(registry, now=now):
        running = latest is not None and latest.status == SyncRun.Status.RUNNING
        return SyncState(
            registry=registry,
            phase=Phase.RUNNING if running else Phase.STARTING,
            current=latest if running else None,
            last=latest_finished,
            request=request,
        )
    started_since = latest is not None and request is not None and latest.pk > request.after_run_id
    if request is not None and not started_since:
        waiting = now - request.at < START_PATIENCE
        return SyncState(
            registry=registry,
            phase=Phase.REQUESTED if waiting else Phase.IDLE,
            current=None,
            last=latest,
            request=request,
            not_picked_up=not waiting,
        )
    return SyncState(registry=registry, phase=Phase.IDLE, current=None, last=latest)


def sync_state(
    *, registry: Registry, request: SyncRequest | None = None, now: datetime
) -> SyncState:
    """Load the registry's newest runs and say where its sync stands (1 or 2 queries).

    `registry` must be fresh from the database: its lock says whether a sync runs.
    """
    runs = SyncRun.objects.filter(registry=registry).order_by("-started_at", "-pk")
    latest = runs.first()
    latest_finished = latest
    if latest is not None and latest.status == SyncRun.Status.RUNNING:
        latest_finished = runs.exclude(status=SyncRun.Status.RUNNING).first()
    return sync_state_of(
        registry=registry,
        latest=latest,
        latest_finished=latest_finished,
        request=request,
        now=now,
    )


def newest_run_id(*, registry: Registry) -> int:
    run_id = (
        SyncRun.objects.filter(registry=registry)
        .order_by("-started_at", "-pk")
        .values_list("pk", flat=True)
        .first()
    )
    return run_id or 0
