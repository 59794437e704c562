"""The policy benchmark's measuring process: fill, run the policy, print one JSON line."""

from __future__ import annotations

import json
import os
import statistics
import sys
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "janitor_site.settings")
django.setup()

from django.core.management import call_command  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench.pages_steps import fill  # noqa: E402
from bench.policies import TARGET_SECONDS  # noqa: E402
from registry.chunking import chunks  # noqa: E402
from registry.models import CleanupPolicy, PolicyRun, Registry, Tag  # noqa: E402
from registry.policies.run import run_policy  # noqa: E402
from registry.policies.selection import policy_selection  # noqa: E402

# A weekly policy as a team would write it: review builds of every branch, the newest
# three of each kept, the rest stale after 90 days.
POLICY = {
    "include_patterns": ["^team-"],
    "exclude_patterns": ["service-09$"],
    "branch_pattern": r"^review-(?P<branch>.+)-\d+$",
    "keep_newest": 3,
    "max_age_days": 90,
}


class CountingRegistry:
    """An HTTP server that answers 404 to everything and counts what it got."""

    def __init__(self) -> None:
        self.count = 0
        counter = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                counter.count += 1
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_HEAD = do_DELETE = do_PUT = do_POST = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


CPU: list[float] = []  # the process's CPU seconds of each timed action, in order


def timed(action: Any) -> tuple[float, Any]:
    """Wall seconds of `action()`, and its result; its CPU seconds go to CPU."""
    started, cpu = time.perf_counter(), time.process_time()
    result = action()
    CPU.append(time.process_time() - cpu)
    return time.perf_counter() - started, result


def prune_last_weeks_proposal(policy: CleanupPolicy) -> int:
    """The state a weekly policy keeps a registry in: last week's proposal was approved and
    deleted, and the cache followed. Returns how many tags that removed."""
    chosen = policy_selection(policy=policy, now=timezone.now() - timedelta(days=7)).tag_ids
    for chunk in chunks(chosen):
        Tag.objects.filter(pk__in=chunk).delete()
    return len(chosen)


def main() -> None:
    filled, repos, runs = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    call_command("migrate", verbosity=0)
    registry = fill(name="bench", tags=filled, repos=repos)
    counting = CountingRegistry()
    Registry.objects.filter(pk=registry.pk).update(url=counting.url)
    registry.refresh_from_db()
    policy = CleanupPolicy.objects.create(name="weekly", registry=registry, **POLICY)

    # The first run on a registry nobody cleaned for a year: a year's worth to propose.
    catch_up, first = timed(lambda: run_policy(policy=policy, trigger=PolicyRun.Trigger.SCHEDULE))
    assert first.status == PolicyRun.Status.PROPOSED, first.error
    pruned = prune_last_weeks_proposal(policy)

    def read_tags() -> int:
        rows = Tag.objects.filter(repository__registry=registry).values_list(
            "repository_id", "pk", "name", "manifest__digest", "manifest__created", "first_seen"
        )
        return len(list(rows.iterator(chunk_size=2000)))

    read_tags()  # warm the page cache
    CPU.clear()
    baseline = statistics.median(timed(read_tags)[0] for _ in range(runs))
    baseline_cpu = statistics.median(CPU)
    CPU.clear()
    selections = [
        timed(lambda: policy_selection(policy=policy, now=timezone.now())) for _ in range(runs)
    ]
    select_cpu = statistics.median(CPU)
    CPU.clear()
    durations = []
    proposed = 0
    for _ in range(runs):
        seconds, run = timed(lambda: run_policy(policy=policy, trigger=PolicyRun.Trigger.SCHEDULE))
        assert run.status == PolicyRun.Status.PROPOSED, run.error
        durations.append(seconds)
        proposed = run.tags_proposed
    median = statistics.median(durations)
    run_cpu = statistics.median(CPU)
    print(
        json.dumps(
            {
                "filled": filled,
                "tags": Tag.objects.count(),
                "pruned": pruned,
                "catch_up": catch_up,
                "catch_up_proposed": first.tags_proposed,
                "baseline": baseline,
                "cpu": {"baseline": baseline_cpu, "select": select_cpu, "run": run_cpu},
                "load": os.getloadavg()[0],
                "select": statistics.median(s for s, _ in selections),
                "run": median,
                "runs": durations,
                "proposed": proposed,
                "requests": counting.count,
                "ok": median <= TARGET_SECONDS and counting.count == 0,
            }
        )
    )


if __name__ == "__main__":
    main()
