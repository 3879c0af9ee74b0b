"""Errors that reach the user as one line and an exit code (2: bad usage/input, 1: failed)."""

from __future__ import annotations


class HeatersError(Exception):
    exit_code = 1


class BadInput(HeatersError):
    """The request itself is wrong (unknown id, invalid source, bad flag value): exit 2."""

    exit_code = 2


class OperationFailed(HeatersError):
    """A valid request that could not be carried out: exit 1."""

    exit_code = 1


class DiskFull(OperationFailed):
    """The home cannot be written (disk full, quota, read-only): the run stops cleanly, its
    unfinished claims go back, and nothing counts as a failed attempt of the item."""


_STORAGE_ERRNOS = {28: "disk full", 122: "disk quota exceeded", 30: "read-only file system"}
_STORAGE_TEXT = (
    ("database or disk is full", "disk full"),
    ("no space left on device", "disk full"),
    ("disk quota exceeded", "disk quota exceeded"),
    ("readonly database", "read-only file system"),
    ("read-only file system", "read-only file system"),
)


def storage_problem(exc: BaseException | None) -> str | None:
    """'disk full: <detail>' (or 'disk quota exceeded: …', 'read-only file system: …') when `exc`
    or an error that caused it (or its one-line text, from a stage) says the home cannot be
    written; else None. The detail is the deepest such cause's own text (not an ORM wrapper's).

    Such an error is no fault of the item being processed: retrying it later with the same
    space fails the same way, so it must not use up the item's attempts.
    """
    found: str | None = None
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        orig = getattr(exc, "orig", None)  # SQLAlchemy's DBAPIError: the driver's own error
        text = str(orig if isinstance(orig, BaseException) else exc)
        if isinstance(exc, OSError) and exc.errno in _STORAGE_ERRNOS:
            found = f"{_STORAGE_ERRNOS[exc.errno]}: {text}"
        else:
            lowered = text.lower()
            for needle, problem in _STORAGE_TEXT:
                if needle in lowered:
                    found = f"{problem}: {text}"
                    break
        exc = exc.__cause__ or exc.__context__
    return found


def storage_advice(problem: str) -> str:
    """What the operator should do about a `storage_problem`."""
    return "make the home writable" if problem.startswith("read-only") else "free some space"
