"""The review event log in the store: queue, append, commit, undo and the replay check.

The rules live in `heaters.domain.review`; this module only reads clips into views, asks the
domain what to do, and writes the answer. Events are appended, never changed except for the one
`committed_at` stamp; what a commit did is kept in `event_effects` so undo can compensate it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlmodel import Session, col, select

from heaters.domain import review as rules
from heaters.domain.files import FRAME_TIMES
from heaters.domain.states import SUPERSEDED, check_transition
from heaters.store.home import Home
from heaters.store.tables import Clip, ClipArtifact, ClipEvent, Embedding, EventEffect, SourceVideo


@dataclass
class ReviewConfig:
    home: Home
    min_clip_s: float = 1.0
    reviewer: str = "operator"

    @classmethod
    def of(cls, home: Home, settings: Any) -> ReviewConfig:
        """The review config of a home's settings (`heaters.settings.Settings`): the one place
        the CLI, the review screen and the run's commit step take it from."""
        return cls(home=home, min_clip_s=settings.min_clip_s, reviewer=settings.reviewer)


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
        clip.grouped_with_clip_id, clip.origin,
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
    return list(
        session.exec(query.where(ClipEvent.action != rules.UNDO).order_by(col(ClipEvent.id)))
    )


def _pending_view(e: ClipEvent) -> rules.Pending:
    return rules.Pending(e.id or 0, e.clip_id, e.action, e.payload or {}, e.created_at)


def _live_pending(session: Session) -> tuple[list[ClipEvent], dict[int, int]]:
    """Pending events and which of them are replaced (by which later one)."""
    pend = pending_events(session)
    return pend, rules.replacements([_pending_view(e) for e in pend])


def busy_clips(session: Session) -> set[int]:
    """Clips a pending action decides: its own clip, and the partner of a merge or group."""
    pend, replaced = _live_pending(session)
    busy = {e.clip_id for e in pend}
    for e in pend:
        partner = _pending_view(e).partner
        if partner is not None and e.id not in replaced:
            busy.add(int(partner))
    return busy


def queue(session: Session, video_id: int | None = None) -> list[Clip]:
    """Clips waiting for a decision: pending_review and not part of a pending action."""
    query = select(Clip).where(Clip.state == "pending_review")
    if video_id is not None:
        query = query.where(Clip.source_video_id == video_id)
    busy = busy_clips(session)
    rows = session.exec(query.order_by(col(Clip.source_video_id), col(Clip.start_frame))).all()
    return [c for c in rows if c.id not in busy]


Waiting = rules.Waiting


def waiting(session: Session, grace_s: float) -> Waiting:
    """What a run would leave pending now (`heaters.domain.review.waiting`)."""
    return rules.waiting([_pending_view(e) for e in pending_events(session)], grace_s)


def decided_by(session: Session, clip_id: int) -> ClipEvent | None:
    """The newest applied, not undone event that changed `clip_id` (or made it)."""
    records = _records(session)
    for e in reversed(events(session)):
        rec = records.get(e.id or 0)
        if rec is None or rec.kind != "applied" or rec.undone_by is not None:
            continue
        if clip_id in _touched(e, rec, session):
            return e
    return None


@dataclass
class Appended:
    event: ClipEvent
    replaced: list[ClipEvent]  # pending actions this one replaces (never applied unless undone)
    notes: list[str]  # what else the operator should know, one line each


def append(
    session: Session,
    clip_id: int,
    action: str,
    payload: dict[str, Any] | None,
    cfg: ReviewConfig,
    now: float,
) -> ClipEvent:
    """Validate and append one review action (not applied until the grace period passes)."""
    return append_noted(session, clip_id, action, payload, cfg, now).event


