"""The verdict on each tag of a repository: pure, no database (see the rules in
registry.staleness)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import regex

from registry.gitlab.matching import Tie
from registry.gitlab.verdicts import gitlab_verdict, in_use_reason
from registry.models import Registry, StalenessRules
from registry.pull_tracking import pulled_reason, unpulled_for
from registry.user_patterns import RULES_BUDGET_SECONDS, Budget, UserPattern

# Cosign's `.sig`/`.att`/`.sbom`, and the bare OCI 1.1 referrers fallback tag.
REFERRER_TAG = re.compile(r"^sha256-(?P<hex>[0-9a-f]{64})(?:\.(?P<kind>sig|att|sbom))?$")
REFERRER_KINDS = {"sig": "signature", "att": "attestation", "sbom": "SBOM", None: "referrers"}
BRANCH_GROUP = "branch"
_NUMBERS = re.compile(r"([0-9]+)")


@dataclass(frozen=True)
class TagFacts:
    """What the rules need to know about one tag."""

    id: int
    name: str
    digest: str
    created: datetime | None  # the image's; None when unknown
    first_seen: datetime
    # The image's newest pull (registry.events), any name or digest; None: none recorded.
    last_pulled: datetime | None = None
    revision: str = ""  # the commit the image says it was built from
    gitlab: Tie | None = None  # its tie to GitLab, on a registry connected to it


@dataclass(frozen=True)
class Verdict:
    stale: bool
    protected: bool
    reason: str
    subject_digest: str = ""


@dataclass(frozen=True)
class CompiledRules:
    """StalenessRules with the patterns compiled: once per run over a registry, not once
    per repository (`compile_rules`)."""

    protected: list[UserPattern]
    branch: UserPattern | None
    max_age_days: int
    keep_newest: int
    by_first_seen: bool
    unpulled_days: int | None
    # When pull tracking began (the registry's first notification); None: not yet.
    pulls_tracked_since: datetime | None
    gitlab: bool = False
    grace_days: int = 1
    # All protected patterns as one alternation: one search tells most tags apart.
    any_protected: UserPattern | None = None

    @property
    def groups_by_branch(self) -> bool:
        return self.branch is not None and BRANCH_GROUP in self.branch.groupindex


# -- the rules -----------------------------------------------------------------


def rules_for(*, registry: Registry) -> StalenessRules:
    """The registry's rules, or the defaults (unsaved) when no admin has edited them."""
    rules = StalenessRules.objects.filter(registry=registry).first()
    return rules or StalenessRules(registry=registry)


def compile_rules(
    rules: StalenessRules,
    *,
    budget: Budget | None = None,
    pulls_tracked_since: datetime | None = None,
) -> CompiledRules:
    """`rules` ready to judge many repositories' tags: the patterns compiled once.

    `pulls_tracked_since`: when the registry's notifications began (rule 6).
    Raises PatternTooSlow when the rules' patterns use up `budget` (see user_patterns).
    """
    budget = budget or Budget(RULES_BUDGET_SECONDS)
    return CompiledRules(
        protected=[UserPattern(p, budget=budget) for p in rules.protected_patterns],
        branch=UserPattern(rules.branch_pattern, budget=budget) if rules.branch_pattern else None,
        max_age_days=rules.max_age_days,
        keep_newest=rules.keep_newest,
        by_first_seen=rules.age_basis == StalenessRules.AgeBasis.FIRST_SEEN,
        unpulled_days=rules.unpulled_days,
        pulls_tracked_since=pulls_tracked_since,
        gitlab=rules.gitlab_rules,
        grace_days=rules.gitlab_grace_days,
        any_protected=_alternation(rules.protected_patterns, budget=budget),
    )


