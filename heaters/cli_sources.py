"""The sources half of the command line: ingest (videos, playlists, channels, feeds, pages),
follows, unfollow, rm, and one video's details. Kept apart from `cli.py` (other commands), which
registers these on import. Parse, call the store/runner, render; no business rules here."""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from heaters.cli import MAX_ID, HomeOpt, JsonOpt, app, open_store, settings_for
from heaters.console import err, iso, out, print_json, reporter, safe
from heaters.domain.entries import BadDate, parse_since
from heaters.domain.sources import InvalidSource, one_line, parse_source
from heaters.errors import BadInput, OperationFailed
from heaters.settings import ConfigError, ytdlp_params

# ---------------------------------------------------------------- ingest


def _sha256(path: Path, task: Any) -> str:
    digest = hashlib.sha256()
    done = 0
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
            done += len(block)
            task.update(done)
    return digest.hexdigest()


def ingest_sources(
    sources: list[str],
    home: Path | None,
    limit: int | None,
    since: str | None,
    follow: bool,
    as_json: bool,
    quiet: bool,
) -> None:
    """`heaters ingest`: files by content hash; URLs through a flat yt-dlp extraction (one child
    process for all), playlists into their entries."""
    from heaters.runner.executors import _download_limits
    from heaters.runner.sources import probe, register_result
    from heaters.stages.ytdlp import file_key, url_key
    from heaters.store import follows, videos

    parsed = []
    for text in sources:
        try:
            parsed.append(parse_source(text))
        except InvalidSource as exc:
            raise BadInput(f"{exc} (give an http(s) URL or an existing video file)") from exc
    try:
        since_date = parse_since(since, dt.date.today()) if since is not None else None
    except BadDate as exc:
        raise BadInput(str(exc)) from exc
    if follow and any(s.kind == "file" for s in parsed):
        raise BadInput("--follow takes URLs (a channel, playlist, feed or page), not files")
    store = open_store(home)
    settings = settings_for(store)
    urls = [s.value for s in parsed if s.kind == "url"]
    if urls:
        try:
            ytdlp_params(settings)  # a bad option is refused before any request
        except ConfigError as exc:
            raise BadInput(str(exc)) from exc
    from heaters.runner.context import RunContext

    limits = _download_limits(RunContext(store=store, settings=settings))
    rep = reporter(quiet, as_json)
    keys: dict[str, str] = {}
    results: dict[str, dict[str, Any]] = {}
    with rep:
        for s in parsed:
            if s.kind == "file":
                task = rep.task(f"hashing {Path(s.value).name}", Path(s.value).stat().st_size,
                                "bytes")  # fmt: skip
                keys[s.value] = file_key(_sha256(Path(s.value), task))
                task.close()
        if urls:
            task = rep.task(f"looking at {len(urls)} URL(s)", None, "urls")
            try:
                # a followed URL is listed whole: what is not taken now is marked seen
                got = probe(settings, list(dict.fromkeys(urls)), limits,
                            limit=None if follow else limit, since=since_date)  # fmt: skip
            except Exception as exc:  # the child could not run at all (a stall, no room)
                raise OperationFailed(
                    f"cannot look at the URLs: {one_line(str(exc), 300)}"
                ) from exc
            finally:
                task.close()
            results = {r["url"]: r for r in got}
    rows: list[dict[str, Any]] = []
    lines: list[str] = []
    warnings: list[str] = []
    failed = False
    now = time.time()
    with store.tx() as session:
        for s in parsed:
            if s.kind == "file":
                row, created = videos.register(session, s, key=keys[s.value])
                rows.append({"id": row.id, "source": s.value, "created": created,
                             "state": row.state, "key": row.source_key, "title": row.title,
                             "playlist": None, "follow_id": None})  # fmt: skip
                lines.append(_video_line(rows[-1]))
                continue
            result = results[s.value]
            if result["kind"] == "error":
                if follow:
                    warnings.append(f"cannot follow {s.value}: {one_line(result['error'], 300)}")
                    failed = True
                    continue
                # what yt-dlp cannot read now is registered as one video: the download says why
                warnings.append(
                    f"could not look inside {s.value} ({one_line(result['error'], 200)});"
                    " registered as one video"
                )
                result = {"url": s.value, "kind": "video",
                          "video": {"key": url_key(s.value), "url": s.value}}  # fmt: skip
            follow_id = None
            if follow:
                f, made = follows.add(
                    session, s.value, None, since_date, now + settings.follow_every_h * 3600
                )
                follow_id = f.id
            got = register_result(
                session, result, since=since_date, limit=limit, follow_id=follow_id
            )
            rows += got.rows
            if follow_id is not None:  # this was a check: the next one is follow_every_h away
                new = sum(1 for r in got.rows if r["created"])
                follows.checked(session, follow_id, now, now + settings.follow_every_h * 3600,
                                new, got.title)  # fmt: skip
            if got.kind == "playlist":
                lines.append(_playlist_line(got))
            lines += [_video_line(r) for r in got.rows]
            if follow:
                lines.append(
                    f"following {s.value} (follow {follow_id}): heaters run checks it at most"
                    f" every {settings.follow_every_h:g} h and registers its new entries"
                )
    if as_json:
        print_json(rows)
    elif not quiet:
        for line in lines:
            out.print(line, markup=False)
    for w in warnings:
        if not quiet or failed:
            err.print(w, markup=False)
    if failed:
        raise typer.Exit(1)


def _video_line(r: dict[str, Any]) -> str:
    verb = "registered" if r["created"] else "already registered"
    title = f" {r['title']}" if r.get("title") else ""
    return f"video {r['id']}: {verb} ({r['state']}){title} {r['source']}"


