"""Reading one delivery: distribution's envelope `{"events": [...]}` into plain events.

Distribution 2.8 sends `application/vnd.docker.distribution.events.v1+json`, 3.x
`…events.v2+json` with one event a POST; GitLab's registry uses the same envelope.
A delivery that is not such an envelope is refused whole (400: nothing is stored);
an event in it that lacks what the cache needs is skipped and counted.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from registry.client.transport import JANITOR_USER_AGENT_PREFIX
from registry.models import RegistryEvent

# Blob events (application/octet-stream) are left out by the registry's config
# (`ignore: {mediatypes: …}`); a manifest's media type is one of these or another
# registry's newer one, so any other type is kept and read as a manifest event.
BLOB_MEDIA_TYPES = frozenset({"application/octet-stream"})
MAX_EVENTS_PER_DELIVERY = 10_000
_FRACTION = re.compile(r"(\.\d{6})\d+")
ID_LENGTH = RegistryEvent._meta.get_field("event_id").max_length or 100
REPOSITORY_LENGTH = RegistryEvent._meta.get_field("repository").max_length or 255
TAG = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")
DIGEST = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{1,128}")

NOT_JSON_MESSAGE = "The body is not JSON."
NOT_AN_ENVELOPE_MESSAGE = 'The body is not a notification envelope: {"events": [...]}.'
TOO_MANY_EVENTS_MESSAGE = f"More than {MAX_EVENTS_PER_DELIVERY:,} events in one delivery."


class MalformedDelivery(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Event:
    id: str
    action: str  # a RegistryEvent.Action
    repository: str
    tag: str
    digest: str
    media_type: str
    timestamp: datetime
    user_agent: str
    actor: str

    @property
    def from_janitor(self) -> bool:
        """The janitor's own requests (sync HEADs, re-checks) are not anyone's pulls."""
        return self.user_agent.startswith(JANITOR_USER_AGENT_PREFIX)

    @property
    def is_blob(self) -> bool:
        return self.media_type in BLOB_MEDIA_TYPES


@dataclass(frozen=True)
class Delivery:
    events: list[Event]
    skipped: int  # events without the id, time, repository or target the cache needs


def read_delivery(body: bytes) -> Delivery:
    """The events in a POSTed body. Raises MalformedDelivery when it is no envelope."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise MalformedDelivery(NOT_JSON_MESSAGE) from None
    if isinstance(document, dict) and "events" not in document and "id" in document:
        document = {"events": [document]}  # a bare event, as some senders post
    if not isinstance(document, dict) or not isinstance(document.get("events"), list):
        raise MalformedDelivery(NOT_AN_ENVELOPE_MESSAGE)
    raw_events = document["events"]
    if len(raw_events) > MAX_EVENTS_PER_DELIVERY:
        raise MalformedDelivery(TOO_MANY_EVENTS_MESSAGE)
    events = [event for raw in raw_events if (event := read_event(raw)) is not None]
    return Delivery(events=events, skipped=len(raw_events) - len(events))


def read_event(raw: object) -> Event | None:
    """One event, or None when it lacks what the cache needs to act on it."""
    if not isinstance(raw, dict):
        return None
    target = _dict(raw.get("target"))
    request = _dict(raw.get("request"))
    event_id = _text(raw.get("id"))
    repository = _text(target.get("repository"))
    timestamp = parse_timestamp(raw.get("timestamp"))
    if not event_id or len(event_id) > ID_LENGTH or timestamp is None:
        return None
    if not repository or len(repository) > REPOSITORY_LENGTH:
        return None
    tag = _text(target.get("tag"))
    digest = _text(target.get("digest"))
    if tag and not TAG.fullmatch(tag):
        return None
    if digest and not DIGEST.fullmatch(digest):
        return None
    if not tag and not digest:
        return None
    action = _text(raw.get("action")).lower()
    known = {RegistryEvent.Action.PUSH, RegistryEvent.Action.PULL, RegistryEvent.Action.DELETE}
    return Event(
        id=event_id,
        action=action if action in known else RegistryEvent.Action.OTHER,
        repository=repository,
        tag=tag,
        digest=digest,
        media_type=_text(target.get("mediaType"))[:120],
        timestamp=timestamp,
        user_agent=_text(request.get("useragent")),
        actor=_text(_dict(raw.get("actor")).get("name"))[:255],
    )


def parse_timestamp(value: object) -> datetime | None:
    """RFC 3339 as Go writes it (nanoseconds, `Z`), in UTC; None when it is not one."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    text = _FRACTION.sub(r"\1", value.strip()).replace("Z", "+00:00").replace("z", "+00:00")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return moment.astimezone(UTC)


def _dict(value: object) -> dict[str, object]:
    return value if isinstance(value, dict) else {}


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""
