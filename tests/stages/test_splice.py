"""Splice stage on real media made by `heaters.synthetic` (small, fast, truth known to the frame)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import av
import numpy as np
import pytest

from heaters.domain.results import SpliceResult, StageError
from heaters.stages.splice import SpliceParams, run
from heaters.synthetic import DEMO_SHOTS_S, SyntheticVideo, ffmpeg_exe, make_video

FPS = 30


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> SyntheticVideo:
    """10 hard cuts; three shots (0.5, 0.7, 0.4 s) shorter than 1 s, each between long shots."""
    return make_video(tmp_path_factory.mktemp("splice") / "demo.mp4", DEMO_SHOTS_S, seed=3)


@pytest.fixture(scope="module")
def demo_all_cuts(demo: SyntheticVideo) -> SpliceResult:
    return run(demo.path, 7, SpliceParams(min_clip_s=0.0))


def _ffmpeg(*args: str) -> None:
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *args]
    subprocess.run(cmd, check=True, capture_output=True)  # noqa: S603 (argv list)


def _assert_tiles(result: SpliceResult) -> None:
    spans = result.spans
    assert spans[0].start_frame == 0
    assert spans[-1].end_frame == result.frame_count
    for a, b in zip(spans, spans[1:], strict=False):
        assert a.start_frame < a.end_frame == b.start_frame
        assert a.start_time_s < a.end_time_s == b.start_time_s
    for s in spans:
        assert s.start_time_s == result.frame_times[s.start_frame]
    assert len(result.frame_times) == result.frame_count


def _near(frame: int, frames: tuple[int, ...] | list[int], tol: int = 1) -> bool:
    return any(abs(frame - f) <= tol for f in frames)


# ---- accuracy -----------------------------------------------------------------------------------


def test_every_cut_found_within_one_frame(
    demo: SyntheticVideo, demo_all_cuts: SpliceResult
) -> None:
    r = demo_all_cuts
    assert len(demo.cuts) >= 8
    assert r.frame_count == demo.frame_count
    assert all(_near(t, r.cuts) for t in demo.cuts), (demo.cuts, r.cuts)
    assert all(_near(c, demo.cuts) for c in r.cuts), (demo.cuts, r.cuts)  # nothing invented
    assert [s.start_frame for s in r.spans[1:]] == list(r.cuts)  # min length 1: no merging
    _assert_tiles(r)


def test_default_min_clip_merges_short_shots(demo: SyntheticVideo) -> None:
    r = run(demo.path, 7, SpliceParams())  # min_clip_s = 1.0 -> 30 frames
    _assert_tiles(r)
    assert all(s.end_frame - s.start_frame >= FPS for s in r.spans)
    starts = [s.start_frame for s in r.spans[1:]]
    lengths = [round(x * FPS) for x in DEMO_SHOTS_S]
    bounds = [0, *demo.cuts, demo.frame_count]
    for i, n in enumerate(lengths):
        left, right = bounds[i], bounds[i + 1]
        if n < FPS:
            # A short shot joins one neighbour: exactly one of its two cuts survives.
            assert _near(left, starts) != _near(right, starts), (i, left, right, starts)
        elif i > 0 and lengths[i - 1] >= FPS:
            assert _near(left, starts), (left, starts)  # a cut between two long shots stays
    assert len(starts) == len(demo.cuts) - sum(n < FPS for n in lengths)
    assert r.cuts == tuple(sorted(r.cuts)) and len(r.cuts) >= len(starts)  # raw cuts kept too


@pytest.mark.parametrize(
    ("kind", "effects"),
    [
        (0, {"pan": 0.03, "noise": 20}),
        (2, {"shake": 8, "flicker": 0.08, "flashes": (40, 100)}),
        (5, {"pan": 0.05, "shake": 4, "noise": 10}),
        (7, {"flicker": 0.08, "flashes": (30, 31, 90)}),
    ],
    ids=["testsrc-pan-noise", "life-shake-flicker-flash", "mandelbrot-pan-shake", "grain-flicker"],
)
def test_single_shot_with_motion_has_no_cut(
    tmp_path: Path, kind: int, effects: dict[str, object]
) -> None:
    v = make_video(tmp_path / "one.mp4", (5.0,), kinds=[kind], seed=kind, **effects)  # type: ignore[arg-type]
    r = run(v.path, 1, SpliceParams(min_clip_s=0.0))
    assert r.cuts == ()
    assert [(s.start_frame, s.end_frame) for s in r.spans] == [(0, v.frame_count)]


def test_cuts_survive_pan_grain_and_flashes(tmp_path: Path) -> None:
    shots = (1.5, 0.6, 2.0, 1.2, 1.8, 0.8, 1.6)
    v = make_video(tmp_path / "rough.mp4", shots, seed=5, pan=0.02, noise=15, flashes=(20, 150))
    r = run(v.path, 1, SpliceParams(min_clip_s=0.0))
    assert all(_near(t, r.cuts) for t in v.cuts), (v.cuts, r.cuts)
    assert all(_near(c, v.cuts) for c in r.cuts), (v.cuts, r.cuts)


def test_pyscenedetect_detector(demo: SyntheticVideo) -> None:
    r = run(demo.path, 7, SpliceParams(detector="pyscenedetect", min_clip_s=0.0))
    _assert_tiles(r)
    assert r.detector == "pyscenedetect"
    assert r.params["threshold"] == 27.0
    found = sum(_near(t, r.cuts) for t in demo.cuts)
    assert found >= len(demo.cuts) - 2


# ---- timestamps, params, progress -----------------------------------------------------------


def test_times_come_from_timestamps(demo: SyntheticVideo, demo_all_cuts: SpliceResult) -> None:
    r = demo_all_cuts
    assert r.frame_times == pytest.approx(demo.frame_times, abs=1e-6)
    for s in r.spans:
        assert s.start_time_s == pytest.approx(s.start_frame / FPS, abs=1e-6)
        assert s.end_time_s == pytest.approx(s.end_frame / FPS, abs=1e-6)
    assert r.spans[-1].end_time_s == pytest.approx(demo.frame_count / FPS, abs=1e-6)


def test_times_count_from_the_stream_start(tmp_path: Path, demo: SyntheticVideo) -> None:
    ts = tmp_path / "demo.ts"  # MPEG-TS starts its clock at ~1.4 s
    _ffmpeg("-i", str(demo.path), "-c", "copy", str(ts))
    r = run(ts, 1, SpliceParams(min_clip_s=0.0))
    assert r.frame_count == demo.frame_count
    assert r.frame_times[0] == 0.0
    assert r.frame_times == pytest.approx(demo.frame_times, abs=1e-3)


def test_variable_frame_rate_times(tmp_path: Path) -> None:
    v = make_video(tmp_path / "vfr.mp4", (1.0, 0.5, 1.2, 0.8), seed=2, vfr=True)
    r = run(v.path, 1, SpliceParams(min_clip_s=0.0))
    assert r.frame_count == v.frame_count
    assert r.frame_times == pytest.approx(v.frame_times, abs=1e-4)
    durations = {round(b - a, 4) for a, b in zip(r.frame_times, r.frame_times[1:], strict=False)}
    assert len(durations) == 3  # really variable: 1, 2 and 0.5 frame times
    assert all(_near(t, r.cuts) for t in v.cuts)
    _assert_tiles(r)
    for s in r.spans[1:]:
        assert s.start_time_s == pytest.approx(v.frame_times[s.start_frame], abs=1e-4)
    # The last clip ends one frame duration (as muxed: at most 2 frame times here) after its
    # last frame starts.
    last_start = v.frame_times[-1]
    assert last_start < r.spans[-1].end_time_s <= last_start + 2 / FPS + 1e-6


def test_params_recorded(demo_all_cuts: SpliceResult) -> None:
    p = demo_all_cuts.params
    assert demo_all_cuts.detector == "hybrid"
    assert p["detector"] == "hybrid"
    assert p["min_clip_s"] == 0.0
    assert p["threshold"] > 0
    assert {"window", "floor", "black_luma"} <= set(p["rules"])
    assert {"sample_width", "scores_version"} <= set(p)
    assert demo_all_cuts.video_id == 7
    assert demo_all_cuts.status == "ok"


def test_threshold_changes_sensitivity(demo: SyntheticVideo, demo_all_cuts: SpliceResult) -> None:
    strict = run(demo.path, 7, SpliceParams(threshold=1000.0, min_clip_s=0.0))
    assert strict.cuts == ()
    assert strict.params["threshold"] == 1000.0
    assert len(demo_all_cuts.cuts) > 0


def test_progress_reported(demo: SyntheticVideo) -> None:
    from heaters.stages.splice import PROGRESS_EVERY_S

    calls: list[tuple[int, int]] = []
    started = time.monotonic()
    run(demo.path, 1, SpliceParams(), on_progress=lambda done, total: calls.append((done, total)))
    took = time.monotonic() - started
    assert calls[-1] == (demo.frame_count, demo.frame_count)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert all(0 <= d <= t for d, t in calls)
    # throttled: at most one report per PROGRESS_EVERY_S of however long it took, plus the last
    assert len(calls) <= took / PROGRESS_EVERY_S + 2


def test_non_420_pixel_format(tmp_path: Path, demo: SyntheticVideo) -> None:
    out = tmp_path / "yuv444.mp4"
    _ffmpeg(
        "-i",
        str(demo.path),
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv444p",
        str(out),
    )
    r = run(out, 1, SpliceParams(min_clip_s=0.0))
    assert r.frame_count == demo.frame_count
    assert all(_near(t, r.cuts) for t in demo.cuts), (demo.cuts, r.cuts)


# ---- bad input ----------------------------------------------------------------------------------


def _one_line_error(path: Path, match: str) -> None:
    with pytest.raises(StageError, match=match) as info:
        run(path, 1, SpliceParams())
    assert "\n" not in str(info.value)


def test_zero_byte_file(tmp_path: Path) -> None:
    p = tmp_path / "empty.mp4"
    p.write_bytes(b"")
    _one_line_error(p, "empty file")


def test_missing_file(tmp_path: Path) -> None:
    _one_line_error(tmp_path / "nope.mp4", "not found")


def test_text_file(tmp_path: Path) -> None:
    p = tmp_path / "notes.mp4"
    p.write_text("this is not a video\n" * 50)
    _one_line_error(p, "not a readable media file")


def test_audio_only_file(tmp_path: Path) -> None:
    p = tmp_path / "tone.m4a"
    _ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-c:a", "aac", str(p))
    _one_line_error(p, "no video stream")


def test_unknown_detector(demo: SyntheticVideo) -> None:
    with pytest.raises(StageError, match="unknown detector") as info:
        run(demo.path, 1, SpliceParams(detector="magic"))
    assert not info.value.retryable


def test_transnet_threshold_is_a_probability(demo: SyntheticVideo) -> None:
    with pytest.raises(StageError, match="probability"):
        run(demo.path, 1, SpliceParams(detector="transnetv2", threshold=3.0))


def test_truncated_mp4_splices_what_decodes(tmp_path: Path, demo: SyntheticVideo) -> None:
    data = demo.path.read_bytes()
    p = tmp_path / "truncated.mp4"
    p.write_bytes(data[: int(len(data) * 0.6)])  # index at the front (faststart), data cut off
    r = run(p, 1, SpliceParams(min_clip_s=0.0))
    assert 0.3 * demo.frame_count < r.frame_count < 0.8 * demo.frame_count
    _assert_tiles(r)
    early = [t for t in demo.cuts if t < r.frame_count - 2]
    assert early and all(_near(t, r.cuts) for t in early)


def test_truncated_mp4_without_index_is_an_error(tmp_path: Path, demo: SyntheticVideo) -> None:
    moov_last = tmp_path / "moov-last.mp4"
    _ffmpeg("-i", str(demo.path), "-c", "copy", str(moov_last))  # no faststart: index at the end
    data = moov_last.read_bytes()
    p = tmp_path / "truncated.mp4"
    p.write_bytes(data[: int(len(data) * 0.6)])
    _one_line_error(p, "not a readable media file")


def test_corrupt_middle_is_skipped(tmp_path: Path, demo: SyntheticVideo) -> None:
    data = bytearray(demo.path.read_bytes())
    mid = len(data) // 2
    data[mid : mid + 3000] = bytes((i * 7919) % 251 for i in range(3000))
    p = tmp_path / "corrupt.mp4"
    p.write_bytes(bytes(data))
    r = run(p, 1, SpliceParams())
    assert r.frame_count > 0.8 * demo.frame_count
    _assert_tiles(r)


# ---- the decoding thread ------------------------------------------------------------------------


def _pts_of_plain_decode(path: Path, packets: int | None = None) -> list[int]:
    """Frame timestamps as a plain decode gives them (of the first `packets` packets, without
    flushing the decoder), the reference for what the splice's decoding thread hands over."""
    import av

    with av.open(str(path)) as c:
        s = c.streams.video[0]
        out = []
        for n, packet in enumerate(c.demux(s)):
            if n == packets:
                break
            out += [f.pts for f in packet.decode()]
        return out


