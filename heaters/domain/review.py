"""Review semantics (DESIGN.md §7), pure: validation, replacement, commit planning, undo, outcomes.

The rules, in one place (docs/decisions.md says them in prose):

- An action names its clip; merge and group also record the partner the operator had in front of
  them (`payload["with"]`, the clip's timeline predecessor when the key was pressed).
- A later action on a clip replaces that clip's earlier pending action, except that splits of one
  clip compose (two splits, three clips). Replaced actions are never applied.
- At commit every surviving action is applied, in log order, against the store as the earlier ones
  left it, or refused with a reason. Merge and split products always go back to review; a group
  approves its partner only if that partner is still the very clip the operator saw.
- Every event has one outcome, computed by `outcomes`: pending, applied, replaced, cancelled,
  undone, or refused, each with why.

Everything works on *review levels* (unreviewed, approved, skipped, archived, merged, split), not
on pipeline states: whether an approved clip has been keyframed yet is not a review fact.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from heaters.domain.states import APPROVED_FAMILY, SUPERSEDED
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
# Clips the operator has not been shown yet (no sprite): a group may not approve them.
UNSEEN = frozenset({C.SPLICED, C.GENERATING_SPRITE, C.SPRITE_FAILED})

_OUTCOME = {"approve": C.REVIEW_APPROVED, "skip": C.REVIEW_SKIPPED, "archive": C.REVIEW_ARCHIVED}
_TRANSIENT_READY = {C.GENERATING_SPRITE: C.SPLICED, C.KEYFRAMING: C.REVIEW_APPROVED,
                    C.EMBEDDING: C.KEYFRAMED}  # fmt: skip


class ReviewRefused(ValueError):
    """An action or undo that cannot be done now; the message says why, in one line."""


def level(state: str) -> str:
    return _LEVEL[state]


def describe(action: str, clip_id: Any, payload: Mapping[str, Any] | None) -> str:
    """One action in words, the same on every screen."""
    payload = payload or {}
    if action == UNDO:
        return f"undo event {payload.get('event_id')}"
    if action == "split":
        return f"split clip {clip_id} at frame {payload.get('frame')}"
    if action in ("merge", "group"):
        partner = payload.get("with")
        return f"{action} clip {clip_id} with {'clip ' + str(partner) if partner else 'previous'}"
    return f"{action} clip {clip_id}"


@dataclass(frozen=True)
class ClipView:
    """What review needs to know of a clip. `key` identifies it across store and replay."""

    key: Any
    video_id: int
    start: int
    end: int
    state: str
    grouped_with: Any = None
    origin: str = "splice"


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
            and other.state not in SUPERSEDED
        ):
            return other
    return None


# ------------------------------------------------------------------ pending actions


@dataclass(frozen=True)
class Pending:
    """A pending (uncommitted, not cancelled) action as the replacement rule sees it."""

    id: int
    clip: Any
    action: str
    payload: Mapping[str, Any]
    created_at: float

    @property
    def partner(self) -> Any:
        return self.payload.get("with") if self.action in ("merge", "group") else None


def replacements(pending: Sequence[Pending]) -> dict[int, int]:
    """{replaced event id: the later event that replaced it}. Per clip, a later action replaces
    the earlier ones, except that a split composes with the splits right before it."""
    by_clip: dict[Any, list[Pending]] = {}
    for p in sorted(pending, key=lambda p: p.id):
        by_clip.setdefault(p.clip, []).append(p)
    out: dict[int, int] = {}
    for events in by_clip.values():
        for i, earlier in enumerate(events[:-1]):
            for later in events[i + 1 :]:
                if not (earlier.action == later.action == "split"):
                    out[earlier.id] = later.id
                    break
    return out


@dataclass(frozen=True)
class Waiting:
    """Review actions still in their grace period, and when they commit."""

    actions: int  # pending actions that will apply (replaced ones are not counted)
    first_at: float | None  # when the first of them commits
    last_at: float | None  # when the last of them commits


def waiting(pending: Sequence[Pending], grace_s: float) -> Waiting:
    """What a run would leave pending now: the actions and the times they become due (per clip,
    the newest action decides when all of that clip's actions commit)."""
    replaced = replacements(pending)
    newest: dict[Any, float] = {}
    for p in pending:
        newest[p.clip] = max(newest.get(p.clip, 0.0), p.created_at)
    due = [newest[p.clip] + grace_s for p in pending if p.id not in replaced]
    if not due:
        return Waiting(0, None, None)
    return Waiting(len(due), min(due), max(due))


def cut_frames(pending: Sequence[Pending], clip: Any) -> list[int]:
    """Frames of the pending splits of `clip` that will apply (they compose)."""
    replaced = replacements(pending)
    return sorted(
        int(p.payload["frame"])
        for p in pending
        if p.clip == clip and p.action == "split" and p.id not in replaced
    )


# ------------------------------------------------------------------ validation and planning


def _check_split(clip: ClipView, frame: Any, cuts: Sequence[int], min_len: int) -> int:
    if not isinstance(frame, int) or isinstance(frame, bool):
        raise ReviewRefused("split needs an integer source frame")
    if not clip.start < frame < clip.end:
        raise ReviewRefused(
            f"frame {frame} is outside clip {clip.key} (frames [{clip.start}, {clip.end}))"
        )
    if frame in cuts:
        raise ReviewRefused(f"clip {clip.key} already has a pending cut at frame {frame}")
    edges = [clip.start, *sorted({*cuts, frame}), clip.end]
    if any(b - a < min_len for a, b in zip(edges, edges[1:], strict=False)):
        raise ReviewRefused(
            f"split at {frame} leaves a part shorter than the minimum of {min_len} frames"
        )
    return frame


def validate(
    action: str,
    clip: ClipView,
    others: Iterable[ClipView],
    payload: Mapping[str, Any],
    min_len: int,
    *,
    strict: bool = False,
    cuts: Sequence[int] = (),
) -> ClipView | None:
    """Refuse an invalid new action with a reason; returns the partner clip for merge/group.

    `strict` (when a reviewer acts) wants the clip exactly in pending_review, and a group's
    partner shown to the operator already. `cuts` are the clip's pending split frames.
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
        if action == "group" and pred.state in UNSEEN:
            raise ReviewRefused(
                f"previous clip {pred.key} is {pred.state}: nobody has reviewed it yet, "
                "so a group cannot approve it"
            )
        return pred
    if action == "split":
        _check_split(clip, payload.get("frame"), cuts, min_len)
    return None


def resolve_split(clip: ClipView, others: Sequence[ClipView], frame: int) -> ClipView:
    """The clip a split applies to: its own clip, or (splits compose) the part of it that an
    earlier split of the same commit made and that holds the frame."""
    if level(clip.state) != "split":
        return clip
    for other in others:
        if (
            other.origin == "split"
            and clip.start <= other.start < frame < other.end <= clip.end
            and level(other.state) == UNREVIEWED
        ):
            return other
    raise ReviewRefused(f"clip {clip.key} was split since and no unreviewed part holds {frame}")


def plan(
    action: str,
    clip: ClipView,
    others: Sequence[ClipView],
    payload: Mapping[str, Any],
    min_len: int,
) -> Effects:
    """What committing `action` does now; ReviewRefused (with why) if it no longer applies."""
    if action == "split":
        clip = resolve_split(clip, others, payload.get("frame"))  # type: ignore[arg-type]
    if action not in ACTIONS:
        raise ReviewRefused(f"unknown action {action!r}")
    if level(clip.state) != UNREVIEWED:
        raise ReviewRefused(f"clip {clip.key} is {clip.state} now, not waiting for review")
    if action in _OUTCOME:
        return Effects(changes=((clip.key, clip.state, _OUTCOME[action]),))
    if action == "split":
        frame = _check_split(clip, payload.get("frame"), (), min_len)
        return Effects(
            changes=((clip.key, clip.state, C.SPLIT),),
            new_clips=(
                NewClip(clip.video_id, clip.start, frame, "split"),
                NewClip(clip.video_id, frame, clip.end, "split"),
            ),
        )
    pred = predecessor(clip, others)
    if pred is None:
        raise ReviewRefused(f"clip {clip.key} has no previous clip to {action} with any more")
    seen_key = payload.get("with", pred.key)
    seen = next((o for o in others if o.key == seen_key), None)
    if pred.key != seen_key:
        chained = (
            action == "merge"
            and seen is not None
            and pred.origin == "merge"
            and level(pred.state) == UNREVIEWED
            and pred.start <= seen.start
            and seen.end <= pred.end
        )
        if not chained:
            fate = f"is {seen.state}" if seen is not None else "is gone"
            raise ReviewRefused(
                f"the previous clip the operator saw ({seen_key}) {fate}; the previous clip is "
                f"now {pred.key}, which {'nobody reviewed' if pred.state in UNSEEN else 'differs'}"
            )
    if action == "merge":
        return Effects(
            changes=((pred.key, pred.state, C.MERGED), (clip.key, clip.state, C.MERGED)),
            new_clips=(NewClip(clip.video_id, pred.start, clip.end, "merge"),),
        )
    if pred.state in UNSEEN:
        raise ReviewRefused(f"previous clip {pred.key} is {pred.state}: nobody has reviewed it")
    changes = [(clip.key, clip.state, str(C.REVIEW_APPROVED))]
    if level(pred.state) != APPROVED:
        changes.insert(0, (pred.key, pred.state, str(C.REVIEW_APPROVED)))
    return Effects(changes=tuple(changes), grouped=((clip.key, clip.grouped_with, pred.key),))


def restore_state(old: str) -> str:
    """The state undo puts a clip back into: its old one, minus pipeline progress."""
    if old in _TRANSIENT_READY:
        old = _TRANSIENT_READY[C(old)]
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
        if target == C.REVIEW_APPROVED or (
            level(view.state) == APPROVED and view.state != C.REVIEW_APPROVED
        ):
            drop_derived.append(key)  # the pipeline redoes keyframes and embeddings
    ungroup = tuple((key, old) for key, old, _new in effects.grouped)
    return UndoPlan(tuple(changes), tuple(new_keys), ungroup, tuple(drop_derived))


# ------------------------------------------------------------------ outcomes


@dataclass(frozen=True)
class EventView:
    id: int
    clip_key: Any
    action: str
    payload: Mapping[str, Any]
    created_at: float
    committed_at: float | None


@dataclass(frozen=True)
class Record:
    """What a commit wrote down about an event (`event_effects`)."""

    kind: str  # applied | refused | replaced
    why: str = ""
    by: int | None = None  # replaced: the event that replaced it
    undone_by: int | None = None
    new_clip_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class Outcome:
    """What became of one event, with why: the one answer every view shows."""

    status: str  # pending | applied | replaced | cancelled | undone | refused
    why: str = ""
    by: int | None = None  # the event that replaced or undid it

    def text(self) -> str:
        return f"{self.status} ({self.why})" if self.why else self.status


OUTCOMES = ("pending", "applied", "replaced", "cancelled", "undone", "refused")


def outcomes(events: Sequence[EventView], records: Mapping[int, Record]) -> dict[int, Outcome]:
    """The outcome of every event in `events` (the whole log, so undos and replacements are seen)."""
    undo_of: dict[int, EventView] = {}
    for e in events:
        if e.action == UNDO:
            undo_of.setdefault(int(e.payload["event_id"]), e)
    pending = [
        Pending(e.id, e.clip_key, e.action, e.payload, e.created_at)
        for e in events
        if e.committed_at is None and e.action != UNDO
    ]
    replaced = replacements(pending)
    out: dict[int, Outcome] = {}
    for e in events:
        if e.action == UNDO:
            out[e.id] = Outcome("applied", f"undid event {e.payload.get('event_id')}")
            continue
        undo = undo_of.get(e.id)
        rec = records.get(e.id)
        if e.committed_at is None:
            if e.id in replaced:
                by = replaced[e.id]
                out[e.id] = Outcome("replaced", f"by event {by}, still pending", by)
            else:
                out[e.id] = Outcome("pending", "commits after the grace period")
        elif rec is not None and rec.kind == "applied":
            if undo is not None or rec.undone_by is not None:
                undone_by = undo.id if undo is not None else rec.undone_by
                out[e.id] = Outcome("undone", f"by event {undone_by}", undone_by)
            else:
                made = ", ".join(str(i) for i in rec.new_clip_ids)
                out[e.id] = Outcome("applied", f"made clips {made}" if made else "")
        elif rec is not None and rec.kind == "refused":
            out[e.id] = Outcome("refused", rec.why)
        elif rec is not None and rec.kind == "replaced":
            out[e.id] = Outcome("replaced", f"by event {rec.by}", rec.by)
        elif undo is not None:
            out[e.id] = Outcome(
                "cancelled", f"undone by event {undo.id} before it committed", undo.id
            )
        else:  # committed before outcomes were recorded
            out[e.id] = Outcome("replaced", "by a newer action on the clip")
    return out
