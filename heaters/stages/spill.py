"""Small arrays kept on disk instead of in memory, for passes over long videos.

The hybrid detector keeps a 48x27 thumbnail of every frame near a blend candidate until the end of
the pass, when the network judges them: on footage full of dissolves that is nearly every frame,
~4 KB each, ~0.9 GB for two hours of 30 fps. Kept here, they cost the page cache, not the
process's memory. Same values back, bit for bit.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, MutableMapping

import numpy as np


class SpilledArrays(MutableMapping[int, np.ndarray]):
    """A dict of equally shaped arrays by int key, the arrays in an unnamed temp file.

    Writes append (a key written again points at its new copy); reads are one `pread` each.
    """

    def __init__(self, folder: str | None = None) -> None:
        self._file = tempfile.TemporaryFile(dir=folder)  # noqa: SIM115 - closed in close()
        self._slots: dict[int, int] = {}
        self._shape: tuple[int, ...] | None = None
        self._dtype: np.dtype | None = None
        self._size = 0
        self._count = 0
        self._dirty = False

    def __setitem__(self, key: int, value: np.ndarray) -> None:
        if self._shape is None:
            self._shape, self._dtype, self._size = value.shape, value.dtype, value.nbytes
        elif value.shape != self._shape or value.dtype != self._dtype:
            raise ValueError(f"expected {self._shape} {self._dtype}, got {value.shape}")
        self._file.write(np.ascontiguousarray(value).tobytes())
        self._slots[key] = self._count
        self._count += 1
        self._dirty = True

    def __getitem__(self, key: int) -> np.ndarray:
        slot = self._slots[key]
        if self._dirty:
            self._file.flush()
            self._dirty = False
        data = os.pread(self._file.fileno(), self._size, slot * self._size)
        assert self._shape is not None
        return np.frombuffer(data, dtype=self._dtype).reshape(self._shape)

    def __delitem__(self, key: int) -> None:
        del self._slots[key]  # the bytes stay until close(): this is for passes, not caches

    def __contains__(self, key: object) -> bool:
        return key in self._slots

    def __iter__(self) -> Iterator[int]:
        return iter(self._slots)

    def __len__(self) -> int:
        return len(self._slots)

    def close(self) -> None:
        self._file.close()
