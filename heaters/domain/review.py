"""Review semantics (DESIGN.md §7), pure: validation, commit planning, undo planning, replay.

The same functions decide what a commit does to the store and what a replay of the event log does
to an in-memory model, so `heaters events --check` compares like with like. Everything works on
*review levels* (unreviewed, approved, skipped, archived, merged, split), not on pipeline states:
whether an approved clip has been keyframed yet is not a review fact.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from heaters.domain.states import APPROVED_FAMILY
from heaters.domain.states import ClipState as C

ACTIONS = ("approve", "skip", "archive", "merge", "group", "split")
UNDO = "undo"

UNREVIEWED = "unreviewed"
APPROVED = "approved"

_LEVEL: dict[str, str] = {
    C.SPLICED: UNREVIEWED,
    C.GENERATING_SPRITE: UNREVIEWED,
    C.PENDING_REVIEW: UNREVIEWED,
    C.SPRITE_FAILED: UNREVIEWED,
    C.REVIEW_SKIPPED: "skipped",
    C.REVIEW_ARCHIVED: "archived",
    C.MERGED: "merged",
    C.SPLIT: "split",
    **{state: APPROVED for state in APPROVED_FAMILY},
}

_OUTCOME = {"approve": C.REVIEW_APPROVED, "skip": C.REVIEW_SKIPPED, "archive": C.REVIEW_ARCHIVED}
_TRANSIENT_READY = {C.GENERATING_SPRITE: C.SPLICED, C.KEYFRAMING: C.REVIEW_APPROVED,
                    C.EMBEDDING: C.KEYFRAMED}  # fmt: skip
PARTNER_LEVELS = frozenset({UNREVIEWED, APPROVED, "skipped"})


class ReviewRefused(ValueError):
    """An action or undo that cannot be done now; the message says why, in one line."""


def level(state: str) -> str:
    return _LEVEL[state]


@dataclass(frozen=True)
class ClipView:
    """What review needs to know of a clip. `key` identifies it across store and replay."""

    key: Any
    video_id: int
    start: int
    end: int
    state: str
    grouped_with: Any = None


@dataclass(frozen=True)
class NewClip:
    video_id: int
    start: int
    end: int
    origin: str  # merge | split


@dataclass(frozen=True)
class Effects:
    """What one committed action did: state changes (old, new), new clips, grouping."""

    changes: tuple[tuple[Any, str, str], ...]  # (clip key, old state, new state)
    new_clips: tuple[NewClip, ...] = ()
    grouped: tuple[tuple[Any, Any, Any], ...] = ()  # (clip key, old grouped_with, new)

    def as_json(self) -> dict[str, Any]:
        return {
            "changes": [list(c) for c in self.changes],
            "new_clips": [[n.video_id, n.start, n.end, n.origin] for n in self.new_clips],
            "grouped": [list(g) for g in self.grouped],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Effects:
        return cls(
            changes=tuple((a, b, c) for a, b, c in data.get("changes", [])),
            new_clips=tuple(NewClip(v, s, e, o) for v, s, e, o in data.get("new_clips", [])),
            grouped=tuple((a, b, c) for a, b, c in data.get("grouped", [])),
        )


def predecessor(clip: ClipView, others: Iterable[ClipView]) -> ClipView | None:
    """The live clip just before `clip` in its source's timeline."""
    for other in others:
        if (
            other.key != clip.key
            and other.video_id == clip.video_id
            and other.end == clip.start
            and level(other.state) not in ("merged", "split")
        ):
            return other
    return None


