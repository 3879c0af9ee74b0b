"""The progress bar of long work: frames done of the total, the rate and the time left."""

from __future__ import annotations

import io

from rich.console import Console

from heaters import console as heaters_console
from heaters.console import RichReporter


def test_splice_bar_shows_frames_rate_and_time_left(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    out = Console(file=io.StringIO(), force_terminal=True, width=140)
    monkeypatch.setattr(heaters_console, "err", out)
    clock = [0.0]
    reporter = RichReporter()
    reporter.progress.get_time = lambda: clock[0]  # type: ignore[method-assign]
    task = reporter.task("splice #1", 216_000, "frames")
    for done in range(0, 12_001, 1_500):  # 600 frames a second for 20 s
        task.update(done)
        clock[0] += 2.5
    line = reporter.progress.make_tasks_table(reporter.progress.tasks)
    text = Console(file=io.StringIO(), width=140, record=True)
    text.print(line)
    shown = text.export_text()
    assert "12000/216000" in shown  # frames done of the total
    assert "600 frames/s" in shown  # the rate
    assert "0:05:40" in shown  # time left: 204,000 frames at 600 a second
