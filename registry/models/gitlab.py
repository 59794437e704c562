"""A registry's GitLab: the connection, what GitLab says about its projects, and each
tag's tie to it.

The context rows (projects, branches, merge requests, environments) are a copy of
GitLab, refreshed with every sync by `registry.gitlab.context`; they are kept when a
refresh fails, so the pages can show the last known facts and their age. `TagGitLab`
ties a tag to its project, commit, branch, merge request and environment: it is
written with the staleness verdicts (`registry.gitlab.ties`), never by hand.
"""

from __future__ import annotations

from datetime import datetime

from django.db import models

from .cache import Registry, Tag

SHA_LENGTH = 40


class GitLabConnection(models.Model):
    """Where a registry's repositories and their context come from.

    One token serves both sides: the registry's password is the GitLab access token
    (GitLab's `/jwt/auth` takes it for registry tokens, the REST API as PRIVATE-TOKEN).
    It is stored once, encrypted, on the Registry.
    """

    registry = models.OneToOneField(Registry, on_delete=models.CASCADE, related_name="gitlab")
    url = models.URLField(help_text="GitLab's address, e.g. https://gitlab.example.com")
    group_path = models.CharField(
        max_length=255,
        blank=True,
        help_text="A group whose projects' repositories (subgroups included) are synced.",
    )
    project_paths = models.JSONField(
        default=list, blank=True, help_text="Projects whose repositories are synced, by path."
    )
    # What the token may do, as GitLab said when the connection was saved.
    token_can_browse = models.BooleanField(default=False, editable=False)
    token_can_delete = models.BooleanField(default=False, editable=False)
    token_problems = models.JSONField(default=list, blank=True, editable=False)
    token_checked_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The context: the last refresh in which GitLab answered for every project, the last
    # attempt, and what went wrong in it (empty when it succeeded).
    refreshed_at = models.DateTimeField(null=True, blank=True, editable=False)
    attempted_at = models.DateTimeField(null=True, blank=True, editable=False)
    error = models.TextField(blank=True, editable=False)
    requests_made = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        verbose_name = "GitLab connection"

    def __str__(self) -> str:
        return f"GitLab of {self.registry}"

    @property
    def is_fresh(self) -> bool:
        """Whether the last refresh succeeded: only then may GitLab make a tag stale."""
        return self.refreshed_at is not None and not self.error


class GitLabProject(models.Model):
    connection = models.ForeignKey(
        GitLabConnection, on_delete=models.CASCADE, related_name="projects"
    )
    gitlab_id = models.BigIntegerField()
    path = models.CharField(max_length=255)
    web_url = models.URLField(max_length=500, blank=True)
    # The last refresh that succeeded for this project, and what the last one said.
    refreshed_at = models.DateTimeField(null=True, blank=True)
    first_refreshed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    # Incremental reads: GitLab's own clock at the start of the last good refresh.
    merge_requests_since = models.DateTimeField(null=True, blank=True)
    deployments_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["path"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "gitlab_id"], name="unique_gitlab_project"
            ),
        ]

    def __str__(self) -> str:
        return self.path

    @property
    def is_fresh(self) -> bool:
        return self.refreshed_at is not None and not self.error


class GitLabRepository(models.Model):
    """A registry repository as GitLab lists it, tied to its project."""

    connection = models.ForeignKey(
        GitLabConnection, on_delete=models.CASCADE, related_name="repositories"
    )
    path = models.CharField(max_length=255)  # the registry's repository name
    gitlab_id = models.BigIntegerField()
    project = models.ForeignKey(GitLabProject, on_delete=models.CASCADE, related_name="+")

    class Meta:
        ordering = ["path"]
        constraints = [
            models.UniqueConstraint(fields=["connection", "path"], name="unique_gitlab_repository"),
        ]

    def __str__(self) -> str:
        return self.path


class GitLabBranch(models.Model):
    project = models.ForeignKey(GitLabProject, on_delete=models.CASCADE, related_name="branches")
    name = models.CharField(max_length=255)
    slug = models.CharField(max_length=63, db_index=True)  # CI_COMMIT_REF_SLUG
    commit_sha = models.CharField(max_length=SHA_LENGTH, blank=True)
    # Every head this branch was seen at, newest last: an image built from an earlier
    # head keeps its branch after the branch moves on.
    head_history = models.JSONField(default=list, blank=True)
    merged = models.BooleanField(default=False)  # GitLab's "merged into the default branch"
    first_seen = models.DateTimeField()
    # When a refresh first found it gone (GitLab keeps no date of its own).
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["project", "name"]
        verbose_name_plural = "GitLab branches"
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="unique_gitlab_branch"),
        ]

    def __str__(self) -> str:
        return self.name


