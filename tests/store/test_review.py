"""The event log on a real store: append, commit after grace, undo, and replay (`events --check`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from heaters.domain.review import ReviewRefused
from heaters.domain.sources import Source
from heaters.store import review, videos
from heaters.store.store import Store
from heaters.store.tables import Clip, ClipArtifact, SourceVideo

FPS = 30.0


def make_store(root: Path, n_clips: int = 6, length: int = 60) -> tuple[Store, review.ReviewConfig]:
    store = Store.open(root)
    with store.tx() as s:
        video, _ = videos.register(s, Source("url", "https://example.com/v"))
        video.state, video.fps = "spliced", FPS
        s.add(video)
        for i in range(n_clips):
            s.add(
                Clip(
                    source_video_id=video.id or 0,
                    start_frame=i * length,
                    end_frame=(i + 1) * length,
                    start_time_s=i * length / FPS,
                    end_time_s=(i + 1) * length / FPS,
                    state="pending_review",
                )
            )
        s.flush()
        for clip in s.exec(select(Clip)):  # pending_review means the sprite exists
            s.add(ClipArtifact(clip_id=clip.id or 0, kind="sprite", strategy="grid",
                               path=f"media/clips/{clip.id}/sprite.jpg"))  # fmt: skip
    return store, review.ReviewConfig(home=store.home, min_clip_s=0.5)


def states(store: Store) -> dict[int, str]:
    with store.tx(write=False) as s:
        return {c.id or 0: c.state for c in s.exec(select(Clip))}


def test_action_commits_only_after_grace(tmp_path: Path, backend: str) -> None:
    store, cfg = make_store(tmp_path)
    with store.tx() as s:
        review.append(s, 1, "approve", None, cfg, now=100.0)
        assert [c.id for c in review.queue(s)] == [2, 3, 4, 5, 6]  # clip 1 has a pending action
        assert review.commit_due(s, 105.0, 10.0, cfg) == 0
    assert states(store)[1] == "pending_review"
    with store.tx() as s:
        assert review.commit_due(s, 110.0, 10.0, cfg) == 1
    assert states(store)[1] == "review_approved"


def test_newest_pending_action_wins(tmp_path: Path, backend: str) -> None:
    store, cfg = make_store(tmp_path)
    with store.tx() as s:
        review.append(s, 1, "approve", None, cfg, now=100.0)
        review.append(s, 1, "archive", None, cfg, now=101.0)
        review.commit_due(s, 200.0, 10.0, cfg)
    assert states(store)[1] == "review_archived"
    with store.tx(write=False) as s:
        assert review.check(s, cfg.min_clip_s) == []


def test_merge_then_undo_before_and_after_commit(tmp_path: Path, backend: str) -> None:
    store, cfg = make_store(tmp_path)
    with store.tx() as s:
        review.append(s, 2, "merge", None, cfg, now=100.0)
        out = review.undo(s, cfg, now=101.0)  # uncommitted: simply never applied
        assert out.target.action == "merge" and out.removed_clip_ids == []
        review.commit_due(s, 500.0, 10.0, cfg)
    assert states(store)[1] == states(store)[2] == "pending_review"
    with store.tx() as s:
        review.append(s, 2, "merge", None, cfg, now=600.0)
        review.commit_due(s, 700.0, 10.0, cfg)
        merged = s.exec(select(Clip).where(Clip.origin == "merge")).one()
        assert (merged.start_frame, merged.end_frame) == (0, 120)
        assert merged.start_time_s == pytest.approx(0.0) and merged.end_time_s == pytest.approx(4.0)
        assert merged.state == "spliced"
    assert states(store)[1] == states(store)[2] == "merged"
    with store.tx() as s:
        out = review.undo(s, cfg, now=800.0)
        assert out.removed_clip_ids == [merged.id]
        assert sorted(out.restored_clip_ids) == [1, 2]
    assert merged.id not in states(store)
    assert states(store)[1] == states(store)[2] == "pending_review"
    with store.tx(write=False) as s:
        assert review.check(s, cfg.min_clip_s) == []


def test_split_makes_two_clips_at_the_frame(tmp_path: Path, backend: str) -> None:
    store, cfg = make_store(tmp_path)
    with store.tx() as s:
        review.append(s, 3, "split", {"frame": 140}, cfg, now=1.0)
        review.commit_due(s, 100.0, 10.0, cfg)
        parts = s.exec(select(Clip).where(Clip.origin == "split").order_by(Clip.start_frame)).all()
    assert [(p.start_frame, p.end_frame) for p in parts] == [(120, 140), (140, 180)]
    assert states(store)[3] == "split"


@pytest.mark.parametrize(
    ("clip", "action", "payload", "reason"),
    [
        (99, "approve", None, "no clip 99"),
        (1, "merge", None, "no previous clip"),
        (1, "group", None, "no previous clip"),
        (2, "split", {"frame": 60}, "outside"),
        (2, "split", {"frame": 120}, "outside"),
        (2, "split", {"frame": 70}, "shorter than the minimum"),
        (2, "split", {"frame": "x"}, "integer"),
        (2, "dance", None, "unknown action"),
    ],
)
def test_invalid_requests_are_refused_and_write_nothing(
    tmp_path: Path, clip: int, action: str, payload: dict | None, reason: str, backend: str
) -> None:
    store, cfg = make_store(tmp_path)
    with pytest.raises(ReviewRefused, match=reason), store.tx() as s:
        review.append(s, clip, action, payload, cfg, now=1.0)
    with store.tx(write=False) as s:
        assert review.events(s) == []


def test_refused_undo_says_why_and_changes_nothing(tmp_path: Path, backend: str) -> None:
    store, cfg = make_store(tmp_path)
    with store.tx() as s:
        review.append(s, 2, "merge", None, cfg, now=1.0)
        review.commit_due(s, 100.0, 10.0, cfg)
        merged = s.exec(select(Clip).where(Clip.origin == "merge")).one()
        merged.state = "pending_review"
        s.add(merged)
    with store.tx() as s:
        ev = review.append(s, merged.id or 0, "approve", None, cfg, now=200.0)
        review.commit_due(s, 300.0, 10.0, cfg)
        merge_event = review.events(s)[0]
    before = states(store)
    with pytest.raises(ReviewRefused, match="reviewed since"), store.tx() as s:
        review.undo(s, cfg, now=400.0, event_id=merge_event.id)
    assert states(store) == before
    with store.tx() as s:  # newest first works: approve, then the merge
        assert review.undo(s, cfg, now=500.0).target.id == ev.id
        assert review.undo(s, cfg, now=501.0).target.id == merge_event.id
        assert review.check(s, cfg.min_clip_s) == []
    assert states(store)[1] == states(store)[2] == "pending_review"


def test_group_approves_both_and_undo_restores(tmp_path: Path, backend: str) -> None:
    store, cfg = make_store(tmp_path)
    with store.tx() as s:
        review.append(s, 1, "skip", None, cfg, now=1.0)
        review.append(s, 2, "group", None, cfg, now=2.0)
        review.commit_due(s, 100.0, 10.0, cfg)
        two = s.get(Clip, 2)
        assert two is not None and two.grouped_with_clip_id == 1
    assert states(store)[1] == states(store)[2] == "review_approved"
    with store.tx() as s:
        review.undo(s, cfg, now=200.0)
        assert review.check(s, cfg.min_clip_s) == []
    assert states(store)[1] == "review_skipped" and states(store)[2] == "pending_review"


def test_undo_goes_at_least_five_deep(tmp_path: Path, backend: str) -> None:
    store, cfg = make_store(tmp_path, n_clips=7)
    with store.tx() as s:
        for i, clip in enumerate([1, 2, 3, 4, 5, 6]):
            review.append(s, clip, "approve", None, cfg, now=float(i))
        review.commit_due(s, 3.5 + 10, 10.0, cfg)  # the first four are committed
        for i in range(6):
            assert review.undo(s, cfg, now=100.0 + i).target.clip_id == 6 - i
        review.commit_due(s, 1000.0, 10.0, cfg)
        assert review.check(s, cfg.min_clip_s) == []
        with pytest.raises(ReviewRefused, match="nothing to undo"):
            review.undo(s, cfg, now=2000.0)
    assert set(states(store).values()) == {"pending_review"}


# ------------------------------------------------------------------ property: replay == table

action_st = st.one_of(
    st.tuples(
        st.sampled_from(["approve", "skip", "archive", "merge", "group"]), st.integers(0, 12)
    ),
    st.tuples(st.just("split"), st.integers(0, 12), st.integers(1, 59)),
    st.tuples(st.just("undo"), st.integers(0, 3)),
    st.tuples(st.just("commit"), st.integers(0, 20)),
    st.tuples(st.just("pipeline"), st.integers(0, 12)),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(action_st, min_size=1, max_size=25))
def test_replay_of_the_log_matches_the_table(
    tmp_path_factory: pytest.TempPathFactory, steps: list
) -> None:
    store, cfg = make_store(tmp_path_factory.mktemp("r"), n_clips=5)
    now = 1000.0
    for step in steps:
        now += 1.0
        with store.tx() as s:
            live = [
                c
                for c in s.exec(select(Clip).order_by(Clip.id))
                if c.state not in ("merged", "split")
            ]
            kind = step[0]
            try:
                if kind == "commit":
                    now += step[1]
                    review.commit_due(s, now, 10.0, cfg)
                elif kind == "undo":
                    review.undo(s, cfg, now)
                elif kind == "pipeline":  # the dispatcher moves clips on meanwhile
                    clip = live[step[1] % len(live)]
                    nxt = {"spliced": "pending_review", "review_approved": "keyframed"}.get(
                        clip.state
                    )
                    if nxt:
                        clip.state = nxt
                        s.add(clip)
                else:
                    clip = live[step[1] % len(live)]
                    payload = {"frame": clip.start_frame + step[2]} if kind == "split" else None
                    review.append(s, clip.id or 0, kind, payload, cfg, now)
            except ReviewRefused:
                pass
    with store.tx() as s:
        review.commit_due(s, now + 100, 10.0, cfg)
        assert review.check(s, cfg.min_clip_s) == []
        # the table itself is sane: live clips never overlap and tile the video
        live = sorted(
            (c.start_frame, c.end_frame)
            for c in s.exec(select(Clip))
            if c.state not in ("merged", "split")
        )
        assert live[0][0] == 0 and live[-1][1] == 300
        assert all(a[1] == b[0] for a, b in zip(live, live[1:], strict=False))
        assert s.get(SourceVideo, 1) is not None


def test_outcomes_tell_what_became_of_each_event(tmp_path: Path, backend: str) -> None:
    store, cfg = make_store(tmp_path)
    with store.tx() as s:
        a = review.append(s, 1, "approve", None, cfg, now=1.0)
        b = review.append(s, 1, "skip", None, cfg, now=2.0)
        c = review.append(s, 2, "approve", None, cfg, now=3.0)
        u1 = review.undo(s, cfg, now=4.0).event  # cancels c (not committed yet)
        review.commit_due(s, 100.0, 10.0, cfg)
        d = review.append(s, 3, "archive", None, cfg, now=200.0)
        review.commit_due(s, 300.0, 10.0, cfg)
        u2 = review.undo(s, cfg, now=400.0).event  # compensates d
        e = review.append(s, 4, "approve", None, cfg, now=500.0)
        f = review.append(s, 5, "skip", None, cfg, now=501.0)
        g = review.append(s, 5, "archive", None, cfg, now=502.0)  # replaces f while pending
        got = {k: (o.status, o.by) for k, o in review.outcomes(s).items()}
    assert got == {
        a.id: ("replaced", b.id), b.id: ("applied", None), c.id: ("cancelled", u1.id),
        u1.id: ("applied", None), d.id: ("undone", u2.id), u2.id: ("applied", None),
        e.id: ("pending", None), f.id: ("replaced", g.id), g.id: ("pending", None),
    }  # fmt: skip


def _commit(store: Store, cfg: review.ReviewConfig, now: float) -> None:
    with store.tx() as s:
        review.commit_due(s, now, 10.0, cfg)


def _outcome(store: Store, event_id: int | None) -> tuple[str, str]:
    with store.tx(write=False) as s:
        o = review.outcomes(s)[event_id or 0]
    return o.status, o.why


def _ok(store: Store) -> None:
    with store.tx(write=False) as s:
        assert review.check(s) == []


def test_group_after_merge_never_approves_the_unseen_merged_clip(
    tmp_path: Path, backend: str
) -> None:
    """Issue 12.1: merge 2, group 3, commit: the merged clip goes to review, the group is refused."""
    store, cfg = make_store(tmp_path)
    with store.tx() as s:
        m = review.append(s, 2, "merge", None, cfg, now=1.0)
        g = review.append(s, 3, "group", None, cfg, now=2.0)
    _commit(store, cfg, 100.0)
    with store.tx(write=False) as s:
        merged = s.exec(select(Clip).where(Clip.origin == "merge")).one()
        assert merged.state == "spliced" and merged.grouped_with_clip_id is None
        assert s.get(Clip, 3).state == "pending_review"  # type: ignore[union-attr]
        assert 3 in [c.id for c in review.queue(s)]  # back in front of the operator
    assert _outcome(store, m.id)[0] == "applied"
    status, why = _outcome(store, g.id)
    assert status == "refused" and "(2)" in why and "nobody reviewed" in why
    _ok(store)


def test_group_refuses_a_partner_nobody_was_shown(tmp_path: Path, backend: str) -> None:
    store, cfg = make_store(tmp_path)
    with store.tx() as s:
        one = s.get(Clip, 1)
        assert one is not None
        one.state = "spliced"  # no sprite yet: never in front of the operator
        s.add(one)
    with pytest.raises(ReviewRefused, match="nobody has reviewed it"), store.tx() as s:
        review.append(s, 2, "group", None, cfg, now=1.0)


def test_two_splits_of_one_clip_compose(tmp_path: Path, backend: str) -> None:
    """Issue 12.2: two cuts in one clip make three clips; undo goes newest first."""
    store, cfg = make_store(tmp_path)
    with store.tx() as s:
        s1 = review.append(s, 3, "split", {"frame": 150}, cfg, now=1.0)
        noted = review.append_noted(s, 3, "split", {"frame": 135}, cfg, now=2.0)
        assert noted.replaced == []  # splits compose, they do not replace each other
        with pytest.raises(ReviewRefused, match="already has a pending cut"):
            review.append(s, 3, "split", {"frame": 150}, cfg, now=3.0)
        with pytest.raises(ReviewRefused, match="shorter than the minimum"):
            review.append(s, 3, "split", {"frame": 160}, cfg, now=3.0)
    _commit(store, cfg, 100.0)
    with store.tx(write=False) as s:
        live = sorted((c.start_frame, c.end_frame) for c in s.exec(select(Clip))
                      if c.origin == "split" and c.state == "spliced")  # fmt: skip
    assert live == [(120, 135), (135, 150), (150, 180)]
    assert _outcome(store, s1.id)[0] == _outcome(store, noted.event.id)[0] == "applied"
    _ok(store)
    with pytest.raises(ReviewRefused, match="undo that first"), store.tx() as s:
        review.undo(s, cfg, now=200.0, event_id=s1.id)  # the second cut split one of its parts
    with store.tx() as s:
        review.undo(s, cfg, now=201.0)
        review.undo(s, cfg, now=202.0)
    assert states(store)[3] == "pending_review"
    _ok(store)


def test_a_later_decision_replaces_a_pending_split_and_says_so(
    tmp_path: Path, backend: str
) -> None:
    store, cfg = make_store(tmp_path)
    with store.tx() as s:
        sp = review.append(s, 3, "split", {"frame": 150}, cfg, now=1.0)
        noted = review.append_noted(s, 3, "approve", None, cfg, now=2.0)
        assert [e.id for e in noted.replaced] == [sp.id]
    _commit(store, cfg, 100.0)
    assert states(store)[3] == "review_approved"
    assert _outcome(store, sp.id) == ("replaced", f"by event {noted.event.id}")


def test_merge_takes_the_previous_clip_whatever_was_decided(tmp_path: Path, backend: str) -> None:
    """Issue 12.3: one story. A merge overrides what was decided on the previous clip (pending
    or committed, archived or approved), says so when it is made, and the result goes to review."""
    store, cfg = make_store(tmp_path)
    with store.tx() as s:
        ar = review.append(s, 1, "archive", None, cfg, now=1.0)
        noted = review.append_noted(s, 2, "merge", None, cfg, now=2.0)
        assert any("pending event" in n and "overrides" in n for n in noted.notes)
        review.append(s, 3, "approve", None, cfg, now=3.0)
    _commit(store, cfg, 100.0)
    assert (
        _outcome(store, ar.id)[0] == "applied" and _outcome(store, noted.event.id)[0] == "applied"
    )
    assert states(store)[1] == states(store)[2] == "merged"
    with store.tx() as s:
        four = review.append_noted(s, 4, "merge", None, cfg, now=200.0)  # 3 is approved
        assert any("review_approved by event" in n for n in four.notes)
    _commit(store, cfg, 300.0)
    assert states(store)[3] == "merged"
    _ok(store)
    with store.tx() as s:
        review.undo(s, cfg, now=400.0)
    assert states(store)[3] == "review_approved"  # the approval comes back with the undo
    _ok(store)


def test_a_partner_of_a_pending_merge_cannot_be_decided_alone(tmp_path: Path, backend: str) -> None:
    store, cfg = make_store(tmp_path)
    with store.tx() as s:
        m = review.append(s, 3, "merge", None, cfg, now=1.0)
        assert 2 not in [c.id for c in review.queue(s)]
    with pytest.raises(ReviewRefused, match=f"pending event {m.id}"), store.tx() as s:
        review.append(s, 2, "archive", None, cfg, now=2.0)


def test_merges_chain(tmp_path: Path, backend: str) -> None:
    store, cfg = make_store(tmp_path)
    with store.tx() as s:
        review.append(s, 2, "merge", None, cfg, now=1.0)
        review.append(s, 3, "merge", None, cfg, now=2.0)
    _commit(store, cfg, 100.0)
    with store.tx(write=False) as s:
        live = [(c.start_frame, c.end_frame, c.state) for c in s.exec(select(Clip))
                if c.state not in ("merged", "split")]  # fmt: skip
    assert (0, 180, "spliced") in live
    _ok(store)


def test_undo_of_an_approve_a_group_relies_on_is_refused(tmp_path: Path, backend: str) -> None:
    """Issue 12.4: no stale group. Undo the group first, then the approve."""
    store, cfg = make_store(tmp_path)
    with store.tx() as s:
        ap = review.append(s, 1, "approve", None, cfg, now=1.0)
    _commit(store, cfg, 100.0)
    with store.tx() as s:
        gr = review.append(s, 2, "group", None, cfg, now=200.0)
    _commit(store, cfg, 300.0)
    with pytest.raises(ReviewRefused, match=f"event {gr.id}"), store.tx() as s:
        review.undo(s, cfg, now=400.0, event_id=ap.id)
    with store.tx() as s:
        review.undo(s, cfg, now=401.0)
        review.undo(s, cfg, now=402.0)
        two = s.get(Clip, 2)
        assert two is not None and two.grouped_with_clip_id is None
    assert states(store)[1] == states(store)[2] == "pending_review"
    _ok(store)


def test_check_reports_a_state_no_decision_explains(tmp_path: Path, backend: str) -> None:
    store, cfg = make_store(tmp_path)
    with store.tx() as s:
        review.append(s, 2, "merge", None, cfg, now=1.0)
    _commit(store, cfg, 100.0)
    with store.tx() as s:  # what the old commit did: approve the merged clip by a group on 3
        merged = s.exec(select(Clip).where(Clip.origin == "merge")).one()
        merged.state = "review_approved"
        s.add(merged)
        three = s.get(Clip, 3)
        assert three is not None
        three.state, three.grouped_with_clip_id = "review_approved", merged.id
        s.add(three)
    with store.tx(write=False) as s:
        diffs = review.check(s)
    assert {d["clip_id"] for d in diffs} == {merged.id, 3}


def test_check_accepts_merges_logged_before_partners_were_recorded(
    tmp_path: Path, backend: str
) -> None:
    """An older heaters logged merges without `with` and effects without `kind`."""
    from heaters.domain import review as rules
    from heaters.store.tables import ClipEvent, EventEffect

    store, cfg = make_store(tmp_path)
    with store.tx() as s:
        ev = ClipEvent(clip_id=2, action="merge", payload={}, reviewer="operator",
                       created_at=1.0, committed_at=100.0)  # fmt: skip
        s.add(ev)
        s.flush()
        views = review.video_views(s, 1)
        effects = rules.plan("merge", views[1], views, {}, 15)
        new_ids = review._apply(s, ev, effects, store.home, 100.0)
        s.add(EventEffect(event_id=ev.id, effects=effects.as_json(), new_clip_ids=new_ids))
    _ok(store)
