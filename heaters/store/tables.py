"""SQLModel tables of DESIGN.md §5. The DDL itself lives in numbered migrations.

Timestamps are Unix seconds (REAL): claim expiry and backoff are then plain comparisons in SQL.
Paths are relative to the home folder, so a home can be moved.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import JSON, Column, LargeBinary
from sqlmodel import Field, SQLModel


def now() -> float:
    return time.time()


class Claimable(SQLModel):
    """Columns every row a dispatcher step works on carries: its claim and its retries."""

    attempts: int = 0
    last_error: str | None = None
    next_attempt_at: float | None = None
    claimed_by: str | None = None
    claimed_until: float | None = None
    created_at: float = Field(default_factory=now)
    updated_at: float = Field(default_factory=now)


class SourceVideo(Claimable, table=True):
    __tablename__ = "source_videos"

    id: int | None = Field(default=None, primary_key=True)
    url: str | None = None
    local_path: str | None = None
    title: str | None = None
    state: str = "new"
    filepath: str | None = None
    duration_s: float | None = None
    fps: float | None = None
    width: int | None = None
    height: int | None = None
    frame_count: int | None = None
    codec: str | None = None
    source_meta: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    detector: str | None = None
    detector_params: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    # identity: `extractor:id`, `url:<normalised URL>` or `sha256:<content hash>` (one row each)
    source_key: str | None = None
    uploader: str | None = None
    upload_date: str | None = None  # YYYYMMDD
    description: str | None = None
    chapters: list[Any] | None = Field(
        default=None, sa_column=Column(JSON)
    )  # [{start_time, title}]
    follow_id: int | None = None  # the followed URL that registered it


class Follow(Claimable, table=True):
    """A channel, playlist, feed or page `heaters run` re-checks for new entries."""

    __tablename__ = "follows"

    id: int | None = Field(default=None, primary_key=True)
    url: str
    title: str | None = None
    since: str | None = None  # YYYYMMDD: older entries are not registered
    state: str = "following"
    last_checked_at: float | None = None
    last_new: int = 0  # entries the last check registered


class FollowSeen(SQLModel, table=True):
    """An entry a follow has listed: never registered again by that follow."""

    __tablename__ = "follow_seen"

    follow_id: int = Field(primary_key=True, foreign_key="follows.id")
    source_key: str = Field(primary_key=True)


class RemovedClip(SQLModel, table=True):
    """A clip `heaters rm` removed with its video (its review events stay in the log)."""

    __tablename__ = "removed_clips"

    clip_id: int = Field(primary_key=True)
    video_id: int
    removed_at: float


class Clip(Claimable, table=True):
    __tablename__ = "clips"

    id: int | None = Field(default=None, primary_key=True)
    source_video_id: int = Field(foreign_key="source_videos.id")
    start_frame: int
    end_frame: int  # exclusive
    start_time_s: float
    end_time_s: float
    state: str = "spliced"
    reviewed_at: float | None = None
    grouped_with_clip_id: int | None = None
    superseded_by: str | None = None  # JSON list of clip ids that replaced this one
    origin: str = "splice"
    origin_event_id: int | None = None  # the merge/split event that made this clip


class ClipArtifact(SQLModel, table=True):
    __tablename__ = "clip_artifacts"

    id: int | None = Field(default=None, primary_key=True)
    clip_id: int = Field(foreign_key="clips.id")
    kind: str
    strategy: str
    tag: str = ""
    path: str
    meta: dict[str, Any] | None = Field(default=None, sa_column=Column("metadata", JSON))
    created_at: float = Field(default_factory=now)


class ClipEvent(SQLModel, table=True):
    __tablename__ = "clip_events"

    id: int | None = Field(default=None, primary_key=True)
    clip_id: int
    action: str
    payload: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    reviewer: str = "operator"
    created_at: float = Field(default_factory=now)
    committed_at: float | None = None


class EventEffect(SQLModel, table=True):
    __tablename__ = "event_effects"

    event_id: int = Field(primary_key=True, foreign_key="clip_events.id")
    effects: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    new_clip_ids: list[int] = Field(sa_column=Column(JSON, nullable=False))
    undone_by: int | None = None


class Embedding(SQLModel, table=True):
    __tablename__ = "embeddings"

    id: int | None = Field(default=None, primary_key=True)
    clip_id: int = Field(foreign_key="clips.id")
    model: str
    strategy: str
    dim: int
    vector: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    tags: list[Any] | None = Field(default=None, sa_column=Column(JSON))
    created_at: float = Field(default_factory=now)
