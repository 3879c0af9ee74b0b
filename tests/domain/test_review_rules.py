"""The pure review rules (heaters.domain.review), without a database: what an action may do, what
committing it changes, how undo compensates it, and the outcome every view shows."""

from __future__ import annotations

import pytest

from heaters.domain import review as r
from heaters.domain.states import ClipState as C


def clip(key: int, start: int, end: int, state: str = C.PENDING_REVIEW, **kw: object) -> r.ClipView:
    return r.ClipView(key, 1, start, end, state, **kw)  # type: ignore[arg-type]


TIMELINE = [clip(1, 0, 60), clip(2, 60, 120), clip(3, 120, 180)]


def test_predecessor_is_the_live_clip_ending_where_this_one_starts() -> None:
    assert r.predecessor(TIMELINE[1], TIMELINE) == TIMELINE[0]
    assert r.predecessor(TIMELINE[0], TIMELINE) is None
    gone = [clip(1, 0, 60, C.MERGED), TIMELINE[1]]
    assert r.predecessor(TIMELINE[1], gone) is None  # superseded clips are not neighbours
    other_video = [r.ClipView(9, 2, 0, 60, C.PENDING_REVIEW), TIMELINE[1]]
    assert r.predecessor(TIMELINE[1], other_video) is None


def test_validate_refuses_with_a_reason() -> None:
    with pytest.raises(r.ReviewRefused, match="unknown action"):
        r.validate("explode", TIMELINE[0], TIMELINE, {}, 30)
    with pytest.raises(r.ReviewRefused, match="no previous clip"):
        r.validate("merge", TIMELINE[0], TIMELINE, {}, 30)
    assert r.validate("merge", TIMELINE[1], TIMELINE, {}, 30) == TIMELINE[0]
    approved = clip(4, 0, 60, C.REVIEW_APPROVED)
    with pytest.raises(r.ReviewRefused, match="not waiting for review"):
        r.validate("approve", approved, [], {}, 30)
    unseen = [clip(1, 0, 60, C.SPLICED), TIMELINE[1]]
    with pytest.raises(r.ReviewRefused, match="nobody has reviewed it yet"):
        r.validate("group", TIMELINE[1], unseen, {}, 30)
    assert r.validate("merge", TIMELINE[1], unseen, {}, 30) == unseen[0]  # a merge may
    with pytest.raises(r.ReviewRefused, match="not pending_review"):
        r.validate("approve", clip(5, 0, 60, C.SPLICED), [], {}, 30, strict=True)


@pytest.mark.parametrize(
    ("frame", "cuts", "why"),
    [
        (60, (), "outside clip"),
        (0, (), "outside clip"),
        (10, (), "shorter than the minimum"),
        (30, (30,), "already has a pending cut"),
        (40, (20,), "shorter than the minimum"),  # 20..40 is under 30 frames
        ("30", (), "integer"),
        (True, (), "integer"),
    ],
)
def test_split_refusals(frame: object, cuts: tuple[int, ...], why: str) -> None:
    long = clip(1, 0, 60)
    with pytest.raises(r.ReviewRefused, match=why):
        r.validate(
            "split",
            long,
            [],
            {"frame": frame},
            15 if why != "shorter than the minimum" else 30,
            cuts=cuts,
        )


def test_plan_of_each_action() -> None:
    a, b, _c = TIMELINE
    assert r.plan("archive", b, TIMELINE, {}, 30).changes == (
        (2, C.PENDING_REVIEW, C.REVIEW_ARCHIVED),
    )
    split = r.plan("split", a, TIMELINE, {"frame": 30}, 30)
    assert split.changes == ((1, C.PENDING_REVIEW, C.SPLIT),)
    assert split.new_clips == (r.NewClip(1, 0, 30, "split"), r.NewClip(1, 30, 60, "split"))
    merge = r.plan("merge", b, TIMELINE, {"with": 1}, 30)
    assert merge.changes == ((1, C.PENDING_REVIEW, C.MERGED), (2, C.PENDING_REVIEW, C.MERGED))
    assert merge.new_clips == (r.NewClip(1, 0, 120, "merge"),)
    group = r.plan("group", b, TIMELINE, {"with": 1}, 30)
    assert group.changes == (
        (1, C.PENDING_REVIEW, C.REVIEW_APPROVED),
        (2, C.PENDING_REVIEW, C.REVIEW_APPROVED),
    )
    assert group.grouped == ((2, None, 1),)
    # grouping with an approved predecessor leaves it as it is
    approved_first = [clip(1, 0, 60, C.EMBEDDED), b]
    assert r.plan("group", b, approved_first, {"with": 1}, 30).changes == (
        (2, C.PENDING_REVIEW, C.REVIEW_APPROVED),
    )


