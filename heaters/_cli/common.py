"""What every command group shares: the options (`--home`, `--json`, `--quiet`), the library a
command works on, and the renderings several commands print (state counts, review actions in
their grace period, failures)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from heaters.console import iso, out
from heaters.domain.review import Waiting
from heaters.library import ENV_HOME, Counts, Library

HomeOpt = Annotated[
    Path | None,
    typer.Option(
        "--home",
        envvar=ENV_HOME,
        help="Home folder (heaters.db + media/). Default: $HEATERS_HOME, else ~/.local/share/heaters.",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print only JSON on stdout.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or chatter.")]
ImagesOpt = Annotated[
    str,
    typer.Option("--images", help="Sprite drawing: auto | tgp | sixel | halfcell | none."),
]

# Ids and frame numbers are SQLite integers: anything larger is bad input, refused by the parser.
MAX_ID = 2**63 - 1

# `heaters --home DIR COMMAND`: the root callback's --home (None when not given).
ROOT_HOME: list[Path | None] = [None]


def library(home: Path | None) -> Library:
    """The library a command works on (its store opens on first use)."""
    return Library.open(home)


def print_counts(counts: Counts | dict[str, dict[str, int]]) -> None:
    table = counts.as_dict() if isinstance(counts, Counts) else counts
    for label in ("videos", "clips"):
        parts = ", ".join(f"{state} {n}" for state, n in sorted(table[label].items())) or "none"
        out.print(f"{label}: {parts}")


def waiting_dict(w: Waiting) -> dict[str, Any]:
    return {
        "actions": w.actions,
        "first_commit_at": iso(w.first_at),
        "last_commit_at": iso(w.last_at),
    }


def waiting_line(w: Waiting) -> str:
    """How many review actions wait for their grace period, and when they commit."""

    def when(t: float) -> str:
        return f"{iso(t)} (in {max(0.0, t - time.time()):.0f}s)"

    assert w.first_at is not None and w.last_at is not None
    if w.last_at <= time.time():
        return (
            f"review: {w.actions} action(s) are past their grace period:"
            " the next `heaters run` commits them"
        )
    span = when(w.first_at)
    if w.last_at != w.first_at:
        span += f" to {when(w.last_at)}"
    return (
        f"review: {w.actions} action(s) wait for their grace period and commit at {span}; "
        "the next `heaters run` after that applies them"
    )


def failure_dict(f: Any) -> dict[str, Any]:
    return {
        "kind": f.subject,
        "id": f.row_id,
        "step": f.step,
        "state": f.state,
        "final": f.final,
        "attempts": f.attempts,
        "error": f.error,
        "next_attempt_at": iso(f.next_attempt_at),
    }


def failure_line(f: Any) -> str:
    """One line per failed attempt: failed for good, or when the next attempt comes."""
    if f.final:
        what = f"{f.step} failed ({f.state}, attempt {f.attempts})"
    elif f.next_attempt_at is not None:
        what = f"{f.step} failed (attempt {f.attempts}); next attempt at {iso(f.next_attempt_at)}"
    else:
        what = f"{f.step} failed (attempt {f.attempts}); retried on the next run"
    return f"{f.subject} {f.row_id}: {what}: {f.error}"


def size(n: float) -> str:
    for unit in ("B", "KB", "MB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"
