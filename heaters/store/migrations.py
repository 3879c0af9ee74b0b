"""Numbered schema migrations, recorded in `PRAGMA user_version` (PostgreSQL: `schema_version`).

Each migration is plain DDL applied once, in order, inside one IMMEDIATE transaction, so two
processes opening a fresh home at the same moment cannot both apply it.

One description serves both databases: the SQLite DDL below is the schema, and `postgres_ddl`
translates each statement (identity keys, BIGINT, DOUBLE PRECISION, BYTEA, no WITHOUT ROWID).
Only what has no common form is written twice, in `PG_ONLY` by migration number: the triggers
(SQLite's inline bodies vs PL/pgSQL functions) and the back-fills that read JSON. SQLite
statements that have a PG_ONLY twin are skipped on PostgreSQL by `postgres_ddl`.
"""

from __future__ import annotations

import re
from typing import Any

MIGRATIONS: tuple[str, ...] = (
    # 1: the tables of DESIGN.md §5
    """
    CREATE TABLE source_videos (
        id INTEGER PRIMARY KEY,
        url TEXT,
        local_path TEXT,
        title TEXT,
        state TEXT NOT NULL DEFAULT 'new',
        filepath TEXT,
        duration_s REAL,
        fps REAL,
        width INTEGER,
        height INTEGER,
        frame_count INTEGER,
        codec TEXT,
        source_meta JSON,
        detector TEXT,
        detector_params JSON,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        next_attempt_at REAL,
        claimed_by TEXT,
        claimed_until REAL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE UNIQUE INDEX ux_source_videos_url ON source_videos(url) WHERE url IS NOT NULL;
    CREATE UNIQUE INDEX ux_source_videos_local ON source_videos(local_path)
        WHERE local_path IS NOT NULL;
    CREATE INDEX ix_source_videos_state ON source_videos(state, next_attempt_at);

    CREATE TABLE clips (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        source_video_id INTEGER NOT NULL REFERENCES source_videos(id),
        start_frame INTEGER NOT NULL,
        end_frame INTEGER NOT NULL,
        start_time_s REAL NOT NULL,
        end_time_s REAL NOT NULL,
        state TEXT NOT NULL DEFAULT 'spliced',
        reviewed_at REAL,
        grouped_with_clip_id INTEGER REFERENCES clips(id),
        superseded_by TEXT,
        origin TEXT NOT NULL DEFAULT 'splice',
        origin_event_id INTEGER,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        next_attempt_at REAL,
        claimed_by TEXT,
        claimed_until REAL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        CHECK (start_frame >= 0 AND end_frame > start_frame)
    );
    CREATE UNIQUE INDEX ux_clips_live_range ON clips(source_video_id, start_frame, end_frame)
        WHERE state NOT IN ('merged', 'split');
    CREATE INDEX ix_clips_state ON clips(state, next_attempt_at);
    CREATE INDEX ix_clips_video ON clips(source_video_id, start_frame);

    CREATE TABLE clip_artifacts (
        id INTEGER PRIMARY KEY,
        clip_id INTEGER NOT NULL REFERENCES clips(id),
        kind TEXT NOT NULL,
        strategy TEXT NOT NULL,
        tag TEXT NOT NULL DEFAULT '',
        path TEXT NOT NULL,
        metadata JSON,
        created_at REAL NOT NULL,
        UNIQUE (clip_id, kind, strategy, tag)
    );

    -- clip_id has no foreign key: the log outlives clips that an undo removed
    CREATE TABLE clip_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        clip_id INTEGER NOT NULL,
        action TEXT NOT NULL,
        payload JSON,
        reviewer TEXT NOT NULL DEFAULT 'operator',
        created_at REAL NOT NULL,
        committed_at REAL
    );
    CREATE INDEX ix_clip_events_clip ON clip_events(clip_id, id);
    CREATE INDEX ix_clip_events_pending ON clip_events(committed_at, id);
    -- append-only: never deleted; only committed_at may be stamped, once
    CREATE TRIGGER tr_clip_events_no_delete BEFORE DELETE ON clip_events
    BEGIN SELECT RAISE(ABORT, 'clip_events is append-only'); END;
    CREATE TRIGGER tr_clip_events_stamp_once BEFORE UPDATE ON clip_events
    WHEN OLD.committed_at IS NOT NULL OR NEW.clip_id IS NOT OLD.clip_id
        OR NEW.action IS NOT OLD.action OR NEW.payload IS NOT OLD.payload
        OR NEW.reviewer IS NOT OLD.reviewer OR NEW.created_at IS NOT OLD.created_at
    BEGIN SELECT RAISE(ABORT, 'clip_events rows are immutable once committed'); END;

    -- what each committed action did (old/new states, clips made), so undo can compensate it
    CREATE TABLE event_effects (
        event_id INTEGER PRIMARY KEY REFERENCES clip_events(id),
        effects JSON NOT NULL,
        new_clip_ids JSON NOT NULL,
        undone_by INTEGER
    );

    CREATE TABLE embeddings (
        id INTEGER PRIMARY KEY,
        clip_id INTEGER NOT NULL REFERENCES clips(id),
        model TEXT NOT NULL,
        strategy TEXT NOT NULL,
        dim INTEGER NOT NULL,
        vector BLOB NOT NULL,
        tags JSON,
        created_at REAL NOT NULL,
        UNIQUE (clip_id, model, strategy)
    );
    """,
    # 2: per-model SimHash projections of the vector index (the vec0 tables are made on demand)
    """
    CREATE TABLE vector_indexes (
        model TEXT PRIMARY KEY,
        dim INTEGER NOT NULL,
        bits INTEGER NOT NULL,
        projection BLOB NOT NULL,
        centroids BLOB,
        trained_count INTEGER NOT NULL DEFAULT 0,
        trained_at REAL,
        created_at REAL NOT NULL
    );
    CREATE INDEX ix_embeddings_model ON embeddings(model, id);
    """,
    # 3: the tags as rows, so text search reads only the clips carrying a matched label
    # (kept by triggers, whatever writes or deletes embeddings)
    """
    CREATE TABLE embedding_tags (
        embedding_id INTEGER NOT NULL,
        clip_id INTEGER NOT NULL,
        model TEXT NOT NULL,
        label TEXT NOT NULL,
        prob REAL NOT NULL,
        PRIMARY KEY (embedding_id, label)
    ) WITHOUT ROWID;
    CREATE INDEX ix_embedding_tags_label ON embedding_tags(model, label, prob, clip_id);
    INSERT OR REPLACE INTO embedding_tags (embedding_id, clip_id, model, label, prob)
        SELECT e.id, e.clip_id, e.model, j.value ->> 0, j.value ->> 1
        FROM embeddings e, json_each(e.tags) j WHERE e.tags IS NOT NULL;
    CREATE TRIGGER tr_embedding_tags_insert AFTER INSERT ON embeddings
    BEGIN
        INSERT OR REPLACE INTO embedding_tags (embedding_id, clip_id, model, label, prob)
        SELECT NEW.id, NEW.clip_id, NEW.model, j.value ->> 0, j.value ->> 1
        FROM json_each(NEW.tags) j WHERE NEW.tags IS NOT NULL;
    END;
    CREATE TRIGGER tr_embedding_tags_update AFTER UPDATE OF tags, clip_id, model ON embeddings
    BEGIN
        DELETE FROM embedding_tags WHERE embedding_id = OLD.id;
        INSERT OR REPLACE INTO embedding_tags (embedding_id, clip_id, model, label, prob)
        SELECT NEW.id, NEW.clip_id, NEW.model, j.value ->> 0, j.value ->> 1
        FROM json_each(NEW.tags) j WHERE NEW.tags IS NOT NULL;
    END;
    CREATE TRIGGER tr_embedding_tags_delete AFTER DELETE ON embeddings
    BEGIN
        DELETE FROM embedding_tags WHERE embedding_id = OLD.id;
    END;
    """,
    # 4: exact search over an in-process matrix (heaters.store.vectors): the SimHash/IVF tables
    # go (see _drop_code_tables), and every change to an embedding is logged for the searchers
    # to catch up from (AUTOINCREMENT: a seq is never reused, so a watermark stays valid).
    """
    DROP TABLE IF EXISTS vector_indexes;
    CREATE TABLE embedding_changes (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        model TEXT NOT NULL,
        embedding_id INTEGER NOT NULL
    );
    CREATE INDEX ix_embedding_changes_model ON embedding_changes(model, seq);
    INSERT INTO embedding_changes (model, embedding_id) SELECT model, id FROM embeddings ORDER BY id;
    CREATE TRIGGER tr_embedding_changes_insert AFTER INSERT ON embeddings
    BEGIN
        INSERT INTO embedding_changes (model, embedding_id) VALUES (NEW.model, NEW.id);
    END;
    CREATE TRIGGER tr_embedding_changes_update AFTER UPDATE OF vector, model, clip_id ON embeddings
    BEGIN
        INSERT INTO embedding_changes (model, embedding_id) VALUES (OLD.model, OLD.id);
        INSERT INTO embedding_changes (model, embedding_id) VALUES (NEW.model, NEW.id);
    END;
    CREATE TRIGGER tr_embedding_changes_delete AFTER DELETE ON embeddings
    BEGIN
        INSERT INTO embedding_changes (model, embedding_id) VALUES (OLD.model, OLD.id);
    END;
    """,
    # 5: where the time goes: one row per step batch a run carried out (heaters.store.step_runs)
    """
    CREATE TABLE step_runs (
        id INTEGER PRIMARY KEY,
        run_id TEXT NOT NULL,
        worker TEXT NOT NULL,
        step TEXT NOT NULL,
        started_at REAL NOT NULL,
        seconds REAL NOT NULL,
        items INTEGER NOT NULL,
        failed INTEGER NOT NULL,
        footage_s REAL NOT NULL,
        outcome TEXT NOT NULL,
        error TEXT
    );
    CREATE INDEX ix_step_runs_run ON step_runs(run_id);
    """,
    # 6: real sources (issue 14): one row per video by identity (yt-dlp extractor + id, or a
    # normalised URL, or a local file's SHA-256), the metadata worth keeping, followed URLs and
    # what each has seen, and the clips `heaters rm` removed (the review log outlives them)
    """
    ALTER TABLE source_videos ADD COLUMN source_key TEXT;
    ALTER TABLE source_videos ADD COLUMN uploader TEXT;
    ALTER TABLE source_videos ADD COLUMN upload_date TEXT;
    ALTER TABLE source_videos ADD COLUMN description TEXT;
    ALTER TABLE source_videos ADD COLUMN chapters JSON;
    ALTER TABLE source_videos ADD COLUMN follow_id INTEGER;
    CREATE UNIQUE INDEX ux_source_videos_key ON source_videos(source_key)
        WHERE source_key IS NOT NULL;

    CREATE TABLE follows (
        id INTEGER PRIMARY KEY,
        url TEXT NOT NULL UNIQUE,
        title TEXT,
        since TEXT,
        state TEXT NOT NULL DEFAULT 'following',
        last_checked_at REAL,
        last_new INTEGER NOT NULL DEFAULT 0,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        next_attempt_at REAL,
        claimed_by TEXT,
        claimed_until REAL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX ix_follows_state ON follows(state, next_attempt_at);
    CREATE TABLE follow_seen (
        follow_id INTEGER NOT NULL REFERENCES follows(id) ON DELETE CASCADE,
        source_key TEXT NOT NULL,
        PRIMARY KEY (follow_id, source_key)
    ) WITHOUT ROWID;

    CREATE TABLE removed_clips (
        clip_id INTEGER PRIMARY KEY,
        video_id INTEGER NOT NULL,
        removed_at REAL NOT NULL
    );
    """,
    # 7: a clip merged or split (or brought back by an undo) is logged as a change of each of its
    # embeddings, so a searching process's matrix holds only live clips' vectors and a search
    # needs no query after the matrix product (heaters.store.vectors)
    """
    CREATE TRIGGER tr_embedding_changes_clip_state AFTER UPDATE OF state ON clips
    WHEN (OLD.state IN ('merged', 'split')) IS NOT (NEW.state IN ('merged', 'split'))
    BEGIN
        INSERT INTO embedding_changes (model, embedding_id)
        SELECT model, id FROM embeddings WHERE clip_id = NEW.id ORDER BY id;
    END;
    """,
)