@pytest.mark.parametrize("handoff", [1, 3, 4])
def test_decoding_thread_hands_over_every_frame_in_order(
    demo: SyntheticVideo, monkeypatch: pytest.MonkeyPatch, handoff: int
) -> None:
    """Frames cross from the decoding thread in groups: none lost, none repeated, in order,
    whether or not the count is a multiple of the group size."""
    import av

    from heaters.stages import splice

    monkeypatch.setattr(splice, "HANDOFF", handoff)
    with av.open(str(demo.path)) as c, splice._Frames(c, c.streams.video[0]) as frames:
        got = [f.pts for f in frames]
    assert got == _pts_of_plain_decode(demo.path)
    assert len(got) == demo.frame_count


class _DemuxerGivesUp:
    """A real container whose demuxer raises after `after` packets (a fault injected around
    PyAV's container, whose attributes cannot be replaced)."""

    def __init__(self, container: object, after: int) -> None:
        self._container, self._after = container, after

    def demux(self, stream: object) -> object:
        for n, packet in enumerate(self._container.demux(stream)):  # type: ignore[attr-defined]
            if n == self._after:
                raise _Boom("demuxer gave up")
            yield packet


class _Boom(Exception):
    pass


@pytest.mark.parametrize("after", [7, 33])
def test_decoding_thread_error_comes_after_the_frames_before_it(
    demo: SyntheticVideo, monkeypatch: pytest.MonkeyPatch, after: int
) -> None:
    """An error on the decoding thread reaches the consumer only after every frame decoded
    before it, a part group included."""
    import av

    from heaters.stages import splice

    monkeypatch.setattr(splice, "HANDOFF", 4)
    got: list[int] = []
    with av.open(str(demo.path)) as c:
        broken = _DemuxerGivesUp(c, after)
        with pytest.raises(_Boom), splice._Frames(broken, c.streams.video[0]) as frames:
            for f in frames:
                got.append(f.pts)
    want = _pts_of_plain_decode(demo.path, packets=after)
    assert got == want and len(want) % 4 != 0


