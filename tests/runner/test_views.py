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
    assert cli(home, "resplice", "1", "--min-clip-s", "0").code == 0  # clips back to `spliced`
    assert cli(home, "run", "--quiet").code == 0
    clips = _clips(home)
    assert all(c["state"] == "pending_review" for c in clips.values())
    for clip_id in clips:
        art = _sprite(home, clip_id)
        assert art["strategy"] == "grid" and (home / art["path"]).name == "sprite.jpg"
        sheet = SpriteSheet.from_meta(home / art["path"], art["metadata"])
        assert sheet.tile(0).size == (sheet.tile_width, sheet.tile_height)
