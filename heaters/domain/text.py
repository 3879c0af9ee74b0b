"""Text that reaches one line: `last_error`, notifications, EDL comments. One rule everywhere, so
the same failure reads the same whichever stage, screen or file shows it."""

from __future__ import annotations

from datetime import UTC, datetime


def one_line(message: str, max_len: int = 500) -> str:
    """Collapse a (possibly multi-line, tool-produced) text into one bounded line: lines joined
    with " | ", "…" where it was cut. Other control characters stay (they are data: every
    screen escapes them when it shows the text)."""
    text = " | ".join(part.strip() for part in str(message).splitlines() if part.strip())
    return text if len(text) <= max_len else text[: max_len - 1] + "…"


def counted(n: int, noun: str) -> str:
    """ "1 cut", "3 cuts": a count with its noun in the number it needs."""
    return f"{n} {noun if n == 1 else noun + 's'}"


def error_text(exc: BaseException) -> str:
    """An exception's own words, without what only confuses: FFmpeg's error codes shown as an
    errno (`[Errno 1094995529] Invalid data found…: '/path'`) become FFmpeg's message."""
    strerror = getattr(exc, "strerror", None)
    if isinstance(strerror, str) and strerror and getattr(exc, "errno", None) is not None:
        return strerror
    return str(exc)


def error_line(exc: BaseException, max_len: int = 500) -> str:
    """An exception as one line: its own words, or its type's name when it has none."""
    return one_line(error_text(exc), max_len) or type(exc).__name__


def driver_line(exc: BaseException) -> str:
    """The first line of a database driver's own words (SQLAlchemy keeps them in `.orig`), or
    its type's name: the line a user sees when a server cannot be reached or refuses."""
    orig = getattr(exc, "orig", None) or exc
    return (str(orig).strip().splitlines() or [type(orig).__name__])[0]


def iso(ts: float | None) -> str | None:
    """A Unix time as ISO 8601 in UTC, to the second (every listing and JSON document)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")
