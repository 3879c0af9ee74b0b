"""What one exported file holds: a clip or a group, as frame ranges of a source.

Planned by the store (which clips), cut by the export stage (how): a plain value both can import.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

Segment = tuple[int, int, float, float]  # (start_frame, end_frame, start_time_s, end_time_s)


@dataclass(frozen=True)
class ExportItem:
    """One output file: a clip `[start_frame, end_frame)` of `source`, or a group.

    A non-contiguous group lists its parts in `segments` (joined in the given order); then
    start/end describe the whole group (first start, last end) and only `segments` is cut.
    """

    key: str  # what the caller calls it ("clip 12", "group 12+13"): reported back as is
    source: Path
    start_frame: int
    end_frame: int  # exclusive
    start_time_s: float
    end_time_s: float
    out_path: Path
    segments: tuple[Segment, ...] = ()

    @property
    def parts(self) -> tuple[Segment, ...]:
        """The frame ranges to cut, in output order; touching ranges are joined into one."""
        raw = self.segments or (
            (self.start_frame, self.end_frame, self.start_time_s, self.end_time_s),
        )
        merged: list[Segment] = []
        for seg in raw:
            if merged and merged[-1][1] == seg[0]:
                a, _, ta, _ = merged[-1]
                merged[-1] = (a, seg[1], ta, seg[3])
            else:
                merged.append(tuple(seg))  # type: ignore[arg-type]
        return tuple(merged)

    @property
    def frame_count(self) -> int:
        return sum(b - a for a, b, _, _ in self.parts)


__all__ = ["ExportItem", "Segment"]
