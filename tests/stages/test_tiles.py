"""The tile store: one upright tile per decoded frame, made in the splice's own decode pass.

Checked on real media: every tile is its own frame (barcoded frames), phone-style rotation
matches FFmpeg's own autorotated output, non-square pixels keep their display aspect, and a
variable-frame-rate clip shows every one of its frames.
"""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import av
import numpy as np
import pytest
from framecode import decode_times, make_coded_video, read_code
from PIL import Image

from heaters.domain.results import FrameRequest
from heaters.domain.sampling import sprite_plan, view_plan
from heaters.stages import keyframes, splice, sprites, tiles
from heaters.stages.atomic import TEMP_PREFIX
from heaters.synthetic import ffmpeg_exe
from tests.montage import MEDIA

CONTENT = splice.SpliceParams(detector="content")


def make_store(video: Path, out: Path) -> tuple[tiles.TileStore, list[float]]:
    writer = tiles.TileWriter(out / tiles.TILES_FILE)
    result = splice.run(video, 1, CONTENT, sink=writer)
    writer.close()
    return tiles.TileStore(out / tiles.TILES_FILE), list(result.frame_times)


def rgb(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("RGB"), dtype=np.float32)


@pytest.mark.parametrize("frames", [90, 91])  # frames cross to the tile thread in threes
def test_every_tile_is_its_own_frame(tmp_path: Path, frames: int) -> None:
    video = tmp_path / "coded.mp4"
    make_coded_video(video, frames, gop=30)
    store, times = make_store(video, tmp_path)
    assert store.count == len(times) == frames
    assert [read_code(rgb(store.image(k))) for k in range(store.count)] == list(range(frames))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(TEMP_PREFIX)]


def test_splice_beside_the_store_measures_what_it_measures_alone(tmp_path: Path) -> None:
    # Beside a sink the splice decodes on one thread, alone with frame threads: the same
    # pictures, so the same scores and cuts (real footage with hard cuts and fades).
    video = MEDIA / "testvideo.mp4"
    alone = splice.run(video, 1, CONTENT)
    writer = tiles.TileWriter(tmp_path / tiles.TILES_FILE)
    beside = splice.run(video, 1, CONTENT, sink=writer)
    writer.close()
    assert np.array_equal(alone.scores, beside.scores, equal_nan=True)
    assert beside.cuts == alone.cuts and len(alone.cuts) >= 3
    assert tiles.TileStore(tmp_path / tiles.TILES_FILE).count == beside.frame_count


def test_store_is_published_whole_or_not_at_all(tmp_path: Path) -> None:
    video = tmp_path / "coded.mp4"
    make_coded_video(video, 30, gop=10)
    writer = tiles.TileWriter(tmp_path / tiles.TILES_FILE)
    splice.run(video, 1, CONTENT, sink=writer)
    assert not (tmp_path / tiles.TILES_FILE).exists()  # only a temp name until close()
    writer.abort()  # the splice failed after decoding
    assert list(tmp_path.iterdir()) == [video]
    store, _ = make_store(video, tmp_path)
    cut = tmp_path / "cut" / tiles.TILES_FILE
    cut.parent.mkdir()
    cut.write_bytes(store.path.read_bytes()[:-100])  # a damaged copy: no index
    assert tiles.TileStore.find(cut.parent) is None
    assert tiles.TileStore.find(tmp_path) is not None


@pytest.fixture(scope="module")
def rotated(tmp_path_factory: pytest.TempPathFactory) -> dict[int, tuple[Path, Path]]:
    """Per turn: a copy with a display matrix (`-display_rotation`, `-c copy`, as phones write
    it) and FFmpeg's own autorotated re-encode of it (the reference: what players show)."""
    d = tmp_path_factory.mktemp("rotated")
    base = d / "base.mp4"
    ff = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y"]
    subprocess.run(
        [*ff, "-ss", "2", "-i", str(MEDIA / "testvideo.mp4"), "-frames:v", "40", "-an",
         "-vf", "scale=480:-2", "-c:v", "libx264", "-crf", "16", str(base)],
        check=True,
    )  # fmt: skip
    out = {}
    for turn in (90, 180, 270):
        phone, auto = d / f"rot{turn}.mp4", d / f"auto{turn}.mp4"
        subprocess.run(
            [*ff, "-display_rotation", str(turn), "-i", str(base), "-c", "copy", str(phone)],
            check=True,
        )
        subprocess.run(
            [*ff, "-i", str(phone), "-c:v", "libx264", "-crf", "12", str(auto)], check=True
        )
        out[turn] = (phone, auto)
    return out


