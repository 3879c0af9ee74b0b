"""One decode from `downloaded` to `pending_review`: sprites are views into the splice's tile store.

The proof that nothing decodes after the splice: the source file is renamed away, and merges and
splits still come back to review in the same `run --once`, their sprites showing their frames.
"""

from __future__ import annotations

import io
import shutil
import time
from pathlib import Path

import numpy as np
from rich.console import Console

from heaters.clipinfo import draw_sprite
from heaters.stages.tiles import TileStore
from heaters.store.home import Home
from heaters.synthetic import SyntheticVideo
from heaters.tui.sprite import SpriteSheet
from tests.conftest import cli
from tests.montage import MEDIA


def _clips(home: Path) -> dict[int, dict]:
    return {c["id"]: c for c in cli(home, "clips", "--json").json()}  # type: ignore[union-attr]


def _sprite(home: Path, clip_id: int) -> dict:
    report = cli(home, "show", str(clip_id), "--json").json()
    sprites = [a for a in report["artifacts"] if a["kind"] == "sprite"]  # type: ignore[index]
    assert len(sprites) == 1, sprites
    return sprites[0]


def test_merge_and_split_are_reviewable_without_decoding(home: Path, tmp_path: Path) -> None:
    video = tmp_path / "testvideo.mp4"
    shutil.copy(MEDIA / "testvideo.mp4", video)
    assert cli(home, "ingest", str(video)).code == 0
    res = cli(home, "run", "--quiet")
    assert res.code == 0, res.stderr
    clips = _clips(home)
    assert clips and all(c["state"] == "pending_review" for c in clips.values())
    store_rel = "media/sources/1/tiles.bin"
    store = TileStore(home / store_rel)
    assert store.count == 720  # one tile per decoded frame
    assert not (home / "media" / "clips").exists()  # no per-clip picture was drawn
    first = _sprite(home, 1)
    assert first["strategy"] == "tiles" and first["path"] == store_rel

    video.unlink()  # no decode from here on: the home's copy is the only one ...
    source = next((home / "media" / "sources" / "1").glob("*.mp4"))
    source.rename(source.with_suffix(".gone"))  # ... and it is gone too
    by_start = {c["start_frame"]: i for i, c in clips.items()}
    merged_into, split_me = by_start[180], by_start[396]
    assert cli(home, "review", "merge", str(merged_into)).code == 0
    assert cli(home, "review", "split", str(split_me), "--frame", "450").code == 0
    started = time.monotonic()
    res = cli(home, "run", "--once", "--grace", "0", "--json")
    took = time.monotonic() - started
    assert res.code == 0, res.stderr
    print(f"run --once (commit + sprite views, interpreter start included): {took:.2f} s")
    after = _clips(home)
    new = {i: c for i, c in after.items() if i not in clips}
    spans = sorted((c["start_frame"], c["end_frame"]) for c in new.values())
    assert spans == [(30, 214), (396, 450), (450, 544)]
    assert all(c["state"] == "pending_review" for c in new.values())
    for clip_id, c in new.items():
        art = _sprite(home, clip_id)
        assert art["strategy"] == "tiles" and art["path"] == store_rel
        sheet = SpriteSheet.from_meta(home / art["path"], art["metadata"])
        assert sheet.frames == list(range(c["start_frame"], c["end_frame"]))  # every frame
        k = sheet.tile_count // 2
        shown = np.asarray(sheet.tile(k))
        assert np.array_equal(shown, np.asarray(store.image(c["start_frame"] + k)))

    # `heaters show` draws a view like a sheet.
    console = Console(force_terminal=True, width=120, record=True, file=io.StringIO())
    report = {"artifacts": [_sprite(home, next(iter(new)))]}
    draw_sprite(console, Home(home), report)
    assert "▀" in console.export_text() or "▄" in console.export_text()

    # gc drops the superseded clips' rows, never the store their successors show; nor does undo.
    res = cli(home, "gc", "--json")
    assert res.code == 0, res.stderr
    assert store_rel not in res.json()["paths"]  # type: ignore[index]
    assert (home / store_rel).exists()
    assert cli(home, "review", "undo").code == 0  # the split: its two clips go
    assert cli(home, "review", "undo").code == 0  # the merge
    assert (home / store_rel).exists()
    assert cli(home, "run", "--once", "--grace", "0", "--quiet").code == 0
    back = _clips(home)
    assert all(back[i]["state"] == "pending_review" for i in clips)
    assert _sprite(home, merged_into)["path"] == store_rel
    assert cli(home, "gc", "--json").code == 0
    assert TileStore(home / store_rel).count == 720


