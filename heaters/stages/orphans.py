"""Children that die with heaters: a `kill -9` of a run or an export leaves no download or
encoder behind (Linux PR_SET_PDEATHSIG).

The request must be made by the child. Not in a `preexec_fn`: that runs Python in the forked
copy of a process with threads, which first frees the other threads' state, and a thread's PyAV
scaler freed there waits for its slice threads, which the copy does not have (an export from
the review screen hung for ever there). The yt-dlp child (`fetch_child`) calls
`die_with_parent` itself; other commands are started through this file, run by a fresh Python
(`dying_with_us`), which makes the request, then execs the command (the request survives exec).

Only the standard library here: the file also runs as a script under `python -I -S`.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int) -> None:
    """SIGKILL for this process when its parent dies; exit now if `parent` already has (it died
    before the request took effect)."""
    try:
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the parent's kill on stop still applies
        pass
    if os.getppid() != parent:
        os._exit(1)


def dying_with_us(argv: list[str]) -> list[str]:
    """`argv` run so that the command gets SIGKILL when this process dies (~15 ms more to
    start: a Python without site). Elsewhere than Linux, `argv` as it is."""
    if not sys.platform.startswith("linux") or not sys.executable:
        return argv
    return [sys.executable, "-I", "-S", __file__, str(os.getpid()), *argv]


def _exec(argv: list[str]) -> None:
    """Become the command (a bare name is looked up on PATH, as subprocess does)."""
    for name in ("SIGPIPE", "SIGXFSZ"):  # Python ignores these; exec would pass that on
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_DFL)
    try:
        os.execvp(argv[0], argv)
    except OSError as e:
        os.write(2, f"cannot run {argv[0]}: {e.strerror}\n".encode())
        os._exit(127)


if __name__ == "__main__":
    die_with_parent(int(sys.argv[1]))
    _exec(sys.argv[2:])
