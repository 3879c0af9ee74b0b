"""Feeding the pipeline: ingest, run, retry, resplice, demo. Parse, one library call, render."""

from __future__ import annotations

import dataclasses
import shlex
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from heaters._cli.common import (
    MAX_ID,
    ROOT_HOME,
    HomeOpt,
    JsonOpt,
    QuietOpt,
    failure_dict,
    failure_line,
    library,
    print_counts,
    waiting_dict,
    waiting_line,
)
from heaters.console import err, out, print_json, reporter
from heaters.domain.review import Waiting
from heaters.domain.text import counted
from heaters.library import Library, RunOutcome, WaitInterrupted


def ingest_cmd(
    sources: Annotated[
        list[str],
        typer.Argument(help="http(s) URLs (videos, playlists, channels, feeds, pages) or files."),
    ],
    home: HomeOpt = None,
    limit: Annotated[
        int | None,
        typer.Option("--limit", min=1, max=MAX_ID, help="Of a playlist: the first N entries."),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since", help="Of a playlist: entries uploaded on or after DATE (2024-05-01, 30d)."
        ),
    ] = None,
    follow: Annotated[
        bool,
        typer.Option("--follow", help="Remember the URL: heaters run registers its new entries."),
    ] = False,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Register videos to download and splice; a playlist, channel, feed or page registers each
    of its entries (nothing is downloaded yet).

    Example: [bold]heaters ingest https://www.youtube.com/@channel/videos --limit 20 --follow[/bold]
    """
    rep = reporter(quiet, as_json)
    lib = library(home)
    with rep:
        got = lib.ingest(sources, limit=limit, since=since, follow=follow, reporter=rep)
    if as_json:
        print_json(got.rows)
    elif not quiet:
        for kind, item in got.items:
            out.print(_ingest_line(kind, item), markup=False)
    for w in got.warnings:
        if not quiet or got.failed:
            err.print(w, markup=False)
    if got.failed:
        raise typer.Exit(1)


def _ingest_line(kind: str, item: Any) -> str:
    if kind == "video":
        verb = "registered" if item["created"] else "already registered"
        title = f" {item['title']}" if item.get("title") else ""
        return f"video {item['id']}: {verb} ({item['state']}){title} {item['source']}"
    if kind == "follow":
        return (
            f"following {item['url']} (follow {item['id']}): heaters run checks it at most"
            f" every {item['every_h']:g} h and registers its new entries"
        )
    sel = item.selection
    made = sum(1 for r in item.rows if r["created"])
    parts = [f"{item.entries} entries", f"{made} registered"]
    if len(item.rows) - made:
        parts.append(f"{len(item.rows) - made} already registered")
    if sel.seen_before:
        parts.append(f"{sel.seen_before} seen before")
    if sel.too_old:
        parts.append(f"{sel.too_old} before --since")
    if sel.over_limit:
        parts.append(f"{sel.over_limit} past --limit")
    title = f" {item.title!r}" if item.title else ""
    return f"playlist{title} {item.source}: {', '.join(parts)}"


def run_cmd(
    home: HomeOpt = None,
    once: Annotated[
        bool, typer.Option("--once", help="One pass of every step, then exit (cron).")
    ] = False,
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, max=64, help="Parallel workers.")
    ] = None,
    grace: Annotated[
        float | None, typer.Option("--grace", min=0, help="Seconds before a review action commits.")
    ] = None,
    detector: Annotated[
        str | None,
        typer.Option(
            "--detector", help="Scene detector: hybrid | content | transnetv2 | pyscenedetect."
        ),
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option("--threshold", help="Hard-cut stand-out (3), network probability (0.5)."),
    ] = None,
    min_clip_s: Annotated[
        float | None,
        typer.Option("--min-clip-s", min=0, help="Shortest clip (shorter scenes merge)."),
    ] = None,
    lock: Annotated[
        bool,
        typer.Option("--lock", help="Exit at once if another --lock run holds this home (cron)."),
    ] = False,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Download, splice and process everything that is due; loop until no work is left.

    Example: [bold]heaters run --once --quiet[/bold]   (from cron)
    """
    lib = library(home)
    settings = lib.run_settings(
        workers=workers, grace_s=grace, detector=detector, threshold=threshold,
        min_clip_s=min_clip_s,
    )  # fmt: skip
    from heaters.interrupt import raise_keyboard_interrupt

    raise_keyboard_interrupt()  # imports done: Ctrl-C is KeyboardInterrupt again (run installs
    # its own stop handling while workers run)
    if lock and not lib.take_run_lock():
        if as_json:
            print_json({"skipped": "another heaters run --lock holds this home"})
        elif not quiet:
            out.print("another heaters run --lock is working on this home; nothing to do")
        return
    outcome = _run(lib, settings, once, quiet, as_json)
    if as_json:
        print_json(_run_json(outcome))
    else:
        _print_run(outcome, quiet)
    if outcome.failed:
        raise typer.Exit(1)  # an item reached a failed state in this run (docs/robustness.md)


