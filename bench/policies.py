"""Policy benchmark: a cleanup policy's run over a large cache, and its registry requests.

`python -m bench policies [--fill 160000 --repos 200 --runs 3]`

In a child process (its own SQLite database) it fills a cache shaped like a CI
registry (bench.pages_steps.fill: a year of builds), points the registry at a local
HTTP server that counts every request it gets, and runs a weekly policy (review
builds, the newest 3 of each branch kept, stale after 90 days) once on the
uncleaned cache: the catch-up run, a year's worth to propose. Then it brings the
cache to the state the policy keeps it in (last week's proposal approved, deleted,
and gone from the cache: about 100,000 tags remain) and times:

- the baseline: the bare ORM floor of reading those tags (one query, the columns the
  rules need), which no run can beat;
- choosing the stale tags under the policy's own rules (every cached tag judged);
- the weekly run in propose mode, as the schedule runs it: choosing, superseding the
  previous proposal, and saving the plan as a batch.

The registry must get no request: a run reads the cache only, until someone approves.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 2.0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench policies", description=__doc__)
    parser.add_argument("--fill", type=int, default=160_000, help="tags before the catch-up")
    parser.add_argument("--repos", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args(argv)
    database = f"sqlite:///{tempfile.mkdtemp(prefix='janitor-policies-')}/bench.sqlite3"
    env = {
        **os.environ,
        "DATABASE_URL": database,
        "DEBUG": "0",
        "SECRET_KEY": "bench-only-secret",
        "CREDENTIALS_KEY": "YmVuY2gtb25seS1rZXktMzItYnl0ZXMtbG9uZy4uLi4=",
        "ALLOWED_HOSTS": "testserver",
        "REDIS_URL": "memory://",
        "LOG_LEVEL": "WARNING",
    }
    command = [
        sys.executable, "-m", "bench.policies_steps",
        str(options.fill), str(options.repos), str(options.runs),
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"policy bench failed:\n{done.stdout}\n{done.stderr}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print_table(result, options)
    return 0 if result["ok"] else 1


def print_table(result: dict, options: argparse.Namespace) -> None:
    print()
    print(
        f"Policy benchmark: {result['tags']:,} cached tags in {options.repos} repositories, "
        f"SQLite, median of {options.runs} runs"
    )
    print(
        f"Catch-up run over the {result['filled']:,} tags of a year nobody cleaned: "
        f"{result['catch_up']:.3f} s, {result['catch_up_proposed']:,} tags proposed "
        f"(then {result['pruned']:,} removed: last week's proposal, applied)"
    )
    header = (
        f"{'step':<44} {'seconds':>8} {'x base':>7} {'CPU s':>7} {'requests':>9} "
        f"{'target':>7} {'ok':>3}"
    )
    print(header)
    print("-" * len(header))
    base = result["baseline"]
    cpu = result["cpu"]
    for label, seconds, cpu_seconds, requests, target in [
        ("baseline: read the tags (ORM, one query)", base, cpu["baseline"], None, None),
        ("choose the stale tags (the policy's rules)", result["select"], cpu["select"], None, None),
        (
            "weekly run (propose: choose + save the plan)",
            result["run"],
            cpu["run"],
            result["requests"],
            TARGET_SECONDS,
        ),
    ]:
        ok = "" if target is None else ("yes" if result["ok"] else "NO")
        print(
            f"{label:<44} {seconds:>8.3f} {seconds / base:>6.1f}x {cpu_seconds:>7.3f} "
            f"{'' if requests is None else requests:>9} {'' if target is None else target:>7} "
            f"{ok:>3}"
        )
    print(
        f"  all runs: {', '.join(f'{s:.3f}' for s in result['runs'])} s; "
        f"{result['proposed']:,} tags proposed a run; {result['requests']} requests reached "
        "the registry in all runs (target: 0 until approval)"
    )
    print(
        f"  load average {result['load']:.1f} on {os.cpu_count()} cores while measuring: "
        "CPU s is the process's own CPU time, what the step costs the machine"
    )
