"""Benchmarks. Each measures its baseline in the same run and prints a table.

python -m bench sync  [--scale 2x500 --scale 20x500 …]   issue 2: the sync
python -m bench pages [--tags 100000 --repos 200 …]       issue 3: page server times
python -m bench delete [--tags 1000 --repos 4 …]          issue 4: bulk delete and preview
python -m bench events [--pushes 200 --burst 1000 …]      issue 13: registry notifications
python -m bench gitlab [--projects 20 --branches 50 …]    issue 9: GitLab's context
python -m bench policies [--tags 100000 --runs 3 …]       issue 14: a cleanup policy's run
python -m bench                                           all of them, default sizes
"""

from __future__ import annotations

import sys

from bench import delete, events, gitlab, pages, policies, request_kinds, sync

COMMANDS = {
    "sync": sync.main,
    "pages": pages.main,
    "requests": request_kinds.main,
    "delete": delete.main,
    "events": events.main,
    "gitlab": gitlab.main,
    "policies": policies.main,
}


def run(argv: list[str]) -> int:
    if argv and argv[0] in COMMANDS:
        return COMMANDS[argv[0]](argv[1:])
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    return max(command(argv) for command in COMMANDS.values())


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
