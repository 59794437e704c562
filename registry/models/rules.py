"""Which tags of a registry are stale: the rules admins edit (see registry.staleness)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models

from registry.regex_validation import regex_problem

from .cache import Registry

SEMVER_PATTERN = r"^v?\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?$"


def default_protected_patterns() -> list[str]:
    return ["^latest$", "^main$", "^master$", "^stable$", "^production$", SEMVER_PATTERN]


def invalid_pattern_message(pattern: str, error: str) -> str:
    return f"{pattern!r} is not a valid regular expression: {error}."


EMPTY_PATTERN_MESSAGE = "An empty pattern would match every tag; remove it."
PATTERNS_NOT_A_LIST_MESSAGE = "Protected patterns must be a list of regular expressions."


def pattern_problem(pattern: str) -> str | None:
    """What is wrong with one of the rules' regular expressions, in plain words, or None.

    The rules run in Python (registry.staleness), so Python's `re` decides.
    """
    problem = regex_problem(pattern)
    return invalid_pattern_message(pattern, problem) if problem else None


class StalenessRules(models.Model):
    """Which tags of a registry are stale; see registry.staleness for how they apply.

    A registry without a row uses the defaults (an unsaved instance).
    """

    class AgeBasis(models.TextChoices):
        CREATED = "created", "Image created date"
        FIRST_SEEN = "first_seen", "First seen by the dashboard"

    registry = models.OneToOneField(
        Registry, on_delete=models.CASCADE, related_name="staleness_rules"
    )
    protected_patterns = models.JSONField(
        default=default_protected_patterns,
        blank=True,
        help_text="Regular expressions (searched, so anchor them: ^latest$). "
        "A tag whose name matches one is never stale, nor is any tag sharing its digest.",
    )
    max_age_days = models.PositiveIntegerField(
        default=14, help_text="A tag is stale only when it is older than this."
    )
    branch_pattern = models.CharField(
        max_length=200,
        blank=True,
        help_text="When set, only tags matching it can be stale (e.g. ^review-). "
        "A named group keeps the newest builds of every branch: ^review-(?P<branch>.+)-\\d+$",
    )
    keep_newest = models.PositiveIntegerField(
        default=0,
        help_text="Never stale: the newest this many tags of the repository "
        "(of each branch, when the branch pattern names a group).",
    )
    age_basis = models.CharField(max_length=16, choices=AgeBasis.choices, default=AgeBasis.CREATED)
    unpulled_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="When set, a tag is stale only when nobody pulled its image for this many "
        "days (counted from when pull tracking began, for an image nobody pulled since). "
        "Needs the registry's notifications; empty: pulls do not count.",
    )
    # Only for a registry connected to GitLab (registry.gitlab.verdicts).
    gitlab_rules = models.BooleanField(
        default=True,
        help_text="Judge review images by GitLab: stale once their merge request is merged "
        "or closed, or their branch is deleted; never stale while an environment runs them.",
    )
    gitlab_grace_days = models.PositiveIntegerField(
        default=1,
        help_text="An image is stale only this many days after its merge request was merged "
        "or closed, or its branch was deleted.",
    )

    class Meta:
        verbose_name_plural = "staleness rules"

    def __str__(self) -> str:
        return f"staleness rules of {self.registry}"

    def clean(self) -> None:
        errors: dict[str, list[str]] = {}
        protected = self._protected_pattern_problems()
        if protected:
            errors["protected_patterns"] = protected
        branch = pattern_problem(self.branch_pattern) if self.branch_pattern else None
        if branch:
            errors["branch_pattern"] = [branch]
        if errors:
            raise ValidationError(errors)

    def _protected_pattern_problems(self) -> list[str]:
        patterns = self.protected_patterns
        if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
            return [PATTERNS_NOT_A_LIST_MESSAGE]
        problems = [EMPTY_PATTERN_MESSAGE] if any(not p for p in patterns) else []
        problems += [problem for p in patterns if p and (problem := pattern_problem(p))]
        return problems