def append_noted(
    session: Session,
    clip_id: int,
    action: str,
    payload: dict[str, Any] | None,
    cfg: ReviewConfig,
    now: float,
) -> Appended:
    """`append`, also saying which pending actions it replaces and what it overrides."""
    clip = session.get(Clip, clip_id)
    if clip is None:
        raise rules.ReviewRefused(f"no clip {clip_id}")
    payload = {k: v for k, v in (payload or {}).items() if k != "with"}
    pend, replaced = _live_pending(session)
    live = [e for e in pend if e.id not in replaced]
    for e in live:
        partner = _pending_view(e).partner
        if partner is not None and int(partner) == clip_id:
            raise rules.ReviewRefused(
                f"clip {clip_id} is part of pending event {e.id} "
                f"({rules.describe(e.action, e.clip_id, e.payload)}); undo that first: "
                f"heaters review undo {e.id}"
            )
    if clip.state != "pending_review" and action in rules.ACTIONS:
        by = decided_by(session, clip_id)
        if by is not None:
            raise rules.ReviewRefused(
                f"clip {clip_id} is {clip.state} by event {by.id} "
                f"({rules.describe(by.action, by.clip_id, by.payload)}); undo that first: "
                f"heaters review undo {by.id}"
            )
    mine = [e for e in live if e.clip_id == clip_id]
    cuts = (
        [int((e.payload or {})["frame"]) for e in mine if e.action == "split"]
        if action == "split"
        else []
    )
    partner = rules.validate(
        action,
        view(clip),
        video_views(session, clip.source_video_id),
        payload,
        min_len(session, clip.source_video_id, cfg.min_clip_s),
        strict=True,
        cuts=cuts,
    )
    notes: list[str] = []
    if partner is not None:
        payload["with"] = partner.key
        other = [e for e in live if e.clip_id == partner.key]
        if other:
            notes.append(
                f"clip {partner.key} has pending event {other[-1].id} "
                f"({rules.describe(other[-1].action, other[-1].clip_id, other[-1].payload)}); "
                f"it applies first, then this {action} overrides it"
            )
        elif rules.level(partner.state) != rules.UNREVIEWED:
            by = decided_by(session, int(partner.key))
            was = f" by event {by.id}" if by is not None else ""
            notes.append(
                f"clip {partner.key} is {partner.state}{was}; this {action} overrides that"
                + ("; the merged clip goes to review" if action == "merge" else "")
            )
        if action == "merge":
            notes.append("the merged clip goes to review like any new clip")
    gone = [e for e in mine if not (action == "split" and e.action == "split")]
    event = ClipEvent(
        clip_id=clip_id, action=action, payload=payload, reviewer=cfg.reviewer, created_at=now
    )
    session.add(event)
    session.flush()
    return Appended(event, gone, notes)


def _record(
    session: Session,
    event: ClipEvent,
    kind: str,
    *,
    effects: rules.Effects | None = None,
    new_ids: list[int] | None = None,
    why: str = "",
    by: int | None = None,
) -> None:
    data: dict[str, Any] = effects.as_json() if effects is not None else {}
    data["kind"] = kind
    if why:
        data["why"] = why
    if by is not None:
        data["by"] = by
    session.add(EventEffect(event_id=event.id or 0, effects=data, new_clip_ids=new_ids or []))


def commit_due(session: Session, now: float, grace_s: float, cfg: ReviewConfig) -> int:
    """Commit the pending actions of every clip whose newest action is past the grace period:
    the surviving ones are applied in log order (or refused, with why), the replaced ones are
    stamped as replaced. Returns how many were applied."""
    pend, replaced = _live_pending(session)
    newest: dict[int, float] = {}
    for e in pend:
        newest[e.clip_id] = max(newest.get(e.clip_id, 0.0), e.created_at)
    due = [e for e in pend if newest[e.clip_id] <= now - grace_s]
    applied = 0
    for event in due:
        event.committed_at = now
        session.add(event)
        if event.id in replaced:
            _record(session, event, "replaced", by=replaced[event.id or 0])
            continue
        session.flush()
        clip = session.get(Clip, event.clip_id)
        try:
            if clip is None:
                raise rules.ReviewRefused(f"clip {event.clip_id} no longer exists")
            effects = rules.plan(
                event.action,
                view(clip),
                video_views(session, clip.source_video_id),
                event.payload or {},
                min_len(session, clip.source_video_id, cfg.min_clip_s),
            )
        except rules.ReviewRefused as exc:
            _record(session, event, "refused", why=str(exc))
            continue
        new_ids = _apply(session, event, effects, cfg.home, now)
        _record(session, event, "applied", effects=effects, new_ids=new_ids)
        session.flush()
        applied += 1
    session.flush()
    return applied


def _set_state(session: Session, clip_id: int, new: str, now: float) -> None:
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
    path = home.source_dir(video.id or 0) / FRAME_TIMES
    if path.exists():
        times = np.load(path)
        if 0 <= frame < len(times):
            return float(times[frame])
    return frame / (video.fps or 30.0)


