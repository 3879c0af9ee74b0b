"""The migrated schema and the SQLModel tables agree, and a home made by an older heaters
migrates to the current schema with its data (and its vectors searchable)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import sqlean
import sqlite_vec
from sqlalchemy import JSON, Float, Integer, LargeBinary, String
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString

from heaters.store import tables as _tables  # noqa: F401 - registers the tables
from heaters.store import vectors
from heaters.store.db import connect_raw
from heaters.store.migrations import LATEST, MIGRATIONS, _split
from heaters.store.store import Store

# Tables written with SQL only (no SQLModel class), each for a reason.
SQL_ONLY = {
    "embedding_tags": "text search reads it with SQL; kept by triggers",
    "embedding_changes": "the vector change log; written by triggers",
    "step_runs": "bookkeeping of the dispatcher (heaters.store.step_runs)",
    "home_identity": "written by Store.open before any session exists",
}
AFFINITY = [(JSON, "JSON"), (LargeBinary, "BLOB"), (Float, "REAL"), (Integer, "INTEGER"),
            (String, "TEXT"), (AutoString, "TEXT")]  # fmt: skip


def _db_tables(conn: sqlean.Connection) -> dict[str, dict[str, tuple[str, bool, bool]]]:
    """table -> column -> (declared type, NOT NULL, primary key)."""
    names = [
        r[0]
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    ]
    return {
        t: {
            r[1]: (r[2].upper(), bool(r[3]), bool(r[5]))
            for r in conn.execute(f'PRAGMA table_info("{t}")')
        }
        for t in names
    }


def _column_problems(
    db: dict[str, dict[str, tuple[str, bool, bool]]], models: Any, types: Any
) -> list[str]:
    """Where the migrated tables (column -> (type, NOT NULL, primary key)) and the SQLModel
    tables disagree; `types` maps an SQLAlchemy type to the database's name for it."""
    problems = []
    for name, table in models.items():
        cols = db[name]
        if set(cols) != {c.name for c in table.columns}:
            problems.append(
                f"{name}: db {sorted(cols)} vs model {sorted(c.name for c in table.columns)}"
            )
            continue
        for c in table.columns:
            declared, not_null, pk = cols[c.name]
            want = next(a for t, a in types if isinstance(c.type, t))
            if declared != want:
                problems.append(f"{name}.{c.name}: db {declared}, model {want}")
            if pk != bool(c.primary_key):
                problems.append(f"{name}.{c.name}: primary key differs")
            if not pk and not_null == bool(c.nullable):
                problems.append(
                    f"{name}.{c.name}: db NOT NULL={not_null}, model nullable={c.nullable}"
                )
    return problems


def test_sqlmodel_tables_match_the_migrated_schema(tmp_path: Path) -> None:
    Store.open(tmp_path).close()
    conn = connect_raw(tmp_path / "heaters.db")
    db = _db_tables(conn)
    models = SQLModel.metadata.tables
    assert set(db) == set(models) | set(SQL_ONLY)
    assert _column_problems(db, models, AFFINITY) == []


