"""Shot-boundary maths: tiling, min-length merging, adaptive peak picking."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heaters.domain.scenes import adaptive_peaks, neighbour_baseline, tile


def _assert_tiles(ranges: list[tuple[int, int]], frame_count: int) -> None:
    assert ranges[0][0] == 0
    assert ranges[-1][1] == frame_count
    for (a, b), (c, _) in zip(ranges, ranges[1:], strict=False):
        assert a < b == c


# ---- tile -------------------------------------------------------------------------------------


def test_tile_no_cuts_is_one_clip() -> None:
    assert tile([], 100, 30) == [(0, 100)]


def test_tile_keeps_long_shots() -> None:
    assert tile([30, 70], 100, 30) == [(0, 30), (30, 70), (70, 100)]


def test_tile_empty_video() -> None:
    assert tile([5], 0, 30) == []


def test_tile_video_shorter_than_min_len_is_one_clip() -> None:
    assert tile([3, 6], 10, 30) == [(0, 10)]


def test_tile_ignores_out_of_range_and_duplicate_cuts() -> None:
    assert tile([0, 50, 50, 100, 150, -3], 100, 1) == [(0, 50), (50, 100)]


def test_tile_min_len_one_keeps_every_cut() -> None:
    assert tile([1, 2, 3], 5, 1) == [(0, 1), (1, 2), (2, 3), (3, 5)]


def test_tile_unsorted_input() -> None:
    assert tile([70, 30], 100, 10) == [(0, 30), (30, 70), (70, 100)]


def test_short_first_shot_merges_forward() -> None:
    assert tile([10, 60], 100, 30) == [(0, 60), (60, 100)]


def test_short_last_shot_merges_backward() -> None:
    assert tile([40, 90], 100, 30) == [(0, 40), (40, 100)]


def test_short_middle_shot_merges_into_shorter_neighbour() -> None:
    # [0,50) [50,60) [60,90) [90,140): the short one joins [60,90) (30 < 50).
    assert tile([50, 60, 90], 140, 30) == [(0, 50), (50, 90), (90, 140)]


def test_short_middle_shot_tie_merges_into_previous() -> None:
    assert tile([40, 50], 90, 30) == [(0, 50), (50, 90)]


def test_short_middle_shot_merges_across_weaker_boundary() -> None:
    # Without scores it would join the shorter right neighbour; the left cut is weaker.
    ranges = tile([50, 60, 90], 140, 30, scores={50: 1.1, 60: 9.0, 90: 5.0})
    assert ranges == [(0, 60), (60, 90), (90, 140)]


def test_equal_scores_fall_back_to_shorter_neighbour() -> None:
    assert tile([50, 60, 90], 140, 30, scores={50: 2.0, 60: 2.0}) == [(0, 50), (50, 90), (90, 140)]


def test_missing_score_falls_back_to_shorter_neighbour() -> None:
    assert tile([50, 60, 90], 140, 30, scores={50: 1.0}) == [(0, 50), (50, 90), (90, 140)]


def test_run_of_short_shots_collapses_into_min_length_clips() -> None:
    cuts = list(range(10, 100, 10))  # ten 10-frame shots
    ranges = tile(cuts, 100, 25)
    _assert_tiles(ranges, 100)
    assert all(b - a >= 25 for a, b in ranges)
    assert len(ranges) >= 2  # merged into neighbours, not swallowed into one clip


@settings(max_examples=300, deadline=None)
@given(
    frame_count=st.integers(min_value=1, max_value=2000),
    cuts=st.lists(st.integers(min_value=-5, max_value=2005), max_size=60),
    min_len=st.integers(min_value=1, max_value=300),
    with_scores=st.booleans(),
    data=st.data(),
)
def test_tile_properties(
    frame_count: int, cuts: list[int], min_len: int, with_scores: bool, data: st.DataObject
) -> None:
    scores = None
    if with_scores:
        values = data.draw(st.lists(st.floats(0, 100), min_size=len(cuts), max_size=len(cuts)))
        scores = dict(zip(cuts, values, strict=True))
    ranges = tile(cuts, frame_count, min_len, scores)
    _assert_tiles(ranges, frame_count)
    if frame_count >= min_len:
        assert all(b - a >= min_len for a, b in ranges)
    else:
        assert ranges == [(0, frame_count)]
    # Boundaries only ever come from the given cuts.
    valid = {c for c in cuts if 0 < c < frame_count}
    assert {a for a, _ in ranges[1:]} <= valid
    # Nothing to merge: every valid cut survives.
    points = [0, *sorted(valid), frame_count]
    if all(b - a >= min_len for a, b in zip(points, points[1:], strict=False)):
        assert [a for a, _ in ranges[1:]] == sorted(valid)


@settings(max_examples=200, deadline=None)
@given(
    frame_count=st.integers(min_value=2, max_value=500),
    cuts=st.lists(st.integers(min_value=1, max_value=499), max_size=30),
)
def test_tile_min_len_one_is_identity(frame_count: int, cuts: list[int]) -> None:
    ranges = tile(cuts, frame_count, 1)
    assert [a for a, _ in ranges[1:]] == sorted({c for c in cuts if c < frame_count})


# ---- neighbour_baseline -----------------------------------------------------------------------


def test_baseline_excludes_the_frame_itself() -> None:
    x = np.array([1.0, 1.0, 1.0, 50.0, 1.0, 1.0, 1.0])
    base = neighbour_baseline(x, 2)
    assert base[3] == 1.0
    assert base[2] == 1.0  # median of (1, 1, 50, 1)


def test_baseline_edges_use_existing_neighbours() -> None:
    base = neighbour_baseline(np.array([5.0, 1.0, 3.0]), 4)
    assert base.tolist() == [2.0, 4.0, 3.0]


def test_baseline_degenerate() -> None:
    assert neighbour_baseline(np.array([]), 3).tolist() == []
    assert neighbour_baseline(np.array([7.0]), 3).tolist() == [0.0]
    assert neighbour_baseline(np.array([7.0, 8.0]), 0).tolist() == [0.0, 0.0]


# ---- adaptive_peaks ---------------------------------------------------------------------------


def test_peak_stands_out_from_quiet_neighbours() -> None:
    x = np.full(40, 1.0)
    x[20] = 30.0
    peaks, strength = adaptive_peaks(x, ratio=3.0, floor=5.0, window=4)
    assert peaks == [20]
    assert strength[20] > 1.0


def test_sustained_motion_is_not_a_peak() -> None:
    rng = np.random.default_rng(0)
    x = 20.0 + rng.uniform(-4, 4, 200)  # busy shot: big but steady change
    assert adaptive_peaks(x, ratio=3.0, floor=5.0, window=8)[0] == []


def test_peak_above_busy_baseline_is_found() -> None:
    rng = np.random.default_rng(1)
    x = 20.0 + rng.uniform(-4, 4, 200)
    x[100] = 90.0
    assert adaptive_peaks(x, ratio=3.0, floor=5.0, window=8)[0] == [100]


def test_floor_rejects_small_spikes_in_static_shots() -> None:
    x = np.full(40, 0.01)
    x[20] = 2.0  # 200x its neighbours but tiny in absolute terms
    assert adaptive_peaks(x, ratio=3.0, floor=5.0, window=4)[0] == []


def test_spread_rejects_small_relative_spikes() -> None:
    x = np.full(40, 3.0)
    x[20] = 10.0  # 3.3x the baseline, but only 7 above it
    assert adaptive_peaks(x, ratio=3.0, floor=1.0, window=4)[0] == [20]
    assert adaptive_peaks(x, ratio=3.0, floor=1.0, window=4, spread=2.0)[0] == []


def test_adjacent_hits_keep_the_highest() -> None:
    x = np.full(40, 1.0)
    x[20], x[21] = 30.0, 40.0
    assert adaptive_peaks(x, ratio=3.0, floor=5.0, window=4)[0] == [21]


def test_close_cuts_both_found() -> None:
    x = np.full(60, 1.0)
    x[20], x[23] = 30.0, 40.0  # a three-frame shot
    assert adaptive_peaks(x, ratio=3.0, floor=5.0, window=8)[0] == [20, 23]


def test_empty_scores() -> None:
    assert adaptive_peaks(np.array([]), ratio=3.0, floor=5.0, window=4) == ([], {})


@pytest.mark.parametrize("ratio", [1.5, 3.0, 6.0])
@settings(max_examples=50, deadline=None)
@given(values=st.lists(st.floats(0, 255), max_size=300))
def test_peaks_meet_their_rule(ratio: float, values: list[float]) -> None:
    x = np.array(values, dtype=np.float64)
    peaks, strength = adaptive_peaks(x, ratio=ratio, floor=5.0, window=3, spread=1.0)
    base = neighbour_baseline(x, 3)
    assert peaks == sorted(peaks)
    assert all(b - a >= 2 for a, b in zip(peaks, peaks[1:], strict=False))
    for p in peaks:
        assert x[p] >= 5.0
        assert x[p] >= ratio * base[p] + 1.0
        assert strength[p] >= 1.0
