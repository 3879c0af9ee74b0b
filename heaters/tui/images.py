"""How sprite tiles reach the terminal: mode selection and a half-block renderer of our own.

Graphics protocols (tgp, sixel) need terminal queries that must happen before Textual takes the tty,
and they do not survive tmux or ssh; half blocks (two pixel rows per character, foreground and
background colour) work in every terminal and are deterministic, so tests and snapshots use them.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image
from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

MODES = ("auto", "tgp", "sixel", "halfcell", "none")
GRAPHIC_MODES = ("tgp", "sixel")
UPPER_HALF = "\u2580"  # ▀: foreground paints the top pixel, background the bottom one


def multiplexed(env: Mapping[str, str]) -> bool:
    """Inside tmux/screen or over ssh graphics protocols are unreliable: use half blocks."""
    term = env.get("TERM", "")
    return bool(
        env.get("TMUX")
        or env.get("SSH_CONNECTION")
        or env.get("SSH_TTY")
        or term.startswith(("screen", "tmux"))
    )


def resolve_mode(
    requested: str, env: Mapping[str, str] | None = None, tty: bool | None = None
) -> str:
    """Turn `--images` into the mode to use; `auto` asks the terminal (before Textual starts)."""
    if requested not in MODES:
        raise ValueError(f"unknown image mode {requested!r} (one of {', '.join(MODES)})")
    if requested != "auto":
        if requested in GRAPHIC_MODES and not _prepare_textual_image():
            return "halfcell"  # the terminal cannot size images (no pixel size): half blocks
        return requested
    env = os.environ if env is None else env
    tty = bool(sys.__stdout__ and sys.__stdout__.isatty()) if tty is None else tty
    if not tty or multiplexed(env):
        return "halfcell"
    try:
        from textual_image import renderable
    except Exception:  # noqa: BLE001 - a broken optional renderer must not stop review
        return "halfcell"
    detected = {"SixelImage": "sixel", "TGPImage": "tgp"}.get(renderable.Image.__name__)
    if detected is None or not _prepare_textual_image():
        return "halfcell"
    return detected


def _prepare_textual_image() -> bool:
    """Importing the widget module queries the cell size: it must run before `App.run()`.
    False when that fails (a terminal that reports no pixel size divides by zero there)."""
    # its guesses (no pixel size reported: "assuming VT340 sizes") are logged with a traceback,
    # which Python's last-resort handler would print over the screen
    logging.getLogger("textual_image").addHandler(logging.NullHandler())
    try:
        import textual_image.renderable  # noqa: F401
        import textual_image.widget  # noqa: F401
    except Exception:  # noqa: BLE001 - a broken optional renderer must not stop anything
        return False
    return True


def graphic_widget_class(mode: str) -> Any:
    """The textual-image widget class for a graphics mode."""
    from textual_image import widget

    return {"tgp": widget.TGPImage, "sixel": widget.SixelImage}[mode]


@dataclass(frozen=True)
class Fit:
    """Where a tile lands in a box of cells: its size in pixels (two per cell row) and offsets."""

    width: int  # cells == pixels across
    height_px: int  # pixel rows (two per cell row)
    left: int  # blank cells before the image
    top: int  # blank cell rows above the image

    @property
    def rows(self) -> int:
        return (self.height_px + 1) // 2


def fit(tile_w: int, tile_h: int, cells_w: int, cells_h: int) -> Fit:
    """Largest aspect-true size of a tile inside `cells_w` x `cells_h` cells, centred."""
    if tile_w <= 0 or tile_h <= 0 or cells_w <= 0 or cells_h <= 0:
        return Fit(0, 0, 0, 0)
    scale = min(cells_w / tile_w, 2 * cells_h / tile_h)
    width = max(1, min(cells_w, round(tile_w * scale)))
    height_px = max(1, min(2 * cells_h, round(tile_h * scale)))
    rows = (height_px + 1) // 2
    return Fit(width, height_px, (cells_w - width) // 2, (cells_h - rows) // 2)


PALETTE_COLORS = 256  # per sprite sheet: colour pairs then repeat, so cells share their objects
_SEGMENTS: dict[tuple[int, int], Segment] = {}
_COLORS: dict[int, Color] = {}
_CACHE_MAX = 1 << 16


def palette_of(image: Image.Image) -> Image.Image:
    """One adaptive palette for a whole sprite sheet (a clip), as a "P" image for `quantize`.

    Drawn with a few hundred colours, a clip's cells keep meeting the same (top, bottom) pairs, so
    each pair's Style and Segment are made once and shared by every tile: a tile then costs a few
    lists, not thousands of new objects (building those, and the garbage collector walking them,
    was most of a redraw). At 2 pixels per cell the loss against full colour is hard to see.
    """
    return image.convert("RGB").quantize(
        PALETTE_COLORS, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE
    )


def _color(rgb: int) -> Color:
    color = _COLORS.get(rgb)
    if color is None:
        if len(_COLORS) >= _CACHE_MAX:
            _COLORS.clear()
        color = _COLORS[rgb] = Color.from_rgb(rgb >> 16, (rgb >> 8) & 0xFF, rgb & 0xFF)
    return color


def _segment(key: int, run: int) -> Segment:
    """`run` cells of one (top, bottom) colour pair, made once and shared."""
    segment = _SEGMENTS.get((key, run))
    if segment is None:
        if len(_SEGMENTS) >= _CACHE_MAX:
            _SEGMENTS.clear()
        style = Style.from_color(_color(key >> 24), _color(key & 0xFFFFFF))
        segment = _SEGMENTS[(key, run)] = Segment(UPPER_HALF * run, style)
    return segment


def half_block_lines(
    tile: Image.Image, box: Fit, base: Style | None = None, palette: Image.Image | None = None
) -> list[Strip]:
    """The strips drawing `tile` scaled to `box`: one `▀` per two vertical pixels.

    Colours come from `palette` (the sheet's, see `palette_of`; the tile's own if none), and a
    run of cells with one colour pair is one segment.
    """
    if box.width == 0:
        return []
    small = tile.convert("RGB").resize((box.width, box.rows * 2), Image.Resampling.BOX)
    indexed = small.quantize(
        palette=palette_of(small) if palette is None else palette, dither=Image.Dither.NONE
    )
    table = np.asarray(indexed.getpalette() or [0, 0, 0], dtype=np.int64).reshape(-1, 3)
    table = (table[:, 0] << 16) | (table[:, 1] << 8) | table[:, 2]
    rgb = table[np.asarray(indexed, dtype=np.intp)]
    keys = (rgb[0::2] << 24) | rgb[1::2]  # (rows, width): top colour, bottom colour
    width = box.width
    head = [Segment(" " * box.left, base or Style())] if box.left else []
    strips: list[Strip] = []
    for row in keys:
        starts = np.flatnonzero(np.diff(row, prepend=-1))  # where a new colour pair begins
        runs = np.diff(starts, append=width)
        segments = head + [
            _segment(k, n) for k, n in zip(row[starts].tolist(), runs.tolist(), strict=True)
        ]
        strips.append(Strip(segments, box.left + width))
    return strips
