"""The review event log in the store: queue, append, commit, undo and the replay check.

The rules live in `heaters.domain.review`; this module only reads clips into views, asks the
domain what to do, and writes the answer. Events are appended, never changed except for the one
`committed_at` stamp; what a commit did is kept in `event_effects` so undo can compensate it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlmodel import Session, col, select

from heaters.domain import review as rules
from heaters.domain.states import check_transition
from heaters.store.home import Home
from heaters.store.tables import Clip, ClipArtifact, ClipEvent, Embedding, EventEffect, SourceVideo


@dataclass
class ReviewConfig:
    home: Home
    min_clip_s: float = 1.0
    reviewer: str = "operator"


@dataclass
class UndoOutcome:
    event: ClipEvent  # the undo event appended
    target: ClipEvent
    restored_clip_ids: list[int]
    removed_clip_ids: list[int]
    files_to_delete: list[Path] = field(default_factory=list)


def view(clip: Clip) -> rules.ClipView:
    assert clip.id is not None
    return rules.ClipView(
        clip.id, clip.source_video_id, clip.start_frame, clip.end_frame, clip.state,
        clip.grouped_with_clip_id,
    )  # fmt: skip


def video_views(session: Session, video_id: int) -> list[rules.ClipView]:
    rows = session.exec(select(Clip).where(Clip.source_video_id == video_id)).all()
    return [view(c) for c in rows]


def min_len(session: Session, video_id: int, min_clip_s: float) -> int:
    video = session.get(SourceVideo, video_id)
    fps = (video.fps if video else None) or 30.0
    return max(1, round(min_clip_s * fps))


def pending_events(session: Session) -> list[ClipEvent]:
    query = select(ClipEvent).where(col(ClipEvent.committed_at).is_(None))
    return list(session.exec(query.where(ClipEvent.action != rules.UNDO).order_by(ClipEvent.id)))


def queue(session: Session, video_id: int | None = None) -> list[Clip]:
    """Clips waiting for a decision: pending_review with no pending action, in timeline order."""
    query = select(Clip).where(Clip.state == "pending_review")
    if video_id is not None:
        query = query.where(Clip.source_video_id == video_id)
    busy = {e.clip_id for e in pending_events(session)}
    rows = session.exec(query.order_by(Clip.source_video_id, Clip.start_frame)).all()
    return [c for c in rows if c.id not in busy]


def append(
    session: Session,
    clip_id: int,
    action: str,
    payload: dict[str, Any] | None,
    cfg: ReviewConfig,
    now: float,
) -> ClipEvent:
    """Validate and append one review action (not applied until the grace period passes)."""
    clip = session.get(Clip, clip_id)
    if clip is None:
        raise rules.ReviewRefused(f"no clip {clip_id}")
    payload = dict(payload or {})
    rules.validate(
        action,
        view(clip),
        video_views(session, clip.source_video_id),
        payload,
        min_len(session, clip.source_video_id, cfg.min_clip_s),
        strict=True,
    )
    event = ClipEvent(
        clip_id=clip_id, action=action, payload=payload, reviewer=cfg.reviewer, created_at=now
    )
    session.add(event)
    session.flush()
    return event


def commit_due(session: Session, now: float, grace_s: float, cfg: ReviewConfig) -> int:
    """Apply, per clip, the newest pending action once it is older than the grace period."""
    by_clip: dict[int, list[ClipEvent]] = {}
    for event in pending_events(session):
        by_clip.setdefault(event.clip_id, []).append(event)
    due = [evs for evs in by_clip.values() if evs[-1].created_at <= now - grace_s]
    due.sort(key=lambda evs: evs[-1].id or 0)
    applied = 0
    for events in due:
        newest = events[-1]
        clip = session.get(Clip, newest.clip_id)
        effects: rules.Effects | None = None
        if clip is not None:
            try:
                effects = rules.plan(
                    newest.action,
                    view(clip),
                    video_views(session, clip.source_video_id),
                    newest.payload or {},
                    min_len(session, clip.source_video_id, cfg.min_clip_s),
                )
            except rules.ReviewRefused:
                effects = None  # no longer applies (a later commit changed the timeline)
        for event in events:
            event.committed_at = now
            session.add(event)
        session.flush()
        if effects is not None:
            new_ids = _apply(session, newest, effects, cfg.home, now)
            session.add(
                EventEffect(event_id=newest.id, effects=effects.as_json(), new_clip_ids=new_ids)
            )
            session.flush()
            applied += 1
    return applied


def _set_state(session: Session, clip_id: int, old: str, new: str, now: float) -> None:
    clip = session.get(Clip, clip_id)
    assert clip is not None
    check_transition("clip", clip.state, new)
    clip.state = new
    clip.claimed_by = None
    clip.claimed_until = None
    clip.attempts = 0
    clip.last_error = None
    clip.next_attempt_at = None
    clip.updated_at = now
    if new in ("review_approved", "review_skipped", "review_archived"):
        clip.reviewed_at = now
    session.add(clip)


def _frame_time(home: Home, video: SourceVideo, frame: int) -> float:
    path = home.source_dir(video.id or 0) / "frames.npy"
    if path.exists():
        times = np.load(path)
        if 0 <= frame < len(times):
            return float(times[frame])
    return frame / (video.fps or 30.0)


def _apply(
    session: Session, event: ClipEvent, effects: rules.Effects, home: Home, now: float
) -> list[int]:
    for key, old, new in effects.changes:
        _set_state(session, int(key), old, new, now)
    session.flush()
    new_ids: list[int] = []
    for n in effects.new_clips:
        video = session.get(SourceVideo, n.video_id)
        assert video is not None
        ends = [c for c in session.exec(select(Clip).where(Clip.source_video_id == n.video_id))
                if c.end_frame == n.end and c.state in ("merged", "split")]  # fmt: skip
        end_time = ends[0].end_time_s if ends else _frame_time(home, video, n.end)
        clip = Clip(
            source_video_id=n.video_id,
            start_frame=n.start,
            end_frame=n.end,
            start_time_s=_frame_time(home, video, n.start),
            end_time_s=end_time,
            origin=n.origin,
            origin_event_id=event.id,
            created_at=now,
            updated_at=now,
        )
        session.add(clip)
        session.flush()
        assert clip.id is not None
        new_ids.append(clip.id)
    if new_ids:
        for key, _old, new in effects.changes:
            if new in ("merged", "split"):
                clip = session.get(Clip, int(key))
                assert clip is not None
                clip.superseded_by = json.dumps(new_ids)
                session.add(clip)
    for key, _old, new in effects.grouped:
        clip = session.get(Clip, int(key))
        assert clip is not None
        clip.grouped_with_clip_id = new
        session.add(clip)
    session.flush()
    return new_ids


def _undone_ids(session: Session) -> set[int]:
    rows = session.exec(select(ClipEvent).where(ClipEvent.action == rules.UNDO)).all()
    return {int((e.payload or {})["event_id"]) for e in rows}


def undo_target(session: Session, reviewer: str, event_id: int | None) -> ClipEvent:
    undone = _undone_ids(session)
    if event_id is not None:
        target = session.get(ClipEvent, event_id)
        if target is None:
            raise rules.ReviewRefused(f"no event {event_id}")
        if target.action == rules.UNDO:
            raise rules.ReviewRefused(f"event {event_id} is itself an undo")
        if event_id in undone:
            raise rules.ReviewRefused(f"event {event_id} was already undone")
        return target
    query = (
        select(ClipEvent)
        .where(ClipEvent.reviewer == reviewer, ClipEvent.action != rules.UNDO)
        .order_by(col(ClipEvent.id).desc())
    )
    for event in session.exec(query):
        if event.id not in undone:
            return event
    raise rules.ReviewRefused("nothing to undo")


def undo(
    session: Session, cfg: ReviewConfig, now: float, event_id: int | None = None
) -> UndoOutcome:
    """Reverse one action: an uncommitted one is cancelled, a committed one compensated."""
    target = undo_target(session, cfg.reviewer, event_id)
    assert target.id is not None
    restored: list[int] = []
    removed: list[int] = []
    files: list[Path] = []
    effect = session.get(EventEffect, target.id)
    if target.committed_at is not None and effect is not None:
        effects = rules.Effects.from_json(effect.effects)
        new_ids = [int(i) for i in effect.new_clip_ids]
        keys = {int(k) for k, _o, _n in effects.changes} | set(new_ids)
        current = {}
        for key in keys:
            clip = session.get(Clip, key)
            if clip is not None:
                current[key] = view(clip)
        undone = _undone_ids(session)
        reviewed = {}
        for clip_id in new_ids:
            evs = session.exec(select(ClipEvent).where(ClipEvent.clip_id == clip_id)).all()
            reviewed[clip_id] = any(e.action != rules.UNDO and e.id not in undone for e in evs)
        plan = rules.plan_undo(effects, current, new_ids, reviewed)
        for clip_id in plan.drop_new:
            files += _drop_clip(session, int(clip_id), cfg.home)
            removed.append(int(clip_id))
        for key in plan.drop_derived:
            files += _drop_derived(session, int(key), cfg.home)
        for key, cur, back in plan.changes:
            back = _sprite_or_splice(session, int(key), back)
            _set_state(session, int(key), cur, back, now)
            clip = session.get(Clip, int(key))
            assert clip is not None
            clip.superseded_by = None
            clip.reviewed_at = None if back in ("pending_review", "spliced") else clip.reviewed_at
            session.add(clip)
            restored.append(int(key))
        for key, old in plan.ungroup:
            clip = session.get(Clip, int(key))
            assert clip is not None
            clip.grouped_with_clip_id = old
            session.add(clip)
    event = ClipEvent(
        clip_id=target.clip_id,
        action=rules.UNDO,
        payload={"event_id": target.id},
        reviewer=cfg.reviewer,
        created_at=now,
        committed_at=now,
    )
    session.add(event)
    if target.committed_at is None:
        target.committed_at = now  # cancelled: it will never be applied
        session.add(target)
    session.flush()
    if effect is not None:
        effect.undone_by = event.id
        session.add(effect)
    session.flush()
    return UndoOutcome(event, target, restored, removed, files)


def _sprite_or_splice(session: Session, clip_id: int, state: str) -> str:
    """A clip going back to review needs its sprite; `heaters gc` drops those of archived and
    superseded clips, so without one it goes back via `spliced` and the next run redraws it."""
    if state != "pending_review":
        return state
    sprite = session.exec(
        select(ClipArtifact).where(ClipArtifact.clip_id == clip_id, ClipArtifact.kind == "sprite")
    ).first()
    return state if sprite is not None else "spliced"


def _drop_derived(session: Session, clip_id: int, home: Home) -> list[Path]:
    """Keyframes and embeddings of a clip whose approval is being undone."""
    files = []
    for art in session.exec(
        select(ClipArtifact).where(ClipArtifact.clip_id == clip_id, ClipArtifact.kind == "keyframe")
    ):
        files.append(home.abs(art.path))
        session.delete(art)
    for emb in session.exec(select(Embedding).where(Embedding.clip_id == clip_id)):
        session.delete(emb)  # the vector index follows by trigger
    return files


def _drop_clip(session: Session, clip_id: int, home: Home) -> list[Path]:
    files = _drop_derived(session, clip_id, home)
    for art in session.exec(select(ClipArtifact).where(ClipArtifact.clip_id == clip_id)):
        files.append(home.abs(art.path))
        session.delete(art)
    session.flush()
    clip = session.get(Clip, clip_id)
    if clip is not None:
        session.delete(clip)
    session.flush()
    return files


def recent(session: Session, reviewer: str | None = None, limit: int = 8) -> list[ClipEvent]:
    query = select(ClipEvent).order_by(col(ClipEvent.id).desc()).limit(limit)
    if reviewer:
        query = query.where(ClipEvent.reviewer == reviewer)
    return list(session.exec(query))


def events(session: Session, clip_id: int | None = None) -> list[ClipEvent]:
    query = select(ClipEvent).order_by(ClipEvent.id)
    if clip_id is not None:
        query = query.where(ClipEvent.clip_id == clip_id)
    return list(session.exec(query))


def check(session: Session, min_clip_s: float) -> list[dict[str, Any]]:
    """Replay the log over the spliced clips; list every clip whose review state differs."""
    clips = list(session.exec(select(Clip)))

    def key_of(c: Clip) -> Any:
        return ("e", c.origin_event_id, c.start_frame) if c.origin_event_id else c.id

    keys = {c.id: key_of(c) for c in clips}
    initial = [
        rules.ClipView(c.id, c.source_video_id, c.start_frame, c.end_frame, "pending_review")
        for c in clips
        if c.origin == "splice"
    ]
    log = [
        rules.EventView(
            e.id or 0, keys.get(e.clip_id, e.clip_id), e.action, e.payload or {}, e.created_at,
            e.committed_at,
        )
        for e in events(session)
    ]  # fmt: skip
    lens = {v: min_len(session, v, min_clip_s) for v in {c.source_video_id for c in clips}}
    expected = rules.replay(initial, log, lens)
    diffs: list[dict[str, Any]] = []
    seen = set()
    for c in clips:
        key = key_of(c)
        seen.add(key)
        actual = (rules.level(c.state), keys.get(c.grouped_with_clip_id, c.grouped_with_clip_id))
        want = expected.get(key)
        if want != actual:
            diffs.append({"clip_id": c.id, "expected": want, "actual": actual})
    for key, want in expected.items():
        if key not in seen:
            diffs.append({"clip_id": None, "key": str(key), "expected": want, "actual": None})
    return diffs


def statuses(log: list[ClipEvent]) -> dict[int, str]:
    """What became of each event: pending, committed, replaced (a newer action on the clip won),
    cancelled (undone before it committed), undone (compensated after it), or done (an undo)."""
    undos = {int((e.payload or {})["event_id"]): e for e in log if e.action == rules.UNDO}
    applied = {e.id for e in rules.applied_events([_event_view(e) for e in log])}
    out: dict[int, str] = {}
    for e in log:
        assert e.id is not None
        undo = undos.get(e.id)
        if e.action == rules.UNDO:
            out[e.id] = "done"
        elif undo is not None:
            committed_before = e.committed_at is not None and e.committed_at < undo.created_at
            out[e.id] = "undone" if committed_before else "cancelled"
        else:
            committed = e.committed_at is not None
            out[e.id] = (
                "pending" if not committed else ("committed" if e.id in applied else "replaced")
            )
    return out


def _event_view(e: ClipEvent) -> rules.EventView:
    return rules.EventView(
        e.id or 0, e.clip_id, e.action, e.payload or {}, e.created_at, e.committed_at
    )
