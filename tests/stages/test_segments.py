"""Segmented decoding beside the tile store: two one-thread decoders on keyframe-aligned stretches
of the file give exactly what one pass gives (scores, frame times, cuts, every tile byte), on
real footage (variable frame rate, non-square pixels, fades) and on barcoded frames; a segment
that cannot be trusted hands the rest to one decoder, and the result is still the one pass's."""

from __future__ import annotations

import logging
import subprocess
import threading
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from framecode import make_coded_video, read_code

from heaters.stages import segments, splice, tiles
from heaters.synthetic import ffmpeg_exe
from tests.montage import MEDIA

CONTENT = splice.SpliceParams(detector="content")


@pytest.fixture
def short(monkeypatch: pytest.MonkeyPatch) -> None:
    """Segments of 1-3 s, so that the short real videos are split several times."""
    monkeypatch.setattr(splice, "SEGMENT_S", 3.0)
    monkeypatch.setattr(splice, "SEGMENT_MIN_S", 1.0)


HANDED = "on one thread from frame"  # the log line of a hand-over to one decoder


@pytest.fixture
def whole(caplog: pytest.LogCaptureFixture) -> Any:
    """Fails the test when any segment was handed over to one decoder (so the equalities below
    are the segments' own, not the fallback's)."""
    with caplog.at_level(logging.INFO, logger="heaters.stages.splice"):
        yield
    assert not [r for r in caplog.get_records("call") if HANDED in r.getMessage()]


def splice_with_tiles(video: Path, out: Path) -> tuple[Any, bytes]:
    out.mkdir(parents=True, exist_ok=True)
    writer = tiles.TileWriter(out / tiles.TILES_FILE)
    result = splice.run(video, 1, CONTENT, sink=writer)
    writer.close()
    return result, (out / tiles.TILES_FILE).read_bytes()


def one_pass(video: Path, out: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, bytes]:
    with monkeypatch.context() as m:
        m.setattr(splice, "SEGMENT_S", 1e9)  # no plan: one decoder
        return splice_with_tiles(video, out)


def planned(video: Path) -> list[int]:
    with av.open(str(video)) as c:
        return segments.plan(video, c.streams.video[0], splice.SEGMENT_S, splice.SEGMENT_MIN_S)


def assert_same(a: tuple[Any, bytes], b: tuple[Any, bytes]) -> None:
    (ra, ta), (rb, tb) = a, b
    assert np.array_equal(ra.scores, rb.scores, equal_nan=True)
    assert ra.frame_times == rb.frame_times
    assert ra.cuts == rb.cuts and ra.spans == rb.spans
    assert ta == tb  # every tile, byte for byte, in frame order


