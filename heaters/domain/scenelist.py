"""A video's clip list as CSV (PySceneDetect `list-scenes`), CMX 3600 EDL or JSON. Pure text.

Our clips are `[start_frame, end_frame)` with 0-based frames and decoded timestamps
(`start_time_s` is frame start_frame's time; `end_time_s` is frame end_frame's time, or the end of
the last frame). How each format sees them:

CSV, as PySceneDetect 0.7 `write_scene_list` writes it (read from its source):
- `Start Frame` is 1-based: start_frame + 1. `End Frame` is end_frame: the 1-based number of the
  clip's last frame (inclusive), which is also our exclusive 0-based end. `Length (frames)` is
  end_frame - start_frame.
- Timecodes are `HH:MM:SS.nnn`; `Start Time (seconds)` etc. have 3 decimals. Start and end times
  are the clip's decoded times, so an end timecode equals the next clip's start timecode, as in
  PySceneDetect. For constant-rate video this is exactly frame / fps and the length is
  frames / fps, so the text is what PySceneDetect prints; for variable-rate video ours are the
  true times (PySceneDetect's frame numbers are estimates there).
- Rows end in "\\n". By default there is no "Timecode List:" first row (RFC 4180 CSV, as
  `list-scenes --skip-cuts` writes); `include_cut_list=True` adds it as `list-scenes` does.

EDL (CMX 3600, FCM: NON-DROP FRAME): one event per clip on reel `AX`, video track, cut.
Timecodes are `HH:MM:SS:FF` counting frames at the nominal rate (round(fps) frames per timecode
second, so 29.97 fps counts 30 per second: non-drop-frame). A clip's source frames are its start
and end times at the video's fps (round(t * fps); for constant-rate video exactly start_frame and
end_frame). Out points are exclusive, as CMX 3600 defines them. Record times accumulate from
`record_start`: the clips laid end to end on a timeline. (PySceneDetect's own EDL differs on
purpose: it repeats source times as record times and derives frames from wall-clock seconds, which
for 23.976/29.97 fps drifts from the frame count; at integer rates our source columns equal its.)

JSON: a list of objects, one per clip, with our own 0-based, end-exclusive frame numbers.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from fractions import Fraction
from typing import Protocol

from heaters.domain.text import one_line

CSV_COLUMNS: tuple[str, ...] = (
    "Scene Number",
    "Start Frame",
    "Start Timecode",
    "Start Time (seconds)",
    "End Frame",
    "End Timecode",
    "End Time (seconds)",
    "Length (frames)",
    "Length (timecode)",
    "Length (seconds)",
)


class SceneClip(Protocol):
    """Anything with a clip's frame range and times (a `ClipSpan`, a clip row)."""

    @property
    def start_frame(self) -> int: ...
    @property
    def end_frame(self) -> int: ...
    @property
    def start_time_s(self) -> float: ...
    @property
    def end_time_s(self) -> float: ...


def timecode(seconds: float) -> str:
    """`HH:MM:SS.nnn` the way PySceneDetect's `FrameTimecode.get_timecode()` computes it
    (seconds within the minute rounded with `round(s, 3)`), so ties round the same way."""
    secs = max(0.0, seconds)
    hours = int(secs / 3600)
    secs -= hours * 3600
    minutes = int(secs / 60)
    secs = min(60.0, round(max(0.0, secs - minutes * 60), 3))
    if int(secs) == 60:
        secs = 0.0
        minutes += 1
        if minutes >= 60:
            minutes = 0
            hours += 1
    millis = format(secs, ".4f")[-5:-1]  # ".nnn", as PySceneDetect slices it
    return f"{hours:02d}:{minutes:02d}:{int(secs):02d}{millis}"


def smpte(frames: int, fps: float) -> str:
    """`HH:MM:SS:FF` for a frame count, non-drop-frame at the nominal rate round(fps)."""
    base = max(1, round(fps))
    frames = max(0, frames)
    ff = frames % base
    total_s = frames // base
    hours, rest = divmod(total_s, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}:{ff:02d}"


def to_csv(clips: Sequence[SceneClip], fps: float, *, include_cut_list: bool = False) -> str:
    """PySceneDetect `list-scenes` CSV of `clips` (see the module docstring for the mapping)."""
    _check(clips, fps)
    out = io.StringIO()
    writer = csv.writer(out, delimiter=",", lineterminator="\n")
    if include_cut_list:
        cuts = (timecode(_seconds(c, fps)[0][0]) for c in clips[1:])
        writer.writerow(["Timecode List:", *cuts])
    writer.writerow(CSV_COLUMNS)
    for i, c in enumerate(clips):
        (tc_start, tc_end, tc_len), (start, end, length) = _seconds(c, fps)
        writer.writerow(
            [
                f"{i + 1:d}",
                f"{c.start_frame + 1:d}",
                timecode(tc_start),
                f"{start:.3f}",
                f"{c.end_frame:d}",
                timecode(tc_end),
                f"{end:.3f}",
                f"{c.end_frame - c.start_frame:d}",
                timecode(tc_len),
                f"{length:.3f}",
            ]
        )
    return out.getvalue()


