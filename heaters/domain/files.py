"""The names heaters gives files in a home's media folder, in one place: the stages write them,
the runner and the review read them, gc keeps or frees them by these names."""

from __future__ import annotations

import uuid

TEMP_PREFIX = (
    ".tmp-"  # every temp name in the home starts so; gc frees old ones, nothing reads them
)
FRAME_TIMES = "frames.npy"  # beside a spliced source: the time (s) of every decoded frame
SCORES = "scores.npy"  # beside a spliced source: per-frame scores (heaters.domain.scenes.COLUMNS)
TILES = "tiles.bin"  # beside a spliced source: one small tile per decoded frame (sprite views)


def temp_name(final_name: str = "") -> str:
    """A fresh temp name for a file that will be renamed to `final_name` in the same folder."""
    return f"{TEMP_PREFIX}{uuid.uuid4().hex}{'-' if final_name else ''}{final_name}"


def is_temp(name: str) -> bool:
    return name.startswith(TEMP_PREFIX)
