"""A fault proxy in front of the real 2.8 registry that answers as GitLab's registry does.

distribution 2.8 refuses `DELETE /v2/<name>/manifests/<tag>` (400 DIGEST_INVALID) and
has no `/gitlab/v1/`; GitLab's registry has both. `GitLabRegistryPlay` plays, on top of
the real registry (which still checks every token):

- `/v2/`'s headers `Gitlab-Container-Registry-Version`, `-Features`, `-Database-Enabled`
  (gitlab-org/container-registry `registry/handlers/api_base.go`);
- a tag delete that removes just that tag, 202 (docs/spec/docker/v2/api.md, "Deleting
  a tag", GitLab 16.4+), done on the real registry by a placeholder and a digest delete;
  a tag matching a protection rule answers 403 `PROTECTED_TAG`, and a digest delete
  403 `PROTECTED_MANIFEST` while rules exist
  (doc/user/packages/container_registry/protected_container_tags.md);
- with `database=True`, `GET /gitlab/v1/` 200 and the tag list
  `/gitlab/v1/repositories/<path>/tags/list/` paged by `n`/`last` with `Link`, each tag
  with `name, digest, config_digest, media_type, size_bytes, created_at, published_at`
  (docs/spec/gitlab/api.md, "List Repository Tags"), read from the real registry with
  the caller's own token; without it, `/gitlab/v1/` answers 404.
"""

from __future__ import annotations

import http.client
import json
import re
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from registry.client import RegistryClient, errors
from registry.client.media_types import MANIFEST_ACCEPT
from registry.deletion.untagging import Untagger
from tests.support.fault_proxy import FaultProxy, ForwardAddingHeaders, Handle, distribution_error

VERSION = "v4.14.0-gitlab"
Answer = tuple[int, dict[str, str], bytes]
JSON = {"Content-Type": "application/json"}


class GitLabRegistryPlay:
    def __init__(
        self,
        proxy: FaultProxy,
        *,
        upstream: str,
        privileged: RegistryClient,
        database: bool = True,
        protected: tuple[str, ...] = (),
        page_size: int = 1000,
    ) -> None:
        self.proxy, self.upstream = proxy, urlsplit(upstream)
        self.untagger = Untagger(privileged)
        self.privileged = privileged
        self.database, self.protected = database, protected
        self.page_size = page_size  # below 1000, to make a short list span pages
        headers = {
            "Gitlab-Container-Registry-Version": VERSION,
            "Gitlab-Container-Registry-Features": "tag_delete",
            "Gitlab-Container-Registry-Database-Enabled": "true" if database else "false",
        }
        proxy.add_fault("GET", r"^/v2/$", ForwardAddingHeaders(headers))
        proxy.add_fault("DELETE", r"^/v2/.+/manifests/sha256:", Handle(self._delete_digest))
        proxy.add_fault("DELETE", r"^/v2/.+/manifests/", Handle(self._delete_tag))
        proxy.add_fault("GET", r"^/gitlab/v1/", Handle(self._gitlab_v1))

    # -- deleting ---------------------------------------------------------------------------

    def _delete_tag(
        self, method: str, path: str, headers: dict[str, str], body: bytes | None
    ) -> Answer | None:
        found = re.match(r"^/v2/(.+)/manifests/([^/?]+)", path)
        assert found, path
        name, tag = found.groups()
        status, answer_headers, answer = self._upstream("DELETE", path, headers)
        if status in (401, 403):
            return status, answer_headers, answer  # the real registry checked the token
        if any(re.search(p, tag) for p in self.protected):
            return 403, JSON, distribution_error("PROTECTED_TAG", f"tag {tag} is protected")
        try:
            digest = self.privileged.head_manifest(name, tag).digest
        except errors.NotFound:
            return 404, JSON, distribution_error("MANIFEST_UNKNOWN", "manifest unknown")
        self.untagger.untag(repository=name, tag=tag, digest=digest)
        return 202, {}, b""

    def _delete_digest(
        self, method: str, path: str, headers: dict[str, str], body: bytes | None
    ) -> Answer | None:
        if self.protected:
            return (
                403,
                JSON,
                distribution_error(
                    "PROTECTED_MANIFEST",
                    "deleting a manifest is refused while tag protection rules exist",
                ),
            )
        return None

    # -- /gitlab/v1/ ---------------------------------------------------------------------------

    def _gitlab_v1(
        self, method: str, path: str, headers: dict[str, str], body: bytes | None
    ) -> Answer | None:
        url = urlsplit(path)
        if not self.database:
            return 404, JSON, distribution_error("NOT_FOUND", "the metadata database is disabled")
        if url.path == "/gitlab/v1/":
            status, answer_headers, answer = self._upstream("GET", "/v2/", headers)
            return (200, {}, b"") if status == 200 else (status, answer_headers, answer)
        match = re.match(r"^/gitlab/v1/repositories/(.+)/tags/list(/?)$", url.path)
        if match is None:
            return 404, JSON, distribution_error("NOT_FOUND", "not found")
        name, slash = match.groups()
        if not slash:  # "Strict Slash": 301 to the same path with the slash
            return 301, {"Location": f"{url.path}/?{url.query}"}, b""
        status, answer_headers, answer = self._upstream("GET", f"/v2/{name}/tags/list", headers)
        if status != 200:
            return status, answer_headers, answer
        query = parse_qs(url.query)
        n = int(query.get("n", ["100"])[0])
        if not 1 <= n <= 1000:
            return 400, JSON, distribution_error("INVALID_QUERY_PARAMETER_VALUE", "n")
        last = query.get("last", [""])[0]
        names = sorted(t for t in json.loads(answer).get("tags") or [] if t > last)
        n = min(n, self.page_size)
        page, more = names[:n], len(names) > n
        rows = [self._tag_row(name, tag, headers) for tag in page]
        link = {}
        if more:
            next_url = (
                f"/gitlab/v1/repositories/{name}/tags/list/?{urlencode({'n': n, 'last': page[-1]})}"
            )
            link = {"Link": f'<{next_url}>; rel="next"'}
        return 200, {**JSON, **link}, json.dumps(rows).encode()

    def _tag_row(self, name: str, tag: str, headers: dict[str, str]) -> dict[str, object]:
        _, answer_headers, body = self._upstream(
            "GET", f"/v2/{name}/manifests/{quote(tag)}", {**headers, "Accept": MANIFEST_ACCEPT}
        )
        manifest = json.loads(body)
        config = manifest.get("config") or {}
        size = sum(layer.get("size", 0) for layer in manifest.get("layers") or [])
        return {
            "name": tag,
            "digest": answer_headers.get("Docker-Content-Digest", ""),
            "config_digest": config.get("digest", ""),
            "media_type": manifest.get("mediaType", ""),
            "size_bytes": size,
            "created_at": "2026-01-01T00:00:00.000Z",
            "published_at": "2026-01-01T00:00:00.000Z",
        }

    def _upstream(self, method: str, path: str, headers: dict[str, str]) -> Answer:
        connection = http.client.HTTPConnection(self.upstream.netloc, timeout=30)
        try:
            sent = {k: v for k, v in headers.items() if k.lower() in ("authorization", "accept")}
            connection.request(method, path, headers=sent)
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()
