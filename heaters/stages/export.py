"""Export: clips leave the library as mp4 files, cut from the source with the bundled ffmpeg.

Clips are rows, not files (DESIGN.md §4), so export is the one place that re-encodes. Two modes:

- Frame-accurate (default): exactly the clip's frames `[start_frame, end_frame)`, re-encoded with
  libx264 (crf 20, veryfast, yuv420p) and AAC audio when the source has audio. ffmpeg seeks fast to
  the keyframe before the clip, decodes from there and drops frames before the clip's first
  timestamp (accurate seek), then a `trim` keeps exactly end_frame - start_frame frames; the
  output's frame count is checked before the file is renamed into place. Containers whose seek
  cannot be trusted to land on a keyframe (MPEG-TS, AVI: see SEEKABLE_FORMATS) are decoded from
  their start instead, frames picked by index: slower, still exact.
- `copy=True`: stream copy, no re-encode, many times faster, but the file starts on the keyframe
  at or before the clip's start (up to a GOP early: often seconds) and may run a few frames past
  its end, because a stream copy can only cut on keyframes. From a container without a trusted
  seek the item is re-encoded instead, and its outcome's `note` says so.

A group whose clips are not contiguous is one item with several `segments`, joined in one
filtergraph (concat) — or, with `copy`, segment files joined by ffmpeg's concat demuxer.

Re-running skips what is already done: every output carries a fingerprint of what it holds (source
file name and size, frame ranges, times, mode and encoder settings) in its mp4 `comment` tag.
`up_to_date(item, params)` reads it back (~1-2 ms a file, no decoding); `is_current` is the pure
rule. Files are written to a temp name in the same folder and renamed (DESIGN.md §3).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import math
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
import av.error

from heaters.domain.exports import ExportItem, Segment
from heaters.domain.text import error_text, one_line
from heaters.stages.atomic import TEMP_PREFIX, atomic_path
from heaters.stages.orphans import dying_with_us

STAMP_PREFIX = "heaters-export:v1:"  # start of the mp4 comment tag of a file we wrote

ExportStatus = Literal["ok", "skipped", "failed"]

# Containers whose index makes ffmpeg's input seek land on the keyframe at or before the target
# (checked: mp4/mov, Matroska with or without cues, FLV). MPEG-TS seeks land on any packet, so the
# first frames after a seek cannot be decoded and a clip would silently start late; AVI stamps
# B-frame video with decode times. Sources in other containers are decoded from their start.
SEEKABLE_FORMATS = frozenset({"mov", "mp4", "matroska", "webm", "flv"})

__all__ = ["ExportItem", "ExportParams", "Segment"]  # the item is planned in domain, cut here


@dataclass(frozen=True)
class ExportParams:
    """Encoder settings. `copy`: stream copy, starts on the keyframe at or before the start."""

    copy: bool = False
    crf: int = 20
    preset: str = "veryfast"
    audio_bitrate: str = "128k"


@dataclass(frozen=True)
class ExportOutcome:
    key: str
    status: ExportStatus
    path: Path  # the item's out_path (present on disk when status is ok or skipped)
    error: str | None = None  # one line, with ffmpeg's stderr tail
    duration_ms: int = 0
    frames: int = 0  # video frames in the written file (0 when skipped or failed)
    note: str | None = None  # something the user should know about an ok file (one line)


@dataclass(frozen=True)
class ExportResult:
    outcomes: tuple[ExportOutcome, ...]
    duration_ms: int
    counts: dict[str, int] = field(default_factory=dict)  # status -> number of items


# --- skipping what is already exported -------------------------------------------------------


def fingerprint(item: ExportItem, params: ExportParams, source_size: int) -> str:
    """What an output holds, as a short hash: same fingerprint, same file. Pure.

    The source counts by file name and size (a re-downloaded source with other bytes changes it;
    moving the home folder does not); the output path and the item's key do not count.
    """
    desc = {
        "source": [item.source.name, int(source_size)],
        "parts": [[a, b, round(ta, 6), round(tb, 6)] for a, b, ta, tb in item.parts],
        "mode": "copy"
        if params.copy
        else ["x264", params.crf, params.preset, "aac", params.audio_bitrate],
    }
    blob = json.dumps(desc, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:24]


def stamp(fp: str) -> str:
    """The comment tag written into an output with fingerprint `fp`."""
    return STAMP_PREFIX + fp


def is_current(expected_fp: str, found_comment: str | None, size: int) -> bool:
    """Pure rule: an existing output (size bytes, comment tag found) can be kept as it is."""
    return size > 0 and found_comment is not None and found_comment.strip() == stamp(expected_fp)


def read_stamp(path: Path) -> str | None:
    """The comment tag of an existing media file, or None (missing, unreadable, no tag)."""
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            meta = container.metadata
            value = meta.get("comment", meta.get("COMMENT"))  # mp4/mov; Matroska
    except (av.error.FFmpegError, OSError, UnicodeDecodeError, ValueError):
        return None
    return str(value) if value is not None else None


def up_to_date(item: ExportItem, params: ExportParams) -> bool:
    """True when `item.out_path` exists and was written by an export of exactly this item with
    these params (same fingerprint): the CLI skips it."""
    try:
        size = item.out_path.stat().st_size
        source_size = item.source.stat().st_size
    except OSError:
        return False
    if size <= 0:
        return False
    return is_current(fingerprint(item, params, source_size), read_stamp(item.out_path), size)


# --- running ---------------------------------------------------------------------------------


def run(
    items: Sequence[ExportItem],
    params: ExportParams,
    ffmpeg: str,
    on_progress: Callable[[int, int], None] | None = None,
    *,
    skip_unchanged: bool = True,
) -> ExportResult:
    """Export every item, one ffmpeg process at a time (libx264 already uses every core).

    One bad item never stops the others: it gets status "failed" and a one-line error. With
    `skip_unchanged`, items whose output is `up_to_date` get status "skipped".
    `on_progress(done, total)` is called before the first item and after each one.
    """
    started = time.monotonic()
    total = len(items)
    outcomes: list[ExportOutcome] = []
    facts: dict[Path, _Source | str] = {}
    seen: set[Path] = set()
    if on_progress:
        on_progress(0, total)
    for done, item in enumerate(items, 1):
        t0 = time.monotonic()
        path = item.out_path
        status: ExportStatus = "ok"
        error: str | None = None
        note: str | None = None
        frames = 0
        try:
            why = _check_item(item)
            if why is None and path in seen:
                why = "another item in this export writes the same file"
            seen.add(path)
            if why is not None:
                raise _Failed(why)
            if skip_unchanged and up_to_date(item, params):
                status = "skipped"
            else:
                src = facts.get(item.source)
                if src is None:
                    src = facts[item.source] = _probe(item.source)
                if isinstance(src, str):
                    raise _Failed(src)
                frames, note = _export_one(item, params, ffmpeg, src)
        except _Failed as e:
            status, error = "failed", str(e)
        except OSError as e:  # ffmpeg missing, disk full, permissions
            status, error = "failed", one_line(f"{type(e).__name__}: {e}", 300)
        except Exception as e:  # noqa: BLE001 (one item's surprise must not stop the others)
            status, error = "failed", one_line(f"unexpected {type(e).__name__}: {e}", 300)
        outcomes.append(
            ExportOutcome(
                key=item.key,
                status=status,
                path=path,
                error=error,
                duration_ms=int((time.monotonic() - t0) * 1000),
                frames=frames,
                note=note,
            )
        )
        if on_progress:
            on_progress(done, total)
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.status] = counts.get(o.status, 0) + 1
    return ExportResult(
        outcomes=tuple(outcomes),
        duration_ms=int((time.monotonic() - started) * 1000),
        counts=counts,
    )


COPY_PREFIX = ".heaters-copy-"


@contextmanager
def out_folder(folder: Path) -> Iterator[int]:
    """Hold `folder` for one export; returns how many stale temp files it removed.

    Every export holds a shared lock on the folder (flock on the folder itself) while it writes.
    One that gets it exclusively first knows no export is writing there, so the `.tmp-*` files
    and copy folders there were left by a killed one: it removes them, then shares.
    """
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    removed = 0
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            pass  # another export is writing here: its temp files are live
        else:
            for entry in folder.iterdir():
                if entry.name.startswith(COPY_PREFIX) and entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                    removed += 1
                elif entry.name.startswith(TEMP_PREFIX) and entry.is_file():
                    entry.unlink(missing_ok=True)
                    removed += 1
        fcntl.flock(fd, fcntl.LOCK_SH)
        yield removed
    finally:
        os.close(fd)


class _Failed(Exception):
    """One item failed; the message is its one-line error."""


@dataclass(frozen=True)
class _Source:
    """What the ffmpeg command needs to know about a source, from one PyAV probe."""

    size: int
    has_audio: bool
    fps: float
    offset_s: float  # video stream start minus container start: ffmpeg's -ss counts from the latter
    odd_size: bool  # width or height odd: libx264 4:2:0 needs even sizes
    seekable: bool = True  # the container has an index that makes ffmpeg's seek land on a keyframe
    format: str = ""


def _probe(path: Path) -> _Source | str:
    """Facts about `path`, or why it cannot be exported (one line)."""
    try:
        size = path.stat().st_size
    except OSError:
        return f"source file not found: {path.name}"
    try:
        with av.open(str(path), metadata_errors="ignore") as c:
            if not c.streams.video:
                return f"{path.name} has no video stream"
            v = c.streams.video[0]
            rate = v.average_rate or v.guessed_rate or v.base_rate
            fps = float(rate) if rate else 0.0
            tb = Fraction(v.time_base) if v.time_base else Fraction(1, 90000)
            v_start = float(v.start_time * tb) if v.start_time is not None else 0.0
            c_start = c.start_time / av.time_base if c.start_time is not None else v_start
            cc = v.codec_context
            fmt = c.format.name or ""
            return _Source(
                size=size,
                has_audio=bool(c.streams.audio),
                fps=fps if math.isfinite(fps) and fps > 0 else 30.0,
                offset_s=max(0.0, v_start - c_start),
                odd_size=bool((cc.width or 0) % 2 or (cc.height or 0) % 2),
                seekable=bool(set(fmt.split(",")) & SEEKABLE_FORMATS),
                format=fmt.split(",")[0],
            )
    except (av.error.FFmpegError, OSError, UnicodeDecodeError, ValueError) as e:
        return f"cannot read {path.name}: {one_line(error_text(e), 200)}"


def _check_item(item: ExportItem) -> str | None:
    for a, b, ta, tb in item.parts:
        if a < 0 or b <= a:
            return f"bad frame range [{a}, {b})"
        if not (math.isfinite(ta) and math.isfinite(tb)) or ta < 0 or tb <= ta:
            return f"bad time range {ta:.3f}-{tb:.3f} s"
    if item.out_path.resolve() == item.source.resolve():
        return "the output would overwrite the source"
    return None


def _export_one(
    item: ExportItem, params: ExportParams, ffmpeg: str, src: _Source
) -> tuple[int, str | None]:
    """Write one output (temp name, then rename); return its video frame count and a note."""
    tag = stamp(fingerprint(item, params, src.size))
    copy = params.copy and src.seekable
    note = None
    if params.copy and not copy:
        note = (
            f"re-encoded: a stream copy cannot start on a keyframe in {src.format or 'this'} files"
        )
    with atomic_path(item.out_path) as tmp:
        if copy:
            _copy(item, src, ffmpeg, tmp, tag)
        else:
            _ffmpeg(ffmpeg, encode_args(item, params, src, tmp, tag))
        frames = count_frames(tmp)
        want = item.frame_count
        if not copy and abs(frames - want) > 1:
            raise _Failed(f"ffmpeg wrote {frames} frames instead of {want}; file not kept")
        if copy and frames == 0:
            raise _Failed("the stream copy holds no video frame; file not kept")
    return frames, note


def _eps(src: _Source) -> float:
    """A margin well under one frame: -ss times may not land past a frame's exact timestamp."""
    return min(0.001, 0.25 / src.fps)


