"""Looking at the library: status, videos, clips, events, scenes, show. Parse, one library
call, render. `status` and `clips` are the quick commands (tests/test_quick.py): nothing heavy
is imported on their way."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from heaters._cli.common import (
    MAX_ID,
    HomeOpt,
    JsonOpt,
    library,
    print_counts,
    waiting_dict,
    waiting_line,
)
from heaters.console import out, print_json, safe


def status_cmd(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Counts per state for videos and clips, and what failed.

    Example: [bold]heaters status --json[/bold]
    """
    s = library(home).status()
    if as_json:
        print_json(
            {
                "home": str(s.home),
                **s.counts.as_dict(),
                "failed_videos": s.failed_videos,
                "failed_clips": s.failed_clips,
                "review_waiting": waiting_dict(s.waiting),
                "time": s.time,
            }
        )
        return
    out.print(f"home: {s.home}")
    print_counts(s.counts)
    if s.waiting.actions:
        out.print(waiting_line(s.waiting))
    if s.time:
        out.print(_time_line(s.time), markup=False)
    for kind, rows in (("video", s.failed_videos), ("clip", s.failed_clips)):
        for row in rows:
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
        _video_details(library(home).video(video_id), as_json)
        return
    rows = library(home).videos()
    if as_json:
        print_json(rows)
        return
    for r in rows:
        dur = f"{r['duration_s']:.1f}s" if r["duration_s"] else "?"
        title = r["title"] or r["url"] or r["local_path"]
        line = f"{r['id']:>4}  {r['state']:<16} {dur:>8}  {safe(title)}{safe(_video_extra(r))}"
        if r["last_error"]:
            line += f"  [red]({safe(r['last_error'])})[/red]"
        out.print(line, markup=True)


def _video_details(data: dict[str, Any], as_json: bool) -> None:
    """`heaters videos ID`: everything known about one source video."""
    if as_json:
        print_json(data)
        return
    out.print(f"[bold]video {data['id']}[/bold]  {data['state']}  {safe(data['title'] or '')}",
              markup=True)  # fmt: skip
    for label, key in (("url", "url"), ("file", "local_path"), ("uploader", "uploader"),
                       ("uploaded", "upload_date"), ("identity", "key")):  # fmt: skip
        if data.get(key):
            out.print(f"  {label}: {data[key]}", markup=False)
    if data["duration_s"]:
        out.print(f"  duration: {data['duration_s']:.1f}s  clips: {data['clips']}", markup=False)
    if data["last_error"]:
        out.print(f"  last error: {data['last_error']}", markup=False)
    for c in data["chapters"] or []:
        out.print(f"  chapter {_clock(c['start_time'])}  {c.get('title') or ''}", markup=False)
    if data["description"]:
        out.print("  description:", markup=False)
        for line in str(data["description"]).splitlines()[:40]:
            out.print(f"    {line}", markup=False)


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def _video_extra(r: dict[str, Any]) -> str:
    """`heaters videos`: uploader and upload date after the title, when known."""
    bits = [b for b in (r.get("uploader"), _date(r.get("upload_date"))) if b]
    return f"  ({', '.join(bits)})" if bits else ""


def _date(yyyymmdd: str | None) -> str | None:
    if not yyyymmdd or len(yyyymmdd) != 8:
        return None
    return f"{yyyymmdd[:4]}-{yyyymmdd[4:6]}-{yyyymmdd[6:]}"


def source_line(facts: dict[str, Any] | None) -> str | None:
    """`heaters show CLIP`: where the clip comes from, in one line."""
    if not facts:
        return None
    bits = [b for b in (facts.get("uploader"), _date(facts.get("upload_date"))) if b]
    if facts.get("chapter"):
        bits.append(f"chapter {facts['chapter']!r}")
    bits.append(facts.get("url") or facts.get("local_path") or "")
    return "source: " + ", ".join(b for b in bits if b)


def clips_cmd(
    home: HomeOpt = None,
    video: Annotated[
        int | None, typer.Option("--video", min=0, max=MAX_ID, help="Only this source video.")
    ] = None,
    state: Annotated[str | None, typer.Option("--state", help="Only clips in this state.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List clips (frame ranges are [start, end), end exclusive).

    Example: [bold]heaters clips --video 1 --state pending_review[/bold]
    """
    rows = library(home).clips(video, state)
    if as_json:
        print_json(rows)
        return
    for r in rows:
        out.print(
            f"{r['id']:>5}  video {r['source_video_id']:<4} {r['state']:<16} "
            f"frames {r['start_frame']}-{r['end_frame']}  "
            f"{r['start_time_s']:.2f}-{r['end_time_s']:.2f}s"
        )


def events_cmd(
    home: HomeOpt = None,
    clip: Annotated[
        int | None, typer.Option("--clip", min=0, max=MAX_ID, help="Only this clip's events.")
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Replay the log and list clips whose state differs.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """The review audit log; --check proves the log reproduces every clip's review state.

    Example: [bold]heaters events --clip 12[/bold]   [bold]heaters events --check[/bold]
    """
    lib = library(home)
    if check:
        diffs = lib.check_events()
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
    rows = lib.events(clip)
    if as_json:
        print_json(rows)
        return
    for r in rows:
        why = f" ({r['why']})" if r["why"] else ""
        out.print(
            f"{r['id']:>5}  {r['what']:<34} {r['reviewer']}  {r['created_at']}  {r['status']}{why}"
        )


def scenes_cmd(
    video_id: Annotated[int, typer.Argument(min=0, max=MAX_ID, help="Source video id.")],
    home: HomeOpt = None,
    fmt: Annotated[
        str, typer.Option("--format", help="csv (PySceneDetect list-scenes) | edl | json.")
    ] = "csv",
) -> None:
    """A video's clip list as CSV (PySceneDetect's columns), EDL (CMX3600) or JSON.

    Example: [bold]heaters scenes 1 --format edl > cuts.edl[/bold]
    """
    sys.stdout.write(library(home).scenes(video_id, fmt))


def show_cmd(
    clip_id: Annotated[int, typer.Argument(min=0, max=MAX_ID, help="Clip id.")],
    home: HomeOpt = None,
    images: Annotated[bool, typer.Option("--images/--no-images", help="Draw the sprite.")] = True,
    as_json: JsonOpt = False,
) -> None:
    """Everything about one clip: history, artifacts, tags, similar clips, and its sprite.

    Example: [bold]heaters show 12[/bold]
    """
    from heaters.clipinfo import draw_sprite

    lib = library(home)
    report = lib.clip_report(clip_id)
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
    line = source_line(report.get("video"))
    if line:
        out.print(line, markup=False)
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
        draw_sprite(out, lib.home, report)
