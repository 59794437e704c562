"""The app's models, one module per concept: the cache, the rules, selections, the audit log.

Migrations and the rest of the app import them from here.
"""

from .audit import (
    AppendOnlyModel,
    AppendOnlyQuerySet,
    AuditLogIsAppendOnly,
    DeletionBatch,
    DeletionItem,
    RegistryChange,
)
from .cache import Layer, Manifest, Registry, Repository, SyncRun, Tag, digest_validator
from .events import EventEndpoint, RegistryEvent
from .gitlab import (
    GitLabBranch,
    GitLabConnection,
    GitLabEnvironment,
    GitLabMergeRequest,
    GitLabProject,
    GitLabRepository,
    TagGitLab,
)
from .policies import CleanupPolicy, PolicyNotice, PolicyRun
from .rules import (
    EMPTY_PATTERN_MESSAGE,
    PATTERNS_NOT_A_LIST_MESSAGE,
    SEMVER_PATTERN,
    StalenessRules,
    default_protected_patterns,
    invalid_pattern_message,
    pattern_problem,
)
from .selection import SelectedTag

__all__ = [
    "EMPTY_PATTERN_MESSAGE",
    "PATTERNS_NOT_A_LIST_MESSAGE",
    "SEMVER_PATTERN",
    "AppendOnlyModel",
    "AppendOnlyQuerySet",
    "AuditLogIsAppendOnly",
    "CleanupPolicy",
    "DeletionBatch",
    "DeletionItem",
    "EventEndpoint",
    "GitLabBranch",
    "GitLabConnection",
    "GitLabEnvironment",
    "GitLabMergeRequest",
    "GitLabProject",
    "GitLabRepository",
    "Layer",
    "Manifest",
    "PolicyNotice",
    "PolicyRun",
    "Registry",
    "RegistryChange",
    "RegistryEvent",
    "Repository",
    "SelectedTag",
    "StalenessRules",
    "SyncRun",
    "Tag",
    "TagGitLab",
    "default_protected_patterns",
    "digest_validator",
    "invalid_pattern_message",
    "pattern_problem",
]
