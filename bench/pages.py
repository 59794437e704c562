"""Page benchmark: server time of the dashboard's pages over a large cache.

`python -m bench pages [--tags 100000 --repos 200] [--database sqlite --database postgres]`

For each database it fills a fresh cache directly (no registry needed), then
requests every page 20 times through Django's request handler (in-process, so
the figure is the server's time without a network) and prints the median, the
p95 and the number of SQL queries. The baseline is the cheapest request Django
can serve in the same setup (the login page, no queries of ours), so the table
also shows what the pages cost above the framework itself.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TARGET_P95_MS = 150.0
TARGET_SELECT_ALL_MS = 1000.0
POSTGRES_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
POSTGRES_BENCH_DB = "janitor_bench"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench pages", description=__doc__)
    parser.add_argument("--tags", type=int, default=100_000)
    parser.add_argument("--repos", type=int, default=200)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument(
        "--database", action="append", choices=["sqlite", "postgres"], help="default: both"
    )
    options = parser.parse_args(argv)
    rows: list[dict[str, Any]] = []
    for database in options.database or ["sqlite", "postgres"]:
        url = _database_url(database)
        if url is None:
            print(f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL}: skipped.")
            continue
        rows.extend(_run_child(url, database, options))
    print_table(rows, options)
    return 0 if rows and all(row["ok"] for row in rows) else 1


def _database_url(database: str) -> str | None:
    if database == "sqlite":
        return f"sqlite:///{tempfile.mkdtemp(prefix='janitor-pages-')}/bench.sqlite3"
    try:
        import psycopg

        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {POSTGRES_BENCH_DB}")
            conn.execute(f"CREATE DATABASE {POSTGRES_BENCH_DB}")
    except Exception:
        return None
    return POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{POSTGRES_BENCH_DB}"


def _run_child(url: str, database: str, options: argparse.Namespace) -> list[dict[str, Any]]:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DEBUG": "0",
        "SECRET_KEY": "bench-only-secret",
        "CREDENTIALS_KEY": "YmVuY2gtb25seS1rZXktMzItYnl0ZXMtbG9uZy4uLi4=",
        "ALLOWED_HOSTS": "testserver",
        "LOG_LEVEL": "WARNING",
    }
    command = [
        sys.executable,
        "-m",
        "bench.pages_steps",
        database,
        str(options.tags),
        str(options.repos),
        str(options.requests),
    ]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"page bench on {database} failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def print_table(rows: list[dict[str, Any]], options: argparse.Namespace) -> None:
    print()
    print(
        f"Page benchmark: {options.tags:,} tags in {options.repos} repositories, "
        f"{options.requests} requests each, server time in ms"
    )
    header = (
        f"{'page':<34} {'db':<9} {'median':>8} {'p95':>8} {'x base':>7} "
        f"{'queries':>8} {'q@small':>8} {'target':>8} {'ok':>3}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row['page']:<34} {row['db']:<9} {row['median_ms']:>8.1f} {row['p95_ms']:>8.1f} "
            f"{row['ratio']:>6.1f}x {row['queries']:>8} {row['queries_small']:>8} "
            f"{row['target_ms']:>8.0f} {'yes' if row['ok'] else 'NO':>3}"
        )
    print(
        "x base: median over the median of the login page (the framework's floor). "
        "q@small: queries for the same page over a cache of 1/100 the size "
        "(equal = constant queries)."
    )