def evaluate_tags(
    *,
    rules: StalenessRules | CompiledRules,
    tags: list[TagFacts],
    now: datetime,
    budget: Budget | None = None,
    pulls_tracked_since: datetime | None = None,
) -> dict[int, Verdict]:
    """The verdict on every tag of ONE repository, by tag id.

    `rules` as saved, or compiled by `compile_rules` (then `budget` and
    `pulls_tracked_since` are the compiled ones). Raises PatternTooSlow when the
    rules' patterns use up their budget (see user_patterns).
    """
    compiled = (
        rules
        if isinstance(rules, CompiledRules)
        else compile_rules(rules, budget=budget, pulls_tracked_since=pulls_tracked_since)
    )
    verdicts: dict[int, Verdict] = {}
    protected_names: dict[str, list[str]] = {}  # digest -> protected tags pointing at it
    for tag in tags:
        pattern = _protecting_pattern(compiled, tag.name)
        if pattern is not None:
            verdicts[tag.id] = Verdict(
                stale=False,
                protected=True,
                reason=f"protected: matches {pattern}",
                subject_digest=_subject_digest(tag.name),
            )
            protected_names.setdefault(tag.digest, []).append(tag.name)
        elif compiled.gitlab and tag.gitlab is not None and tag.gitlab.in_use:
            verdicts[tag.id] = Verdict(
                stale=False, protected=True, reason=in_use_reason(tag.gitlab)
            )
            protected_names.setdefault(tag.digest, []).append(tag.name)

    groups: dict[str | None, list[TagFacts]] = {}
    for tag in tags:
        if tag.id in verdicts:
            continue
        if REFERRER_TAG.match(tag.name):
            verdicts[tag.id] = _referrer_verdict(tag.name)
            continue
        if compiled.gitlab and tag.gitlab is not None:
            judged = _gitlab_verdict(tag, compiled, now, protected_names.get(tag.digest))
            if judged is not None:
                verdicts[tag.id] = judged
                continue
        match = compiled.branch.search(tag.name) if compiled.branch else None
        if compiled.branch and match is None:
            reason = f"does not match the branch pattern {compiled.branch.pattern}"
            verdicts[tag.id] = Verdict(stale=False, protected=False, reason=reason)
            continue
        branch = match.group(BRANCH_GROUP) if match and compiled.groups_by_branch else None
        groups.setdefault(branch, []).append(tag)

    for branch, candidates in groups.items():
        ranked = sorted(candidates, key=lambda t: _newness(t, compiled), reverse=True)
        for rank, tag in enumerate(ranked):
            verdicts[tag.id] = _candidate_verdict(
                tag,
                rules=compiled,
                now=now,
                is_newest=rank < compiled.keep_newest,
                branch=branch,
                protected_names=protected_names.get(tag.digest, []),
            )
    return verdicts


def _gitlab_verdict(
    tag: TagFacts, rules: CompiledRules, now: datetime, protected_names: list[str] | None
) -> Verdict | None:
    """Rule 3, then GitLab's word, for a tag tied to GitLab (None: the other rules decide)."""
    assert tag.gitlab is not None
    judged = gitlab_verdict(tag.gitlab, grace_days=rules.grace_days, now=now)
    if judged is None:
        return None
    if protected_names:
        return Verdict(stale=False, protected=False, reason=_shares_digest_reason(protected_names))
    stale, reason = judged
    if stale and (pulled := _recently_pulled_reason(tag, rules, now)):
        return Verdict(stale=False, protected=False, reason=pulled)  # someone still pulls it
    return Verdict(stale=stale, protected=False, reason=reason)


def _recently_pulled_reason(tag: TagFacts, rules: CompiledRules, now: datetime) -> str:
    """Why the pull rule keeps the tag, or "" when it does not (or is off)."""
    if rules.unpulled_days is None or unpulled_for(
        days=rules.unpulled_days,
        last_pulled=tag.last_pulled,
        first_seen=tag.first_seen,
        tracked_since=rules.pulls_tracked_since,
        now=now,
    ):
        return ""
    return pulled_reason(
        days=_days(rules.unpulled_days),
        last_pulled=tag.last_pulled,
        tracked_since=rules.pulls_tracked_since,
    )


def protection_check(*, rules: StalenessRules) -> Callable[[str], str | None]:
    """A function telling which protected pattern a tag name matches, if any.

    It raises PatternTooSlow once the patterns have run for RULES_BUDGET_SECONDS.
    """
    compiled = compile_rules(rules)
    return lambda name: _protecting_pattern(compiled, name)


def _alternation(patterns: list[str], *, budget: Budget) -> UserPattern | None:
    """`(?:a)|(?:b)|…`, which matches where any of them does; None when there are too few,
    when one has groups (a backreference would point elsewhere once they are joined), or
    when they do not compile as one (an inline flag)."""
    try:
        if len(patterns) < 2 or any(re.compile(p).groups for p in patterns):
            return None
        return UserPattern("|".join(f"(?:{p})" for p in patterns), budget=budget)
    except (re.error, regex.error):
        return None


