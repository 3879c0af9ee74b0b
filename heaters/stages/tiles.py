"""Tile store: one small upright JPEG per decoded frame, made during the splice's decode pass.

Why: the review screen needs pictures of a clip's frames, and so do the clips a merge or split
makes later. Drawing them from the splice's own decoded frames means one decode from
`downloaded` to `pending_review`, and sprites for any range of frames (a merge, a split, a
resplice) are views into this store: no decode, no source file needed.

A `TileWriter` is a consumer of decoded frames (`add(frame)` per frame, in decode order): it
scales each frame to the tile size at the picture's display aspect (sample aspect ratio applied)
and turns it upright by the display matrix (phone footage), as players and `heaters export` show
it. Scaling (swscale), turning and JPEG encoding (libjpeg-turbo, from the YUV planes) run on one
worker thread, beside the decoder and the detector.

File layout (`media/sources/<id>/tiles.bin`, written under a temp name and renamed when complete):
`MAGIC`, the JPEG tiles back to back, then the index (count + 1 little-endian uint64 offsets),
the metadata (JSON), and a 20-byte trailer: `TRAILER_MAGIC`, the index offset (uint64) and the
metadata length (uint64). Tile k is decoded frame k of the video stream.
"""

from __future__ import annotations

import array
import io
import json
import os
import queue
import struct
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from heaters import faults
from heaters.domain.files import TILES
from heaters.stages.atomic import TEMP_PREFIX

if TYPE_CHECKING:
    import av

TILES_FILE = TILES  # media/sources/<id>/tiles.bin
MAGIC = b"HTILES01"
TRAILER_MAGIC = b"HTIX"
_TRAILER = struct.Struct("<4sQQ")
QUEUE_FRAMES = 6  # decoded frames waiting for the tile thread (each holds a decoder picture)
HANDOFF = 3  # frames handed to the tile thread at a time (each crossing wakes it: a futex, the GIL)


@dataclass(frozen=True)
class TileParams:
    """Tile size and JPEG quality. `size` bounds the longer side of the displayed picture."""

    size: int = 320
    quality: int = 75


def upright_degrees(rotation: float | int | None) -> int:
    """The display matrix's counter-clockwise turn (PyAV's `frame.rotation`), as 0/90/180/270."""
    if not rotation:
        return 0
    return int(round(float(rotation) / 90.0)) % 4 * 90


def display_size(width: int, height: int, sar: Any, rotation: int) -> tuple[int, int]:
    """What a player shows for a coded `width` x `height` picture: the sample aspect ratio
    applied to the width, then turned by `rotation` degrees."""
    dw = float(width)
    try:
        if sar is not None and sar.numerator > 0 and sar.denominator > 0:
            dw = width * float(sar)
    except (AttributeError, ZeroDivisionError):
        pass
    if rotation in (90, 270):
        return height, max(1, round(dw))
    return max(1, round(dw)), height


def tile_size(display_w: int, display_h: int, size: int) -> tuple[int, int]:
    """The tile's (width, height): the longer side `size`, the other at the display aspect, both
    even (JPEG chroma)."""

    def even(x: float) -> int:
        return max(2, 2 * round(x / 2))

    if display_w >= display_h:
        return even(size), even(size * display_h / display_w)
    return even(size * display_w / display_h), even(size)


