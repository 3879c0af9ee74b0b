"""Write-then-rename: a file appears under its final name only when complete (DESIGN.md §3)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from heaters import faults
from heaters.domain.files import TEMP_PREFIX, temp_name

__all__ = ["TEMP_PREFIX", "atomic_path", "clear_temps", "write_bytes"]


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
