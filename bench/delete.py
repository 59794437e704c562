"""Delete benchmark: a confirmed batch against a bare client, and the preview of a big plan.

`python -m bench delete [--tags 1000 --repos 4 --preview-tags 5000 --repeat 3]`

It seeds a local registry once over the API (every tag its own image), stops it,
and for every measured run starts a registry on a fresh copy of that storage, so
each run deletes the same images. In child processes:

- floor: a bare requests client, 8 keep-alive connections, DELETE-ing every
  digest: the least any deletion must do (before it, timed apart, a HEAD per
  tag: the least the batch's safety re-check can cost);
- batch: the same tags synced into a fresh cache (SQLite in a temp dir, or
  BENCH_DATABASE_URL), all selected, planned and confirmed, untimed; then
  `execute_batch` is timed: the re-check (a HEAD per tag of every touched
  repository), the DELETEs, the items' outcomes and the cache update;
- preview: a cache filled directly with --preview-tags selected tags (and one
  kept tag for every ten, sharing their base layers, so that the reclaimable
  bytes have survivors to compare with); the time to plan the selection and to
  render the batch's page, a new batch each run.

`--profile` also writes a cProfile of the last batch run and prints its top entries.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TARGET_RATIO = 2.0
TARGET_PREVIEW_S = 2.0
PREVIEW_RUNS = 5


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench delete", description=__doc__)
    parser.add_argument("--tags", type=int, default=1000, help="tags (images) to delete")
    parser.add_argument("--repos", type=int, default=4, help="repositories they are in")
    parser.add_argument("--preview-tags", type=int, default=5000, help="tags in the plan")
    parser.add_argument("--preview-repos", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3, help="runs of floor and batch")
    parser.add_argument("--profile", action="store_true", help="cProfile the last batch run")
    options = parser.parse_args(argv)
    started = time.perf_counter()
    shm = "/dev/shm" if Path("/dev/shm").is_dir() else None
    with tempfile.TemporaryDirectory(prefix="janitor-bench-delete-", dir=shm) as tmp:
        workdir = Path(tmp)
        env = _child_env(workdir)
        seed_s = _seed(workdir, env, options)
        floors, batches = _measure_deletes(workdir, env, options)
        preview = _child(
            env,
            "preview",
            f"preview-{secrets.token_hex(3)}",
            options.preview_tags,
            options.preview_repos,
            PREVIEW_RUNS,
        )
        if options.profile:
            _print_profile(workdir / "batch.prof")
    ok = print_table(options, seed_s=seed_s, floors=floors, batches=batches, preview=preview)
    print(f"Whole benchmark: {time.perf_counter() - started:.0f} s")
    return 0 if ok else 1


def _child_env(workdir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": os.environ.get(
            "BENCH_DATABASE_URL", f"sqlite:///{workdir / 'bench.sqlite3'}"
        ),
        "DEBUG": "0",
        "SECRET_KEY": "bench-only-secret",
        "CREDENTIALS_KEY": "YmVuY2gtb25seS1rZXktMzItYnl0ZXMtbG9uZy4uLi4=",
        "ALLOWED_HOSTS": "testserver",
        "LOG_LEVEL": "WARNING",
    }


def _seed(workdir: Path, env: dict[str, str], options: argparse.Namespace) -> float:
    """Seed once into workdir/seed; its storage is copied for every measured run."""
    from devtools.local_registry import start_local_registry

    registry = start_local_registry(root_dir=workdir / "seed", delete_enabled=True)
    try:
        started = time.perf_counter()
        _child(env, "seed", registry.url, options.repos, options.tags, workdir / "images.json")
        return time.perf_counter() - started
    finally:
        registry.stop()  # before copying: no write may be half done


def _measure_deletes(
    workdir: Path, env: dict[str, str], options: argparse.Namespace
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Floor and batch runs in turn, so that the machine's other work hits both alike."""
    from devtools.local_registry import start_local_registry

    token = secrets.token_hex(3)
    floors: list[dict[str, Any]] = []
    batches: list[dict[str, Any]] = []
    for run in range(1, options.repeat + 1):
        for kind in ("floor", "batch"):
            root = workdir / f"{kind}-{run}"
            shutil.copytree(workdir / "seed" / "data", root / "data")
            registry = start_local_registry(root_dir=root, delete_enabled=True)
            try:
                if kind == "floor":
                    floors.append(_child(env, "floor", registry.url, workdir / "images.json"))
                else:
                    profile = [workdir / "batch.prof"] if options.profile else []
                    batches.append(
                        _child(
                            env, "batch", registry.url, f"del-{token}-{run}", options.tags, *profile
                        )
                    )
            finally:
                registry.stop()
            shutil.rmtree(root)
    return floors, batches


