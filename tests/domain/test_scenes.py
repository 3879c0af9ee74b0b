"""Shot-boundary maths: tiling and min-length merging; the cut, fade and dissolve rules.

The rules are checked on score matrices measured here, by a plain reference of the splice's
measurements (`_measure`: loops over toy frames, written apart from the stage), from toy videos
whose truth is known by construction.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heaters.domain.scenes import (
    COL,
    COLUMNS,
    CutRules,
    black_boundaries,
    boundaries,
    check_detector,
    doubtful_cuts,
    hard_cuts,
    net_boundaries,
    side_baselines,
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


# ---- a reference of the measurements, on toy frames -------------------------------------------

RULES = CutRules()
RNG = np.random.default_rng(0)


def _hist(f: np.ndarray) -> np.ndarray:
    """Histogram (percent) of the picture with its mean moved to mid-grey, as the stage does."""
    centred = np.clip(f - f.mean() + 128, 0, 255)
    return np.histogram(centred, bins=16, range=(0, 256))[0] * 100.0 / f.size


def _measure(frames: list[np.ndarray]) -> np.ndarray:
    n = len(frames)
    s = np.zeros((n, len(COLUMNS)))
    s[:, COL["q"]] = np.inf
    s[:, COL["net"]] = np.nan
    for i, f in enumerate(frames):
        for k in (1, 2, 3):
            if i >= k:
                s[i, COL[f"pix{k}"]] = np.abs(f - frames[i - k]).mean()
                s[i, COL[f"hist{k}"]] = np.abs(_hist(f) - _hist(frames[i - k])).sum() / 2
        s[i, COL["luma"]], s[i, COL["spread"]] = f.mean(), f.std()
        for h in (4, 8, 12):
            if h <= i < n - h:
                a, b = frames[i - h], frames[i + h]
                far = np.abs(a - b).mean()
                q = np.abs(f - (a + b) / 2).mean() / far if far >= 8 else np.inf
                if q < s[i, COL["q"]]:
                    s[i, COL["q"]], s[i, COL["far"]] = q, far
    return s


def _shot(n: int, seed: int, motion: float = 0.0) -> list[np.ndarray]:
    """A textured picture (64x64) drifting by `motion` pixels a frame, with sensor noise; each
    seed its own brightness and contrast (two shots rarely share a colour histogram)."""
    rng = np.random.default_rng(seed)
    level, contrast = rng.uniform(70, 150), rng.uniform(20, 60)
    coarse = rng.uniform(level - contrast, level + contrast, (16, 48))
    base = np.kron(coarse, np.ones((4, 4)))  # objects of a few pixels, like a real picture
    for axis in (0, 1):  # soft edges
        base = (np.roll(base, 1, axis) + base + np.roll(base, -1, axis)) / 3
    out = []
    for t in range(n):
        x = int(round(t * motion)) % 128
        out.append(base[:, x : x + 64] + rng.normal(0, 1.5, (64, 64)))
    return out


def _frames(s: np.ndarray) -> list[int]:
    return [b.frame for b in boundaries(s, "content", RULES)]


# ---- hard cuts ------------------------------------------------------------------------------------


def test_side_baselines_look_one_way() -> None:
    x = np.array([1.0] * 5 + [9.0] * 5)
    before, after = side_baselines(x, 3)
    assert before[5] == 1.0 and after[4] == 9.0
    assert np.isnan(before[0]) and np.isnan(after[-1])


def test_stand_out_against_the_busier_side() -> None:
    calm_then_busy = np.array([1.0] * 10 + [40.0] + [10.0] * 10)
    assert stand_out(calm_then_busy, 8, 2.0)[10] == pytest.approx(40 / 12)


def test_cut_between_still_shots() -> None:
    s = _measure(_shot(30, 1) + _shot(30, 2))
    assert _frames(s) == [30]


def test_cut_from_a_calm_shot_into_a_busy_one() -> None:
    """The glass-to-dice case: the busy side's usual change is far below the cut's."""
    s = _measure(_shot(30, 1) + _shot(30, 2, motion=1.0))
    assert _frames(s) == [30]


def test_fast_motion_alone_is_no_cut() -> None:
    assert _frames(_measure(_shot(60, 3, motion=7.0))) == []


@pytest.mark.parametrize("length", [1, 2])
def test_flashes_are_no_cut(length: int) -> None:
    frames = _shot(50, 4, motion=1.0)
    for i in range(20, 20 + length):
        frames[i] = np.full((64, 64), 250.0)
    assert _frames(_measure(frames)) == []


def test_glitches_before_a_cut_do_not_hide_it() -> None:
    """Two two-frame glitches (a box over the picture, as a damaged stream shows) among the 8
    frames before a cut: their coming and going is no motion of the shot, so the cut still
    stands out against it (OpenCV's Megamind_bugy.avi, its cut at 98, was missed)."""
    a = _shot(30, 1, motion=0.5)
    # The same things turned round, with more contrast: the colours move a little.
    b = [128 + (np.flip(f) - 128) * 1.3 for f in _shot(30, 1, motion=0.5)]
    assert _frames(_measure(a + b)) == [30]
    frames = a + b
    for i in (22, 23, 26, 27):
        frames[i] = frames[i].copy()
        frames[i][16:48, 8:56] = 250.0
    assert _frames(_measure(frames)) == [30]


def test_a_cut_too_small_to_see_is_none() -> None:
    a = _shot(30, 5)
    b = [f + 3.0 for f in a[-1:] * 30]  # the same picture, slightly brighter: no new shot
    assert hard_cuts(_measure(a + b), RULES) == []


def test_the_threshold_is_the_stand_out() -> None:
    s = _measure(_shot(30, 1) + _shot(30, 2, motion=1.0))
    found = hard_cuts(s, RULES)
    ratio = found[0].strength * RULES.threshold  # how far the cut stands out
    assert found[0].strength >= 1
    assert hard_cuts(s, CutRules(threshold=ratio * 1.01)) == []
    assert [b.frame for b in hard_cuts(s, CutRules(threshold=ratio * 0.99))] == [30]


def _busy_cut() -> np.ndarray:
    """Two shots in the same fast motion: the cut moves the pixels barely more than the motion
    did (stand-out ~1.5), the colours a lot (~16), and less than a third of the histogram."""
    return _measure(_shot(30, 1, motion=2.0) + _shot(30, 2, motion=2.0))


def test_a_cut_out_of_a_busy_shot_is_doubtful() -> None:
    s = _busy_cut()
    assert hard_cuts(s, RULES) == []
    assert doubtful_cuts(s, RULES) == [30]


@pytest.mark.parametrize(("net", "found"), [(0.9, [30]), (0.4, []), (np.nan, [])])
@pytest.mark.parametrize("marked", [27, 28, 29, 30])
def test_the_network_decides_a_doubtful_cut(net: float, found: list[int], marked: int) -> None:
    """hybrid: the network's probability on the cut frame or the two before it (it marks the
    outgoing shot's last frame) decides; none computed there, or too low: no cut. content never
    asks."""
    s = _busy_cut()
    s[marked, COL["net"]] = net
    expected = found if marked >= 28 else []
    assert [b.frame for b in boundaries(s, "hybrid", RULES)] == expected
    assert [b.frame for b in boundaries(s, "content", RULES)] == []


def test_sure_cuts_motion_and_flashes_are_not_doubtful() -> None:
    """Nothing the classic rules already decide, nor fast motion or a flash, asks the network."""
    sure = _measure(_shot(30, 1) + _shot(30, 2))
    assert [b.frame for b in hard_cuts(sure, RULES)] == [30]
    assert doubtful_cuts(sure, RULES) == []
    assert doubtful_cuts(_measure(_shot(60, 3, motion=7.0)), RULES) == []
    frames = _shot(50, 4, motion=3.0)
    frames[20] = np.full((64, 64), 250.0)
    assert doubtful_cuts(_measure(frames), RULES) == []


# ---- fades and dissolves ------------------------------------------------------------------------


def _fade(a: list[np.ndarray], b: list[np.ndarray], out: int, hold: int, into: int):
    """`a`, fading to black over `out` frames, `hold` black frames, `b` fading in."""
    black = np.full((64, 64), 16.0)
    frames = list(a)
    for i in range(out):
        w = 1 - (i + 1) / (out + 1)
        frames.append(16 + (a[-1] - 16) * w)
    frames += [black + RNG.normal(0, 0.5, (64, 64)) for _ in range(hold)]
    for i in range(into):
        w = (i + 1) / (into + 1)
        frames.append(16 + (b[0] - 16) * w)
    return frames + list(b)


def test_fade_through_black_gives_the_black_edges() -> None:
    frames = _fade(_shot(40, 1), _shot(40, 2), out=8, hold=6, into=8)
    s = _measure(frames)
    black = [i for i, f in enumerate(frames) if f.mean() <= RULES.black_luma and f.std() < 10]
    found = boundaries(s, "content", RULES)
    assert [b.frame for b in found] == [black[0], black[-1] + 1]
    assert {b.kind for b in found} == {"fade"}


def test_fade_out_at_the_end_gives_one_boundary() -> None:
    a = _shot(40, 1)
    frames = _fade(a, [], out=8, hold=10, into=0)
    first_black = next(i for i, f in enumerate(frames) if f.mean() <= RULES.black_luma)
    assert [b.frame for b in black_boundaries(_measure(frames), RULES)] == [first_black]


def test_a_flat_field_dipping_to_black_is_no_boundary() -> None:
    frames = [np.full((64, 64), 16 + 200 * abs(np.cos(t / 10))) for t in range(80)]
    s = _measure(frames)
    assert (s[:, COL["luma"]] <= RULES.black_luma).any()
    assert boundaries(s, "content", RULES) == []
    assert boundaries(s, "hybrid", RULES) == []


def _dip_to_white(a: list[np.ndarray], b: list[np.ndarray], out: int, hold: int, into: int):
    """`a` fading to white (235, video's white) over `out` frames, `hold` white frames, `b`
    fading in: an editor's "dip to white"."""
    white = np.full((64, 64), 235.0)
    frames = list(a)
    frames += [235 + (a[-1] - 235) * (1 - (i + 1) / (out + 1)) for i in range(out)]
    frames += [white + RNG.normal(0, 0.5, (64, 64)) for _ in range(hold)]
    frames += [235 + (b[0] - 235) * (i + 1) / (into + 1) for i in range(into)]
    return frames + list(b)


@pytest.mark.parametrize(("out", "hold", "into"), [(8, 6, 8), (4, 3, 4), (0, 3, 6), (6, 3, 0)])
def test_a_dip_to_white_gives_the_white_edges(out: int, hold: int, into: int) -> None:
    # Faded on at least one side (a cut into white and a fade out of it is a dip too).
    frames = _dip_to_white(_shot(40, 1), _shot(40, 2), out, hold, into)
    white = [i for i, f in enumerate(frames) if f.mean() >= 227 and f.std() < 10]
    found = boundaries(_measure(frames), "content", RULES)
    assert [b.frame for b in found] == [white[0], white[-1] + 1]
    assert "fade" in {b.kind for b in found} <= {"fade", "cut"}


def test_one_white_frame_between_fades_is_one_boundary() -> None:
    frames = _dip_to_white(_shot(40, 1), _shot(40, 2), 4, 1, 4)
    assert [b.frame for b in boundaries(_measure(frames), "content", RULES)] == [44]


@pytest.mark.parametrize("length", [1, 2])
def test_a_white_flash_is_no_boundary(length: int) -> None:
    # A camera flash or lightning: the picture turns white at once and comes back at once
    # (three frames or more of anything are a shot of their own, as for the cut rule).
    shot = _shot(80, 1)
    frames = shot[:40] + [np.full((64, 64), 235.0)] * length + shot[40 + length :]
    s = _measure(frames)
    assert boundaries(s, "content", RULES) == []
    assert boundaries(s, "hybrid", RULES) == []


def _dissolve(length: int = 16) -> tuple[list[np.ndarray], int, int]:
    a, b = _shot(40, 1), _shot(40 + length, 2)
    mixed = [
        a[-1] * (1 - (i + 1) / (length + 1)) + b[i] * (i + 1) / (length + 1) for i in range(length)
    ]
    return a + mixed + b[length:], 40, 40 + length


@pytest.mark.parametrize("length", [8, 16, 24])
def test_dissolve_found_by_the_classic_rule(length: int) -> None:
    frames, start, end = _dissolve(length)
    found = boundaries(_measure(frames), "content", RULES)
    assert len(found) == 1 and found[0].kind == "dissolve"
    assert start - 2 <= found[0].frame <= end + 2


def test_hybrid_follows_the_network_where_it_ran() -> None:
    frames, start, end = _dissolve(16)
    s = _measure(frames)
    s[:, COL["net"]] = 0.01  # the network saw the candidate and says: no transition
    assert boundaries(s, "hybrid", RULES) == []
    s[start + 9, COL["net"]] = 0.9  # ... or: the last frame of the old shot is start + 9
    assert [b.frame for b in boundaries(s, "hybrid", RULES)] == [start + 10]
    s[:, COL["net"]] = np.nan  # never ran (no thumbnails): the classic rule decides
    assert len(boundaries(s, "hybrid", RULES)) == 1


def test_network_alone() -> None:
    s = np.zeros((20, len(COLUMNS)))
    s[:, COL["net"]] = 0.0
    s[[4, 5, 12], COL["net"]] = [0.7, 0.9, 0.6]
    assert [b.frame for b in net_boundaries(s)] == [6, 13]
    assert [b.frame for b in net_boundaries(s, 0.8)] == [6]


def test_no_scores_no_boundaries() -> None:
    empty = np.zeros((0, len(COLUMNS)))
    for detector in ("content", "hybrid", "transnetv2"):
        assert boundaries(empty, detector, RULES) == []


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(3, 40), st.integers(0, 9)), min_size=1, max_size=6))
def test_boundaries_are_inside_and_one_per_frame(shots: list[tuple[int, int]]) -> None:
    frames: list[np.ndarray] = []
    for length, seed in shots:
        frames += _shot(length, seed, motion=seed % 3)
    found = [b.frame for b in boundaries(_measure(frames), "content", RULES)]
    assert found == sorted(set(found))
    assert all(0 < f < len(frames) for f in found)


# ---- parameters -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("detector", "threshold", "message"),
    [
        ("magic", None, "unknown detector"),
        ("content", -5.0, "positive"),
        ("content", float("nan"), "positive"),
        ("hybrid", float("inf"), "positive"),
        ("transnetv2", 3.0, "probability"),
    ],
)
def test_check_detector_refuses(detector: str, threshold: float | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_detector(detector, threshold)


def test_check_detector_accepts() -> None:
    check_detector(None, None)
    check_detector("transnetv2", 0.3)
    check_detector("pyscenedetect", 27.0)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.lists(st.one_of(st.none(), st.floats(-1e6, 1e6)), min_size=8, max_size=8),
                min_size=1, max_size=20))  # fmt: skip
def test_fast_median_is_numpys(rows: list[list[float | None]]) -> None:
    import warnings

    from heaters.domain.scenes import _nan_median

    a = np.array([[np.nan if v is None else v for v in r] for r in rows])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numpy warns on all-NaN rows
        want = np.nanmedian(a, axis=1)
    np.testing.assert_allclose(_nan_median(a), want, rtol=1e-12, equal_nan=True)