# ---- how each pixel format is sampled ----------------------------------------------------------


def _frame_of(fmt: str, planes: list[np.ndarray]) -> av.VideoFrame:
    """A frame of `fmt` holding these planes (rows of samples; 16-bit for deep formats)."""
    h, w = planes[0].shape
    frame = av.VideoFrame(w, h, fmt)
    for plane, data in zip(frame.planes, planes, strict=True):
        rows = np.zeros((len(data), plane.line_size), np.uint8)
        raw = data.astype(data.dtype.newbyteorder("<")).view(np.uint8)
        rows[:, : raw.shape[1]] = raw
        plane.update(rows.tobytes())
    return frame


@pytest.mark.parametrize(
    ("fmt", "bits", "across", "down"),
    [
        ("yuv420p", 8, 2, 2),
        ("yuvj422p", 8, 2, 1),
        ("yuv444p", 8, 1, 1),
        ("yuv420p10le", 10, 2, 2),
        ("yuv422p10le", 10, 2, 1),
        ("yuv444p12le", 12, 1, 1),
    ],
)
def test_planar_formats_are_sampled_in_place_on_one_grid(
    fmt: str, bits: int, across: int, down: int
) -> None:
    """Every planar YUV format gives the samples an 8-bit 4:2:0 picture would: luma at every
    s-th column of every r-th row, chroma at the picture's places 2s columns and 2r rows apart
    (wherever its plane keeps them), each cut to 8 bits. Reference: picture coordinates
    mapped to each plane by its subsampling."""
    from heaters.stages.splice import _sample_layout, _Sampler

    w, h = 640, 362  # (odd chroma row count in 4:2:0)
    rng = np.random.default_rng(7)
    deep = np.uint16 if bits > 8 else np.uint8
    cw, ch = -(-w // across), -(-h // down)
    planes = [rng.integers(0, 1 << bits, size, dtype=deep) for size in ((h, w), (ch, cw), (ch, cw))]
    sample = _Sampler()(_frame_of(fmt, planes))
    _grid, (s, r) = _sample_layout(w, h)
    rows, cols = np.arange(0, h, r), np.arange(0, w, s)
    y = planes[0][np.ix_(rows, cols)]
    crow, ccol = np.arange(0, h, 2 * r) // down, np.arange(0, w, 2 * s) // across
    u, v = (p[np.ix_(crow, ccol)] for p in planes[1:])
    want = np.concatenate([(p >> (bits - 8)).ravel() for p in (y, u, v)]).astype(np.uint8)
    got_y, got_u, got_v = sample.planes()
    assert got_y.shape == y.shape and got_u.shape == u.shape == got_v.shape
    assert np.array_equal(sample.pix, want)
    assert sample.full_range == fmt.startswith("yuvj")


def test_a_frame_flagged_full_range_is_sampled_as_full_range() -> None:
    """HEVC (and FFmpeg's newer decoders) flag full range on plain yuv420p instead of naming
    it yuvj420p: the network's thumbnail must not stretch it a second time."""
    from heaters.stages.splice import _Sampler

    planes = [np.full((64, 64), 200, np.uint8), *(np.full((32, 32), 128, np.uint8),) * 2]
    limited, full = _frame_of("yuv420p", planes), _frame_of("yuv420p", planes)
    full.color_range = 2  # AVCOL_RANGE_JPEG
    assert not _Sampler()(limited).full_range
    assert _Sampler()(full).full_range
