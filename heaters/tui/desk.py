"""The review desk: what the TUI reads from and writes to the store, with no widgets involved.

Every decision goes through `heaters.library.Library` (`act`, `undo`, `review_queue`, `recent`),
the same calls as `heaters review approve|...|undo`, so the TUI and its scriptable twin cannot
disagree. Each call is its own short transaction: a refused action writes nothing.

The store work (`read`, `write`, `write_undo`) touches no desk state, so the app runs it on a
writer thread; what it returns is applied on the UI thread (`apply`, `advance`, `take_back`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from heaters.domain.review import ReviewRefused, describe
from heaters.library import Library, Refused
from heaters.store import clips as clip_store
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


@dataclass(frozen=True)
class Snapshot:
    """The queue and the last actions, read together (on whichever thread read them)."""

    queue: list[Clip]
    recent: list[RecentAction]


@dataclass(frozen=True)
class Written:
    noted: Appended
    snapshot: Snapshot


@dataclass(frozen=True)
class UndoWritten:
    undone: Undone
    back: list[int]  # the undone clip, then any clips the undo restored
    snapshot: Snapshot


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
    last_recent: list[RecentAction] = field(default_factory=list)  # as of the last read
    held: dict[int, Clip] = field(default_factory=dict)  # decided here, not yet written

    def __post_init__(self) -> None:
        self.lib = Library.over(self.store, review=self.cfg, clock=lambda: self.clock())

    def reload(self) -> bool:
        """Re-read the queue; keep the current clip when it is still waiting. True if it changed."""
        return self.apply(self.read())

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
        return self.lib.min_frames(video_id)

    # Store work that may run on any thread: it reads and writes the database and returns what
    # it found; only the methods below it change the desk (on the UI thread).

    def read(self) -> Snapshot:
        """The queue and the last actions, as `apply` takes them."""
        return Snapshot(self.lib.review_queue(self.video_id), self.recent())

    def write(self, clip_id: int, action: str, payload: dict[str, Any] | None) -> Written:
        """Append a decision on `clip_id` (ReviewRefused writes nothing), then read back."""
        try:
            acted = self.lib.act(clip_id, action, payload)
        except Refused as exc:
            raise exc.reason from None  # the rules' own words, under the screen's title
        return Written(acted.noted, self.read())

    def write_undo(self) -> UndoWritten:
        """Undo the reviewer's newest action and delete what it made; then read back."""
        try:
            done = self.lib.undo()
        except Refused as exc:
            raise exc.reason from None
        undone = Undone(done.undid, done.action, done.clip_id)
        return UndoWritten(undone, [done.clip_id, *done.restored_clip_ids], self.read())

    # UI-thread state

    def apply(self, snapshot: Snapshot) -> bool:
        """Take a fresh queue; keep the current clip when it is still waiting. True if changed.
        Clips decided here whose write is still queued stay out (the read came before it)."""
        fresh = [c for c in snapshot.queue if c.id not in self.held]
        before = ([c.id for c in self.queue], self.current)
        old_current = next((c for c in self.queue if c.id == self.current), None)
        self.queue = fresh
        self.last_recent = snapshot.recent
        ids = [c.id for c in fresh]
        if self.seen is not None:
            self.arrived += [i for i in ids if i is not None and i not in self.seen]
        self.seen = (self.seen or set()) | {i for i in ids if i is not None}
        if self.current not in ids:
            self.current = self._next_after(old_current)
        return before != (ids, self.current)

    def advance(self, clip_id: int) -> None:
        """A decision on `clip_id` was made: it leaves the queue now, before it is written."""
        self.decided.add(clip_id)
        nxt = self.upcoming() if self.current == clip_id else self.current
        self.held.update((clip_id, c) for c in self.queue if c.id == clip_id)
        self.queue = [c for c in self.queue if c.id != clip_id]
        self.current = nxt

    def written(self, clip_id: int) -> None:
        """The decision on `clip_id` is in the store: nothing to take back any more."""
        self.held.pop(clip_id, None)

    def take_back(self, clip_id: int) -> None:
        """A decision was not written (refused, database error): its clip is current again."""
        self.decided.discard(clip_id)
        clip = self.held.pop(clip_id, None)
        if clip is not None and all(c.id != clip_id for c in self.queue):
            self.queue = sorted([*self.queue, clip], key=_key)
        if any(c.id == clip_id for c in self.queue):
            self.current = clip_id

    def bring_back(self, clip_ids: list[int]) -> None:
        """After an undo: the first of its clips that is waiting again becomes current."""
        ids = [c.id for c in self.queue]
        for clip_id in clip_ids:
            self.decided.discard(clip_id)
        for clip_id in clip_ids:
            if clip_id in ids:
                self.current = clip_id
                break

    # Synchronous forms (the CLI's way): write, then apply on this thread.

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
        written = self.write(clip_id, action, payload)
        self.decided.add(clip_id)
        self.apply(written.snapshot)
        return written.noted

    def undo(self) -> Undone:
        """Undo the reviewer's newest action; its clip, back in the queue, becomes current."""
        written = self.write_undo()
        self.apply(written.snapshot)
        self.bring_back(written.back)
        return written.undone

    def recent(self, limit: int = 8) -> list[RecentAction]:
        """The reviewer's newest actions with their outcomes (the store's one answer)."""
        return [
            RecentAction(
                event_id=e.id or 0,
                clip_id=e.clip_id,
                action=e.action,
                payload=dict(e.payload or {}),
                status=outcome.status,
                why=outcome.why,
            )
            for e, outcome in self.lib.recent(limit)
        ]
