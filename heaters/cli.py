"""The `heaters` command line: parse, call the store/runner, render. No business rules here."""

from __future__ import annotations

import dataclasses
import importlib
import logging
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from heaters import __version__
from heaters.console import err, iso, out, print_json, reporter, safe
from heaters.domain.sources import parse_source
from heaters.domain.states import SUPERSEDED, ClipState
from heaters.domain.text import one_line
from heaters.errors import (
    BadInput,
    HeatersError,
    OperationFailed,
    storage_advice,
    storage_problem,
)
from heaters.interrupt import Interrupted
from heaters.settings import ConfigError, Settings, load
from heaters.store import reads, status
from heaters.store.home import ENV_HOME, Home, default_home

if TYPE_CHECKING:
    from heaters.store.store import Store
    from heaters.store.tables import Clip, SourceVideo


class _Later:
    """A module imported on first use. Module level here is light (typer, rich, the stdlib, pure
    heaters modules): `--version`, `status` and `clips` never load SQLAlchemy, SQLModel, numpy
    or the media and model stack (tests/test_quick.py); the other commands load what they use."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(importlib.import_module(self._name), attr)


claims = _Later("heaters.store.claims")
clips = _Later("heaters.store.clips")
videos = _Later("heaters.store.videos")
step_runs = _Later("heaters.store.step_runs")

app = typer.Typer(
    name="heaters",
    help="Turn online videos into a reviewed, searchable library of clips.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)

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

# Ids and frame numbers are SQLite integers: anything larger is bad input, refused by the parser.
MAX_ID = 2**63 - 1


def _version(value: bool) -> None:
    if value:
        typer.echo(f"heaters {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    home: HomeOpt = None,
) -> None:
    """`heaters --home DIR COMMAND` is `heaters COMMAND --home DIR` (the command's own wins)."""
    del debug  # read by main() before Typer parses, so that errors in parsing honour it too
    if home is not None:
        # Runs before the command's options are parsed: its --home (envvar HEATERS_HOME)
        # defaults to this one, and `demo` uses it instead of a temporary folder.
        os.environ[ENV_HOME] = str(home)
        _ROOT_HOME[0] = home


_ROOT_HOME: list[Path | None] = [None]


def open_store(home: Path | None) -> Store:
    from heaters.store.store import Store, StoreError

    root = home if home is not None else default_home()
    try:
        return Store.open(root)
    except StoreError as exc:
        raise OperationFailed(str(exc)) from exc


@dataclasses.dataclass
class Listing:
    home: Home
    db: Any  # a reads.Reader (the quick path) or a SQLModel session (the full store)


@contextmanager
def reading(home: Path | None) -> Iterator[Listing]:
    """One read transaction for a listing: the quick read path (plain SQL, read-only) when the
    home is ready for it, else the full store, which migrates or refuses as every command does."""
    root = home if home is not None else default_home()
    with reads.open_reader(root) as reader:
        if reader is not None:
            yield Listing(reader.home, reader)
            return
    store = open_store(root)
    with store.tx(write=False) as session:
        yield Listing(store.home, session)


def settings_for(store: Store | Listing, **overrides: Any) -> Settings:
    try:
        return load(store.home.root).with_overrides(**overrides)
    except ConfigError as exc:
        raise BadInput(str(exc)) from exc


# ---------------------------------------------------------------- ingest


@app.command()
def ingest(
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
        typer.Option("--since", help="Of a playlist: entries uploaded on or after DATE (2024-05-01, 30d)."),
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
    from heaters.cli_sources import ingest_sources

    ingest_sources(sources, home, limit, since, follow, as_json, quiet)


# ---------------------------------------------------------------- run


@app.command()
def run(
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
    from heaters.runner.context import RunContext
    from heaters.runner.dispatch import run as dispatch_run
    from heaters.settings import resolve_model

    flags = {"workers": workers, "grace_s": grace, "detector": detector,
             "threshold": threshold, "min_clip_s": min_clip_s}  # fmt: skip
    try:  # bad flags are refused before the home is even opened: nothing written
        Settings().with_overrides(**flags)
    except ConfigError as exc:
        raise BadInput(str(exc)) from exc
    store = open_store(home)
    settings = settings_for(store, **flags)
    _check_detector(settings.detector, settings.threshold)
    _check_ytdlp(settings)
    try:  # a model that cannot load would fail every clip it reaches: refuse before any work
        resolve_model(settings)
    except ConfigError as exc:
        raise BadInput(str(exc)) from exc
    from heaters.interrupt import raise_keyboard_interrupt

    raise_keyboard_interrupt()  # imports done: Ctrl-C is KeyboardInterrupt again (run installs
    # its own stop handling while workers run)
    if lock and not _take_run_lock(store):
        if as_json:
            print_json({"skipped": "another heaters run --lock holds this home"})
        elif not quiet:
            out.print("another heaters run --lock is working on this home; nothing to do")
        return
    rep = reporter(quiet, as_json)
    ctx = RunContext(store=store, settings=settings, reporter=rep)
    with rep:
        report = dispatch_run(ctx, once=once, workers=settings.workers)
    if not once:  # review actions still in their grace period: wait, then commit and go on
        report = _run_after_review_grace(
            ctx, report, quiet or as_json, lambda: reporter(quiet, as_json)
        )
    with store.tx(write=False) as session:
        summary = {
            "videos": status.counts(session, "source_videos"),
            "clips": status.counts(session, "clips"),
        }
        young = review_waiting(session, settings.grace_s)
        steps = step_runs.totals(session, ctx.run_id)
    if as_json:
        print_json(
            {
                "status": report.status,
                "steps": steps,
                "passes": report.passes,
                "claimed": dict(report.claimed),
                "committed": report.committed,
                "reclaimed": report.reclaimed,
                "failures": [_failure_dict(f) for f in report.failures],
                "notes": report.notes,
                "review_waiting": _waiting_dict(young),
                **summary,
            }
        )
    else:
        for failure in report.failures:  # even with --quiet: cron mails what went wrong
            err.print(_failure_line(failure))
        if not quiet:
            for note in report.notes:
                out.print(note, markup=False)
            done = ", ".join(
                f"{k} {v}" + (f" ({report.seconds[k]:.1f} s)" if k in report.seconds else "")
                for k, v in report.claimed.items()
            )
            if report.committed:
                done = ", ".join(
                    x for x in (f"committed {report.committed} review action(s)", done) if x
                )
            out.print(f"run: {done or 'nothing to do'}")
            if young.actions:
                out.print(_waiting_line(young))
            _print_counts(summary)
    if any(f.final for f in report.failures):
        raise typer.Exit(1)  # an item reached a failed state in this run (docs/robustness.md)


def review_waiting(session: Any, grace_s: float) -> Any:
    from heaters.store.review import waiting

    return waiting(session, grace_s)


def _waiting_dict(w: Any) -> dict[str, Any]:
    return {
        "actions": w.actions,
        "first_commit_at": iso(w.first_at),
        "last_commit_at": iso(w.last_at),
    }


def _waiting_line(w: Any) -> str:
    """How many review actions wait for their grace period, and when they commit."""
    import time

    def when(t: float) -> str:
        return f"{iso(t)} (in {max(0.0, t - time.time()):.0f}s)"

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


def _run_after_review_grace(ctx: Any, report: Any, quiet: bool, make_reporter: Any) -> Any:
    """Wait (with a countdown) for review actions younger than the grace period, then run again:
    they commit, and their clips go on to keyframes and embeddings."""
    from heaters.runner.dispatch import run as dispatch_run
    from heaters.runner.review_commit import clear_countdown, countdown, wait_for_young

    show = countdown(quiet)
    while True:
        try:
            again = wait_for_young(ctx, show)
        except KeyboardInterrupt:
            clear_countdown(quiet)
            err.print(
                "interrupted while waiting: the review actions stay pending;"
                " the next run commits them"
            )
            raise typer.Exit(130) from None
        clear_countdown(quiet)
        if not again:
            return report
        ctx.reporter = make_reporter()
        with ctx.reporter:
            more = dispatch_run(ctx, once=False, workers=ctx.settings.workers)
        report.merge(more)
        report.failures, report.notes = more.failures, more.notes


def _check_ytdlp(settings: Settings) -> None:
    """Refuse yt-dlp options no download could use (a cookies file gone since), before any work."""
    from heaters.settings import ytdlp_params

    try:
        ytdlp_params(settings)
    except ConfigError as exc:
        raise BadInput(str(exc)) from exc


def _check_detector(detector: str | None, threshold: float | None) -> None:
    """Refuse a detector or threshold no splice could use, before any work (exit 2)."""
    from heaters.domain.scenes import check_detector

    try:
        check_detector(detector, threshold)
    except ValueError as exc:
        raise BadInput(str(exc)) from exc


def _failure_dict(f: Any) -> dict[str, Any]:
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


def _failure_line(f: Any) -> str:
    """One line per failed attempt: failed for good, or when the next attempt comes."""
    if f.final:
        what = f"{f.step} failed ({f.state}, attempt {f.attempts})"
    elif f.next_attempt_at is not None:
        what = f"{f.step} failed (attempt {f.attempts}); next attempt at {iso(f.next_attempt_at)}"
    else:
        what = f"{f.step} failed (attempt {f.attempts}); retried on the next run"
    return f"{f.subject} {f.row_id}: {what}: {f.error}"


def _take_run_lock(store: Store) -> bool:
    """Held until the process exits: overlapping crons skip instead of piling up."""
    from heaters import owner
    from heaters.store import runlock

    return runlock.take(store, owner.host_name())


# ---------------------------------------------------------------- status / listings


def _print_counts(summary: dict[str, dict[str, int]]) -> None:
    for label, table in (("videos", summary["videos"]), ("clips", summary["clips"])):
        parts = ", ".join(f"{state} {n}" for state, n in sorted(table.items())) or "none"
        out.print(f"{label}: {parts}")


@app.command("status")
def status_cmd(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Counts per state for videos and clips, and what failed.

    Example: [bold]heaters status --json[/bold]
    """
    with reading(home) as listing:
        grace_s = settings_for(listing).grace_s
        db = listing.db
        young = reads.waiting(db, grace_s)
        data = {
            "home": str(listing.home.root),
            "videos": reads.counts(db, "source_videos"),
            "clips": reads.counts(db, "clips"),
            "failed_videos": reads.failures(db, "source_videos"),
            "failed_clips": reads.failures(db, "clips"),
            "review_waiting": _waiting_dict(young),
            "time": step_runs.totals(db),
        }
    for label in ("failed_videos", "failed_clips"):  # times are ISO 8601 everywhere
        for row in data[label]:
            row["next_attempt_at"] = iso(row["next_attempt_at"])
    if as_json:
        print_json(data)
        return
    out.print(f"home: {data['home']}")
    _print_counts(data)
    if young.actions:
        out.print(_waiting_line(young))
    if data["time"]:
        out.print(_time_line(data["time"]), markup=False)
    for label in ("failed_videos", "failed_clips"):
        for row in data[label]:
            kind = "video" if label == "failed_videos" else "clip"
            out.print(
                f"[red]{kind} {row['id']}[/red] {row['state']} "
                f"(attempt {row['attempts']}): {safe(row['last_error'])}",
                markup=True,
            )


def _time_line(rows: list[dict[str, Any]]) -> str:
    """Where the time goes, per stage: seconds in all runs, and per minute of footage."""
    parts = []
    for r in rows:
        per = r["seconds_per_footage_minute"]
        rate = f", {per:.1f} s/footage min" if per is not None else ""
        failed = f", {r['failed']} failed" if r["failed"] else ""
        parts.append(f"{r['step']} {r['seconds']:.1f} s ({r['items']} items{rate}{failed})")
    return "time: " + "; ".join(parts)


def video_dict(v: SourceVideo) -> dict[str, Any]:
    return {
        "id": v.id,
        "url": v.url,
        "local_path": v.local_path,
        "title": v.title,
        "state": v.state,
        "attempts": v.attempts,
        "last_error": v.last_error,
        "next_attempt_at": iso(v.next_attempt_at),
        "filepath": v.filepath,
        "duration_s": v.duration_s,
        "fps": v.fps,
        "frame_count": v.frame_count,
        "width": v.width,
        "height": v.height,
        "codec": v.codec,
        "detector": v.detector,
        "detector_params": v.detector_params,
        "metadata": v.source_meta,
        "created_at": iso(v.created_at),
        "key": v.source_key,
        "uploader": v.uploader,
        "upload_date": v.upload_date,
        "description": v.description,
        "chapters": v.chapters,
        "follow_id": v.follow_id,
    }


def clip_dict(c: Clip | reads.ClipRow) -> dict[str, Any]:
    return {
        "id": c.id,
        "source_video_id": c.source_video_id,
        "state": c.state,
        "start_frame": c.start_frame,
        "end_frame": c.end_frame,
        "start_time_s": round(c.start_time_s, 4),
        "end_time_s": round(c.end_time_s, 4),
        "duration_s": round(c.end_time_s - c.start_time_s, 4),
        "origin": c.origin,
        "grouped_with_clip_id": c.grouped_with_clip_id,
        "superseded_by": c.superseded_by,
        "attempts": c.attempts,
        "last_error": c.last_error,
    }


@app.command("videos")
def videos_cmd(
    video_id: Annotated[
        int | None, typer.Argument(min=0, max=MAX_ID, help="One video: all it is known by.")
    ] = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List source videos (uploader, date), or one video's details (description, chapters).

    Example: [bold]heaters videos[/bold]   [bold]heaters videos 3[/bold]
    """
    if video_id is not None:
        from heaters.cli_sources import video_details

        video_details(video_id, home, as_json)
        return
    from heaters.cli_sources import video_line_extra

    store = open_store(home)
    with store.tx(write=False) as session:
        rows = [video_dict(v) for v in videos.all_videos(session)]
    if as_json:
        print_json(rows)
        return
    for r in rows:
        dur = f"{r['duration_s']:.1f}s" if r["duration_s"] else "?"
        title = r["title"] or r["url"] or r["local_path"]
        line = f"{r['id']:>4}  {r['state']:<16} {dur:>8}  {safe(title)}{safe(video_line_extra(r))}"
        if r["last_error"]:
            line += f"  [red]({safe(r['last_error'])})[/red]"
        out.print(line, markup=True)


@app.command("clips")
def clips_cmd(
    home: HomeOpt = None,
    video: Annotated[int | None, typer.Option("--video", min=0, max=MAX_ID, help="Only this source video.")] = None,
    state: Annotated[str | None, typer.Option("--state", help="Only clips in this state.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List clips (frame ranges are [start, end), end exclusive).

    Example: [bold]heaters clips --video 1 --state pending_review[/bold]
    """
    if state is not None and state not in {s.value for s in ClipState}:
        raise BadInput(f"unknown clip state {state!r}")
    with reading(home) as listing:
        found = reads.clip_rows(listing.db, video, [state] if state else None)
        rows = [clip_dict(c) for c in found]
        tags = reads.tags_by_clip(listing.db, [r["id"] for r in rows])
    for r in rows:
        r["tags"] = tags.get(r["id"], [])
    if as_json:
        print_json(rows)
        return
    for r in rows:
        out.print(
            f"{r['id']:>5}  video {r['source_video_id']:<4} {r['state']:<16} "
            f"frames {r['start_frame']}-{r['end_frame']}  "
            f"{r['start_time_s']:.2f}-{r['end_time_s']:.2f}s"
        )


@app.command()
def retry(
    ids: Annotated[
        list[int] | None, typer.Argument(min=0, max=MAX_ID, help="Video ids (or clip ids with --clip).")
    ] = None,
    home: HomeOpt = None,
    clip: Annotated[bool, typer.Option("--clip", help="The ids are clip ids.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Re-open failed videos and clips (all of them, or the ids given).

    Example: [bold]heaters retry 3 4[/bold]
    """
    import time

    store = open_store(home)
    with store.tx() as session:
        if not ids:
            reopened = claims.retry_failed(session, time.time())
        elif clip:
            reopened = claims.retry_failed(session, time.time(), clip_ids=list(ids))
        else:
            reopened = claims.retry_failed(session, time.time(), video_ids=list(ids))
    if ids and not reopened:
        raise BadInput(f"no failed {'clip' if clip else 'video'} among {', '.join(map(str, ids))}")
    if as_json:
        print_json([{"kind": k, "id": i} for k, i in reopened])
    else:
        for kind, row_id in reopened:
            out.print(f"re-opened {kind} {row_id}")
        if not reopened:
            out.print("nothing failed")


@app.command()
def gc(
    home: HomeOpt = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only say what would go; change nothing.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Free disk space: media files no row references, stray temp files, and the sprites,
    keyframes and embeddings of archived or superseded (merged/split) clips.

    Safe while a run works: folders of rows a run holds are left alone.
    Example: [bold]heaters gc --dry-run[/bold]
    """
    import time

    from heaters.store import gc as gc_store

    store = open_store(home)
    listing = gc_store.walk(store.home)  # before the transaction: files made later are never seen
    with store.tx() as session:
        plan, facts = gc_store.collect(session, listing, time.time(), dry_run)
    freed = plan.bytes if dry_run else gc_store.delete_files(store.home, plan, facts.claimed)
    data = {"dry_run": dry_run, **plan.summary(), "bytes": freed}
    if as_json:
        print_json(data)
        return
    if not plan.files and not plan.artifact_ids and not plan.embedding_ids:
        out.print("gc: nothing to free")
        return
    verb = "would free" if dry_run else "freed"
    reasons = ", ".join(f"{n} {r}" for r, n in data["by_reason"].items())  # type: ignore[attr-defined]
    out.print(
        f"gc: {verb} {_size(freed)} in {len(plan.files)} files"
        + (f" ({reasons})" if reasons else "")
        + f"; {'would drop' if dry_run else 'dropped'} {len(plan.artifact_ids)} artifact and"
        f" {len(plan.embedding_ids)} embedding rows of {len(plan.clips)} archived/superseded clips"
    )


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


# ---------------------------------------------------------------- review


review_app = typer.Typer(
    help="Review clips: the TUI without a subcommand, or one action per call for scripts.",
    invoke_without_command=True,
    no_args_is_help=False,
)
app.add_typer(review_app, name="review")

ImagesOpt = Annotated[
    str,
    typer.Option("--images", help="Sprite drawing: auto | tgp | sixel | halfcell | none."),
]


def _review_cfg(store: Store, settings: Settings) -> Any:
    from heaters.store.review import ReviewConfig

    return ReviewConfig(home=store.home, min_clip_s=settings.min_clip_s, reviewer=settings.reviewer)


@review_app.callback()
def review_main(
    ctx: typer.Context,
    home: HomeOpt = None,
    video: Annotated[int | None, typer.Option("--video", min=0, max=MAX_ID, help="Only clips of this video.")] = None,
    images: ImagesOpt = "auto",
) -> None:
    """Open the review TUI (keys: a approve, s skip, d archive, m merge, g group, enter split,
    u undo, ? help).

    Example: [bold]heaters review --video 1[/bold]
    """
    if ctx.invoked_subcommand is not None:
        return
    if images not in ("auto", "tgp", "sixel", "halfcell", "none"):
        raise BadInput(f"unknown --images mode {images!r}")
    if not (sys.stdin.isatty() and sys.stdout.isatty()):  # else it never exits, writing escapes
        raise BadInput(
            "heaters review needs a terminal; in scripts use heaters review approve|skip|archive"
            "|merge|group|split CLIP_ID"
        )
    from heaters.tui.launch import launch

    store = open_store(home)
    settings = settings_for(store)
    with store.tx(write=False) as session:  # a damaged database fails here, in one line
        from sqlalchemy import text

        check = "ok" if store.is_postgres else session.execute(text("PRAGMA quick_check(1)")).scalar()
        if check != "ok":
            raise OperationFailed(
                f"the database is damaged ({one_line(str(check), 200)}); restore heaters.db from"
                " a backup"
            )
        if video is not None and videos.get(session, video) is None:
            raise BadInput(f"no video {video}")
    launch(store, settings, video_id=video, images=images)


def _act(
    action: str,
    clip_id: int,
    home: Path | None,
    as_json: bool,
    payload: dict | None = None,
    quiet: bool = False,
) -> None:
    import time

    from heaters.domain.review import ReviewRefused
    from heaters.store import review as review_store

    store = open_store(home)
    settings = settings_for(store)
    from heaters.domain.review import describe

    try:
        with store.tx() as session:
            noted = review_store.append_noted(
                session, clip_id, action, payload, _review_cfg(store, settings), time.time()
            )
    except ReviewRefused as exc:
        raise BadInput(str(exc)) from exc
    event = noted.event
    replaces = [
        {"event_id": e.id, "action": describe(e.action, e.clip_id, e.payload)}
        for e in noted.replaced
    ]
    data = {
        "event_id": event.id, "clip_id": clip_id, "action": action, "payload": event.payload,
        "replaces": replaces, "notes": noted.notes,
    }  # fmt: skip
    if as_json:
        print_json(data)
    elif not quiet:
        out.print(
            f"event {event.id}: {describe(action, clip_id, event.payload)} "
            f"(commits in {settings.grace_s:g}s; undo with heaters review undo)"
        )
        for r in replaces:
            out.print(f"  replaces event {r['event_id']} ({r['action']}): it will not apply")
        for note in noted.notes:
            out.print(f"  note: {note}")


def _make_action(action: str, doc: str) -> None:
    def command(
        clip_id: Annotated[int, typer.Argument(min=0, max=MAX_ID, help="Clip id.")],
        home: HomeOpt = None,
        as_json: JsonOpt = False,
        quiet: QuietOpt = False,
    ) -> None:
        _act(action, clip_id, home, as_json, quiet=quiet)

    command.__doc__ = doc
    review_app.command(action)(command)


_make_action("approve", "Approve a clip.\n\nExample: [bold]heaters review approve 12[/bold]")
_make_action("skip", "Skip a clip (decide later).\n\nExample: [bold]heaters review skip 12[/bold]")
_make_action("archive", "Archive a clip.\n\nExample: [bold]heaters review archive 12[/bold]")
_make_action(
    "merge",
    "Merge a clip with the previous clip of its video.\n\nExample: [bold]heaters review merge 12[/bold]",
)
_make_action(
    "group",
    "Group a clip with the previous clip (both approved).\n\n"
    "Example: [bold]heaters review group 12[/bold]",
)


@review_app.command("split")
def review_split(
    clip_id: Annotated[int, typer.Argument(min=0, max=MAX_ID, help="Clip id.")],
    frame: Annotated[int, typer.Option("--frame", min=0, max=MAX_ID, help="Absolute source frame of the cut.")],
    home: HomeOpt = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Split a clip in two at an absolute source frame.

    Example: [bold]heaters review split 12 --frame 480[/bold]
    """
    _act("split", clip_id, home, as_json, {"frame": frame}, quiet)


@review_app.command("undo")
def review_undo(
    event_id: Annotated[
        int | None, typer.Argument(min=0, max=MAX_ID, help="Event to undo (default: your newest).")
    ] = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Undo a review action, committed or not.

    Example: [bold]heaters review undo[/bold]
    """
    import time

    from heaters.domain.review import ReviewRefused
    from heaters.store import review as review_store

    store = open_store(home)
    settings = settings_for(store)
    try:
        with store.tx() as session:
            outcome = review_store.undo(
                session, _review_cfg(store, settings), time.time(), event_id
            )
    except ReviewRefused as exc:
        raise BadInput(f"cannot undo: {exc}") from exc
    for path in outcome.files_to_delete:
        path.unlink(missing_ok=True)
    data = {
        "event_id": outcome.event.id,
        "undid": outcome.target.id,
        "action": outcome.target.action,
        "clip_id": outcome.target.clip_id,
        "restored_clip_ids": outcome.restored_clip_ids,
        "removed_clip_ids": outcome.removed_clip_ids,
    }
    if as_json:
        print_json(data)
    elif not quiet:
        out.print(
            f"undid event {outcome.target.id} ({outcome.target.action} clip {outcome.target.clip_id})"
        )


@app.command("events")
def events_cmd(
    home: HomeOpt = None,
    clip: Annotated[int | None, typer.Option("--clip", min=0, max=MAX_ID, help="Only this clip's events.")] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Replay the log and list clips whose state differs.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """The review audit log; --check proves the log reproduces every clip's review state.

    Example: [bold]heaters events --clip 12[/bold]   [bold]heaters events --check[/bold]
    """
    from heaters.store import review as review_store

    store = open_store(home)
    settings = settings_for(store)
    if check:
        with store.tx(write=False) as session:
            diffs = review_store.check(session, settings.min_clip_s)
        if as_json:
            print_json({"ok": not diffs, "differences": diffs})
        elif diffs:
            for d in diffs:
                out.print(f"clip {d['clip_id']}: {d['why']}")
        else:
            out.print("events --check: a decision in the log explains every clip's review state")
        if diffs:
            raise typer.Exit(1)
        return
    with store.tx(write=False) as session:
        rows = review_store.history(session, clip)
    if as_json:
        print_json(rows)
        return
    for r in rows:
        why = f" ({r['why']})" if r["why"] else ""
        out.print(
            f"{r['id']:>5}  {r['what']:<34} {r['reviewer']}  {r['created_at']}  {r['status']}{why}"
        )


# ---------------------------------------------------------------- search


KOpt = Annotated[int, typer.Option("-k", "--k", min=1, max=1000, help="How many results.")]


def _hits_json(store: Store, hits: list[tuple[int, float]]) -> list[dict[str, Any]]:
    from heaters.store import search as search_store

    with store.tx(write=False) as session:
        return search_store.describe(session, hits)


NoGridOpt = Annotated[
    bool, typer.Option("--no-grid", help="Text lines even in a terminal (as in pipes).")
]


def _check_images(images: str) -> None:
    if images not in ("auto", "tgp", "sixel", "halfcell", "none"):
        raise BadInput(f"unknown --images mode {images!r} (auto, tgp, sixel, halfcell or none)")


def _show_hits(
    store: Store, rows: list[dict[str, Any]], as_json: bool, images: str, no_grid: bool
) -> None:
    """JSON, text lines (pipes, --no-grid, --images none), or a thumbnail grid in a terminal."""
    if as_json:
        print_json(rows)
        return
    if no_grid or images == "none" or not sys.stdout.isatty():
        _print_hits(rows)
        return
    from heaters.store import search as search_store
    from heaters.tui.grid import clip_ids, print_grid
    from heaters.tui.images import resolve_mode

    mode = resolve_mode(images)
    if images in ("tgp", "sixel") and mode != images:
        err.print(f"--images {images}: the terminal reports no pixel size; drew half blocks")
    if mode == "none":
        _print_hits(rows)
        return
    with store.tx(write=False) as session:
        thumbs = search_store.thumbs(session, store.home, clip_ids(rows))
    if print_grid(out, rows, thumbs, mode) != mode:
        err.print(f"--images {mode}: the terminal could not draw it; drew half blocks")


def _print_hits(rows: list[dict[str, Any]]) -> None:
    if not rows:
        out.print("no results")
    for r in rows:
        tags = ", ".join(t[0] for t in (r["tags"] or [])[:3])
        out.print(
            f"{r['score']:6.1f}%  clip {r['clip_id']:<5} video {r['source_video_id']:<4} "
            f"{r['start_time_s']:.2f}-{r['end_time_s']:.2f}s  {tags}"
        )


@app.command()
def similar(
    clip_id: Annotated[int, typer.Argument(min=0, max=MAX_ID, help="The clip to find neighbours of.")],
    home: HomeOpt = None,
    k: KOpt = 12,
    video: Annotated[int | None, typer.Option("--video", min=0, max=MAX_ID, help="Only clips of this video.")] = None,
    model: Annotated[str | None, typer.Option("--model", help="Embedding model.")] = None,
    as_json: JsonOpt = False,
    images: ImagesOpt = "auto",
    no_grid: NoGridOpt = False,
) -> None:
    """Clips most similar to a clip (cosine of their embeddings), never itself nor superseded.

    In a terminal the hits are a grid of thumbnails; pipes, --json and --no-grid get text.

    Example: [bold]heaters similar 12 -k 5[/bold]
    """
    _check_images(images)
    from heaters.settings import resolve_model
    from heaters.store import search as search_store

    store = open_store(home)
    settings = settings_for(store, model=model)
    try:
        spec_name = resolve_model(settings).name
    except ConfigError as exc:
        raise BadInput(str(exc)) from exc
    with store.tx(write=False) as session:
        try:
            hits = search_store.similar(session, clip_id, spec_name, k, video)
        except search_store.SearchRefused as exc:
            raise BadInput(str(exc)) from exc
    rows = _hits_json(store, hits)
    _show_hits(store, rows, as_json, images, no_grid)


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for, in words (e.g. 'a dog').")],
    home: HomeOpt = None,
    k: KOpt = 12,
    as_json: JsonOpt = False,
    images: ImagesOpt = "auto",
    no_grid: NoGridOpt = False,
) -> None:
    """Text search over the clips' ImageNet label space (objects and animals; not actions,
    colours or people).

    In a terminal the hits are a grid of thumbnails; pipes, --json and --no-grid get text.

    Example: [bold]heaters search "motorbike"[/bold]
    """
    _check_images(images)
    from heaters.domain.label_query import MIN_SCORE
    from heaters.stages.text_encoder import query_labels
    from heaters.store import search as search_store

    if not query.strip():
        raise BadInput('empty query: say what to look for, e.g. heaters search "a dog"')
    store = open_store(home)
    settings = settings_for(store)
    _match, weights = query_labels(query)
    if not weights and not as_json:
        err.print(f"no ImageNet class matches {query!r}: search knows objects and animals")
    elif not as_json:  # say what the query was taken to mean, best-weighted classes first
        named = sorted(weights, key=lambda label: (-weights[label], label))
        more = f" and {len(named) - 6} more" if len(named) > 6 else ""
        err.print(f"classes: {', '.join(named[:6])}{more}")
    with store.tx(write=False) as session:
        hits = search_store.text(session, weights, settings.model, k, MIN_SCORE)
    rows = _hits_json(store, hits)
    _show_hits(store, rows, as_json, images, no_grid)


# ---------------------------------------------------------------- export / scenes

_EXPORT_STATES = {
    "approved": ("review_approved", "keyframing", "keyframed", "embedding", "embedded",
                 "keyframe_failed", "embedding_failed"),
    "embedded": ("embedded",),
    "all": None,
}  # fmt: skip


@app.command()
def export(
    home: HomeOpt = None,
    state: Annotated[
        str,
        typer.Option("--state", help="approved (any stage since) | embedded | all (live clips)."),
    ] = "approved",
    video: Annotated[int | None, typer.Option("--video", min=0, max=MAX_ID, help="Only clips of this video.")] = None,
    group: Annotated[
        bool, typer.Option("--group", help="One file per group of grouped clips.")
    ] = False,
    clip: Annotated[
        list[int] | None,
        typer.Option("--clip", min=0, max=MAX_ID, help="Only this clip (repeat for more)."),
    ] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Output folder (default <home>/exports).")
    ] = None,
    copy: Annotated[
        bool,
        typer.Option(
            "--copy",
            help="Stream copy: fast, but starts on the keyframe at or before the clip "
            "(often seconds early) and may run a few frames past its end.",
        ),
    ] = False,
    template: Annotated[
        str,
        typer.Option(
            "--template", help="File name: {title} {clip_id} {video_id} {start} {end} ..."
        ),
    ] = "{title}_clip{clip_id}_{start}-{end}.mp4",
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Write clips as mp4 files, frame-accurate (libx264 crf 20, AAC); unchanged ones are skipped.

    Example: [bold]heaters export --out ~/clips[/bold]   [bold]heaters export --group --copy[/bold]
    """
    from heaters.domain.naming import BadTemplate, check_template
    from heaters.stages import export as export_stage
    from heaters.stages.tools import ffmpeg_exe
    from heaters.store.exports import plan_exports

    if state not in _EXPORT_STATES:
        raise BadInput(f"unknown --state {state!r} (approved, embedded or all)")
    try:
        check_template(template)
    except BadTemplate as exc:
        raise BadInput(f"bad --template: {exc}") from exc
    store = open_store(home)
    target = (out_dir if out_dir is not None else store.home.exports).expanduser()
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OperationFailed(f"cannot write to {target}: {exc.strerror or exc}") from exc
    with store.tx(write=False) as session:
        items, clip_ids = plan_exports(
            session, store.home, _EXPORT_STATES[state], video, group, target, template, clip or None
        )
    rep = reporter(quiet, as_json)
    params = export_stage.ExportParams(copy=copy)
    with rep, export_stage.out_folder(target):  # a killed export's temp files go first
        task = rep.task("export", len(items), "files")
        result = export_stage.run(items, params, ffmpeg_exe(), task.update)
    rows = [
        {
            "clip_id": clip_ids[o.key][0] if len(clip_ids[o.key]) == 1 else None,
            "clip_ids": clip_ids[o.key],
            "path": str(o.path),
            "status": o.status,
            "error": o.error,
            "note": o.note,
        }
        for o in result.outcomes
    ]
    if as_json:
        print_json(rows)
    elif not quiet:
        for r in rows:
            ids = "+".join(map(str, r["clip_ids"]))
            extra = f" ({r['error']})" if r["error"] else (f" ({r['note']})" if r["note"] else "")
            out.print(f"{r['status']:<8} clip {ids}: {r['path']}{extra}")
        if not rows:
            out.print(f"nothing to export (no {state} clips)")
    if any(r["status"] == "failed" for r in rows):
        raise typer.Exit(1)


@app.command()
def resplice(
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
) -> None:
    """Cut a video again from its stored per-frame scores (no decoding), if nobody reviewed it.

    Example: [bold]heaters resplice 3 --threshold 2.5 --min-clip-s 0.5[/bold]
    """
    from heaters.runner.resplice import RespliceRefused
    from heaters.runner.resplice import resplice as do_resplice

    _check_detector(detector, threshold)
    store = open_store(home)
    try:
        r = do_resplice(
            store, video_id, detector=detector, threshold=threshold, min_clip_s=min_clip_s
        )
    except RespliceRefused as exc:
        raise BadInput(str(exc)) from exc
    if as_json:
        print_json(dataclasses.asdict(r))
        return
    merged = (
        f"; {r.merged_cuts} cuts inside scenes under {r.min_clip_s:g} s joined their neighbours"
        if r.merged_cuts
        else ""
    )
    out.print(
        f"video {r.video_id}: {r.clips_before} clips -> {r.clips_after} clips"
        f" ({r.detector}, threshold {r.threshold:g}, min {r.min_clip_s:g} s{merged})"
        f" in {r.duration_ms} ms; heaters run draws their sprites",
        markup=False,
    )


@app.command()
def scenes(
    video_id: Annotated[int, typer.Argument(min=0, max=MAX_ID, help="Source video id.")],
    home: HomeOpt = None,
    fmt: Annotated[
        str, typer.Option("--format", help="csv (PySceneDetect list-scenes) | edl | json.")
    ] = "csv",
) -> None:
    """A video's clip list as CSV (PySceneDetect's columns), EDL (CMX3600) or JSON.

    Example: [bold]heaters scenes 1 --format edl > cuts.edl[/bold]
    """
    from heaters.domain import scenelist

    if fmt not in ("csv", "edl", "json"):
        raise BadInput(f"unknown --format {fmt!r} (csv, edl or json)")
    store = open_store(home)
    with store.tx(write=False) as session:
        video = videos.get(session, video_id)
        if video is None:
            raise BadInput(f"no video {video_id}")
        live = [
            c for c in clips.list_clips(session, video_id) if c.state not in SUPERSEDED
        ]
        fps = video.fps or 0.0
        title = video.title or f"video {video_id}"
    if not live or fps <= 0:
        raise BadInput(f"video {video_id} has no clips yet ({video.state}); run heaters run first")
    if fmt == "csv":
        text = scenelist.to_csv(live, fps)
    elif fmt == "edl":
        text = scenelist.to_edl(live, fps, title=title, clip_names=[f"clip {c.id}" for c in live])
    else:
        text = scenelist.to_json(live, fps, clip_ids=[c.id for c in live])
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


# ---------------------------------------------------------------- explaining itself


@app.command()
def doctor(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Check ffmpeg, PyAV, onnxruntime, SQLite + sqlite-vec, the models and the home folder.

    Example: [bold]heaters doctor[/bold]
    """
    from heaters.doctor import run_checks

    root = home if home is not None else default_home()
    checks = run_checks(root)
    if as_json:
        print_json([{"name": c.name, "ok": c.ok, "detail": c.detail} for c in checks])
    else:
        for c in checks:
            mark = "[green]OK  [/green]" if c.ok else "[red]FAIL[/red]"
            out.print(f"{mark} {safe(c.name)}: {safe(c.detail)}", markup=True)
    if not all(c.ok for c in checks):
        raise typer.Exit(1)


@app.command()
def config(
    key: Annotated[str | None, typer.Argument(help="A setting name (none: list all).")] = None,
    value: Annotated[
        str | None, typer.Argument(help="New value (none: show the current one).")
    ] = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show or set defaults in <home>/config.toml; command-line flags still override them.

    Example: [bold]heaters config min_clip_s 0.5[/bold]   [bold]heaters config grace_s[/bold]
    """
    from heaters.settings import KEYS, set_value

    root = home if home is not None else default_home()
    try:
        if key is not None and value is not None:
            set_value(root, key, value)
        current = load(root)
    except ConfigError as exc:
        raise BadInput(str(exc)) from exc
    if key is not None and key not in KEYS:
        raise BadInput(f"unknown config key {key!r}; known: {', '.join(KEYS)}")
    data = {k: getattr(current, k) for k in ([key] if key else KEYS)}
    if data.get("database_url"):  # its password stays in config.toml, not on screens and logs
        from heaters.store.store import redact

        data["database_url"] = redact(str(data["database_url"]))
    if as_json:
        print_json(data)
    else:
        for k, v in data.items():
            out.print(f"{k} = {v!r}" if len(data) > 1 else f"{v}")


@app.command()
def show(
    clip_id: Annotated[int, typer.Argument(min=0, max=MAX_ID, help="Clip id.")],
    home: HomeOpt = None,
    images: Annotated[bool, typer.Option("--images/--no-images", help="Draw the sprite.")] = True,
    as_json: JsonOpt = False,
) -> None:
    """Everything about one clip: history, artifacts, tags, similar clips, and its sprite.

    Example: [bold]heaters show 12[/bold]
    """
    from heaters.clipinfo import clip_report, draw_sprite

    store = open_store(home)
    settings = settings_for(store)
    with store.tx(write=False) as session:
        report = clip_report(session, clip_id, settings.model)
    if report is None:
        raise BadInput(f"no clip {clip_id}")
    if as_json:
        print_json(report)
        return
    c = report["clip"]
    out.print(
        f"[bold]clip {c['id']}[/bold]  {c['state']}  video {c['source_video_id']} "
        f"({safe(report['video_title'] or '')})",
        markup=True,
    )
    out.print(
        f"frames [{c['start_frame']}, {c['end_frame']})  "
        f"{c['start_time_s']:.3f}-{c['end_time_s']:.3f}s ({c['duration_s']:.2f}s)  origin {c['origin']}"
    )
    _print_source(report.get("video"))
    for e in report["history"]:
        why = f": {e['why']}" if e["why"] else ""
        out.print(f"  event {e['id']}: {e['what']} ({e['status']}{why}; {e['created_at']})")
    for a in report["artifacts"]:
        out.print(f"  {a['kind']} {a['strategy']} {a['tag']}: {a['path']}")
    if report["tags"]:
        out.print("  tags: " + ", ".join(f"{t} {p:.2f}" for t, p in report["tags"]))
    for h in report["similar"]:
        out.print(f"  similar: clip {h['clip_id']} {h['score']:.1f}%")
    if images and not as_json:
        draw_sprite(out, store.home, report)


def _print_source(facts: dict[str, Any] | None) -> None:
    """`show`: the clip's source (uploader, date, chapter, URL); see heaters.cli_sources."""
    from heaters.cli_sources import source_line

    line = source_line(facts)
    if line:
        out.print(line, markup=False)


# ---------------------------------------------------------------- demo


@app.command()
def demo(
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
    from heaters.synthetic import make_video

    home = home if home is not None else _ROOT_HOME[0]
    root = home if home is not None else Path(tempfile.mkdtemp(prefix="heaters-demo-"))
    store = open_store(root)
    video_path = store.home.root / "demo-input" / "demo.mp4"
    if not video_path.exists():
        if not quiet and not as_json:
            err.print("making a synthetic demo video (ffmpeg lavfi sources)...")
        made = make_video(video_path, audio=True)
        cuts = list(made.cuts)
    else:
        cuts = []
    with store.tx() as session:
        row, _ = videos.register(session, parse_source(str(video_path)), title="heaters demo")
        video_id = row.id
    run(home=root, once=False, as_json=False, quiet=True)
    with store.tx(write=False) as session:
        got = [clip_dict(c) for c in clips.list_clips(session, video_id)]
        spliced = videos.get(session, video_id)
        params = dict((spliced.detector_params if spliced else None) or {})
        counts = {
            "videos": status.counts(session, "source_videos"),
            "clips": status.counts(session, "clips"),
        }
    if as_json:
        print_json(
            {
                "home": str(root),
                "video_id": video_id,
                "true_cuts": cuts,
                "merged_cuts": params.get("merged_cuts", 0),
                "clip_list": got,
                **counts,
            }
        )
        return
    if not quiet:
        out.print(f"demo home: {root}")
        if cuts:
            out.print(f"true cuts (frames): {cuts}")
        out.print(f"clips found: {len(got)}")
        if params.get("merged_cuts"):
            out.print(
                f"{params['merged_cuts']} cuts inside scenes under {params['min_clip_s']:g} s"
                f" joined their neighbours (heaters resplice {video_id} --min-clip-s 0 keeps every cut)"
            )
        for c in got:
            out.print(
                f"  clip {c['id']}: frames {c['start_frame']}-{c['end_frame']} "
                f"({c['start_time_s']:.2f}-{c['end_time_s']:.2f}s) {c['state']}"
            )
        _print_counts(counts)
        out.print(f"next: heaters --help, or heaters status --home {root}")


# ---------------------------------------------------------------- entry point


def _describe(exc: BaseException) -> str:
    """One line for an unexpected error: the database driver's own words (never SQLAlchemy's
    SQL text and links), and what to do about a damaged database."""
    orig = getattr(exc, "orig", None)  # SQLAlchemy's wrapper around the driver's error
    cause = orig if isinstance(orig, BaseException) else exc
    text = one_line(str(cause), 300)
    if any(m in text.lower() for m in ("malformed", "not a database", "file is encrypted")):
        return (
            f"the database is damaged ({text}); restore heaters.db from a backup"
            " (heaters doctor runs SQLite's integrity check)"
        )
    return f"{type(cause).__name__}: {text} (run with --debug for details)"


# The options of the quick commands as `_plain_call` reads them: option -> (parameter, type).
_PLAIN: dict[str, dict[str, tuple[str, type]]] = {
    "status": {"--home": ("home", Path), "--json": ("as_json", bool)},
    "clips": {"--home": ("home", Path), "--json": ("as_json", bool),
              "--video": ("video", int), "--state": ("state", str)},
}  # fmt: skip
_NUMBER = re.compile(r"0|[1-9][0-9]{0,18}")


def _plain_call(args: list[str]) -> tuple[str, dict[str, Any]] | None:
    """`status` or `clips` with plain options: the command and its arguments, read without Typer.

    Typer coerces each parameter through a pydantic TypeAdapter: importing pydantic and building
    them costs about as much CPU as the rest of `heaters status` (benchmarks/README.md). These
    commands are the ones run at every glance, so their everyday forms (`--home H`, `--home=H`,
    `--json`, `--video N`, `--state S`, each at most once) are read here; anything else (help, an
    unknown, repeated or dash-led value, a number out of range) goes through Typer as before, with
    its messages and exit codes. tests/test_quick.py checks both ways read the same arguments.
    """
    if not args or args[0] not in _PLAIN:
        return None
    options = _PLAIN[args[0]]
    values: dict[str, Any] = {}
    rest = iter(args[1:])
    for arg in rest:
        option, eq, value = arg.partition("=")
        if option not in options or options[option][0] in values:
            return None
        name, kind = options[option]
        if kind is bool:
            if eq:
                return None
            values[name] = True
            continue
        if not eq:
            value = next(rest, "")
        if not value or value.startswith("-") or not value.isprintable():
            return None
        if kind is int:
            if not _NUMBER.fullmatch(value) or int(value) > MAX_ID:
                return None
            values[name] = int(value)
        else:
            values[name] = kind(value)
    if "home" not in values and os.environ.get(ENV_HOME):
        values["home"] = Path(os.environ[ENV_HOME])  # as Typer reads the option's envvar
    return args[0], values


def _command(args: list[str]) -> Callable[[], Any]:
    """What runs `args`: a quick command called directly, or Typer."""
    plain = _plain_call(args)
    if plain is None:
        return lambda: app(args=args, prog_name="heaters", standalone_mode=False)
    name, values = plain
    function = status_cmd if name == "status" else clips_cmd
    return lambda: function(**values)


def _command_name(args: list[str]) -> str | None:
    """The command word: the first argument that is neither an option nor --home's value."""
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg == "--home":
            skip = True
        elif not arg.startswith("-"):
            return arg
    return None


def main(argv: list[str] | None = None) -> None:
    """Run the CLI: one-line errors and exit codes 2 (bad usage/input), 1 (failed), 0."""
    args = list(sys.argv[1:] if argv is None else argv)
    command = _command_name(args)
    if command != "run":  # `run` keeps exiting at once on a signal until its workers start
        from heaters.interrupt import raise_keyboard_interrupt

        raise_keyboard_interrupt()
    debug = "--debug" in args or bool(os.environ.get("HEATERS_DEBUG"))
    # Stage warnings (e.g. packets skipped in a damaged file) are for --debug; without a handler
    # Python would print them raw on stderr, which `run --quiet` under cron must keep empty.
    logging.getLogger("heaters").addHandler(
        logging.StreamHandler() if debug else logging.NullHandler()
    )
    try:
        code = _command(args)()
    except typer.Abort:
        err.print("aborted")
        sys.exit(1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.TyperException as exc:  # click's usage errors, vendored by Typer
        fmt = getattr(exc, "format_message", None)
        if fmt is None:
            raise
        # One line, like every other error: "error: <what>", and where to look for help.
        ctx = getattr(exc, "ctx", None)
        where = f" (see {ctx.command_path} --help)" if ctx is not None else ""
        err.print(f"error: {one_line(fmt(), 300)}{where}", markup=False, highlight=False)
        sys.exit(int(getattr(exc, "exit_code", 2)))
    except HeatersError as exc:
        if debug:
            raise
        err.print(f"[red]error:[/red] {safe(one_line(str(exc), 1000))}", markup=True)
        sys.exit(exc.exit_code)
    except Interrupted as exc:  # heaters run on SIGINT/SIGTERM: claims given back, files removed
        sys.stdout.flush()
        os.write(2, f"interrupted: {exc}\n".encode())  # unbuffered: nothing can hold it back
        if getattr(exc, "forced", False):  # a worker is still inside native code: don't wait
            os._exit(130)
        sys.exit(130)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except Exception as exc:
        if debug:
            raise
        problem = storage_problem(exc)  # the database itself could not be written
        if problem is not None:
            err.print(
                f"error: {one_line(problem, 300)}; {storage_advice(problem)} and try again",
                markup=False,
            )
            sys.exit(1)
        err.print(f"error: {_describe(exc)}", markup=False)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


from heaters import cli_db, cli_sources  # noqa: E402, F401 - register db copy; follows, unfollow, rm

__all__ = ["app", "main"]