LATEST = len(MIGRATIONS)

# PostgreSQL's own forms of what SQLite says in its own dialect, by migration number; run after
# that migration's translated statements.
_APPEND_ONLY_PG = """
CREATE FUNCTION heaters_clip_events_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'clip_events is append-only';
    END IF;
    IF OLD.committed_at IS NOT NULL OR NEW.id IS DISTINCT FROM OLD.id
        OR NEW.clip_id IS DISTINCT FROM OLD.clip_id OR NEW.action IS DISTINCT FROM OLD.action
        OR NEW.payload::text IS DISTINCT FROM OLD.payload::text
        OR NEW.reviewer IS DISTINCT FROM OLD.reviewer
        OR NEW.created_at IS DISTINCT FROM OLD.created_at THEN
        RAISE EXCEPTION 'clip_events rows are immutable once committed';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER tr_clip_events_guard BEFORE UPDATE OR DELETE ON clip_events
    FOR EACH ROW EXECUTE FUNCTION heaters_clip_events_guard();
CREATE FUNCTION heaters_clip_events_no_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'clip_events is append-only';
END $$;
CREATE TRIGGER tr_clip_events_no_truncate BEFORE TRUNCATE ON clip_events
    FOR EACH STATEMENT EXECUTE FUNCTION heaters_clip_events_no_truncate();
"""

