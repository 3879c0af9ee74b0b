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


def test_action_commits_only_after_grace(tmp_path: Path) -> None:
    store, cfg = make_store(tmp_path)
    with store.tx() as s:
        review.append(s, 1, "approve", None, cfg, now=100.0)
        assert [c.id for c in review.queue(s)] == [2, 3, 4, 5, 6]  # clip 1 has a pending action
        assert review.commit_due(s, 105.0, 10.0, cfg) == 0
    assert states(store)[1] == "pending_review"
    with store.tx() as s:
        assert review.commit_due(s, 110.0, 10.0, cfg) == 1
    assert states(store)[1] == "review_approved"


def test_newest_pending_action_wins(tmp_path: Path) -> None:
    store, cfg = make_store(tmp_path)
    with store.tx() as s:
        review.append(s, 1, "approve", None, cfg, now=100.0)
        review.append(s, 1, "archive", None, cfg, now=101.0)
        review.commit_due(s, 200.0, 10.0, cfg)
    assert states(store)[1] == "review_archived"
    with store.tx(write=False) as s:
        assert review.check(s, cfg.min_clip_s) == []


def test_merge_then_undo_before_and_after_commit(tmp_path: Path) -> None:
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


def test_split_makes_two_clips_at_the_frame(tmp_path: Path) -> None:
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
    tmp_path: Path, clip: int, action: str, payload: dict | None, reason: str
) -> None:
    store, cfg = make_store(tmp_path)
    with pytest.raises(ReviewRefused, match=reason), store.tx() as s:
        review.append(s, clip, action, payload, cfg, now=1.0)
    with store.tx(write=False) as s:
        assert review.events(s) == []


def test_refused_undo_says_why_and_changes_nothing(tmp_path: Path) -> None:
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


def test_group_approves_both_and_undo_restores(tmp_path: Path) -> None:
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


def test_undo_goes_at_least_five_deep(tmp_path: Path) -> None:
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


def test_statuses_tell_what_became_of_each_event(tmp_path: Path) -> None:
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
        got = review.statuses(review.events(s))
    assert got == {
        a.id: "replaced", b.id: "committed", c.id: "cancelled", u1.id: "done",
        d.id: "undone", u2.id: "done", e.id: "pending",
    }  # fmt: skip
