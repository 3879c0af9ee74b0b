"""How long-running work reports progress, without knowing who draws it (rich bars, or nothing)."""

from __future__ import annotations

from typing import Protocol


class Task(Protocol):
    def update(self, done: float, total: float | None = None) -> None: ...

    def close(self) -> None: ...


class Reporter(Protocol):
    def task(self, description: str, total: float | None, unit: str) -> Task: ...

    def note(self, message: str) -> None: ...


class _NullTask:
    def update(self, done: float, total: float | None = None) -> None:
        pass

    def close(self) -> None:
        pass


class NullReporter:
    """For --quiet, --json and tests. A context manager like the rich reporter, doing nothing."""

    def __enter__(self) -> NullReporter:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def task(self, description: str, total: float | None, unit: str) -> Task:
        return _NullTask()

    def note(self, message: str) -> None:
        pass
