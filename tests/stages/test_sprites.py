"""The sprite stage on real media: geometry, sampled frames, pixels, files, failures."""

from __future__ import annotations

import math
from pathlib import Path

import av
import numpy as np
import pytest
from framecode import decode_jpeg, decode_times, make_coded_video, read_code

from heaters.domain.results import FrameRequest, StageError
from heaters.stages import sprites
from heaters.stages.sprites import SpriteParams
from heaters.synthetic import SyntheticVideo, make_video

SHOTS_S = (1.0, 2.5, 0.4, 1.6)


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> tuple[SyntheticVideo, list[float]]:
    v = make_video(tmp_path_factory.mktemp("sprites") / "shots.mp4", SHOTS_S, seed=5)
    return v, decode_times(v.path)


@pytest.fixture(scope="module")
def coded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[float]]:
    path = tmp_path_factory.mktemp("sprites") / "coded.mp4"
    make_coded_video(path, 240, gop=30)
    return path, decode_times(path)


def spans(v: SyntheticVideo) -> list[tuple[int, int]]:
    b = [0, *v.cuts, v.frame_count]
    return list(zip(b[:-1], b[1:], strict=True))


def decode_small(path: Path, wanted: set[int], w: int, h: int) -> dict[int, np.ndarray]:
    """Direct decode of some frames, scaled like a tile (the reference for tile pixels)."""
    out = {}
    with av.open(str(path)) as c:
        for k, f in enumerate(c.decode(c.streams.video[0])):
            if k in wanted:
                out[k] = f.to_ndarray(width=w, height=h, format="rgb24", interpolation="AREA")
    return out


