"""The shared forward decode pass: exactly the wanted frames, each with its true index.

Every frame of the test videos shows its own index as a barcode (`framecode`), so "frame k" is
checked against what the picture says, through skipping, seeking and variable frame rates.
"""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

import av
import numpy as np
import pytest
from framecode import decode_jpeg, decode_times, make_coded_video, read_code

from heaters.domain.results import StageError
from heaters.stages import frames as frames_mod
from heaters.stages.frames import SourceReader, check_span, encode_jpeg
from heaters.synthetic import ffmpeg_exe

N = 900  # 30 s at 30 fps, a keyframe every 24 frames


@pytest.fixture(scope="module")
def coded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[float]]:
    path = tmp_path_factory.mktemp("frames") / "coded.mp4"
    make_coded_video(path, N, gop=24)
    return path, decode_times(path)


@pytest.fixture(scope="module")
def coded_vfr(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[float]]:
    """Frame durations of 1, 0.5, 2 and 1.5 nominal frames in turn: variable frame rate."""
    path = tmp_path_factory.mktemp("frames") / "vfr.mp4"
    made = make_coded_video(path, 600, gop=24, durations=(6, 3, 12, 9))
    times = decode_times(path)
    assert times == pytest.approx(made)
    return path, times


def read(path: Path, want: list[int], times: list[float]) -> tuple[list[int], SourceReader]:
    got = []
    with SourceReader(path) as r:
        for k, frame in r.frames(want, times):
            assert read_code(frame.to_ndarray(format="gray")) == k
            got.append(k)
    return got, r


def test_info(coded: tuple[Path, list[float]]) -> None:
    path, times = coded
    with SourceReader(path) as r:
        assert (r.info.width, r.info.height, r.info.display_width) == (192, 108, 192)
        assert r.info.fps == pytest.approx(30)
        assert r.info.frame_count == N == len(times)


def test_every_frame(coded: tuple[Path, list[float]]) -> None:
    path, times = coded
    got, r = read(path, list(range(N)), times)
    assert got == list(range(N))
    assert r.stats.seeks == 0


@pytest.mark.parametrize("seek_gap", [10.0, 1.0])
def test_random_subsets(
    coded: tuple[Path, list[float]], monkeypatch: pytest.MonkeyPatch, seek_gap: float
) -> None:
    path, times = coded
    monkeypatch.setattr(frames_mod, "SEEK_GAP_S", seek_gap)
    rng = random.Random(seek_gap)
    seeks = 0
    for size in (1, 2, 5, 20, 100, 400):
        want = sorted(rng.sample(range(N), size))
        got, r = read(path, want, times)
        assert got == want
        seeks += r.stats.seeks
    if seek_gap == 1.0:
        assert seeks > 0  # the seek path ran, and frames after it kept their true indices


def test_sparse_wants_decode_little(coded: tuple[Path, list[float]]) -> None:
    path, times = coded
    want = [100, 500, 899]
    got, r = read(path, want, times)
    assert got == want
    # Only the GOPs that hold a wanted frame are decoded (24 frames each at most).
    assert r.stats.decoded_packets <= 3 * 24 + 8


def test_variable_frame_rate(
    coded_vfr: tuple[Path, list[float]], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, times = coded_vfr
    monkeypatch.setattr(frames_mod, "SEEK_GAP_S", 1.0)
    rng = random.Random(3)
    for size in (3, 30, 300):
        want = sorted(rng.sample(range(len(times)), size))
        got, _ = read(path, want, times)
        assert got == want


@pytest.mark.parametrize("container", ["ts", "mkv"])
def test_streams_that_do_not_start_at_zero(
    coded: tuple[Path, list[float]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    container: str,
) -> None:
    """MPEG-TS starts near 1.4 s, this mkv at 5 s: frame 0 is still time 0.0 and index 0."""
    path, _ = coded
    out = tmp_path / f"coded.{container}"
    args = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-i", str(path), "-c", "copy"]
    if container == "mkv":
        args += ["-output_ts_offset", "5"]
    subprocess.run([*args, str(out)], check=True)  # noqa: S603 - fixed argv, no shell
    times = decode_times(out)
    assert times[0] == 0.0 and len(times) == N
    with av.open(str(out)) as c:
        assert c.streams.video[0].start_time > 0
    monkeypatch.setattr(frames_mod, "SEEK_GAP_S", 1.0)
    rng = random.Random(container)
    for size in (2, 10, 100):
        want = sorted(rng.sample(range(N), size))
        got, _ = read(out, want, times)
        assert got == want
    assert read(out, list(range(N)), np.array(times))[0] == list(range(N))


def test_out_of_range_and_empty(coded: tuple[Path, list[float]]) -> None:
    path, times = coded
    got, _ = read(path, [-1, 5, N, N + 50], times)
    assert got == [5]
    assert read(path, [], times)[0] == []


def test_frames_missing_from_the_file_are_not_invented(
    coded: tuple[Path, list[float]], tmp_path: Path
) -> None:
    path, times = coded
    cut = tmp_path / "truncated.mp4"
    data = path.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with SourceReader(cut) as r:
        got = [k for k, _ in r.frames([10, 200, 850], times)]
    assert 10 in got and 850 not in got


def test_unreadable_sources(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 100)
    with pytest.raises(StageError, match="junk.mp4"):
        SourceReader(junk)
    with pytest.raises(StageError):
        SourceReader(tmp_path / "missing.mp4")
    audio = tmp_path / "audio.wav"
    with av.open(str(audio), "w") as out:
        s = out.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 800), np.int16), format="s16", layout="mono"
        )
        frame.sample_rate = 8000
        out.mux(s.encode(frame))
        out.mux(s.encode(None))
    with pytest.raises(StageError, match="no video stream"):
        SourceReader(audio)


def test_check_span() -> None:
    assert check_span(0, 10, 10) is None
    assert "outside the video" in (check_span(5, 11, 10) or "")
    assert "bad frame range" in (check_span(5, 5, 10) or "")
    assert "bad frame range" in (check_span(-1, 5, 10) or "")


def test_encode_jpeg_both_encoders(tmp_path: Path) -> None:
    rgb = np.zeros((90, 160, 3), np.uint8)
    rgb[:, 80:] = (200, 30, 30)
    for name, data in [
        ("pil.jpg", encode_jpeg(rgb, 80)),
        ("av.jpg", frames_mod._encode_jpeg_av(rgb, 80)),
    ]:
        assert data[:2] == b"\xff\xd8"
        (tmp_path / name).write_bytes(data)
        back = decode_jpeg(tmp_path / name).astype(int)
        assert back.shape == rgb.shape
        assert np.abs(back - rgb).mean() < 6