def validate(
    action: str,
    clip: ClipView,
    others: Iterable[ClipView],
    payload: Mapping[str, Any],
    min_len: int,
    *,
    strict: bool = False,
) -> ClipView | None:
    """Refuse an invalid action with a reason; returns the partner clip for merge/group.

    `strict` (when a reviewer acts) wants the clip exactly in pending_review, with its sprite;
    a commit only needs it still unreviewed.
    """
    if action not in ACTIONS:
        raise ReviewRefused(f"unknown action {action!r} (one of {', '.join(ACTIONS)})")
    if strict and clip.state != C.PENDING_REVIEW:
        raise ReviewRefused(f"clip {clip.key} is {clip.state}, not pending_review")
    if level(clip.state) != UNREVIEWED:
        raise ReviewRefused(f"clip {clip.key} is {clip.state}, not waiting for review")
    if action in ("merge", "group"):
        pred = predecessor(clip, others)
        if pred is None:
            raise ReviewRefused(
                f"clip {clip.key} has no previous clip in its video to {action} with"
            )
        if level(pred.state) not in PARTNER_LEVELS:
            raise ReviewRefused(
                f"previous clip {pred.key} is {pred.state}; cannot {action} with it"
            )
        return pred
    if action == "split":
        frame = payload.get("frame")
        if not isinstance(frame, int) or isinstance(frame, bool):
            raise ReviewRefused("split needs an integer source frame")
        if not clip.start < frame < clip.end:
            raise ReviewRefused(
                f"frame {frame} is outside clip {clip.key} (frames {clip.start}-{clip.end - 1})"
            )
        if frame - clip.start < min_len or clip.end - frame < min_len:
            raise ReviewRefused(
                f"split at {frame} leaves a part shorter than the minimum of {min_len} frames"
            )
    return None


def plan(
    action: str,
    clip: ClipView,
    others: Sequence[ClipView],
    payload: Mapping[str, Any],
    min_len: int,
) -> Effects:
    """What committing `action` does now; ReviewRefused if it no longer applies (then: a no-op)."""
    partner = validate(action, clip, others, payload, min_len)
    if action in _OUTCOME:
        return Effects(changes=((clip.key, clip.state, _OUTCOME[action]),))
    assert partner is not None or action == "split"
    if action == "merge":
        assert partner is not None
        return Effects(
            changes=((partner.key, partner.state, C.MERGED), (clip.key, clip.state, C.MERGED)),
            new_clips=(NewClip(clip.video_id, partner.start, clip.end, "merge"),),
        )
    if action == "group":
        assert partner is not None
        changes = [(clip.key, clip.state, str(C.REVIEW_APPROVED))]
        if level(partner.state) != APPROVED:
            changes.insert(0, (partner.key, partner.state, str(C.REVIEW_APPROVED)))
        return Effects(
            changes=tuple(changes), grouped=((clip.key, clip.grouped_with, partner.key),)
        )
    frame = int(payload["frame"])
    return Effects(
        changes=((clip.key, clip.state, C.SPLIT),),
        new_clips=(
            NewClip(clip.video_id, clip.start, frame, "split"),
            NewClip(clip.video_id, frame, clip.end, "split"),
        ),
    )


def restore_state(old: str) -> str:
    """The state undo puts a clip back into: its old one, minus pipeline progress."""
    if old in _TRANSIENT_READY:
        old = _TRANSIENT_READY[old]
    if level(old) == APPROVED:
        return str(C.REVIEW_APPROVED)
    return old


@dataclass(frozen=True)
class UndoPlan:
    changes: tuple[tuple[Any, str, str], ...]  # (clip key, current, restored)
    drop_new: tuple[Any, ...]  # keys of clips made by the action, to remove
    ungroup: tuple[tuple[Any, Any], ...]  # (clip key, grouped_with to restore)
    drop_derived: tuple[Any, ...] = field(default=())  # clips whose keyframes/embeddings go


def plan_undo(
    effects: Effects,
    current: Mapping[Any, ClipView],
    new_keys: Sequence[Any],
    new_reviewed: Mapping[Any, bool],
) -> UndoPlan:
    """How to compensate a committed action, or ReviewRefused saying why it no longer can be."""
    for key in new_keys:
        view = current.get(key)
        if view is None:
            continue
        if new_reviewed.get(key) or level(view.state) != UNREVIEWED:
            raise ReviewRefused(
                f"clip {key} made by this action was reviewed since; undo that first"
            )
    changes = []
    drop_derived = []
    for key, old, new in effects.changes:
        view = current.get(key)
        if view is None:
            raise ReviewRefused(f"clip {key} no longer exists")
        if level(view.state) != level(new):
            raise ReviewRefused(
                f"clip {key} is {view.state} now (changed by a later action); undo that first"
            )
        target = restore_state(old)
        changes.append((key, view.state, target))
        if level(view.state) == APPROVED and view.state != C.REVIEW_APPROVED:
            drop_derived.append(key)
    ungroup = tuple((key, old) for key, old, _new in effects.grouped)
    return UndoPlan(tuple(changes), tuple(new_keys), ungroup, tuple(drop_derived))


