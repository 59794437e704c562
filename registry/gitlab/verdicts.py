"""The staleness rules for a registry connected to GitLab. Pure: `evaluate_tags`
(registry.staleness) asks these for every tag tied to GitLab, and the words they
return are what the pages show.

- *In use*: an image whose commit is the last deployment of a live environment (for an
  image whose commit is unknown: the newest image of a branch with a live environment)
  is protected: never stale, and refused in any plan. "runs in review/hotfix-live".
- *Branch gone*: an image whose merge request was merged or closed, or whose branch no
  longer exists, is stale once that is `grace_days` old. "merge request !2 merged 3 days
  ago", "branch feature-x deleted".
- *Fail safe*: while GitLab's context could not be refreshed (GitLab down, or answering
  errors), nothing is stale on GitLab's word: the reason says since when.
- Any other tie (the branch lives, its merge request is open): not stale.
- No tie, or an ambiguous one: the registry's other rules decide (None).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from .matching import Tie


def in_use_reason(tie: Tie) -> str:
    assert tie.environment is not None
    return f"runs in {tie.environment.name}"


def days(count: int) -> str:
    return "1 day" if count == 1 else f"{count} days"


def ago(delta: timedelta) -> str:
    return "less than a day ago" if delta.days < 1 else f"{days(delta.days)} ago"


def gone_fact(tie: Tie, *, now: datetime) -> str:
    """What happened to the image's branch, in plain words ("" while it lives)."""
    gone = tie.gone
    if gone is None:
        return ""
    kind, since = gone
    when = f" {ago(now - since)}" if since is not None else ""
    if kind in ("merged", "closed"):
        assert tie.merge_request is not None
        return f"merge request !{tie.merge_request.iid} {kind}{when}"
    if kind == "deleted":
        return f"branch {tie.branch} deleted"
    return f"no branch {tie.branch} in GitLab"


def alive_fact(tie: Tie) -> str:
    if tie.merge_request is not None:
        return f"merge request !{tie.merge_request.iid} open"
    if tie.branch_state == "exists":
        return f"branch {tie.branch} exists"
    if tie.environment is not None:
        return f"last deployed to {tie.environment.name} (stopped)"
    return ""


def not_refreshed_reason(fact: str, tie: Tie) -> str:
    when = tie.project.refreshed_at
    since = f"since {when:%Y-%m-%d %H:%M} UTC" if when else "yet"
    return f"{fact}, but GitLab has not been read {since}: not stale until it is"


def gitlab_verdict(tie: Tie, *, grace_days: int, now: datetime) -> tuple[bool, str] | None:
    """(stale, reason) on GitLab's word, or None when GitLab cannot tell. In-use images
    are protected by the caller (see `in_use_reason`) before this is asked."""
    if tie.ambiguous or not tie.matched:
        return None
    fact = gone_fact(tie, now=now)
    if not fact:
        alive = alive_fact(tie)
        return (False, alive) if alive else None
    gone = tie.gone
    assert gone is not None
    if not tie.project.fresh:
        return False, not_refreshed_reason(fact, tie)
    since = gone[1]
    if since is not None and now - since < timedelta(days=grace_days):
        return False, f"{fact}: stale once that is {days(grace_days)} old"
    return True, fact
