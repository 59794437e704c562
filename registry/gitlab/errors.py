"""Typed GitLab errors, each with a message a team lead can act on."""

from __future__ import annotations


class GitLabError(Exception):
    """Something GitLab did (or did not do) that stops one request.

    `message` is plain words; `status` the HTTP status, when there was one.
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status

    def __str__(self) -> str:
        return self.message


class GitLabUnreachable(GitLabError):
    """No HTTP answer: DNS, refused, reset, timeout, TLS."""


class GitLabTokenRefused(GitLabError):
    """401: the token is wrong, expired or revoked."""


class GitLabForbidden(GitLabError):
    """403: the token works, but lacks a scope or a role. `scope` names the scope GitLab
    asked for, when it said (insufficient_scope)."""

    def __init__(self, message: str, *, status: int | None = 403, scope: str = "") -> None:
        super().__init__(message, status=status)
        self.scope = scope


class GitLabNotFound(GitLabError):
    """404: no such group, project, or nothing this token may see."""


class GitLabRateLimited(GitLabError):
    """429, still refused after waiting as GitLab asked."""


class GitLabServerError(GitLabError):
    """5xx, still failing after the retries."""


class GitLabInvalidResponse(GitLabError):
    """GitLab answered with something we cannot use: bad JSON, pages that loop, too much."""