def tile(sheet: np.ndarray, meta: dict, i: int) -> np.ndarray:
    w, h, cols = meta["tile_width"], meta["tile_height"], meta["columns"]
    x, y = (i % cols) * w, (i // cols) * h
    return sheet[y : y + h, x : x + w]


def test_one_sheet_per_shot(shots: tuple[SyntheticVideo, list[float]], tmp_path: Path) -> None:
    v, times = shots
    reqs = [FrameRequest(10 + i, a, b, tmp_path / str(i)) for i, (a, b) in enumerate(spans(v))]
    progress: list[tuple[int, int]] = []
    res = sprites.run(
        v.path, 7, reqs, times, 30.0, SpriteParams(), lambda d, t: progress.append((d, t))
    )
    assert res.status == "ok" and res.video_id == 7
    assert [o.clip_id for o in res.outcomes] == [r.clip_id for r in reqs]
    assert progress[-1] == (len(reqs), len(reqs))
    refs: dict[int, np.ndarray] = {}
    for req, out in zip(reqs, res.outcomes, strict=True):
        assert out.status == "ok", out.error
        (art,) = out.artifacts
        assert (art.kind, art.strategy, art.tag) == ("sprite", "grid", "")
        assert art.path == (req.out_dir / "sprite.jpg").resolve()
        assert sorted(p.name for p in req.out_dir.iterdir()) == ["sprite.jpg"]  # no temp left
        m = art.metadata
        n = req.end_frame - req.start_frame
        assert (
            m["tile_count"] == len(m["frames"]) == len(m["times"]) == math.ceil(n / 30 * 24 - 1e-9)
        )
        assert (m["tile_width"], m["tile_height"], m["fps"], m["sparse"]) == (320, 180, 24.0, False)
        assert m["columns"] == min(10, m["tile_count"])
        assert m["rows"] == -(-m["tile_count"] // m["columns"])
        assert all(req.start_frame <= f < req.end_frame for f in m["frames"])
        assert m["frames"] == sorted(set(m["frames"])) and m["frames"][0] == req.start_frame
        assert m["times"] == pytest.approx([times[f] for f in m["frames"]], abs=1e-6)
        sheet = decode_jpeg(art.path)
        assert sheet.shape == (m["rows"] * 180, m["columns"] * 320, 3)
        refs.update(decode_small(v.path, set(m["frames"]) - refs.keys(), 320, 180))
        # Each tile is its own source frame: close to it, far from the other shots' frames.
        for i in (0, m["tile_count"] // 2, m["tile_count"] - 1):
            got = tile(sheet, m, i).astype(int)
            own = np.abs(got - refs[m["frames"][i]]).mean()
            assert own < 12, (req.clip_id, i, own)  # JPEG q80 of a noisy shot: ~7
            for other in res.outcomes:
                if other is not out:
                    f = other.artifacts[0].metadata["frames"][0]
                    refs.update(decode_small(v.path, {f} - refs.keys(), 320, 180))
                    assert np.abs(got - refs[f]).mean() > 5 * own + 20  # ~100 here


def test_every_tile_shows_its_recorded_frame(
    coded: tuple[Path, list[float]], tmp_path: Path
) -> None:
    path, times = coded
    reqs = [
        FrameRequest(1, 0, 90, tmp_path / "a"),
        FrameRequest(2, 90, 91, tmp_path / "b"),  # a one-frame clip
        FrameRequest(3, 150, 240, tmp_path / "c"),  # after a gap no clip needs
        FrameRequest(4, 60, 120, tmp_path / "d"),  # overlaps two others
    ]
    res = sprites.run(path, 1, reqs, times, 30.0)
    for out in res.outcomes:
        assert out.status == "ok", out.error
        m = out.artifacts[0].metadata
        sheet = decode_jpeg(out.artifacts[0].path)
        codes = [read_code(tile(sheet, m, i)) for i in range(m["tile_count"])]
        assert codes == m["frames"]
    assert res.outcomes[1].artifacts[0].metadata["frames"] == [90]


def test_variable_frame_rate_tiles_follow_time(tmp_path: Path) -> None:
    path = tmp_path / "vfr.mp4"
    make_coded_video(path, 120, durations=(3, 3, 12))  # 1/60 s, 1/60 s, 1/15 s in turn
    times = decode_times(path)
    res = sprites.run(path, 1, [FrameRequest(1, 0, 120, tmp_path / "s")], times, 30.0)
    m = res.outcomes[0].artifacts[0].metadata
    sheet = decode_jpeg(res.outcomes[0].artifacts[0].path)
    assert [read_code(tile(sheet, m, i)) for i in range(m["tile_count"])] == m["frames"]
    # Tiles are 1/24 s apart in time (not in frame count); a long frame may absorb one.
    gaps = np.diff(m["times"])
    assert gaps.max() < 1 / 24 + 1 / 15 and 1 / 24 - 0.002 < gaps.mean() < 1 / 15


def test_long_clip_goes_sparse_within_height(
    shots: tuple[SyntheticVideo, list[float]], tmp_path: Path
) -> None:
    v, times = shots
    params = SpriteParams(max_height=360)  # two rows: 20 tiles for a 5.5 s clip
    res = sprites.run(v.path, 1, [FrameRequest(1, 0, v.frame_count, tmp_path)], times, 30.0, params)
    m = res.outcomes[0].artifacts[0].metadata
    assert m["sparse"] is True and m["tile_count"] == 20 and m["rows"] == 2
    assert m["fps"] == pytest.approx(20 / (v.frame_count / 30))
    assert decode_jpeg(tmp_path / "sprite.jpg").shape[0] == 360 <= params.max_height


def test_bad_request_fails_alone(shots: tuple[SyntheticVideo, list[float]], tmp_path: Path) -> None:
    v, times = shots
    n = v.frame_count
    reqs = [
        FrameRequest(1, 0, 30, tmp_path / "1"),
        FrameRequest(2, n - 10, n + 20, tmp_path / "2"),
        FrameRequest(3, 40, 40, tmp_path / "3"),
        FrameRequest(4, n - 30, n, tmp_path / "4"),
    ]
    res = sprites.run(v.path, 1, reqs, times, 30.0)
    assert [o.status for o in res.outcomes] == ["ok", "failed", "failed", "ok"]
    assert "outside the video" in (res.outcomes[1].error or "")
    assert "\n" not in (res.outcomes[1].error or "")
    assert not (tmp_path / "2").exists() and not (tmp_path / "3").exists()


def test_undecodable_frames_fail_their_clip(
    coded: tuple[Path, list[float]], tmp_path: Path
) -> None:
    path, times = coded
    cut = tmp_path / "truncated.mp4"
    data = path.read_bytes()
    cut.write_bytes(data[: len(data) * 2 // 3])
    reqs = [FrameRequest(1, 0, 60, tmp_path / "a"), FrameRequest(2, 200, 240, tmp_path / "b")]
    res = sprites.run(cut, 1, reqs, times, 30.0)
    assert [o.status for o in res.outcomes] == ["ok", "failed"]
    assert "could not decode" in (res.outcomes[1].error or "")
    assert not (tmp_path / "b").exists()


def test_unopenable_source_raises(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 1000)
    with pytest.raises(StageError):
        sprites.run(bad, 1, [FrameRequest(1, 0, 10, tmp_path)], [i / 30 for i in range(10)], 30.0)


def test_rerun_replaces_the_file(coded: tuple[Path, list[float]], tmp_path: Path) -> None:
    path, times = coded
    req = FrameRequest(1, 0, 30, tmp_path)
    sprites.run(path, 1, [req], times, 30.0, SpriteParams(quality=30))
    small = (tmp_path / "sprite.jpg").stat().st_size
    sprites.run(path, 1, [req], times, 30.0, SpriteParams(quality=95))
    assert (tmp_path / "sprite.jpg").stat().st_size > small
    assert [p.name for p in tmp_path.iterdir()] == ["sprite.jpg"]
