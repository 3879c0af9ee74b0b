"""Reads for the quick commands (`status`, `clips`): plain SQL on a read-only sqlean connection.

Opening the full store imports SQLAlchemy, SQLModel and sqlite-vec (with numpy): ~0.3 s of CPU
before the first query, more than these commands may take in all. `open_reader` opens the
database read-only instead, but only when `Store.open` would have used it unchanged: a non-empty
database at the latest schema, in a writable home with its media folder, whose identity matches
the home's `home.id`. Anything else (a new, emptied, foreign or older database, a read-only home,
any database error) gives None, and the caller takes the full `Store.open` path, which migrates,
or refuses with its own one line, exactly as before.

The queries take either a `Reader` or a SQLModel session (the full path), so both paths run the
same SQL; the clip listing is checked against the ORM's in tests/store/test_reads.py.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from heaters.domain import review as rules
from heaters.store.home import Home, read_home_id
from heaters.store.migrations import LATEST

TABLES = ("source_videos", "clips")


@dataclass(frozen=True)
class ClipRow:
    """A clip as read by plain SQL: the attributes of `tables.Clip` that listings show."""

    id: int
    source_video_id: int
    start_frame: int
    end_frame: int
    start_time_s: float
    end_time_s: float
    state: str
    reviewed_at: float | None
    grouped_with_clip_id: int | None
    superseded_by: str | None
    origin: str
    origin_event_id: int | None
    attempts: int
    last_error: str | None
    next_attempt_at: float | None
    claimed_by: str | None
    claimed_until: float | None
    created_at: float
    updated_at: float


@dataclass
class Reader:
    """One read-only connection to a home's database, inside one read transaction."""

    home: Home
    conn: Any

    def rows(self, query: str, params: Mapping[str, Any]) -> list[Sequence[Any]]:
        return list(self.conn.execute(query, dict(params)).fetchall())


def _rows(db: Any, query: str, params: Mapping[str, Any] | None = None) -> list[Sequence[Any]]:
    """Run `query` (named `:params`) on a Reader or on a SQLModel session."""
    if isinstance(db, Reader):
        return db.rows(query, params or {})
    from sqlalchemy import text  # a session: SQLAlchemy is loaded already

    return list(db.execute(text(query), dict(params or {})).all())


@contextmanager
def open_reader(root: Path) -> Iterator[Reader | None]:
    """A Reader on the home at `root` if the quick path may read it, else None (see above)."""
    from heaters.store import location

    home = Home(Path(root).expanduser().absolute())
    if location.database_url(home.root) or location.media_root(home.root):
        yield None  # another database or media folder: the full store knows how to open them
        return
    conn = _connect(home)
    if conn is None:
        yield None
        return
    try:
        conn.execute("BEGIN")  # one snapshot for every query of the command
        yield Reader(home, conn)
    finally:
        conn.close()


def _connect(home: Home) -> Any:
    """The read-only connection, or None where `Store.open` would create, migrate or refuse."""
    import sqlean

    db = home.db_path
    try:
        if not (home.media.is_dir() and db.is_file() and db.stat().st_size > 0):
            return None
        if not (os.access(home.root, os.W_OK) and os.access(db, os.W_OK)):
            return None  # Store.open's writes (WAL, identity) would meet this: let it say so
        file_id = read_home_id(home)
        if file_id is None:
            return None
        conn = sqlean.connect(
            f"file:{quote(str(db))}?mode=ro", uri=True, isolation_level=None, timeout=60
        )
    except (OSError, sqlean.Error):
        return None
    try:
        conn.execute("PRAGMA busy_timeout=60000")
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        (mode,) = conn.execute("PRAGMA journal_mode").fetchone()
        row = conn.execute("SELECT home_id FROM home_identity WHERE one = 1").fetchone()
        if version == LATEST and str(mode).lower() == "wal" and row and str(row[0]) == file_id:
            return conn
    except sqlean.Error:
        pass
    conn.close()
    return None


# ------------------------------------------------------------------ queries (Reader or session)


def counts(db: Any, table: str) -> dict[str, int]:
    """Rows per state."""
    if table not in TABLES:
        raise ValueError(table)
    rows = _rows(db, f"SELECT state, COUNT(*) FROM {table} GROUP BY state")
    return {str(state): int(n) for state, n in rows}


def failures(db: Any, table: str) -> list[dict[str, object]]:
    """Rows that failed at least once (failed state, or waiting for a retry)."""
    if table not in TABLES:
        raise ValueError(table)
    rows = _rows(
        db,
        f"SELECT id, state, attempts, last_error, next_attempt_at FROM {table}"
        " WHERE last_error IS NOT NULL ORDER BY id",
    )
    return [
        {"id": r[0], "state": r[1], "attempts": r[2], "last_error": r[3], "next_attempt_at": r[4]}
        for r in rows
    ]


def waiting(db: Any, grace_s: float) -> rules.Waiting:
    """Review actions in their grace period (as `heaters.store.review.waiting`)."""
    rows = _rows(
        db,
        "SELECT id, clip_id, action, payload, created_at FROM clip_events"
        " WHERE committed_at IS NULL AND action != :undo ORDER BY id",
        {"undo": rules.UNDO},
    )
    pending = [
        rules.Pending(int(i), clip, action, _json(payload) if payload else {}, created)
        for i, clip, action, payload, created in rows
    ]
    return rules.waiting(pending, grace_s)


# The columns of `heaters.store.tables.Clip`, in the order of ClipRow; no filter when a
# parameter is NULL.
_CLIPS = (
    "SELECT id, source_video_id, start_frame, end_frame, start_time_s, end_time_s, state,"
    " reviewed_at, grouped_with_clip_id, superseded_by, origin, origin_event_id, attempts,"
    " last_error, next_attempt_at, claimed_by, claimed_until, created_at, updated_at"
    " FROM clips WHERE (CAST(:video AS BIGINT) IS NULL OR source_video_id = :video)"
    " AND (:all_states OR state IN ({states}))"
    " ORDER BY source_video_id, start_frame, id"
)


def _json(value: Any) -> Any:
    """A JSON column's value: text on SQLite, already parsed on PostgreSQL."""
    return json.loads(value) if isinstance(value, str | bytes) else value


def clip_rows(
    db: Any, video_id: int | None = None, states: list[str] | None = None
) -> list[ClipRow]:
    """Clips in timeline order, of one video and some states (as `heaters.store.clips.list_clips`)."""
    # the states as bound parameters (:s0, :s1, ...): no JSON function both databases share
    names = list(dict.fromkeys(states or []))
    marks = ", ".join(f":s{i}" for i in range(len(names))) or "NULL"
    params: dict[str, Any] = {"video": video_id, "all_states": not names}
    params.update({f"s{i}": name for i, name in enumerate(names)})
    return [ClipRow(*r) for r in _rows(db, _CLIPS.format(states=marks), params)]


def tags_by_clip(db: Any, clip_ids: list[int]) -> dict[int, list[list[Any]]]:
    """Each clip's tags (label, probability), from its newest embedding that has tags."""
    if not clip_ids:
        return {}
    rows = _rows(db, "SELECT clip_id, tags FROM embeddings WHERE tags IS NOT NULL ORDER BY id")
    wanted = set(clip_ids)
    return {int(c): _json(t) for c, t in rows if int(c) in wanted}
