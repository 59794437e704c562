"""Child processes the demo supervises: each in a session of its own, stopped by the parent.

A child in its own session does not get the terminal's Ctrl-C: only the parent does,
and it stops the children in order (web and worker before the Redis they talk to).
On Linux a child also gets SIGTERM if the parent dies without stopping it (SIGKILL),
so not even that leaves a process behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable

STOP_TIMEOUT = 10.0
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def own_session_dying_with_parent() -> None:
    """A `preexec_fn`: a new session (no terminal signals), and SIGTERM when the parent dies."""
    os.setsid()
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def preexec_for(*, own_session: bool) -> Callable[[], None] | None:
    return own_session_dying_with_parent if own_session else None


def stop_process(
    process: subprocess.Popen[bytes], *, own_session: bool, timeout: float = STOP_TIMEOUT
) -> None:
    """SIGTERM, then SIGKILL after `timeout` seconds; with `own_session`, whatever else is
    left in its process group (a Celery worker's pool processes) is killed too."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)
    if own_session:
        # The group keeps the leader's pid as its id while any member lives.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)


def port_is_free(host: str, port: int) -> bool:
    """Whether a server could listen on host:port now.

    SO_REUSEADDR as the servers themselves set it: a port that only has connections in
    TIME_WAIT is free for them, while anything listening there makes the bind fail.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True
