"""The `heaters` entry point's exit: every store a command opened is closed before the process
ends (SQLite's write-ahead log merged into the database, as after a normal interpreter exit)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from heaters.library import Library, close_all

MEDIA = Path(__file__).resolve().parent / "media"


def heaters(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "heaters", "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("args", [("ingest", str(MEDIA / "counter.mp4")), ("run", "--once")])
def test_a_command_leaves_the_database_closed(tmp_path: Path, args: tuple[str, ...]) -> None:
    home = tmp_path / "home"
    if args[0] == "run":
        assert heaters(home, "ingest", str(MEDIA / "counter.mp4")).returncode == 0
    done = heaters(home, *args)
    assert done.returncode == 0, done.stderr
    assert (home / "heaters.db").stat().st_size > 0
    # The last connection closed cleanly: SQLite merged and removed its log.
    assert not (home / "heaters.db-wal").exists()
    assert not (home / "heaters.db-shm").exists()


def test_close_all_closes_the_stores_libraries_opened(tmp_path: Path) -> None:
    first, second = Library.open(tmp_path / "a"), Library.open(tmp_path / "b")
    assert first.store.home.root != second.store.home.root  # both opened
    untouched = Library.open(tmp_path / "c")  # never opened its store: nothing to close
    close_all()
    for lib in (first, second, untouched):
        assert lib._store is None
    assert not (tmp_path / "c").exists()
    close_all()  # again: nothing left, no error
