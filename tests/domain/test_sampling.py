"""Which frames a sprite sheet and the keyframes use, and the sheet geometry (pure maths)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from heaters.domain.sampling import (
    SheetGeometry,
    keyframe_plan,
    scaled_size,
    sprite_plan,
    tile_height_for,
)


def cfr(n: int, fps: float) -> list[float]:
    return [i / fps for i in range(n)]


def test_tile_height_keeps_aspect_and_is_even() -> None:
    assert tile_height_for(1280, 720, 320) == 180
    assert tile_height_for(1920, 1080, 320) == 180
    assert tile_height_for(640, 480, 320) == 240
    assert tile_height_for(1000, 1001, 320) % 2 == 0
    assert tile_height_for(4000, 10, 320) == 2  # never zero


def test_scaled_size_never_enlarges() -> None:
    assert scaled_size(1920, 1080, 1280) == (1280, 720)
    assert scaled_size(320, 180, 1280) == (320, 180)
    assert scaled_size(1279, 721, 1280) == (1278, 720)  # even sides, never past the limit
    assert scaled_size(4000, 3000, 1279) == (1278, 958)


def test_thirty_fps_clip_samples_24_per_second() -> None:
    plan = sprite_plan(300, 360, fps=30, width=1280, height=720, frame_times=cfr(1000, 30))
    assert plan.fps == 24.0 and not plan.sparse
    assert plan.geometry.tile_count == 48 == len(plan.frames)  # 2 s at 24/s
    assert plan.frames[0] == 300 and plan.frames[-1] < 360
    # tile k shows the frame on screen at 300/30 + k/24 s
    for k, f in enumerate(plan.frames):
        assert f == 300 + math.floor(k * 30 / 24 + 1e-9)
    g = plan.geometry
    assert (g.columns, g.rows, g.tile_width, g.tile_height) == (10, 5, 320, 180)
    assert (g.width, g.height) == (3200, 900)
    assert plan.times == tuple(f / 30 for f in plan.frames)


def test_slow_source_uses_every_frame() -> None:
    plan = sprite_plan(0, 50, fps=15, width=640, height=360, frame_times=cfr(50, 15))
    assert plan.frames == tuple(range(50)) and plan.fps == 15.0


def test_short_clip_gets_compact_sheet() -> None:
    plan = sprite_plan(10, 13, fps=30, width=320, height=180, frame_times=cfr(100, 30))
    assert plan.geometry.columns == plan.geometry.tile_count == len(plan.frames) <= 3
    assert plan.geometry.rows == 1
    one = sprite_plan(5, 6, fps=30, width=320, height=180, frame_times=cfr(100, 30))
    assert one.frames == (5,) and one.geometry.width == 320


def test_long_clip_goes_sparse_to_fit_height() -> None:
    n = 30 * 60 * 20  # 20 minutes at 30 fps
    plan = sprite_plan(0, n, fps=30, width=1280, height=720, frame_times=cfr(n, 30))
    g = plan.geometry
    assert plan.sparse
    assert g.height <= 16384
    assert g.rows == 16384 // 180 and g.tile_count == g.rows * 10
    assert plan.fps == pytest.approx(g.tile_count / 1200)
    assert plan.fps < 24
    gaps = {b - a for a, b in zip(plan.frames, plan.frames[1:], strict=False)}
    assert max(gaps) - min(gaps) <= 1  # evenly spread


def test_last_clip_of_video_and_no_frame_times() -> None:
    a = sprite_plan(90, 100, fps=30, width=320, height=180, frame_times=cfr(100, 30))
    b = sprite_plan(90, 100, fps=30, width=320, height=180)
    assert a.frames == b.frames == (90, 91, 92, 93, 95, 96, 97, 98)


def test_variable_frame_rate_samples_by_time() -> None:
    # frames 0.5 s apart, then 1/100 s apart: tiles follow time, not index
    times = [0.0, 0.5, 1.0, 1.5] + [2.0 + i / 100 for i in range(100)]
    plan = sprite_plan(0, len(times), fps=30, width=320, height=180, frame_times=times)
    first_second = [f for f in plan.frames if times[f] < 2.0]
    assert first_second == [0, 1, 2, 3]  # each slow frame once (no duplicates)
    fast = [f for f in plan.frames if times[f] >= 2.0]
    assert len(fast) == pytest.approx(24, abs=1)  # one second at 24 tiles/s


def test_bad_ranges_raise() -> None:
    with pytest.raises(ValueError):
        sprite_plan(5, 5, fps=30, width=320, height=180)
    with pytest.raises(ValueError):
        sprite_plan(0, 200, fps=30, width=320, height=180, frame_times=cfr(100, 30))
    with pytest.raises(ValueError):
        keyframe_plan(0, 10, "nope")


def test_keyframes_multi_and_midpoint() -> None:
    times = cfr(1000, 30)
    picks = keyframe_plan(100, 200, "multi", frame_times=times)
    assert [(p.tag, p.frame) for p in picks] == [("25", 125), ("50", 150), ("75", 175)]
    assert picks[1].time_s == pytest.approx(150 / 30)
    mid = keyframe_plan(100, 200, "midpoint", frame_times=times)
    assert [(p.tag, p.frame) for p in mid] == [("50", 150)]
    tiny = keyframe_plan(7, 8, "multi", frame_times=times)
    assert [p.frame for p in tiny] == [7, 7, 7]
    assert [p.frame for p in keyframe_plan(0, 4, "multi", fps=30)] == [1, 2, 3]


def test_tile_origin() -> None:
    g = SheetGeometry(tile_width=320, tile_height=180, columns=10, rows=3, tile_count=25)
    assert g.tile_origin(0) == (0, 0)
    assert g.tile_origin(9) == (2880, 0)
    assert g.tile_origin(10) == (0, 180)
    assert g.tile_origin(24) == (1280, 360)


@st.composite
def clips(draw: st.DrawFn) -> tuple[list[float], int, int, float]:
    fps = draw(st.sampled_from([8.0, 12.0, 23.976, 24.0, 25.0, 29.97, 30.0, 50.0, 60.0, 120.0]))
    vfr = draw(st.booleans())
    n = draw(st.integers(1, 6000))
    if vfr:
        steps = draw(st.lists(st.sampled_from([0.5, 1.0, 2.0, 3.0]), min_size=n, max_size=n))
        times, t = [], 0.0
        for s in steps:
            times.append(t)
            t += s / fps
    else:
        times = cfr(n, fps)
    a = draw(st.integers(0, n - 1))
    b = draw(st.integers(a + 1, n))
    return times, a, b, fps


@given(
    clip=clips(),
    width=st.integers(16, 4096),
    height=st.integers(16, 4096),
    max_height=st.sampled_from([400, 2000, 16384]),
)
def test_sprite_plan_properties(
    clip: tuple[list[float], int, int, float], width: int, height: int, max_height: int
) -> None:
    times, a, b, fps = clip
    plan = sprite_plan(
        a, b, fps=fps, width=width, height=height, frame_times=times, max_height=max_height
    )
    f = plan.frames
    g = plan.geometry
    assert f and all(a <= x < b for x in f)
    assert list(f) == sorted(set(f))  # sorted, unique
    assert f[0] == a
    assert g.tile_count == len(f) == len(plan.times)
    assert g.rows == math.ceil(g.tile_count / g.columns) and g.columns <= 10
    if g.tile_height <= max_height:
        assert g.height <= max_height
    assert g.tile_height % 2 == 0 and g.tile_width == 320
    assert 0 < plan.fps <= min(fps, 24.0) + 1e-9
    if not plan.sparse:
        assert plan.fps == min(fps, 24.0)


@given(clip=clips(), strategy=st.sampled_from(["multi", "midpoint"]))
def test_keyframe_plan_properties(clip: tuple[list[float], int, int, float], strategy: str) -> None:
    times, a, b, _ = clip
    picks = keyframe_plan(a, b, strategy, frame_times=times)
    assert [p.tag for p in picks] == (["25", "50", "75"] if strategy == "multi" else ["50"])
    frames = [p.frame for p in picks]
    assert all(a <= x < b for x in frames) and frames == sorted(frames)


def test_keyframes_uniform_count() -> None:
    times = cfr(1000, 30)
    picks = keyframe_plan(0, 100, "uniform", count=5, frame_times=times)
    assert [(p.tag, p.frame) for p in picks] == [
        ("u1of5", 10), ("u2of5", 30), ("u3of5", 50), ("u4of5", 70), ("u5of5", 90)
    ]  # fmt: skip
    assert [p.frame for p in keyframe_plan(0, 100, "uniform", count=1, frame_times=times)] == [50]
    assert len(keyframe_plan(0, 3, "uniform", count=32, fps=30)) == 32  # frames may repeat
    for bad in (0, 33, 2.5, True):
        with pytest.raises(ValueError):
            keyframe_plan(0, 100, "uniform", count=bad, frame_times=times)  # type: ignore[arg-type]
    assert (
        len(keyframe_plan(0, 100, "multi", count=9, frame_times=times)) == 3
    )  # count: uniform only
