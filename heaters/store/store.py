"""Opening a home's store: create the folder, connect, migrate."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from heaters.domain.files import temp_name
from heaters.store import location
from heaters.store.db import (
    connect_raw,
    is_postgres_url,
    make_engine,
    make_pg_engine,
    transaction,
)
from heaters.store.home import ID_FILE, Home, read_home_id
from heaters.store.migrations import migrate, migrate_pg


class StoreError(RuntimeError):
    """The home or its database cannot be used (not writable, not a heaters database...)."""


class NotAFolder(StoreError):
    """The home named is a file, or lies under one: bad input, not a failure."""


def _file_in_the_way(base: Path) -> Path | None:
    """The file at `base` or at the nearest existing folder above it, if that is no folder."""
    p = base
    while not p.exists() and p != p.parent:
        p = p.parent
    return None if p.is_dir() else p


@dataclass
class Store:
    home: Home
    engine: Engine

    @classmethod
    def open(cls, root: Path, database_url: str | None = None) -> Store:
        """The home at `root` and its database: `database_url` if given, else the one the home's
        location names (`heaters.store.location`), else its own `heaters.db`."""
        base = Path(root).expanduser().absolute()
        blocker = _file_in_the_way(base)
        if blocker is not None:
            where = "" if blocker == base else f" ({blocker} is a file)"
            raise NotAFolder(f"home folder {base} is not a folder{where}")
        url = database_url if database_url is not None else location.database_url(base)
        home = Home(base, location.media_root(base))
        if home.media_root is not None and not home.media_root.is_dir():
            # never made here: an unmounted share would fill the local disk under its mount point
            raise StoreError(
                f"media_root {home.media_root} is not a folder (is the shared mount mounted?);"
                " create it or fix media_root"
            )
        if url and url.strip() != "sqlite":
            if not is_postgres_url(url):
                raise StoreError(
                    f"database_url {url.split(':', 1)[0]!r} is not supported: use postgresql://"
                    " (or leave it unset for the embedded SQLite database)"
                )
            return cls._open_pg(home, url)
        try:
            home.root.mkdir(parents=True, exist_ok=True)
            home.media.mkdir(exist_ok=True)
            refuse_empty_database(home)
            raw = connect_raw(home.db_path)
            try:
                migrate(raw)
                claim_identity(home, raw)
            finally:
                raw.close()
        except StoreError:
            raise
        except OSError as exc:
            raise StoreError(f"cannot use home folder {home.root}: {exc.strerror or exc}") from exc
        except Exception as exc:  # sqlean errors: not a database, read-only, disk full
            raise StoreError(f"{_full(home.root)}cannot open {home.db_path}: {exc}") from exc
        return cls(home, make_engine(home.db_path))

    @classmethod
    def _open_pg(cls, home: Home, url: str) -> Store:
        try:
            home.root.mkdir(parents=True, exist_ok=True)
            home.media.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot use home folder {home.root}: {exc.strerror or exc}") from exc
        engine = make_pg_engine(url)
        try:
            migrate_pg(engine)
            raw = engine.raw_connection()
            try:
                claim_identity(home, _PgRaw(raw))
                raw.commit()
            finally:
                raw.close()
        except StoreError:
            engine.dispose()
            raise
        except Exception as exc:  # unreachable server, bad credentials, not a heaters database
            engine.dispose()
            raise StoreError(f"cannot open {redact(url)}: {_first_line(exc)}") from exc
        return cls(home, engine)

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @contextmanager
    def tx(self, *, write: bool = True, claim: bool = False) -> Iterator[Session]:
        with transaction(self.engine, write=write, claim=claim) as session:
            yield session

    def close(self) -> None:
        self.engine.dispose()


# The home's identity, in the database and in a file beside it (`home.id`): a database that is
# missing, emptied (`: > heaters.db`) or another home's must not meet this home's media, or
# `status` would show an empty library and `gc` would free every media file as unreferenced.
_id_file = read_home_id


def _has_media(home: Home) -> bool:
    try:
        return any(p.is_file() for p in home.media.rglob("*"))
    except OSError:
        return False


def refuse_empty_database(home: Home) -> None:
    """Before anything is written: a new or empty database in a home that has had one."""
    db = home.db_path
    empty = not db.exists() or db.stat().st_size == 0
    if not empty:
        return
    if _id_file(home) is not None or _has_media(home):
        what = "is missing" if not db.exists() else "is empty"
        raise StoreError(
            f"{db} {what} but this home has media (or {ID_FILE}): refusing to start an empty"
            " library over it; restore heaters.db from a backup, or move media/ and"
            f" {ID_FILE} away to start afresh"
        )


def claim_identity(home: Home, raw: Any) -> str:
    """The home's id, recorded in the database and in `home.id` (made on first use); StoreError
    when they differ (a database copied from another home) or the database lost its id."""
    raw.execute(
        "CREATE TABLE IF NOT EXISTS home_identity"
        " (one INTEGER PRIMARY KEY CHECK (one = 1), home_id TEXT NOT NULL)"
    )  # (on PostgreSQL made by migrate_pg under its lock; this is then a no-op)
    file_id = _id_file(home)
    row = raw.execute("SELECT home_id FROM home_identity WHERE one = 1").fetchone()
    if row is None:
        has_rows = raw.execute("SELECT EXISTS (SELECT 1 FROM source_videos)").fetchone()[0]
        if file_id is not None and not has_rows:
            raise StoreError(
                f"{home.db_path} is empty but this home's {ID_FILE} says it had a library:"
                " refusing to start an empty one over its media; restore heaters.db from a"
                f" backup, or move media/ and {ID_FILE} away to start afresh"
            )
        # A home from before ids (or a brand-new one): this database is its database.
        raw.execute(
            "INSERT INTO home_identity (one, home_id) VALUES (1, ?) ON CONFLICT DO NOTHING",
            (file_id or uuid.uuid4().hex,),
        )
        row = raw.execute("SELECT home_id FROM home_identity WHERE one = 1").fetchone()
    db_id = str(row[0])
    if file_id is None:
        _write_id(home, db_id)
        file_id = _id_file(home) or db_id
    if file_id != db_id:
        raise StoreError(
            f"{home.db_path} belongs to another home (its id {db_id[:12]}, this folder's"
            f" {ID_FILE} {file_id[:12]}): refusing to mix its rows with this media"
        )
    return db_id


class _PgRaw:
    """A psycopg connection with sqlite3's `execute(sql, params)` and `?` marks (for the few
    statements `claim_identity` shares between both databases)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        cur = self.conn.cursor()
        cur.execute(sql.replace("?", "%s"), params)
        return cur


def redact(url: str) -> str:
    """A database URL without its password, for messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL: show only its scheme
        return url.split(":", 1)[0] + "://…"


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines()
    return lines[0] if lines else type(orig).__name__


def _write_id(home: Home, home_id: str) -> None:
    """Create home.id unless another process just did (then theirs stands and is compared)."""
    tmp = home.root / temp_name(ID_FILE)
    try:
        tmp.write_text(home_id + "\n", encoding="utf-8")
        os.link(tmp, home.root / ID_FILE)
    except FileExistsError:
        pass
    except OSError:  # a read-only home: nothing to protect it with, nothing to write either
        pass
    finally:
        tmp.unlink(missing_ok=True)


def _full(root: Path) -> str:
    """'disk full: ' when the home's disk has (almost) no room: SQLite then only says "disk I/O
    error" (it cannot create its shared-memory file), which hides the one thing to do."""
    try:
        return "disk full: " if shutil.disk_usage(root).free < 1 << 20 else ""
    except OSError:
        return ""
