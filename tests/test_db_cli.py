"""`heaters db copy --to postgresql://...` as a user runs it, and a home then working on
PostgreSQL through `database_url`: the same status, the same clips."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import cli
from tests.store.test_copy import _library


def test_db_copy_then_every_command_reads_postgres(tmp_path: Path, pg_url: str) -> None:
    home = tmp_path / "home"
    _library(home).close()
    before = cli(home, "status", "--json")
    clips_before = cli(home, "clips", "--json")
    assert before.code == 0 and clips_before.code == 0

    done = cli(home, "db", "copy", "--to", pg_url, "--json")
    assert done.code == 0, done.stderr
    assert done.json()["verified"] is True and done.json()["rows"]["clips"] == 7  # six and a merge
    again = cli(home, "db", "copy", "--to", pg_url)
    assert again.code == 1 and "not empty" in again.stderr and "Traceback" not in again.stderr

    set_url = cli(home, "config", "database_url", pg_url)
    assert set_url.code == 0, set_url.stderr
    (home / "heaters.db").rename(home / "heaters.db.moved")  # it reads PostgreSQL, not the file
    after = cli(home, "status", "--json")
    assert after.code == 0, after.stderr
    assert after.json() == before.json()
    assert cli(home, "clips", "--json").json() == clips_before.json()
    assert cli(home, "events", "--check").code == 0


def test_db_copy_refuses_bad_input(tmp_path: Path) -> None:
    home = tmp_path / "home"
    res = cli(home, "db", "copy", "--to", "mysql://x/y")
    assert res.code == 2 and "postgresql://" in res.stderr
    res = cli(home, "db", "copy", "--to", "postgresql://nobody@127.0.0.1:1/none")
    assert res.code == 2 and "no library" in res.stderr  # nothing to copy: nothing tried
    assert not (home / "heaters.db").exists()
