"""Opening a home's store: create the folder, connect, migrate."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session

from heaters.store.db import connect_raw, make_engine, transaction
from heaters.store.home import Home
from heaters.store.migrations import migrate


class StoreError(RuntimeError):
    """The home or its database cannot be used (not writable, not a heaters database...)."""


@dataclass
class Store:
    home: Home
    engine: Engine

    @classmethod
    def open(cls, root: Path) -> Store:
        home = Home(Path(root).expanduser().absolute())
        try:
            home.root.mkdir(parents=True, exist_ok=True)
            home.media.mkdir(exist_ok=True)
            raw = connect_raw(home.db_path)
            try:
                migrate(raw)
            finally:
                raw.close()
        except OSError as exc:
            raise StoreError(f"cannot use home folder {home.root}: {exc.strerror or exc}") from exc
        except Exception as exc:  # sqlean errors: not a database, read-only, disk full
            raise StoreError(f"{_full(home.root)}cannot open {home.db_path}: {exc}") from exc
        return cls(home, make_engine(home.db_path))

    @contextmanager
    def tx(self, *, write: bool = True) -> Iterator[Session]:
        with transaction(self.engine, write=write) as session:
            yield session

    def close(self) -> None:
        self.engine.dispose()


def _full(root: Path) -> str:
    """'disk full: ' when the home's disk has (almost) no room: SQLite then only says "disk I/O
    error" (it cannot create its shared-memory file), which hides the one thing to do."""
    try:
        return "disk full: " if shutil.disk_usage(root).free < 1 << 20 else ""
    except OSError:
        return ""
