"""Counts per state, for `heaters status`."""

from __future__ import annotations

from sqlalchemy import text
from sqlmodel import Session


def counts(session: Session, table: str) -> dict[str, int]:
    if table not in ("source_videos", "clips"):
        raise ValueError(table)
    rows = session.execute(text(f"SELECT state, COUNT(*) FROM {table} GROUP BY state")).all()
    return {str(state): int(n) for state, n in rows}


def failures(session: Session, table: str) -> list[dict[str, object]]:
    """Rows that failed at least once (failed state, or waiting for a retry)."""
    if table not in ("source_videos", "clips"):
        raise ValueError(table)
    rows = session.execute(
        text(
            f"SELECT id, state, attempts, last_error, next_attempt_at FROM {table}"
            " WHERE last_error IS NOT NULL ORDER BY id"
        )
    ).all()
    return [
        {"id": r[0], "state": r[1], "attempts": r[2], "last_error": r[3], "next_attempt_at": r[4]}
        for r in rows
    ]
