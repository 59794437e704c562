"""What the registry holds now: read just before a batch acts on a repository.

A batch never trusts the cache for what it deletes. Before the first request in a
repository it reads the repository's tag list and sends a HEAD for every tag; it
looks up the platform images of every multi-arch image among them (from the cache
when it knows the index, else from the registry). Before each further chunk of
requests it reads the tag list again and HEADs what is new or protected.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from registry.client import RegistryClient, errors
from registry.models import DeletionItem, Manifest, Registry

from .decision import DigestHolders
from .outcomes import Result, absent_result, unchecked_note

Outcome = DeletionItem.Outcome

ProtectionCheck = Callable[[str], str | None]  # tag name -> the pattern protecting it, or None


@dataclass
class LiveRepository:
    """One repository's tags as the registry answered, and who lists each digest."""

    tags: dict[str, str]  # tag -> digest
    # digest -> tags of multi-arch images that list it as a platform image
    index_parents: dict[str, set[str]] = field(default_factory=dict)
    # False once requests have gone out since the registry was last read.
    fresh: bool = True
    # digest -> tags pointing at it: derived from `tags`
    _by_digest: dict[str, set[str]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        for tag, digest in self.tags.items():
            self._by_digest.setdefault(digest, set()).add(tag)

    def holders(self, digest: str) -> set[str]:
        """Every tag that would go with `digest`: on it, or on an index that lists it."""
        return self._by_digest.get(digest, set()) | self.index_parents.get(digest, set())

    def digest_holders(self, digest: str, *, is_protected: ProtectionCheck) -> DigestHolders:
        tags = self._by_digest.get(digest, set())
        index_tags = self.index_parents.get(digest, set())
        return DigestHolders(
            tags=frozenset(tags),
            protected=frozenset(t for t in tags | index_tags if is_protected(t)),
            index_tags=frozenset(index_tags),
        )

    def update(self, tags: dict[str, str], index_parents: dict[str, set[str]]) -> None:
        """Take in tags read again (new ones, or moved ones) and the indexes among them."""
        for tag, digest in tags.items():
            previous = self.tags.get(tag)
            if previous is not None:
                self._by_digest.get(previous, set()).discard(tag)
            self.tags[tag] = digest
            self._by_digest.setdefault(digest, set()).add(tag)
        for child, parents in index_parents.items():
            self.index_parents.setdefault(child, set()).update(parents)
        self.fresh = True


def incomplete_list_message(repository: str, names: list[str]) -> str:
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return (
        f"The registry's tag list of {repository} left out {shown}, which the registry still "
        "holds: a list that may be wrong cannot show what else shares their images."
    )


def read_live_repository(
    *, client: RegistryClient, registry: Registry, repository: str, expected: Collection[str]
) -> LiveRepository:
    """The repository's tags and digests now (a HEAD per tag), and its indexes' children.

    `expected` are the tags the batch is about to act on. A tag missing from the list
    is gone only when its own HEAD says 404: a registry may answer with an empty list,
    `null` or a 404 for the repository while it still holds the tags. Such a list is
    refused (InvalidResponse): deleting by digest needs every tag that shares it.
    """
    names = tag_names(client, repository)
    unlisted = sorted(set(expected) - set(names))
    tags = head_tags(client=client, repository=repository, names=[*names, *unlisted])
    still_there = [name for name in unlisted if name in tags]
    if still_there:
        raise errors.InvalidResponse(incomplete_list_message(repository, still_there))
    return LiveRepository(
        tags=tags,
        index_parents=index_parents(
            client=client, registry=registry, repository=repository, tags=tags
        ),
    )


def read_changes(
    *,
    client: RegistryClient,
    registry: Registry,
    repository: str,
    live: LiveRepository,
    is_protected: ProtectionCheck,
) -> None:
    """Read the tag list again, HEAD every tag that is new since `live` was read and every
    protected tag (those are the ones a release moves), and take the changes into `live`.

    A tag that already existed and was moved meanwhile is not seen: a HEAD per tag per
    chunk would double a batch's requests.
    """
    names = tag_names(client, repository)
    wanted = [n for n in names if n not in live.tags or is_protected(n)]
    moved = head_tags(client=client, repository=repository, names=wanted)
    changed = {tag: digest for tag, digest in moved.items() if live.tags.get(tag) != digest}
    live.update(
        changed,
        index_parents(client=client, registry=registry, repository=repository, tags=changed),
    )


def tag_names(client: RegistryClient, repository: str) -> list[str]:
    try:
        return client.list_tags(repository)
    except errors.NotFound:
        return []


def head_tags(*, client: RegistryClient, repository: str, names: list[str]) -> dict[str, str]:
    """Tag -> digest for `names`, a HEAD each; tags deleted meanwhile are left out."""
    tags: dict[str, str] = {}
    for name, head, error in client.map_concurrently(
        lambda tag: client.head_manifest(repository, tag), names
    ):
        if isinstance(error, errors.NotFound):
            continue  # deleted between the list and the HEAD
        if error is not None:
            raise error
        assert head is not None
        tags[name] = head.digest
    return tags


def index_parents(
    *, client: RegistryClient, registry: Registry, repository: str, tags: dict[str, str]
) -> dict[str, set[str]]:
    """Which tags are multi-arch images listing each digest: from the cache when it knows
    the index, else from the registry (an index pushed since the last sync)."""
    digests = set(tags.values())
    cached = set(
        Manifest.objects.filter(
            repository__registry=registry, repository__name=repository, digest__in=digests
        ).values_list("digest", flat=True)
    )
    children: dict[str, list[str]] = defaultdict(list)
    through = Manifest.children.through.objects.filter(
        from_manifest__repository__registry=registry,
        from_manifest__repository__name=repository,
        from_manifest__digest__in=digests,
    ).values_list("from_manifest__digest", "to_manifest__digest")
    for parent, child in through:
        children[parent].append(child)
    unknown = sorted(digests - cached)
    for digest, document, error in client.map_concurrently(
        lambda d: client.get_manifest(repository, d), unknown
    ):
        if error is not None and not isinstance(error, errors.NotFound):
            raise error
        if document is not None:
            children[digest] = [child.digest for child in document.children]
    parents: dict[str, set[str]] = defaultdict(set)
    for tag, digest in tags.items():
        for child in children.get(digest, []):
            parents[child].add(tag)
    return parents


def check_attempted(
    *, client: RegistryClient, items: list[DeletionItem]
) -> list[tuple[list[DeletionItem], Result]]:
    """Items whose request may have gone out before a crash or an interrupt: those whose
    tag is gone were removed by the batch; the rest are left as they are. A repository
    that cannot be read leaves its items "not known" (failed, with the reason)."""
    by_repository: dict[str, list[DeletionItem]] = defaultdict(list)
    for item in items:
        by_repository[item.repository_name].append(item)
    settled: list[tuple[list[DeletionItem], Result]] = []
    for repository, group in by_repository.items():
        try:
            live = head_tags(client=client, repository=repository, names=[i.tag for i in group])
        except errors.RegistryError as exc:
            settled.append((group, Result(Outcome.FAILED, unchecked_note(exc.message))))
            continue
        settled += [([item], absent_result(item)) for item in group if item.tag not in live]
    return settled
