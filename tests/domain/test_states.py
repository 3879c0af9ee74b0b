from __future__ import annotations

import pytest

from heaters.domain.states import (
    CLIP_TRANSITIONS,
    FOLLOW_TRANSITIONS,
    VIDEO_TRANSITIONS,
    ClipState,
    FollowState,
    TransitionError,
    VideoState,
    check_transition,
)
from heaters.domain.steps import STEPS, RetryPolicy, step_for_claim_state, step_named


def test_every_step_moves_along_allowed_transitions() -> None:
    for step in STEPS:
        for old, new in [
            (step.ready, step.claim),
            (step.claim, step.success),
            (step.claim, step.ready),
            (step.claim, step.failure),
            (step.failure, step.ready),
        ]:
            check_transition(step.subject, old, new)


def test_unlisted_transitions_are_refused() -> None:
    with pytest.raises(TransitionError):
        check_transition("video", VideoState.NEW, VideoState.SPLICED)
    with pytest.raises(TransitionError):
        check_transition("clip", ClipState.SPLICED, ClipState.EMBEDDED)
    with pytest.raises(TransitionError):
        check_transition("clip", ClipState.MERGED, ClipState.SPLIT)


def _reachable(start: str, transitions: frozenset[tuple[str, str]]) -> set[str]:
    seen, todo = {start}, [start]
    while todo:
        here = todo.pop()
        for old, new in transitions:
            if old == here and new not in seen:
                seen.add(new)
                todo.append(new)
    return seen


def test_every_state_is_reachable_from_where_rows_start() -> None:
    """A state the tables never lead to is dead code (or a transition is missing)."""
    assert _reachable(VideoState.NEW, VIDEO_TRANSITIONS) == set(VideoState)
    assert _reachable(ClipState.SPLICED, CLIP_TRANSITIONS) == set(ClipState)
    # and a failed row can always be retried back into the flow
    assert _reachable(FollowState.FOLLOWING, FOLLOW_TRANSITIONS) == set(FollowState)
    tables = {"video": VIDEO_TRANSITIONS, "clip": CLIP_TRANSITIONS, "follow": FOLLOW_TRANSITIONS}
    for step in STEPS:
        assert step.success in _reachable(step.failure, tables[step.subject]), step.name


def test_claim_states_map_back_to_their_step() -> None:
    for step in STEPS:
        assert step_for_claim_state(step.subject, step.claim) is step
        assert step_named(step.name) is step
    assert step_for_claim_state("video", VideoState.NEW) is None


def test_backoff_grows_exponentially_and_is_capped() -> None:
    policy = RetryPolicy(max_attempts=3, base_s=10, cap_s=35)
    assert [policy.backoff_s(n) for n in (1, 2, 3, 4)] == [10, 20, 35, 35]
    assert not policy.gives_up(2, retryable=True)
    assert policy.gives_up(3, retryable=True)
    assert policy.gives_up(1, retryable=False)