class GitLabMergeRequest(models.Model):
    class State(models.TextChoices):
        OPENED = "opened"
        MERGED = "merged"
        CLOSED = "closed"
        LOCKED = "locked"

    project = models.ForeignKey(
        GitLabProject, on_delete=models.CASCADE, related_name="merge_requests"
    )
    iid = models.PositiveIntegerField()
    state = models.CharField(max_length=16, choices=State.choices)
    title = models.CharField(max_length=255, blank=True)
    source_branch = models.CharField(max_length=255)
    source_slug = models.CharField(max_length=63, db_index=True)
    sha = models.CharField(max_length=SHA_LENGTH, blank=True)  # the head
    # The MR's commits, heads seen included; `commits_read_at_sha` is the head when
    # GitLab's list of them was last read (read again only when the head moves).
    commit_shas = models.JSONField(default=list, blank=True)
    commits_read_at_sha = models.CharField(max_length=SHA_LENGTH, blank=True)
    author_username = models.CharField(max_length=255, blank=True)
    author_name = models.CharField(max_length=255, blank=True)
    web_url = models.URLField(max_length=500, blank=True)
    merged_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["project", "-iid"]
        verbose_name = "GitLab merge request"
        constraints = [
            models.UniqueConstraint(fields=["project", "iid"], name="unique_gitlab_mr"),
        ]

    def __str__(self) -> str:
        return f"!{self.iid}"

    @property
    def is_finished(self) -> bool:
        return self.state in (self.State.MERGED, self.State.CLOSED)

    @property
    def finished_at(self) -> datetime | None:
        return self.merged_at if self.state == self.State.MERGED else self.closed_at


class GitLabEnvironment(models.Model):
    class State(models.TextChoices):
        AVAILABLE = "available"
        STOPPING = "stopping"
        STOPPED = "stopped"

    LIVE_STATES = (State.AVAILABLE, State.STOPPING)

    project = models.ForeignKey(
        GitLabProject, on_delete=models.CASCADE, related_name="environments"
    )
    gitlab_id = models.BigIntegerField()
    name = models.CharField(max_length=255)
    state = models.CharField(max_length=16)
    external_url = models.URLField(max_length=500, blank=True)
    # Its last successful deployment, where known.
    last_deployment_id = models.BigIntegerField(null=True, blank=True)
    last_ref = models.CharField(max_length=255, blank=True)
    last_sha = models.CharField(max_length=SHA_LENGTH, blank=True)
    last_deployed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["project", "name"]
        verbose_name = "GitLab environment"
        constraints = [
            models.UniqueConstraint(
                fields=["project", "gitlab_id"], name="unique_gitlab_environment"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_live(self) -> bool:
        return self.state in self.LIVE_STATES


class TagGitLab(models.Model):
    """A tag's tie to GitLab: how it was found, and the facts the rules judged it by."""

    class BranchState(models.TextChoices):
        EXISTS = "exists"
        DELETED = "deleted"  # seen, then gone
        MISSING = "missing"  # no branch of this name or slug since the first refresh
        UNKNOWN = "unknown"  # no branch could be told (nothing to go by, or ambiguous)

    tag = models.OneToOneField(
        Tag, on_delete=models.CASCADE, primary_key=True, related_name="gitlab"
    )
    project = models.ForeignKey(
        GitLabProject, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    commit_sha = models.CharField(max_length=SHA_LENGTH, blank=True)
    # "revision" (the image's OCI label), "tag" (a sha in its name), or "".
    commit_source = models.CharField(max_length=16, blank=True)
    branch = models.CharField(max_length=255, blank=True)
    # "commit", "slug" (the branch pattern's capture), or "".
    branch_source = models.CharField(max_length=16, blank=True)
    branch_state = models.CharField(
        max_length=16, choices=BranchState.choices, default=BranchState.UNKNOWN
    )
    ambiguous = models.BooleanField(default=False)
    merge_request = models.ForeignKey(
        GitLabMergeRequest, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    environment = models.ForeignKey(
        GitLabEnvironment, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    in_use = models.BooleanField(default=False)
    matched = models.BooleanField(default=False)  # a branch, a merge request or an environment

    class Meta:
        verbose_name = "tag's GitLab tie"
        indexes = [models.Index(fields=["in_use"], name="taggitlab_in_use_idx")]

    def __str__(self) -> str:
        return f"GitLab tie of tag {self.tag_id}"
