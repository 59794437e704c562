"""Removing one tag while keeping the image that other tags share.

`DELETE /v2/<name>/manifests/<digest>` would remove every tag on the digest. To
remove just one:

- distribution 3.x, OCI registries and GitLab's registry untag on
  `DELETE …/manifests/<tag>` (202). GitLab's own `DELETE …/tags/reference/<tag>`
  does the same; it was deprecated in GitLab 16.4 in favour of the OCI endpoint
  and removed in 17.0 (gitlab-org/container-registry#1094), so it is not used;
- distribution 2.8 refuses that (400 DIGEST_INVALID). There the tag is pointed
  at a tiny placeholder manifest of its own (unique to this tag), and the
  placeholder is deleted by digest: only this tag goes, the image stays. This
  needs push and delete rights (regclient's `tag delete` does the same). A run
  untags several tags at once; on this path those of one repository go one at a
  time, since 2.8 answered 500 to placeholder deletes made at once.

The first untag of a run finds out which way the registry takes; `Untagger`
remembers it for the rest. Either way the tag is HEAD-checked just before the
request that removes it: a tag re-pushed meanwhile is left alone.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass

from registry.client import RegistryClient, errors
from registry.client.manifests import compute_digest
from registry.client.media_types import OCI_CONFIG, OCI_MANIFEST

PLACEHOLDER_ANNOTATION = "org.registry-janitor.placeholder"
# One empty config, shared by every placeholder of a repository.
PLACEHOLDER_CONFIG = json.dumps(
    {
        "architecture": "none",
        "os": "none",
        "config": {"Labels": {PLACEHOLDER_ANNOTATION: "true"}},
        "rootfs": {"type": "layers", "diff_ids": []},
    },
    sort_keys=True,
).encode()


def needs_push_message(repository: str, error: errors.RegistryError) -> str:
    return (
        f"This registry cannot remove a single tag directly, so untagging {repository} needs "
        f"push rights as well as delete rights (a placeholder image replaces the tag, then "
        f"is deleted). The registry said: {error.message}"
    )


def placeholder_left_message(tag: str, digest: str, error: errors.RegistryError) -> str:
    return (
        f"The tag {tag} now points at an empty placeholder ({digest}); the image it "
        f"pointed at is untouched. Deleting the placeholder failed: {error.message}"
    )


class PushRightsMissing(errors.AccessDenied):
    """Untagging on this registry needs push rights the credentials lack."""


class TagMoved(Exception):
    """The tag no longer points at the digest we were to untag: leave it alone."""


@dataclass(frozen=True)
class Untagged:
    http_status: int
    placeholder_digest: str = ""


class Untagger:
    """Untags on one registry; thread-safe (one per batch run)."""

    def __init__(self, client: RegistryClient) -> None:
        self.client = client
        self._tag_delete_works: bool | None = None
        self._configs_uploaded: set[str] = set()
        self._repository_locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def untag(self, *, repository: str, tag: str, digest: str) -> Untagged:
        """Remove `repository:tag`, which must still point at `digest`.

        Raises TagMoved, PushRightsMissing, or the registry's error.
        """
        if self._tag_delete_works is not False:
            self._check_still_at(repository=repository, tag=tag, digest=digest)
            try:
                self.client.delete_tag(repository, tag)
            except errors.UnexpectedStatus as exc:
                if exc.status != 400:
                    raise
                self._tag_delete_works = False  # distribution 2.8: DIGEST_INVALID
            else:
                self._tag_delete_works = True
                return Untagged(http_status=202)
        return self._untag_with_placeholder(repository=repository, tag=tag, digest=digest)

    def delete_by_tag(self, *, repository: str, tag: str, digest: str) -> None:
        """Remove `repository:tag` by name, where the registry deletes tags (GitLab's, since
        16.4: its protected-tag rules refuse deletes by digest). Raises TagMoved."""
        self._check_still_at(repository=repository, tag=tag, digest=digest)
        self.client.delete_tag(repository, tag)

    def _untag_with_placeholder(self, *, repository: str, tag: str, digest: str) -> Untagged:
        # One at a time per repository: distribution 2.8 on its filesystem storage answered
        # 500 to placeholder deletes made at once in one repository (seen in this suite).
        with self._repository_lock(repository):
            return self._replace_with_placeholder(repository=repository, tag=tag, digest=digest)

    def _replace_with_placeholder(self, *, repository: str, tag: str, digest: str) -> Untagged:
        self._ensure_config(repository)
        self._check_still_at(repository=repository, tag=tag, digest=digest)
        body = placeholder_manifest(repository=repository, tag=tag)
        try:
            placeholder = self.client.put_manifest(repository, tag, body, OCI_MANIFEST)
        except (errors.AccessDenied, errors.AuthenticationFailed) as exc:
            raise PushRightsMissing(
                needs_push_message(repository, exc), status=exc.status, code=exc.code
            ) from exc
        try:
            self.client.delete_manifest(repository, placeholder)
        except errors.RegistryError as exc:
            exc.message = placeholder_left_message(tag, placeholder, exc)
            raise
        return Untagged(http_status=202, placeholder_digest=placeholder)

    def _check_still_at(self, *, repository: str, tag: str, digest: str) -> None:
        """Just before the request that removes it: a tag re-pushed since the re-check
        points at an image nobody previewed, and is not ours to touch."""
        if self.client.head_manifest(repository, tag).digest != digest:
            raise TagMoved

    def _ensure_config(self, repository: str) -> None:
        """Upload the placeholders' config once per repository (under its lock)."""
        if repository in self._configs_uploaded:
            return
        try:
            self.client.upload_blob(repository, PLACEHOLDER_CONFIG)
        except (errors.AccessDenied, errors.AuthenticationFailed) as exc:
            raise PushRightsMissing(
                needs_push_message(repository, exc), status=exc.status, code=exc.code
            ) from exc
        self._configs_uploaded.add(repository)

    def _repository_lock(self, repository: str) -> threading.Lock:
        with self._lock:
            return self._repository_locks.setdefault(repository, threading.Lock())


def placeholder_manifest(*, repository: str, tag: str) -> bytes:
    """An OCI manifest with no layers, unique to this tag and moment (its own digest)."""
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": OCI_CONFIG,
                "digest": compute_digest(PLACEHOLDER_CONFIG),
                "size": len(PLACEHOLDER_CONFIG),
            },
            "layers": [],
            "annotations": {
                PLACEHOLDER_ANNOTATION: f"untagging {repository}:{tag}",
                "org.registry-janitor.nonce": uuid.uuid4().hex,
            },
        },
        sort_keys=True,
    ).encode()