def to_edl(
    clips: Sequence[SceneClip],
    fps: float,
    *,
    title: str = "heaters",
    reel: str = "AX",
    clip_names: Sequence[str] | None = None,
    record_start: int = 0,
) -> str:
    """CMX 3600 EDL of `clips`, one cut event each; `clip_names` add `* FROM CLIP NAME:` notes."""
    _check(clips, fps)
    if clip_names is not None and len(clip_names) != len(clips):
        raise ValueError("clip_names needs one name per clip")
    if len(clips) > 999:
        raise ValueError("CMX 3600 allows at most 999 events")
    reel = "".join(ch for ch in reel.upper() if ch.isalnum())[:8] or "AX"
    lines = [f"TITLE: {_printable(title, 70) or 'heaters'}", "FCM: NON-DROP FRAME", ""]
    rec = max(0, record_start)
    for i, c in enumerate(clips):
        src_in = round(c.start_time_s * fps)
        src_out = max(src_in + 1, round(c.end_time_s * fps))
        rec_out = rec + (src_out - src_in)
        lines.append(
            f"{i + 1:03d}  {reel:<8} V     C        "
            f"{smpte(src_in, fps)} {smpte(src_out, fps)} {smpte(rec, fps)} {smpte(rec_out, fps)}"
        )
        if clip_names is not None:
            name = _printable(clip_names[i], 200)
            if name:
                lines.append(f"* FROM CLIP NAME: {name}")
        rec = rec_out
    return "\n".join(lines) + "\n"


def to_json(
    clips: Sequence[SceneClip],
    fps: float,
    *,
    clip_ids: Sequence[int] | None = None,
    indent: int | None = 2,
) -> str:
    """A JSON list with one object per clip: our 0-based, end-exclusive frames, times, lengths."""
    _check(clips, fps)
    if clip_ids is not None and len(clip_ids) != len(clips):
        raise ValueError("clip_ids needs one id per clip")
    rows: list[dict[str, object]] = []
    for i, c in enumerate(clips):
        row: dict[str, object] = {"scene": i + 1}
        if clip_ids is not None:
            row["clip_id"] = clip_ids[i]
        row.update(
            start_frame=c.start_frame,
            end_frame=c.end_frame,
            frames=c.end_frame - c.start_frame,
            start_time_s=round(c.start_time_s, 6),
            end_time_s=round(c.end_time_s, 6),
            duration_s=round(_length_s(c, fps), 6),
            start_timecode=timecode(c.start_time_s),
            end_timecode=timecode(c.end_time_s),
        )
        rows.append(row)
    return json.dumps(rows, indent=indent, ensure_ascii=False) + "\n"


def exact_rate(fps: float) -> Fraction:
    """The rational rate behind a float fps, as PySceneDetect reads it: N*1000/1001 for NTSC
    rates (29.97 -> 30000/1001), N for whole numbers, else the nearest fraction."""
    if fps == int(fps):
        return Fraction(int(fps))
    base = round(fps * 1001 / 1000)
    if base > 0 and abs(base * 1000 / 1001 - fps) < 1e-3:
        return Fraction(base * 1000, 1001)
    return Fraction(fps).limit_denominator(10000)


def _length_s(c: SceneClip, fps: float) -> float:
    return _seconds(c, fps)[1][2]


def _seconds(
    c: SceneClip, fps: float
) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """(start, end, length) in seconds for timecodes, and for the seconds columns.

    Constant rate (the clip's times sit on the frame grid): frames / fps, computed the two ways
    PySceneDetect does (timecodes from frame / float(rate), seconds from the exact fraction), so
    even half-millisecond ties print as it prints them. Otherwise (variable rate): the decoded
    times, which are the truth.
    """
    rate = exact_rate(fps)
    a, b = c.start_frame, c.end_frame
    if abs(c.start_time_s - float(a / rate)) < 1e-6 and abs(c.end_time_s - float(b / rate)) < 1e-6:
        r = float(rate)
        return (a / r, b / r, (b - a) / r), (
            float(a / rate),
            float(b / rate),
            float((b - a) / rate),
        )
    t = (c.start_time_s, c.end_time_s, c.end_time_s - c.start_time_s)
    return t, t


def _check(clips: Sequence[SceneClip], fps: float) -> None:
    if not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"the video's frame rate is unknown ({fps})")
    for c in clips:
        if c.start_frame < 0 or c.end_frame <= c.start_frame:
            raise ValueError(f"bad frame range [{c.start_frame}, {c.end_frame})")


def _printable(text: str, max_len: int) -> str:
    """Free text made safe for one EDL line: no control characters, one line, bounded."""
    return one_line("".join(ch if ch.isprintable() or ch == "\n" else " " for ch in text), max_len)