_TAGS_PG = """
INSERT INTO embedding_tags (embedding_id, clip_id, model, label, prob)
    SELECT e.id, e.clip_id, e.model, j.value ->> 0, (j.value ->> 1)::double precision
    FROM embeddings e, json_array_elements(e.tags) j WHERE e.tags IS NOT NULL
    ON CONFLICT (embedding_id, label) DO UPDATE SET prob = EXCLUDED.prob;
CREATE FUNCTION heaters_embedding_tags() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        DELETE FROM embedding_tags WHERE embedding_id = OLD.id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.tags IS NOT NULL THEN
        INSERT INTO embedding_tags (embedding_id, clip_id, model, label, prob)
        SELECT NEW.id, NEW.clip_id, NEW.model, j.value ->> 0, (j.value ->> 1)::double precision
        FROM json_array_elements(NEW.tags) j
        ON CONFLICT (embedding_id, label) DO UPDATE SET prob = EXCLUDED.prob;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER tr_embedding_tags_insert AFTER INSERT ON embeddings
    FOR EACH ROW EXECUTE FUNCTION heaters_embedding_tags();
CREATE TRIGGER tr_embedding_tags_update AFTER UPDATE OF tags, clip_id, model ON embeddings
    FOR EACH ROW EXECUTE FUNCTION heaters_embedding_tags();
CREATE TRIGGER tr_embedding_tags_delete AFTER DELETE ON embeddings
    FOR EACH ROW EXECUTE FUNCTION heaters_embedding_tags();
"""