def _playlist_line(got: Any) -> str:
    sel = got.selection
    made = sum(1 for r in got.rows if r["created"])
    parts = [f"{got.entries} entries", f"{made} registered"]
    if len(got.rows) - made:
        parts.append(f"{len(got.rows) - made} already registered")
    if sel.seen_before:
        parts.append(f"{sel.seen_before} seen before")
    if sel.too_old:
        parts.append(f"{sel.too_old} before --since")
    if sel.over_limit:
        parts.append(f"{sel.over_limit} past --limit")
    title = f" {got.title!r}" if got.title else ""
    return f"playlist{title} {got.source}: {', '.join(parts)}"


# ---------------------------------------------------------------- follows / unfollow


def _follow_dict(f: Any, count: int) -> dict[str, Any]:
    return {
        "id": f.id,
        "url": f.url,
        "title": f.title,
        "state": f.state,
        "since": f.since,
        "videos": count,
        "last_checked_at": iso(f.last_checked_at),
        "last_new": f.last_new,
        "next_check_at": iso(f.next_attempt_at),
        "attempts": f.attempts,
        "last_error": f.last_error,
    }


@app.command("follows")
def follows_cmd(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Followed channels, playlists, feeds and pages: when checked, what they brought.

    Example: [bold]heaters follows[/bold]
    """
    from heaters.store import follows

    store = open_store(home)
    with store.tx(write=False) as session:
        rows = [_follow_dict(r["follow"], r["videos"]) for r in follows.listing(session)]
    if as_json:
        print_json(rows)
        return
    if not rows:
        out.print("no follows (heaters ingest URL --follow adds one)")
    for r in rows:
        checked = r["last_checked_at"] or "never"
        line = (
            f"{r['id']:>3}  {r['state']:<13} {r['videos']:>4} videos  checked {checked}"
            f" (+{r['last_new']}), next {r['next_check_at'] or 'now'}  {r['url']}"
        )
        if r["title"]:
            line += f"  {r['title']}"
        if r["last_error"]:
            line += f"  ({r['last_error']})"
        out.print(line, markup=False)


@app.command("unfollow")
def unfollow_cmd(
    follow: Annotated[str, typer.Argument(help="A follow's id or its URL.")],
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Stop re-checking a followed URL; the videos it brought stay.

    Example: [bold]heaters unfollow 2[/bold]
    """
    from heaters.domain.sources import normalise_url
    from heaters.store import follows

    store = open_store(home)
    with store.tx() as session:
        row = None
        if follow.strip().isdigit() and len(follow.strip()) < 19:
            row = follows.get(session, int(follow.strip()))
        if row is None:
            try:
                row = follows.by_url(session, normalise_url(follow))
            except ValueError:
                row = None
        if row is None:
            raise BadInput(f"no follow {follow!r} (heaters follows lists them)")
        data = {"id": row.id, "url": row.url}
        data["videos_kept"] = follows.remove(session, row)
    if as_json:
        print_json(data)
    else:
        out.print(
            f"unfollowed {data['url']} (follow {data['id']}); its {data['videos_kept']}"
            " video(s) stay",
            markup=False,
        )


# ---------------------------------------------------------------- rm


@app.command("rm")
def rm_cmd(
    video_id: Annotated[int, typer.Argument(min=0, max=MAX_ID, help="Source video id.")],
    home: HomeOpt = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask (scripts).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Remove a video with its clips, files and vectors (the review log keeps its history).

    Example: [bold]heaters rm 3[/bold]   [bold]heaters rm 3 --yes[/bold]
    """
    import sys

    from heaters.store import remove as remove_store

    store = open_store(home)
    with store.tx(write=False) as session:
        try:
            p = remove_store.plan(session, store.home, video_id, time.time())
        except remove_store.RemoveRefused as exc:
            raise BadInput(str(exc)) from exc
    what = (
        f"video {video_id} ({p.title or 'untitled'}): {len(p.clips)} clips,"
        f" {p.artifacts} sprites/keyframes, {p.embeddings} embeddings and its media files"
    )
    if not yes:
        if as_json or not sys.stdin.isatty():
            raise BadInput(f"rm would remove {what}; add --yes to confirm without a terminal")
        if not typer.confirm(f"remove {printable_line(what)}?", default=False):
            err.print("nothing removed")
            raise typer.Exit(1)
    with store.tx() as session:
        try:
            done = remove_store.remove(session, store.home, video_id, time.time())
        except remove_store.RemoveRefused as exc:
            raise BadInput(str(exc)) from exc
    for folder in done.folders:  # after the commit: no row points at a removed file
        shutil.rmtree(folder, ignore_errors=True)
    data = {
        "video_id": video_id,
        "clips": len(done.clips),
        "artifacts": done.artifacts,
        "embeddings": done.embeddings,
        "events_kept": done.events,
    }
    if as_json:
        print_json(data)
    else:
        out.print(
            f"removed {what}"
            + (f"; {done.events} review events stay in the log" if done.events else ""),
            markup=False,
        )


def printable_line(text: str) -> str:
    from heaters.console import printable

    return printable(text)


# ---------------------------------------------------------------- one video


def video_details(video_id: int, home: Path | None, as_json: bool) -> None:
    """`heaters videos ID`: everything known about one source video."""
    from heaters.cli import video_dict
    from heaters.store import videos

    store = open_store(home)
    with store.tx(write=False) as session:
        v = videos.get(session, video_id)
        if v is None:
            raise BadInput(f"no video {video_id}")
        data = video_dict(v)
        from heaters.store import clips

        data["clips"] = len(
            [c for c in clips.list_clips(session, video_id) if c.state not in ("merged", "split")]
        )
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


def video_line_extra(r: dict[str, Any]) -> str:
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
