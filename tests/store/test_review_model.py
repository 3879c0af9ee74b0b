"""Review against a reference model of the operator's intent (issue 12, "How to show it holds").

The model below is written from the rules in docs/decisions.md ("Review"), on frame intervals,
without `heaters.domain.review`: a wrong plan in the domain cannot pass by agreeing with itself.
Hypothesis drives random approve / skip / archive / merge / group / split / undo, commits at random
times, sprites and pipeline progress, and after every step checks:

- every store clip has the review level and grouping the model says, and no other clip exists;
- a clip is approved only by a decision naming it while the operator had it in front of them
  (approve on it, or a group on it or its recorded partner), never a clip nobody was shown;
- every event's outcome (`outcomes`, which `events`, `show` and the TUI print) is the model's;
- `events --check` finds nothing; and at the end `heaters events --json`, `heaters show --json`
  and the review desk report the same outcomes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from sqlmodel import select
from typer.testing import CliRunner

from heaters.store import review
from heaters.store.tables import Clip, ClipArtifact
from tests.store.test_review import make_store

GRACE = 10.0
LENGTH = 60
N_CLIPS = 5
MIN_LEN = 15  # 0.5 s at 30 fps
SUPERSEDED = ("merged", "split")
LEVEL = {
    "spliced": "u", "generating_sprite": "u", "pending_review": "u", "sprite_failed": "u",
    "review_approved": "approved", "keyframing": "approved", "keyframed": "approved",
    "embedding": "approved", "embedded": "approved", "review_skipped": "skipped",
    "review_archived": "archived", "merged": "merged", "split": "split",
}  # fmt: skip
DECISION = {"approve": "approved", "skip": "skipped", "archive": "archived"}


@dataclass
class MClip:
    key: Any  # store id for spliced clips, ("e", event id, start) for clips events made
    start: int
    end: int
    level: str = "u"
    seen: bool = True  # has been in pending_review (the operator could see it)
    grouped: Any = None
    origin: str = "splice"


@dataclass
class MEvent:
    id: int
    action: str
    clip: Any
    partner: Any
    frame: int | None
    t: float
    status: str = "pending"  # pending | applied | replaced | cancelled | undone | refused
    committed: bool = False
    before: dict[Any, tuple[str, Any]] = field(default_factory=dict)  # clip -> (level, grouped)
    made: list[Any] = field(default_factory=list)


class Model:
    """The operator's intent, on intervals."""

    def __init__(self, ids: list[int]) -> None:
        self.clips = {i: MClip(i, n * LENGTH, (n + 1) * LENGTH) for n, i in enumerate(sorted(ids))}
        self.events: list[MEvent] = []

    # ---- queries

    def live(self) -> list[MClip]:
        return [c for c in self.clips.values() if c.level not in SUPERSEDED]

    def prev(self, c: MClip) -> MClip | None:
        return next((o for o in self.live() if o.end == c.start and o.key != c.key), None)

    def pending(self) -> list[MEvent]:
        return [e for e in self.events if not e.committed]

    def replaced_by(self) -> dict[int, int]:
        """A later action on a clip replaces its earlier pending ones; splits compose."""
        out: dict[int, int] = {}
        pend = self.pending()
        for i, e in enumerate(pend):
            for later in pend[i + 1 :]:
                if later.clip == e.clip and not (e.action == later.action == "split"):
                    out[e.id] = later.id
                    break
        return out

    def status(self, e: MEvent) -> str:
        if not e.committed and e.id in self.replaced_by():
            return "replaced"
        return e.status

    def touched(self, e: MEvent) -> set[Any]:
        if e.status == "applied":
            partner = {e.partner} if e.action == "group" else set()
            return set(e.before) | set(e.made) | partner  # a group relies on its partner
        return {e.clip} | ({e.partner} if e.partner is not None else set())

    # ---- the operator acts

    def refuses(self, action: str, key: Any, frame: int | None) -> str | None:
        """Why the action is refused when made, or None (then `accept` records it)."""
        c = self.clips.get(key)
        if c is None or c.level != "u" or not c.seen:
            return "not in review"
        replaced = self.replaced_by()
        live = [e for e in self.pending() if e.id not in replaced]
        if any(e.partner == key for e in live):
            return "partner of a pending merge/group"
        if action in ("merge", "group"):
            p = self.prev(c)
            if p is None:
                return "no previous clip"
            if action == "group" and not p.seen:
                return "previous clip never shown"
        if action == "split":
            assert frame is not None
            cuts = sorted(e.frame for e in live if e.clip == key and e.action == "split")  # type: ignore[type-var]
            if not c.start < frame < c.end or frame in cuts:
                return "bad frame"
            edges = [c.start, *sorted({*cuts, frame}), c.end]  # type: ignore[list-item]
            if any(b - a < MIN_LEN for a, b in zip(edges, edges[1:], strict=False)):
                return "part too short"
        return None

    def accept(self, event_id: int, action: str, key: Any, frame: int | None, t: float) -> None:
        partner = None
        if action in ("merge", "group"):
            p = self.prev(self.clips[key])
            assert p is not None
            partner = p.key
        self.events.append(MEvent(event_id, action, key, partner, frame, t))

    # ---- the run commits

    def commit(self, now: float) -> None:
        replaced = self.replaced_by()
        newest: dict[Any, float] = {}
        for e in self.pending():
            newest[e.clip] = max(newest.get(e.clip, 0.0), e.t)
        for e in [e for e in self.pending() if newest[e.clip] <= now - GRACE]:
            e.committed = True
            if e.id in replaced:
                e.status = "replaced"
            else:
                e.status = "applied" if self._apply(e) else "refused"

    def _set(self, e: MEvent, c: MClip, level: str, grouped: Any = "keep") -> None:
        e.before.setdefault(c.key, (c.level, c.grouped))
        c.level = level
        if grouped != "keep":
            c.grouped = grouped

    def _new(self, e: MEvent, start: int, end: int, origin: str) -> None:
        key = ("e", e.id, start)
        self.clips[key] = MClip(key, start, end, seen=False, origin=origin)
        e.made.append(key)

    def _apply(self, e: MEvent) -> bool:
        c = self.clips.get(e.clip)
        if c is None:
            return False
        if e.action == "split" and c.level == "split":
            assert e.frame is not None
            c = next(
                (o for o in self.live() if o.origin == "split" and o.level == "u"
                 and c.start <= o.start < e.frame < o.end <= c.end),
                None,
            )  # fmt: skip
            if c is None:
                return False
        if c.level != "u":
            return False
        if e.action in DECISION:
            self._set(e, c, DECISION[e.action])
            return True
        if e.action == "split":
            assert e.frame is not None
            if min(e.frame - c.start, c.end - e.frame) < MIN_LEN:
                return False
            self._set(e, c, "split")
            self._new(e, c.start, e.frame, "split")
            self._new(e, e.frame, c.end, "split")
            return True
        p = self.prev(c)
        if p is None:
            return False
        seen_partner = self.clips.get(e.partner)
        if p.key != e.partner:
            chained = (
                e.action == "merge" and seen_partner is not None and p.origin == "merge"
                and p.level == "u" and p.start <= seen_partner.start
                and seen_partner.end <= p.end
            )  # fmt: skip
            if not chained:
                return False
        if e.action == "merge":
            self._set(e, p, "merged")
            self._set(e, c, "merged")
            self._new(e, p.start, c.end, "merge")
            return True
        if not p.seen:
            return False
        if p.level != "approved":
            self._set(e, p, "approved")
        self._set(e, c, "approved", grouped=p.key)
        return True

    # ---- undo

    def undo_target(self, event_id: int | None) -> MEvent | str:
        if event_id is not None:
            e = next(x for x in self.events if x.id == event_id)
            st_ = self.status(e)
            if st_ in ("undone", "cancelled"):
                return "already undone"
            if e.committed and st_ in ("refused", "replaced"):
                return "changed nothing"
            return e
        for e in reversed(self.events):
            if self.status(e) in ("pending", "applied") or (not e.committed):
                return e
        return "nothing to undo"

    def blocked(self, target: MEvent) -> bool:
        """An applied action cannot be undone while a later live one decides one of its clips
        (an uncommitted one is simply cancelled)."""
        if not target.committed:
            return False
        mine = self.touched(target)
        for e in self.events:
            if e.id > target.id and self.status(e) in ("pending", "applied"):
                if mine & self.touched(e):
                    return True
        return False

    def undo(self, target: MEvent) -> None:
        if not target.committed:
            target.committed, target.status = True, "cancelled"
            return
        for key in target.made:
            del self.clips[key]
        for key, (lvl, grouped) in target.before.items():
            self.clips[key].level, self.clips[key].grouped = lvl, grouped
        target.status = "undone"