class TileWriter:
    """Consumes decoded frames and writes the video's tile store; `close()` publishes it.

    Frames go to a worker thread through a short queue (the decoder never runs far ahead of it);
    an error on the worker is raised on the next `add` or on `close`. `abort()` removes the temp
    file. Memory: a few decoded frames and the offsets (8 bytes a frame).
    """

    def __init__(self, out: Path, params: TileParams = TileParams()) -> None:  # noqa: B008
        # Media libraries imported here: reading a store (the review screen) needs none of them.
        import cv2
        import simplejpeg
        from av.video.reformatter import VideoReformatter

        self._cv2, self._jpeg = cv2, simplejpeg
        self._turn = {90: cv2.ROTATE_90_COUNTERCLOCKWISE, 180: cv2.ROTATE_180,
                      270: cv2.ROTATE_90_CLOCKWISE}  # fmt: skip
        self.out = out
        self.params = params
        out.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = out.with_name(f"{TEMP_PREFIX}{os.urandom(8).hex()}-{out.name}")
        self._file = open(self._tmp, "wb")  # noqa: SIM115 - closed in close()/abort()
        self._file.write(MAGIC)
        self._offsets = array.array("Q", [len(MAGIC)])  # 8 bytes a frame
        self._queue: queue.Queue[Any] = queue.Queue(max(1, QUEUE_FRAMES // HANDOFF))
        self._group: list[av.VideoFrame] = []  # frames not yet handed over
        self._error: BaseException | None = None
        self._geometry: tuple[int, int, int, int, int] | None = None  # scale w, h, tile w, h, rot
        self._meta: dict[str, Any] = {}
        self._sar: Any = None
        self._size: tuple[int, int] | None = None  # the stream's picture size (its header's)
        self._scaler = VideoReformatter()
        self._thread = threading.Thread(target=self._work, name="tiles", daemon=True)
        self._thread.start()
        self._closed = False
        self.cpu_s = 0.0

    @property
    def count(self) -> int:
        return len(self._offsets) - 1

    def start(self, stream: Any) -> None:
        """Learn the stream's sample aspect ratio (frames do not carry it in PyAV) and picture
        size: the tiles' shape follows the stream's, not whichever frame a decoding thread
        tiles first (a stream whose size changes part-way, decoded in segments)."""
        cc = stream.codec_context
        self._sar = stream.sample_aspect_ratio or cc.sample_aspect_ratio
        if cc.width > 0 and cc.height > 0:
            self._size = (cc.width, cc.height)

    def add(self, frame: av.VideoFrame) -> None:
        """Queue one decoded frame (the next tile); blocks while the worker is behind."""
        if self._error is not None:
            raise self._error
        if self._geometry is None:
            self._setup(frame)
        self._group.append(frame)
        if len(self._group) >= HANDOFF:
            self._queue.put(self._group)
            self._group = []

    def encoder(self) -> Callable[[av.VideoFrame], bytes]:
        """Tiles made on the caller's thread (a segment's decoder, while the frame is in its
        cache), stored in frame order by `add_encoded`; each caller gets its own scaler."""
        from av.video.reformatter import VideoReformatter

        scaler = VideoReformatter()

        def encode(frame: av.VideoFrame) -> bytes:
            if self._geometry is None:
                self._setup(frame)  # the same from every thread: the stream's size and turn
            return self._tile(frame, scaler)

        return encode

    def add_encoded(self, jpeg: bytes) -> None:
        """Store the next tile, made by an `encoder`."""
        if self._error is not None:
            raise self._error
        self._file.write(jpeg)
        self._offsets.append(self._offsets[-1] + len(jpeg))

    def _setup(self, frame: av.VideoFrame) -> None:
        rot = upright_degrees(getattr(frame, "rotation", 0))
        width, height = self._size or (frame.width, frame.height)
        dw, dh = display_size(width, height, self._sar, rot)
        tw, th = tile_size(dw, dh, self.params.size)
        sw, sh = (th, tw) if rot in (90, 270) else (tw, th)  # scaled before turning
        self._geometry = (sw, sh, tw, th, rot)
        self._meta = {
            "version": 1,
            "tile_width": tw,
            "tile_height": th,
            "rotation": rot,
            "coded_size": [width, height],
            "display_size": [dw, dh],
            "quality": self.params.quality,
        }

    def _work(self) -> None:
        while (group := self._queue.get()) is not None:
            self._write(group)
            del group  # the decoder's pictures go back before the next wait
        self.cpu_s = time.thread_time()  # the tile thread's whole CPU (benchmarks)

    def _write(self, frames: list[av.VideoFrame]) -> None:
        for frame in frames:
            if self._error is not None:
                return  # keep draining so that the decoder never blocks
            try:
                jpeg = self._tile(frame)
                self._file.write(jpeg)
                self._offsets.append(self._offsets[-1] + len(jpeg))
            except BaseException as e:  # noqa: BLE001 - reported on the decoding thread
                self._error = e

    def _tile(self, frame: av.VideoFrame, scaler: Any = None) -> bytes:
        """One frame as an upright JPEG tile.

        swscale shrinks the frame straight to a small full-range 4:2:0 picture (fast bilinear:
        it reads only the rows it needs, and reading the frame's memory is most of the cost;
        measured 0.3 ms a 720p frame against 0.5 ms for OpenCV on the planes); the planes are
        turned and encoded by libjpeg-turbo as they are (no RGB step).
        """
        assert self._geometry is not None
        sw, sh, _tw, _th, rot = self._geometry
        small = (scaler or self._scaler).reformat(
            frame,
            sw,
            sh,
            "yuvj420p",
            src_colorspace=_colorspace(frame),
            src_color_range=frame.color_range,
            dst_color_range=2,  # AVCOL_RANGE_JPEG: what a JPEG decoder assumes
            interpolation="FAST_BILINEAR",
            threads=1,  # swscale's slice threads (PyAV's default: one per CPU) cost ~45 us a
            # tile here against ~95 us of scaling, and each would be one more thread per decoder
        )
        y, u, v = (_plane(p) for p in small.planes)
        if rot:
            code = self._turn[rot]
            y, u, v = (self._cv2.rotate(x, code) for x in (y, u, v))
        else:
            y, u, v = (np.ascontiguousarray(x) for x in (y, u, v))
        jpeg = self._jpeg.encode_jpeg_yuv_planes(y, u, v, quality=self.params.quality, fastdct=True)
        return bytes(jpeg)

    def close(self) -> Path:
        """Wait for the last tiles, write the index and rename the file into place."""
        self._finish_thread()
        if self._error is not None:
            self.abort()
            raise self._error
        _write_index(self._file, self._offsets, {**self._meta, "count": self.count})
        self._file.close()
        faults.hit("tiles.written")
        os.replace(self._tmp, self.out)
        self._closed = True
        return self.out

    def abort(self) -> None:
        """Drop the unfinished store (a failed splice); nothing once it was published."""
        if self._closed:
            return
        self._finish_thread()
        if not self._file.closed:
            self._file.close()
        self._tmp.unlink(missing_ok=True)
        self._closed = True

    def _finish_thread(self) -> None:
        if self._thread.is_alive():
            if self._group:
                self._queue.put(self._group)
                self._group = []
            self._queue.put(None)
            self._thread.join()


def _write_index(file: Any, offsets: Sequence[int], meta: dict[str, Any]) -> None:
    """The end of a store: offsets, metadata, trailer; then flushed to disk."""
    index_at = offsets[-1]
    file.write(np.asarray(offsets, dtype="<u8").tobytes())
    blob = json.dumps(meta).encode()
    file.write(blob)
    file.write(_TRAILER.pack(TRAILER_MAGIC, index_at, len(blob)))
    file.flush()
    os.fsync(file.fileno())


def write_store(out: Path, jpegs: list[bytes], tile_width: int, tile_height: int) -> Path:
    """A store from ready JPEG tiles (tests and tools: the splice uses `TileWriter`)."""
    tmp = out.with_name(f"{TEMP_PREFIX}{os.urandom(8).hex()}-{out.name}")
    offsets = [len(MAGIC)]
    with open(tmp, "wb") as f:
        f.write(MAGIC)
        for data in jpegs:
            f.write(data)
            offsets.append(offsets[-1] + len(data))
        meta = {"version": 1, "tile_width": tile_width, "tile_height": tile_height}
        _write_index(f, offsets, {**meta, "rotation": 0, "count": len(jpegs)})
    os.replace(tmp, out)
    return out


def _plane(plane: Any) -> np.ndarray:
    """A (height, width) view of a picture plane, straight on the decoder's buffer."""
    return np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)[
        : plane.height, : plane.width
    ]


def _colorspace(frame: av.VideoFrame) -> int | None:
    """The source's matrix when it says one (HD footage is BT.709); None: swscale's default."""
    cs = frame.colorspace
    return cs if cs not in (None, 0, 2) else None  # 0 RGB, 2 unspecified


class TileStore:
    """A finished tile store, read tile by tile (the review screen, `show`, sprite views)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with open(path, "rb") as f:
            if f.read(len(MAGIC)) != MAGIC:
                raise ValueError(f"{path.name} is not a tile store")
            f.seek(-_TRAILER.size, os.SEEK_END)
            magic, index_at, meta_len = _TRAILER.unpack(f.read(_TRAILER.size))
            if magic != TRAILER_MAGIC:
                raise ValueError(f"{path.name} is incomplete (no index)")
            f.seek(-_TRAILER.size - meta_len, os.SEEK_END)
            self.meta: dict[str, Any] = json.loads(f.read(meta_len))
            count = int(self.meta["count"])
            f.seek(index_at)
            self._offsets = np.frombuffer(f.read(8 * (count + 1)), dtype="<u8")
        self.count = count
        self.tile_width = int(self.meta["tile_width"])
        self.tile_height = int(self.meta["tile_height"])

    @staticmethod
    def find(folder: Path) -> TileStore | None:
        """The store in a video's folder, or None (old homes, failed splices, damaged files)."""
        path = folder / TILES_FILE
        try:
            return TileStore(path)
        except (OSError, ValueError, KeyError, struct.error, json.JSONDecodeError):
            return None

    def jpeg(self, k: int) -> bytes:
        """The JPEG bytes of tile `k` (decoded frame k)."""
        if not 0 <= k < self.count:
            raise IndexError(f"tile {k} outside the store ({self.count} tiles)")
        a, b = int(self._offsets[k]), int(self._offsets[k + 1])
        with open(self.path, "rb") as f:
            f.seek(a)
            return f.read(b - a)

    def image(self, k: int, min_width: int | None = None) -> Any:
        """Tile `k` as a PIL RGB image (decoded at reduced DCT scale when `min_width` allows)."""
        from PIL import Image

        img = Image.open(io.BytesIO(self.jpeg(k)))
        if min_width and min_width < img.width:
            scale = min_width / img.width
            img.draft("RGB", (max(1, int(img.width * scale)), max(1, int(img.height * scale))))
        return img.convert("RGB")