_CHANGES_PG = """
CREATE FUNCTION heaters_embedding_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO embedding_changes (model, embedding_id) VALUES (OLD.model, OLD.id);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO embedding_changes (model, embedding_id) VALUES (NEW.model, NEW.id);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER tr_embedding_changes_insert AFTER INSERT ON embeddings
    FOR EACH ROW EXECUTE FUNCTION heaters_embedding_changes();
CREATE TRIGGER tr_embedding_changes_update AFTER UPDATE OF vector, model, clip_id ON embeddings
    FOR EACH ROW EXECUTE FUNCTION heaters_embedding_changes();
CREATE TRIGGER tr_embedding_changes_delete AFTER DELETE ON embeddings
    FOR EACH ROW EXECUTE FUNCTION heaters_embedding_changes();
"""

_CLIP_STATE_PG = """
CREATE FUNCTION heaters_clip_state_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO embedding_changes (model, embedding_id)
    SELECT model, id FROM embeddings WHERE clip_id = NEW.id ORDER BY id;
    RETURN NULL;
END $$;
CREATE TRIGGER tr_embedding_changes_clip_state AFTER UPDATE OF state ON clips
    FOR EACH ROW WHEN ((OLD.state IN ('merged', 'split'))
        IS DISTINCT FROM (NEW.state IN ('merged', 'split')))
    EXECUTE FUNCTION heaters_clip_state_changes();
"""

PG_ONLY: dict[int, str] = {1: _APPEND_ONLY_PG, 3: _TAGS_PG, 4: _CHANGES_PG, 7: _CLIP_STATE_PG}

# (pattern, replacement) applied in order to each SQLite statement for PostgreSQL
_PG_TYPES: tuple[tuple[str, str], ...] = (
    (
        r"\bid INTEGER PRIMARY KEY( AUTOINCREMENT)?",
        "id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
    ),
    (
        r"\bseq INTEGER PRIMARY KEY AUTOINCREMENT",
        "seq BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
    ),
    (r"\bINTEGER\b", "BIGINT"),
    (r"\bREAL\b", "DOUBLE PRECISION"),
    (r"\bBLOB\b", "BYTEA"),
    (r"\)\s*WITHOUT ROWID", ")"),
)


def postgres_ddl(number: int) -> list[str]:
    """Migration `number` as PostgreSQL statements: the translated common DDL, then PG_ONLY."""
    out: list[str] = []
    for statement in _split(MIGRATIONS[number - 1]):
        head = " ".join(statement.split()).upper()
        if head.startswith("CREATE TRIGGER") or "JSON_EACH" in head or "INSERT OR" in head:
            continue  # written for PostgreSQL in PG_ONLY
        for pattern, replacement in _PG_TYPES:
            statement = re.sub(pattern, replacement, statement)
        out.append(statement.rstrip().rstrip(";"))
    extra = PG_ONLY.get(number, "")
    out += [s.rstrip().rstrip(";") for s in _split_pg(extra)]
    return out


