"""Typed registry errors. Each carries a message a team lead can act on."""

from __future__ import annotations


class RegistryError(Exception):
    """Something the registry did (or did not do) that stops one request.

    `message` is plain words for people; `code` is the registry's own error code
    (`MANIFEST_UNKNOWN`, `DENIED`, …) when it sent one; `status` the HTTP status.
    """

    def __init__(
        self, message: str, *, status: int | None = None, code: str = "", retries: int = 0
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        # How many times the request was sent again before this answer: a 404 to a DELETE
        # that was retried may answer our own first attempt, whose answer was lost.
        self.retries = retries

    def __str__(self) -> str:
        return self.message


class RegistryUnreachable(RegistryError):
    """No HTTP answer at all: DNS, refused, reset, timeout, TLS."""


class AuthenticationFailed(RegistryError):
    """401: the credentials were refused (or are missing)."""


class AccessDenied(RegistryError):
    """403 / DENIED, or a 401 after a token that lacks the action."""


class NotFound(RegistryError):
    """404: MANIFEST_UNKNOWN, NAME_UNKNOWN, BLOB_UNKNOWN."""


class RateLimited(RegistryError):
    """429 TOOMANYREQUESTS, still refused after the retries."""


class ServerError(RegistryError):
    """5xx, still failing after the retries."""


class DeleteDisabled(RegistryError):
    """405 UNSUPPORTED: the registry runs with deletion disabled."""


class InvalidResponse(RegistryError):
    """The registry answered, but with something we cannot trust: bad JSON, wrong digest."""


class UnsupportedMediaType(InvalidResponse):
    """A manifest type we do not understand (we never guess at what to delete)."""


class UnexpectedStatus(RegistryError):
    """Any other status the protocol does not give a meaning to here."""
