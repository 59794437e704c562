"""The registry HTTP API v2, as this product uses it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any, TypeVar
from urllib.parse import quote

from requests.structures import CaseInsensitiveDict

from . import errors
from .manifests import (
    ImageConfig,
    ManifestDocument,
    ManifestHead,
    compute_digest,
    load_json,
    load_json_value,
    parse_image_config,
    parse_manifest,
    verify_digest,
)
from .media_types import MANIFEST_ACCEPT
from .tag_details import PAGE_SIZE as DETAILS_PAGE_SIZE
from .tag_details import TagDetail, parse_tag_details
from .transport import Transport

T = TypeVar("T")
R = TypeVar("R")

PAGE_SIZE = 1000  # distribution 2.8 refuses n > 1000 with PAGINATION_NUMBER_INVALID


class RegistryClient:
    """A client for one registry. Thread-safe; `map_concurrently` runs calls on a bounded pool."""

    def __init__(
        self,
        url: str,
        *,
        username: str = "",
        password: str = "",
        verify: bool | str = True,
        timeout: float = 15.0,
        max_retries: int = 4,
        concurrency: int = 8,
        max_response_bytes: int | None = None,
        sleep: Callable[[float], None] | None = None,
        credential_origins: list[str] | None = None,
    ) -> None:
        extra: dict[str, Any] = {"sleep": sleep} if sleep else {}
        if max_response_bytes:
            extra["max_response_bytes"] = max_response_bytes
        self.transport = Transport(
            url,
            username=username,
            password=password,
            verify=verify,
            timeout=timeout,
            max_retries=max_retries,
            pool_size=concurrency,
            credential_origins=credential_origins,
            **extra,
        )
        self.concurrency = concurrency
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        self.transport.close()

    @property
    def requests_made(self) -> int:
        return self.transport.requests_made

    # -- reading ---------------------------------------------------------------

    def check(self) -> CaseInsensitiveDict[str]:
        """GET /v2/: proves the registry answers the v2 API and accepts our credentials.

        Returns the answer's headers: registry.kinds tells GitLab's registry by them.
        """
        response = self.transport.request("GET", "/v2/", what="connecting to the registry")
        response.close()
        return response.headers

    def has_tag_details(self) -> bool:
        """GET /gitlab/v1/: 200 where GitLab's registry runs with its metadata database,
        404 where it does not (docs/spec/gitlab/api.md, "Compliance check")."""
        what = "asking the registry for GitLab's tag list API"
        try:
            self.transport.request("GET", "/gitlab/v1/", what=what).close()
        except (errors.NotFound, errors.UnexpectedStatus, errors.DeleteDisabled):
            return False
        return True

    def list_tag_details(self, repository: str) -> list[TagDetail]:
        """Every tag of `repository` with its digest, from GitLab's metadata database."""
        what = f"listing the tags of {repository} (GitLab API)"
        url: str | None = f"/gitlab/v1/repositories/{_path(repository)}/tags/list/"
        params: dict[str, int] | None = {"n": DETAILS_PAGE_SIZE}
        details: list[TagDetail] = []
        seen: set[str] = set()
        while url:
            response = self.transport.request("GET", url, what=what, params=params)
            document = load_json_value(response.content, what=what)
            details.extend(parse_tag_details(document, what=what))
            url = response.links.get("next", {}).get("url")
            params = None  # the Link URL carries its own query
            if url is None:
                break
            if url in seen:
                raise errors.InvalidResponse(f"The registry's pages loop back while {what}.")
            seen.add(url)
        return details

    def list_repositories(self) -> list[str]:
        return list(
            self._paged("/v2/_catalog", "repositories", what="reading the registry's catalog")
        )

    def list_tags(self, repository: str) -> list[str]:
        what = f"listing the tags of {repository}"
        return list(self._paged(f"/v2/{_path(repository)}/tags/list", "tags", what=what))

    def head_manifest(self, repository: str, reference: str) -> ManifestHead:
        what = f"checking {repository}:{reference}"
        response = self.transport.request(
            "HEAD",
            _manifest_path(repository, reference),
            what=what,
            headers={"Accept": MANIFEST_ACCEPT},
        )
        digest = response.headers.get("Docker-Content-Digest", "")
        if not digest:
            # Without the digest header a HEAD tells us nothing reliable.
            return self.get_manifest(repository, reference).head()
        return ManifestHead(
            digest=digest,
            media_type=_content_type(response.headers.get("Content-Type", "")),
            size=int(response.headers.get("Content-Length") or 0),
        )

    def get_manifest(self, repository: str, reference: str) -> ManifestDocument:
        what = f"reading the manifest of {repository}:{reference}"
        response = self.transport.request(
            "GET",
            _manifest_path(repository, reference),
            what=what,
            headers={"Accept": MANIFEST_ACCEPT},
        )
        body = response.content
        digest = response.headers.get("Docker-Content-Digest", "")
        if reference.startswith("sha256:") or reference.startswith("sha512:"):
            digest = digest or reference
            if digest != reference:
                raise errors.InvalidResponse(
                    f"The registry answered with digest {digest} for {reference} while {what}."
                )
        digest = digest or compute_digest(body)
        verify_digest(body, digest, what=what)
        return parse_manifest(
            body,
            digest=digest,
            content_type=response.headers.get("Content-Type", ""),
            what=what,
        )

    def get_image_config(self, repository: str, digest: str) -> ImageConfig:
        what = f"reading the image config {digest[:19]} of {repository}"
        response = self.transport.request("GET", _blob_path(repository, digest), what=what)
        verify_digest(response.content, digest, what=what)
        return parse_image_config(response.content, what=what)

    def map_concurrently(
        self, function: Callable[[T], R], items: Iterable[T]
    ) -> Iterator[tuple[T, R | None, errors.RegistryError | None]]:
        """Run `function` over `items` on the bounded pool, yielding in completion order.

        Registry errors are yielded, not raised, so one bad item does not stop the rest.
        """
        pool = self._get_pool()
        futures = {pool.submit(function, item): item for item in items}
        try:
            for future in as_completed(futures):
                item = futures[future]
                try:
                    yield item, future.result(), None
                except errors.RegistryError as exc:
                    yield item, None, exc
        finally:
            # A caller that stops early (on the first error) leaves no work queued behind.
            for future in futures:
                future.cancel()

    # -- writing (seeding, and untagging by placeholder) -------------------------

    def blob_exists(self, repository: str, digest: str) -> bool:
        what = f"checking blob {digest[:19]} of {repository}"
        try:
            self.transport.request("HEAD", _blob_path(repository, digest), what=what).close()
        except errors.NotFound:
            return False
        return True

    def upload_blob(self, repository: str, data: bytes, *, check_exists: bool = True) -> str:
        """Monolithic upload (POST then PUT ?digest=); skipped when the blob exists."""
        digest = compute_digest(data)
        if check_exists and self.blob_exists(repository, digest):
            return digest
        what = f"uploading a blob to {repository}"
        started = self.transport.request(
            "POST", f"/v2/{_path(repository)}/blobs/uploads/", what=what, ok=(202,)
        )
        location = started.headers["Location"]
        separator = "&" if "?" in location else "?"
        self.transport.request(
            "PUT",
            f"{location}{separator}digest={quote(digest)}",
            what=what,
            headers={"Content-Type": "application/octet-stream"},
            data=data,
            ok=(201,),
        ).close()
        return digest

    def put_manifest(self, repository: str, reference: str, body: bytes, media_type: str) -> str:
        what = f"pushing the manifest {repository}:{reference}"
        response = self.transport.request(
            "PUT",
            _manifest_path(repository, reference),
            what=what,
            headers={"Content-Type": media_type},
            data=body,
            ok=(201,),
        )
        return response.headers.get("Docker-Content-Digest") or compute_digest(body)

    def delete_manifest(self, repository: str, digest: str) -> None:
        """DELETE by digest: on every registry this removes all tags that point at it."""
        what = f"deleting {repository}@{digest}"
        self.transport.request(
            "DELETE", _manifest_path(repository, digest), what=what, ok=(202, 200)
        ).close()

    def delete_tag(self, repository: str, tag: str) -> None:
        """DELETE by tag: distribution 3.x and OCI registries untag (202).

        Distribution 2.8 answers 400 DIGEST_INVALID; see registry.deletion.untagging.
        """
        what = f"removing the tag {repository}:{tag}"
        self.transport.request(
            "DELETE", _manifest_path(repository, tag), what=what, ok=(202, 200)
        ).close()

    # -- helpers ---------------------------------------------------------------

    def _paged(self, path: str, key: str, *, what: str) -> Iterator[str]:
        """Follow `Link: <…>; rel="next"` until the last page."""
        url: str | None = path
        params: dict[str, int] | None = {"n": PAGE_SIZE}
        seen_pages = set()
        while url:
            response = self.transport.request("GET", url, what=what, params=params)
            document = load_json(response.content, what=what)
            items = document.get(key) or []
            if not isinstance(items, list):
                raise errors.InvalidResponse(f"The registry sent a malformed list while {what}.")
            yield from (str(item) for item in items)
            url = response.links.get("next", {}).get("url")
            params = None  # the Link URL carries its own query
            if url in seen_pages:
                raise errors.InvalidResponse(f"The registry's pages loop back while {what}.")
            seen_pages.add(url)

    def _get_pool(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=self.concurrency, thread_name_prefix="registry"
                )
            return self._pool


def _path(repository: str) -> str:
    return quote(repository, safe="/")


def _manifest_path(repository: str, reference: str) -> str:
    return f"/v2/{_path(repository)}/manifests/{quote(reference, safe=':')}"


def _blob_path(repository: str, digest: str) -> str:
    return f"/v2/{_path(repository)}/blobs/{quote(digest, safe=':')}"


def _content_type(value: str) -> str:
    return value.split(";")[0].strip()
