"""Write-then-rename: a file appears under its final name only when complete (DESIGN.md §3)."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from heaters import faults
from heaters.domain.files import TEMP_PREFIX, temp_name

__all__ = ["TEMP_PREFIX", "atomic_path", "clear_temps", "dying_with_us", "write_bytes"]


@contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temp path in the same folder; on success fsync and rename it to `final`."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(temp_name(final.name))
    try:
        yield tmp
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        faults.hit("atomic.written")
        os.replace(tmp, final)
        faults.hit("atomic.renamed")
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(final: Path, data: bytes) -> None:
    with atomic_path(final) as tmp:
        tmp.write_bytes(data)


def clear_temps(folder: Path, keep: tuple[str, ...] = ()) -> int:
    """Remove the temp files (and yt-dlp work folders) a killed attempt left in `folder`.

    Call it only on the folder of a row the caller has just claimed: nobody else may be writing
    there (a worker whose claim expired loses its rename, and with it its result). Names in `keep`
    stay (a download's resume folder). Returns how many entries went.
    """
    removed = 0
    try:
        entries = list(folder.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return 0
    for entry in entries:
        if not entry.name.startswith(TEMP_PREFIX) or entry.name in keep:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed += 1
    return removed


# Run in a small Python of its own, between fork and ffmpeg: asks the kernel for SIGKILL when
# the parent dies, checks the parent did not die first, then becomes the command (execv keeps
# the request). argv: parent pid, command, its arguments.
_GUARD = """
import ctypes, os, sys
try:
    ctypes.CDLL(None).prctl(1, 9, 0, 0, 0)  # PR_SET_PDEATHSIG, SIGKILL
except (OSError, AttributeError):
    pass
if os.getppid() != int(sys.argv[1]):
    os._exit(1)
import signal
for name in ("SIGPIPE", "SIGXFSZ"):  # Python ignores these; exec would pass that on
    if hasattr(signal, name):
        signal.signal(getattr(signal, name), signal.SIG_DFL)
try:
    os.execvp(sys.argv[2], sys.argv[2:])  # (a bare name is looked up on PATH, as before)
except OSError as e:
    os.write(2, f"cannot run {sys.argv[2]}: {e.strerror}\\n".encode())
    os._exit(127)
"""


def dying_with_us(argv: list[str]) -> list[str]:
    """`argv` run so that the command gets SIGKILL when this process dies (Linux
    PR_SET_PDEATHSIG), so a killed run or export leaves no ffmpeg behind.

    Not `preexec_fn`: that runs Python in the forked child, which first frees the other
    threads' state, and a thread's PyAV scaler freed there waits for its slice threads, which
    the child does not have: the child hung for ever before it ran ffmpeg (an export from the
    review screen, whose workers had made tiles). A Python started by exec has no such state
    (~15 ms once per ffmpeg run). Elsewhere than Linux, `argv` as it is."""
    if not sys.platform.startswith("linux") or not sys.executable:
        return argv
    return [sys.executable, "-I", "-S", "-c", _GUARD, str(os.getpid()), *argv]
