from __future__ import annotations

from pathlib import Path

import pytest
import sqlean
from sqlalchemy import text

from heaters.domain.sources import Source
from heaters.store import videos
from heaters.store.migrations import LATEST
from heaters.store.store import NotAFolder, Store, StoreError


def test_fresh_home_has_schema_pragmas_and_vec(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "h")
    with store.tx(write=False) as s:
        assert s.execute(text("PRAGMA user_version")).scalar() == LATEST
        assert s.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert s.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert s.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL
        assert s.execute(text("PRAGMA busy_timeout")).scalar() >= 1000
        assert s.execute(text("SELECT vec_version()")).scalar().startswith("v")
        tables = {
            r[0] for r in s.execute(text("SELECT name FROM sqlite_master WHERE type='table'"))
        }
    assert {"source_videos", "clips", "clip_artifacts", "clip_events", "embeddings"} <= tables
    # opening again migrates nothing and keeps data
    with store.tx() as s:
        videos.register(s, Source("url", "https://example.com/a"))
    store.close()
    again = Store.open(tmp_path / "h")
    with again.tx(write=False) as s:
        assert len(videos.all_videos(s)) == 1


def test_same_url_registers_once(tmp_path: Path, backend: str) -> None:
    store = Store.open(tmp_path)
    with store.tx() as s:
        a, created_a = videos.register(s, Source("url", "https://example.com/a"))
        b, created_b = videos.register(s, Source("url", "https://example.com/a"))
    assert created_a and not created_b and a.id == b.id


def test_event_log_is_append_only(tmp_path: Path, backend: str) -> None:
    store = Store.open(tmp_path)
    with store.tx() as s:
        s.execute(
            text(
                "INSERT INTO source_videos (url, state, created_at, updated_at)"
                " VALUES ('http://x', 'spliced', 0, 0)"
            )
        )
        s.execute(
            text(
                "INSERT INTO clips (source_video_id, start_frame, end_frame, start_time_s,"
                " end_time_s, created_at, updated_at) VALUES (1, 0, 10, 0, 1, 0, 0)"
            )
        )
        s.execute(
            text("INSERT INTO clip_events (clip_id, action, created_at) VALUES (1, 'approve', 0)")
        )
    with store.tx() as s:
        s.execute(text("UPDATE clip_events SET committed_at = 5 WHERE id = 1"))
    with pytest.raises(Exception, match="immutable"), store.tx() as s:
        s.execute(text("UPDATE clip_events SET committed_at = 6 WHERE id = 1"))
    with pytest.raises(Exception, match="append-only"), store.tx() as s:
        s.execute(text("DELETE FROM clip_events"))
    if backend == "postgres":
        with pytest.raises(Exception, match="append-only"), store.tx() as s:
            s.execute(text("TRUNCATE clip_events CASCADE"))
    with store.tx(write=False) as s:
        assert s.execute(text("SELECT committed_at FROM clip_events")).scalars().all() == [5]


def test_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "heaters.db").write_text("hello, I am not SQLite" * 100)
    with pytest.raises(StoreError, match="cannot open"):
        Store.open(tmp_path)


def test_home_that_is_a_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "h").write_text("x")
    with pytest.raises(NotAFolder, match="is not a folder"):
        Store.open(tmp_path / "h")
    with pytest.raises(NotAFolder, match=r"is not a folder \(.*/h is a file\)"):
        Store.open(tmp_path / "h" / "below")
    assert (tmp_path / "h").read_text() == "x"


def test_connections_load_sqlite_vec_and_then_refuse_extensions(tmp_path: Path) -> None:
    """sqlite-vec is loaded on every connection; loading further extensions is switched off."""
    from heaters.store.db import connect_raw

    conn = connect_raw(tmp_path / "x.db")
    dist = conn.execute("SELECT vec_distance_l2(vec_f32('[0, 0]'), vec_f32('[3, 4]'))").fetchone()
    assert dist[0] == pytest.approx(5.0)
    with pytest.raises(sqlean.OperationalError, match="not authorized"):
        conn.execute("SELECT load_extension('anything')")


def test_a_locked_database_is_a_store_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Callers above the store see DatabaseError (one line, nothing written), not the ORM's."""
    from heaters.store import db

    monkeypatch.setattr(db, "BUSY_TIMEOUT_MS", 200)
    store = Store.open(tmp_path)
    holder = sqlean.connect(str(tmp_path / "heaters.db"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(db.DatabaseError, match="locked"), store.tx() as s:
            videos.register(s, Source("url", "https://example.com/a"))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    with store.tx(write=False) as s:
        assert videos.all_videos(s) == []


def test_a_writer_held_up_on_postgresql_fails_as_on_sqlite(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client stopped inside a write transaction keeps PostgreSQL's writer lock: another
    writer gets DatabaseError after the busy timeout (nothing written), as on SQLite, instead of
    waiting for ever; once the lock is free, writes go through."""
    import time

    from heaters.store import db

    monkeypatch.setattr(db, "BUSY_TIMEOUT_MS", 300)
    store = Store.open(tmp_path, database_url=pg_url)
    with store.tx() as held:  # the stopped client, inside its write
        videos.register(held, Source("url", "https://example.com/held"))
        started = time.monotonic()
        with pytest.raises(db.DatabaseError, match="lock timeout"), store.tx() as s:
            videos.register(s, Source("url", "https://example.com/a"))
        assert time.monotonic() - started < 30
    with store.tx() as s:
        videos.register(s, Source("url", "https://example.com/a"))
    with store.tx(write=False) as s:
        assert sorted(v.url for v in videos.all_videos(s)) == [
            "https://example.com/a", "https://example.com/held",
        ]  # fmt: skip
