"""Terminal output for the CLI: JSON on stdout, rich tables, progress bars on stderr."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape

from heaters.domain.text import iso
from heaters.runner.progress import NullReporter, Task

if TYPE_CHECKING:  # rich.progress is loaded by the commands that show progress, not by all
    from rich.progress import Progress, TaskID

__all__ = ["err", "iso", "out", "print_json", "printable", "reporter", "safe"]

# Bidi overrides and isolates make shown text lie about its order; control characters (ESC,
# newline, carriage return, NUL...) can forge lines or drive the terminal.
_INVISIBLE = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def printable(value: object) -> str:
    """Text from outside (a URL, a path, a title, an error) as one visible line: control and bidi
    characters are shown escaped (`\\x1b`, `\\n`, `\\u202e`), everything else as it is."""
    text = str(value)
    if text.isprintable() and not _INVISIBLE.intersection(text):
        return text
    shown = []
    for ch in text:
        if ch in _INVISIBLE or (not ch.isprintable() and ch != " "):
            code = ord(ch)
            shown.append(
                {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(ch)
                or (
                    f"\\x{code:02x}"
                    if code < 0x100
                    else f"\\u{code:04x}"
                    if code < 0x10000
                    else f"\\U{code:08x}"
                )
            )
        else:
            shown.append(ch)
    return "".join(shown)


def safe(value: object) -> str:
    """Outside text for a string printed with markup on: escaped for Rich and the terminal."""
    return escape(printable(value))


class SafeConsole(Console):
    """A console where text is text: markup only where a caller asks for it (`markup=True`, and
    then it escapes what came from outside with `safe`), control characters always escaped.

    Rich markup in a URL (`/page[/red]x.html`) would otherwise break a listing for good.
    """

    def print(self, *objects: Any, markup: bool | None = None, **kwargs: Any) -> None:  # type: ignore[override]
        if not markup:
            objects = tuple(printable(o) if isinstance(o, str) else o for o in objects)
        super().print(*objects, markup=bool(markup), **kwargs)


out = SafeConsole(highlight=False, soft_wrap=True)
err = SafeConsole(stderr=True, highlight=False, soft_wrap=True)


def print_json(data: Any) -> None:
    """Only JSON on stdout: one document, UTF-8."""
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")
    sys.stdout.flush()


class _RichTask:
    def __init__(self, progress: Progress, task_id: TaskID, scale: float) -> None:
        self._progress = progress
        self._id = task_id
        self._scale = scale

    def update(self, done: float, total: float | None = None) -> None:
        done = round(done * self._scale, 1)
        if total:
            self._progress.update(self._id, completed=done, total=round(total * self._scale, 1))
        else:
            self._progress.update(self._id, completed=done)

    def close(self) -> None:
        self._progress.remove_task(self._id)


def _rate_column() -> Any:
    """A column of items per second (frames/s while splicing, MB/s while downloading): what an
    operator with a backlog of long videos plans by. Built when a bar is (rich.progress is not
    loaded by the quick commands)."""
    from rich.progress import ProgressColumn
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task: Any) -> Text:
            speed = task.finished_speed or task.speed
            unit = task.fields.get("unit", "")
            if speed is None or not unit:
                return Text("")
            shown = f"{speed:,.0f}" if speed >= 10 else f"{speed:.1f}"
            return Text(f"{shown} {unit}/s", style="progress.data.speed")

    return RateColumn()


class RichReporter:
    """Progress bars on stderr; one per running stage item."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            _rate_column(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=err,
            transient=True,
        )

    def __enter__(self) -> RichReporter:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def task(self, description: str, total: float | None, unit: str) -> Task:
        scale = 1e-6 if unit == "bytes" else 1.0
        label = "MB" if unit == "bytes" else unit
        task_id = self.progress.add_task(
            f"{description} ({label})", total=total * scale if total else None, unit=label
        )
        return _RichTask(self.progress, task_id, scale)

    def note(self, message: str) -> None:
        self.progress.console.print(message)


def reporter(quiet: bool, as_json: bool) -> NullReporter | RichReporter:
    if quiet or as_json or not err.is_terminal:
        return NullReporter()
    return RichReporter()
