"""Image modes and the half-block renderer: pure functions, no terminal needed."""

from __future__ import annotations

import asyncio

import pytest
from PIL import Image
from textual.app import App
from textual.binding import Binding
from tuihome import ReviewHome

from heaters.tui.app import ReviewApp, action_enabled
from heaters.tui.images import (
    PALETTE_COLORS,
    UPPER_HALF,
    fit,
    half_block_lines,
    multiplexed,
    palette_of,
    resolve_mode,
)
from heaters.tui.launch import make_app
from heaters.tui.panels import Key, action_name, bar_keys, help_rows, key_text
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
        assert len(segments) == 1  # one run of one colour pair
        style = segments[0].style
        assert style is not None and style.color is not None and style.bgcolor is not None
        assert style.color.get_truecolor()[:3] == (255, 0, 0)
        assert style.bgcolor.get_truecolor()[:3] == (0, 0, 255)


def test_a_sheet_palette_makes_tiles_share_their_segments() -> None:
    """Two tiles of one sheet drawn with the sheet's palette reuse the same segment objects
    for the colour pairs they share (what keeps a redraw from making thousands of objects),
    and the colours stay close to the picture's."""
    width, height = 64, 36
    sheet = Image.new("RGB", (2 * width, height))
    for x in range(2 * width):
        for y in range(height):  # a gradient with some texture, two tiles side by side
            sheet.putpixel((x, y), ((x * 4) % 256, (y * 7) % 256, ((x ^ y) * 3) % 256))
    palette = palette_of(sheet)
    assert len(palette.getpalette() or []) // 3 <= PALETTE_COLORS
    box = fit(width, height, width, height // 2)
    left = half_block_lines(sheet.crop((0, 0, width, height)), box, palette=palette)
    again = half_block_lines(sheet.crop((0, 0, width, height)), box, palette=palette)
    segments = [s for line in left for s in line]
    assert {id(s) for line in again for s in line} == {id(s) for s in segments}
    for y, line in enumerate(left[:4]):  # every cell near its two source pixels
        x = 0
        for seg in line:
            assert seg.style is not None and seg.style.color and seg.style.bgcolor
            top = seg.style.color.get_truecolor()[:3]
            want = sheet.getpixel((x, 2 * y))
            assert max(abs(a - b) for a, b in zip(top, want, strict=True)) <= 48, (x, y)
            x += len(seg.text)


def keys_in(mode: str) -> list[Key]:
    """The key bar's entries in a mode, from the app's one BINDINGS list and its rules."""
    active = [
        b
        for b in Binding.make_bindings(ReviewApp.BINDINGS)
        if action_enabled(action_name(b.action), mode)
    ]
    return bar_keys(active, App[None]().get_key_display)


def test_key_bar_keeps_the_essential_keys_when_narrow() -> None:
    review = keys_in("review")
    wide = key_text(review, 120).plain
    assert "space play/pause" in wide and "p mpv" in wide
    narrow = key_text(review, 80).plain
    for word in ("approve", "skip", "archive", "merge", "group", "split", "undo", "help", "quit"):
        assert word in narrow
    assert len(narrow) <= 80
    split = key_text(keys_in("split"), 80).plain
    assert "enter split here" in split and "esc cancel" in split
    assert "approve" not in split  # decisions wait until split mode is left
    assert [k.label for k in keys_in("empty")] == ["undo", "find", "help", "quit"]
    tiny = key_text(review, 50).plain
    assert len(tiny) <= 50 and tiny.rstrip().endswith("? help q quit")
    assert "a approve" in tiny


def test_help_lists_every_binding_once() -> None:
    rows = help_rows(ReviewApp.BINDINGS, App[None]().get_key_display)
    keys = dict(rows)
    assert keys["u, ^z"].startswith("undo") and keys["enter"].startswith("split mode")
    assert keys["←→"].startswith("one tile back")
    texts = [text for _k, text in rows]
    assert len(texts) == len(set(texts))
    described = {b.tooltip for b in Binding.make_bindings(ReviewApp.BINDINGS)}
    assert set(texts) == described


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