def encode_args(
    item: ExportItem, params: ExportParams, src: _Source, out: Path, tag: str
) -> list[str]:
    """The ffmpeg argument list (no shell) of a frame-accurate export of `item` into `out`.

    Each part is its own input. From a seekable container: an accurate seek just before the
    part's first timestamp (ffmpeg decodes from the keyframe before it and drops earlier frames),
    then `trim=end_frame` keeps exactly its frames. Otherwise the input is decoded from its start
    and `trim=start_frame:end_frame` picks the frames by index. `atrim` takes the same span of
    audio; parts are concatenated in the same filtergraph.
    """
    args = ["-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
    graph: list[str] = []
    labels: list[str] = []
    parts = item.parts
    even = ",crop=trunc(iw/2)*2:trunc(ih/2)*2" if src.odd_size else ""
    for i, (a, b, ta, tb) in enumerate(parts):
        seek = ta + src.offset_s - _eps(src)
        if src.seekable:
            if a > 0 and seek > 0:
                args += ["-ss", f"{seek:.6f}"]
            vtrim = f"trim=end_frame={b - a}"
            atrim = f"atrim=duration={tb - ta:.6f}"
        else:
            vtrim = f"trim=start_frame={a}:end_frame={b}"
            atrim = f"atrim=start={max(0.0, seek):.6f}:duration={tb - ta:.6f}"
        args += ["-i", str(item.source)]
        graph.append(f"[{i}:v:0]{vtrim},setpts=PTS-STARTPTS{even}[v{i}]")
        labels.append(f"[v{i}]")
        if src.has_audio:
            graph.append(f"[{i}:a:0]{atrim},asetpts=PTS-STARTPTS[a{i}]")
            labels.append(f"[a{i}]")
    if len(parts) > 1:
        audio = "1[v][a]" if src.has_audio else "0[v]"
        graph.append(f"{''.join(labels)}concat=n={len(parts)}:v=1:a={audio}")
        v_out, a_out = "[v]", "[a]"
    else:
        v_out, a_out = "[v0]", "[a0]"
    args += ["-filter_complex", ";".join(graph), "-map", v_out]
    if src.has_audio:
        args += ["-map", a_out, "-c:a", "aac", "-b:a", params.audio_bitrate]
    args += [
        "-c:v", "libx264", "-crf", str(params.crf), "-preset", params.preset,
        "-pix_fmt", "yuv420p", "-fps_mode", "vfr",
        "-map_chapters", "-1", "-metadata", f"comment={tag}",
        "-movflags", "+faststart", str(out),
    ]  # fmt: skip
    return args


def copy_args(
    source: Path, segment: Segment, src: _Source, out: Path, tag: str | None
) -> list[str]:
    """ffmpeg arguments of a stream copy of one segment: from the keyframe at or before its start
    (the seek lands a hair after the start, so a clip starting on a keyframe starts there)."""
    a, _b, ta, tb = segment
    args = ["-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
    seek = ta + src.offset_s + _eps(src)
    if a > 0:
        args += ["-ss", f"{seek:.6f}"]
    args += ["-i", str(source), "-t", f"{tb - ta:.6f}", "-map", "0:v:0"]
    if src.has_audio:
        args += ["-map", "0:a:0"]
    args += ["-c", "copy", "-avoid_negative_ts", "make_zero", "-map_chapters", "-1"]
    if tag is not None:
        args += ["-metadata", f"comment={tag}", "-movflags", "+faststart"]
    return [*args, str(out)]


def _copy(item: ExportItem, src: _Source, ffmpeg: str, out: Path, tag: str) -> None:
    parts = item.parts
    if len(parts) == 1:
        _ffmpeg(ffmpeg, copy_args(item.source, parts[0], src, out, tag))
        return
    # Several parts: copy each to a temp file (each starts on a keyframe with zero-based
    # timestamps), then join them with the concat demuxer, still without re-encoding.
    with tempfile.TemporaryDirectory(prefix=COPY_PREFIX, dir=out.parent) as tmpdir:
        pieces: list[Path] = []
        for i, seg in enumerate(parts):
            piece = Path(tmpdir) / f"part{i:04d}{out.suffix or '.mp4'}"
            _ffmpeg(ffmpeg, copy_args(item.source, seg, src, piece, None))
            pieces.append(piece)
        listing = Path(tmpdir) / "parts.txt"
        listing.write_text("".join(f"file '{_concat_quote(p)}'\n" for p in pieces))
        _ffmpeg(
            ffmpeg,
            [
                "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
                "-f", "concat", "-safe", "0", "-i", str(listing),
                "-map", "0", "-c", "copy", "-map_chapters", "-1",
                "-metadata", f"comment={tag}", "-movflags", "+faststart", str(out),
            ],
        )  # fmt: skip


def _concat_quote(path: Path) -> str:
    """A path quoted for the concat demuxer's `file '...'` line."""
    return str(path).replace("'", "'\\''")


def _ffmpeg(ffmpeg: str, args: list[str]) -> None:
    """Run ffmpeg with an argument list; a failure becomes one line with stderr's tail.

    ffmpeg dies with us (PR_SET_PDEATHSIG): a `kill -9` of the export leaves no encoder running.
    """
    proc = subprocess.run(  # noqa: S603 (argument list, no shell)
        dying_with_us([ffmpeg, *args]),
        capture_output=True,
        text=True,
        errors="replace",
        check=False,
    )
    if proc.returncode != 0:
        tail = [ln.strip() for ln in proc.stderr.strip().splitlines() if ln.strip()][-3:]
        raise _Failed(one_line(f"ffmpeg failed ({proc.returncode}): {' | '.join(tail)}", 400))


def count_frames(path: Path) -> int:
    """Video frames in a file, counted from its packets (no decoding: ~2 ms for a short clip)."""
    try:
        with av.open(str(path)) as c:
            if not c.streams.video:
                return 0
            return sum(1 for p in c.demux(c.streams.video[0]) if p.size)
    except (av.error.FFmpegError, OSError):
        return 0
