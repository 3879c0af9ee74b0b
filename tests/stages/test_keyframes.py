"""The keyframe stage on real media: 25/50/75 % frames, sizes, files, failures."""

from __future__ import annotations

from pathlib import Path

import pytest
from framecode import STRIP, decode_jpeg, decode_times, make_coded_video, read_code

from heaters.domain.results import FrameRequest, StageError
from heaters.stages import keyframes, sprites
from heaters.stages.keyframes import KeyframeParams
from heaters.synthetic import make_video


@pytest.fixture(scope="module")
def coded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[float]]:
    path = tmp_path_factory.mktemp("keyframes") / "coded.mp4"
    make_coded_video(path, 300, width=256, height=144, gop=30)
    return path, decode_times(path)


def test_multi_at_quarters(coded: tuple[Path, list[float]], tmp_path: Path) -> None:
    path, times = coded
    reqs = [
        FrameRequest(5, 0, 100, tmp_path / "5"),
        FrameRequest(6, 100, 140, tmp_path / "6"),
        FrameRequest(7, 200, 300, tmp_path / "7"),
        FrameRequest(8, 150, 151, tmp_path / "8"),  # one frame: all three tags use it
    ]
    progress: list[tuple[int, int]] = []
    res = keyframes.run(path, 3, reqs, times, on_progress=lambda d, t: progress.append((d, t)))
    assert res.status == "ok" and res.video_id == 3 and progress[-1] == (4, 4)
    expected = {5: [25, 50, 75], 6: [110, 120, 130], 7: [225, 250, 275], 8: [150, 150, 150]}
    for req, out in zip(reqs, res.outcomes, strict=True):
        assert out.status == "ok", out.error
        assert [a.tag for a in out.artifacts] == ["25", "50", "75"]
        assert [a.metadata["frame"] for a in out.artifacts] == expected[req.clip_id]
        names = sorted(p.name for p in req.out_dir.iterdir())
        assert names == ["kf_25.jpg", "kf_50.jpg", "kf_75.jpg"]  # and no temp files
        for a in out.artifacts:
            assert (a.kind, a.strategy, a.clip_id) == ("keyframe", "multi", req.clip_id)
            assert a.path == (req.out_dir / f"kf_{a.tag}.jpg").resolve()
            assert a.metadata["time_s"] == pytest.approx(times[a.metadata["frame"]], abs=1e-6)
            assert (a.metadata["width"], a.metadata["height"]) == (256, 144)
            img = decode_jpeg(a.path)
            assert img.shape == (144, 256, 3)
            assert read_code(img) == a.metadata["frame"]


def test_midpoint_and_max_width(coded: tuple[Path, list[float]], tmp_path: Path) -> None:
    path, times = coded
    params = KeyframeParams(strategy="midpoint", max_width=128)
    res = keyframes.run(path, 1, [FrameRequest(1, 30, 90, tmp_path)], times, params)
    (a,) = res.outcomes[0].artifacts
    assert (a.tag, a.strategy, a.metadata["frame"]) == ("50", "midpoint", 60)
    assert (a.metadata["width"], a.metadata["height"]) == (128, 72)
    img = decode_jpeg(tmp_path / "kf_50.jpg")
    assert img.shape == (72, 128, 3) and read_code(img) == 60
    assert [p.name for p in tmp_path.iterdir()] == ["kf_50.jpg"]


def test_shots_of_a_synthetic_video(tmp_path: Path) -> None:
    v = make_video(tmp_path / "v.mp4", (1.0, 2.0, 1.0), width=320, height=180, seed=2)
    times = decode_times(v.path)
    b = [0, *v.cuts, v.frame_count]
    reqs = [FrameRequest(i, b[i], b[i + 1], tmp_path / str(i)) for i in range(3)]
    res = keyframes.run(v.path, 1, reqs, times)
    for req, out in zip(reqs, res.outcomes, strict=True):
        n = req.end_frame - req.start_frame
        assert [a.metadata["frame"] for a in out.artifacts] == [
            req.start_frame + n // 4,
            req.start_frame + n // 2,
            req.start_frame + 3 * n // 4,
        ]
        assert all(decode_jpeg(a.path).shape == (180, 320, 3) for a in out.artifacts)


