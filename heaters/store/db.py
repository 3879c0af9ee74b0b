"""Connections: SQLite (sqlean.py, loads sqlite-vec, WAL) or PostgreSQL, with explicit transaction modes.

The stdlib `sqlite3` here cannot load extensions, so every connection comes from `sqlean`. Python's
sqlite3 driver normally opens transactions implicitly; we switch that off and emit BEGIN ourselves,
so that read-then-write work can take the write lock up front (`BEGIN IMMEDIATE`) and never fail
half-way with "database is locked".

On PostgreSQL (`database_url = "postgresql://..."`, psycopg 3) the same three modes keep the same
meaning, so every read-then-write transaction of the store stays correct unchanged across hosts:
a write transaction first takes one transaction-level advisory lock exclusively (SQLite's writer
lock, shared by every machine), a claim transaction takes it shared (claims then run side by side
and keep apart with `FOR UPDATE SKIP LOCKED`, but never interleave with a review commit), and a
read transaction is REPEATABLE READ (one snapshot, as a SQLite read transaction).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlean
import sqlite_vec
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import QueuePool
from sqlmodel import Session, create_engine

BUSY_TIMEOUT_MS = 60_000

# The advisory lock key of "the writer" on PostgreSQL (any constant: one per database).
WRITE_LOCK_KEY = 0x68656174  # "heat"


class DatabaseError(OperationalError):
    """The database could not carry out a transaction (locked past the busy timeout, disk full,
    unreadable): nothing of it was written. Callers above the store (the review screen, the CLI)
    catch this store-level type; it subclasses SQLAlchemy's OperationalError only so that code
    written against that keeps working. `str()` is the driver's own one line."""

    def __init__(self, message: str, cause: OperationalError | None = None) -> None:
        orig = cause.orig if cause is not None else None
        super().__init__(
            cause.statement if cause is not None else None,
            cause.params if cause is not None else None,
            orig if isinstance(orig, BaseException) else RuntimeError(message),
        )
        self.message = message

    def __str__(self) -> str:
        return self.message


def connect_raw(db_path: Path) -> Any:
    """One DB-API connection with the pragmas of DESIGN.md §5 (busy_timeout first)."""
    conn = sqlean.connect(
        str(db_path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
    )
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    _retry_locked(lambda: conn.execute("PRAGMA journal_mode=WAL"))
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.enable_load_extension(True)
    sqlite_vec.load(conn)
    conn.enable_load_extension(False)
    return conn


def _retry_locked(fn: Any, tries: int = 50) -> Any:
    """journal_mode changes ignore busy_timeout on a brand-new file; retry briefly."""
    for i in range(tries):
        try:
            return fn()
        except sqlean.OperationalError as exc:
            if "locked" not in str(exc) or i == tries - 1:
                raise
            time.sleep(0.05)
    return None


def make_engine(db_path: Path) -> Engine:
    engine = create_engine(
        "sqlite://",
        creator=lambda: connect_raw(db_path),
        module=sqlean,
        poolclass=QueuePool,
        pool_size=8,
        max_overflow=8,
    )

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def is_postgres_url(url: str | None) -> bool:
    return bool(url) and str(url).split(":", 1)[0].split("+", 1)[0] in ("postgresql", "postgres")


def postgres_url(url: str) -> str:
    """`postgresql://...` as SQLAlchemy's psycopg 3 URL (`postgresql+psycopg://...`)."""
    scheme, rest = url.split(":", 1)
    return "postgresql+psycopg:" + rest if "+" not in scheme else url


def make_pg_engine(url: str) -> Engine:
    """A PostgreSQL engine whose "begin" gives the three modes of the module docstring."""
    engine = create_engine(
        make_url(postgres_url(url)),
        pool_size=8,
        max_overflow=8,
        pool_pre_ping=True,
        # A lock wait ends as SQLite's busy timeout ends one (DatabaseError, nothing written):
        # a client stopped inside a write transaction (Ctrl-Z, a laptop asleep) holds the
        # writer lock, and without a limit every other host's run and review waited for ever.
        connect_args={"connect_timeout": 10, "options": f"-c lock_timeout={BUSY_TIMEOUT_MS}"},
    )

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        if mode == "IMMEDIATE":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})")
        elif mode == "SHARED":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock_shared({WRITE_LOCK_KEY})")
        else:
            conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")

    return engine


def is_pg(bind: Any) -> bool:
    """Whether an engine, connection or session talks to PostgreSQL."""
    if isinstance(bind, Session):
        bind = bind.get_bind()
    return bool(bind.dialect.name == "postgresql")


def sql_list(names: Iterable[str]) -> str:
    """A SQL list of heaters' own constants (state names), for `IN (...)`: never outside text."""
    return ", ".join(f"'{name}'" for name in sorted(names))


@contextmanager
def transaction(engine: Engine, *, write: bool = True, claim: bool = False) -> Iterator[Session]:
    """A session in one transaction: IMMEDIATE when it will write, DEFERRED for pure reads.
    `claim` (only claim/heartbeat statements inside): on PostgreSQL the writer lock is taken
    shared, so the claims of many workers run side by side (SQLite: IMMEDIATE as any write)."""
    mode = "IMMEDIATE" if write else "DEFERRED"
    if claim and engine.dialect.name == "postgresql":
        mode = "SHARED"
    bound = engine.execution_options(sqlite_begin=mode)
    try:
        with Session(bound, expire_on_commit=False) as session, session.begin():
            yield session
    except OperationalError as exc:
        detail = str(exc.orig) if exc.orig is not None else str(exc)
        first = (detail.strip().splitlines() or ["database error"])[0]
        raise DatabaseError(first, exc) from exc
