"""File names of exported clips, from a user template.

Titles come from the internet and templates from the command line: neither may put a file
anywhere but the output folder. A template may only name the fields below (no attribute or index
access, no path separators); every text value is sanitised with `safe_name`, and the result is
checked once more as a single, bounded file name.
"""

from __future__ import annotations

import re
import string
from pathlib import Path

from heaters.domain.sources import safe_name

DEFAULT_TEMPLATE = "{title}_clip{clip_id}_{start}-{end}.mp4"

# Field -> kind; "text" values are sanitised, "int" values may carry a format spec ({clip_id:05d}).
FIELDS: dict[str, str] = {
    "title": "text",  # the source video's title, sanitised (at most 80 bytes)
    "clip_id": "int",  # the clip's id, or a group's label such as "12+13"
    "video_id": "int",
    "start": "text",  # start time, e.g. 00m03.500s
    "end": "text",  # end time (exclusive), same form
    "start_frame": "int",
    "end_frame": "int",  # exclusive
}

MAX_NAME_BYTES = 255  # what ext4, APFS and NTFS allow for one name


class BadTemplate(ValueError):
    """The export name template cannot be used; the message says why."""


def format_time(seconds: float) -> str:
    """`00m03.500s`: minutes (at least two digits), seconds, milliseconds. Sorts as text for
    videos under 100 minutes and never contains a colon (not allowed in Windows names)."""
    ms = max(0, round(seconds * 1000))
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return f"{minutes:02d}m{secs:02d}.{ms:03d}s"


def check_template(template: str) -> None:
    """Raise BadTemplate unless `template` names only known fields and no folder."""
    if not template or not template.strip():
        raise BadTemplate("the name template is empty")
    if any(sep in template for sep in ("/", "\\", "\x00")):
        raise BadTemplate("the name template may not contain / or \\ (files go in --out)")
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as e:
        raise BadTemplate(f"bad name template: {e}") from e
    for _literal, field, spec, conversion in parsed:
        if field is None:
            continue
        if field not in FIELDS:
            known = ", ".join("{" + f + "}" for f in FIELDS)
            raise BadTemplate(f"unknown field {{{field}}} in the name template (known: {known})")
        if conversion:
            raise BadTemplate(f"conversions like !{conversion} are not allowed in the template")
        if spec and ("{" in spec or FIELDS[field] != "int"):
            raise BadTemplate(f"only number fields take a format spec, not {{{field}:{spec}}}")
        if spec:
            # zero padding to a sane width only: '{clip_id:0400000000d}' would take 4 GB
            shape = re.fullmatch(r"0?([0-9]{1,2})d?", spec)
            if shape is None or int(shape.group(1)) > 20:
                raise BadTemplate(
                    f"bad format {{{field}:{spec}}}: use a width of at most 20, e.g. {{{field}:06d}}"
                )


def export_name(
    template: str = DEFAULT_TEMPLATE,
    *,
    title: str | None,
    clip_id: int | str,
    video_id: int = 0,
    start_time_s: float,
    end_time_s: float,
    start_frame: int = 0,
    end_frame: int = 0,
    ext: str = ".mp4",
) -> str:
    """One safe file name (no folder) for an exported clip; `ext` is added when the template has
    no extension. Raises BadTemplate for an unusable template or a name that would be too long."""
    check_template(template)
    values: dict[str, object] = {
        "title": safe_name(title),
        "clip_id": _label(clip_id),
        "video_id": int(video_id),
        "start": format_time(start_time_s),
        "end": format_time(end_time_s),
        "start_frame": int(start_frame),
        "end_frame": int(end_frame),
    }
    try:
        name = _Formatter().vformat(template, (), values)
    except (ValueError, TypeError) as e:
        raise BadTemplate(f"bad name template: {e}") from e
    # Literal text of the template is the user's own, but still becomes one plain name.
    name = "".join(ch for ch in name if ch.isprintable() and ch not in '/\\:*?"<>|').strip()
    name = name.lstrip(".-")  # never hidden, never an option-looking name
    if not name:
        raise BadTemplate("the name template gives an empty file name")
    if not Path(name).suffix and ext:
        name += ext
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        raise BadTemplate(f"the name template gives names over {MAX_NAME_BYTES} bytes")
    return name


def export_path(out_dir: Path, name: str) -> Path:
    """`out_dir / name`, refusing anything that would land outside `out_dir` itself."""
    if not name or name in (".", "..") or any(sep in name for sep in ("/", "\\", "\x00")):
        raise BadTemplate(f"not a plain file name: {name!r}")
    path = out_dir / name
    if path.parent != out_dir or Path(name).name != name:
        raise BadTemplate(f"not a plain file name: {name!r}")
    return path


def _label(clip_id: int | str) -> int | str:
    """An int as is; a text label (a group's "12+13") reduced to letters, digits, + and -."""
    if isinstance(clip_id, int):
        return clip_id
    text = re.sub(r"[^0-9A-Za-z+\-]", "", str(clip_id))[:40]
    return int(text) if text.isdigit() else (text or "x")


class _Formatter(string.Formatter):
    """Plain field names only; a number spec on a text value (a group label) is ignored."""

    def get_field(self, field_name: str, args: object, kwargs: dict[str, object]) -> object:  # type: ignore[override]
        if field_name not in FIELDS:
            raise ValueError(f"unknown field {{{field_name}}}")
        return kwargs[field_name], field_name

    def format_field(self, value: object, format_spec: str) -> str:
        if isinstance(value, str):
            return value
        return str(super().format_field(value, format_spec))
