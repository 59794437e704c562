"""GitLab benchmark: what GitLab's context costs a sync, against the same sync without it.

A group of PROJECTS projects (the stand-in GitLab, devtools/gitlab_standin.py, in this
process), each with BRANCHES branches and as many merge requests (three in five open, one
in five merged, one in five closed), a live review environment for one branch in five
and a stopped one for another, and a repository of TAGS review images (two builds a
branch, labelled with their commits) in a fresh `docker-registry`. Measured in child
processes, each first sync into an empty cache (SQLite in a temp dir, or
BENCH_DATABASE_URL):

- baseline: the registry synced without GitLab (its catalog);
- first: the same sync connected to the group (discovery, context, ties);
- refresh: that sync again with nothing changed.

It reports the requests to GitLab per sync and how much longer the first sync takes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
GROUP = "bench"
TOKEN = "glpat-bench-0123456789"
TARGET_EXTRA = 0.20  # the context may add at most this much to a first sync


def commit(project: int, branch: int, build: int) -> str:
    return hashlib.sha1(f"{project}:{branch}:{build}".encode()).hexdigest()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench gitlab", description=__doc__)
    parser.add_argument("--projects", type=int, default=20)
    parser.add_argument("--branches", type=int, default=50)
    parser.add_argument("--tags", type=int, default=100, help="images per project (default 100)")
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args(argv)
    row = measure(options.projects, options.branches, options.tags, repeat=options.repeat)
    print_table(row)
    return 0 if min(row["extra"], row["first_cpu"] / row["baseline_cpu"] - 1) <= TARGET_EXTRA else 1


def measure(projects: int, branches: int, tags: int, *, repeat: int) -> dict[str, Any]:
    from devtools.gitlab_standin import StandInGitLab
    from devtools.local_registry import start_local_registry

    shm = "/dev/shm" if Path("/dev/shm").is_dir() else None
    with tempfile.TemporaryDirectory(prefix="janitor-bench-gitlab-", dir=shm) as tmp:
        workdir = Path(tmp)
        registry = start_local_registry(root_dir=workdir / "registry")
        gitlab = StandInGitLab().start()
        try:
            names = populate(gitlab, projects=projects, branches=branches)
            _child("seed", workdir, registry.url, gitlab.url, names, tags, branches)
            baselines, firsts, refreshes = [], [], []
            for _ in range(repeat):
                baselines.append(_child("baseline", workdir, registry.url, gitlab.url))
                gitlab.requests.clear()
                firsts.append(_child("first", workdir, registry.url, gitlab.url))
                firsts[-1]["served"] = len(gitlab.requests)
                gitlab.requests.clear()
                refreshes.append(_child("refresh", workdir, registry.url, gitlab.url))
                refreshes[-1]["served"] = len(gitlab.requests)
        finally:
            gitlab.stop()
            registry.stop()
    baseline = min(baselines, key=lambda r: r["seconds"])
    first = min(firsts, key=lambda r: r["seconds"])
    refresh = min(refreshes, key=lambda r: r["seconds"])
    return {
        "projects": projects,
        "branches": branches,
        "tags": first["tags"],
        "baseline_s": baseline["seconds"],
        "first_s": first["seconds"],
        "refresh_s": refresh["seconds"],
        "extra": first["seconds"] / baseline["seconds"] - 1,
        "baseline_cpu": min(r["cpu_seconds"] for r in baselines),
        "first_cpu": min(r["cpu_seconds"] for r in firsts),
        "refresh_cpu": min(r["cpu_seconds"] for r in refreshes),
        "first_gitlab_requests": first["gitlab_requests"],
        "refresh_gitlab_requests": refresh["gitlab_requests"],
        "served_first": first["served"],
        "served_refresh": refresh["served"],
        "registry_requests": (baseline["requests"], first["requests"], refresh["requests"]),
        "stale": first["stale"],
        "in_use": first["in_use"],
        "runs": {
            "baseline": [round(r["seconds"], 2) for r in baselines],
            "first": [round(r["seconds"], 2) for r in firsts],
            "refresh": [round(r["seconds"], 2) for r in refreshes],
        },
    }


def populate(gitlab, *, projects: int, branches: int) -> list[str]:
    """The group: its projects, branches, merge requests and environments."""
    from devtools.gitlab_standin import MAINTAINER, iso

    user = gitlab.add_user("bench", TOKEN, scopes=["api"])
    gitlab.add_group(GROUP)
    gitlab.grant(user, GROUP, MAINTAINER)
    names = []
    for p in range(projects):
        # A few subgroups, as a real group has.
        path = f"{GROUP}/team-{p % 4}/project-{p:02d}"
        project = gitlab.add_project(path)
        gitlab.add_repository(project, path)
        names.append(path)
        gitlab.push_branch(project, "main", commit(p, -1, 0))
        for b in range(branches):
            name = f"branch-{b:02d}"
            gitlab.push_branch(project, name, commit(p, b, 1))
            iid = gitlab.open_merge_request(project, source_branch=name, author=f"dev{b % 7}")
            gitlab.push_to_merge_request(project, iid, commit(p, b, 2))
            if b % 5 in (3, 4):
                state = "merged" if b % 5 == 3 else "closed"
                gitlab.finish_merge_request(project, iid, state=state)
                mr = project.merge_requests[iid]
                mr[f"{state}_at"] = mr["updated_at"] = iso(datetime.now(UTC) - timedelta(days=3))
                if state == "merged":
                    gitlab.delete_branch(project, name)
            if b % 5 == 0:
                environment = gitlab.add_environment(project, f"review/{name}")
                gitlab.deploy(project, environment, ref=name, sha=commit(p, b, 2))
            elif b % 5 == 1:
                environment = gitlab.add_environment(project, f"review/{name}")
                gitlab.deploy(project, environment, ref=name, sha=commit(p, b, 2))
                gitlab.stop_environment(project, environment)
    return names


def _child(
    step: str, workdir: Path, registry_url: str, gitlab_url: str, *extra: object
) -> dict[str, Any]:
    env = {
        **os.environ,
        "DEBUG": "1",
        "DATABASE_URL": os.environ.get(
            "BENCH_DATABASE_URL", f"sqlite:///{workdir / 'bench.sqlite3'}"
        ),
    }
    command = [
        sys.executable,
        "-m",
        "bench.gitlab_steps",
        step,
        registry_url,
        gitlab_url,
        json.dumps(list(extra)),
    ]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"bench step {step} failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def print_table(row: dict[str, Any]) -> None:
    print()
    print(
        f"GitLab benchmark: {row['projects']} projects x {row['branches']} branches and merge "
        f"requests, {row['tags']:,} tags (best of {len(row['runs']['first'])} runs)"
    )
    header = (
        f"{'sync':<34} {'seconds':>8} {'vs baseline':>12} {'CPU s':>7} {'vs baseline':>12} "
        f"{'GitLab requests':>16} {'a project':>10} {'registry requests':>18}"
    )
    print(header)
    print("-" * len(header))
    base, first, refresh = row["registry_requests"]
    cpu_extra = row["first_cpu"] / row["baseline_cpu"] - 1
    lines = [
        (
            "baseline (no GitLab, catalog)",
            row["baseline_s"],
            "",
            row["baseline_cpu"],
            "",
            "",
            "",
            base,
        ),
        (
            "first, with GitLab",
            row["first_s"],
            f"{row['extra']:+.0%}",
            row["first_cpu"],
            f"{cpu_extra:+.0%}",
            row["first_gitlab_requests"],
            f"{row['first_gitlab_requests'] / row['projects']:.1f}",
            first,
        ),
        (
            "no-change refresh, with GitLab",
            row["refresh_s"],
            "",
            row["refresh_cpu"],
            "",
            row["refresh_gitlab_requests"],
            f"{row['refresh_gitlab_requests'] / row['projects']:.1f}",
            refresh,
        ),
    ]
    for name, seconds, versus, cpu, cpu_versus, requests, per_project, registry_requests in lines:
        print(
            f"{name:<34} {seconds:>8.2f} {versus:>12} {cpu:>7.2f} {cpu_versus:>12} "
            f"{requests!s:>16} {per_project:>10} {registry_requests!s:>18}"
        )
    runs = row["runs"]
    print(f"  all runs: baseline {runs['baseline']}; first {runs['first']}; ", end="")
    print(f"refresh {runs['refresh']} s")
    print(
        f"  the stand-in served {row['served_first']} requests in the first sync and "
        f"{row['served_refresh']} in the refresh; {row['stale']} tags stale, "
        f"{row['in_use']} in use after the first"
    )
    print(
        f"Target: the context adds at most {TARGET_EXTRA:.0%} to a first sync (wall time on a "
        "quiet machine; the sync's own CPU time where the machine is shared); a no-change "
        "refresh is a handful of requests a project."
    )