def _apply(
    session: Session, event: ClipEvent, effects: rules.Effects, home: Home, now: float
) -> list[int]:
    for key, _old, new in effects.changes:
        _set_state(session, int(key), new, now)
    session.flush()
    new_ids: list[int] = []
    for n in effects.new_clips:
        video = session.get(SourceVideo, n.video_id)
        assert video is not None
        ends = [c for c in session.exec(select(Clip).where(Clip.source_video_id == n.video_id))
                if c.end_frame == n.end and c.state in SUPERSEDED]  # fmt: skip
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
            if new in SUPERSEDED:
                old_clip = session.get(Clip, int(key))
                assert old_clip is not None
                old_clip.superseded_by = json.dumps(new_ids)
                session.add(old_clip)
    for key, _old, new in effects.grouped:
        grouped = session.get(Clip, int(key))
        assert grouped is not None
        grouped.grouped_with_clip_id = new
        session.add(grouped)
    session.flush()
    return new_ids


def _records(session: Session) -> dict[int, rules.Record]:
    out = {}
    for row in session.exec(select(EventEffect)):
        data = row.effects or {}
        out[row.event_id] = rules.Record(
            kind=data.get("kind", "applied"),
            why=data.get("why", ""),
            by=data.get("by"),
            undone_by=row.undone_by,
            new_clip_ids=tuple(int(i) for i in row.new_clip_ids or []),
        )
    return out


def _raw_effects(session: Session, event_id: int) -> rules.Effects | None:
    row = session.get(EventEffect, event_id)
    return rules.Effects.from_json(row.effects) if row is not None else None


def _touched(event: ClipEvent, rec: rules.Record | None, session: Session) -> set[int]:
    """Clips an event decides: for an applied one, those it changed or made; for a pending one,
    its clip and its recorded partner."""
    if rec is not None and rec.kind == "applied":
        effects = _raw_effects(session, event.id or 0)
        changed = {int(k) for k, _o, _n in effects.changes} if effects else set()
        partners = {int(n) for _k, _o, n in effects.grouped if n is not None} if effects else set()
        return changed | partners | set(rec.new_clip_ids)  # a group relies on its partner too
    out = {event.clip_id}
    partner = _pending_view(event).partner
    if partner is not None:
        out.add(int(partner))
    return out


def outcomes(session: Session, log: list[ClipEvent] | None = None) -> dict[int, rules.Outcome]:
    """The outcome of every event (DESIGN.md §7): the one answer `events`, `show` and the TUI show."""
    log = events(session) if log is None else log
    return rules.outcomes([_event_view(e) for e in log], _records(session))


def history(session: Session, clip_id: int | None = None) -> list[dict[str, Any]]:
    """The log as `events` and `show` print it: each event with its one outcome and why.
    `clip_id` keeps the events that name the clip (as its clip or as a merge/group partner)."""
    log = events(session)
    status = outcomes(session, log)
    rows = []
    for e in log:
        partner = (e.payload or {}).get("with")
        if clip_id is not None and clip_id not in (e.clip_id, partner):
            continue
        out = status[e.id or 0]
        rows.append(
            {
                "id": e.id,
                "clip_id": e.clip_id,
                "action": e.action,
                "payload": e.payload,
                "what": rules.describe(e.action, e.clip_id, e.payload),
                "reviewer": e.reviewer,
                "created_at": _iso(e.created_at),
                "committed_at": _iso(e.committed_at),
                "status": out.status,
                "why": out.why,
                "by": out.by,
            }
        )
    return rows


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def removed_clips(session: Session) -> set[int]:
    """Clips `heaters rm` removed with their video: their events stay in the log, as history."""
    return {int(r[0]) for r in session.execute(text("SELECT clip_id FROM removed_clips"))}


def undo_target(session: Session, reviewer: str, event_id: int | None) -> ClipEvent:
    status = outcomes(session)
    gone = removed_clips(session)
    if event_id is not None:
        target = session.get(ClipEvent, event_id)
        if target is None:
            raise rules.ReviewRefused(f"no event {event_id}")
        if target.clip_id in gone:
            raise rules.ReviewRefused(
                f"event {event_id} is about clip {target.clip_id}, removed with its video"
            )
        if target.action == rules.UNDO:
            raise rules.ReviewRefused(f"event {event_id} is itself an undo")
        out = status[event_id]
        if out.status in ("undone", "cancelled"):
            raise rules.ReviewRefused(f"event {event_id} was already undone ({out.text()})")
        if out.status in ("refused", "replaced") and target.committed_at is not None:
            raise rules.ReviewRefused(f"event {event_id} changed nothing ({out.text()})")
        return target
    query = (
        select(ClipEvent)
        .where(ClipEvent.reviewer == reviewer, ClipEvent.action != rules.UNDO)
        .order_by(col(ClipEvent.id).desc())
    )
    for event in session.exec(query):
        if event.clip_id in gone:
            continue
        if status[event.id or 0].status in ("pending", "applied") or (
            event.committed_at is None and status[event.id or 0].status == "replaced"
        ):
            return event
    raise rules.ReviewRefused("nothing to undo")


