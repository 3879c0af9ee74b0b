"""Export stage on real media: exact frames (barcoded videos), durations, audio, copy mode, skips.

Cuts are never on keyframes here: the sources are re-encoded with one keyframe every 300 frames
(or every 24, for the copy-mode tests), so a stream copy cannot start on a cut and an accurate
seek really has to decode from an earlier keyframe.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

import av
import numpy as np
import pytest
from framecode import decode_times, make_coded_video, read_code

from heaters.stages import export
from heaters.stages.export import ExportItem, ExportParams, fingerprint, is_current, stamp
from heaters.synthetic import ffmpeg_exe, make_video

SHOTS_S = (1.6, 1.2, 0.5, 1.5, 0.6, 1.4)
FPS = 30


@dataclass(frozen=True)
class Source:
    path: Path
    times: list[float]  # decoded time of every frame, as splice records them
    cuts: tuple[int, ...] = ()

    def item(self, a: int, b: int, out: Path, **kw: object) -> ExportItem:
        end = self.times[b] if b < len(self.times) else self.times[-1] + 1 / FPS
        return ExportItem(f"clip {a}-{b}", self.path, a, b, self.times[a], end, out, **kw)  # type: ignore[arg-type]

    def seg(self, a: int, b: int) -> tuple[int, int, float, float]:
        end = self.times[b] if b < len(self.times) else self.times[-1] + 1 / FPS
        return (a, b, self.times[a], end)


def _ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", *args], check=True)


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("export")


@pytest.fixture(scope="module")
def shots(work: Path) -> Source:
    """make_video's shots with audio, re-encoded so that the only keyframe is frame 0."""
    v = make_video(work / "shots-src.mp4", SHOTS_S, seed=7, audio=True)
    path = work / "shots.mp4"
    _ffmpeg("-i", str(v.path), "-c:v", "libx264", "-g", "300", "-keyint_min", "300",
            "-sc_threshold", "0", "-crf", "16", "-preset", "veryfast", "-c:a", "copy", str(path))  # fmt: skip
    assert keyframes(path) == [0]
    return Source(path, decode_times(path), v.cuts)


@pytest.fixture(scope="module")
def shots_luma(shots: Source) -> list[np.ndarray]:
    return [y for _, y in decode_luma(shots.path)]


@pytest.fixture(scope="module")
def coded(work: Path) -> Source:
    """Frame k shows k; B-frames; one keyframe in 300 frames."""
    path = work / "coded.mp4"
    return Source(path, make_coded_video(path, 240, gop=300))


@pytest.fixture(scope="module")
def coded_gop24(work: Path) -> Source:
    path = work / "coded24.mp4"
    return Source(path, make_coded_video(path, 120, gop=24))


@pytest.fixture(scope="module")
def coded_vfr(work: Path) -> Source:
    """Variable frame rate: frames last 1, 2 and 0.5 frame times in turn."""
    path = work / "coded-vfr.mp4"
    return Source(path, make_coded_video(path, 240, gop=300, durations=[6, 12, 3]))


@pytest.fixture(scope="module")
def coded_ts(work: Path, coded: Source) -> Source:
    """The same frames in MPEG-TS, whose timestamps start at 1.4 s, not 0."""
    path = work / "coded.ts"
    _ffmpeg("-i", str(coded.path), "-c", "copy", "-f", "mpegts", str(path))
    with av.open(str(path)) as c:
        assert c.start_time and c.start_time > 0.5 * av.time_base
    return Source(path, decode_times(path))


