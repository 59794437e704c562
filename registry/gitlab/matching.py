"""Tying an image to its commit, branch, merge request and environment. Pure: no
database, no HTTP; `registry.gitlab.ties` loads the facts and stores the result.

The commit, in this order:

1. the image config's `org.opencontainers.image.revision` label;
2. else a commit sha in the tag's name (40 hex digits, or 7 to 12 with a letter among
   them: a pipeline number is not a sha).

The branch: the one whose merge request lists the commit, or that had it as its head;
else the branch captured by the registry's branch pattern (`(?P<branch>…)`), compared
by CI_COMMIT_REF_SLUG with every branch and merge request source branch GitLab knows.
A commit or slug that fits two branches is *ambiguous*: the branch is unknown, never
guessed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

SLUG_LENGTH = 63
_NOT_SLUG = re.compile(r"[^a-z0-9]")
_FULL_SHA = re.compile(r"^[0-9a-f]{40}$")
# A sha standing alone in a tag: delimited by anything but a letter or digit.
_SHA_IN_TAG = re.compile(r"(?<![0-9a-zA-Z])([0-9a-f]{40}|[0-9a-f]{7,12})(?![0-9a-zA-Z])")
_HEX_SHA = re.compile(r"^[0-9a-f]{7,40}$")
MR_REF = re.compile(r"^refs/merge-requests/(?P<iid>[0-9]+)/(?:head|merge|train)$")


def ref_slug(name: str) -> str:
    """GitLab's CI_COMMIT_REF_SLUG: lower-cased, every character outside a-z0-9 a `-`,
    at most 63 bytes, no `-` at either end (doc/ci/variables/predefined_variables.md)."""
    return _NOT_SLUG.sub("-", name.lower())[:SLUG_LENGTH].strip("-")


def commit_in_tag(name: str) -> str:
    """The commit sha a tag's name carries, or ""."""
    for match in _SHA_IN_TAG.finditer(name):
        sha = match.group(1)
        if len(sha) == 40 or re.search(r"[a-f]", sha):
            return sha
    return ""


def plausible_sha(value: str) -> str:
    value = value.strip().lower()
    return value if _HEX_SHA.match(value) else ""


# -- the facts -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Branch:
    name: str
    exists: bool
    heads: tuple[str, ...]  # every head seen, the current one last
    deleted_at: datetime | None = None
    merged: bool = False


@dataclass(frozen=True)
class MergeRequest:
    id: int  # the row's
    iid: int
    state: str
    source_branch: str
    commits: frozenset[str]  # head included
    author_username: str = ""
    author_name: str = ""
    web_url: str = ""
    merged_at: datetime | None = None
    closed_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def is_finished(self) -> bool:
        return self.state in ("merged", "closed")

    @property
    def finished_at(self) -> datetime | None:
        when = self.merged_at if self.state == "merged" else self.closed_at
        return when or self.updated_at


@dataclass(frozen=True)
class Environment:
    id: int  # the row's
    name: str
    state: str
    last_ref: str
    last_sha: str

    @property
    def is_live(self) -> bool:
        return self.state in ("available", "stopping")


@dataclass
class ProjectFacts:
    """One project's context, indexed for matching."""

    id: int  # the GitLabProject row's
    path: str
    web_url: str
    fresh: bool
    refreshed_at: datetime | None
    first_refreshed_at: datetime | None
    branches: list[Branch] = field(default_factory=list)
    merge_requests: list[MergeRequest] = field(default_factory=list)
    environments: list[Environment] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._branch = {b.name: b for b in self.branches}
        self._heads: dict[str, set[str]] = {}
        for branch in self.branches:
            for sha in branch.heads:
                self._heads.setdefault(sha, set()).add(branch.name)
        self._mr_commits: dict[str, list[MergeRequest]] = {}
        self._mrs_of: dict[str, list[MergeRequest]] = {}
        for mr in self.merge_requests:
            self._mrs_of.setdefault(mr.source_branch, []).append(mr)
            for sha in mr.commits:
                self._mr_commits.setdefault(sha, []).append(mr)
        self._slugs: dict[str, set[str]] = {}
        for name in [*self._branch, *self._mrs_of]:
            self._slugs.setdefault(ref_slug(name), set()).add(name)
        self._known_shas = sorted(set(self._heads) | set(self._mr_commits))

    def branch(self, name: str) -> Branch | None:
        return self._branch.get(name)

    def full_sha(self, sha: str) -> str:
        """A short sha made whole, when exactly one known commit starts with it."""
        if _FULL_SHA.match(sha):
            return sha
        found = [known for known in self._known_shas if known.startswith(sha)]
        return found[0] if len(found) == 1 else sha

    def merge_requests_with(self, sha: str) -> list[MergeRequest]:
        return self._mr_commits.get(sha, [])

    def branches_headed_at(self, sha: str) -> set[str]:
        return self._heads.get(sha, set())

    def names_with_slug(self, slug: str) -> set[str]:
        return self._slugs.get(slug, set())

    def merge_requests_of(self, branch: str) -> list[MergeRequest]:
        return self._mrs_of.get(branch, [])

    def environment_running(self, sha: str) -> Environment | None:
        """The environment whose last deployment is this commit (a live one first)."""
        if not sha:
            return None
        running = [e for e in self.environments if e.last_sha and _same_commit(e.last_sha, sha)]
        return next((e for e in running if e.is_live), running[0] if running else None)

    def live_environment_of(
        self, branch: str, merge_requests: Iterable[MergeRequest]
    ) -> Environment | None:
        """A live environment last deployed from this branch (or its merge request's ref)."""
        iids = {str(mr.iid) for mr in merge_requests}
        for env in self.environments:
            if not env.is_live:
                continue
            ref = MR_REF.match(env.last_ref)
            if env.last_ref == branch or (ref and ref["iid"] in iids):
                return env
        return None