def _old_home(root: Path, version: int) -> None:
    """A home as heaters left it at schema `version` (before the exact vector search: the
    SimHash tables, a vec0 code table and its trigger)."""
    root.mkdir(parents=True)
    (root / "media").mkdir()
    conn = sqlean.connect(str(root / "heaters.db"), isolation_level=None)
    conn.enable_load_extension(True)
    sqlite_vec.load(conn)
    for number in range(1, version + 1):
        for statement in _split(MIGRATIONS[number - 1]):
            conn.execute(statement)
    conn.execute(f"PRAGMA user_version={version}")
    conn.execute(
        "INSERT INTO source_videos (id, url, state, created_at, updated_at)"
        " VALUES (1, 'https://example.com/v', 'spliced', 0, 0)"
    )
    rng = np.random.default_rng(0)
    x = rng.random((30, 16)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    for i in range(30):
        conn.execute(
            "INSERT INTO clips (id, source_video_id, start_frame, end_frame, start_time_s,"
            " end_time_s, state, created_at, updated_at) VALUES (?, 1, ?, ?, 0, 1, 'embedded', 0, 0)",
            (i + 1, 10 * i, 10 * i + 10),
        )
        conn.execute(
            "INSERT INTO embeddings (clip_id, model, strategy, dim, vector, tags, created_at)"
            " VALUES (?, 'm', 'avg', 16, ?, json('[[\"cat\", 0.9]]'), 0)",
            (i + 1, x[i].tobytes()),
        )
    conn.execute(
        "INSERT INTO vector_indexes (model, dim, bits, projection, created_at)"
        " VALUES ('m', 16, 8, x'00', 0)"
    )
    conn.execute(
        "CREATE VIRTUAL TABLE vec_m USING vec0(embedding_id INTEGER PRIMARY KEY, part INTEGER PARTITION KEY, code bit[8])"
    )
    conn.execute(
        "CREATE TRIGGER tr_vec_m_delete AFTER DELETE ON embeddings WHEN OLD.model = 'm'"
        " BEGIN DELETE FROM vec_m WHERE embedding_id = OLD.id; END"
    )
    conn.close()
    np.save(root / "x.npy", x)


def test_an_old_home_migrates_with_its_data(tmp_path: Path) -> None:
    root = tmp_path / "old"
    _old_home(root, 3)
    x = np.load(root / "x.npy")
    store = Store.open(root)
    conn = connect_raw(root / "heaters.db")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == LATEST
    leftovers = conn.execute(
        "SELECT name FROM sqlite_master WHERE name LIKE 'vec_m%' OR name LIKE 'tr_vec_%'"
        " OR name = 'vector_indexes'"
    ).fetchall()
    assert leftovers == []
    assert conn.execute("SELECT COUNT(*) FROM embedding_changes").fetchone()[0] == 30
    assert conn.execute("SELECT COUNT(*) FROM embedding_tags").fetchone()[0] == 30
    with store.tx(write=False) as s:
        hits = vectors.nearest(s, x[0], "m", 3, exclude_clip=1)
    exact = np.argsort(-(x @ x[0]))[1:4] + 1
    assert [h.clip_id for h in hits] == exact.tolist()
    with store.tx() as s:  # deleting an embedding works (the old trigger named a dropped table)
        s.execute(vectors.text("DELETE FROM embeddings WHERE clip_id = 2"))
    with store.tx(write=False) as s:
        assert 2 not in [h.clip_id for h in vectors.nearest(s, x[0], "m", 29, exclude_clip=1)]
    with store.tx() as s:  # migration 7: a clip merged now leaves the loaded matrix too
        merge = vectors.text("UPDATE clips SET state = 'merged' WHERE id = :i")
        s.execute(merge, {"i": int(exact[0])})
    with store.tx(write=False) as s:
        hits = vectors.nearest(s, x[0], "m", 29, exclude_clip=1)
    assert int(exact[0]) not in [h.clip_id for h in hits] and len(hits) == 27


PG_TYPES = [(JSON, "json"), (LargeBinary, "bytea"), (Float, "double precision"),
            (Integer, "bigint"), (String, "text"), (AutoString, "text")]  # fmt: skip


def test_sqlmodel_tables_match_the_migrated_postgres_schema(tmp_path: Path, pg_url: str) -> None:
    """The same check on PostgreSQL, whose schema `postgres_ddl` translates from the same
    migrations: every column, its type, NOT NULL and primary key; the same triggers."""
    from sqlalchemy import text

    store = Store.open(tmp_path, pg_url)
    with store.tx(write=False) as s:
        cols = s.execute(
            text(
                "SELECT c.table_name, c.column_name, c.data_type, c.is_nullable = 'NO',"
                " EXISTS (SELECT 1 FROM information_schema.key_column_usage k"
                "  JOIN information_schema.table_constraints t"
                "   ON t.constraint_name = k.constraint_name AND t.constraint_type = 'PRIMARY KEY'"
                "  WHERE k.table_name = c.table_name AND k.column_name = c.column_name)"
                " FROM information_schema.columns c WHERE c.table_schema = current_schema()"
            )
        ).all()
        triggers = set(
            s.execute(text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")).scalars()
        )
    store.close()
    db: dict[str, dict[str, tuple[str, bool, bool]]] = {}
    for table, column, kind, not_null, pk in cols:
        db.setdefault(table, {})[column] = (kind, bool(not_null), bool(pk))
    models = SQLModel.metadata.tables
    assert set(db) == set(models) | set(SQL_ONLY) | {"schema_version"}
    assert _column_problems(db, models, PG_TYPES) == []
    sqlite_triggers = {
        s.split()[2]
        for m in MIGRATIONS
        for s in _split(m)
        if " ".join(s.split()).upper().startswith("CREATE TRIGGER")
    }
    # the append-only guard is one trigger for UPDATE and DELETE there, plus one for TRUNCATE
    expected = (sqlite_triggers - {"tr_clip_events_no_delete", "tr_clip_events_stamp_once"}) | {
        "tr_clip_events_guard",
        "tr_clip_events_no_truncate",
    }
    assert triggers == expected
