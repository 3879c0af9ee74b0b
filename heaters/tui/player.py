"""The sprite player: a clip's tiles as an animation at the sprite's fps, steppable tile by tile.

It only shows; the app decides what a tile means (the split frame). Half blocks are drawn with
Textual's line API from strips cached per tile, so playback costs one lookup per row and frame.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.filter import ANSIToTruecolor
from textual.geometry import Region
from textual.message import Message
from textual.strip import Strip
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Static

from heaters.tui.images import fit, graphic_widget_class, half_block_lines
from heaters.tui.sprite import SpriteSheet

CACHED_TILES = 240  # ~10 s of playback; ~150 KB each at 120 columns
WARM_TILES = 8  # of the next clip, built before it is shown (a third of a second of playback)
SPEEDS = (1.0, 1.5, 2.0)  # playback speed steps (`x` cycles them), as the original player had


def tile_lines(
    sheet: SpriteSheet, index: int, width: int, height: int, style: Style
) -> list[Strip]:
    """Tile `index` of `sheet` as full-width strips for a `width` x `height` view (no widget
    state: a worker thread may call it)."""
    box = fit(sheet.tile_width, sheet.tile_height, width, height)
    lines = half_block_lines(sheet.tile(index), box, style, sheet.palette)
    return [line.extend_cell_length(width, style) for line in lines]


class HalfBlockView(Widget):
    """One tile drawn with `▀` cells, aspect-true in whatever space it gets (top, centred across)."""

    DEFAULT_CSS = """
    HalfBlockView { width: 1fr; height: 1fr; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._sheet: SpriteSheet | None = None
        self._index = 0
        self._cache: dict[tuple[int, int, int, int], tuple[int, list[Strip]]] = {}
        self._sheets: dict[int, SpriteSheet] = {}
        self._blank: Strip | None = None

    def show(self, sheet: SpriteSheet | None, index: int) -> None:
        self._sheet, self._index = sheet, index
        self.refresh()

    def warmer(self) -> Callable[[SpriteSheet], Callable[[], None]]:
        """Build a clip's first tiles ahead of time on a worker thread (the next clip, while
        the operator looks at this one): call the result there with the sheet, and what that
        returns on the UI thread to keep the rows. Showing the clip then costs lookups."""
        width, height = self.size
        style = self.rich_style

        def build(sheet: SpriteSheet) -> Callable[[], None]:
            first = range(min(WARM_TILES, sheet.tile_count))
            built = [(i, tile_lines(sheet, i, width, height, style)) for i in first]

            def keep() -> None:
                if self.size == (width, height):
                    for i, lines in built:
                        self._keep((id(sheet), i, width, height), sheet, lines)

            return keep

        return build

    def _lines(self) -> tuple[int, list[Strip]]:
        """The tile's rows as full-width strips, built once per (sheet, tile, size): a redraw is
        then a lookup per row, and Textual's per-strip filter cache keeps working across frames."""
        if self._sheet is None:
            return 0, []
        return self._build(self._sheet, self._index)

    def _build(self, sheet: SpriteSheet, index: int) -> tuple[int, list[Strip]]:
        width, height = self.size
        if sheet.tile_count == 0 or width == 0 or height == 0:
            return 0, []
        key = (id(sheet), index, width, height)
        cached = self._cache.get(key)
        if cached is None:
            cached = self._keep(
                key, sheet, tile_lines(sheet, index, width, height, self.rich_style)
            )
        return cached

    def _keep(
        self, key: tuple[int, int, int, int], sheet: SpriteSheet, lines: list[Strip]
    ) -> tuple[int, list[Strip]]:
        if len(self._cache) >= CACHED_TILES:
            self._cache.pop(next(iter(self._cache)))  # oldest first: bounded memory
        self._sheets[id(sheet)] = sheet  # keeps id(sheet) from being reused while cached
        cached = self._cache[key] = (0, lines)
        return cached

    def render_lines(self, crop: Region) -> list[Strip]:
        """The cached rows themselves, past Textual's per-line pass.

        That pass rebuilds every row of a repainted widget (borders, padding, tint: none here)
        and runs the ANSI-to-truecolor filter over every segment (every colour here is
        truecolor already): ~4,000 new segments per frame at 160x48. Handing over the cached
        strips instead lets each row's terminal text be made once per tile and reused each time
        the tile comes round. Other filters (NO_COLOR, dim) still apply, cached per strip.
        """
        strips = [self.render_line(y) for y in crop.line_range]
        filters = [f for f in self.app.get_line_filters() if not isinstance(f, ANSIToTruecolor)]
        if filters:
            background = self.background_colors[1]
            for f in filters:
                strips = [strip.apply_filter(f, background) for strip in strips]
        x1, x2 = crop.column_span
        if (x1, x2) != (0, self.size.width):
            strips = [strip.crop(x1, x2) for strip in strips]
        return strips

    def render_line(self, y: int) -> Strip:
        top, lines = self._lines()
        if top <= y < top + len(lines):
            return lines[y - top]
        if self._blank is None or self._blank.cell_length != self.size.width:
            self._blank = Strip.blank(self.size.width, self.rich_style)
        return self._blank


class SpritePlayer(Vertical):
    """Image (half blocks, a graphics protocol, or none) plus a status line; owns the timer."""

    DEFAULT_CSS = """
    SpritePlayer { height: 1fr; }
    SpritePlayer > #tile-view { height: 1fr; width: 1fr; }
    SpritePlayer > .graphic { width: auto; height: auto; }
    SpritePlayer > #no-image { height: 1fr; content-align: center middle; color: $text-muted; }
    SpritePlayer > #tile-status { height: 1; color: $text-muted; }
    """

    class Moved(Message):
        """The shown tile changed (the app keeps its split prompt in step)."""

        def __init__(self, index: int, frame: int | None) -> None:
            super().__init__()
            self.index = index
            self.frame = frame

    def __init__(self, mode: str = "halfcell", autoplay: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mode = mode
        self.autoplay = autoplay
        self.sheet: SpriteSheet | None = None
        self.index = 0
        self.playing = False
        self.speed = SPEEDS[0]  # kept from clip to clip
        self._timer: Timer | None = None
        self._loading = False

    def compose(self) -> ComposeResult:
        yield Static(id="tile-status")
        if self.mode == "halfcell":
            yield HalfBlockView(id="tile-view")
        elif self.mode in ("tgp", "sixel"):
            yield graphic_widget_class(self.mode)(id="tile-view", classes="graphic")
        else:
            yield Static("images off (--images none)", id="no-image")

    @property
    def frame(self) -> int | None:
        return self.sheet.frame(self.index) if self.sheet else None

    def warmer(self) -> Callable[[SpriteSheet], Callable[[], None]]:
        """`HalfBlockView.warmer` (half blocks only; otherwise nothing to prepare)."""
        view = self.query_one("#tile-view") if self.mode == "halfcell" else None
        if isinstance(view, HalfBlockView):
            return view.warmer()
        return lambda _sheet: lambda: None

    def wait_for_sheet(self) -> None:
        """Between clips while the next sheet is decoded (a few ms to a few tens of ms)."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self.sheet, self.index, self.playing, self._loading = None, 0, False, True
        self._show()

    def load(self, sheet: SpriteSheet | None) -> None:
        """Show a new clip from its first tile; playing if autoplay is on."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self.sheet = sheet
        self.index = 0
        self.playing = False
        self._loading = False
        if sheet is not None and sheet.tile_count > 0:
            self._start_timer()
            if self.autoplay:
                self.play()
        self._show()

    def _start_timer(self) -> None:
        assert self.sheet is not None
        fps = max(1.0, min(self.sheet.fps * self.speed, 60.0))
        self._timer = self.set_interval(1 / fps, self._tick, pause=True)

    def cycle_speed(self) -> float:
        """1x → 1.5x → 2x → 1x; playback goes on at the new speed."""
        self.speed = SPEEDS[(SPEEDS.index(self.speed) + 1) % len(SPEEDS)]
        if self._timer is not None:
            self._timer.stop()
            self._start_timer()
            if self.playing:
                assert self._timer is not None
                self._timer.resume()
        self._show()
        return self.speed

    def _tick(self) -> None:
        if self.sheet is not None and self.playing:
            self.index = (self.index + 1) % self.sheet.tile_count
            self._show()

    def play(self) -> None:
        if self._timer is None:
            return
        self.playing = True
        self._timer.resume()
        self._show()

    def pause(self) -> None:
        self.playing = False
        if self._timer is not None:
            self._timer.pause()
        self._show()

    def toggle(self) -> None:
        if self.playing:
            self.pause()
        else:
            self.play()

    def step(self, delta: int) -> None:
        """Move by `delta` tiles (clamped at both ends) and stay paused there."""
        self.pause()
        if self.sheet is None or self.sheet.tile_count == 0:
            return
        self.index = max(0, min(self.sheet.tile_count - 1, self.index + delta))
        self._show()

    def _show(self) -> None:
        sheet = self.sheet
        view = self.query_one("#tile-view") if self.mode != "none" else None
        if isinstance(view, HalfBlockView):
            view.show(sheet, self.index)
        elif view is not None:
            view.image = sheet.tile(self.index) if sheet else None  # type: ignore[attr-defined]
        # One fixed line: no layout pass for the whole screen on every frame of playback.
        self.query_one("#tile-status", Static).update(self.status_text(), layout=False)
        self.post_message(self.Moved(self.index, self.frame))

    def status_text(self) -> Text:
        sheet = self.sheet
        if sheet is None:
            return Text(
                "loading tiles…" if self._loading else "no sprite for this clip", style="italic"
            )
        mark = "▶" if self.playing else "❚❚"
        text = Text.assemble(
            (f"{mark} ", "bold"),
            f"tile {self.index + 1}/{sheet.tile_count}",
        )
        frame = sheet.frame(self.index)
        if frame is not None:
            text.append("  frame ")
            text.append(str(frame), style="bold")
        at = sheet.time(self.index)
        if at is not None:
            text.append(f"  {at:.2f} s")
        speed = f"{self.speed:g}x"
        text.append(f"  {speed}", style="bold" if self.speed != 1.0 else "")
        text.append(f"  ({sheet.fps:g} fps{', sparse' if sheet.sparse else ''})")
        return text