def test_home_without_a_store_draws_sheets_from_the_source(
    home: Path, cut_video: SyntheticVideo
) -> None:
    assert cli(home, "ingest", str(cut_video.path)).code == 0
    assert cli(home, "run", "--quiet").code == 0
    (home / "media" / "sources" / "1" / "tiles.bin").unlink()  # spliced before stores existed
    before = set(_clips(home))
    # New clips (the changed ones: the same frames stay the same clip), back to `spliced`.
    assert cli(home, "resplice", "1", "--min-clip-s", "0").code == 0
    assert cli(home, "run", "--quiet").code == 0
    clips = _clips(home)
    assert all(c["state"] == "pending_review" for c in clips.values())
    new = set(clips) - before
    assert new
    for clip_id in new:
        art = _sprite(home, clip_id)
        assert art["strategy"] == "grid" and (home / art["path"]).name == "sprite.jpg"
        sheet = SpriteSheet.from_meta(home / art["path"], art["metadata"])
        assert sheet.tile(0).size == (sheet.tile_width, sheet.tile_height)


def test_what_you_review_is_what_you_export(home: Path, tmp_path: Path) -> None:
    """A phone video (display matrix: turn 90) is reviewed, embedded and exported the same way
    up: the tiles, the keyframes and the exported file all show the upright picture."""
    import subprocess

    from PIL import Image

    from heaters.synthetic import ffmpeg_exe

    ff = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y"]
    flat, phone = tmp_path / "flat.mp4", tmp_path / "phone.mp4"
    subprocess.run(
        [*ff, "-ss", "2", "-i", str(MEDIA / "testvideo.mp4"), "-frames:v", "45", "-an",
         "-vf", "scale=480:-2", "-c:v", "libx264", "-crf", "16", str(flat)],
        check=True,
    )  # fmt: skip
    subprocess.run(
        [*ff, "-display_rotation", "90", "-i", str(flat), "-c", "copy", str(phone)], check=True
    )
    assert cli(home, "ingest", str(phone)).code == 0
    assert cli(home, "run", "--quiet").code == 0
    (clip,) = _clips(home).values()
    art = _sprite(home, clip["id"])
    sheet = SpriteSheet.from_meta(home / art["path"], art["metadata"])
    assert sheet.tile_height > sheet.tile_width  # portrait, as a player shows it
    assert cli(home, "review", "approve", str(clip["id"])).code == 0
    assert cli(home, "run", "--quiet", "--grace", "0").code == 0
    report = cli(home, "show", str(clip["id"]), "--json").json()
    kf = next(a for a in report["artifacts"] if a["kind"] == "keyframe")  # type: ignore[index]
    out = tmp_path / "out"
    assert cli(home, "export", "--out", str(out), "--quiet").code == 0
    (exported,) = out.glob("*.mp4")
    import av

    with av.open(str(exported)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    picture = frames[kf["metadata"]["frame"] - clip["start_frame"]]
    assert picture.shape[0] > picture.shape[1]  # the export is upright too
    size = (sheet.tile_width, sheet.tile_height)

    def small(img: Image.Image) -> np.ndarray:
        return np.asarray(img.convert("RGB").resize(size), dtype=np.float32)

    want = small(Image.fromarray(picture))
    keyframe = small(Image.open(home / kf["path"]))
    tile = small(sheet.tile(sheet.frames.index(kf["metadata"]["frame"])))
    assert np.abs(keyframe - want).mean() < 8  # what the model sees = what is exported
    assert np.abs(tile - want).mean() < 8  # what review shows = what is exported
    assert np.abs(tile - want[::-1, ::-1]).mean() > 2 * np.abs(tile - want).mean()
