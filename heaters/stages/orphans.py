"""Child processes that die with heaters: a `kill -9` of a run or an export leaves no ffmpeg or
download behind (Linux PR_SET_PDEATHSIG; elsewhere the parent's own kill on stop still applies).

Two users: the download child (`fetch_child`) asks for it itself, first thing; ffmpeg cannot, so
`dying_with_us(argv)` starts it through this file run as a script (`python -I -S orphans.py PID
COMMAND ARGS...`), which asks, checks that its parent is still alive, then becomes the command
by exec. Not `preexec_fn`: that runs Python in the forked child, which first frees the other
threads' state, and a thread's PyAV scaler freed there waits for slice threads the child does not
have: the child hung for ever before it ran ffmpeg (an export from the review screen, whose
workers had made tiles). A Python started by exec has no such state (~15 ms once per ffmpeg run).

This file imports only the standard library: it runs with `-S` (no site-packages, so no heaters).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int) -> None:
    """Ask for SIGKILL when the parent dies; exit at once if `parent` is already gone (it died
    before the request took effect, and this process was handed to init)."""
    try:
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux, or no prctl
        pass
    if os.getppid() != parent:
        os._exit(1)


def dying_with_us(argv: list[str]) -> list[str]:
    """`argv` run so that the command gets SIGKILL when this process dies. Elsewhere than
    Linux, `argv` as it is."""
    if not sys.platform.startswith("linux") or not sys.executable:
        return argv
    return [sys.executable, "-I", "-S", os.path.abspath(__file__), str(os.getpid()), *argv]


def _become(argv: list[str]) -> None:
    """`argv[0]` is the parent's pid, the rest the command: become the command (exec keeps the
    death signal; a bare name is looked up on PATH), or say why not in one line, exit 127."""
    die_with_parent(int(argv[0]))
    for name in ("SIGPIPE", "SIGXFSZ"):  # Python ignores these; exec would pass that on
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_DFL)
    try:
        os.execvp(argv[1], argv[1:])  # an argv list: no shell
    except OSError as e:
        os.write(2, f"cannot run {argv[1]}: {e.strerror}\n".encode())
        os._exit(127)


if __name__ == "__main__":
    _become(sys.argv[1:])
