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


_STYLES: dict[int, Style] = {}
_STYLE_CACHE_MAX = 1 << 16


def _style(key: int) -> Style:
    """One Style per (top, bottom) colour pair: building Styles is what makes half blocks slow."""
    style = _STYLES.get(key)
    if style is None:
        if len(_STYLES) >= _STYLE_CACHE_MAX:
            _STYLES.clear()
        top, bottom = key >> 24, key & 0xFFFFFF
        style = Style(
            color=Color.from_rgb(top >> 16, (top >> 8) & 0xFF, top & 0xFF),
            bgcolor=Color.from_rgb(bottom >> 16, (bottom >> 8) & 0xFF, bottom & 0xFF),
        )
        _STYLES[key] = style
    return style


def half_block_lines(tile: Image.Image, box: Fit, base: Style | None = None) -> list[Strip]:
    """The strips drawing `tile` scaled to `box`: one `▀` per two vertical pixels.

    Colours lose their two low bits (invisible at this size) so that colour pairs repeat and
    their Styles are shared; runs of one pair become one segment.
    """
    if box.width == 0:
        return []
    img = tile.convert("RGB").resize((box.width, box.rows * 2), Image.Resampling.BOX)
    px = np.asarray(img, dtype=np.uint64) & 0xFC
    rgb = (px[..., 0] << 16) | (px[..., 1] << 8) | px[..., 2]
    keys = (rgb[0::2] << 24) | rgb[1::2]  # (rows, width): top colour, bottom colour
    pad_style = base or Style()
    strips: list[Strip] = []
    for row in keys.tolist():
        segments = [Segment(" " * box.left, pad_style)] if box.left else []
        run_key, run = -1, 0
        for key in row:
            if key == run_key:
                run += 1
                continue
            if run:
                segments.append(Segment(UPPER_HALF * run, _style(run_key)))
            run_key, run = key, 1
        if run:
            segments.append(Segment(UPPER_HALF * run, _style(run_key)))
        strips.append(Strip(segments, box.left + box.width))
    return strips
