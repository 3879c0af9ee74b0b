"""Which entries of a playlist, channel or feed become videos: pure rules, no I/O.

`--since DATE` keeps entries uploaded on or after DATE (an entry whose date nobody could tell is
kept: dropping it would lose uploads silently); `--limit N` keeps the first N of what remains, in
the listing's order (a channel lists its newest first). A followed URL registers only entries it
has not seen before, so a video removed with `heaters rm` does not come back.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

_RELATIVE = re.compile(
    r"(?P<n>\d+)\s*(?P<unit>d|day|days|w|week|weeks|m|month|months|y|year|years)"
)
_DAYS = {"d": 1, "w": 7, "m": 30, "y": 365}


class BadDate(ValueError):
    """Not a date `--since` understands."""


def parse_since(text: str, today: dt.date) -> str:
    """YYYYMMDD from `2024-05-01`, `20240501`, or a span back from `today` (`7d`, `2 weeks`)."""
    raw = text.strip().lower()
    for fmt in ("%Y-%m-%d", "%Y%m%d"):
        try:
            return dt.datetime.strptime(raw, fmt).date().strftime("%Y%m%d")
        except ValueError:
            continue
    match = _RELATIVE.fullmatch(raw)
    if match:
        days = int(match["n"]) * _DAYS[match["unit"][0]]
        try:
            return (today - dt.timedelta(days=days)).strftime("%Y%m%d")
        except OverflowError as exc:
            raise BadDate(f"--since {text!r} reaches before year 1") from exc
    raise BadDate(f"--since {text!r}: give a date (2024-05-01) or a span back (7d, 2weeks, 3m)")


@dataclass(frozen=True)
class Selection:
    chosen: tuple[dict[str, Any], ...]
    seen_before: int  # a follow saw them at an earlier check (or they repeat in this listing)
    too_old: int  # before --since
    over_limit: int  # past --limit


def select(
    entries: Sequence[dict[str, Any]],
    since: str | None = None,
    limit: int | None = None,
    seen: Iterable[str] = (),
) -> Selection:
    """The entries to register (each a dict with `key` and `upload_date` YYYYMMDD or None)."""
    known = set(seen)
    chosen: list[dict[str, Any]] = []
    old = repeat = over = 0
    for entry in entries:
        if entry["key"] in known:
            repeat += 1
            continue
        known.add(entry["key"])
        date = entry.get("upload_date")
        if since is not None and date is not None and date < since:
            old += 1
            continue
        if limit is not None and len(chosen) >= limit:
            over += 1
            continue
        chosen.append(entry)
    return Selection(tuple(chosen), repeat, old, over)
