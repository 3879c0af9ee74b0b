"""A clock for the review screen's keys (a helper module, imported by name like `tuihome`).

A key's latency is the wall time from the key event entering the app until its action has
finished, with any database write or sheet decoding it started (the app's `pending_writes`,
`pending_loads`), and the next screen update has been written (or, for a key that changes
nothing on screen, until the action finished). Pilot's own `press` waits for the CPU to go idle
(20 ms steps, up to a second while playback runs), so it is not used as the clock.

Headless Textual skips turning a screen update into terminal text; the clock does that work
itself (what a real terminal would cost) so the figure includes it. Used by
`tests/tui/test_latency.py` and `benchmarks/review_keys.py` (which also runs it against an older
checkout of `heaters`, so it relies only on what every version of the app has: `run_action` and
Textual's `_display`).
"""

from __future__ import annotations

import asyncio
import cProfile
import gc
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from textual import events
from textual.app import App

SIZE = (160, 48)
BUDGET_S = 0.050

CHARS = {
    "question_mark": "?",
    "space": " ",
    "slash": "/",
    **{c: c for c in "abcdefghijklmnopqrstuvwxyz"},
}


@dataclass(frozen=True)
class KeyTime:
    """One key: wall seconds until drawn; CPU seconds of the UI thread and of the process in
    that time (the process figure includes worker threads and playback ticks)."""

    key: str
    wall: float
    ui_cpu: float
    cpu: float
    handled: bool
    gc_s: float = 0.0  # time in Python's cyclic garbage collector during the key
    saved: float = 0.0  # wall seconds until the key's database write is also done and drawn


def key_latencies(
    app: App[Any],
    keys: Sequence[str],
    *,
    size: tuple[int, int] = SIZE,
    gap_s: float = 0.1,
    pause_before: Mapping[str, float] | None = None,
    profile: dict[str, cProfile.Profile] | None = None,
    ready: Callable[[App[Any]], Any] | None = None,
) -> list[KeyTime]:
    """Press `keys` one by one in `app` (run headless at `size`), `gap_s` apart (an operator is
    not a key repeat; `pause_before` gives some keys a longer look first), and time each.
    `profile` maps keys to a cProfile of the UI thread."""
    marks: dict[str, float] = {}
    run_action, display = app.run_action, app._display

    async def timed_action(*args: Any, **kwargs: Any) -> bool:
        acted = await run_action(*args, **kwargs)
        if acted:  # a binding whose check_action said no lets the key try the next one
            marks["handled"] = time.perf_counter()
        return acted

    def timed_display(screen: Any, renderable: Any) -> None:
        display(screen, renderable)
        if renderable is not None and hasattr(renderable, "render_segments"):
            renderable.render_segments(app.console)  # what a real terminal would be sent
        marks["drawn"] = time.perf_counter()

    collecting: dict[str, float] = {"total": 0.0}

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collecting["start"] = time.perf_counter()
        elif "start" in collecting:
            collecting["total"] += time.perf_counter() - collecting.pop("start")

    async def until(busy: Callable[[], bool], start: float) -> float | None:
        """Wait while `busy()` (at most 5 s from `start`); when it ended, if it had to wait."""
        waited = False
        while busy() and time.perf_counter() - start < 5:
            waited = True
            await asyncio.sleep(0.001)
        return time.perf_counter() if waited else None

    async def drawn_after(moment: float, start: float) -> float:
        """The first screen update written after `moment` (or `moment`, if none comes)."""
        while marks.get("drawn", 0.0) < moment and time.perf_counter() - moment < 0.5:
            await asyncio.sleep(0.001)
        return marks["drawn"] if marks.get("drawn", 0.0) >= moment else moment

    app.run_action = timed_action  # type: ignore[method-assign]
    app._display = timed_display  # type: ignore[method-assign]
    got: list[KeyTime] = []

    async def main() -> None:
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            if ready is not None:
                await ready(app)
            for key in keys:
                await asyncio.sleep((pause_before or {}).get(key, gap_s))
                marks.clear()
                gc_before = collecting["total"]
                prof = None
                if profile is not None and key in profile:
                    prof = profile[key]
                    prof.enable()
                start, ui_start, cpu_start = (
                    time.perf_counter(),
                    time.thread_time(),
                    time.process_time(),
                )
                app.post_message(events.Key(key, CHARS.get(key)))
                while "handled" not in marks and time.perf_counter() - start < 5:
                    await asyncio.sleep(0.001)
                # What the key shows may wait for a write (undo) or a decoded sheet.
                viewed = await until(lambda: view_pending(app), start)
                shown = await drawn_after(viewed or marks.get("handled", start), start)
                # Then the database write it started (a decision is shown before it is saved).
                written = await until(lambda: getattr(app, "pending_writes", 0) > 0, start)
                saved = shown if written is None else await drawn_after(written, start)
                ui_cpu, cpu = time.thread_time() - ui_start, time.process_time() - cpu_start
                if prof is not None:
                    prof.disable()
                got.append(
                    KeyTime(
                        key,
                        shown - start,
                        ui_cpu,
                        cpu,
                        "handled" in marks,
                        collecting["total"] - gc_before,
                        saved - start,
                    )
                )
            await asyncio.sleep(gap_s)
            await app.workers.wait_for_complete()

    gc.callbacks.append(on_gc)
    try:
        asyncio.run(main())
    finally:
        gc.callbacks.remove(on_gc)
    return got


def view_pending(app: App[Any]) -> bool:
    """Whether what the last key shows is still coming: a write it waits on, a sheet."""
    return bool(getattr(app, "awaiting_view", 0) or getattr(app, "pending_loads", 0))


def p95(values: Sequence[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1]


def p50(values: Sequence[float]) -> float:
    return statistics.median(values)
