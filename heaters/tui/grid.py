"""Search results as a grid of thumbnails: one picture per clip with its id, score and label.

Shared by `heaters search` / `heaters similar` (printed once, when stdout is a terminal) and the
review app's find screen. A thumbnail is the clip's middle keyframe, else its sprite's middle tile
(`heaters.store.search.thumbs`); it is decoded at reduced size (JPEG draft mode), since a grid
cell is a few dozen characters wide. Images use the review screen's modes (`images.py`): half
blocks everywhere, tgp (Unicode placeholders, so they sit in table cells), sixel (drawn with
cursor moves, so one clip per row), or none (the text listing).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from PIL import Image
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.measure import Measurement
from rich.segment import Segment
from rich.table import Table
from rich.text import Text

from heaters.console import printable
from heaters.stages.tiles import TileStore
from heaters.store.search import Thumb
from heaters.tui.images import fit, half_block_lines

CELL_WIDTH = 24  # characters per thumbnail: a 16:9 picture is then 7 rows of half blocks
CELL_ROWS = 7
THUMB_PIXELS = 192  # decoded width: enough for tgp/sixel at this cell size, cheap for half blocks


def load_thumb(thumb: Thumb, width: int = THUMB_PIXELS) -> Image.Image | None:
    """The thumbnail as a small RGB image, or None when its file is gone or unreadable."""
    try:
        if thumb.frame is not None:  # a view into the video's tile store
            return _shrink(TileStore(thumb.path).image(thumb.frame, width), width)
        img = Image.open(thumb.path)
        if thumb.box is None:
            img.draft("RGB", (width, max(1, width * img.height // max(1, img.width))))
            return _shrink(img.convert("RGB"), width)
        left, top, right, bottom = thumb.box
        sheet_w, sheet_h = img.size
        scale = max(1, (right - left) // max(1, width))
        img.draft("RGB", (max(1, sheet_w // scale), max(1, sheet_h // scale)))
        sx, sy = img.width / sheet_w, img.height / sheet_h
        tile = img.convert("RGB").crop(
            (round(left * sx), round(top * sy), round(right * sx), round(bottom * sy))
        )
        return _shrink(tile, width)
    except (OSError, ValueError, IndexError, Image.DecompressionBombError):
        return None


def _shrink(img: Image.Image, width: int) -> Image.Image:
    if img.width <= width:
        return img
    height = max(1, round(img.height * width / img.width))
    return img.resize((width, height), Image.Resampling.BOX)


class HalfBlocks:
    """A Rich renderable: an image in `width` x `rows` cells of `▀`, aspect-true, top-aligned."""

    def __init__(self, image: Image.Image, width: int = CELL_WIDTH, rows: int = CELL_ROWS) -> None:
        self.image, self.width, self.rows = image, width, rows

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = min(self.width, options.max_width)
        box = fit(self.image.width, self.image.height, width, self.rows)
        strips = half_block_lines(self.image, box)
        for strip in strips:
            yield from strip
            pad = width - strip.cell_length
            if pad > 0:
                yield Segment(" " * pad)
            yield Segment.line()
        for _ in range(self.rows - len(strips)):
            yield Segment(" " * width)
            yield Segment.line()

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        width = min(self.width, options.max_width)
        return Measurement(width, width)


@dataclass(frozen=True)
class Caption:
    """The words under a thumbnail."""

    clip_id: int
    score: float  # percent
    label: str  # the clip's first tag, or why it has no picture
    mark: str = ""  # e.g. "pending" for a clip still waiting for review

    def text(self, width: int = CELL_WIDTH) -> Text:
        head = Text()
        head.append(f"#{self.clip_id}", style="bold")
        head.append(f" {self.score:.1f}%")
        if self.mark:
            head.append(f" {self.mark}", style="italic")
        head.truncate(width, overflow="ellipsis")
        label = Text(printable(self.label) or "-", style="dim")
        label.truncate(width, overflow="ellipsis")
        return Text("\n").join([head, label])


def caption_of(row: Mapping[str, Any]) -> Caption:
    """The caption of one result row as `heaters.store.search.describe` makes it."""
    tags = row.get("tags") or []
    label = str(tags[0][0]) if tags else ""
    return Caption(int(row["clip_id"]), float(row["score"]), label)


def picture(image: Image.Image | None, mode: str, width: int = CELL_WIDTH) -> RenderableType:
    """One thumbnail in `mode` (halfcell or tgp), or a blank box saying there is no picture."""
    if image is None:
        blank = Text("\n" * (CELL_ROWS // 2) + "(no picture)".center(width), style="dim italic")
        return Group(blank, Text("\n" * (CELL_ROWS - CELL_ROWS // 2 - 1)))
    if mode == "tgp":
        from textual_image.renderable import TGPImage

        return TGPImage(image, width=width)
    return HalfBlocks(image, width)


def grid(items: Sequence[tuple[Caption, Image.Image | None]], mode: str, total_width: int) -> Table:
    """Thumbnails with their captions in as many columns as `total_width` holds."""
    columns = max(1, (total_width + 2) // (CELL_WIDTH + 2))
    table = Table.grid(padding=(0, 2, 0, 0))
    for _ in range(min(columns, max(1, len(items)))):
        table.add_column(width=CELL_WIDTH, no_wrap=True)
    for lo in range(0, len(items), columns):
        row = items[lo : lo + columns]
        # pictures and captions on rows of their own: captions line up whatever the pictures'
        # heights (a graphics protocol sizes them by the terminal's cell size)
        table.add_row(*(picture(img, mode) for _cap, img in row))
        table.add_row(*(cap.text() for cap, _img in row))
        table.add_row()
    return table


def print_grid(
    console: Console, rows: Sequence[Mapping[str, Any]], thumbs: Mapping[int, Thumb], mode: str
) -> str:
    """What `heaters search` and `heaters similar` print to a terminal (mode != none); returns
    the mode it drew with: a graphics mode the terminal cannot size (no pixel size reported)
    falls back to half blocks rather than fail half-way."""
    if not rows:
        console.print("no results")
        return mode
    items = [(caption_of(r), _image(thumbs.get(int(r["clip_id"])))) for r in rows]
    if mode in ("tgp", "sixel"):
        try:
            with console.capture() as drawn:
                _draw(console, items, mode)
        except Exception:  # noqa: BLE001 - textual-image cannot size images here
            mode = "halfcell"
        else:
            console.file.write(drawn.get())
            console.file.flush()
            return mode
    _draw(console, items, mode)
    return mode


def _draw(console: Console, items: Sequence[tuple[Caption, Image.Image | None]], mode: str) -> None:
    if mode == "sixel":  # sixel images move the cursor: they cannot share a line
        from textual_image.renderable import SixelImage

        for cap, img in items:
            console.print(
                SixelImage(img, width=CELL_WIDTH) if img is not None else picture(None, mode)
            )
            console.print(cap.text(console.width))
        return
    console.print(grid(items, mode, console.width))


def _image(thumb: Thumb | None) -> Image.Image | None:
    return load_thumb(thumb) if thumb is not None else None


def clip_ids(rows: Iterable[Mapping[str, Any]]) -> list[int]:
    return [int(r["clip_id"]) for r in rows]
