"""`heaters db copy --to postgresql://...`: a one-machine home's SQLite library into PostgreSQL.

Every table is copied with its ids (the review log, lineage and stored paths refer to them), in
one PostgreSQL transaction into an empty, migrated database; the identity sequences then continue
after the copied ids. Before it commits, every row of every table is read back and compared with
the SQLite row, column by column (JSON compared as values): a difference rolls the whole copy
back. The tables kept by triggers (`embedding_tags`, `embedding_changes`) are rebuilt by the
triggers themselves as embeddings go in; their row counts are compared.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from heaters.store.db import connect_raw, make_pg_engine
from heaters.store.migrations import LATEST, current_version, migrate, migrate_pg

# Parents before children (foreign keys); home_identity first: the library's id goes with it.
TABLES: tuple[str, ...] = (
    "home_identity",
    "source_videos",
    "follows",
    "follow_seen",
    "clips",
    "clip_artifacts",
    "clip_events",
    "event_effects",
    "embeddings",
    "step_runs",
    "removed_clips",
)
DERIVED: tuple[str, ...] = ("embedding_tags",)  # rebuilt by triggers, compared by count
BATCH = 1000


class CopyError(RuntimeError):
    """The copy cannot be made or did not verify; nothing was committed."""


@dataclass
class CopyReport:
    rows: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def _key(table: str, columns: list[str]) -> str:
    if "id" in columns:
        return "id"
    return {"home_identity": "one", "follow_seen": "follow_id, source_key",
            "event_effects": "event_id", "removed_clips": "clip_id"}[table]  # fmt: skip


def _norm(value: Any, kind: str) -> Any:
    """A value as both databases should agree on it (JSON as data, blobs as bytes)."""
    if value is None:
        return None
    if kind == "json":
        return json.loads(value) if isinstance(value, str | bytes) else value
    if kind == "bytea":
        return bytes(value)
    return value


def copy_sqlite_to_postgres(db_path: Path, url: str) -> CopyReport:
    """Copy the SQLite library at `db_path` into the (empty) PostgreSQL database at `url`."""
    if not db_path.is_file() or db_path.stat().st_size == 0:
        raise CopyError(f"no library to copy: {db_path} does not exist or is empty")
    src = connect_raw(db_path)
    try:
        if current_version(src) < LATEST:
            migrate(src)
        src.execute("BEGIN")  # one snapshot of the source for the copy and the check
        engine = make_pg_engine(url)
        try:
            migrate_pg(engine)
            raw = engine.raw_connection()
            try:
                report = _copy(src, raw.driver_connection)
                raw.commit()
            except BaseException:
                raw.rollback()
                raise
            finally:
                raw.close()
        finally:
            engine.dispose()
    finally:
        src.close()
    return report


def _copy(src: Any, dst: Any) -> CopyReport:
    cur = dst.cursor()
    cur.execute("SELECT pg_advisory_xact_lock(%s)", (0x68656174,))  # the writer lock of db.py
    for table in ("home_identity", "source_videos", "clip_events"):
        cur.execute(f"SELECT EXISTS (SELECT 1 FROM {table})")
        if cur.fetchone()[0]:
            raise CopyError(
                f"the target database is not empty ({table} has rows): copy into a new database"
            )
    report = CopyReport()
    for table in TABLES:
        cur.execute(
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = %s",
            (table,),
        )
        kinds = {str(n): str(t) for n, t in cur.fetchall()}
        src_cols = [str(r[1]) for r in src.execute(f'PRAGMA table_info("{table}")')]
        if not src_cols:
            continue  # (home_identity of a home never opened since ids: none to copy)
        missing = [c for c in src_cols if c not in kinds]
        if missing:
            raise CopyError(f"{table}: the target has no column {missing[0]!r}")
        cols = src_cols
        key = _key(table, cols)
        marks = ", ".join("%s::json" if kinds[c] == "json" else "%s" for c in cols)
        insert = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})"
        select = f"SELECT {', '.join(cols)} FROM {table} ORDER BY {key}"
        count = 0
        rows = src.execute(select)
        while batch := rows.fetchmany(BATCH):
            cur.executemany(insert, [tuple(r) for r in batch])
            count += len(batch)
        report.rows[table] = count
        if "id" in cols and kinds["id"] == "bigint":
            cur.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                f" COALESCE(MAX(id), 1), MAX(id) IS NOT NULL) FROM {table}"
            )
        _verify(src, cur, table, cols, [kinds[c] for c in cols], select)
    for table in DERIVED:
        (want,) = src.execute(f"SELECT COUNT(*) FROM {table}").fetchone()
        cur.execute(f"SELECT COUNT(*) FROM {table}")
        (got,) = cur.fetchone()
        if int(want) != int(got):
            raise CopyError(f"{table}: {got} rows rebuilt, the source has {want}")
    return report


def _verify(src: Any, cur: Any, table: str, cols: list[str], kinds: list[str], select: str) -> None:
    """Every row of `table` in PostgreSQL equals its SQLite row (same order, same values)."""
    a = src.execute(select)
    cur.execute(select)
    n = 0
    while True:
        left = a.fetchmany(BATCH)
        right = cur.fetchmany(BATCH)
        if len(left) != len(right):
            raise CopyError(
                f"{table}: row counts differ after row {n + min(len(left), len(right))}"
            )
        if not left:
            return
        for x, y in zip(left, right, strict=True):
            n += 1
            for col, kind, u, v in zip(cols, kinds, x, y, strict=True):
                if _norm(u, kind) != _norm(v, kind):
                    raise CopyError(f"{table} row {n}: {col} differs after the copy")