def _child(env: dict[str, str], step: str, *args: object) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.delete_steps", step, *map(str, args)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"bench step {step} failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _print_profile(path: Path) -> None:
    import pstats

    print()
    print("cProfile of the last execute_batch, by cumulative time:")
    pstats.Stats(str(path)).sort_stats("cumulative").print_stats(40)


def print_table(
    options: argparse.Namespace,
    *,
    seed_s: float,
    floors: list[dict[str, Any]],
    batches: list[dict[str, Any]],
    preview: dict[str, Any],
) -> bool:
    floor = min(floors, key=lambda run: run["seconds"])
    batch = min(batches, key=lambda run: run["seconds"])
    ratio = batch["seconds"] / floor["seconds"]
    print()
    print(
        f"Delete benchmark: {options.tags:,} tags (one image each) in {options.repos} "
        f"repositories; best of {options.repeat} runs, each on a fresh copy of the storage"
    )
    header = (
        f"{'measure':<44} {'seconds':>8} {'requests':>9} {'ms/tag':>7} {'CPU s':>6} "
        f"{'ratio':>7} {'ok':>3}"
    )
    print(header)
    print("-" * len(header))
    head = min(run["head_seconds"] for run in floors)
    ratio_ok = ratio <= TARGET_RATIO
    rows = [
        ("floor: bare DELETE per digest, 8 conns", floor, "1.00x", ""),
        ("batch: execute_batch (re-check+delete+cache)", batch, f"{ratio:.2f}x",
         "yes" if ratio_ok else "NO"),
    ]  # fmt: skip
    for label, run, shown_ratio, ok in rows:
        print(
            f"{label:<44} {run['seconds']:>8.2f} {run['requests']:>9} "
            f"{1000 * run['seconds'] / options.tags:>7.2f} {run['cpu_seconds']:>6.2f} "
            f"{shown_ratio:>7} {ok:>3}"
        )
    print(
        f"{'  for scale: bare HEAD per tag, 8 conns':<44} {head:>8.2f} {options.tags:>9} "
        f"{1000 * head / options.tags:>7.2f} {'':>6} {head / floor['seconds']:>6.2f}x"
    )
    print(
        "  all runs, floor (DELETEs): "
        + ", ".join(f"{run['seconds']:.2f}" for run in floors)
        + " s; batch: "
        + ", ".join(f"{run['seconds']:.2f}" for run in batches)
        + " s"
    )
    print(
        "  CPU s: the measuring process's CPU time (all its threads): the client's share; "
        "the rest is the registry's."
    )
    print()
    print(
        f"Preview: {options.preview_tags:,} selected tags in {options.preview_repos} "
        f"repositories, median of {PREVIEW_RUNS} runs (a new batch each)"
    )
    header = f"{'measure':<44} {'seconds':>8} {'target':>9} {'ok':>3}"
    print(header)
    print("-" * len(header))
    print(f"{'plan_deletion from the selection':<44} {preview['plan_s']:>8.3f}")
    if preview["page_s"] is None:
        preview_s = preview["plan_s"]
        print("page: not available (no route named 'batch' yet)")
        label = "plan only (page not available)"
    else:
        preview_s = preview["sum_s"]
        print(f"{'GET the batch page (Django test client)':<44} {preview['page_s']:>8.3f}")
        label = "plan + page"
    preview_ok = preview_s <= TARGET_PREVIEW_S
    print(
        f"{label:<44} {preview_s:>8.3f} {TARGET_PREVIEW_S:>8.1f}s "
        f"{'yes' if preview_ok else 'NO':>3}"
    )
    runs = ", ".join(f"{seconds:.3f}" for seconds in preview["plan_all"])
    print(
        f"  all runs, plan: {runs} s"
        + (
            "; page: " + ", ".join(f"{seconds:.3f}" for seconds in preview["page_all"]) + " s"
            if preview["page_s"] is not None
            else ""
        )
    )
    print(
        f"Targets: batch ≤ {TARGET_RATIO}x floor (DELETEs only: the HEAD row shows what the "
        f"batch's re-check adds at the least); preview (plan + page) ≤ {TARGET_PREVIEW_S} s. "
        f"Seeding (once, not measured against anything): {seed_s:.1f} s."
    )
    return ratio_ok and preview_ok
