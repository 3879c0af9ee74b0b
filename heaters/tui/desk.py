"""The review desk: what the TUI reads from and writes to the store, with no widgets involved.

Every decision goes through `heaters.store.review` (`append`, `undo`, `queue`, `recent`), the
same functions as `heaters review approve|...|undo`, so the TUI and its scriptable twin cannot
disagree. Each call is its own short transaction: a refused action writes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from heaters.domain.review import ReviewRefused, describe
from heaters.store import clips as clip_store
from heaters.store import review as review_store
from heaters.store.review import Appended, ReviewConfig
from heaters.store.store import Store
from heaters.store.tables import Clip, ClipEvent, SourceVideo
from heaters.tui.sprite import SpriteSheet


@dataclass(frozen=True)
class ClipCard:
    """What the screen shows about one clip."""

    clip_id: int
    video_id: int
    title: str
    start_frame: int
    end_frame: int  # exclusive
    start_s: float
    end_s: float
    source: Path | None  # the downloaded/local file, for mpv
    sprite_path: Path | None
    sprite_meta: dict[str, Any] | None

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    def sheet(self, min_tile_width: int | None = None) -> SpriteSheet | None:
        if self.sprite_path is None or self.sprite_meta is None or not self.sprite_path.exists():
            return None
        return SpriteSheet.from_meta(self.sprite_path, self.sprite_meta, min_tile_width)


@dataclass(frozen=True)
class RecentAction:
    """One line of the history panel: the action and its outcome, as `heaters events` has it."""

    event_id: int
    clip_id: int
    action: str
    payload: dict[str, Any]
    status: str  # pending | applied | replaced | cancelled | undone | refused
    why: str = ""

    @property
    def pending(self) -> bool:
        return self.status == "pending"

    @property
    def undone(self) -> bool:
        return self.status in ("undone", "cancelled")

    def describe(self) -> str:
        return describe(self.action, self.clip_id, self.payload)


@dataclass(frozen=True)
class Undone:
    event_id: int
    action: str
    clip_id: int


def _key(clip: Clip) -> tuple[int, int, int]:
    return (clip.source_video_id, clip.start_frame, clip.id or 0)


@dataclass
class ReviewDesk:
    """The queue of DESIGN.md §7 as the operator walks it: current clip, decisions, undo."""

    store: Store
    cfg: ReviewConfig
    video_id: int | None = None
    clock: Callable[[], float] = time.time
    queue: list[Clip] = field(default_factory=list)
    current: int | None = None
    decided: set[int] = field(default_factory=set)  # clips decided this session (for "n of N")
    seen: set[int] | None = None  # every clip id the queue has shown; None before the first read
    arrived: list[int] = field(default_factory=list)  # clips new to the queue since it opened

    def reload(self) -> bool:
        """Re-read the queue; keep the current clip when it is still waiting. True if it changed."""
        with self.store.tx(write=False) as session:
            fresh = review_store.queue(session, self.video_id)
        before = ([c.id for c in self.queue], self.current)
        old_current = next((c for c in self.queue if c.id == self.current), None)
        self.queue = fresh
        ids = [c.id for c in fresh]
        if self.seen is not None:
            self.arrived += [i for i in ids if i is not None and i not in self.seen]
        self.seen = (self.seen or set()) | {i for i in ids if i is not None}
        if self.current not in ids:
            self.current = self._next_after(old_current)
        return before != (ids, self.current)

    def _next_after(self, clip: Clip | None) -> int | None:
        if not self.queue:
            return None
        if clip is not None:
            for c in self.queue:
                if _key(c) > _key(clip):
                    return c.id
        return self.queue[0].id

    def upcoming(self) -> int | None:
        """The clip a decision on the current one will show next (for prefetching)."""
        current = self.current_clip()
        if current is None:
            return None
        later = [c for c in self.queue if c.id != current.id and _key(c) > _key(current)]
        rest = later or [c for c in self.queue if c.id != current.id]
        return rest[0].id if rest else None

    def take_arrived(self) -> list[int]:
        """Clips that joined the queue while it was open (merge/split results), once each."""
        out, self.arrived = self.arrived, []
        return out

    @property
    def position(self) -> tuple[int, int]:
        """(n, N): the current clip's place among this session's decided and waiting clips."""
        ids = [c.id for c in self.queue]
        done = len(self.decided - set(ids))
        index = ids.index(self.current) if self.current in ids else 0
        return done + index + 1, done + len(ids)

    def current_clip(self) -> Clip | None:
        return next((c for c in self.queue if c.id == self.current), None)

    def card(self, clip_id: int) -> ClipCard | None:
        with self.store.tx(write=False) as session:
            clip = clip_store.get(session, clip_id)
            if clip is None:
                return None
            video = session.get(SourceVideo, clip.source_video_id)
            sprites = clip_store.artifacts(session, clip_id, kind="sprite")
        home = self.store.home
        source = None
        title = f"video {clip.source_video_id}"
        if video is not None:
            title = video.title or video.url or video.local_path or title
            if video.filepath:
                source = home.abs(video.filepath)
            elif video.local_path:
                source = Path(video.local_path)
        sprite = sprites[0] if sprites else None
        return ClipCard(
            clip_id=clip_id,
            video_id=clip.source_video_id,
            title=title,
            start_frame=clip.start_frame,
            end_frame=clip.end_frame,
            start_s=clip.start_time_s,
            end_s=clip.end_time_s,
            source=source,
            sprite_path=home.abs(sprite.path) if sprite else None,
            sprite_meta=dict(sprite.meta or {}) if sprite else None,
        )

    def min_frames(self, video_id: int) -> int:
        """The shortest clip a split may leave, in frames (the store's own rule)."""
        with self.store.tx(write=False) as session:
            return review_store.min_len(session, video_id, self.cfg.min_clip_s)

    def act(self, action: str, payload: dict[str, Any] | None = None) -> ClipEvent:
        """Append a decision on the current clip and move on; ReviewRefused writes nothing."""
        return self.act_noted(action, payload).event

    def act_noted(
        self, action: str, payload: dict[str, Any] | None = None, clip_id: int | None = None
    ) -> Appended:
        """`act`, with what the action replaces or overrides (for the screen to say so).

        `clip_id` decides on a clip other than the current one (the find screen's hits); the
        store applies the same rules, and the queue moves on only if that clip was current."""
        if clip_id is None:
            clip = self.current_clip()
            if clip is None or clip.id is None:
                raise ReviewRefused("no clip to review")
            clip_id = clip.id
        with self.store.tx() as session:
            noted = review_store.append_noted(
                session, clip_id, action, payload, self.cfg, self.clock()
            )
        self.decided.add(clip_id)
        self.reload()
        return noted

    def undo(self) -> Undone:
        """Undo the reviewer's newest action; its clip, back in the queue, becomes current."""
        with self.store.tx() as session:
            outcome = review_store.undo(session, self.cfg, self.clock())
        for path in outcome.files_to_delete:
            path.unlink(missing_ok=True)
        target = outcome.target
        self.decided.discard(target.clip_id)
        self.reload()
        back = [target.clip_id, *outcome.restored_clip_ids]
        ids = [c.id for c in self.queue]
        for clip_id in back:
            if clip_id in ids:
                self.current = clip_id
                break
        return Undone(target.id or 0, target.action, target.clip_id)

    def recent(self, limit: int = 8) -> list[RecentAction]:
        """The reviewer's newest actions with their outcomes (the store's one answer)."""
        with self.store.tx(write=False) as session:
            rows = review_store.recent(session, self.cfg.reviewer, limit=limit)
            status = review_store.outcomes(session)
        return [
            RecentAction(
                event_id=e.id or 0,
                clip_id=e.clip_id,
                action=e.action,
                payload=dict(e.payload or {}),
                status=status[e.id or 0].status,
                why=status[e.id or 0].why,
            )
            for e in rows
        ]
