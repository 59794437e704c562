"""Benchmarks: `python -m bench [sync] [--scale 2x500 --scale 20x500 …]`.

Each figure is measured against a baseline taken in the same run, and reported
as a ratio. See bench/sync.py.
"""

from __future__ import annotations

import sys

from bench.sync import main

if __name__ == "__main__":
    args = sys.argv[1:]
    if args and args[0] == "sync":
        args = args[1:]
    sys.exit(main(args))