def _run(lib: Library, settings: Any, once: bool, quiet: bool, as_json: bool) -> RunOutcome:
    """The run with its progress bars and the countdown while review actions wait."""
    silent = quiet or as_json
    try:
        return lib.run(
            settings, once=once, reporter=lambda: reporter(quiet, as_json),
            on_wait=countdown(silent), on_wait_end=lambda: clear_countdown(silent),
        )  # fmt: skip
    except WaitInterrupted:
        err.print(
            "interrupted while waiting: the review actions stay pending; the next run commits them"
        )
        raise typer.Exit(130) from None


def countdown(quiet: bool) -> Callable[[Waiting, float], None]:
    """The countdown on stderr: one line rewritten in place on a terminal, else a line a wait."""
    shown: list[float] = []
    tty = sys.stderr.isatty()

    def show(w: Waiting, left: float) -> None:
        if quiet:
            return
        line = (
            f"run: waiting for {w.actions} review action(s) in their grace period; "
            f"they commit in {left:.0f}s (Ctrl-C stops, the next run commits them)"
        )
        if tty:
            sys.stderr.write("\r" + line + "\x1b[K")
            sys.stderr.flush()
        elif not shown or time.monotonic() - shown[-1] > 30:
            sys.stderr.write(line + "\n")
            shown.append(time.monotonic())

    return show


def clear_countdown(quiet: bool) -> None:
    if not quiet and sys.stderr.isatty():
        sys.stderr.write("\r\x1b[K")
        sys.stderr.flush()


def _run_json(o: RunOutcome) -> dict[str, Any]:
    report = o.report
    return {
        "status": report.status,
        "steps": o.steps,
        "passes": report.passes,
        "claimed": dict(report.claimed),
        "committed": report.committed,
        "reclaimed": report.reclaimed,
        "failures": [failure_dict(f) for f in report.failures],
        "notes": report.notes,
        "review_waiting": waiting_dict(o.waiting),
        **o.counts.as_dict(),
    }


def _print_run(o: RunOutcome, quiet: bool) -> None:
    report = o.report
    for failure in report.failures:  # even with --quiet: cron mails what went wrong
        err.print(failure_line(failure))
    if quiet:
        return
    for note in report.notes:
        out.print(note, markup=False)
    done = ", ".join(
        f"{k} {v}" + (f" ({report.seconds[k]:.1f} s)" if k in report.seconds else "")
        for k, v in report.claimed.items()
    )
    if report.committed:
        done = ", ".join(x for x in (f"committed {report.committed} review action(s)", done) if x)
    out.print(f"run: {done or 'nothing to do'}")
    if o.waiting.actions:
        out.print(waiting_line(o.waiting))
    print_counts(o.counts)