def _split_pg(script: str) -> list[str]:
    """Split PostgreSQL DDL on ';' at line ends outside `$$ ... $$` bodies."""
    statements: list[str] = []
    buf: list[str] = []
    in_body = False
    for line in script.splitlines():
        if not line.strip():
            continue
        buf.append(line)
        if line.count("$$") % 2:
            in_body = not in_body
        if line.rstrip().endswith(";") and not in_body:
            statements.append("\n".join(buf))
            buf = []
    if buf:
        statements.append("\n".join(buf))
    return statements


# The PostgreSQL schema's version (no user_version there); one row.
_PG_VERSION_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_version"
    " (one INTEGER PRIMARY KEY CHECK (one = 1), version INTEGER NOT NULL)"
)
# The library's identity (heaters.store.store.claim_identity), made here under the lock on PostgreSQL
PG_IDENTITY_TABLE = (
    "CREATE TABLE IF NOT EXISTS home_identity"
    " (one INTEGER PRIMARY KEY CHECK (one = 1), home_id TEXT NOT NULL)"
)
# Serialises migrations of one database across hosts (a transaction-level advisory lock).
_PG_MIGRATE_LOCK = 0x6D696772  # "migr"


def pg_version(conn: Any) -> int:
    """The schema version of a PostgreSQL database (0: none yet). `conn`: SQLAlchemy Connection."""
    from sqlalchemy import text

    exists = conn.execute(text("SELECT to_regclass('schema_version')")).scalar()
    if exists is None:
        return 0
    row = conn.execute(text("SELECT version FROM schema_version WHERE one = 1")).first()
    return int(row[0]) if row else 0


def migrate_pg(engine: Any) -> int:
    """Bring a PostgreSQL database to LATEST, in one transaction under an advisory lock (so two
    hosts starting at once apply each migration once); returns the version found before."""
    from sqlalchemy import text

    with engine.connect() as conn:
        before = pg_version(conn)
        conn.rollback()
    if before >= LATEST:
        return before
    with engine.connect() as conn, conn.begin():
        conn.execute(text(f"SELECT pg_advisory_xact_lock({_PG_MIGRATE_LOCK})"))
        conn.execute(text(_PG_VERSION_TABLE))
        conn.execute(text(PG_IDENTITY_TABLE))
        version = pg_version(conn)
        for number in range(version + 1, LATEST + 1):
            for statement in postgres_ddl(number):
                conn.exec_driver_sql(statement)
            conn.execute(
                text(
                    "INSERT INTO schema_version (one, version) VALUES (1, :v)"
                    " ON CONFLICT (one) DO UPDATE SET version = EXCLUDED.version"
                ),
                {"v": number},
            )
    return before


def current_version(conn: Any) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: Any) -> int:
    """Bring the schema to LATEST; returns the version found before. `conn` is a raw DB-API one."""
    before = current_version(conn)
    if before >= LATEST:
        return before
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = current_version(conn)  # re-read under the write lock
        for number in range(version + 1, LATEST + 1):
            if number == 4:
                _drop_code_tables(conn)
            for statement in _split(MIGRATIONS[number - 1]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version={number}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return before


def _drop_code_tables(conn: Any) -> None:
    """Before migration 4: the per-model `vec_<model>` code tables and their delete triggers
    (made on demand by the old index, so their names are read from the schema)."""
    rows = conn.execute(
        "SELECT type, name FROM sqlite_master WHERE (type = 'trigger' AND name LIKE 'tr_vec_%')"
        " OR (type = 'table' AND name LIKE 'vec_%' AND sql LIKE '%USING vec0%')"
        " ORDER BY type DESC"
    ).fetchall()
    for kind, name in rows:  # triggers first; a vec0 table drops its shadow tables itself
        keyword = "TRIGGER" if kind == "trigger" else "TABLE"
        conn.execute(f'DROP {keyword} IF EXISTS "{name}"')


def _split(script: str) -> list[str]:
    """Split DDL on ';' at statement ends, keeping trigger bodies (BEGIN … END;) whole."""
    statements: list[str] = []
    buf: list[str] = []
    depth = 0
    for line in script.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("--"):
            continue
        buf.append(line)
        upper = stripped.upper()
        if upper.startswith("BEGIN") or " BEGIN " in f" {upper} ":
            depth += 1
        if upper.endswith("END;"):
            depth -= 1
        if stripped.endswith(";") and depth <= 0:
            statements.append("\n".join(buf))
            buf = []
            depth = 0
    if buf:
        statements.append("\n".join(buf))
    return statements