def _same_commit(a: str, b: str) -> bool:
    return a.startswith(b) or b.startswith(a)


# -- the tie ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tie:
    """What ties one image to GitLab, and the facts the rules judge it by."""

    project: ProjectFacts
    commit: str = ""
    commit_source: str = ""  # "revision", "tag" or ""
    branch: str = ""
    branch_source: str = ""  # "commit", "slug" or ""
    branch_state: str = "unknown"  # exists, deleted, missing, unknown
    ambiguous: bool = False
    merge_request: MergeRequest | None = None
    environment: Environment | None = None  # the one its commit was last deployed to
    branch_environment: Environment | None = None  # live, of its branch (commit unknown)
    in_use: bool = False

    @property
    def matched(self) -> bool:
        return bool(self.branch or self.merge_request or self.environment) and not self.ambiguous

    @property
    def gone(self) -> tuple[str, datetime | None] | None:
        """("merged" | "closed" | "deleted" | "missing", since when), or None while it lives."""
        if self.ambiguous:
            return None
        mr = self.merge_request
        if mr is not None and mr.is_finished:
            return mr.state, mr.finished_at
        if self.branch_state == "deleted":
            branch = self.project.branch(self.branch)
            return "deleted", branch.deleted_at if branch else None
        if self.branch_state == "missing":
            return "missing", self.project.first_refreshed_at
        return None


def tie_image(
    project: ProjectFacts,
    *,
    tag: str,
    revision: str,
    branch_capture: str | None,
    built_at: datetime,
) -> Tie:
    """Tie one image (a tag of one of `project`'s repositories) to the project's context.

    `branch_capture` is what the branch pattern's `branch` group captured from the tag
    (None when it did not match, or has no such group); `built_at` is when the image
    was made (or first seen): an image newer than its branch's finished merge request
    was not built for that request.
    """
    commit, commit_source = plausible_sha(revision), "revision"
    if not commit:
        commit, commit_source = commit_in_tag(tag), "tag"
    commit = project.full_sha(commit) if commit else ""
    commit_source = commit_source if commit else ""
    branch, branch_source, ambiguous = "", "", False
    merge_request: MergeRequest | None = None
    if commit:
        branch, merge_request, ambiguous = _branch_of_commit(project, commit)
        branch_source = "commit" if branch else ""
    if not branch and not ambiguous and branch_capture:
        slug = ref_slug(branch_capture)
        names = project.names_with_slug(slug)
        if len(names) > 1:
            ambiguous = True
        elif slug:
            branch, branch_source = (next(iter(names)) if names else slug), "slug"
    state = _branch_state(project, branch, ambiguous=ambiguous, by_slug=branch_source == "slug")
    if branch and merge_request is None and not ambiguous:
        merge_request = _merge_request_of(
            project, branch, exists=state == "exists", built_at=built_at
        )
    environment = project.environment_running(commit)
    branch_environment = None
    if not commit and branch and not ambiguous:
        branch_environment = project.live_environment_of(branch, project.merge_requests_of(branch))
    return Tie(
        project=project,
        commit=commit,
        commit_source=commit_source,
        branch="" if ambiguous else branch,
        branch_source="" if ambiguous else branch_source,
        branch_state=state,
        ambiguous=ambiguous,
        merge_request=None if ambiguous else merge_request,
        environment=environment,
        branch_environment=branch_environment,
        in_use=environment is not None and environment.is_live,
    )


def _branch_of_commit(project: ProjectFacts, sha: str) -> tuple[str, MergeRequest | None, bool]:
    """(branch, merge request, ambiguous) for a commit: by the merge requests listing it,
    else by the branches that had it as their head."""
    requests = project.merge_requests_with(sha)
    sources = {mr.source_branch for mr in requests}
    if len(sources) > 1:
        return "", None, True
    if sources:
        source = next(iter(sources))
        return source, _most_relevant(requests), False
    heads = project.branches_headed_at(sha)
    if len(heads) > 1:
        return "", None, True
    return (next(iter(heads)), None, False) if heads else ("", None, False)


def _branch_state(project: ProjectFacts, branch: str, *, ambiguous: bool, by_slug: bool) -> str:
    if ambiguous or not branch:
        return "unknown"
    known = project.branch(branch)
    if known is not None:
        return "exists" if known.exists else "deleted"
    if by_slug and not project.names_with_slug(ref_slug(branch)):
        return "missing"  # no branch or merge request has ever had this slug
    return "missing" if project.merge_requests_of(branch) else "unknown"


def _merge_request_of(
    project: ProjectFacts, branch: str, *, exists: bool, built_at: datetime
) -> MergeRequest | None:
    """The branch's merge request: an open one, else the latest. A branch that lives on
    after its request finished has moved on: an image built since is not the request's."""
    mr = _most_relevant(project.merge_requests_of(branch))
    if mr is None or not mr.is_finished or not exists:
        return mr
    finished = mr.finished_at
    return None if finished is not None and built_at > finished else mr


def _most_relevant(requests: list[MergeRequest]) -> MergeRequest | None:
    if not requests:
        return None
    open_ = [mr for mr in requests if not mr.is_finished]
    pool = open_ or requests
    return max(pool, key=lambda mr: (mr.updated_at is not None, mr.updated_at, mr.iid))
