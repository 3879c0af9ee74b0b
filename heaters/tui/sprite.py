"""A clip's sprite, tile by tile: the frames the review screen animates.

Two layouts: a view into the video's tile store (`layout: tiles`; tile i is the store's tile for
source frame `frames[i]`, decoded when first shown), or a per-clip JPEG sheet (older homes), read
once and cut into tiles.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from heaters.stages.tiles import TileStore

PALETTE_TILES = 16  # tiles of a view its palette is made from
CACHE_TILES = 240  # decoded tiles kept per sprite (320x180 RGB: ~170 KB each at most)


@dataclass
class SpriteSheet:
    """Tiles of one clip with the absolute source frame and time of each."""

    path: Path
    tile_width: int
    tile_height: int
    columns: int
    tile_count: int
    fps: float
    frames: list[int]
    times: list[float]
    sparse: bool = False
    min_tile_width: int | None = None  # decode at reduced scale when only this much is needed
    layout: str = "grid"  # "grid": a sheet at `path`; "tiles": a view into the store at `path`
    _image: Image.Image | None = field(default=None, repr=False)
    _palette: Image.Image | None = field(default=None, repr=False)
    _store: TileStore | None = field(default=None, repr=False)
    _cache: dict[int, Image.Image] = field(default_factory=dict, repr=False)

    @classmethod
    def from_meta(
        cls, path: Path, meta: Mapping[str, Any], min_tile_width: int | None = None
    ) -> SpriteSheet:
        count = int(meta.get("tile_count") or len(meta.get("frames") or []))
        frames = [int(f) for f in meta.get("frames") or []][:count]
        times = [float(t) for t in meta.get("times") or []][:count]
        return cls(
            path=path,
            tile_width=int(meta["tile_width"]),
            tile_height=int(meta["tile_height"]),
            columns=max(1, int(meta.get("columns") or 1)),
            tile_count=count,
            fps=float(meta.get("fps") or 12.0),
            frames=frames,
            times=times,
            sparse=bool(meta.get("sparse", False)),
            min_tile_width=min_tile_width,
            layout=str(meta.get("layout") or "grid"),
        )

    @property
    def image(self) -> Image.Image:
        """The decoded sheet; JPEG's DCT scaling keeps a tall sheet cheap when half blocks suffice."""
        if self._image is None:
            img = Image.open(self.path)
            if self.min_tile_width and self.min_tile_width < self.tile_width:
                factor = self.min_tile_width / self.tile_width
                img.draft(
                    "RGB", (max(1, int(img.width * factor)), max(1, int(img.height * factor)))
                )
            self._image = img.convert("RGB")
        return self._image

    @property
    def palette(self) -> Image.Image:
        """The sheet's half-block palette (`images.palette_of`), made once per sheet."""
        if self._palette is None:
            from heaters.tui.images import palette_of

            self._palette = palette_of(self.image if self.layout != "tiles" else self._sample())
        return self._palette

    def _sample(self) -> Image.Image:
        """A view's tiles spread over the clip, side by side: what its palette is made from
        (a view has no sheet; the palette needs only the clip's colours)."""
        count = max(1, min(PALETTE_TILES, self.tile_count))
        picks = sorted({round(i * (self.tile_count - 1) / max(1, count - 1)) for i in range(count)})
        tiles = [self.tile(i) for i in picks]
        strip = Image.new("RGB", (sum(t.width for t in tiles), max(t.height for t in tiles)))
        x = 0
        for t in tiles:
            strip.paste(t, (x, 0))
            x += t.width
        return strip

    @property
    def prepared(self) -> bool:
        """Decoded and with its palette: showing a tile costs no decoding."""
        return self._palette is not None

    def prepare(self) -> SpriteSheet:
        """Decode the sheet and make its palette now (both release the GIL: call it from a
        worker thread so the screen never waits for them)."""
        _ = self.palette
        return self

    def tile(self, index: int) -> Image.Image:
        """Tile `index` (clamped): from the store, or cropped from the sheet at whatever scale
        it was decoded."""
        index = max(0, min(self.tile_count - 1, index))
        if self.layout == "tiles":
            return self._store_tile(index)
        img = self.image
        rows = -(-self.tile_count // self.columns)
        sx = img.width / (self.columns * self.tile_width)
        sy = img.height / (rows * self.tile_height)
        col, row = index % self.columns, index // self.columns
        box = (
            round(col * self.tile_width * sx),
            round(row * self.tile_height * sy),
            round((col + 1) * self.tile_width * sx),
            round((row + 1) * self.tile_height * sy),
        )
        return img.crop(box)

    def _store_tile(self, index: int) -> Image.Image:
        cached = self._cache.get(index)
        if cached is not None:
            return cached
        try:
            if self._store is None:
                self._store = TileStore(self.path)
            img = self._store.image(self.frames[index], self.min_tile_width)
        except (OSError, ValueError, IndexError):  # a damaged or replaced store: a grey tile
            return Image.new("RGB", (self.tile_width, self.tile_height), (96, 96, 96))
        if len(self._cache) >= CACHE_TILES:
            self._cache.pop(next(iter(self._cache)))
        self._cache[index] = img
        return img

    def frame(self, index: int) -> int | None:
        return self.frames[index] if 0 <= index < len(self.frames) else None

    def time(self, index: int) -> float | None:
        return self.times[index] if 0 <= index < len(self.times) else None
