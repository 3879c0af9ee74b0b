"""Followed URLs (channels, playlists, feeds, pages) and the entries each has seen."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlmodel import Session, col, select

from heaters.store.tables import Follow, SourceVideo


def get(session: Session, follow_id: int) -> Follow | None:
    return session.get(Follow, follow_id)


def by_url(session: Session, url: str) -> Follow | None:
    return session.exec(select(Follow).where(Follow.url == url)).first()


def add(
    session: Session, url: str, title: str | None, since: str | None, next_check_at: float
) -> tuple[Follow, bool]:
    """The follow of `url`, made unless it exists (then its --since is updated when given)."""
    existing = by_url(session, url)
    if existing is not None:
        if since is not None:
            existing.since = since
        existing.title = existing.title or title
        session.add(existing)
        session.flush()
        return existing, False
    row = Follow(url=url, title=title, since=since, next_attempt_at=next_check_at)
    session.add(row)
    session.flush()
    return row, True


def seen(session: Session, follow_id: int) -> set[str]:
    rows = session.execute(
        text("SELECT source_key FROM follow_seen WHERE follow_id = :f"), {"f": follow_id}
    ).all()
    return {str(r[0]) for r in rows}


def mark_seen(session: Session, follow_id: int, keys: list[str]) -> None:
    for key in dict.fromkeys(keys):
        session.execute(
            text(
                "INSERT INTO follow_seen (follow_id, source_key) VALUES (:f, :k) ON CONFLICT DO NOTHING"
            ),
            {"f": follow_id, "k": key},
        )


def checked(
    session: Session, follow_id: int, now: float, next_at: float, new: int, title: str | None
) -> None:
    """After a check: when the next one is due, and what this one found."""
    session.execute(
        text(
            "UPDATE follows SET last_checked_at = :now, next_attempt_at = :next, last_new = :new,"
            " title = COALESCE(title, :title), updated_at = :now WHERE id = :id"
        ),
        {"now": now, "next": next_at, "new": new, "title": title, "id": follow_id},
    )


def reschedule(session: Session, every_s: float) -> None:
    """Due times from the last check and the current `follow_every_h`: changing the setting
    applies to follows checked before (a failed check keeps its retry time)."""
    session.execute(
        text(
            "UPDATE follows SET next_attempt_at = last_checked_at + :every"
            " WHERE state = 'following' AND attempts = 0 AND last_checked_at IS NOT NULL"
        ),
        {"every": every_s},
    )


def listing(session: Session) -> list[dict[str, Any]]:
    rows = []
    for f in session.exec(select(Follow).order_by(col(Follow.id))):
        count = session.execute(
            text("SELECT COUNT(*) FROM source_videos WHERE follow_id = :f"), {"f": f.id}
        ).scalar_one()
        rows.append({"follow": f, "videos": int(count)})
    return rows


def remove(session: Session, follow: Follow) -> int:
    """Stop following: the follow and its seen entries go; its videos stay (unlinked).
    Returns how many videos it had registered."""
    count = session.execute(
        text("UPDATE source_videos SET follow_id = NULL WHERE follow_id = :f"), {"f": follow.id}
    ).rowcount  # type: ignore[attr-defined]
    session.execute(text("DELETE FROM follow_seen WHERE follow_id = :f"), {"f": follow.id})
    session.delete(follow)
    session.flush()
    return int(count or 0)


def videos_of(session: Session, follow_id: int) -> list[SourceVideo]:
    return list(session.exec(select(SourceVideo).where(SourceVideo.follow_id == follow_id)))
