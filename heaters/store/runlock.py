"""`heaters run --lock`: at most one such run per host and library, held until the process exits.

SQLite: an flock on `run.lock` in the home (one machine). PostgreSQL: a session-level advisory
lock keyed by this host's name (`heaters.owner.host_name`), held on a connection of its own —
not a file, which a shared mount (NFS, SMB) would not lock reliably. Another host's run does not
hold it: many machines working on one library at once is the point of sharing it; the claims
keep them apart.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from heaters.store.store import Store

# The advisory lock class of run locks (the second key is the host name's hash).
RUN_LOCK_KEY = 0x72756E  # "run"

_HELD: list[Any] = []


def take(store: Store, host: str) -> bool:
    """Take the run lock of `host` on this library for the rest of the process; False when
    another run holds it."""
    if store.is_postgres:
        conn = store.engine.connect()
        got = conn.execute(
            text("SELECT pg_try_advisory_lock(:k, hashtext(:host))"),
            {"k": RUN_LOCK_KEY, "host": host},
        ).scalar()
        conn.commit()
        if not got:
            conn.close()
            return False
        _HELD.append(conn)
        return True
    import fcntl

    handle = open(store.home.root / "run.lock", "a+")  # noqa: SIM115 - held for the process life
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return False
    _HELD.append(handle)
    return True
