"""Image modes and the half-block renderer: pure functions, no terminal needed."""

from __future__ import annotations

import asyncio

import pytest
from PIL import Image
from tuihome import ReviewHome

from heaters.tui.images import UPPER_HALF, fit, half_block_lines, multiplexed, resolve_mode
from heaters.tui.launch import make_app
from heaters.tui.panels import REVIEW_KEYS, SPLIT_KEYS, key_text
from heaters.tui.player import SpritePlayer


def test_auto_picks_half_blocks_without_a_graphics_terminal() -> None:
    assert resolve_mode("auto", env={}, tty=False) == "halfcell"  # tests, pipes
    assert resolve_mode("auto", env={"TMUX": "/tmp/tmux-0/default,1,0"}, tty=True) == "halfcell"
    assert resolve_mode("auto", env={"SSH_CONNECTION": "10.0.0.1 1 10.0.0.2 22"}, tty=True) == (
        "halfcell"
    )
    assert multiplexed({"TERM": "screen-256color"})
    assert not multiplexed({"TERM": "xterm-kitty"})


def test_explicit_modes_are_kept_and_unknown_ones_refused() -> None:
    for mode in ("halfcell", "none", "tgp", "sixel"):
        assert resolve_mode(mode, env={}, tty=False) == mode
    with pytest.raises(ValueError, match="unknown image mode"):
        resolve_mode("ascii")


def test_fit_keeps_the_aspect_and_stays_inside_the_box() -> None:
    box = fit(320, 180, 80, 40)  # width-bound: 80 cells, 45 pixel rows
    assert (box.width, box.height_px, box.rows) == (80, 45, 23)
    box = fit(320, 180, 200, 10)  # height-bound: 20 pixel rows
    assert (box.height_px, box.rows) == (20, 10) and box.width == 36
    assert box.left == (200 - 36) // 2
    assert fit(320, 180, 0, 10).width == 0


def test_half_blocks_paint_top_pixel_as_foreground_and_bottom_as_background() -> None:
    tile = Image.new("RGB", (4, 4), (255, 0, 0))
    for x in range(4):
        for y in (1, 3):
            tile.putpixel((x, y), (0, 0, 255))
    lines = half_block_lines(tile, fit(4, 4, 4, 2))
    assert len(lines) == 2
    for strip in lines:
        assert strip.cell_length == 4
        segments = list(strip)
        assert "".join(s.text for s in segments) == UPPER_HALF * 4
        style = segments[0].style
        assert style is not None and style.color is not None and style.bgcolor is not None
        assert style.color.get_truecolor()[:3] == (252, 0, 0)  # two low bits dropped
        assert style.bgcolor.get_truecolor()[:3] == (0, 0, 252)


def test_key_bar_keeps_the_essential_keys_when_narrow() -> None:
    wide = key_text(REVIEW_KEYS, 120).plain
    assert "space play/pause" in wide and "p mpv" in wide
    narrow = key_text(REVIEW_KEYS, 80).plain
    for word in ("approve", "skip", "archive", "merge", "group", "split", "undo", "help", "quit"):
        assert word in narrow
    assert len(narrow) <= 80
    assert "enter split here" in key_text(SPLIT_KEYS, 80).plain
    tiny = key_text(REVIEW_KEYS, 50).plain
    assert len(tiny) <= 50 and tiny.rstrip().endswith("? help q quit") and "a approve" in tiny


def test_images_none_shows_text_only(review_home: ReviewHome) -> None:
    app = make_app(review_home.store(), review_home.settings, images="none", autoplay=False,
                   refresh_s=0)  # fmt: skip

    async def main() -> None:
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            assert not app.query("HalfBlockView")
            assert app.query_one("#no-image").display
            await pilot.press("right")
            player = app.query_one(SpritePlayer)
            assert player.index == 1 and player.frame is not None
            assert f"frame {player.frame}" in str(app.query_one("#tile-status").content)

    asyncio.run(main())


def test_graphics_mode_feeds_tiles_to_textual_image(review_home: ReviewHome) -> None:
    app = make_app(review_home.store(), review_home.settings, images="tgp", autoplay=False,
                   refresh_s=0)  # fmt: skip

    async def main() -> None:
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            view = app.query_one("#tile-view")
            assert type(view).__name__ == "TGPImage"
            first = view.image  # type: ignore[attr-defined]
            assert isinstance(first, Image.Image) and first.size[0] > 0
            await pilot.press("right")
            assert view.image is not first  # type: ignore[attr-defined]

    asyncio.run(main())
