"""Looking after a home: gc, config, doctor, follows, unfollow, rm. Parse, one library call,
render. (Home-wide tools such as copying a database belong here too.)"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from heaters._cli.common import MAX_ID, HomeOpt, JsonOpt, QuietOpt, library, size
from heaters.console import err, out, print_json, printable, safe
from heaters.errors import BadInput


def gc_cmd(
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
    g = library(home).gc(dry_run)
    data = {"dry_run": dry_run, **g.summary, "bytes": g.bytes}
    if as_json:
        print_json(data)
        return
    if g.nothing:
        out.print("gc: nothing to free")
        return
    verb = "would free" if dry_run else "freed"
    reasons = ", ".join(f"{n} {r}" for r, n in g.summary["by_reason"].items())
    out.print(
        f"gc: {verb} {size(g.bytes)} in {g.files} files"
        + (f" ({reasons})" if reasons else "")
        + f"; {'would drop' if dry_run else 'dropped'} {g.artifact_rows} artifact and"
        f" {g.embedding_rows} embedding rows of {g.clips} archived/superseded clips"
    )


def doctor_cmd(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Check ffmpeg, PyAV, onnxruntime, SQLite + sqlite-vec, the models and the home folder.

    Example: [bold]heaters doctor[/bold]
    """
    checks = library(home).doctor()
    if as_json:
        print_json([{"name": c.name, "ok": c.ok, "detail": c.detail} for c in checks])
    else:
        for c in checks:
            mark = "[green]OK  [/green]" if c.ok else "[red]FAIL[/red]"
            out.print(f"{mark} {safe(c.name)}: {safe(c.detail)}", markup=True)
    if not all(c.ok for c in checks):
        raise typer.Exit(1)


def config_cmd(
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
    data = library(home).config(key, value)
    if as_json:
        print_json(data)
    else:
        for k, v in data.items():
            out.print(f"{k} = {v!r}" if len(data) > 1 else f"{v}")


def follows_cmd(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Followed channels, playlists, feeds and pages: when checked, what they brought.

    Example: [bold]heaters follows[/bold]
    """
    rows = library(home).follows()
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


def unfollow_cmd(
    follow: Annotated[str, typer.Argument(help="A follow's id or its URL.")],
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Stop re-checking a followed URL; the videos it brought stay.

    Example: [bold]heaters unfollow 2[/bold]
    """
    data = library(home).unfollow(follow)
    if as_json:
        print_json(data)
    else:
        out.print(
            f"unfollowed {data['url']} (follow {data['id']}); its {data['videos_kept']}"
            " video(s) stay",
            markup=False,
        )


def rm_cmd(
    video_id: Annotated[int, typer.Argument(min=0, max=MAX_ID, help="Source video id.")],
    home: HomeOpt = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask (scripts).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Remove a video with its clips, files and vectors (the review log keeps its history).

    Example: [bold]heaters rm 3[/bold]   [bold]heaters rm 3 --yes[/bold]
    """
    lib = library(home)
    what = lib.removal(video_id).describe()
    if not yes:
        if as_json or not sys.stdin.isatty():
            raise BadInput(f"rm would remove {what}; add --yes to confirm without a terminal")
        if not typer.confirm(f"remove {printable(what)}?", default=False):
            err.print("nothing removed")
            raise typer.Exit(1)
    done = lib.remove(video_id)
    if as_json:
        print_json(
            {
                "video_id": video_id,
                "clips": done.clips,
                "artifacts": done.artifacts,
                "embeddings": done.embeddings,
                "events_kept": done.events_kept,
            }
        )
    else:
        kept = f"; {done.events_kept} review events stay in the log" if done.events_kept else ""
        out.print(f"removed {what}{kept}", markup=False)


db_app = typer.Typer(help="The library's database: copy a one-machine home into PostgreSQL.")


@db_app.command("copy")
def db_copy_cmd(
    to: Annotated[
        str,
        typer.Option("--to", help="postgresql://USER:PASSWORD@HOST/DATABASE (new, empty)."),
    ],
    home: HomeOpt = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Copy this home's SQLite library (heaters.db) into an empty PostgreSQL database, verified
    row for row; then set `database_url` (and `media_root`) on every machine.

    Example: [bold]heaters db copy --to postgresql://heaters@nas/heaters[/bold]
    """
    shown, rows = library(home).copy_database(to)
    if as_json:
        print_json({"to": shown, "rows": rows, "verified": True})
        return
    if not quiet:
        for table, n in rows.items():
            out.print(f"{table:>16}  {n} rows", markup=False)
    out.print(
        f"copied {sum(rows.values())} rows into {shown}, verified row for row; use it with"
        f" heaters config database_url '{shown}' (the password as you gave it)",
        markup=False,
    )