# ------------------------------------------------------------------ replay


@dataclass(frozen=True)
class EventView:
    id: int
    clip_key: Any
    action: str
    payload: Mapping[str, Any]
    created_at: float
    committed_at: float | None


def applied_events(events: Sequence[EventView]) -> list[EventView]:
    """Committed events in the order a commit applied them, with losers and cancelled dropped.

    An action is cancelled when an undo names it before it was committed. Among one clip's actions
    committed together, only the newest applies (the reviewer changed their mind).
    """
    undos = {int(e.payload["event_id"]): e for e in events if e.action == UNDO}
    committed = [e for e in events if e.committed_at is not None]
    committed.sort(key=lambda e: (e.committed_at, e.id))
    newest: dict[tuple[Any, float], int] = {}
    for e in committed:
        if e.action == UNDO:
            continue
        undo = undos.get(e.id)
        if undo is not None and not (e.committed_at < undo.created_at):  # type: ignore[operator]
            continue
        group = (e.clip_key, e.committed_at)
        newest[group] = max(newest.get(group, -1), e.id)
    out = []
    for e in committed:
        if e.action == UNDO:
            out.append(e)
            continue
        if newest.get((e.clip_key, e.committed_at)) == e.id:
            out.append(e)
    return out


def replay(
    initial: Sequence[ClipView], events: Sequence[EventView], min_len: Mapping[int, int]
) -> dict[Any, tuple[str, Any]]:
    """Review level and grouping of every clip, from the spliced clips and the event log.

    New clips are keyed `("e", event_id, start_frame)`: the event that made them and where they
    start, which is how the store names them too (`origin_event_id`).
    """
    clips: dict[Any, ClipView] = {c.key: replace(c, state=_level_state(c.state)) for c in initial}
    done: dict[int, tuple[Effects, tuple[Any, ...]]] = {}
    for e in applied_events(events):
        if e.action == UNDO:
            target = int(e.payload["event_id"])
            if target not in done:
                continue
            effects, new_keys = done.pop(target)
            current = {k: v for k, v in clips.items()}
            try:
                undo = plan_undo(effects, current, new_keys, {})
            except ReviewRefused:
                continue
            for key in undo.drop_new:
                clips.pop(key, None)
            for key, _cur, target_state in undo.changes:
                clips[key] = replace(clips[key], state=target_state)
            for key, old in undo.ungroup:
                clips[key] = replace(clips[key], grouped_with=old)
            continue
        clip = clips.get(e.clip_key)
        if clip is None:
            continue
        others = [c for c in clips.values() if c.video_id == clip.video_id]
        try:
            effects = plan(e.action, clip, others, e.payload, min_len.get(clip.video_id, 1))
        except ReviewRefused:
            continue
        new_keys = []
        for key, _old, new in effects.changes:
            clips[key] = replace(clips[key], state=new)
        for key, _old, new in effects.grouped:
            clips[key] = replace(clips[key], grouped_with=new)
        for n in effects.new_clips:
            key = ("e", e.id, n.start)
            clips[key] = ClipView(key, n.video_id, n.start, n.end, str(C.SPLICED))
            new_keys.append(key)
        done[e.id] = (effects, tuple(new_keys))
    return {k: (level(v.state), v.grouped_with) for k, v in clips.items()}


def _level_state(state: str) -> str:
    """A representative state for a level (replay starts from spliced clips)."""
    return {UNREVIEWED: C.PENDING_REVIEW, APPROVED: C.REVIEW_APPROVED}.get(level(state), state)