def _key_of(c: Clip) -> Any:
    return ("e", c.origin_event_id, c.start_frame) if c.origin_event_id else c.id


class ReviewMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.root = Path(TMP.mktemp("model"))
        self.store, self.cfg = make_store(self.root, n_clips=N_CLIPS, length=LENGTH)
        with self.store.tx(write=False) as s:
            ids = [c.id or 0 for c in s.exec(select(Clip))]
        self.model = Model(ids)
        self.now = 1000.0
        self.last_frame = 0

    # ---- helpers

    def _clips(self) -> list[Clip]:
        with self.store.tx(write=False) as s:
            return list(s.exec(select(Clip).order_by(Clip.id)))

    def _ids(self) -> dict[Any, int]:
        return {_key_of(c): c.id or 0 for c in self._clips()}

    def _pick(self, i: int) -> Clip:
        clips = self._clips()
        return clips[i % len(clips)]

    # ---- rules

    @rule(action=st.sampled_from(["approve", "skip", "archive", "merge", "group"]),
          i=st.integers(0, 30))  # fmt: skip
    def act(self, action: str, i: int) -> None:
        self._act(action, self._pick(i), None)

    @rule(
        steps=st.lists(
            st.tuples(
                st.sampled_from(["approve", "skip", "archive", "merge", "group", "split"]),
                st.integers(1, 59),
            ),
            min_size=1,
            max_size=4,
        )
    )
    def walk(self, steps: list[tuple[str, int]]) -> None:
        """As an operator goes: each action on the clip after the one acted on last."""
        for action, offset in steps:
            shown = sorted(
                (c for c in self._clips() if c.state == "pending_review"),
                key=lambda c: c.start_frame,
            )
            if not shown:
                return
            after = [c for c in shown if c.start_frame >= self.last_frame]
            clip = (after or shown)[0]
            self.last_frame = clip.end_frame if after else 0
            frame = clip.start_frame + offset % max(1, clip.end_frame - clip.start_frame)
            self._act(action, clip, frame if action == "split" else None)

    @rule(i=st.integers(0, 30), offset=st.integers(1, 59))
    def split(self, i: int, offset: int) -> None:
        clip = self._pick(i)
        self._act("split", clip, clip.start_frame + offset)

    def _act(self, action: str, clip: Clip, frame: int | None) -> None:
        self.now += 1.0
        key = _key_of(clip)
        why = self.model.refuses(action, key, frame)
        payload = {"frame": frame} if frame is not None else None
        try:
            with self.store.tx() as s:
                event = review.append(s, clip.id or 0, action, payload, self.cfg, self.now)
        except review.rules.ReviewRefused as exc:
            assert why is not None, f"store refused {action} {key} {frame}: {exc}"
            return
        assert why is None, f"store took {action} {key} {frame}; the model refuses: {why}"
        self.model.accept(event.id or 0, action, key, frame, self.now)

    @rule(dt=st.sampled_from([0.0, 3.0, 9.0, 10.0, 30.0]))
    def commit(self, dt: float) -> None:
        self.now += dt
        with self.store.tx() as s:
            review.commit_due(s, self.now, GRACE, self.cfg)
        self.model.commit(self.now)

    @rule(explicit=st.booleans(), i=st.integers(0, 40))
    def undo(self, explicit: bool, i: int) -> None:
        self.now += 1.0
        event_id = None
        if explicit:
            ours = [e.id for e in self.model.events]
            if not ours:
                return
            event_id = ours[i % len(ours)]
        target = self.model.undo_target(event_id)
        expect_refused = isinstance(target, str) or self.model.blocked(target)
        try:
            with self.store.tx() as s:
                out = review.undo(s, self.cfg, self.now, event_id)
        except review.rules.ReviewRefused as exc:
            assert expect_refused, f"store refused undo {event_id}: {exc}; model: {target}"
            return
        assert not expect_refused, f"store undid {out.target.id}; model refuses ({target})"
        assert isinstance(target, MEvent) and out.target.id == target.id
        self.model.undo(target)

    @rule(i=st.integers(0, 30))
    def sprite(self, i: int) -> None:
        """The sprite stage shows a new clip to the operator."""
        spliced = [c for c in self._clips() if c.state == "spliced"]
        if not spliced:
            return
        clip = spliced[i % len(spliced)]
        with self.store.tx() as s:
            row = s.get(Clip, clip.id)
            assert row is not None
            row.state = "pending_review"
            s.add(row)
            s.add(ClipArtifact(clip_id=clip.id or 0, kind="sprite", strategy="grid",
                               path=f"media/clips/{clip.id}/sprite.jpg"))  # fmt: skip
        self.model.clips[_key_of(clip)].seen = True

    @rule(i=st.integers(0, 30))
    def pipeline(self, i: int) -> None:
        """Keyframes and embeddings move approved clips on; not a review fact."""
        approved = [c for c in self._clips() if c.state == "review_approved"]
        if approved:
            with self.store.tx() as s:
                row = s.get(Clip, approved[i % len(approved)].id)
                assert row is not None
                row.state = "embedded"
                s.add(row)

    # ---- invariants

    @invariant()
    def the_library_holds_what_the_operator_decided(self) -> None:
        ids = self._ids()
        clips = {_key_of(c): c for c in self._clips()}
        assert set(clips) == set(self.model.clips), "clips the model does not know, or lost"
        for key, c in clips.items():
            m = self.model.clips[key]
            assert LEVEL[c.state] == m.level, f"clip {key}: store {c.state}, model {m.level}"
            want = ids.get(m.grouped) if m.grouped is not None else None
            assert c.grouped_with_clip_id == want, f"clip {key} grouping"
            if m.level == "approved":
                assert m.seen, f"clip {key} approved but nobody was shown it"

    @invariant()
    def every_event_has_the_model_outcome(self) -> None:
        with self.store.tx(write=False) as s:
            got = {k: o.status for k, o in review.outcomes(s).items()}
            assert review.check(s) == []
        want = {e.id: self.model.status(e) for e in self.model.events}
        assert {k: v for k, v in got.items() if k in want} == want

    def teardown(self) -> None:
        """The views print the same outcomes: `events --json`, `show --json`, the review desk."""
        if self.model.events:
            from heaters.cli import app
            from heaters.tui.desk import ReviewDesk

            runner = CliRunner()
            with self.store.tx(write=False) as s:
                want = {k: o.status for k, o in review.outcomes(s).items()}
            home = ["--home", str(self.root)]
            rows = json.loads(runner.invoke(app, ["events", "--json", *home]).stdout)
            assert {r["id"]: r["status"] for r in rows} == want
            clip_id = self._clips()[0].id
            shown = json.loads(runner.invoke(app, ["show", str(clip_id), "--json", *home]).stdout)
            assert all(want[h["id"]] == h["status"] for h in shown["history"])
            desk = ReviewDesk(self.store, self.cfg)
            assert all(want[a.event_id] == a.status for a in desk.recent(limit=100))
        self.store.close() if hasattr(self.store, "close") else None


TMP: pytest.TempPathFactory


@pytest.fixture(autouse=True)
def _tmp(tmp_path_factory: pytest.TempPathFactory) -> None:
    global TMP
    TMP = tmp_path_factory


ReviewMachine.TestCase.settings = settings(
    max_examples=30,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
TestReviewAgainstTheModel = ReviewMachine.TestCase