def test_plan_refuses_what_changed_since_the_operator_saw_it() -> None:
    a, b, _c = TIMELINE
    with pytest.raises(r.ReviewRefused, match="not waiting for review"):
        r.plan("approve", clip(2, 60, 120, C.REVIEW_SKIPPED), TIMELINE, {}, 30)
    # the operator saw clip 1 before b; now a new unreviewed clip 7 is b's predecessor
    moved = [clip(7, 30, 60, C.SPLICED), clip(1, 0, 60, C.SPLIT), b]
    with pytest.raises(r.ReviewRefused, match="the previous clip the operator saw"):
        r.plan("group", b, moved, {"with": 1}, 30)


def test_splits_compose_within_one_commit() -> None:
    parent = clip(1, 0, 90, C.SPLIT)
    parts = [parent, clip(5, 0, 40, origin="split"), clip(6, 40, 90, origin="split")]
    assert r.resolve_split(parent, parts, 60).key == 6
    assert r.resolve_split(parent, parts, 20).key == 5
    effects = r.plan("split", parent, parts, {"frame": 60}, 10)
    assert effects.new_clips == (r.NewClip(1, 40, 60, "split"), r.NewClip(1, 60, 90, "split"))


def test_replacements_and_cut_frames() -> None:
    pending = [
        r.Pending(1, 10, "approve", {}, 0.0),
        r.Pending(2, 10, "archive", {}, 1.0),  # replaces 1
        r.Pending(3, 11, "split", {"frame": 20}, 2.0),
        r.Pending(4, 11, "split", {"frame": 50}, 3.0),  # composes with 3
        r.Pending(5, 12, "split", {"frame": 20}, 4.0),
        r.Pending(6, 12, "skip", {}, 5.0),  # replaces the split
    ]
    assert r.replacements(pending) == {1: 2, 5: 6}
    assert r.cut_frames(pending, 11) == [20, 50]
    assert r.cut_frames(pending, 12) == []


def test_restore_state_drops_pipeline_progress() -> None:
    assert r.restore_state(C.EMBEDDED) == C.REVIEW_APPROVED
    assert r.restore_state(C.KEYFRAMING) == C.REVIEW_APPROVED
    assert r.restore_state(C.GENERATING_SPRITE) == C.SPLICED
    assert r.restore_state(C.PENDING_REVIEW) == C.PENDING_REVIEW


def test_undo_compensates_or_says_why_not() -> None:
    merge = r.Effects(
        changes=((1, C.PENDING_REVIEW, C.MERGED), (2, C.PENDING_REVIEW, C.MERGED)),
        new_clips=(r.NewClip(1, 0, 120, "merge"),),
    )
    now = {
        1: clip(1, 0, 60, C.MERGED),
        2: clip(2, 60, 120, C.MERGED),
        9: clip(9, 0, 120, C.SPLICED),
    }
    undo = r.plan_undo(merge, now, [9], {9: False})
    assert undo.changes == ((1, C.MERGED, C.PENDING_REVIEW), (2, C.MERGED, C.PENDING_REVIEW))
    assert undo.drop_new == (9,)
    with pytest.raises(r.ReviewRefused, match="reviewed since"):
        r.plan_undo(merge, {**now, 9: clip(9, 0, 120, C.REVIEW_APPROVED)}, [9], {9: True})
    approve = r.Effects(changes=((3, C.PENDING_REVIEW, C.REVIEW_APPROVED),))
    embedded = {3: clip(3, 0, 60, C.EMBEDDED)}
    undo = r.plan_undo(approve, embedded, [], {})
    assert undo.changes == ((3, C.EMBEDDED, C.PENDING_REVIEW),) and undo.drop_derived == (3,)
    with pytest.raises(r.ReviewRefused, match="changed by a later action"):
        r.plan_undo(approve, {3: clip(3, 0, 60, C.REVIEW_ARCHIVED)}, [], {})


def test_every_event_has_one_outcome() -> None:
    ev = [
        r.EventView(1, 10, "approve", {}, 0.0, None),
        r.EventView(2, 10, "archive", {}, 1.0, None),
        r.EventView(3, 11, "skip", {}, 2.0, 5.0),
        r.EventView(4, 12, "merge", {"with": 11}, 3.0, 5.0),
        r.EventView(5, 13, "approve", {}, 4.0, 5.0),  # stamped, never applied: undone before
        r.EventView(6, 13, "undo", {"event_id": 5}, 4.5, None),
        r.EventView(7, 14, "approve", {}, 4.6, 5.0),
        r.EventView(8, 14, "undo", {"event_id": 7}, 6.0, 7.0),
    ]
    records = {
        3: r.Record("applied"),
        4: r.Record("refused", "no previous clip"),
        7: r.Record("applied"),
    }
    got = {i: o.status for i, o in r.outcomes(ev, records).items()}
    assert got == {1: "replaced", 2: "pending", 3: "applied", 4: "refused", 5: "cancelled",
                   6: "applied", 7: "undone", 8: "applied"}  # fmt: skip
    assert set(got.values()) <= set(r.OUTCOMES)
    assert r.outcomes(ev, records)[4].text() == "refused (no previous clip)"