def test_bad_request_fails_alone(coded: tuple[Path, list[float]], tmp_path: Path) -> None:
    path, times = coded
    reqs = [
        FrameRequest(1, 280, 400, tmp_path / "1"),
        FrameRequest(2, 0, 40, tmp_path / "2"),
    ]
    res = keyframes.run(path, 1, reqs, times)
    assert [o.status for o in res.outcomes] == ["failed", "ok"]
    assert "outside the video" in (res.outcomes[0].error or "")
    assert not (tmp_path / "1").exists()


def test_undecodable_clip_writes_nothing(coded: tuple[Path, list[float]], tmp_path: Path) -> None:
    path, times = coded
    cut = tmp_path / "truncated.mp4"
    data = path.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    reqs = [FrameRequest(1, 0, 40, tmp_path / "a"), FrameRequest(2, 200, 300, tmp_path / "b")]
    res = keyframes.run(cut, 1, reqs, times)
    assert [o.status for o in res.outcomes] == ["ok", "failed"]
    assert "could not decode" in (res.outcomes[1].error or "")
    assert not (tmp_path / "b").exists()


def test_errors_that_stop_the_batch(coded: tuple[Path, list[float]], tmp_path: Path) -> None:
    path, times = coded
    with pytest.raises(StageError, match="strategy"):
        keyframes.run(path, 1, [], times, KeyframeParams(strategy="thirds"))
    (tmp_path / "bad.mp4").write_bytes(b"nope")
    with pytest.raises(StageError):
        keyframes.run(tmp_path / "bad.mp4", 1, [FrameRequest(1, 0, 5, tmp_path)], times)


@pytest.mark.parametrize("pix_fmt", ["yuv420p", "yuvj420p"])
def test_colour_range_is_respected(tmp_path: Path, pix_fmt: str) -> None:
    """A grey of 64 stays 64 in keyframes and sprites, for limited- and full-range sources."""
    path = tmp_path / "v.mp4"
    make_coded_video(path, 30, width=128, height=64, pix_fmt=pix_fmt)
    times = decode_times(path)
    req = FrameRequest(1, 0, 30, tmp_path / "out")
    keyframes.run(path, 1, [req], times, KeyframeParams(strategy="midpoint"))
    img = decode_jpeg(req.out_dir / "kf_50.jpg")
    assert abs(img[2:6, 10:100].mean() - STRIP) < 3
    sprites.run(path, 1, [req], times, 30.0)
    sheet = decode_jpeg(req.out_dir / "sprite.jpg")
    for i in range(3):  # the strip of the first three tiles (320x160 each)
        assert abs(sheet[4:14, i * 320 + 20 : i * 320 + 300].mean() - STRIP) < 3


def test_uniform_n_evenly_spaced_and_reported(
    coded: tuple[Path, list[float]], tmp_path: Path
) -> None:
    path, times = coded
    params = KeyframeParams(strategy="uniform", count=4)
    res = keyframes.run(path, 1, [FrameRequest(1, 100, 200, tmp_path)], times, params)
    out = res.outcomes[0]
    assert out.status == "ok", out.error
    assert [a.tag for a in out.artifacts] == ["u1of4", "u2of4", "u3of4", "u4of4"]
    assert [a.metadata["frame"] for a in out.artifacts] == [112, 137, 162, 187]  # slice centres
    for a in out.artifacts:
        assert (a.strategy, a.metadata["count"]) == ("uniform", 4)
        assert read_code(decode_jpeg(a.path)) == a.metadata["frame"]
    multi = keyframes.run(path, 1, [FrameRequest(2, 0, 100, tmp_path / "m")], times)
    assert {(a.strategy, a.metadata["count"]) for a in multi.outcomes[0].artifacts} == {
        ("multi", 3)
    }
    with pytest.raises(StageError):
        keyframes.run(path, 1, [FrameRequest(3, 0, 100, tmp_path / "x")], times,
                      KeyframeParams(strategy="uniform", count=0))  # fmt: skip
