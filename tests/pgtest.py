"""A real PostgreSQL for the tests: `$HEATERS_TEST_DATABASE_URL` (`.ci/postgres` starts one), else
a `pgserver` (PostgreSQL 16 + pgvector from PyPI) started once per session in a temp folder.

Each test gets a database of its own, cloned from a migrated template (`CREATE DATABASE ...
TEMPLATE`, a file copy: fast), and dropped after it.
"""

from __future__ import annotations

import itertools
import os
import tempfile
import warnings
from functools import cache
from pathlib import Path

ENV_TEST_URL = "HEATERS_TEST_DATABASE_URL"

_counter = itertools.count()


@cache
def server_url() -> str:
    """A URL of the server's maintenance database (a superuser may create databases there)."""
    url = os.environ.get(ENV_TEST_URL, "").strip()
    if url:
        return url
    folder = Path(tempfile.gettempdir()) / f"heaters-pgtest-{os.getuid()}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs: XDG_RUNTIME_DIR is not set
        import pgserver

        server = pgserver.get_server(folder, cleanup_mode="stop")
    _keep.append(server)
    return str(server.get_uri())


_keep: list[object] = []


def with_database(url: str, name: str) -> str:
    """`url` pointing at database `name` instead (host, user and query kept)."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(database=name).render_as_string(hide_password=False)


def _admin() -> object:
    import psycopg

    conninfo = server_url().replace("postgresql+psycopg://", "postgresql://")
    return psycopg.connect(conninfo, autocommit=True)


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main").replace("-", "_")


@cache
def template() -> str:
    """The migrated template database of this test process."""
    from heaters.store.db import make_pg_engine
    from heaters.store.migrations import migrate_pg

    name = f"heaters_tpl_{os.getpid()}_{_worker()}"
    with _admin() as conn:  # type: ignore[attr-defined]
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    engine = make_pg_engine(with_database(server_url(), name))
    try:
        migrate_pg(engine)
    finally:
        engine.dispose()
    return name


def fresh_database() -> tuple[str, str]:
    """(name, URL) of a new migrated, empty database."""
    name = f"heaters_t_{os.getpid()}_{_worker()}_{next(_counter)}"
    with _admin() as conn:  # type: ignore[attr-defined]
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template()}"')
    return name, with_database(server_url(), name)


def drop_database(name: str) -> None:
    try:
        with _admin() as conn:  # type: ignore[attr-defined]
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except Exception:  # noqa: BLE001 - cleanup only: a left database dies with the server
        pass
