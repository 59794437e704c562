"""Sync the cache with a registry: catalog → tags → HEAD every tag → fetch what is new.

An unchanged registry costs one HEAD per tag and no body fetches: bodies and
configs are fetched only for digests the cache does not hold. Each repository is
written in one transaction, so a repository that fails keeps its previous cache.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from contextlib import closing
from dataclasses import replace
from datetime import timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.utils import timezone

from registry.client import (
    AccessDenied,
    AuthenticationFailed,
    NotFound,
    RegistryClient,
    RegistryError,
    RegistryUnreachable,
)
from registry.connect import client_for
from registry.events.freshness import differences_counted
from registry.events.locks import wait_for_applier
from registry.gitlab.errors import GitLabError
from registry.gitlab.refresh import GitLabSync
from registry.kinds import KindInfo, detect_kind, record_kind
from registry.locks import renew_sync_lock, sync_lock
from registry.models import Registry, Repository, SyncRun
from registry.secrets import CredentialsKeyMismatch
from registry.staleness import refresh_staleness
from registry.user_patterns import PatternTooSlow

from .reading import read_repositories_ahead
from .writing import SyncCounts, write_repository

logger = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]  # (repositories done, total, current name)

CATALOG_DENIED = (
    "The registry refused to list its repositories (its catalog) with these credentials{detail}. "
    "GitLab lets only administrators read the catalog: name the repositories to sync instead, "
    "with `manage.py add_registry … --repository GROUP/PROJECT` (repeatable)."
)
STALENESS_FULL_REFRESH = timedelta(hours=1)
# A catalog that lists less than half of this many known repositories or more is suspect.
SUSPECT_CATALOG_MIN = 4
REPOSITORY_NAME_TOO_LONG_MESSAGE = (
    "The registry lists a repository whose name is longer than 255 characters; it was skipped."
)


def suspect_catalog_message(listed: int, known: int) -> str:
    return (
        f"The registry's catalog listed {listed:,} repositories although {known:,} were known: "
        "that looks like a passing fault, so no repository was removed from the dashboard. "
        "The next sync checks again."
    )


def invalid_tags_message(names: list[str]) -> str:
    shown = ", ".join(repr(name[:40] + ("…" if len(name) > 40 else "")) for name in names[:3])
    more = f" and {len(names) - 3} more" if len(names) > 3 else ""
    return (
        f"Skipped {len(names)} tag{'s' if len(names) != 1 else ''} that no registry may hold "
        f"(longer than 128 characters, or characters a tag cannot have): {shown}{more}."
    )


def stale_rules_too_slow_message(error: PatternTooSlow) -> str:
    return f"The staleness verdicts were not refreshed. {error.message}"


def too_long_message() -> str:
    minutes = settings.SYNC_TIME_LIMIT_SECONDS // 60
    return (
        f"The sync ran longer than {minutes:,} minutes and was stopped (SYNC_TIME_LIMIT_SECONDS). "
        "What it had read so far is kept; the next sync goes on from there."
    )


# -- entry points --------------------------------------------------------------


def sync_registry(
    *,
    registry: Registry,
    repository: str | None = None,
    client: RegistryClient | None = None,
    progress: Progress | None = None,
) -> SyncRun:
    """Sync one registry (or one of its repositories) and return the finished SyncRun.

    Raises SyncAlreadyRunning when another sync holds the registry's lock.
    """
    with sync_lock(registry) as lock:
        wait_for_applier(registry)  # registry.events: a chunk of events being applied
        run = SyncRun.objects.create(registry=registry, repository_name=repository or "")
        try:
            client = client or client_for(registry)
        except CredentialsKeyMismatch as exc:
            run.status, run.error, run.finished_at = SyncRun.Status.FAILED, str(exc), timezone.now()
            run.save()
            return run
        try:
            _run_sync(run=run, client=client, repository=repository, progress=progress, lock=lock)
        except (RegistryError, GitLabError) as exc:
            run.status = SyncRun.Status.FAILED
            run.error = exc.message
        except SoftTimeLimitExceeded:
            run.status = SyncRun.Status.FAILED
            run.error = too_long_message()
        except Exception:
            logger.exception("Sync of %s crashed", registry.name)
            run.status = SyncRun.Status.FAILED
            run.error = "The sync stopped on an internal error; the logs have the details."
            raise
        finally:
            run.requests_made = client.requests_made
            run.finished_at = timezone.now()
            run.save()
            client.close()
    return run


def _run_sync(
    *,
    run: SyncRun,
    client: RegistryClient,
    repository: str | None,
    progress: Progress | None,
    lock: uuid.UUID,
) -> None:
    registry = run.registry
    kind = _detect_kind(registry=registry, client=client)
    _apply_pending_events(registry=registry, client=client)
    gitlab = GitLabSync.start(registry)
    try:
        _sync_repositories(
            run=run,
            client=client,
            repository=repository,
            progress=progress,
            lock=lock,
            kind=kind,
            gitlab=gitlab,
        )
    finally:
        if gitlab is not None:
            gitlab.close()


def _detect_kind(*, registry: Registry, client: RegistryClient) -> KindInfo:
    """GET /v2/ (which proves the registry answers), and what kind of registry it is."""
    kind = detect_kind(client.check())
    if kind.is_gitlab:
        kind = replace(kind, tag_details=client.has_tag_details())
    record_kind(registry, kind)
    return kind


def _sync_repositories(
    *,
    run: SyncRun,
    client: RegistryClient,
    repository: str | None,
    progress: Progress | None,
    lock: uuid.UUID,
    kind: KindInfo,
    gitlab: GitLabSync | None,
) -> None:
    registry = run.registry
    if gitlab is not None and not repository:
        names = gitlab.repositories()
    else:
        names = _repositories_to_sync(registry=registry, client=client, repository=repository)
    names, failed = _without_invalid_names(names)
    counts = SyncCounts()
    run.repositories_total = len(names)
    reads = read_repositories_ahead(
        registry=registry, client=client, names=names, tag_details=kind.tag_details
    )
    # Closed here, on every way out: its reader thread must not outlive the run.
    with closing(reads):
        for index, read in enumerate(reads):
            renew_sync_lock(registry, lock)  # a long sync keeps its registry
            SyncRun.objects.filter(pk=run.pk).update(
                repositories_total=len(names), repositories_done=index
            )
            if progress:
                progress(index, len(names), read.name)
            if isinstance(read.error, RegistryUnreachable | AuthenticationFailed):
                raise read.error  # the registry as a whole is gone or refuses us: fail the run
            if read.error is not None:
                message = read.error.message
                logger.warning("Sync of %s/%s failed: %s", registry.name, read.name, message)
                failed.append({"repository": read.name, "error": message})
                continue
            created = write_repository(registry=registry, read=read, counts=counts)
            run.repositories_added += int(created)
            if read.state is not None and read.state.invalid_tags:
                failed.append(
                    {
                        "repository": read.name,
                        "error": invalid_tags_message(read.state.invalid_tags),
                    }
                )
    run.repositories_done = len(names)
    if progress:
        progress(len(names), len(names), "")
    if repository is None:
        removed, problem = _remove_vanished_repositories(
            registry=registry, client=client, listed=names
        )
        run.repositories_removed = removed
        if problem:
            failed.append(problem)
    if gitlab is not None:
        failed.extend(gitlab.refresh())
    renew_sync_lock(registry, lock)
    try:
        _refresh_staleness(
            registry=registry, changed=counts.changed_repository_ids, everything=gitlab is not None
        )
    except PatternTooSlow as exc:
        failed.append({"repository": "", "error": stale_rules_too_slow_message(exc)})
    run.tags_added = counts.tags_added
    run.tags_changed = counts.tags_changed
    run.tags_removed = counts.tags_removed
    run.manifests_fetched = counts.manifests_fetched
    run.repository_errors = failed
    if differences_counted(registry=registry, run=run):
        run.differences_missed = counts.tags_added + counts.tags_changed + counts.tags_removed
    run.status = SyncRun.Status.PARTIAL if failed else SyncRun.Status.SUCCEEDED


def _apply_pending_events(*, registry: Registry, client: RegistryClient) -> None:
    """Registry events received before the sync began go in first: whatever the sync
    then finds different is what the events missed (SyncRun.differences_missed)."""
    # Imported here: registry.events.apply reads and writes through this package.
    from registry.events.apply import apply_pending_events

    apply_pending_events(registry=registry, client=client)


def _repositories_to_sync(
    *, registry: Registry, client: RegistryClient, repository: str | None
) -> list[str]:
    if repository:
        return [repository]
    if registry.repositories:
        return list(registry.repositories)
    try:
        return sorted(client.list_repositories())
    except (AccessDenied, AuthenticationFailed) as exc:
        detail = f" (HTTP {exc.status})" if exc.status else ""
        raise type(exc)(CATALOG_DENIED.format(detail=detail), status=exc.status) from exc


def _remove_vanished_repositories(
    *, registry: Registry, client: RegistryClient, listed: list[str]
) -> tuple[int, dict[str, str] | None]:
    """Drop the cached repositories the catalog no longer lists, once the registry says
    they are gone; returns how many went, and a problem to report, if any.

    A catalog can read wrong for a moment (an empty answer while the registry restarts,
    a storage glitch), and dropping a repository loses its first-seen dates and every
    user's selection in it. So a catalog that suddenly lists nothing, or less than half
    of what was known, removes nothing; and a repository it leaves out goes only when
    its own tag list says 404, or reads empty.
    """
    known = dict(registry.repos.values_list("name", "pk"))
    missing = sorted(set(known) - set(listed))
    if not missing:
        return 0, None
    if registry.repositories:  # listed by people, not by the catalog: taken off on purpose
        Repository.objects.filter(pk__in=[known[name] for name in missing]).delete()
        return len(missing), None
    if len(known) >= SUSPECT_CATALOG_MIN and len(listed) < len(known) / 2:
        return 0, {"repository": "", "error": suspect_catalog_message(len(listed), len(known))}
    gone = [known[name] for name in missing if _is_gone(client, name)]
    if gone:
        Repository.objects.filter(pk__in=gone).delete()
    return len(gone), None


def _is_gone(client: RegistryClient, name: str) -> bool:
    try:
        return not client.list_tags(name)
    except NotFound:
        return True
    except RegistryError:
        return False  # not known: kept until a sync can tell


def _without_invalid_names(names: list[str]) -> tuple[list[str], list[dict[str, str]]]:
    """Repository names the cache can hold, and a problem for those it cannot."""
    limit = Repository._meta.get_field("name").max_length or 255
    valid = [name for name in names if len(name) <= limit]
    problems = [
        {"repository": name[:80] + "…", "error": REPOSITORY_NAME_TOO_LONG_MESSAGE}
        for name in names
        if len(name) > limit
    ]
    return valid, problems


def _refresh_staleness(*, registry: Registry, changed: set[int], everything: bool) -> None:
    """Verdicts for the repositories that changed; for all of them when the last is old,
    or when `everything` (GitLab's context was just refreshed: any tag may have moved)."""
    now = timezone.now()
    last = registry.staleness_refreshed_at
    if everything or last is None or now - last > STALENESS_FULL_REFRESH:
        refresh_staleness(registry=registry, now=now)
        Registry.objects.filter(pk=registry.pk).update(staleness_refreshed_at=now)
        registry.staleness_refreshed_at = now
    elif changed:
        refresh_staleness(registry=registry, now=now, repository_ids=changed)
