"""GitLab's part of a sync: the repositories to read, then the context of their projects.

`registry.sync.run` calls these around its own work, for a registry connected to GitLab:

1. `repositories()` before reading the registry: what GitLab lists (discovery). When
   GitLab cannot be asked, the repositories it listed last time are synced, and the
   problem is reported; with none known yet, the sync fails and says why.
2. `refresh()` after the registry's tags are written: the branches, merge requests and
   environments of every project (registry.gitlab.context; read while the registry is,
   written now), which the staleness refresh that follows ties the tags to.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from registry.connect import gitlab_client_for
from registry.models import GitLabConnection, Registry

from .context import PendingRefresh, finish_refresh, mark_unreachable, start_refresh
from .discovery import discover_repositories, known_repositories
from .errors import GitLabError
from .rest import GitLabClient

Problem = dict[str, str]  # {"repository": …, "error": …}, as SyncRun.repository_errors holds


def kept_last_list_message(error: GitLabError) -> str:
    return (
        f"GitLab could not list the repositories ({error.message}); the ones it listed last "
        "time were synced."
    )


def skipped_names_message(names: list[str]) -> str:
    shown = ", ".join(repr(name) for name in names[:3])
    more = f" and {len(names) - 3} more" if len(names) > 3 else ""
    return (
        f"GitLab listed {len(names)} repositor{'y' if len(names) == 1 else 'ies'} that no "
        f"registry may hold, or of a project it did not list: {shown}{more}; skipped."
    )


@dataclass
class GitLabSync:
    connection: GitLabConnection
    client: GitLabClient
    reachable: bool = True
    problems: list[Problem] = field(default_factory=list)
    pending: PendingRefresh | None = None

    @classmethod
    def start(cls, registry: Registry) -> GitLabSync | None:
        connection = GitLabConnection.objects.filter(registry=registry).first()
        if connection is None:
            return None
        return cls(connection=connection, client=gitlab_client_for(connection))

    def close(self) -> None:
        self.client.close()

    def repositories(self) -> list[str]:
        """What to sync. Raises GitLabError when GitLab fails and nothing is known yet."""
        try:
            found = discover_repositories(connection=self.connection, client=self.client)
        except GitLabError as exc:
            self.reachable = False
            mark_unreachable(connection=self.connection, error=exc)
            known = known_repositories(connection=self.connection)
            if not known:
                raise
            self.problems.append({"repository": "", "error": kept_last_list_message(exc)})
            return known
        if found.skipped:
            self.problems.append({"repository": "", "error": skipped_names_message(found.skipped)})
        # GitLab's answers come in while the registry is read.
        self.pending = start_refresh(connection=self.connection, client=self.client)
        return found.repositories

    def refresh(self) -> list[Problem]:
        """Refresh the context (unless GitLab already failed in this sync); the problems
        of the whole GitLab part."""
        if self.reachable:
            pending = self.pending or start_refresh(connection=self.connection, client=self.client)
            result = finish_refresh(pending)
            if result.failures:
                self.problems.append({"repository": "", "error": self.connection.error})
        else:
            self.problems.append({"repository": "", "error": self.connection.error})
        # Discovery's requests and the context's, for the dashboard and the benchmark.
        self.connection.requests_made = self.client.requests_made
        GitLabConnection.objects.filter(pk=self.connection.pk).update(
            requests_made=self.client.requests_made
        )
        return self.problems

    @property
    def requests_made(self) -> int:
        return self.client.requests_made
