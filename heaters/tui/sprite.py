"""A clip's sprite sheet, read once and cut into tiles: the frames the review screen animates."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image


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
    _image: Image.Image | None = field(default=None, repr=False)
    _palette: Image.Image | None = field(default=None, repr=False)

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

            self._palette = palette_of(self.image)
        return self._palette

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
        """Tile `index` (clamped), cropped from the sheet at whatever scale it was decoded."""
        index = max(0, min(self.tile_count - 1, index))
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

    def frame(self, index: int) -> int | None:
        return self.frames[index] if 0 <= index < len(self.frames) else None

    def time(self, index: int) -> float | None:
        return self.times[index] if 0 <= index < len(self.times) else None
