"""Shot-boundary maths: tiling, min-length merging, adaptive peak picking."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heaters.domain.scenes import (
    detect_cuts,
    neighbour_baseline,
    persistent_change,
    pick_peaks,
    stand_out,
    tile,
)


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


# ---- stand_out / persistent_change / pick_peaks / detect_cuts ----------------------------------


def test_baseline_ignores_duplicate_frames() -> None:
    # Animation on twos: every other frame repeats, so half the changes are 0.
    x = np.array([0.0, 40.0] * 10)
    assert neighbour_baseline(x, 4)[10] == pytest.approx(20.0)
    assert neighbour_baseline(x, 4, ignore_below=0.5)[10] == 40.0


def test_stand_out_is_ratio_to_baseline_plus_offset() -> None:
    x = np.full(21, 4.0)
    x[10] = 50.0
    r = stand_out(x, 4, offset=1.0)
    assert r[10] == pytest.approx(10.0)
    assert r[0] == pytest.approx(0.8)


def _lags(frames: list[float], lags: int) -> np.ndarray:
    """changes[k][i] = |f[i] - f[i-k-1]| for a 1-D 'picture' per frame (0 where no such frame)."""
    f = np.asarray(frames, dtype=float)
    out = np.zeros((lags, len(f)))
    for k in range(lags):
        out[k, k + 1 :] = np.abs(f[k + 1 :] - f[: -k - 1])
    return out


def test_persistent_change_scores_a_cut() -> None:
    frames = [0, 1, 0, 1, 50, 51, 50, 51]  # small motion, a cut into frame 4
    s = persistent_change(_lags(frames, 3))
    assert s[4] >= 49
    assert max(np.delete(s, 4)) <= 1


def test_persistent_change_ignores_one_and_two_frame_flashes() -> None:
    one = [0, 1, 0, 1, 90, 1, 0, 1, 0]  # frame 4 is a flash
    two = [0, 1, 0, 1, 90, 91, 0, 1, 0, 1]  # frames 4-5
    assert persistent_change(_lags(one, 2)).max() <= 2
    assert persistent_change(_lags(two, 3)).max() <= 2
    assert persistent_change(_lags(two, 2)).max() >= 89  # two lags only see one-frame flashes


def test_persistent_change_near_the_ends() -> None:
    s = persistent_change(_lags([0, 50, 50, 50, 50, 90], 3))
    assert s[0] == 0
    assert s[1] == 50  # no frame two back: the comparisons that exist decide
    assert s[5] == 40  # last frame: no frame ahead
    assert persistent_change(np.zeros((3, 0))).tolist() == []


def test_persistent_change_one_dimensional_input() -> None:
    assert persistent_change([0.0, 5.0, 1.0]).tolist() == [0.0, 5.0, 1.0]


def test_pick_peaks_keeps_strongest_of_adjacent() -> None:
    st_ = np.array([0, 5, 7, 0, 0, 6, 0], dtype=float)
    peaks, strength = pick_peaks(st_, 3.0)
    assert peaks == [2, 5]
    assert strength == {2: pytest.approx(7 / 3), 5: 2.0}


def test_pick_peaks_eligibility() -> None:
    st_ = np.array([0, 5, 0, 6], dtype=float)
    assert pick_peaks(st_, 3.0, [True, False, True, True])[0] == [3]
    assert pick_peaks(np.array([]), 3.0) == ([], {})


def _measures(frames: np.ndarray, lags: int = 3) -> np.ndarray:
    return _lags(list(frames), lags)


def test_detect_cuts_finds_cuts_in_busy_and_quiet_shots() -> None:
    rng = np.random.default_rng(0)
    # A 1-D stand-in for frames: each value is a "picture"; motion moves it a little.
    pix = np.cumsum(rng.choice([-25.0, 25.0], 300))  # fast motion: 25 per frame
    pix[150:] = pix[149] + rng.uniform(-0.5, 0.5, 150)  # then a near-static shot
    hist = rng.uniform(0, 3, 300)  # the colour histogram barely moves
    for at in (60, 100, 200, 260):
        pix[at:] += 400.0
        hist[at:] += 60.0
    cuts, strength = detect_cuts(
        _measures(pix), _measures(hist), threshold=2.0, window=8, floor=6.0
    )
    assert cuts == [60, 100, 200, 260]
    assert all(v >= 1.0 for v in strength.values())


def test_detect_cuts_needs_both_measures() -> None:
    rng = np.random.default_rng(1)
    pix = np.cumsum(rng.uniform(8, 12, 200))
    hist = np.cumsum(rng.uniform(1, 3, 200))
    pix[50:] += 35.0  # a sudden motion burst: pixels jump, colours do not
    hist[120:] += 15.0  # a colour jump with no matching pixel change
    p, h = _measures(pix), _measures(hist)
    assert detect_cuts(p, h, threshold=2.0, window=8, floor=6.0)[0] == []
    hist[50:] += 15.0  # both together make a cut
    assert detect_cuts(p, _measures(hist), threshold=2.0, window=8, floor=6.0)[0] == [50]


def test_detect_cuts_static_to_static() -> None:
    pix = np.full(100, 10.0) + np.tile([0.0, 0.2], 50)  # encoder noise only
    hist = np.full(100, 5.0) + np.tile([0.0, 0.1], 50)
    pix[50:] += 60.0
    hist[50:] += 40.0
    assert detect_cuts(_measures(pix), _measures(hist), threshold=2.0, window=8, floor=6.0)[0] == [
        50
    ]


def test_detect_cuts_needs_the_picture_to_jump() -> None:
    rng = np.random.default_rng(2)
    pix = np.cumsum(rng.uniform(7.0, 9.0, 120))  # steady motion, ~8 per frame
    hist = rng.uniform(0, 3, 120)
    hist[60:] += 45.0  # the histogram leaps (a peak crossing a bin edge), the picture does not
    p, h = _measures(pix), _measures(hist)
    assert detect_cuts(p, h, threshold=2.0, window=8, floor=6.0, min_jump=0.0)[0] == [60]
    assert detect_cuts(p, h, threshold=2.0, window=8, floor=6.0)[0] == []


def test_detect_cuts_floor() -> None:
    pix = np.zeros(100)
    hist = np.zeros(100)
    pix[50:] += 4.0  # huge ratio, tiny change
    hist[50:] += 30.0
    p, h = _measures(pix), _measures(hist)
    assert detect_cuts(p, h, threshold=2.0, window=8, floor=6.0)[0] == []
    assert detect_cuts(p, h, threshold=2.0, window=8, floor=3.0)[0] == [50]


def test_detect_cuts_empty() -> None:
    assert detect_cuts(np.zeros((3, 0)), np.zeros((3, 0)), threshold=2.0, window=8, floor=6.0) == (
        [],
        {},
    )


@settings(max_examples=50, deadline=None)
@given(values=st.lists(st.floats(0, 255), max_size=300), ratio=st.sampled_from([1.5, 3.0, 6.0]))
def test_peaks_meet_their_rule(values: list[float], ratio: float) -> None:
    x = np.array(values, dtype=np.float64)
    r = stand_out(x, 3, ignore_below=0.5)
    peaks, strength = pick_peaks(r, ratio, x >= 5.0)
    assert peaks == sorted(peaks)
    assert all(b - a >= 2 for a, b in zip(peaks, peaks[1:], strict=False))
    for p in peaks:
        assert x[p] >= 5.0
        assert r[p] >= ratio
        assert strength[p] >= 1.0