def keyframes(path: Path) -> list[int]:
    """Indices (presentation order) of the keyframes."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        pts = sorted((p.pts, p.is_keyframe) for p in c.demux(s) if p.pts is not None)
    return [i for i, (_, key) in enumerate(pts) if key]


def decode_luma(path: Path) -> list[tuple[float, np.ndarray]]:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        tb = float(s.time_base)
        return [(f.pts * tb, f.to_ndarray(format="gray").astype(np.int16)) for f in c.decode(s)]


def best_match(picture: np.ndarray, source: list[np.ndarray], k: int) -> int:
    """Which source frame within 3 of k `picture` is (ties go to k); asserts it is a clear match."""
    window = range(max(0, k - 3), min(len(source), k + 4))
    diffs = {j: float(np.abs(picture - source[j]).mean()) for j in window}
    best = min(diffs, key=lambda j: (diffs[j] - (0.05 if j == k else 0), abs(j - k)))
    assert diffs[best] < 6, diffs
    return best


def codes(path: Path) -> list[int]:
    with av.open(str(path)) as c:
        return [read_code(f.to_ndarray(format="rgb24")) for f in c.decode(c.streams.video[0])]


def stream_durations(path: Path) -> dict[str, float]:
    with av.open(str(path)) as c:
        return {
            s.type: float(s.duration * s.time_base)
            for s in c.streams
            if s.duration is not None and s.time_base is not None
        }


def no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if p.name.startswith(".")]


# --- frame-accurate export ------------------------------------------------------------------


def test_every_shot_exports_exactly_its_frames_with_audio(
    shots: Source, shots_luma: list[np.ndarray], tmp_path: Path
) -> None:
    bounds = [0, *shots.cuts, len(shots.times)]
    items = [
        shots.item(a, b, tmp_path / f"shot{i}.mp4")
        for i, (a, b) in enumerate(zip(bounds, bounds[1:], strict=False))
    ]
    calls: list[tuple[int, int]] = []
    result = export.run(
        items, ExportParams(), ffmpeg_exe(), on_progress=lambda d, t: calls.append((d, t))
    )
    assert [o.status for o in result.outcomes] == ["ok"] * len(items), result.outcomes
    assert calls == [(i, len(items)) for i in range(len(items) + 1)]
    assert result.counts == {"ok": len(items)}
    for item, outcome in zip(items, result.outcomes, strict=True):
        n = item.end_frame - item.start_frame
        frames = decode_luma(item.out_path)
        assert outcome.frames == len(frames) == n
        durations = stream_durations(item.out_path)
        clip_s = item.end_time_s - item.start_time_s
        assert abs(durations["video"] - clip_s) <= 1 / FPS + 1e-6
        assert abs(durations["audio"] - clip_s) <= 1 / FPS + 1e-6
        # First and last frames are the source's frames start_frame and end_frame - 1: the
        # closest of their neighbourhood (lossy coding, noisy footage), far from the frames
        # across the cuts.
        assert frames[0][0] == 0.0
        assert best_match(frames[0][1], shots_luma, item.start_frame) == item.start_frame
        assert best_match(frames[-1][1], shots_luma, item.end_frame - 1) == item.end_frame - 1
    assert no_temp_files(tmp_path)


@pytest.mark.parametrize("which", ["coded", "coded_vfr", "coded_ts"])
def test_exact_frames_from_mid_gop(
    which: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    src: Source = request.getfixturevalue(which)
    ranges = [(37, 101), (0, 20), (150, 240), (101, 102), (238, 240)]
    items = [src.item(a, b, tmp_path / f"{a}-{b}.mp4") for a, b in ranges]
    result = export.run(items, ExportParams(), ffmpeg_exe())
    assert [o.status for o in result.outcomes] == ["ok"] * len(items), result.outcomes
    for (a, b), item in zip(ranges, items, strict=True):
        assert codes(item.out_path) == list(range(a, b))
        got = decode_times(item.out_path)
        want = [t - src.times[a] for t in src.times[a:b]]
        assert np.allclose(got, want, atol=1e-3)  # variable frame rate kept
        with av.open(str(item.out_path)) as c:
            assert not c.streams.audio  # the source has none
            assert c.streams.video[0].codec_context.name == "h264"


def test_groups_join_their_segments(coded: Source, shots: Source, tmp_path: Path) -> None:
    segs = (coded.seg(10, 30), coded.seg(120, 150), coded.seg(60, 75), coded.seg(75, 80))
    group = coded.item(10, 80, tmp_path / "group.mp4", segments=segs)
    assert len(group.parts) == 3 and group.parts[2] == coded.seg(60, 80)  # touching ones joined
    audio_group = shots.item(
        0, 150, tmp_path / "group-audio.mp4", segments=(shots.seg(5, 40), shots.seg(100, 150))
    )
    result = export.run([group, audio_group], ExportParams(), ffmpeg_exe())
    assert [o.status for o in result.outcomes] == ["ok", "ok"], result.outcomes
    assert codes(group.out_path) == [*range(10, 30), *range(120, 150), *range(60, 80)]
    assert result.outcomes[1].frames == 85
    durations = stream_durations(audio_group.out_path)
    assert abs(durations["video"] - 85 / FPS) <= 1 / FPS + 1e-6
    assert abs(durations["audio"] - 85 / FPS) <= 1 / FPS + 1e-6


# --- stream copy -------------------------------------------------------------------------------


def test_copy_starts_on_the_keyframe_at_or_before_the_start(
    coded_gop24: Source, shots: Source, shots_luma: list[np.ndarray], tmp_path: Path
) -> None:
    src = coded_gop24
    mid = src.item(37, 70, tmp_path / "mid.mp4")
    on_key = src.item(48, 60, tmp_path / "onkey.mp4")
    weird = tmp_path / 'it\'s a "name" with spaces'
    weird.mkdir()
    group = src.item(30, 100, weird / "group's.mp4", segments=(src.seg(30, 40), src.seg(90, 100)))
    with_audio = shots.item(100, 140, tmp_path / "audio.mp4")
    items = [mid, on_key, group, with_audio]
    result = export.run(items, ExportParams(copy=True), ffmpeg_exe())
    assert [o.status for o in result.outcomes] == ["ok"] * 4, result.outcomes

    got = codes(mid.out_path)
    assert got[0] == 24  # the keyframe before frame 37
    assert got[: 70 - 24] == list(range(24, 70))  # then every frame of the clip
    assert len(got) <= 70 - 24 + 4  # and at most a few frames past its end
    got = codes(on_key.out_path)
    assert got[0] == 48 and got[:12] == list(range(48, 60))
    got = codes(group.out_path)
    assert got[:16] == list(range(24, 40)) and 72 in got and got[-1] >= 99
    assert got[got.index(72) :][:28] == list(range(72, 100))

    # The long-GOP source has a keyframe only at frame 0: the copy starts there.
    frames = decode_luma(with_audio.out_path)
    assert np.abs(frames[0][1] - shots_luma[0]).mean() < 3
    assert len(frames) >= 140
    assert "audio" in stream_durations(with_audio.out_path)
    assert no_temp_files(tmp_path) and no_temp_files(weird)


def test_copy_from_a_container_without_seek_index_is_re_encoded(
    coded_ts: Source, tmp_path: Path
) -> None:
    item = coded_ts.item(37, 70, tmp_path / "ts.mp4")
    out = export.run([item], ExportParams(copy=True), ffmpeg_exe()).outcomes[0]
    assert out.status == "ok" and out.note and out.note.startswith("re-encoded")
    assert codes(item.out_path) == list(range(37, 70))


# --- skipping what is done -----------------------------------------------------------------


def test_rerun_skips_unchanged_outputs_and_redoes_changed_ones(
    coded: Source, tmp_path: Path
) -> None:
    item = coded.item(37, 60, tmp_path / "a.mp4")
    ff = ffmpeg_exe()
    assert not export.up_to_date(item, ExportParams())
    assert export.run([item], ExportParams(), ff).outcomes[0].status == "ok"
    assert export.up_to_date(item, ExportParams())
    mtime = item.out_path.stat().st_mtime_ns

    again = export.run([item], ExportParams(), ff).outcomes[0]
    assert again.status == "skipped" and again.error is None
    assert item.out_path.stat().st_mtime_ns == mtime

    # Other settings, another range, a forced run, an emptied or foreign file: exported again.
    assert not export.up_to_date(item, ExportParams(crf=23))
    assert not export.up_to_date(item, ExportParams(copy=True))
    assert not export.up_to_date(
        replace(item, end_frame=61, end_time_s=coded.times[61]), ExportParams()
    )
    assert export.run([item], ExportParams(), ff, skip_unchanged=False).outcomes[0].status == "ok"
    os.truncate(item.out_path, 0)
    assert not export.up_to_date(item, ExportParams())
    assert export.run([item], ExportParams(), ff).outcomes[0].status == "ok"
    item.out_path.write_bytes(coded.path.read_bytes())  # someone else's file under the name
    assert not export.up_to_date(item, ExportParams())
    assert export.run([item], ExportParams(), ff).outcomes[0].status == "ok"
    assert codes(item.out_path) == list(range(37, 60))

    # Matroska keeps the tag too (as COMMENT).
    mkv = replace(item, out_path=tmp_path / "a.mkv")
    assert export.run([mkv], ExportParams(), ff).outcomes[0].status == "ok"
    assert export.run([mkv], ExportParams(), ff).outcomes[0].status == "skipped"

    # Moving the output folder or renaming the item keeps the fingerprint.
    moved = replace(item, key="other", out_path=tmp_path / "b.mp4")
    assert fingerprint(moved, ExportParams(), 1000) == fingerprint(item, ExportParams(), 1000)
    assert fingerprint(item, ExportParams(), 1001) != fingerprint(item, ExportParams(), 1000)


def test_is_current_rule() -> None:
    fp = "0123456789abcdef01234567"
    assert is_current(fp, stamp(fp), 10)
    assert not is_current(fp, stamp(fp), 0)
    assert not is_current(fp, None, 10)
    assert not is_current(fp, stamp("f" * 24), 10)
    assert not is_current(fp, "some other comment", 10)


# --- failures ----------------------------------------------------------------------------------


def test_one_bad_item_never_stops_the_others(coded: Source, tmp_path: Path) -> None:
    good = coded.item(0, 10, tmp_path / "good.mp4")
    items = [
        replace(good, key="missing", source=tmp_path / "nope.mp4", out_path=tmp_path / "m.mp4"),
        replace(good, key="empty range", end_frame=0, out_path=tmp_path / "e.mp4"),
        good,
        replace(good, key="same file"),
        replace(good, key="not a video", source=Path(__file__), out_path=tmp_path / "t.mp4"),
        replace(good, key="onto source", out_path=coded.path),
        coded.item(200, 260 - 20, tmp_path / "late.mp4"),
    ]
    result = export.run(items, ExportParams(), ffmpeg_exe())
    status = {o.key: (o.status, o.error) for o in result.outcomes}
    assert status["missing"] == ("failed", "source file not found: nope.mp4")
    assert status["empty range"] == ("failed", "bad frame range [0, 0)")
    assert status[good.key][0] == "ok" and good.out_path.exists()
    assert status["same file"] == ("failed", "another item in this export writes the same file")
    assert status["not a video"][0] == "failed" and "\n" not in (status["not a video"][1] or "")
    assert status["onto source"] == ("failed", "the output would overwrite the source")
    assert result.counts == {"failed": 5, "ok": 2}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.mp4", "late.mp4"]


def test_ffmpeg_failure_is_one_line_and_leaves_no_file(coded: Source, tmp_path: Path) -> None:
    item = coded.item(0, 10, tmp_path / "x.mp4")
    out = export.run([item], ExportParams(preset="no-such-preset"), ffmpeg_exe()).outcomes[0]
    assert out.status == "failed" and out.error and out.error.startswith("ffmpeg failed")
    assert "\n" not in out.error
    missing = export.run([item], ExportParams(), str(tmp_path / "no-ffmpeg")).outcomes[0]
    assert missing.status == "failed" and "cannot run" in (missing.error or "")
    assert "No such file or directory" in (missing.error or "") and "\n" not in (
        missing.error or ""
    )
    assert list(tmp_path.iterdir()) == []


def test_arguments_seek_just_before_the_first_frame(tmp_path: Path) -> None:
    src = export._Source(size=1, has_audio=True, fps=30.0, offset_s=1.4, odd_size=True)
    item = ExportItem("k", tmp_path / "in.mp4", 30, 60, 1.0, 2.0, tmp_path / "o.mp4")
    args = export.encode_args(item, ExportParams(), src, tmp_path / "o.mp4", "tag")
    ss = args.index("-ss")
    assert args[ss + 1] == "2.399000" and args[ss + 2] == "-i"  # 1.0 + 1.4 - 1 ms
    graph = args[args.index("-filter_complex") + 1]
    assert "trim=end_frame=30" in graph and "atrim=duration=1.000000" in graph
    assert "crop=trunc(iw/2)*2:trunc(ih/2)*2" in graph  # odd sizes made even for 4:2:0
    assert args[-1] == str(tmp_path / "o.mp4") and "comment=tag" in args

    # No trusted index (MPEG-TS): decode from the start, pick frames by index.
    ts = replace(src, seekable=False, odd_size=False)
    args = export.encode_args(item, ExportParams(), ts, tmp_path / "o.mp4", "tag")
    graph = args[args.index("-filter_complex") + 1]
    assert "-ss" not in args and "trim=start_frame=30:end_frame=60" in graph
    assert "atrim=start=2.399000:duration=1.000000" in graph


def test_ffmpeg_starts_beside_a_thread_holding_a_scaler(tmp_path: Path) -> None:
    """The review screen exports while its worker threads hold PyAV scalers in thread-locals
    (the tiles'). Started with a `preexec_fn`, the forked child freed those scalers before it
    ran ffmpeg and hung for ever on their slice threads (CI hung at 97 % on the review screen's
    export test). ffmpeg must start and finish whatever other threads hold."""
    import threading

    held, done = threading.Event(), threading.Event()

    def hold_a_scaler() -> None:
        local = threading.local()
        local.scaler = av.video.reformatter.VideoReformatter()
        frame = av.VideoFrame.from_ndarray(np.zeros((720, 1280, 3), np.uint8), format="rgb24")
        local.scaler.reformat(frame, 320, 180, "yuv420p")
        held.set()
        done.wait(120)

    holder = threading.Thread(target=hold_a_scaler, daemon=True)
    holder.start()
    assert held.wait(60)
    finished: list[bool] = []
    out = tmp_path / "black.mp4"
    args = ["-v", "error", "-f", "lavfi", "-i", "color=black:s=64x36:d=0.2", str(out)]
    runner = threading.Thread(
        target=lambda: finished.append(export._ffmpeg(ffmpeg_exe(), args) is None), daemon=True
    )
    runner.start()
    runner.join(60)
    done.set()
    assert finished == [True], "ffmpeg never finished starting"
    assert out.stat().st_size > 0


def test_ffmpeg_named_without_a_folder_is_found_on_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """IMAGEIO_FFMPEG_EXE=ffmpeg (a system ffmpeg, as imageio's docs suggest) names no folder."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ffmpeg").symlink_to(ffmpeg_exe())
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    out = tmp_path / "black.mp4"
    export._ffmpeg("ffmpeg", ["-v", "error", "-f", "lavfi", "-i", "color=s=64x36:d=0.2", str(out)])
    assert out.stat().st_size > 0
