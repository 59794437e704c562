"""Each tag's tie to GitLab, worked out with the staleness verdicts and stored beside them.

`registry.staleness.refresh_staleness` loads a registry's context once (`RegistryTies.load`,
a handful of queries), asks it to tie every repository's tags (`attach`: the tags come
back carrying their `Tie`, which `evaluate_tags` judges), then stores the ties that
changed (`save`) in the same transaction as the verdicts. The pages, the filters and
`list_tags` read the stored `TagGitLab` rows.

Only the branch is known for an image without a commit (no revision label, no sha in
its tag): of those, the newest image of each branch whose live environment was last
deployed from that branch is the one in use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from registry.chunking import chunks
from registry.models import (
    GitLabBranch,
    GitLabConnection,
    GitLabEnvironment,
    GitLabMergeRequest,
    GitLabProject,
    Registry,
    Repository,
    StalenessRules,
    TagGitLab,
)
from registry.user_patterns import Budget, UserPattern

from .matching import (
    Branch,
    Environment,
    MergeRequest,
    ProjectFacts,
    Tie,
    tie_image,
)

if TYPE_CHECKING:
    from registry.staleness import TagFacts

BRANCH_GROUP = "branch"
StoredTie = tuple[Any, ...]  # TIE_FIELDS, in order
TIE_FIELDS = [
    "project_id",
    "commit_sha",
    "commit_source",
    "branch",
    "branch_source",
    "branch_state",
    "ambiguous",
    "merge_request_id",
    "environment_id",
    "in_use",
    "matched",
]


def branch_capture(rules: StalenessRules, *, budget: Budget) -> Callable[[str], str | None]:
    """What the branch pattern's `branch` group captures from a tag name, if anything."""
    if not rules.branch_pattern:
        return lambda name: None
    pattern = UserPattern(rules.branch_pattern, budget=budget)
    if BRANCH_GROUP not in pattern.groupindex:
        return lambda name: None

    def capture(name: str) -> str | None:
        match = pattern.search(name)
        return match.group(BRANCH_GROUP) if match else None

    return capture


class RegistryTies:
    """A registry's GitLab context, ready to tie its tags."""

    def __init__(
        self,
        *,
        projects: dict[int, ProjectFacts],
        capture: Callable[[str], str | None],
        stored: dict[int, StoredTie],
    ) -> None:
        self.projects = projects  # by Repository id
        self.capture = capture
        self.stored = stored  # tag id -> what is stored now
        self.ties: dict[int, Tie] = {}
        self.seen: set[int] = set()

    @classmethod
    def load(
        cls,
        *,
        registry: Registry,
        rules: StalenessRules,
        budget: Budget,
        repository_ids: Iterable[int] | None = None,
    ) -> RegistryTies | None:
        """The context of `registry` (None when it is not connected to GitLab)."""
        connection = GitLabConnection.objects.filter(registry=registry).first()
        if connection is None:
            return None
        facts = _project_facts(connection)
        names = dict(connection.repositories.values_list("path", "project_id"))
        repositories = Repository.objects.filter(registry=registry, name__in=list(names))
        if repository_ids is not None:
            repositories = repositories.filter(pk__in=list(repository_ids))
        by_repository = {
            pk: facts[names[name]]
            for pk, name in repositories.values_list("pk", "name")
            if names[name] in facts
        }
        stored_rows = TagGitLab.objects.filter(tag__repository__registry=registry)
        if repository_ids is not None:
            stored_rows = stored_rows.filter(tag__repository_id__in=list(repository_ids))
        stored = {row[0]: tuple(row[1:]) for row in stored_rows.values_list("tag_id", *TIE_FIELDS)}
        return cls(
            projects=by_repository, capture=branch_capture(rules, budget=budget), stored=stored
        )

    def attach(self, *, repository_id: int, tags: list[TagFacts]) -> list[TagFacts]:
        """The tags, each with its tie (those of a repository GitLab did not list: none)."""
        self.seen.update(tag.id for tag in tags)
        project = self.projects.get(repository_id)
        if project is None:
            return tags
        ties = {
            tag.id: tie_image(
                project,
                tag=tag.name,
                revision=tag.revision,
                branch_capture=self.capture(tag.name),
                built_at=tag.created or tag.first_seen,
            )
            for tag in tags
        }
        _mark_newest_of_branch_in_use(tags, ties)
        self.ties.update(ties)
        return [replace(tag, gitlab=ties[tag.id]) for tag in tags]

    def save(self) -> int:
        """Store the ties that changed; drop those of tags no longer tied. Returns how many."""
        changed = {
            pk: values
            for pk, tie in self.ties.items()
            if (values := stored_values(tie)) != self.stored.get(pk)
        }
        untied = [pk for pk in self.seen if pk in self.stored and pk not in self.ties]
        for tag_ids in chunks([*changed, *untied]):
            TagGitLab.objects.filter(tag_id__in=tag_ids).delete()
        rows = [
            TagGitLab(tag_id=pk, **dict(zip(TIE_FIELDS, values, strict=True)))
            for pk, values in changed.items()
        ]
        for row_chunk in chunks(rows):
            TagGitLab.objects.bulk_create(row_chunk)
        return len(changed) + len(untied)


