"""SQLite connections: sqlean.py (loads sqlite-vec), WAL, and explicit transaction modes.

The stdlib `sqlite3` here cannot load extensions, so every connection comes from `sqlean`. Python's
sqlite3 driver normally opens transactions implicitly; we switch that off and emit BEGIN ourselves,
so that read-then-write work can take the write lock up front (`BEGIN IMMEDIATE`) and never fail
half-way with "database is locked".
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
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import QueuePool
from sqlmodel import Session, create_engine

BUSY_TIMEOUT_MS = 60_000


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


def sql_list(names: Iterable[str]) -> str:
    """A SQL list of heaters' own constants (state names), for `IN (...)`: never outside text."""
    return ", ".join(f"'{name}'" for name in sorted(names))


@contextmanager
def transaction(engine: Engine, *, write: bool = True) -> Iterator[Session]:
    """A session in one transaction: IMMEDIATE when it will write, DEFERRED for pure reads."""
    bound = engine.execution_options(sqlite_begin="IMMEDIATE" if write else "DEFERRED")
    try:
        with Session(bound, expire_on_commit=False) as session, session.begin():
            yield session
    except OperationalError as exc:
        detail = str(exc.orig) if exc.orig is not None else str(exc)
        first = (detail.strip().splitlines() or ["database error"])[0]
        raise DatabaseError(first, exc) from exc