@pytest.mark.parametrize("turn", [90, 180, 270])
def test_rotated_video_is_upright_everywhere(
    rotated: dict[int, tuple[Path, Path]], turn: int, tmp_path: Path
) -> None:
    phone, auto = rotated[turn]
    with av.open(str(phone)) as c:
        assert tiles.upright_degrees(next(c.decode(video=0)).rotation) == turn
    # Tiles (what review shows and sprite views cut from).
    mine, times = make_store(phone, tmp_path / "phone")
    ref, _ = make_store(auto, tmp_path / "auto")
    assert (mine.tile_width, mine.tile_height) == (ref.tile_width, ref.tile_height)
    if turn != 180:
        assert mine.tile_height > mine.tile_width  # portrait, like the autorotated file
    for k in (0, 20, 39):
        a, b = rgb(mine.image(k)), rgb(ref.image(k))
        assert np.abs(a - b).mean() < 6, k  # same picture, same way up
        assert np.abs(a - b[::-1, ::-1]).mean() > 3 * np.abs(a - b).mean()
    # Keyframes (what the embedding model sees) and per-clip sheets (homes without a store).
    req = [FrameRequest(1, 0, 40, tmp_path / "kp")], [FrameRequest(1, 0, 40, tmp_path / "ka")]
    keyframes.run(phone, 1, req[0], times)
    keyframes.run(auto, 1, req[1], times)
    a = rgb(Image.open(tmp_path / "kp" / "kf_50.jpg"))
    b = rgb(Image.open(tmp_path / "ka" / "kf_50.jpg"))
    assert a.shape == b.shape and np.abs(a - b).mean() < 6
    sprites.run(phone, 1, [FrameRequest(1, 0, 40, tmp_path / "sp")], times, 30.0)
    sprites.run(auto, 1, [FrameRequest(1, 0, 40, tmp_path / "sa")], times, 30.0)
    a = rgb(Image.open(tmp_path / "sp" / sprites.SPRITE_FILE))
    b = rgb(Image.open(tmp_path / "sa" / sprites.SPRITE_FILE))
    assert a.shape == b.shape and np.abs(a - b).mean() < 6


def test_non_square_pixels_keep_their_display_aspect(tmp_path: Path) -> None:
    path = MEDIA / "issue-195-aspect-ratio.mp4"
    store, times = make_store(path, tmp_path)
    assert (store.tile_width, store.tile_height) == (320, 180)  # 16:11 pixels, shown 16:9
    assert store.count == len(times)
    assert Image.open(io.BytesIO(store.jpeg(len(times) - 1))).size == (320, 180)


def test_variable_frame_rate_clip_shows_every_frame(tmp_path: Path) -> None:
    path = MEDIA / "goldeneye-vfr-drop3.mp4"
    store, times = make_store(path, tmp_path)
    assert times == decode_times(path)
    assert store.count == len(times)  # a tile for every decoded frame
    with av.open(str(path)) as c:
        fps = float(c.streams.video[0].average_rate)  # ~16: frames of 1/24 s and 2/24 s
    start = 100
    frames, shown_times, _rate, sparse = view_plan(start, start + 20, fps=fps, frame_times=times)
    assert frames == tuple(range(start, start + 20)) and not sparse
    assert list(shown_times) == times[start : start + 20]
    # The per-clip sheets sampled by time at the average rate, and lost frames on this footage.
    old = sprite_plan(start, start + 20, fps=fps, width=320, height=180, frame_times=times)
    assert len(old.frames) < 20
    res = sprites.views(store, 1, [FrameRequest(7, start, start + 20, tmp_path)], times, fps)
    (art,) = res.outcomes[0].artifacts
    assert art.metadata["frames"] == list(range(start, start + 20))
    assert art.metadata["tile_count"] == 20 and art.path == store.path.resolve()


def test_long_clip_view_is_evenly_sampled() -> None:
    times = [i / 30 for i in range(3000)]
    frames, _t, rate, sparse = view_plan(0, 3000, fps=30.0, frame_times=times, max_tiles=900)
    assert sparse and len(frames) == 900
    gaps = np.diff(frames)
    assert gaps.min() >= 3 and gaps.max() <= 4
    assert rate == pytest.approx(900 / 100.0)