def retry_cmd(
    ids: Annotated[
        list[int] | None,
        typer.Argument(min=0, max=MAX_ID, help="Video ids (or clip ids with --clip)."),
    ] = None,
    home: HomeOpt = None,
    clip: Annotated[bool, typer.Option("--clip", help="The ids are clip ids.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Re-open failed videos and clips (all of them, or the ids given).

    Example: [bold]heaters retry 3 4[/bold]
    """
    reopened = library(home).retry(list(ids or []), clip)
    if as_json:
        print_json([{"kind": k, "id": i} for k, i in reopened])
    else:
        for kind, row_id in reopened:
            out.print(f"re-opened {kind} {row_id}")
        if not reopened:
            out.print("nothing failed")


def resplice_cmd(
    video_id: Annotated[int, typer.Argument(min=0, max=MAX_ID, help="Source video id.")],
    home: HomeOpt = None,
    detector: Annotated[
        str | None, typer.Option("--detector", help="hybrid | content | transnetv2.")
    ] = None,
    threshold: Annotated[float | None, typer.Option("--threshold", help="See heaters run.")] = None,
    min_clip_s: Annotated[
        float | None, typer.Option("--min-clip-s", min=0, help="Shortest clip.")
    ] = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Cut a video again from its stored per-frame scores (no decoding), if nobody reviewed it.
    Clips whose frames stay the same keep their id, sprite and state.

    Example: [bold]heaters resplice 3 --threshold 2.5 --min-clip-s 0.5[/bold]
    """
    r = library(home).resplice(
        video_id, detector=detector, threshold=threshold, min_clip_s=min_clip_s
    )
    if as_json:
        print_json(dataclasses.asdict(r))
        return
    if quiet:
        return
    merged = (
        f"; {counted(r.merged_cuts, 'cut')} inside scenes under {r.min_clip_s:g} s joined their"
        " neighbours"
        if r.merged_cuts
        else ""
    )
    new = r.clips_after - r.clips_kept
    after = f"{r.clips_kept} kept, {new} new" + ("; heaters run draws their sprites" if new else "")
    out.print(
        f"video {r.video_id}: {counted(r.clips_before, 'clip')} -> {counted(r.clips_after, 'clip')}"
        f" ({r.detector}, threshold {r.threshold:g}, min {r.min_clip_s:g} s{merged})"
        f" in {r.duration_ms} ms: {after}",
        markup=False,
    )


def demo_cmd(
    home: Annotated[
        Path | None,
        typer.Option("--home", help="Home folder for the demo (default: a new temporary folder)."),
    ] = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Make a short synthetic video with known cuts, ingest it and run the pipeline. No network.

    Example: [bold]heaters demo[/bold]
    """
    home = home if home is not None else ROOT_HOME[0]
    root = home if home is not None else Path(tempfile.mkdtemp(prefix="heaters-demo-"))

    def making() -> None:
        if not quiet and not as_json:
            err.print("making a synthetic demo video (ffmpeg lavfi sources)...")

    d = Library.open(root).demo(on_make=making)
    _print_run(d.run, quiet=True)  # what failed, as `heaters run --quiet` tells it
    if d.run.failed:
        raise typer.Exit(1)
    if as_json:
        print_json(
            {
                "home": str(root),
                "video_id": d.video_id,
                "true_cuts": d.true_cuts,
                "merged_cuts": d.merged_cuts,
                "clip_list": d.clips,
                **d.run.counts.as_dict(),
            }
        )
        return
    if not quiet:
        out.print(f"demo home: {root}")
        if d.true_cuts:
            out.print(f"true cuts (frames): {d.true_cuts}")
        out.print(f"clips found: {len(d.clips)}")
        if d.merged_cuts:
            out.print(
                f"{counted(d.merged_cuts, 'cut')} inside scenes under {d.min_clip_s:g} s joined"
                f" their neighbours (heaters resplice {d.video_id} --min-clip-s 0 --home"
                f" {shlex.quote(str(root))} keeps every cut)"
            )
        for c in d.clips:
            out.print(
                f"  clip {c['id']}: frames {c['start_frame']}-{c['end_frame']} "
                f"({c['start_time_s']:.2f}-{c['end_time_s']:.2f}s) {c['state']}"
            )
        print_counts(d.run.counts)
        out.print(f"next: heaters --help, or heaters status --home {shlex.quote(str(root))}")