def _blocker(session: Session, target: ClipEvent, status: dict[int, rules.Outcome]) -> None:
    """An applied action cannot be undone while a later live action decides one of its clips."""
    records = _records(session)
    mine = _touched(target, records.get(target.id or 0), session)
    later = select(ClipEvent).where(
        col(ClipEvent.id) > (target.id or 0), ClipEvent.action != rules.UNDO
    )
    for e in session.exec(later.order_by(col(ClipEvent.id).desc())):
        if status[e.id or 0].status not in ("pending", "applied"):
            continue
        shared = mine & _touched(e, records.get(e.id or 0), session)
        if shared:
            clips = ", ".join(str(i) for i in sorted(shared))
            raise rules.ReviewRefused(
                f"clip {clips} was reviewed since by event {e.id} "
                f"({rules.describe(e.action, e.clip_id, e.payload)}, "
                f"{status[e.id or 0].status}); undo that first"
            )


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
    status = outcomes(session)
    if target.committed_at is not None and effect is not None:
        _blocker(session, target, status)
        effects = rules.Effects.from_json(effect.effects)
        new_ids = [int(i) for i in effect.new_clip_ids]
        keys = {int(k) for k, _o, _n in effects.changes} | set(new_ids)
        current = {}
        for key in keys:
            clip = session.get(Clip, key)
            if clip is not None:
                current[key] = view(clip)
        plan = rules.plan_undo(effects, current, new_ids, {})
        for clip_id in plan.drop_new:
            files += _drop_clip(session, int(clip_id), cfg.home)
            removed.append(int(clip_id))
        for key in plan.drop_derived:
            files += _drop_derived(session, int(key), cfg.home)
        for key, _cur, back in plan.changes:
            back = _sprite_or_splice(session, int(key), back)
            _set_state(session, int(key), back, now)
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


def shared_file(rel_path: str) -> bool:
    """A file that belongs to the source video, not to one clip (the tile store a sprite view
    points into): removing a clip's row never removes it."""
    return rel_path.startswith("media/sources/")


def _drop_clip(session: Session, clip_id: int, home: Home) -> list[Path]:
    files = _drop_derived(session, clip_id, home)
    for art in session.exec(select(ClipArtifact).where(ClipArtifact.clip_id == clip_id)):
        if not shared_file(art.path):
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
    query = select(ClipEvent).order_by(col(ClipEvent.id))
    if clip_id is not None:
        query = query.where(ClipEvent.clip_id == clip_id)
    return list(session.exec(query))