def _protecting_pattern(rules: CompiledRules, name: str) -> str | None:
    # Most tags match no protected pattern: one search of them all says so (a seventh of
    # the searches of a refresh over 100,000 tags with the default six patterns).
    if rules.any_protected is not None and not rules.any_protected.search(name):
        return None
    for pattern in rules.protected:
        if pattern.search(name):
            return pattern.pattern
    return None


def _subject_digest(name: str) -> str:
    match = REFERRER_TAG.match(name)
    return f"sha256:{match['hex']}" if match else ""


def _referrer_verdict(name: str) -> Verdict:
    match = REFERRER_TAG.match(name)
    assert match is not None
    kind = REFERRER_KINDS[match["kind"]]
    reason = f"{kind} of sha256:{match['hex'][:12]}… (goes with its image)"
    return Verdict(
        stale=False, protected=False, reason=reason, subject_digest=f"sha256:{match['hex']}"
    )


def _candidate_verdict(
    tag: TagFacts,
    *,
    rules: CompiledRules,
    now: datetime,
    is_newest: bool,
    branch: str | None,
    protected_names: list[str],
) -> Verdict:
    """Rules 3 and later, for a tag that could be stale."""
    age = now - _age_start(tag, rules)
    if protected_names:
        reason = _shares_digest_reason(protected_names)
    elif age <= timedelta(days=rules.max_age_days):
        reason = _young_reason(tag, rules)
    elif pulled := _recently_pulled_reason(tag, rules, now):
        reason = pulled
    elif is_newest:
        reason = _newest_reason(rules, branch)
    else:
        return Verdict(stale=True, protected=False, reason=_stale_reason(tag, rules))
    return Verdict(stale=False, protected=False, reason=reason)


def _age_start(tag: TagFacts, rules: CompiledRules) -> datetime:
    if rules.by_first_seen or tag.created is None:
        return tag.first_seen
    return tag.created


def _newness(tag: TagFacts, rules: CompiledRules) -> tuple[datetime, tuple[str | int, ...]]:
    """Sort key, newest last: the age basis, then the name in natural order."""
    return _age_start(tag, rules), natural_key(tag.name)


def natural_key(name: str) -> tuple[str | int, ...]:
    """`name` for sorting in natural order: build-10 after build-9."""
    parts = _NUMBERS.split(name)  # text, number, text, …: alike parts compare
    return tuple(int(part) if index % 2 else part for index, part in enumerate(parts))


# -- reasons, in plain words ---------------------------------------------------


def _days(count: int) -> str:
    return "1 day" if count == 1 else f"{count} days"


def _unknown_created(tag: TagFacts, rules: CompiledRules) -> str:
    return " (created date unknown)" if tag.created is None and not rules.by_first_seen else ""


def _counts_from_first_seen(tag: TagFacts, rules: CompiledRules) -> bool:
    return rules.by_first_seen or tag.created is None


def _young_reason(tag: TagFacts, rules: CompiledRules) -> str:
    limit = _days(rules.max_age_days)
    if _counts_from_first_seen(tag, rules):
        return f"first seen less than {limit} ago{_unknown_created(tag, rules)}"
    return f"younger than {limit}"


def _stale_reason(tag: TagFacts, rules: CompiledRules) -> str:
    """The rule the tag broke, not its age: the age is on the page already, and a reason
    that changed every day would rewrite every stale tag's verdict every day."""
    limit = _days(rules.max_age_days)
    unpulled = (
        f", not pulled for {_days(rules.unpulled_days)}" if rules.unpulled_days is not None else ""
    )
    if _counts_from_first_seen(tag, rules):
        return f"stale: first seen more than {limit} ago{_unknown_created(tag, rules)}{unpulled}"
    return f"stale: older than {limit}{unpulled}"


def _newest_reason(rules: CompiledRules, branch: str | None) -> str:
    count = rules.keep_newest
    if not rules.groups_by_branch:
        return (
            "newest tag of the repository"
            if count == 1
            else f"newest {count} tags of the repository"
        )
    builds = "newest build" if count == 1 else f"newest {count} builds"
    return f"{builds} of branch {branch}" if branch else f"{builds} with no branch name"


def _shares_digest_reason(protected_names: list[str]) -> str:
    names = sorted(protected_names)
    tags = "protected tag" if len(names) == 1 else "protected tags"
    return f"shares its digest with {tags} {', '.join(names)}"