def stored_values(tie: Tie) -> StoredTie:
    mr, environment = tie.merge_request, tie.environment
    return (
        tie.project.id,
        tie.commit[:40],
        tie.commit_source,
        tie.branch[:255],
        tie.branch_source,
        tie.branch_state,
        tie.ambiguous,
        mr.id if mr else None,
        environment.id if environment else None,
        tie.in_use,
        tie.matched,
    )


def _mark_newest_of_branch_in_use(tags: list[TagFacts], ties: dict[int, Tie]) -> None:
    """Of the images known by their branch only, the newest of a branch with a live
    environment runs there."""
    from registry.staleness import natural_key  # staleness imports this module

    newest: dict[str, TagFacts] = {}
    for tag in tags:
        tie = ties[tag.id]
        if tie.branch_environment is None or tie.commit:
            continue
        best = newest.get(tie.branch)
        key = (tag.created or tag.first_seen, natural_key(tag.name))
        if best is None or key > (best.created or best.first_seen, natural_key(best.name)):
            newest[tie.branch] = tag
    for tag in newest.values():
        tie = ties[tag.id]
        ties[tag.id] = replace(tie, environment=tie.branch_environment, in_use=True)


def _project_facts(connection: GitLabConnection) -> dict[int, ProjectFacts]:
    """Every project of the connection, with its branches, requests and environments."""
    rows = list(GitLabProject.objects.filter(connection=connection))
    branches: dict[int, list[Branch]] = {p.pk: [] for p in rows}
    requests: dict[int, list[MergeRequest]] = {p.pk: [] for p in rows}
    environments: dict[int, list[Environment]] = {p.pk: [] for p in rows}
    for branch in GitLabBranch.objects.filter(project__connection=connection):
        branches[branch.project_id].append(
            Branch(
                name=branch.name,
                exists=branch.deleted_at is None,
                heads=tuple(branch.head_history or []),
                deleted_at=branch.deleted_at,
                merged=branch.merged,
            )
        )
    for mr in GitLabMergeRequest.objects.filter(project__connection=connection):
        requests[mr.project_id].append(
            MergeRequest(
                id=mr.pk,
                iid=mr.iid,
                state=mr.state,
                source_branch=mr.source_branch,
                commits=frozenset([*(mr.commit_shas or []), *([mr.sha] if mr.sha else [])]),
                author_username=mr.author_username,
                author_name=mr.author_name,
                web_url=mr.web_url,
                merged_at=mr.merged_at,
                closed_at=mr.closed_at,
                updated_at=mr.updated_at,
            )
        )
    for env in GitLabEnvironment.objects.filter(project__connection=connection):
        environments[env.project_id].append(
            Environment(
                id=env.pk,
                name=env.name,
                state=env.state,
                last_ref=env.last_ref,
                last_sha=env.last_sha,
            )
        )
    return {
        p.pk: ProjectFacts(
            id=p.pk,
            path=p.path,
            web_url=p.web_url,
            fresh=p.is_fresh,
            refreshed_at=p.refreshed_at,
            first_refreshed_at=p.first_refreshed_at,
            branches=branches[p.pk],
            merge_requests=requests[p.pk],
            environments=environments[p.pk],
        )
        for p in rows
    }
