"""`heaters rm`: a video and everything made from it go (clips, artifacts, embeddings, files).

The review log is append-only and stays: the removed clips are recorded in `removed_clips`, so
`events --check` knows their events describe clips that are gone on purpose, and undo skips them.
A video whose rows a live run holds (a claim not yet expired) is refused: the run may be writing
its files right now. Rows are deleted in one transaction; files after it commits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import text
from sqlmodel import Session

from heaters.domain.steps import STEPS
from heaters.store.home import Home
from heaters.store.tables import SourceVideo

_CLAIMS = {s.claim for s in STEPS}


class RemoveRefused(Exception):
    """The video does not exist, or a run holds one of its rows."""


@dataclass
class RemovePlan:
    video_id: int
    title: str | None
    clips: list[int] = field(default_factory=list)
    artifacts: int = 0
    embeddings: int = 0
    events: int = 0  # review events about its clips (kept, as history)
    folders: list[Path] = field(default_factory=list)


def plan(session: Session, home: Home, video_id: int, now: float) -> RemovePlan:
    """What `rm` would remove; RemoveRefused when it may not."""
    video = session.get(SourceVideo, video_id)
    if video is None:
        raise RemoveRefused(f"no video {video_id}")
    held: list[str] = []
    if video.state in _CLAIMS and (video.claimed_until or 0) > now:
        held.append(f"video {video_id} ({video.state})")
    clip_rows = session.execute(
        text("SELECT id, state, claimed_until FROM clips WHERE source_video_id = :v ORDER BY id"),
        {"v": video_id},
    ).all()
    held += [
        f"clip {cid} ({st})" for cid, st, until in clip_rows if st in _CLAIMS and (until or 0) > now
    ]
    if held:
        shown = ", ".join(held[:3]) + (f" and {len(held) - 3} more" if len(held) > 3 else "")
        raise RemoveRefused(
            f"a run is working on {shown}: wait for it to finish (or stop it), then rm again"
        )
    ids = [int(r[0]) for r in clip_rows]
    out = RemovePlan(video_id, video.title, ids)
    if ids:
        marks = ",".join(map(str, ids))
        q = f"SELECT COUNT(*) FROM {{t}} WHERE clip_id IN ({marks})"  # noqa: S608 (ints)
        out.artifacts = int(session.execute(text(q.format(t="clip_artifacts"))).scalar_one())
        out.embeddings = int(session.execute(text(q.format(t="embeddings"))).scalar_one())
        out.events = int(session.execute(text(q.format(t="clip_events"))).scalar_one())
    out.folders = [home.source_dir(video_id), *(home.clip_dir(c) for c in ids)]
    return out


def remove(session: Session, home: Home, video_id: int, now: float) -> RemovePlan:
    """Delete the rows (in the caller's IMMEDIATE transaction); the caller deletes
    `plan.folders` after the commit."""
    p = plan(session, home, video_id, now)
    if p.clips:
        marks = ",".join(map(str, p.clips))
        for table in ("embeddings", "clip_artifacts"):  # the vector index follows by trigger
            session.execute(text(f"DELETE FROM {table} WHERE clip_id IN ({marks})"))  # noqa: S608
        session.execute(
            text(f"UPDATE clips SET grouped_with_clip_id = NULL WHERE id IN ({marks})")  # noqa: S608
        )
        session.execute(text(f"DELETE FROM clips WHERE id IN ({marks})"))  # noqa: S608 (ints)
        for cid in p.clips:
            session.execute(
                text(
                    "INSERT INTO removed_clips (clip_id, video_id, removed_at)"
                    " VALUES (:c, :v, :t) ON CONFLICT DO NOTHING"
                ),
                {"c": cid, "v": video_id, "t": now},
            )
    session.execute(text("DELETE FROM source_videos WHERE id = :v"), {"v": video_id})
    return p