@pytest.mark.parametrize(
    "name", ["testvideo.mp4", "goldeneye-vfr-drop3.mp4", "issue-195-aspect-ratio.mp4", "fades.mp4"]
)
def test_segments_give_what_one_pass_gives(
    name: str, short: None, whole: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    video = MEDIA / name
    assert len(planned(video)) >= 2  # the file really is split
    assert_same(
        splice_with_tiles(video, tmp_path / "seg"), one_pass(video, tmp_path / "one", monkeypatch)
    )


def test_every_tile_is_its_own_frame_across_segments(
    short: None, whole: None, tmp_path: Path
) -> None:
    video = tmp_path / "coded.mp4"
    make_coded_video(video, 400, gop=25)  # 13 s at 30 fps, a keyframe every 25 frames
    assert len(planned(video)) >= 3
    result, _ = splice_with_tiles(video, tmp_path)
    store = tiles.TileStore(tmp_path / tiles.TILES_FILE)
    assert store.count == result.frame_count == 400
    codes = [read_code(np.asarray(store.image(k).convert("RGB"), np.float32)) for k in range(400)]
    assert codes == list(range(400))


def test_a_segment_that_does_not_continue_hands_over_to_one_decoder(
    short: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    video = MEDIA / "issue-195-aspect-ratio.mp4"
    reference = one_pass(video, tmp_path / "one", monkeypatch)
    # The second segment's first frames "differ" from the first segment's overlap: an open GOP.
    monkeypatch.setattr(splice, "_same_sample", lambda a, b: False)
    with caplog.at_level(logging.INFO, logger="heaters.stages.splice"):
        got = splice_with_tiles(video, tmp_path / "seg")
    handed = [
        r.getMessage() for r in caplog.records if "on one thread from frame" in r.getMessage()
    ]
    assert len(handed) == 1 and "from frame 0 " not in handed[0]  # after the first segment
    assert_same(got, reference)


def test_a_segment_that_fails_hands_over_to_one_decoder(
    short: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    video = MEDIA / "testvideo.mp4"
    reference = one_pass(video, tmp_path / "one", monkeypatch)
    decode = segments.Segments._decode

    def failing(self: segments.Segments, container: Any, k: int, seg: Any, make: Any) -> None:
        if k == 2:
            raise av.InvalidDataError(1094995529, "Invalid data found when processing input")
        decode(self, container, k, seg, make)

    monkeypatch.setattr(segments.Segments, "_decode", failing)
    assert_same(splice_with_tiles(video, tmp_path / "seg"), reference)


def test_plan_starts_at_keyframes_in_order(short: None) -> None:
    video = MEDIA / "issue-195-aspect-ratio.mp4"
    with av.open(str(video)) as c:
        stream = c.streams.video[0]
        keyframes = {p.pts for p in c.demux(stream) if p.is_keyframe and p.pts is not None}
        tb = float(stream.time_base)
    starts = planned(video)
    assert starts and set(starts) <= keyframes
    gaps = np.diff([0, *starts]) * tb
    assert (gaps >= splice.SEGMENT_MIN_S).all()
    assert planned(MEDIA / "counter.mp4") == []  # 3 s: too short to split


def test_leaving_early_stops_the_decoders(short: None) -> None:
    video = MEDIA / "testvideo.mp4"
    with segments.Segments(
        video,
        planned(video),
        lambda s: splice.configure_decoder(s, frame_threads=False),
        lambda: lambda frame, overlap: None,
        lambda a, b: True,
        time_base=1 / 90000,
    ) as decoded:
        for k, _ in enumerate(decoded):
            if k == 5:
                break
    assert not [t for t in threading.enumerate() if t.name.startswith("splice-segment")]


def test_workers_that_die_do_not_leave_the_reader_waiting(short: None) -> None:
    """A worker that fails outside a segment (here: its per-frame function cannot be made)
    ends the segmented pass with SegmentsFailed, which the splice answers by decoding on one
    thread; before, the reader waited for that worker's segment for ever."""

    def make() -> Any:
        raise MemoryError("no room for the worker's buffers")

    video = MEDIA / "testvideo.mp4"
    with pytest.raises(segments.SegmentsFailed, match="no worker left"):  # noqa: PT012
        with segments.Segments(
            video,
            planned(video),
            lambda s: splice.configure_decoder(s, frame_threads=False),
            make,
            lambda a, b: True,
            time_base=1 / 90000,
        ) as decoded:
            for _ in decoded:
                pass


def test_a_turned_phone_video_is_tiled_as_in_one_pass(
    short: None, whole: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    phone = tmp_path / "rot90.mp4"
    subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-display_rotation", "90",
         "-i", str(MEDIA / "testvideo.mp4"), "-an", "-c", "copy", str(phone)],
        check=True,
    )  # fmt: skip
    assert len(planned(phone)) >= 2
    got = splice_with_tiles(phone, tmp_path / "seg")
    assert tiles.TileStore(tmp_path / "seg" / tiles.TILES_FILE).meta["rotation"] == 90
    assert_same(got, one_pass(phone, tmp_path / "one", monkeypatch))


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The segments a decoding thread has started, in the order they were taken."""
    taken: list[int] = []
    decode = segments.Segments._decode

    def recording(self: segments.Segments, container: Any, k: int, seg: Any, make: Any) -> None:
        taken.append(k)
        decode(self, container, k, seg, make)

    monkeypatch.setattr(segments.Segments, "_decode", recording)
    return taken


def test_the_detector_alone_decodes_in_segments_as_one_pass_would(
    short: None, whole: None, started: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    video = MEDIA / "issue-195-aspect-ratio.mp4"
    got = splice.run(video, 1, CONTENT)
    assert len(started) >= 3  # it really was decoded in segments
    with monkeypatch.context() as m:
        m.setattr(splice, "SEGMENT_S", 1e9)  # no plan: one decoder
        want = splice.run(video, 1, CONTENT)
    assert np.array_equal(got.scores, want.scores, equal_nan=True)
    assert got.frame_times == want.frame_times and got.cuts == want.cuts


def test_decoders_stay_within_ahead_s_of_footage_past_the_reader(
    short: None, started: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    video = MEDIA / "issue-195-aspect-ratio.mp4"  # 25 s: ten segments of 1-3 s
    monkeypatch.setattr(segments, "AHEAD_S", 7.0)
    starts = planned(video)
    with av.open(str(video)) as c:
        tb = float(c.streams.video[0].time_base)
    at = [0.0, *(s * tb for s in starts)]
    with segments.Segments(
        video,
        starts,
        lambda s: splice.configure_decoder(s, frame_threads=False),
        lambda: lambda frame, past: frame.pts,
        lambda a, b: a == b,
        time_base=tb,
    ) as frames:
        it = iter(frames)
        next(it)  # the reader holds segment 0 while the workers go on
        threading.Event().wait(1.0)
        held = sorted(started)
        n = 1 + sum(1 for _ in it)
    assert max(at[k] for k in held) <= 7.0 < at[max(held) + 1]  # as far as allowed, no further
    assert sorted(started) == list(range(len(at))) and n == 628


def _joined(path: Path, parts: list[tuple[str, str, str, int]]) -> Path:
    """One H.264 stream at 25 fps of parts (lavfi source, size, pixel format, seconds) joined as
    recordings are (each part's parameter sets where it starts), in Matroska."""
    files = []
    for k, (src, size, fmt, seconds) in enumerate(parts):
        part = path.parent / f"part{k}.ts"
        subprocess.run(
            [ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", f"{src}=size={size}:rate=25",
             "-t", str(seconds), "-c:v", "libx264", "-g", "25", "-pix_fmt", fmt, str(part)],
            check=True, timeout=120,
        )  # fmt: skip
        files.append(str(part))
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-y", "-i", "concat:" + "|".join(files), "-c", "copy",
         str(path)],
        check=True, timeout=120,
    )  # fmt: skip
    return path


@pytest.mark.parametrize(
    ("parts", "joins"),
    [
        # Two recordings joined: 320x240, then 480x270.
        ([("testsrc2", "320x240", "yuv420p", 4), ("mandelbrot", "480x270", "yuv420p", 4)], [100]),
        # 4:2:0, then 4:2:2, then 4:2:0 again, at one size.
        (
            [("testsrc2", "640x360", "yuv420p", 3), ("mandelbrot", "640x360", "yuv422p", 3),
             ("smptebars", "640x360", "yuv420p", 3)],
            [75, 150],
        ),
    ],
    ids=["size", "pixel-format"],
)  # fmt: skip
def test_a_stream_whose_picture_changes_part_way_is_spliced_to_the_end(
    parts: list[tuple[str, str, str, int]],
    joins: list[int],
    short: None,
    whole: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    video = _joined(tmp_path / "joined.mkv", parts)
    assert len(planned(video)) >= 2
    got = splice_with_tiles(video, tmp_path / "seg")
    result, _ = got
    assert result.frame_count == 25 * sum(p[3] for p in parts)
    assert all(any(abs(c - j) <= 1 for c in result.cuts) for j in joins)  # where each part starts
    assert_same(got, one_pass(video, tmp_path / "one", monkeypatch))


def test_tiles_take_the_streams_shape_whichever_segment_is_tiled_first(
    short: None, whole: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 16:9 for 2 s, then square: the second segment's thread usually tiles before the first's.
    video = _joined(
        tmp_path / "aspect.mkv",
        [("testsrc2", "640x360", "yuv420p", 2), ("mandelbrot", "240x240", "yuv420p", 7)],
    )
    assert len(planned(video)) >= 2
    got = splice_with_tiles(video, tmp_path / "seg")
    store = tiles.TileStore(tmp_path / "seg" / tiles.TILES_FILE)
    assert store.image(0).size == store.image(store.count - 1).size == (320, 180)
    assert_same(got, one_pass(video, tmp_path / "one", monkeypatch))


def test_a_truncated_file_gives_the_same_frames_with_and_without_tiles(tmp_path: Path) -> None:
    """A download cut short part-way: the detector alone decodes as far as the tile store's
    pass does (FFmpeg's frame threads had lost the last decodable frames)."""
    whole_file = tmp_path / "whole.mp4"
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
         "-t", "30", "-c:v", "libx264", "-g", "25", "-movflags", "+faststart", str(whole_file)],
        check=True, timeout=120,
    )  # fmt: skip
    cut = tmp_path / "cut.mp4"
    data = whole_file.read_bytes()
    cut.write_bytes(data[: len(data) * 3 // 10])
    alone = splice.run(cut, 1, CONTENT)
    with_tiles, _ = splice_with_tiles(cut, tmp_path / "tiles")
    assert 0 < alone.frame_count == with_tiles.frame_count < 750
    assert alone.frame_times == with_tiles.frame_times