def check(session: Session, min_clip_s: float = 1.0) -> list[dict[str, Any]]:
    """Every clip whose review state no decision explains.

    Rebuilds each clip's review level and grouping from the spliced clips and what the log's
    applied, not undone events changed (undos reverse them), and checks that each change is one
    the event's action may make: approve/skip/archive their own clip; a group its clip and the
    partner recorded when the operator pressed the key (never a clip nobody was shown); merge and
    split their clip, its recorded partner, or clips made by merges/splits. Then compares the
    result with the table. `min_clip_s` is kept for callers; the check needs no lengths.
    """
    del min_clip_s
    clips = {c.id or 0: c for c in session.exec(select(Clip))}
    gone = removed_clips(session)  # their video was removed (heaters rm): nothing to explain
    log = [e for e in events(session) if e.clip_id not in gone]
    records = _records(session)
    status = outcomes(session, log)
    expect: dict[int, tuple[str, Any]] = {
        i: (rules.UNREVIEWED, None) for i, c in clips.items() if c.origin == "splice"
    }
    origin: dict[int, str] = {i: c.origin for i, c in clips.items()}
    diffs: list[dict[str, Any]] = []

    def problem(clip_id: Any, why: str) -> None:
        diffs.append({"clip_id": clip_id, "why": why, "expected": None, "actual": None})

    happenings = sorted(
        (e for e in log if e.committed_at is not None),
        key=lambda e: (e.committed_at or 0.0, e.id or 0),
    )
    made: dict[int, tuple[int, ...]] = {}
    for e in happenings:
        if e.action == rules.UNDO:
            target = int((e.payload or {})["event_id"])
            effects = _raw_effects(session, target)
            rec = records.get(target)
            if effects is None or rec is None or rec.kind != "applied":
                continue
            for key in made.pop(target, ()):
                expect.pop(key, None)
            for key, old, _new in effects.changes:
                if int(key) in expect:
                    expect[int(key)] = (rules.level(old), expect[int(key)][1])
            for key, old, _new in effects.grouped:
                if int(key) in expect:
                    expect[int(key)] = (expect[int(key)][0], old)
            continue
        rec = records.get(e.id or 0)
        if rec is None or rec.kind != "applied":
            continue
        effects = _raw_effects(session, e.id or 0)
        assert effects is not None
        allowed = _may_change(e, effects, origin)
        for key, old, new in effects.changes:
            key = int(key)
            if key not in expect:
                problem(key, f"event {e.id} changed clip {key}, which the log never made")
                continue
            if expect[key][0] != rules.level(old):
                problem(key, f"event {e.id} found clip {key} {old}; the log says {expect[key][0]}")
            why = allowed(key, old, new)
            if why:
                problem(key, f"event {e.id} ({e.action}) {why}")
            expect[key] = (rules.level(new), expect[key][1])
        for key, _old, new in effects.grouped:
            if int(key) in expect:
                expect[int(key)] = (expect[int(key)][0], new)
        made[e.id or 0] = rec.new_clip_ids
        for key in rec.new_clip_ids:
            expect[key] = (rules.UNREVIEWED, None)
            origin.setdefault(key, e.action)
    for clip_id, c in clips.items():
        actual = (rules.level(c.state), c.grouped_with_clip_id)
        want = expect.get(clip_id)
        if want is None:
            problem(clip_id, f"clip {clip_id} ({c.origin}) was made by no applied event")
        elif want != actual:
            diffs.append({"clip_id": clip_id, "expected": want, "actual": actual,
                          "why": f"the log says {want[0]}, the table has {c.state}"})  # fmt: skip
        if c.grouped_with_clip_id is not None:
            partner = clips.get(c.grouped_with_clip_id)
            if partner is None or rules.level(partner.state) != rules.APPROVED:
                problem(
                    clip_id, f"grouped with clip {c.grouped_with_clip_id}, which is not approved"
                )
    for key in expect:
        if key not in clips:
            diffs.append({"clip_id": key, "expected": expect[key], "actual": None,
                          "why": "the log says it exists; the table has no such clip"})  # fmt: skip
    del status
    return diffs


def _may_change(e: ClipEvent, effects: rules.Effects, origin: dict[int, str]) -> Any:
    """A function (clip, old, new) -> why not, or "" when `e`'s action may make that change."""
    partner = (e.payload or {}).get("with")
    if partner is None and e.action in ("merge", "group"):  # logged before partners were kept
        others = [int(k) for k, _o, _n in effects.changes if int(k) != e.clip_id]
        partner = others[0] if others else next((n for _k, _o, n in effects.grouped), None)

    def allowed(key: int, old: str, new: str) -> str:
        if rules.level(new) == rules.APPROVED:
            if e.action == "approve" and key == e.clip_id:
                return ""
            if e.action == "group" and key in (e.clip_id, partner):
                if key == partner and old in rules.UNSEEN:
                    return f"approved clip {key}, which nobody had been shown ({old})"
                return ""
            return f"approved clip {key}, which it does not name"
        if e.action in ("skip", "archive"):
            return "" if key == e.clip_id else f"changed clip {key}, which it does not name"
        superseded = {"merge": "merged", "split": "split"}.get(e.action)
        if superseded is not None and rules.level(new) == superseded:
            if key in (e.clip_id, partner) or origin.get(key) in ("merge", "split"):
                return ""
        return f"changed clip {key} {old} -> {new}"

    return allowed


def _event_view(e: ClipEvent) -> rules.EventView:
    return rules.EventView(
        e.id or 0, e.clip_id, e.action, e.payload or {}, e.created_at, e.committed_at
    )
